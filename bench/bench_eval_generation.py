"""The evaluate stage's ``transformers`` backend (``generate`` with temperature, top-p and
``top_k=0``, each prompt read once per sample through ``num_return_sequences``) against the
hand-written fast path it replaced (the prompts' shared prefix read once into a hand-built cache,
each prompt once for its samples, nucleus sampling among the most likely tokens inside greedy
mode), kept here only to re-measure it. Same model, dtype, prompts (the tiny evaluation's: system
prompt, demonstration, question), same number of new tokens per sequence (``min_new_tokens``),
the two paths alternated ``--repeats`` times; medians reported.

    python bench/bench_eval_generation.py [--questions 32] [--samples 4] [--new-tokens 64] [--model DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


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


def prefilled(backend, texts: list[str], n: int) -> dict:
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
    rows = backend.tokenizer(texts, add_special_tokens=False)["input_ids"]
    shared = 0  # each prompt keeps at least its last token for generate to read
    while shared < min(map(len, rows)) - 1 and all(r[shared] == rows[0][shared] for r in rows):
        shared += 1
    width = max(map(len, rows)) - shared
    pad = backend.tokenizer.pad_token_id
    ids = torch.tensor([r[:shared] + [pad] * (width - len(r) + shared) + r[shared:] for r in rows])
    mask = torch.tensor([[1] * shared + [0] * (width - len(r) + shared) + [1] * (len(r) - shared) for r in rows])
    ids, mask = ids.to(backend.model.device), mask.to(backend.model.device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache(config=backend.model.config)
    # positional: the cache argument is `past_key_values` before transformers 5.20, `cache` after
    if shared:
        backend.model(ids[:1, :shared], mask[:1, :shared], positions[:1, :shared], cache, use_cache=True)
        cache.batch_repeat_interleave(len(rows))
    if ids.shape[1] > shared + 1:
        backend.model(ids[:, shared:-1], mask[:, :-1], positions[:, shared:-1], cache, use_cache=True)
    cache.batch_repeat_interleave(n)
    name = "cache" if "cache" in inspect.signature(backend.model.forward).parameters else "past_key_values"
    return {"input_ids": ids.repeat_interleave(n, 0), "attention_mask": mask.repeat_interleave(n, 0), name: cache}


def hand_written(backend, prompts: list, sampling, **every) -> None:
    """The removed fast path: ``prefilled`` inputs, ``generate`` in greedy mode with the sampler."""
    from transformers import LogitsProcessorList

    torch.manual_seed(sampling.seed)
    with torch.no_grad():
        inputs = prefilled(backend, [backend._text(p) for p in prompts], sampling.num_samples)
        backend.model.generate(**inputs, do_sample=False, max_new_tokens=sampling.max_new_tokens,
                               logits_processor=LogitsProcessorList([NucleusSampler(sampling.temperature, sampling.top_p)]),
                               pad_token_id=backend.tokenizer.pad_token_id, **every)


def main(argv: list[str] | None = None) -> dict:
    from trl_r1.data.tasks import arithmetic
    from trl_r1.generation.backends import Sampling, TransformersBackend
    from trl_r1.models import resolve_model
    from trl_r1.recipe import read_yaml

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded:SmolLM2-135M-Instruct")
    parser.add_argument("--questions", type=int, default=32)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--dtype", default="bfloat16")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    recipe = read_yaml(Path(__file__).resolve().parents[1] / "recipes/eval/tiny_arithmetic.yaml")
    backend = TransformersBackend(resolve_model(args.model), args.dtype)
    turns = [{"role": "system", "content": recipe["system_prompt"]}, *recipe["chat_examples"]]
    prompts = [[*turns, {"role": "user", "content": q}] for q in arithmetic()["test"]["problem"][: args.questions]]
    sampling = Sampling(num_samples=args.samples, temperature=0.6, top_p=0.95, max_new_tokens=args.new_tokens)
    every = {"min_new_tokens": args.new_tokens, "eos_token_id": None}  # the same work for both

    def backend_generate():
        generate = backend.model.generate
        backend.model.generate = lambda *a, **kw: generate(*a, **kw, **every)
        try:
            backend.generate(prompts, sampling)
        finally:
            backend.model.generate = generate

    times: dict[str, list[float]] = {"backend (generate)": [], "hand-written": []}
    for _ in range(args.repeats):
        for name, run in (("backend (generate)", backend_generate),
                          ("hand-written", lambda: hand_written(backend, prompts, sampling, **every))):
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    results = {name: statistics.median(t) for name, t in times.items()}
    tokens = args.questions * args.samples * args.new_tokens
    for name, seconds in results.items():
        print(f"{name:>18}: {seconds:6.1f} s (median of {args.repeats}) for {args.questions} questions x "
              f"{args.samples} samples x {args.new_tokens} tokens ({tokens / seconds:.0f} tokens/s)")
    print(f"hand-written speed-up: {results['backend (generate)'] / results['hand-written']:.2f}x")
    return results


if __name__ == "__main__":
    main()
