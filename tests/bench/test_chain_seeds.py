"""bench/chain_seeds.py pools each stage's change over seeds with one paired test over all their questions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import chain_seeds  # noqa: E402


def run(folder: Path, start: list[float], trained: list[float]) -> Path:
    """A finished chain's pipeline.json and pipeline.md: the start model and one trained stage, greedy."""
    folder.mkdir()
    result = {"values": trained, "vs": "start", "difference": sum(trained) / len(trained) - sum(start) / len(start)}
    rows = [{"stage": "start", "evaluations": {"arith": {"greedy": {"values": start}}}},
            {"stage": "rl", "evaluations": {"arith": {"greedy": result}}}]
    (folder / "pipeline.json").write_text(json.dumps(rows))
    (folder / "pipeline.md").write_text("| stage |\n")
    (folder / "stage_done.json").write_text(json.dumps({"seconds": 120.0}))
    return folder


def test_changes_too_small_to_tell_on_one_seed_are_told_pooled(tmp_path, capsys):
    # Each seed: 4 of 20 questions newly right, none lost (McNemar p 0.125 alone).
    folders = [run(tmp_path / f"s{seed}", [0.0] * 20, [1.0] * 4 + [0.0] * 16) for seed in (1, 2, 3)]
    alone = chain_seeds.pooled({"s1": json.loads((folders[0] / "pipeline.json").read_text())})
    assert alone[0]["p"] == 0.125
    assert chain_seeds.main([str(f) for f in folders]) == 0
    out = capsys.readouterr().out
    assert "(2.0 min)" in out  # a run's wall time, from its markers
    # Pooled: 12 of 60 questions gained, none lost: p = 2 / 2**12.
    assert "| arith | greedy | rl | start | +20.0, +20.0, +20.0 | +20.0 | 0.00049 | 60 |" in out
