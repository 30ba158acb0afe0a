"""Stage ``evaluate``: sample k answers per benchmark question and score them as R1 does.

    python -m trl_r1 recipes/eval/aime24.yaml --model <path or hub id> [--dataset_name local.jsonl]

Writes to ``output_dir``:

- ``samples.jsonl``: one line per sample (question index, completion, extracted answer, score,
  tokens), appended question by question; re-running the command skips finished questions;
- ``metrics.json``: pass@1, pass@k (k = 1, 2, 4, ... n), cons@n (a majority vote over the final
  answers: math answers grouped by equivalence, choice letters by equality; none for code), mean
  response length, reflection-word rate, and the settings they were measured with;
- ``results.md``: the same as a Markdown table.

Correctness is the scorer's: a reward from the registry (``accuracy`` by default), the very
definition training uses.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trl_r1_rewards.accuracy import extract_answer
from trl_r1_rewards.choice import ChoiceReward

from ..config import REFLECTION_WORDS
from ..data import check_model_and_dataset, load_split
from ..eval_metrics import markdown_table, summarize
from ..generation import BACKENDS, Sampling, check_generation, check_settings, make_backend, read_samples, sample_questions
from ..models import resolve_model
from ..scoring import check_scorer, load_scorer
from ..templates import TEMPLATES, make_prompt


# Scorers whose answers are final answers that can be compared, and how cons@n groups them
# (eval_metrics.GROUPINGS): math answers by equivalence, choice letters by equality.
VOTING_SCORERS = {"accuracy": "equivalence", "choice": "exact"}
SAMPLES_FILE, METRICS_FILE, TABLE_FILE, SETTINGS_FILE = "samples.jsonl", "metrics.json", "results.md", "settings.json"


@dataclass
class EvalConfig:
    """An evaluation: which model, which benchmark, how to sample and how to score.

    Args:
        model_name_or_path (`str`): a Hub id, a local directory or `embedded:<name>`
            (`--model` on the command line).
        dataset_name (`str`): a Hub dataset id or a local JSONL/JSON/CSV/Parquet file.
        dataset_config (`str`, *optional*): the Hub dataset's configuration.
        dataset_split (`str`, defaults to `"test"`): the split to evaluate (a local file's only
            split is `train`, which is used whenever the named split is missing and it is the only one).
        problem_column / answer_column (`str`): the question and the gold answer.
        scorer (`str`, defaults to `"accuracy"`): a reward from `python -m trl_r1 list`;
            `scorer_kwargs` are its options. A sample is correct when it scores >= 1.
        num_samples (`int`): k samples per question (the paper: 4 to 64 by test-set size).
        temperature / top_p / max_new_tokens: the paper's 0.6 / 0.95 / 32768 by default.
        batch_size (`int`): questions per generation call (each sampled `num_samples` times).
        max_questions (`int`, *optional*): evaluate only the first N questions (quick runs).
        prompt_template / system_prompt: how a question becomes a prompt (zero-shot).
        backend (`str`): `auto` (vLLM when usable), `transformers` or `vllm`.
        max_model_len (`int`, *optional*): vLLM's context, prompt + completion (default: the model's
            declared context, whose KV cache may not fit: 34816 holds a 2k prompt + 32k tokens).
        tensor_parallel_size (`int`, defaults to 1): GPUs vLLM splits the model over (32B: 4, 70B: 8).
    """

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Model: Hub id, local directory or embedded:<name>.", "aliases": ["--model"]})
    dataset_name: str | None = field(default=None, metadata={"help": "Hub dataset id or local JSONL/Parquet file."})
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset configuration."})
    dataset_split: str = field(default="test", metadata={"help": "Split to evaluate."})
    problem_column: str = field(default="problem", metadata={"help": "Column holding the question."})
    answer_column: str = field(default="answer", metadata={"help": "Column holding the gold answer."})
    choice_columns: list[str] | None = field(
        default=None,
        metadata={"help": "Multiple choice: the right answer's column, then the wrong ones. They are shuffled "
                  "(seeded per question) into the prompt as (A), (B), ...; the right letter becomes the gold "
                  "in `answer_column`. Use with scorer `choice`."},
    )
    scorer: str = field(default="accuracy", metadata={"help": "Reward that decides correctness (>= 1 is correct)."})
    scorer_kwargs: dict = field(default_factory=dict, metadata={"help": "Options of the scorer reward."})
    num_samples: int = field(default=4, metadata={"help": "Samples per question (k)."})
    temperature: float = field(default=0.6, metadata={"help": "Sampling temperature (paper: 0.6)."})
    top_p: float = field(default=0.95, metadata={"help": "Nucleus sampling (paper: 0.95)."})
    max_new_tokens: int = field(default=32768, metadata={"help": "Generation budget per sample (paper: 32768)."})
    batch_size: int = field(default=8, metadata={"help": "Questions per generation call."})
    max_questions: int | None = field(default=None, metadata={"help": "Only the first N questions."})
    prompt_template: str = field(default="chat", metadata={"help": "zero or chat.", "choices": sorted(TEMPLATES)})
    system_prompt: str | None = field(default=None, metadata={"help": "System message (chat template)."})
    backend: str = field(default="auto", metadata={"help": "Generation backend.", "choices": list(BACKENDS)})
    dtype: str = field(default="auto", metadata={"help": "Model dtype (auto, bfloat16, float32, ...)."})
    max_model_len: int | None = field(
        default=None, metadata={"help": "vLLM: context length, prompt + completion (default: the model's)."})
    tensor_parallel_size: int = field(default=1, metadata={"help": "vLLM: GPUs the model is split over."})
    seed: int = field(default=0, metadata={"help": "Sampling seed."})
    benchmark: str | None = field(default=None, metadata={"help": "Name in the results (default: the dataset's)."})
    output_dir: str = field(default="outputs/eval", metadata={"help": "Where samples, metrics and table go."})
    reflection_words: list[str] = field(
        default_factory=lambda: list(REFLECTION_WORDS), metadata={"help": "Words counted per 1k response words."})

    def __post_init__(self):
        if isinstance(self.scorer_kwargs, str):  # given on the command line as JSON
            self.scorer_kwargs = json.loads(self.scorer_kwargs)

    @property
    def sampling(self) -> Sampling:
        return Sampling(self.num_samples, self.temperature, self.top_p, self.max_new_tokens, self.seed)

    def settings(self) -> dict[str, Any]:
        """What a resumed run must share with the run it continues."""
        keys = ("model_name_or_path", "dataset_name", "dataset_config", "dataset_split", "problem_column",
                "answer_column", "choice_columns", "scorer", "scorer_kwargs", "num_samples", "temperature", "top_p",
                "max_new_tokens", "prompt_template", "system_prompt", "seed")
        return {k: getattr(self, k) for k in keys}


ARGUMENTS = (EvalConfig,)


def validate(config: EvalConfig) -> None:
    check_model_and_dataset(config.model_name_or_path, config.dataset_name, "evaluate")
    check_generation(config, positive=("max_questions",))
    check_scorer(config.scorer, config.scorer_kwargs, config.answer_column)


def load_questions(config: EvalConfig) -> list[dict]:
    """The benchmark rows to evaluate, in order."""
    split = load_split(config.dataset_name, config.dataset_config, config.dataset_split,
                       [config.problem_column, *(config.choice_columns or [config.answer_column])])
    if config.max_questions is not None:
        split = split.select(range(min(config.max_questions, len(split))))
    rows = [dict(row) for row in split]
    if config.choice_columns:
        rows = [with_choices(row, i, config) for i, row in enumerate(rows)]
    return rows


def with_choices(row: dict, index: int, config: EvalConfig) -> dict:
    """Shuffle a multiple-choice row's options into its question; the right letter becomes the gold.

    >>> cfg = EvalConfig(model_name_or_path="m", dataset_name="d", choice_columns=["right", "wrong"], seed=0)
    >>> row = with_choices({"problem": "2+2?", "right": "4", "wrong": "5"}, 0, cfg)
    >>> row["problem"].splitlines()[2:], row["answer"]
    (['(A) 4', '(B) 5'], 'A')
    """
    options = [str(row[column]).strip() for column in config.choice_columns]
    order = random.Random(f"{config.seed}:{index}").sample(range(len(options)), len(options))
    letters = string.ascii_uppercase[: len(options)]
    listed = "\n".join(f"({letter}) {options[i]}" for letter, i in zip(letters, order))
    return {**row, config.problem_column: f"{row[config.problem_column]}\n\n{listed}",
            config.answer_column: letters[order.index(0)]}


def run(recipe) -> dict:
    (config,) = recipe.configs
    output_dir = Path(config.output_dir)
    check_settings(output_dir, config.settings(), SAMPLES_FILE, SETTINGS_FILE)
    questions = load_questions(config)
    samples_path = output_dir / SAMPLES_FILE
    done = read_samples(samples_path, config.num_samples)
    todo = [i for i in range(len(questions)) if i not in done]
    if done:
        print(f"Resuming: {len(done)} of {len(questions)} questions already evaluated in {samples_path}")

    if todo:
        scorer = load_scorer(config.scorer, config.scorer_kwargs, config.answer_column)
        backend = make_backend(config.backend, resolve_model(config.model_name_or_path), config.dtype,
                               config.max_model_len, config.tensor_parallel_size)
        prompts = [make_prompt(q[config.problem_column], config.prompt_template, config.system_prompt) for q in questions]
        sample_questions(
            backend, prompts, todo, config.sampling, config.batch_size,
            lambda i, prompt, completions: _score(config, scorer, i, questions[i], prompt, completions),
            samples_path, done, desc=f"evaluate {config.benchmark or config.dataset_name}")

    name = config.benchmark or Path(config.dataset_name).stem
    metrics = {"benchmark": name, "model": config.model_name_or_path, "num_questions": len(questions),
               **summarize([done[i] for i in range(len(questions))], config.reflection_words,
                           vote=VOTING_SCORERS.get(config.scorer)),
               "settings": config.settings()}
    (output_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    table = markdown_table([metrics])
    (output_dir / TABLE_FILE).write_text(table + "\n")
    print("\n" + table)
    print(f"\nOutputs:\n  samples  {samples_path}\n  metrics  {output_dir / METRICS_FILE}\n  table    {output_dir / TABLE_FILE}")
    return metrics


def _score(config: EvalConfig, scorer, index: int, row: dict, prompt, completions) -> list[dict]:
    """One result row per sample of one question, scored by the scorer reward, with the final
    answer cons@n votes on where the scorer has one (none for code)."""
    texts = [c.text for c in completions]
    columns = {k: [v] * len(texts) for k, v in row.items()}
    scores = scorer([prompt] * len(texts), texts, **columns)
    rows = []
    for j, (completion, score) in enumerate(zip(completions, scores, strict=True)):
        if isinstance(scorer, ChoiceReward):  # the letter the scorer read: what cons@n votes on
            answer, boxed = scorer.chosen_letter(completion.text), False
        elif config.scorer in VOTING_SCORERS:  # read as the scorer reads it
            answer, boxed = extract_answer(completion.text, getattr(scorer, "answer_tags", False))
        else:
            answer, boxed = None, False
        rows.append({
            "question": index, "sample": j, "problem": row[config.problem_column],
            "gold": str(row[config.answer_column]), "completion": completion.text,
            "answer": answer, "boxed": boxed,
            "score": score, "num_tokens": completion.num_tokens,
        })
    return rows
