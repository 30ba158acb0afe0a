"""The recipe fields of every stage that samples a model on a dataset and scores what it wrote
(``evaluate``, ``sample``): one home for them, their checks, and what a resumed run must share."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

from ..data.loading import check_model_and_dataset
from ..data.templates import PromptArguments
from .backends import BACKENDS, Sampling
from .scoring import check_scorer


@dataclass
class GenerationArguments(PromptArguments):
    """Which model, which questions, how to sample, how to score.

    Args:
        model_name_or_path (`str`): a Hub id, a local directory or `embedded:<name>` (`--model`).
        dataset_name / dataset_config / dataset_split: the questions: a Hub dataset, a local file,
            a `save_to_disk` folder or `builtin:<name>` (a local file's only split, `train`, is
            used whatever split is named).
        problem_column / answer_column (`str`): the question and its gold answer.
        scorer (`str`): the reward that decides correctness (>= 1 is correct), from
            `python -m trl_r1 list`; `scorer_kwargs` are its options.
        num_samples (`int`): k samples per question.
        temperature / top_p / max_new_tokens: the paper's 0.6 / 0.95 / 32768 by default;
            temperature 0 decodes greedily (with num_samples 1).
        batch_size (`int`): questions per generation call (each sampled `num_samples` times).
        max_questions (`int`, *optional*): only the first N questions (quick runs).
        prompt_template / system_prompt / chat_examples: how a question becomes a prompt; use
            the ones the model was trained with.
        backend (`str`): `auto` (vLLM when usable), `transformers` or `vllm`. dtype (`str`): model dtype.
        max_model_len (`int`, *optional*): vLLM's context, prompt + completion (default: the model's
            declared context, whose KV cache may not fit: 34816 holds a 2k prompt + 32k tokens).
        tensor_parallel_size (`int`, defaults to 1): GPUs vLLM splits the model over (32B: 4, 70B: 8).
        seed (`int`): sampling seed.
        output_dir (`str`): where the samples and results go.
    """

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Model: Hub id, local directory or embedded:<name>.", "aliases": ["--model"]})
    dataset_name: str | None = field(
        default=None, metadata={"help": "Questions: Hub dataset id, local file or folder, builtin:<name>."})
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration."})
    dataset_split: str = field(default="test", metadata={"help": "Split of the questions."})
    problem_column: str = field(default="problem", metadata={"help": "Column holding the question."})
    answer_column: str = field(default="answer", metadata={"help": "Column holding the gold answer."})
    scorer: str | None = field(default="accuracy", metadata={"help": "Reward that decides correctness (>= 1 is correct)."})
    scorer_kwargs: dict = field(default_factory=dict, metadata={"help": "Options of the scorer reward."})
    num_samples: int = field(default=4, metadata={"help": "Samples per question (k)."})
    temperature: float = field(default=0.6, metadata={"help": "Sampling temperature (paper: 0.6; 0: greedy, one sample)."})
    top_p: float = field(default=0.95, metadata={"help": "Nucleus sampling (paper: 0.95)."})
    max_new_tokens: int = field(default=32768, metadata={"help": "Generation budget per sample (paper: 32768)."})
    batch_size: int = field(default=8, metadata={"help": "Questions per generation call."})
    max_questions: int | None = field(default=None, metadata={"help": "Only the first N questions."})
    backend: str = field(default="auto", metadata={"help": "Generation backend.", "choices": list(BACKENDS)})
    dtype: str = field(default="auto", metadata={"help": "Model dtype (auto, bfloat16, float32, ...)."})
    max_model_len: int | None = field(
        default=None, metadata={"help": "vLLM: context length, prompt + completion (default: the model's)."})
    tensor_parallel_size: int = field(default=1, metadata={"help": "vLLM: GPUs the model is split over."})
    seed: int = field(default=0, metadata={"help": "Sampling seed."})
    output_dir: str = field(default="outputs", metadata={"help": "Where the samples and results go."})

    # The fields whose values decide the samples: a resumed run must share them (subclasses add theirs).
    SETTINGS = ("model_name_or_path", "dataset_name", "dataset_config", "dataset_split", "problem_column",
                "answer_column", "scorer", "scorer_kwargs", "num_samples", "temperature", "top_p", "max_new_tokens",
                "prompt_template", "system_prompt", "chat_examples", "seed")

    def __post_init__(self):
        for f in fields(self):  # mappings given on the command line arrive as JSON text
            if f.type in (dict, "dict") and isinstance(getattr(self, f.name), str):
                setattr(self, f.name, json.loads(getattr(self, f.name)))

    @property
    def sampling(self) -> Sampling:
        return Sampling(self.num_samples, self.temperature, self.top_p, self.max_new_tokens, self.seed)

    def settings(self) -> dict[str, Any]:
        """What a resumed run must share with the run it continues."""
        return {k: getattr(self, k) for k in self.SETTINGS}

    def check_generation(self, stage: str, positive: tuple[str, ...] = ()) -> None:
        """The checks every sampling stage runs before loading anything: model and dataset named,
        counts >= 1 (``positive`` names more), sampling settings, template, backend, scorer."""
        check_model_and_dataset(self.model_name_or_path, self.dataset_name, stage)
        for key in ("num_samples", "max_new_tokens", "batch_size", "max_questions", *positive):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ValueError(f"{key}: must be >= 1, got {value}")
        if not 0 < self.top_p <= 1 or self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0: greedy) and top_p in (0, 1] (R1: 0.6 and 0.95), got "
                             f"{self.temperature} and {self.top_p}")
        if self.temperature == 0 and self.num_samples != 1:
            raise ValueError(f"num_samples: greedy decoding (temperature 0) gives one answer per question; "
                             f"set num_samples: 1, got {self.num_samples}")
        self.check_prompt_arguments()
        if self.backend not in BACKENDS:
            raise ValueError(f"backend: {self.backend!r} is not one of {BACKENDS}")
        if self.tensor_parallel_size < 1:
            raise ValueError(f"tensor_parallel_size: must be >= 1, got {self.tensor_parallel_size}")
        if self.max_model_len is not None and self.max_model_len <= self.max_new_tokens:
            raise ValueError(f"max_model_len: {self.max_model_len} leaves no room for the prompt before max_new_tokens "
                             f"{self.max_new_tokens}; set it to max_new_tokens + the longest prompt")
        if self.scorer is not None:
            check_scorer(self.scorer, self.scorer_kwargs, self.answer_column)


def rehearsal_prompts(values: dict, folder, standins, splits, split: str, answer: str) -> str:
    """The built-in stand-in ``rehearse`` uses for a generation stage's Hub ``dataset_name``: questions
    with gold answers under the recipe's columns (``split``, ``answer``: the stage's defaults)."""
    return standins.prompts(folder / "prompts", splits("dataset_split", default=split),
                            values.get("problem_column", "problem"), [values.get("answer_column", answer)], False)

