r"""Throughput and correctness of our rewards against the obvious alternatives, in one run.

A GRPO-shaped batch (``--prompts`` questions x ``--generations`` completions, 32 x 16 = 512 by
default), each completion an R1-style ``<think>`` of about ``--chars`` characters of English
reasoning with some LaTeX, then a summary with ``\boxed{}``. Golds are stored as datasets
store them (bare LaTeX, no ``$``); half the completions answer right, half wrong, so the truth
is known. Wrong answers differ between generations (as sampled ones do); right ones repeat.
Deterministic (``--seed``); both scorers are warmed up on other golds first (worker start-up,
math-verify's parser tables), so that no cache gives anything away.

Two mixes of gold answers, each timed on its own batch, ours and TRL's side by side:

- ``realistic``: the answer types of MATH-500, by prompt: 60% integers (19 of 32 prompts),
  12% fractions (4), 10% radicals and pi (3), 6% tuples and intervals (2), 6% algebraic
  expressions (2), 6% text and letters (2). Right answers are written as models write them:
  integers and half of the rest exactly as the gold, the others differently (``\dfrac``,
  ``0.75``, ``\sqrt{50}``, spacing). AIME and GSM8K, all integers, are easier still.
- ``hard``: golds that TRL's ``accuracy_reward`` gets wrong or skips (``\sqrt{3}``, ``(1,2)``,
  ``\frac12``, ...), every right answer written differently from its gold; two thirds of it
  are sets, tuples, radicals and expressions, which math-verify parses slowly.

    python bench/bench_rewards.py                    # the default batch, well under 2 minutes
    python bench/bench_rewards.py --prompts 4 --chars 2000
"""

from __future__ import annotations

import argparse
import random
import statistics
import time


def gold_family(kind: int, n: int, k: int) -> tuple[str, str, str]:
    """(gold as a dataset stores it, an equal answer written differently, a wrong answer ``k``)."""
    m = n + 1 + k  # wrong answers differ between generations, as sampled ones do
    return [
        (rf"{n}\sqrt{{3}}", rf"\sqrt{{{3 * n * n}}}", rf"{m}\sqrt{{3}}"),
        (rf"{n}\pi", rf"{n} \pi", rf"{m}\pi"),
        (rf"({n},{n + 1})", rf"({n}, {n + 1})", rf"[{n}, {m}]"),
        (rf"x^2+{n}", rf"{n} + x^2", rf"x^2 - {m}"),
        (rf"\frac1{{{n}}}", rf"\frac{{2}}{{{2 * n}}}", rf"\frac{{1}}{{{m}}}"),
        ("ABCD"[n % 4], "ABCD"[n % 4], "ABCD"[(n + 1 + k % 3) % 4]),
        (rf"{n}", rf"{n}.0", rf"{m}"),
        (rf"\{{{n},{n + 1}\}}", rf"\{{{n + 1}, {n}\}}", rf"\{{{n},{m + 1}\}}"),
        (rf"\dfrac{{{n}}}{{4}}", f"{n / 4}", rf"\frac{{{m}}}{{4}}"),
        (rf"\boxed{{\frac{{\sqrt{{3}}}}{{{n}}}}}", rf"\frac{{\sqrt3}}{{{n}}}", rf"\frac{{1}}{{{m}}}"),
        (rf"-\frac{{\pi}}{{{n}}}", rf"-\frac{{\pi}}{{{n}}}", rf"\frac{{\pi}}{{{m}}}"),
    ][kind]


FAMILIES = 11


def realistic_family(kind: int, n: int, k: int) -> tuple[str, str, str]:
    """Like :func:`gold_family`, for the MATH-500 mix: ``kind`` is the prompt's index mod 32."""
    m = n + 1 + k
    a, b = n % 9 + 1, n % 7 + 10  # a proper fraction a/b
    if kind < 19:  # integers, answered exactly as written in the gold
        return rf"{n}", rf"{n}", rf"{m}"
    return [
        (rf"\frac{{{a}}}{{{b}}}", rf"\dfrac{{{a}}}{{{b}}}", rf"\frac{{{a}}}{{{m}}}"),
        (rf"\frac{{{a}}}{{{b}}}", rf"\frac{{{a}}}{{{b}}}", rf"\frac{{{m}}}{{{b}}}"),
        (rf"\frac{{{a}}}{{4}}", f"{a / 4}", rf"\frac{{{m}}}{{4}}"),
        (rf"\frac{{{a}}}{{{b}}}", rf"\frac{{{a}}}{{{b}}}", f"{m / 8}"),
        (rf"{a}\sqrt{{2}}", rf"\sqrt{{{2 * a * a}}}", rf"{m}\sqrt{{2}}"),
        (rf"{a}\pi", rf"{a}\pi", rf"{m}\pi"),
        (rf"\frac{{\pi}}{{{b}}}", rf"\frac{{\pi}}{{{b}}}", rf"\frac{{\pi}}{{{m}}}"),
        (rf"({a},{b})", rf"({a}, {b})", rf"({a}, {m})"),
        (rf"(-\infty, {a}]", rf"(-\infty,{a}]", rf"(-\infty, {m}]"),
        (rf"x^2+{a}x", rf"x^2 + {a}x", rf"x^2+{m}x"),
        (rf"{a}x-{b}", rf"{a}x-{b}", rf"{a}x-{m}"),
        (r"\text{(C)}", "C", "ABDE"[k % 4]),
        (r"\text{Monday}", r"\text{Monday}", rf"\text{{Day{m}}}"),
    ][kind - 19]


MIXES = {"realistic": (realistic_family, 32), "hard": (gold_family, FAMILIES)}

