"""bench/bench_eval_generation.py runs at a small size: the evaluate backend's two paths (generate
alone, the fast path) on the same work, both timed, the ratio printed."""

from __future__ import annotations

import sys

from helpers import REPO


def test_bench_times_both_paths_of_the_backend_on_the_same_work(tiny_model, capsys):
    sys.path.insert(0, str(REPO / "bench"))
    from bench_eval_generation import main

    results = main(["--model", str(tiny_model), "--questions", "3", "--samples", "2", "--new-tokens", "4",
                    "--dtype", "float32", "--repeats", "1"])
    out = capsys.readouterr().out
    assert set(results) == {"generate alone", "fast path"} and all(t > 0 for t in results.values())
    assert "for 3 questions x 2 samples x 4 tokens" in out and "fast path speed-up: " in out
