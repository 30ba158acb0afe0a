r"""A GRPO batch where the policy drifted into pathological answers: ours and TRL's accuracy, same batch.

``--prompts`` questions x 16 completions (4 x 16 = 64 by default); in each group of 16, 4
answers are pathological and 12 are normal (6 right, 6 wrong, golds from the MATH-500-like
mix of ``bench_rewards.py``), so the truth is known. The pathological kinds, one each per
group, all different (no cache helps): 50-deep nested braces, a 300-deep ``\frac``, an integer
power tower (``9^{9^{9}}``: exact arithmetic for hours, in sympy), and a fourth by mix:

- ``cheap``: a 5,000-character sum. Every kind is settled before any worker sees it.
- ``busy``: an answer that passes every cheap check but keeps sympy busy for seconds
  (``(x+y+z+1)^{40}``, 8 nested ``\sin``): the workers' CPU deadline stops it.

Printed per scorer: wall time of the batch, normal answers scored right (goal: all), and for
ours the ``accuracy/pathological`` counter (goal: every pathological answer) and the CPU
seconds the batch cost the calling process and each worker: on a loaded machine the wall time
is several times the busiest worker's CPU time, which is what an idle one would take. TRL's
``accuracy_reward`` scores the first batch of each mix too, in a child process stopped after
``--trl-limit`` seconds. The load average is printed
before and after: on a shared machine the timings include the other users.

    python bench/bench_pathological.py
    python bench/bench_pathological.py --repeats 1 --trl-limit 60
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rewards import SENTENCES, realistic_family  # noqa: E402

GENERATIONS = 16
PATHOLOGICAL_PER_GROUP = 4


MIXES = ("cheap", "busy")


def pathological(kind: int, n: int, mix: str) -> str:
    """A pathological boxed answer of kind ``kind`` (0-3), varied by ``n``; kind 3 depends on the mix."""
    if kind == 0:
        return "{" * 50 + str(n) + "}" * 50
    if kind == 1:
        answer = str(n)
        for _ in range(300):
            answer = rf"\frac{{{answer}}}{{2}}"
        return answer
    if kind == 2:
        return rf"{9 + n % 5}^{{9^{{{9 + n % 7}}}}}"
    if mix == "cheap":
        return "+".join(str(n + i) for i in range(1200))[:5000]
    if n % 2:  # short, shallow, and seconds of sympy: only the CPU deadline stops these
        return rf"(x+y+z+{n})^{{40}}"
    return r"\sin(" * 8 + str(n) + ")" * 8


def make_batch(prompts: int, chars: int, seed: int, mix: str = "busy"):
    """``(completions, golds, truth)``: truth is True/False for normal answers, None for pathological ones."""
    import random

    rng = random.Random(seed)
    completions, golds, truth = [], [], []
    for p in range(prompts):
        number = 10 + p + 1000 * seed
        for g in range(GENERATIONS):
            gold, right, wrong = realistic_family((p * 7) % 32, number, g)
            if g < PATHOLOGICAL_PER_GROUP:
                answer, correct = pathological(g, number * GENERATIONS + g, mix), None
            else:
                correct = g % 2 == 0
                answer = right if correct else wrong
            reasoning = " ".join(rng.choice(SENTENCES) for _ in range(max(1, chars // 60)))
            completions.append([{"role": "assistant", "content":
                                 f"<think>\n{reasoning}\n</think>\n\nSo the answer is $\\boxed{{{answer}}}$."}])
            golds.append(gold)
            truth.append(correct)
    return completions, golds, truth


def normal_right(rewards, truth) -> tuple[int, int]:
    normal = [(r, t) for r, t in zip(rewards, truth) if t is not None]
    return sum((r == 1.0) == t for r, t in normal), len(normal)


def worker_cpu_seconds() -> dict[int, float]:
    """CPU seconds (user + system) used so far by each of the accuracy reward's workers."""
    from trl_r1_rewards import accuracy
    from trl_r1_rewards.parallel import default_num_workers, shared_pool

    seconds = {}
    for pid in shared_pool(default_num_workers(), preload=[accuracy.__name__]).pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            pass
    return seconds


def _trl_child(completions, golds, queue) -> None:
    from trl.rewards import accuracy_reward

    start = time.perf_counter()
    rewards = accuracy_reward(completions, golds)
    queue.put((time.perf_counter() - start, rewards))


def run_trl(completions, golds, limit: float):
    """``(seconds, rewards)``, or ``(None, None)`` when TRL did not finish within ``limit``."""
    queue = multiprocessing.get_context("fork").Queue()
    child = multiprocessing.get_context("fork").Process(target=_trl_child, args=(completions, golds, queue))
    child.start()
    child.join(limit)
    if child.is_alive():
        child.kill()
        child.join()
        return None, None
    return queue.get()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=4, help="groups of 16 completions (4 pathological each)")
    parser.add_argument("--chars", type=int, default=2000, help="reasoning length per completion")
    parser.add_argument("--repeats", type=int, default=3, help="batches timed (new golds and answers each)")
    parser.add_argument("--trl-limit", type=float, default=300.0, help="seconds TRL may take on one batch")
    parser.add_argument("--trl-batches", type=int, default=1, help="batches of each mix also scored by TRL")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from trl_r1_rewards import load_reward

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} (1 min) at start")
    accuracy = load_reward("accuracy")
    warm, warm_golds, _ = make_batch(args.prompts, 100, args.seed + 1)  # starts the workers, on other answers
    accuracy(prompts=[""] * len(warm), completions=warm, solution=warm_golds)

    for mix in MIXES:
        times, rights = [], []
        for repeat in range(args.repeats):
            completions, golds, truth = make_batch(args.prompts, args.chars, args.seed + 2 * repeat, mix)
            metrics: dict[str, float] = {}
            cpu_before, caller_before = worker_cpu_seconds(), time.process_time()
            start = time.perf_counter()
            rewards = accuracy(prompts=[""] * len(completions), completions=completions, solution=golds,
                               log_metric=metrics.__setitem__)
            times.append(time.perf_counter() - start)
            caller_cpu = time.process_time() - caller_before
            cpu_after = worker_cpu_seconds()
            workers_cpu = [cpu_after[pid] - cpu_before[pid] for pid in cpu_after if pid in cpu_before]
            right, normal = normal_right(rewards, truth)
            rights.append(right)
            print(f"[{mix} {repeat}] ours: {times[-1]:.2f} s, normal answers right {right}/{normal}, "
                  f"accuracy/pathological {metrics['accuracy/pathological']:.0f}/{len(truth) - normal}, "
                  f"accuracy/timeouts {metrics['accuracy/timeouts']:.0f}; CPU seconds: caller {caller_cpu:.2f}, "
                  f"workers {', '.join(f'{c:.2f}' for c in workers_cpu)}"
                  f"{' (a worker was replaced)' if len(workers_cpu) < len(cpu_after) else ''}")
            if repeat < args.trl_batches:
                seconds, trl_rewards = run_trl(completions, golds, args.trl_limit)
                if seconds is None:
                    print(f"[{mix} {repeat}] trl : did not finish in {args.trl_limit:.0f} s")
                else:
                    print(f"[{mix} {repeat}] trl : {seconds:.2f} s, normal answers right {normal_right(trl_rewards, truth)[0]}/{normal}")
        print(f"[{mix}] ours: median {statistics.median(times):.2f} s per batch of {len(truth)} "
              f"({len(truth) - normal} pathological); normal answers right in every batch: {all(r == normal for r in rights)}")
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) at the end")


if __name__ == "__main__":
    main()