SENTENCES = [
    "Okay, so I need to find the value that satisfies the condition in the problem.",
    "Let me start by writing down what we know.",
    "Wait, that doesn't look right.",
    "Hmm, maybe I made a mistake in the second step, let me check again.",
    "So the derivative is zero at this point, and therefore the minimum is attained here.",
    "But we should also verify the boundary conditions.",
    r"We have $f(x) = \frac{x^2 + 1}{x - 1}$, so $f'(x) = \frac{x^2 - 2x - 1}{(x-1)^2}$.",
    r"Substituting gives \[ \sum_{k=1}^{n} k^2 = \frac{n(n+1)(2n+1)}{6}. \]",
    "Alternatively, consider the symmetric case where both variables are equal.",
    "That gives the same result, which is reassuring.",
]


def make_batch(prompts: int, generations: int, chars: int, seed: int, mix: str = "hard"):
    """``(completions, golds, truth)``: plain-text completions and whether each is right."""
    family, families = MIXES[mix]
    rng = random.Random(seed)
    completions, golds, truth = [], [], []
    for p in range(prompts):
        number = 10 + p + 1000 * seed  # a new seed gives new golds: no cache carries over
        for g in range(generations):
            gold, right, wrong = family(p % families, number, g)
            correct = g % 2 == 0
            reasoning, n = [], 0
            while n < chars:
                sentence = rng.choice(SENTENCES)
                reasoning.append(sentence)
                n += len(sentence) + 1
            answer = right if correct else wrong
            completions.append(
                f"<think>\n{' '.join(reasoning)}\n</think>\n\nPutting it together, the answer is $\\boxed{{{answer}}}$."
            )
            golds.append(gold)
            truth.append(correct)
    return completions, golds, truth


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--generations", type=int, default=16)
    parser.add_argument("--chars", type=int, default=12_000, help="reasoning length per completion")
    parser.add_argument("--langdetect-sample", type=int, default=64, help="completions timed for naive langdetect")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mix", nargs="+", choices=sorted(MIXES), default=["realistic", "hard"],
                        help="gold-answer mixes timed for accuracy")
    parser.add_argument("--repeats", type=int, default=3, help="batches timed per mix (each with new golds)")
    parser.add_argument("--skip-language", action="store_true", help="time the accuracy reward only")
    args = parser.parse_args()

    import langdetect
    from trl.rewards import accuracy_reward
    from trl_r1_rewards import load_reward

    accuracy = load_reward("accuracy")
    for mix in args.mix:
        # Warm-up on other golds (seed + 1) of the same mix: starts our workers, and fills the
        # parser's prediction tables in both our workers and TRL's process.
        warm, warm_golds, _ = make_batch(args.prompts, 2, 100, args.seed + 1, mix)
        warm = [[{"role": "assistant", "content": c}] for c in warm]
        accuracy(prompts=[""] * len(warm), completions=warm, solution=warm_golds)
        accuracy_reward(warm, warm_golds)

        runs = []  # (ours s, trl s, ours right, trl right, trl skipped, n): one batch, both scorers
        for repeat in range(args.repeats):
            seed = args.seed + 2 * repeat  # seed, seed+2, seed+4: never the warm-up's seed + 1
            completions, golds, truth = make_batch(args.prompts, args.generations, args.chars, seed, mix)
            n = len(completions)
            conversational = [[{"role": "assistant", "content": c}] for c in completions]
            prompts = [[{"role": "user", "content": "Solve the problem."}]] * n
            ours, t_ours = timed(lambda: accuracy(prompts=prompts, completions=conversational, solution=golds))
            trl, t_trl = timed(lambda: accuracy_reward(conversational, golds))

            def right(rewards):
                return sum((r == 1.0) == t for r, t in zip(rewards, truth))

            runs.append((t_ours, t_trl, right(ours), right(trl), sum(r is None for r in trl), n))
        print(f"[{mix}] batch: {n} completions, {sum(map(len, completions)) / n:,.0f} characters each on average; "
              f"{len(runs)} batches (new golds each), medians")
        t_ours, t_trl = (statistics.median(run[i] for run in runs) for i in (0, 1))
        ratios = sorted(run[1] / run[0] for run in runs)
        n_all = sum(run[5] for run in runs)
        print(f"[{mix}] accuracy  ours: {n / t_ours:8.1f} completions/s ({t_ours:.2f} s), "
              f"right on {sum(run[2] for run in runs)}/{n_all}")
        print(f"[{mix}] accuracy  trl : {n / t_trl:8.1f} completions/s ({t_trl:.2f} s), "
              f"right on {sum(run[3] for run in runs)}/{n_all} ({sum(run[4] for run in runs)} skipped as unparseable golds)")
        print(f"[{mix}] accuracy  speed-up: {statistics.median(ratios):.2f}x (per batch: "
              f"{', '.join(f'{r:.2f}' for r in ratios)})")
    if args.skip_language:
        return

    completions, _, _ = make_batch(args.prompts, args.generations, args.chars, args.seed)
    n = len(completions)
    conversational = [[{"role": "assistant", "content": c}] for c in completions]
    prompts = [[{"role": "user", "content": "Solve the problem."}]] * n

    language = load_reward("language_consistency")
    scores, t_lang = timed(lambda: language(prompts=prompts, completions=conversational))
    sample = completions[: args.langdetect_sample]
    langdetect.DetectorFactory.seed = 0
    _, t_naive = timed(lambda: [langdetect.detect(c) for c in sample])
    print(f"language_consistency ours: {n / t_lang:8.1f} completions/s (mean score {sum(scores) / n:.3f})")
    print(f"language naive langdetect: {len(sample) / t_naive:8.1f} completions/s (on {len(sample)})")
    print(f"language speed-up: {(t_naive / len(sample)) / (t_lang / n):.1f}x")


if __name__ == "__main__":
    main()
