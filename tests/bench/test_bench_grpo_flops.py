"""bench/bench_grpo_flops.py runs at a small size: both trainers on the same job, FLOPs counted,
set against the measured matmul peaks."""

from __future__ import annotations

import sys

from helpers import REPO


def test_bench_prints_achieved_flops_next_to_the_peaks_for_both_trainers(tiny_model, capsys):
    sys.path.insert(0, str(REPO / "bench"))
    from bench_grpo_flops import main

    results = main(["--model", str(tiny_model), "--steps", "2", "--num-generations", "2",
                    "--max-completion-length", "4", "--peak-seconds", "0.05"])
    out = capsys.readouterr().out
    assert set(results) == {"peaks", "r1", "trl"}
    assert results["peaks"]["fp32"] > 0 and results["peaks"]["bf16"] > 0
    for kind in ("r1", "trl"):
        assert results[kind]["achieved"] == results[kind]["flops"] / results[kind]["step_seconds"]
    prompt = int(out.split("; prompt ")[1].split()[0])
    assert prompt > 20  # the system prompt, the demonstration and the question, in tokens
    assert "matmul peak at" in out and "of the fp32 matmul peak" in out
    assert "R1GRPOTrainer / GRPOTrainer step time:" in out


def test_step_flops_counts_generation_training_and_the_reference_only_with_beta():
    sys.path.insert(0, str(REPO / "bench"))
    from bench_grpo_flops import step_flops

    parts = step_flops(n=100, hidden=2, vocab=10, g=2, prompt=3, completion=4, beta=0.0)
    assert parts == {"generation": 2 * (2 * 100 * 3 + (200 + 40) * 4), "policy fwd+bwd": 2 * (600 + 120) * 7}
    assert step_flops(100, 2, 10, 2, 3, 4, beta=0.04)["reference fwd"] == 2 * 2 * 120 * 7
