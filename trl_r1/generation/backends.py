"""Sampling backends behind one interface: prompts (text, or conversations rendered with the
tokenizer's chat template) in, ``n`` completions each out. ``transformers`` runs anywhere;
``vllm`` is the GPU path, picked by ``auto`` when it is importable and a GPU is present."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Protocol

# torch, transformers and vLLM are imported when a backend is built, not with this module:
# validating a recipe (`python -m trl_r1 check`) stays fast and never needs vLLM.

BACKENDS = ("auto", "transformers", "vllm")


@dataclass(frozen=True)
class Sampling:
    """The paper's sampling settings by default (docs/r1.md, "Evaluation"); ``temperature`` 0
    decodes greedily."""

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


def vllm_available() -> bool:
    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()


def make_backend(name: str, model: str, dtype: str = "auto", max_model_len: int | None = None,
                 tensor_parallel_size: int = 1) -> Backend:
    """The backend called ``name`` (``auto``: vLLM when usable, else transformers) for ``model``
    (a directory or Hub id, as :func:`trl_r1.models.resolve_model` returns it). vLLM only:
    ``max_model_len`` (prompt + completion; None: the model's declared context, which may not
    fit one GPU's KV cache) and ``tensor_parallel_size`` (GPUs one model is split over)."""
    if name not in BACKENDS:
        raise ValueError(f"backend: {name!r} is not one of {BACKENDS}")
    if name == "vllm" or (name == "auto" and vllm_available()):
        if importlib.util.find_spec("vllm") is None:
            raise ModuleNotFoundError("backend `vllm` needs vLLM: pip install -e '.[vllm]'")
        return VLLMBackend(model, dtype, max_model_len, tensor_parallel_size)
    return TransformersBackend(model, dtype)


class TransformersBackend:
    """``model.generate`` on the given prompts at once (each sampled ``n`` times); the caller
    chooses how many prompts go in one call."""

    def __init__(self, model: str, dtype: str = "auto"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ..train.config import cpu_has_bf16

        device = "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cpu" and dtype in ("bfloat16", "bf16") and not cpu_has_bf16():
            print("dtype: this CPU has no bf16 arithmetic (avx512_bf16 / amx_bf16), where bf16 is slower than "
                  "fp32; generating in float32")
            dtype = "float32"
        self.tokenizer = AutoTokenizer.from_pretrained(model, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype)
        self.model.to(device).eval()

    def _text(self, prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        return self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)

    def _prefilled(self, inputs, n: int) -> dict:
        """``generate``'s inputs for ``n`` samples of each prompt, each prompt read once: its key/value
        cache (all but its last token) is computed for one copy and repeated ``n`` times, where
        ``num_return_sequences`` would read each prompt ``n`` times (on a CPU, the prompts' reading
        was half of a sampled evaluation). Same tokens as ``num_return_sequences`` (tested)."""
        import inspect

        from transformers import DynamicCache

        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        if n == 1 or ids.shape[1] < 2:
            return {"input_ids": ids, "attention_mask": mask}
        cache = DynamicCache(config=self.model.config)
        positions = (mask.long().cumsum(-1) - 1).clamp(min=0)  # as generate numbers left-padded prompts
        # positional: the cache argument is `past_key_values` before transformers 5.20, `cache` after
        self.model(ids[:, :-1], mask[:, :-1], positions[:, :-1], cache, use_cache=True)
        cache.batch_repeat_interleave(n)
        name = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        return {"input_ids": ids.repeat_interleave(n, 0), "attention_mask": mask.repeat_interleave(n, 0), name: cache}

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
                **self._prefilled(inputs, sampling.num_samples), **decoding, max_new_tokens=sampling.max_new_tokens,
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

    def __init__(self, model: str, dtype: str = "auto", max_model_len: int | None = None, tensor_parallel_size: int = 1):
        from vllm import LLM

        from ..train.cpu_engines import offline_engine_kwargs

        self.llm = LLM(model=model, dtype=dtype, max_model_len=max_model_len, tensor_parallel_size=tensor_parallel_size,
                       **offline_engine_kwargs(model))

    def generate(self, prompts: list, sampling: Sampling) -> list[list[Completion]]:
        from vllm import SamplingParams

        params = SamplingParams(n=sampling.num_samples, temperature=sampling.temperature, top_p=sampling.top_p,
                                max_tokens=sampling.max_new_tokens, seed=sampling.seed)
        if all(isinstance(p, str) for p in prompts):
            outputs = self.llm.generate(prompts, params, use_tqdm=False)
        else:
            outputs = self.llm.chat(prompts, params, use_tqdm=False)
        return [[Completion(o.text, len(o.token_ids)) for o in out.outputs] for out in outputs]
