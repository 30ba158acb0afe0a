"""The miniature R1 chain on several seeds: each seed's table, and every stage's change against the
model before it pooled over the seeds (a paired test over all seeds' questions).

    python bench/chain_seeds.py --run --seeds 1234 1 2      # runs recipes/tiny/pipeline.yaml per seed
    python bench/chain_seeds.py outputs/chain-seeds/s1234 outputs/chain-seeds/s1   # runs already made

Each run is `python -m trl_r1 recipes/tiny/pipeline.yaml --seed N --output_dir ROOT/sN` (resumed
where a run stopped). Per seed: its `pipeline.md` and its wall time (the sum of its stages' and
evaluations' `stage_done.json` seconds). Pooled: per evaluation, mode and stage, the mean change
against the model it is compared with (`vs`), and the paired test of all seeds' per-question values
together (McNemar's exact test for greedy answers, the paired z-test otherwise).

Seeds whose run folders are gone pool from their published changes and p-values
(bench/chain_seeds_published.json: seeds 1234 and 1 kept no per-question values; see `recovered`):

    python bench/chain_seeds.py outputs/chain-seeds/s2 --published bench/chain_seeds_published.json [--publish]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from statistics import NormalDist

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from trl_r1.generation.metrics import Paired  # noqa: E402
from trl_r1.stages.pipeline import SUMMARY_FILE, TABLE_FILE  # noqa: E402


def wall_seconds(folder: Path) -> float:
    """The run's stages and evaluations, their `stage_done.json` wall times summed."""
    return sum(json.loads(p.read_text())["seconds"] for p in folder.rglob("stage_done.json"))


def comparisons(rows: list[dict]):
    """A run's comparisons, each model against the one it is compared with (``vs``): each as its row of
    the published file (what ``--published`` reads back) and its paired statistics."""
    by_stage = {row["stage"]: row for row in rows}
    for row in rows:
        for evaluation, modes in row["evaluations"].items():
            for mode, result in modes.items():
                if "vs" not in result:
                    continue
                base = by_stage[result["vs"]]["evaluations"][evaluation][mode]
                yield ({"evaluation": evaluation, "mode": mode, "stage": row["stage"], "vs": result["vs"],
                        "metric": "pass@1" if result.get("mean_score") is None else "mean_score",
                        "difference": result["difference"], "p": result["p"], "questions": len(result["values"])},
                       Paired.of(base["values"], result["values"]))


def pooled(runs: dict[str, list[dict]], published: dict[str, list[dict]] | None = None) -> list[dict]:
    """Per (evaluation, mode, stage, vs): each seed's change and the paired test of all seeds' values.
    ``published``: seeds known only by their published changes and p-values (see :func:`recovered`)."""
    seeds = {seed: [(r, recovered(r["difference"], r["p"], r["questions"],
                                  binary=r["mode"] == "greedy" and r["metric"] == "pass@1")) for r in rows]
             for seed, rows in (published or {}).items()}
    seeds.update({seed: list(comparisons(rows)) for seed, rows in runs.items()})
    found: dict[tuple, dict] = {}
    for seed, compared in seeds.items():
        for r, paired in compared:
            entry = found.setdefault((r["evaluation"], r["mode"], r["stage"], r["vs"]),
                                     {"paired": None, "per_seed": {}, "score": r["metric"] == "mean_score"})
            entry["paired"] = paired if entry["paired"] is None else entry["paired"] + paired
            entry["per_seed"][seed] = r["difference"]
    table = []
    for (evaluation, mode, stage, vs), entry in found.items():
        difference, p = entry["paired"].test()
        table.append({"evaluation": evaluation, "mode": mode, "stage": stage, "vs": vs, "difference": difference,
                      "p": p, "questions": entry["paired"].questions, "per_seed": entry["per_seed"],
                      "score": entry["score"]})
    return table


def recovered(difference: float, p: float, questions: int, binary: bool) -> Paired:
    """A seed's paired statistics rebuilt from its published change and p (two figures), where its
    per-question values were not kept. Greedy (McNemar): the questions gained minus lost is
    ``difference * questions``, and the one split whose exact p prints as the published one is taken.
    Otherwise (paired z-test): the standard error is ``|difference| / z`` with ``z`` the normal quantile
    of ``p``, which gives the sum of squares. Refused where the published figures do not pin it down:
    several splits print the same p, or p > 0.9 (two figures then leave z uncertain by over 5%).

    >>> recovered(0.75, 0.031, 8, binary=True)  # 6 gained, 0 lost, 2 unchanged: paired_test's doctest
    Paired(questions=8, total=6.0, squares=6.0, gained=6, lost=0, binary=True)
    >>> f"{recovered(0.3125, 6e-07, 4, binary=False).test()[1]:.2g}"
    '6e-07'
    """
    printed = f"{p:.2g}"
    if binary:
        net = round(difference * questions)
        splits = [(lost + max(net, 0), lost + max(-net, 0)) for lost in range((questions - abs(net)) // 2 + 1)]
        found = [s for s in splits if f"{Paired(questions, net, sum(s), *s, True).test()[1]:.2g}" == printed]
        if len(found) != 1:
            raise ValueError(f"{len(found)} splits of {questions} questions into gained and lost give a change of "
                             f"{net} and p {printed}: the published figures do not pin down this seed")
        gained, lost = found[0]
        return Paired(questions, float(net), float(gained + lost), gained, lost, True)
    if difference == 0 or p > 0.9:
        raise ValueError(f"a change of {difference} with p {printed} does not give back its spread")
    z = NormalDist().inv_cdf(1 - p / 2)
    variance = (abs(difference) / z) ** 2 * questions
    total = difference * questions
    return Paired(questions, total, variance * (questions - 1) + total * difference, 0, 0, False)


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
    parser.add_argument("--published", type=Path,
                        help="seeds known by their published changes only (e.g. bench/chain_seeds_published.json)")
    parser.add_argument("--publish", action="store_true",
                        help="add the named runs' changes to the --published file, for pooling without their folders")
    args = parser.parse_args(argv)
    if args.publish and not args.published:  # before --run's hours, not after
        parser.error("--publish needs --published FILE")
    folders = list(args.folders)
    if args.run:
        for seed in args.seeds:
            folder = args.root / f"s{seed}"
            subprocess.run([sys.executable, "-m", "trl_r1", args.recipe, "--seed", str(seed), "--output_dir",
                            str(folder)], check=True, cwd=REPO)
            folders.append(folder)
    if not folders and not args.published:
        parser.error("name run folders, or --run, or --published")
    runs = {}
    for folder in folders:
        runs[folder.name] = json.loads((folder / SUMMARY_FILE).read_text())
        print(f"## {folder} ({wall_seconds(folder) / 60:.1f} min)\n\n{(folder / TABLE_FILE).read_text()}")
    kept = json.loads(args.published.read_text()) if args.published else {"seeds": {}}
    published = {seed: rows for seed, rows in kept["seeds"].items() if seed not in runs}  # a run's own values win
    if args.publish:
        kept["seeds"].update({seed: [r for r, _ in comparisons(rows)] for seed, rows in runs.items()})
        args.published.write_text(json.dumps(kept, indent=1) + "\n")
    seeds = [*published, *runs]
    print(f"## Pooled over {', '.join(seeds)}\n\n{pooled_markdown(pooled(runs, published))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
