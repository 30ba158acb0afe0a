"""The evaluate stage's ``transformers`` backend on its two paths: ``generate`` alone (temperature,
top-p and ``top_k=0``, each prompt read once per sample through ``num_return_sequences``) and the
fast path (the prompts' shared prefix read once into a cache, each prompt once for its samples,
the nucleus found among the most likely tokens). Same model, dtype, prompts (the tiny
evaluation's: system prompt, demonstration, question), same number of new tokens per sequence
(``min_new_tokens``), the two paths alternated ``--repeats`` times; medians reported.

    python bench/bench_eval_generation.py [--questions 32] [--samples 4] [--new-tokens 64] [--model DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

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
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    recipe = read_yaml(Path(__file__).resolve().parents[1] / "recipes/eval/tiny_arithmetic.yaml")
    backend = TransformersBackend(resolve_model(args.model), args.dtype)
    turns = [{"role": "system", "content": recipe["system_prompt"]}, *recipe["chat_examples"]]
    prompts = [[*turns, {"role": "user", "content": q}] for q in arithmetic()["test"]["problem"][: args.questions]]
    sampling = Sampling(num_samples=args.samples, temperature=0.6, top_p=0.95, max_new_tokens=args.new_tokens)
    every = {"min_new_tokens": args.new_tokens, "eos_token_id": None}  # the same work for both

    def path(fast: bool):
        def run():
            backend.fast = fast
            generate = backend.model.generate
            backend.model.generate = lambda *a, **kw: generate(*a, **kw, **every)
            try:
                backend.generate(prompts, sampling)
            finally:
                backend.model.generate = generate
        return run

    times: dict[str, list[float]] = {"generate alone": [], "fast path": []}
    for _ in range(args.repeats):
        for name, run in (("generate alone", path(False)), ("fast path", path(True))):
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    results = {name: statistics.median(t) for name, t in times.items()}
    tokens = args.questions * args.samples * args.new_tokens
    for name, seconds in results.items():
        print(f"{name:>14}: {seconds:6.1f} s (median of {args.repeats}) for {args.questions} questions x "
              f"{args.samples} samples x {args.new_tokens} tokens ({tokens / seconds:.0f} tokens/s)")
    print(f"fast path speed-up: {results['generate alone'] / results['fast path']:.2f}x")
    return results


if __name__ == "__main__":
    main()
