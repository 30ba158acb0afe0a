"""The miniature R1 chain on several seeds: each seed's table, and every stage's change against the
model before it pooled over the seeds (a paired test over all seeds' questions).

    python bench/chain_seeds.py --run --seeds 1234 1 2      # runs recipes/tiny/pipeline.yaml per seed
    python bench/chain_seeds.py outputs/chain-seeds/s1234 outputs/chain-seeds/s1   # runs already made

Each run is `python -m trl_r1 recipes/tiny/pipeline.yaml --seed N --output_dir ROOT/sN` (resumed
where a run stopped). Per seed: its `pipeline.md` and its wall time (the sum of its stages' and
evaluations' `stage_done.json` seconds). Pooled: per evaluation, mode and stage, the mean change
against the model it is compared with (`vs`), and the paired test of all seeds' per-question values
together (McNemar's exact test for greedy answers, the paired z-test otherwise).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from trl_r1.generation.metrics import paired_test  # noqa: E402
from trl_r1.stages.pipeline import SUMMARY_FILE, TABLE_FILE  # noqa: E402


def wall_seconds(folder: Path) -> float:
    """The run's stages and evaluations, their `stage_done.json` wall times summed."""
    return sum(json.loads(p.read_text())["seconds"] for p in folder.rglob("stage_done.json"))


def pooled(runs: dict[str, list[dict]]) -> list[dict]:
    """Per (evaluation, mode, stage, vs): each seed's change and the paired test of all seeds' values."""
    found: dict[tuple, dict] = {}
    for seed, rows in runs.items():
        by_stage = {row["stage"]: row for row in rows}
        for row in rows:
            for evaluation, modes in row["evaluations"].items():
                for mode, result in modes.items():
                    if "vs" not in result:
                        continue
                    base = by_stage[result["vs"]]["evaluations"][evaluation][mode]
                    entry = found.setdefault((evaluation, mode, row["stage"], result["vs"]),
                                             {"before": [], "after": [], "per_seed": {},
                                              "score": result.get("mean_score") is not None})
                    entry["before"] += base["values"]
                    entry["after"] += result["values"]
                    entry["per_seed"][seed] = result["difference"]
    table = []
    for (evaluation, mode, stage, vs), entry in found.items():
        difference, p = paired_test(entry["before"], entry["after"])
        table.append({"evaluation": evaluation, "mode": mode, "stage": stage, "vs": vs, "difference": difference,
                      "p": p, "questions": len(entry["after"]), "per_seed": entry["per_seed"], "score": entry["score"]})
    return table


def pooled_markdown(table: list[dict]) -> str:
    """The pooled changes as Markdown; pass@1 and greedy in points, mean scores as they are."""
    lines = ["| evaluation | mode | stage | vs | per seed | pooled | p | questions |", "|---|---|---|---|---|---|---|---|"]
    for r in table:
        scale, form = (1, "{:+.3f}") if r["score"] else (100, "{:+.1f}")  # a mean score, or points
        seeds = ", ".join(form.format(scale * d) for d in r["per_seed"].values())
        lines.append(f"| {r['evaluation']} | {r['mode']} | {r['stage']} | {r['vs']} | {seeds} | "
                     f"{form.format(scale * r['difference'])} | {r['p']:.2g} | {r['questions']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="*", type=Path, help="finished runs' output folders")
    parser.add_argument("--run", action="store_true", help="run the chain for each of --seeds first")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1234, 1, 2])
    parser.add_argument("--root", type=Path, default=Path("outputs/chain-seeds"))
    parser.add_argument("--recipe", default="recipes/tiny/pipeline.yaml")
    args = parser.parse_args(argv)
    folders = list(args.folders)
    if args.run:
        for seed in args.seeds:
            folder = args.root / f"s{seed}"
            subprocess.run([sys.executable, "-m", "trl_r1", args.recipe, "--seed", str(seed), "--output_dir",
                            str(folder)], check=True, cwd=REPO)
            folders.append(folder)
    if not folders:
        parser.error("name run folders, or --run")
    runs = {}
    for folder in folders:
        runs[folder.name] = json.loads((folder / SUMMARY_FILE).read_text())
        print(f"## {folder} ({wall_seconds(folder) / 60:.1f} min)\n\n{(folder / TABLE_FILE).read_text()}")
    print(f"## Pooled over {', '.join(runs)}\n\n{pooled_markdown(pooled(runs))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
