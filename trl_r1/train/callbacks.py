"""Training artefacts written while a stage runs: the metrics JSONL and the training plot."""

from __future__ import annotations

import json
import math
from pathlib import Path

from transformers import TrainerCallback

METRICS_FILE = "metrics.jsonl"
PLOT_FILE = "training.png"


def read_metrics(path: str | Path, key: str | None = "reward") -> list[dict]:
    """The logged training steps (rows with ``key``: GRPO logs a ``reward``, SFT a ``loss``) of a
    metrics JSONL file; every row with ``key=None``."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [row for row in rows if key is None or key in row]


class MetricsFileCallback(TrainerCallback):
    """Appends every log (one JSON object per line, with its ``step``) to ``output_dir/metrics.jsonl``.

    On resume, lines logged after the checkpoint the run resumes from are dropped first, so the
    file reads as one uninterrupted run.
    """

    def __init__(self, output_dir: str | Path):
        self.path = Path(output_dir) / METRICS_FILE

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero or not self.path.exists():
            return
        kept = [
            line
            for line in self.path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= state.global_step
        ]
        self.path.write_text("".join(line + "\n" for line in kept))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        row = {"step": state.global_step, **{k: _jsonable(v) for k, v in logs.items()}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(row) + "\n")


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def plot_metrics(
    metrics_path: str | Path, out_path: str | Path, panels: list[tuple[str, list[str]]] | None = None,
    comparison: list[dict] | None = None,
) -> Path | None:
    """Metrics per step as a PNG, one panel per ``(title, keys)``; by default GRPO's reward,
    completion length and reflection rate. The steps are the rows logging the first panel's
    first key. ``comparison`` (rows with ``metric``, ``start``, ``trained`` and their
    ``*_stderr``, as `compare_models` makes them) adds a last panel: held-out results before
    and after training, bars with 95% intervals. None if nothing was logged."""
    rows = read_metrics(metrics_path, panels[0][1][0] if panels else "reward")
    if not rows:
        return None
    import matplotlib  # only when a plot is drawn: importing it costs a second

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    everything = read_metrics(metrics_path, key=None)
    panels = panels or default_panels(rows, everything)
    fig, axes = plt.subplots(1, len(panels) + bool(comparison), figsize=(5 * (len(panels) + bool(comparison)), 4),
                             squeeze=False)
    if comparison:
        _draw_comparison(axes[0][-1], comparison)
    for ax, (title, keys) in zip(axes[0], panels):
        for key in keys:  # each key at the steps that log it (evaluations log on rows of their own)
            points = [(row["step"], row[key]) for row in everything if row.get(key) is not None]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=key.removeprefix("rewards/").removesuffix("/mean"))
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=8)
    fig.tight_layout()
    out_path = Path(out_path)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path


# The evaluation-during-training metrics drawn, in this order, when a run logged them.
EVAL_PANEL_KEYS = ("eval/pass@1", "eval/cons@", "eval/format_rate")


def default_panels(rows: list[dict], everything: list[dict]) -> list[tuple[str, list[str]]]:
    """GRPO's panels: reward, completion length, reflection rate, and the held-out evaluation
    during training (``eval/pass@1``, ``eval/cons@k``, ``eval/format_rate``) when it ran.

    >>> rows = [{"step": 1, "reward": 0.5, "rewards/accuracy/mean": 0.5}]
    >>> [title for title, _ in default_panels(rows, rows + [{"step": 1, "eval/pass@1": 0.25}])]
    ['Reward', 'Completion length (tokens)', 'Reflection words per 1k words', 'Held-out, during training']
    >>> default_panels(rows, rows + [{"step": 1, "eval/pass@1": 0.25}])[-1][1]
    ['eval/pass@1']
    """
    panels = [
        ("Reward", [k for k in rows[-1] if k == "reward" or (k.startswith("rewards/") and k.endswith("/mean"))]),
        ("Completion length (tokens)", ["completions/mean_length"]),
        ("Reflection words per 1k words", ["reflection/rate_per_1k_words"]),
    ]
    logged = {k for row in everything for k in row}
    evaluation = [k for prefix in EVAL_PANEL_KEYS for k in sorted(logged) if k == prefix or
                  (prefix.endswith("@") and k.startswith(prefix) and not k.endswith("_stderr"))]
    if evaluation:
        panels.append(("Held-out, during training", evaluation))
    return panels


def _draw_comparison(ax, rows: list[dict]) -> None:
    """Grouped bars: each row's starting and trained value (percent), with 95% intervals."""
    width = 0.38
    for offset, (key, label, color) in enumerate((("start", "start", "tab:gray"), ("trained", "trained", "tab:blue"))):
        xs = [i + (offset - 0.5) * width for i in range(len(rows))]
        values = [100 * row[key] for row in rows]
        errors = [196 * (row.get(f"{key}_stderr") or 0) for row in rows]
        ax.bar(xs, values, width, yerr=errors, capsize=3, label=label, color=color)
        for x, value in zip(xs, values):
            ax.annotate(f"{value:.0f}", (x, value), ha="center", va="bottom", fontsize=7, xytext=(0, 2),
                        textcoords="offset points")
    ax.set_xticks(range(len(rows)), [row["metric"].split(",")[0].replace(" (", "\n(") for row in rows], fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of held-out questions")
    ax.set_title("Held-out evaluation (95% intervals)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
