"""A sampled evaluation's generation, side by side: transformers' ``generate`` as is (each prompt
read once per sample through ``num_return_sequences``, its sampling with top-p over a sorted
vocabulary, and its default top-k of 50) against the ``transformers`` backend of ``evaluate``
(the prompts' shared prefix read once, each prompt once for its samples, nucleus sampling among
the most likely tokens). Same model, dtype, prompts (the tiny evaluation's: system prompt,
demonstration, question), same number of new tokens per sequence (``min_new_tokens``), so the
two do the same decoding work.

    python bench/bench_eval_generation.py [--questions 32] [--samples 4] [--new-tokens 64] [--model DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


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
    args = parser.parse_args(argv)

    recipe = read_yaml(Path(__file__).resolve().parents[1] / "recipes/eval/tiny_arithmetic.yaml")
    backend = TransformersBackend(resolve_model(args.model), args.dtype)
    turns = [{"role": "system", "content": recipe["system_prompt"]}, *recipe["chat_examples"]]
    prompts = [[*turns, {"role": "user", "content": q}] for q in arithmetic()["test"]["problem"][: args.questions]]
    sampling = Sampling(num_samples=args.samples, temperature=0.6, top_p=0.95, max_new_tokens=args.new_tokens)
    texts = [backend._text(p) for p in prompts]
    inputs = backend.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    every = {"min_new_tokens": args.new_tokens, "eos_token_id": None}  # the same work for both

    def plain():
        with torch.no_grad():
            backend.model.generate(**inputs, do_sample=True, temperature=0.6, top_p=0.95, max_new_tokens=args.new_tokens,
                                   num_return_sequences=args.samples, pad_token_id=backend.tokenizer.pad_token_id, **every)

    def ours():
        generate = backend.model.generate
        backend.model.generate = lambda **kw: generate(**kw, **every)
        try:
            backend.generate(prompts, sampling)
        finally:
            backend.model.generate = generate

    results = {}
    for name, run in (("generate", plain), ("evaluate backend", ours)):
        start = time.perf_counter()
        run()
        results[name] = time.perf_counter() - start
        tokens = args.questions * args.samples * args.new_tokens
        print(f"{name:>17}: {results[name]:6.1f} s for {args.questions} questions x {args.samples} samples x "
              f"{args.new_tokens} tokens ({tokens / results[name]:.0f} tokens/s)")
    print(f"speed-up: {results['generate'] / results['evaluate backend']:.2f}x")
    return results


if __name__ == "__main__":
    main()
