"""Decontamination throughput: training rows checked per second against ~1k eval questions.

    python bench/bench_decontaminate.py [--rows 100000] [--questions 1000]

Synthetic data: questions and rows of random words (rows ~120 words, like a math problem with
some solution text), 1% of rows carrying a 12-word slice of a question. Prints rows/s.
"""

from __future__ import annotations

import argparse
import random
import time

from trl_r1.data.decontaminate import NgramIndex, rows_to_keep


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--row-words", type=int, default=120)
    args = parser.parse_args()

    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(20_000)] + [str(i) for i in range(100)] + ["+", "=", "(", ")", "x^2"]
    questions = [" ".join(rng.choices(vocab, k=rng.randint(8, 60))) for _ in range(args.questions)]
    rows = []
    for _ in range(args.rows):
        words = rng.choices(vocab, k=args.row_words)
        if rng.random() < 0.01:
            q = rng.choice(questions).split()
            words[5:5] = q[:12]
        rows.append(" ".join(words))

    start = time.perf_counter()
    index = NgramIndex()
    for b in range(4):
        index.add(questions[b::4], f"bench{b}")
    indexed = time.perf_counter()
    keep, report = rows_to_keep(rows, index)
    done = time.perf_counter()
    print(f"indexed {args.questions} questions in {indexed - start:.2f} s")
    print(f"checked {args.rows} rows of {args.row_words} words in {done - indexed:.2f} s: "
          f"{args.rows / (done - indexed):,.0f} rows/s; removed {report.removed}")


if __name__ == "__main__":
    main()
