"""``python -m trl_r1 compare METRICS.json ... [--paper]``: evaluations side by side.

One row per model, one column per benchmark (pass@1, in %); ``--paper`` adds the published
pass@1 of R1-Zero and the Distill models (docs/r1.md) as reference rows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

BENCHMARKS = ("aime24", "math500", "gpqa_diamond", "livecodebench")
# pass@1 in %, from the paper (docs/r1.md); a benchmark it does not give for a model is absent.
PAPER = {
    "DeepSeek-R1-Zero (paper)": {"aime24": 71.0, "math500": 95.9, "gpqa_diamond": 73.3, "livecodebench": 50.0},
    "R1-Distill-Qwen-1.5B (paper)": {"aime24": 28.9, "math500": 83.9, "livecodebench": 16.9},
    "R1-Distill-Qwen-7B (paper)": {"aime24": 55.5, "math500": 92.8, "livecodebench": 37.6},
    "R1-Distill-Qwen-14B (paper)": {"aime24": 69.7, "math500": 93.9, "livecodebench": 53.1},
    "R1-Distill-Qwen-32B (paper)": {"aime24": 72.6, "math500": 94.3, "livecodebench": 57.2},
    "R1-Distill-Llama-70B (paper)": {"aime24": 70.0, "math500": 94.5, "livecodebench": 57.5},
}


def comparison_table(results: list[dict], paper: bool = False) -> str:
    """Markdown: models as rows, benchmarks as columns, pass@1 in %.

    >>> print(comparison_table([{"benchmark": "aime24", "model": "mine", "pass@1": 0.25}]))
    | model | aime24 |
    |---|---|
    | mine | 25.0 |
    """
    rows: dict[str, dict[str, float]] = {}
    for r in results:
        rows.setdefault(str(r.get("model")), {})[r["benchmark"]] = 100 * r["pass@1"]
    if paper:
        rows.update(PAPER)
    seen = {b for row in rows.values() for b in row}
    columns = [b for b in BENCHMARKS if b in seen] + sorted(seen - set(BENCHMARKS))
    lines = ["| model | " + " | ".join(columns) + " |", "|" + "---|" * (len(columns) + 1)]
    for model, row in rows.items():
        lines.append(f"| {model} | " + " | ".join(f"{row[c]:.1f}" if c in row else "-" for c in columns) + " |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m trl_r1 compare",
                                     description="Render evaluation metrics.json files side by side (pass@1, %).")
    parser.add_argument("metrics", nargs="+", help="metrics.json files written by `evaluate` recipes")
    parser.add_argument("--paper", action="store_true", help="add the paper's published pass@1 as reference rows")
    args = parser.parse_args(argv)
    results = []
    for path in args.metrics:
        try:
            result = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            parser.error(f"{path}: not a readable metrics JSON ({e})")
        if "benchmark" not in result or "pass@1" not in result:
            parser.error(f"{path}: not an evaluation's metrics.json (no benchmark / pass@1)")
        results.append(result)
    print(comparison_table(results, paper=args.paper))
    return 0
