"""Benchmark the code reward against a naive sequential ``subprocess.run`` loop.

Scores the same completions (64 x 10 test cases by default: mostly correct programs, some
wrong, some raising) both ways, checks that both agree, and prints completions/s for each and
the ratio. Also measures the sandbox's fixed costs: one invocation (namespaces + runner) and
one extra test case (fork + exec of the program).

    python bench/bench_code.py [--completions 64] [--tests 10] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from trl_r1_rewards.code import (
    CodeReward,
    LocalSandbox,
    OutputComparator,
    extract_program,
    get_language,
)
from trl_r1_rewards.text import answer_region, completion_text

PROGRAMS = {
    "correct": "import sys\nxs = list(map(int, sys.stdin.read().split()))\nprint(sum(x * x for x in xs))\n",
    "sorting": "n = [int(x) for x in input().split()]\nn.sort()\nprint(sum(v * v for v in n))\n",
    "wrong": "import sys\nprint(sum(map(int, sys.stdin.read().split())))\n",
    "raises": "xs = input().split()\nprint(xs[100])\n",
}
MIX = ["correct"] * 5 + ["sorting"] * 2 + ["wrong", "raises"]


def make_batch(n_completions: int, n_tests: int):
    """Completions cycling through :data:`MIX`, each with ``n_tests`` stdin/stdout cases."""
    completions, test_cases = [], []
    for i in range(n_completions):
        kind = MIX[i % len(MIX)]
        completions.append(f"<think>square and add</think>\n```python\n{PROGRAMS[kind]}```")
        cases = []
        for t in range(n_tests):
            xs = [(i * 7 + t * 3 + k) % 50 for k in range(5 + t)]
            cases.append({"input": " ".join(map(str, xs)) + "\n", "output": f"{sum(x * x for x in xs)}\n"})
        test_cases.append(cases)
    return completions, test_cases


def naive(completions, test_cases, timeout: float) -> list[float]:
    """What one writes first: one ``subprocess.run`` per test, one after the other."""
    language, same = get_language("python"), OutputComparator()
    rewards = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "main.py")
        for completion, cases in zip(completions, test_cases):
            program = extract_program(answer_region(completion_text(completion)), language)
            with open(path, "w") as f:
                f.write(program)
            passed = 0
            for case in cases:
                try:
                    run = subprocess.run([sys.executable, path], input=case["input"], capture_output=True,
                                         text=True, timeout=timeout)
                    passed += run.returncode == 0 and same(run.stdout, case["output"])
                except subprocess.TimeoutExpired:
                    pass
            rewards.append(passed / len(cases))
    return rewards


def fixed_costs(repeats: int = 20) -> tuple[float, float]:
    """(seconds per sandbox invocation with one test, seconds per additional test)."""
    sandbox = LocalSandbox()
    def timed(n_tests):
        start = time.perf_counter()
        for _ in range(repeats):
            sandbox.run("pass", "python", [""] * n_tests)
        return (time.perf_counter() - start) / repeats
    one, eleven = timed(1), timed(11)
    return one, (eleven - one) / 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=64)
    parser.add_argument("--tests", type=int, default=10)
    parser.add_argument("--workers", type=int, default=None, help="default: one per CPU core")
    parser.add_argument("--timeout", type=float, default=4.0)
    args = parser.parse_args()

    completions, test_cases = make_batch(args.completions, args.tests)
    reward = CodeReward(timeout=args.timeout, max_workers=args.workers)
    iso = LocalSandbox.isolation()
    reward(prompts=["q"], completions=completions[:1], test_cases=test_cases[:1])  # warm-up: pool, detection

    start = time.perf_counter()
    sandboxed = reward(prompts=["q"] * len(completions), completions=completions, test_cases=test_cases)
    sandbox_s = time.perf_counter() - start
    start = time.perf_counter()
    reference = naive(completions, test_cases, args.timeout)
    naive_s = time.perf_counter() - start
    assert sandboxed == reference, "sandbox and naive loop disagree"

    invocation, per_test = fixed_costs()
    n = len(completions)
    print(f"machine: {os.cpu_count()} cores; workers: {reward.max_workers}; isolation: {iso.describe()}")
    print(f"batch: {n} completions x {args.tests} test cases; mean reward {sum(sandboxed) / n:.3f}")
    print(f"sandbox (all protections on): {n / sandbox_s:7.1f} completions/s  ({sandbox_s:.2f} s)")
    print(f"naive sequential subprocess.run: {n / naive_s:7.1f} completions/s  ({naive_s:.2f} s)")
    print(f"ratio: {naive_s / sandbox_s:.2f}x")
    print(f"fixed costs (one worker): {invocation * 1000:.1f} ms per invocation with 1 test, "
          f"{per_test * 1000:.1f} ms per additional test")


if __name__ == "__main__":
    main()
