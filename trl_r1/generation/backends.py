"""Sampling backends behind one interface: prompts (text, or conversations rendered with the
tokenizer's chat template) in, ``n`` completions each out. ``transformers`` runs anywhere;
``vllm`` is the GPU path, picked by ``auto`` when it is importable and a GPU is present."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Protocol

from .. import reaches

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


class NucleusSampler:
    """Temperature, then nucleus (top-p) sampling, as vLLM samples and as the paper evaluates (no
    top-k: ``generate``'s sampling adds its default top-k of 50). A logits processor for
    ``generate`` in its greedy mode: it draws the token and leaves only it finite, so the argmax
    picks it. The nucleus is found among the ``candidates`` most likely tokens (rows whose
    candidates hold less than ``top_p`` of the mass are sorted whole), where sorting the
    vocabulary and ``torch.multinomial`` over it took 38% of a sampled evaluation on a CPU."""

    def __init__(self, temperature: float, top_p: float, candidates: int = 256):
        self.temperature, self.top_p, self.candidates = temperature, top_p, candidates

    def nucleus(self, scores):
        """Each row's nucleus: token ids (rows x k) and their renormalized probabilities (0 outside)."""
        logits = scores.float() / self.temperature
        k = logits.shape[-1] if self.top_p >= 1.0 else min(self.candidates, logits.shape[-1])
        while True:
            top, ids = logits.topk(k)
            p = (top - logits.logsumexp(-1, keepdim=True)).exp()
            # a token is kept while the tokens before it hold less than top_p (transformers' and vLLM's rule)
            if k == logits.shape[-1] or bool((p.sum(-1) >= self.top_p).all()):
                break
            k = logits.shape[-1]  # a flat row: its nucleus reaches past the candidates
        p = p * ((p.cumsum(-1) - p) < self.top_p)
        return ids, p / p.sum(-1, keepdim=True)

    def __call__(self, input_ids, scores):
        import torch

        ids, p = self.nucleus(scores)
        chosen = ids.gather(-1, torch.multinomial(p, 1))
        return torch.full_like(scores, float("-inf")).scatter_(-1, chosen, 0.0)


class TransformersBackend:
    """``model.generate`` on the given prompts at once (each sampled ``n`` times); the caller
    chooses how many prompts go in one call. Sampling is temperature and top-p without top-k, as
    vLLM samples and as the paper evaluates; temperature 0 decodes greedily, once per prompt.

    Two paths, the same tokens (greedy) and the same distribution (sampled), tested against each
    other: ``generate`` alone (``top_k=0``, ``num_return_sequences``), and, where transformers is
    a version it was written for (trl_r1/reaches.py), the fast path: the prompts' shared prefix
    read once into a cache, each prompt once for its samples, the nucleus found among the most
    likely tokens (:class:`NucleusSampler`). On a CPU a sampled evaluation takes a half to a third
    of the time (bench/bench_eval_generation.py: 1.97x to 2.94x, 4 questions x 4 samples x 64 tokens)."""

    fast = True  # the fast path where transformers is a version it was written for

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

    @classmethod
    def for_model(cls, model, tokenizer) -> TransformersBackend:
        """A backend on a model already in memory (a policy being trained: its device, dtype and
        weights as they are). ``tokenizer`` is left unchanged (a copy gets a pad token if it has none)."""
        import copy

        backend = cls.__new__(cls)
        backend.model = model
        backend.tokenizer = tokenizer
        if tokenizer.pad_token is None:
            backend.tokenizer = copy.deepcopy(tokenizer)
            backend.tokenizer.pad_token = tokenizer.eos_token
        return backend

    def _text(self, prompt) -> str:
        if isinstance(prompt, str):
            return prompt
        return self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)

    @staticmethod
    def decoding(sampling: Sampling) -> dict:
        """``generate``'s arguments for ``sampling``: greedy at temperature 0 (as in vLLM), else
        temperature and top-p sampling without top-k.

        >>> TransformersBackend.decoding(Sampling(temperature=0.6, top_p=0.95, max_new_tokens=8))
        {'max_new_tokens': 8, 'do_sample': True, 'temperature': 0.6, 'top_p': 0.95, 'top_k': 0}
        >>> TransformersBackend.decoding(Sampling(temperature=0.0, max_new_tokens=8))
        {'max_new_tokens': 8, 'do_sample': False}
        """
        if sampling.temperature <= 0:
            return {"max_new_tokens": sampling.max_new_tokens, "do_sample": False}
        return {"max_new_tokens": sampling.max_new_tokens, "do_sample": True, "temperature": sampling.temperature,
                "top_p": sampling.top_p, "top_k": 0}

    def _prefilled(self, texts: list[str], n: int) -> dict:
        """``generate``'s inputs for ``n`` samples of each prompt with the prompts already read, each
        token once: the prefix all prompts share (a system prompt, demonstrations) once, then each
        prompt's own tokens once for its ``n`` samples, where ``generate`` alone reads every prompt
        in full for every sample (on a CPU, reading the tiny evaluation's 87-token prompts was more
        than half of a sampled evaluation). The padding goes between the shared prefix and the rest;
        positions skip it, as ``generate`` numbers left-padded prompts: same tokens (tested)."""
        import inspect

        import torch
        from transformers import DynamicCache

        # A chat template usually writes the BOS token itself.
        rows = self.tokenizer(texts, add_special_tokens=False)["input_ids"]
        shared = 0  # each prompt keeps at least its last token for generate to read
        while shared < min(map(len, rows)) - 1 and all(r[shared] == rows[0][shared] for r in rows):
            shared += 1
        width = max(map(len, rows)) - shared
        pad = self.tokenizer.pad_token_id
        ids = torch.tensor([r[:shared] + [pad] * (width - len(r) + shared) + r[shared:] for r in rows])
        mask = torch.tensor([[1] * shared + [0] * (width - len(r) + shared) + [1] * (len(r) - shared) for r in rows])
        ids, mask = ids.to(self.model.device), mask.to(self.model.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)
        # positional: the cache argument is `past_key_values` before transformers 5.20, `cache` after
        if shared:
            self.model(ids[:1, :shared], mask[:1, :shared], positions[:1, :shared], cache, use_cache=True)
            cache.batch_repeat_interleave(len(rows))
        if ids.shape[1] > shared + 1:
            self.model(ids[:, shared:-1], mask[:, :-1], positions[:, shared:-1], cache, use_cache=True)
        cache.batch_repeat_interleave(n)
        name = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"
        return {"input_ids": ids.repeat_interleave(n, 0), "attention_mask": mask.repeat_interleave(n, 0), name: cache}

    def _use_fast_path(self) -> bool:
        if not self.fast:
            return False
        try:
            reaches.check("trl_r1/generation/backends.py")
        except reaches.ReachError as error:
            print(f"{error} Generating with `generate` alone (same tokens, slower on a CPU).")
            self.fast = False
        return self.fast

    def generate(self, prompts: list, sampling: Sampling) -> list[list[Completion]]:
        import torch
        from transformers import LogitsProcessorList

        torch.manual_seed(sampling.seed)
        n = sampling.num_samples
        decoding = self.decoding(sampling)
        copies = n if decoding["do_sample"] else 1  # greedy: the n samples are the same completion
        texts = [self._text(p) for p in prompts]
        with torch.no_grad():
            if self._use_fast_path():
                inputs = self._prefilled(texts, copies)
                sampler = {}
                if decoding.pop("do_sample"):  # drawn by the sampler, kept by generate's argmax
                    sampler = {"logits_processor": LogitsProcessorList([NucleusSampler(sampling.temperature, sampling.top_p)])}
                output = self.model.generate(**inputs, do_sample=False, max_new_tokens=sampling.max_new_tokens,
                                             pad_token_id=self.tokenizer.pad_token_id, **sampler)
            else:
                # Left-padded whatever side the tokenizer pads (a trainer's may pad right); a chat
                # template usually writes the BOS token itself.
                inputs = self.tokenizer(texts, return_tensors="pt", padding=True, padding_side="left",
                                        add_special_tokens=False).to(self.model.device)
                output = self.model.generate(**inputs, **decoding, num_return_sequences=copies,
                                             pad_token_id=self.tokenizer.pad_token_id)
        new = output[:, inputs["input_ids"].shape[1]:]
        results = []
        for row in new.tolist():
            ids = [t for t in row if t != self.tokenizer.pad_token_id]
            if self.tokenizer.eos_token_id in ids:
                ids = ids[: ids.index(self.tokenizer.eos_token_id) + 1]
            # Special tokens dropped, added ones flagged special included, as vLLM's default does.
            results.append(Completion(self.tokenizer.decode(ids, skip_special_tokens=True), len(ids)))
        return [[Completion(**vars(results[i * copies + j % copies])) for j in range(n)] for i in range(len(prompts))]


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
