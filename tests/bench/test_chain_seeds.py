"""bench/chain_seeds.py pools each stage's change over seeds with one paired test over all their questions."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import chain_seeds  # noqa: E402


def run(folder: Path, start: list[float], trained: list[float]) -> Path:
    """A finished chain's pipeline.json and pipeline.md: the start model and one trained stage, greedy."""
    folder.mkdir()
    from trl_r1.generation.metrics import paired_test

    difference, p = paired_test(start, trained)
    result = {"values": trained, "vs": "start", "difference": difference, "p": p}
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


def test_seeds_known_only_by_their_published_change_and_p_pool_as_if_their_values_were_kept():
    import random

    from trl_r1.generation.metrics import Paired, paired_test

    rng = random.Random(0)
    checked = 0
    for trial in range(40):
        greedy = trial % 2 == 0
        draw = (lambda: float(rng.random() < 0.5)) if greedy else (lambda: rng.choice([0, 0.25, 0.5, 0.75, 1]))
        shift = rng.choice([0.0, 0.1, 0.3])  # each seed: no change, a small one, a large one
        seeds = []
        for _ in range(3):
            before = [draw() for _ in range(100)]
            after = [b if rng.random() < 0.6 else min(1.0, draw() + (rng.random() < shift)) for b in before]
            seeds.append((before, after))
        kept = sum((Paired.of(b, a) for b, a in seeds[1:]), Paired.of(*seeds[0]))
        try:
            published = [chain_seeds.recovered(*paired_test(b, a), 100, binary=greedy) for b, a in seeds]
        except ValueError:
            continue  # figures that do not pin a seed down are refused, not guessed
        difference, p = sum(published[1:], published[0]).test()
        assert math.isclose(difference, kept.test()[0])
        assert abs(math.log(p) - math.log(kept.test()[1])) < 0.1
        checked += 1
    assert checked >= 20


def test_the_published_seeds_give_back_the_pooled_table_their_values_gave():
    seeds = json.loads((Path(chain_seeds.REPO) / "bench" / "chain_seeds_published.json").read_text())["seeds"]
    published = {seed: seeds[seed] for seed in ("s1234", "s1")}  # the two seeds whose values are gone
    table = {(r["mode"], r["stage"]): r for r in chain_seeds.pooled({}, published) if r["evaluation"] == "arithmetic"}
    # docs/experiments.md's two-seed table, computed from the runs' per-question values while they existed
    for key, p in {("sampled", "reasoning_rl"): 1e-11, ("greedy", "reasoning_rl"): 7.8e-13,
                   ("sampled", "sft"): 1.3e-05, ("sampled", "student_rl"): 0.69}.items():
        assert abs(math.log(table[key]["p"]) - math.log(p)) < 0.1, (key, table[key]["p"])


def test_a_published_run_pools_later_without_its_folder(tmp_path, capsys):
    folders = [run(tmp_path / f"s{seed}", [0.0] * 20, [1.0] * 4 + [0.0] * 16) for seed in (1, 2)]
    kept = tmp_path / "published.json"
    kept.write_text(json.dumps({"about": "test", "seeds": {}}))
    assert chain_seeds.main([str(f) for f in folders] + ["--published", str(kept), "--publish"]) == 0
    with_folders = capsys.readouterr().out.split("## Pooled")[1]
    assert set(json.loads(kept.read_text())["seeds"]) == {"s1", "s2"}
    assert chain_seeds.main(["--published", str(kept)]) == 0  # the folders are not read again
    assert capsys.readouterr().out.split("## Pooled")[1] == with_folders


def test_the_per_seed_column_follows_the_order_the_heading_names_the_seeds(tmp_path, capsys):
    kept = tmp_path / "published.json"
    kept.write_text(json.dumps({"about": "test", "seeds": {}}))
    chain_seeds.main([str(run(tmp_path / "s1", [0.0] * 20, [1.0] * 4 + [0.0] * 16)), "--published", str(kept),
                      "--publish"])
    capsys.readouterr()
    chain_seeds.main([str(run(tmp_path / "s2", [0.0] * 20, [1.0] * 10 + [0.0] * 10)), "--published", str(kept)])
    pooled = capsys.readouterr().out.split("## Pooled")[1]
    assert "over s1, s2" in pooled and "| +20.0, +50.0 | +35.0 |" in pooled


def test_publish_without_a_file_is_refused_before_any_run_starts(tmp_path):
    import pytest

    with pytest.raises(SystemExit):  # a run of a missing recipe would fail differently, after starting
        chain_seeds.main(["--run", "--publish", "--seeds", "1", "--root", str(tmp_path), "--recipe", "missing.yaml"])
    assert not list(tmp_path.iterdir())
