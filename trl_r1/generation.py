"""Sampling backends: one interface, vLLM when installed, transformers otherwise; and the
resumable loop over questions that the evaluate and sample stages share.

A backend turns prompts (plain text, or conversations rendered through the tokenizer's chat
template) into ``n`` sampled completions each. ``transformers`` runs anywhere (CPU, tests);
``vllm`` is the normal GPU path and is picked by ``auto`` when it is importable and a GPU is
present.

:func:`sample_questions` samples every question not yet done and appends each question's
result rows to a JSONL file as soon as it is scored; :func:`read_samples` reads the finished
questions back, so that a re-run after a crash skips them, and :func:`check_settings` refuses
to mix in rows sampled with other settings.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

BACKENDS = ("auto", "transformers", "vllm")


@dataclass(frozen=True)
class Sampling:
    """The paper's sampling settings by default (R1_FACTS.md, "Evaluation protocol");
    ``temperature`` 0 decodes greedily."""

    num_samples: int = 4
    temperature: float = 0.6
    top_p: float = 0.95
    max_new_tokens: int = 32768
    seed: int = 0


@dataclass
class Completion:
    text: str
    num_tokens: int


class Backend(Protocol):
    def generate(self, prompts: list, sampling: Sampling) -> list[list[Completion]]:
        """``sampling.num_samples`` completions for each prompt, in prompt order."""


def check_generation(config, positive: tuple[str, ...] = ()) -> None:
    """The checks of every stage that samples from a model (``evaluate``, ``sample``): counts
    ``num_samples``, ``max_new_tokens``, ``batch_size`` and ``positive`` >= 1 (None: unset),
    sampling settings, prompt template and backend."""
    from .templates import TEMPLATES

    for key in ("num_samples", "max_new_tokens", "batch_size", *positive):
        value = getattr(config, key)
        if value is not None and value < 1:
            raise ValueError(f"{key}: must be >= 1, got {value}")
    if not 0 < config.top_p <= 1 or config.temperature <= 0:
        raise ValueError(f"temperature must be > 0 and top_p in (0, 1] (R1: 0.6 and 0.95), got "
                         f"{config.temperature} and {config.top_p}")
    if config.prompt_template not in TEMPLATES:
        raise ValueError(f"prompt_template: {config.prompt_template!r} is not one of {sorted(TEMPLATES)}")
    if config.backend not in BACKENDS:
        raise ValueError(f"backend: {config.backend!r} is not one of {BACKENDS}")


def vllm_available() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def make_backend(name: str, model: str, dtype: str = "auto") -> Backend:
    """The backend called ``name`` (``auto``: vLLM when usable, else transformers) for ``model``
    (a directory or Hub id, as :func:`trl_r1.models.resolve_model` returns it)."""
    if name not in BACKENDS:
        raise ValueError(f"backend: {name!r} is not one of {BACKENDS}")
    if name == "vllm" or (name == "auto" and vllm_available()):
        if importlib.util.find_spec("vllm") is None:
            raise ModuleNotFoundError("backend `vllm` needs vLLM: pip install -e '.[vllm]'")
        return VLLMBackend(model, dtype)
    return TransformersBackend(model, dtype)


class TransformersBackend:
    """``model.generate`` on the given prompts at once (each sampled ``n`` times); the caller
    chooses how many prompts go in one call."""

    def __init__(self, model: str, dtype: str = "auto"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
        self.model.to("cuda" if torch.cuda.is_available() else "cpu").eval()

    def _text(self, prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        return self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)

    def generate(self, prompts: list, sampling: Sampling) -> list[list[Completion]]:
        import torch

        torch.manual_seed(sampling.seed)
        texts = [self._text(p) for p in prompts]
        # A chat template usually writes the BOS token itself.
        inputs = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.model.device)
        if sampling.temperature > 0:
            decoding = {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p}
        else:  # greedy, as temperature 0 means in vLLM
            decoding = {"do_sample": False}
        with torch.no_grad():
            output = self.model.generate(
                **inputs, **decoding, max_new_tokens=sampling.max_new_tokens, num_return_sequences=sampling.num_samples,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        new = output[:, inputs["input_ids"].shape[1]:]
        results = []
        for row in new.tolist():
            ids = [t for t in row if t != self.tokenizer.pad_token_id]
            if self.tokenizer.eos_token_id in ids:
                ids = ids[: ids.index(self.tokenizer.eos_token_id) + 1]
            # Special tokens dropped, added ones flagged special included, as vLLM's default does.
            results.append(Completion(self.tokenizer.decode(ids, skip_special_tokens=True), len(ids)))
        n = sampling.num_samples
        return [results[i * n:(i + 1) * n] for i in range(len(prompts))]


class VLLMBackend:
    """vLLM's offline ``LLM``: all prompts at once, ``n`` samples each (continuous batching)."""

    def __init__(self, model: str, dtype: str = "auto"):
        from vllm import LLM

        from .train.cpu_engines import offline_engine_kwargs

        self.llm = LLM(model=model, dtype=dtype, **offline_engine_kwargs(model))

    def generate(self, prompts: list, sampling: Sampling) -> list[list[Completion]]:
        from vllm import SamplingParams

        params = SamplingParams(n=sampling.num_samples, temperature=sampling.temperature, top_p=sampling.top_p,
                                max_tokens=sampling.max_new_tokens, seed=sampling.seed)
        if all(isinstance(p, str) for p in prompts):
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
        else:
            outputs = self.llm.chat(prompts, params, use_tqdm=False)
        return [[Completion(o.text, len(o.token_ids)) for o in out.outputs] for out in outputs]


def read_samples(path: Path, num_samples: int) -> dict[int, list[dict]]:
    """Finished questions of a previous run: index (a row's ``question``) -> its rows. A line cut
    short by a crash, and a question with fewer than ``num_samples`` rows, are dropped (the file
    is rewritten without them) so that they are generated again."""
    if not path.is_file():
        return {}
    found: dict[int, list[dict]] = {}
    text = path.read_text()
    lines = text.splitlines()
    for line in lines:
        try:
            sample = json.loads(line)
        except json.JSONDecodeError:
            continue
        found.setdefault(sample["question"], []).append(sample)
    done = {q: s for q, s in found.items() if len(s) == num_samples}
    kept = [json.dumps(s) for samples in done.values() for s in samples]
    if len(kept) != len(lines) or not text.endswith("\n"):
        path.write_text("".join(line + "\n" for line in kept))
    return done


def check_settings(output_dir: Path, settings: dict[str, Any], samples_file: str, settings_file: str = "settings.json") -> None:
    """Record ``settings`` in ``output_dir``; refuse when the samples there were drawn with others."""
    path = output_dir / settings_file
    settings = json.loads(json.dumps(settings))
    if path.is_file():
        previous = json.loads(path.read_text())
        changed = sorted(k for k in settings if previous.get(k) != settings[k])
        if changed and (output_dir / samples_file).is_file():
            raise ValueError(
                f"{output_dir} holds samples drawn with other settings ({', '.join(changed)}); "
                "use another output_dir, or delete it to start over")
    output_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n")


def sample_questions(
    backend: Backend,
    prompts: list,
    todo: list[int],
    sampling: Sampling,
    batch_size: int,
    score: Callable[[int, Any, list[Completion]], list[dict]],
    path: Path,
    done: dict[int, list[dict]],
    desc: str,
) -> None:
    """Sample ``prompts[i]`` for every ``i`` in ``todo``, ``batch_size`` questions per call (the
    seed offset by the batch's first index); ``score(i, prompt, completions)`` makes question
    ``i``'s rows, which are appended to ``path`` at once (a finished question survives a crash)
    and stored in ``done[i]``. A progress bar counts questions."""
    from tqdm.auto import tqdm

    with tqdm(total=len(todo), desc=desc, unit="question") as bar, path.open("a") as out:
        for start in range(0, len(todo), batch_size):
            batch = todo[start:start + batch_size]
            batch_prompts = [prompts[i] for i in batch]
            seeded = dataclasses.replace(sampling, seed=sampling.seed + batch[0])
            for i, prompt, completions in zip(batch, batch_prompts, backend.generate(batch_prompts, seeded), strict=True):
                rows = score(i, prompt, completions)
                out.write("".join(json.dumps(r) + "\n" for r in rows))
                out.flush()
                done[i] = rows
            bar.update(len(batch))
