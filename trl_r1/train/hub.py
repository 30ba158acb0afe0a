"""Model cards and uploads to the Hugging Face Hub."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import huggingface_hub
import yaml

from .callbacks import METRICS_FILE, PLOT_FILE, plot_metrics, read_metrics

CARD_FILE = "README.md"
RECIPE_FILE = "recipe.yaml"


def first_last_mean(rows: list[dict], key: str = "reward", n: int = 5) -> tuple[float, float] | None:
    """Mean of ``key`` over the first and the last ``n`` logged steps (None if not logged).

    >>> first_last_mean([{"reward": r} for r in [0, 0, 1, 1]], n=2)
    (0.0, 1.0)
    """
    values = [row[key] for row in rows if row.get(key) is not None]
    if not values:
        return None
    head, tail = values[:n], values[-n:]
    return sum(head) / len(head), sum(tail) / len(tail)


# What a card says per stage kind: the method, the headline metric (logged every step; its first
# and last steps are compared), the other metrics of the final table, and the plot's caption.
CARD_KINDS = {
    "grpo": ("GRPO", "reward", ["completions/mean_length", "reflection/rate_per_1k_words"],
             "reward, completion length, reflection rate"),
    "sft": ("supervised fine-tuning (SFT)", "loss", ["mean_token_accuracy", "num_tokens", "learning_rate"],
            "training loss, token accuracy, learning rate"),
    "reward_model": ("pointwise reward-model training", "loss", ["learning_rate"], "training loss"),
}


def model_card(
    *,
    repo_id: str | None,
    base_model: str,
    recipe: str,
    metrics_path: str | Path,
    rewards: Sequence[str] = (),
    kind: str = "grpo",
    notes: Sequence[str] = (),
    results: dict | None = None,
    evaluation: str | None = None,
    plot_file: str | None = PLOT_FILE,
) -> str:
    """A model card in Markdown with Hub metadata: base model, method (a key of ``CARD_KINDS``),
    rewards, notes (paragraphs after the introduction), results (a stage's key numbers, e.g. a
    held-out evaluation), ``evaluation`` (a Markdown table: the starting vs the trained model on
    held-out questions), final training metrics, plot, and the recipe (YAML text) that produced
    the model."""
    method, metric, others, caption = CARD_KINDS[kind]
    rows = read_metrics(metrics_path, metric)
    final = rows[-1] if rows else {}
    shown = [metric, *sorted(k for k in final if k.startswith("rewards/") and k.endswith("/mean")), *others]
    metadata = {
        "base_model": base_model,
        "library_name": "transformers",
        "tags": ["trl", "trl-r1", kind.replace("_", "-"), "deepseek-r1", "reasoning"],
    }
    lines = ["---", yaml.safe_dump(metadata, sort_keys=False).strip(), "---", ""]
    lines += [f"# {repo_id or 'trl-r1 model'}", ""]
    lines += [
        f"Trained from [`{base_model}`](https://huggingface.co/{base_model}) with {method} by "
        "trl-r1, a TRL-based reproduction of DeepSeek-R1.",
        "",
    ]
    for note in notes:
        lines += [note, ""]
    if rewards:
        lines += ["## Rewards", "", *[f"- `{name}`" for name in rewards], ""]
    if results:
        lines += ["## Results", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in results.items()]
        lines += [""]
    if evaluation:
        lines += ["## Held-out evaluation", "", "The starting and the trained model on the same held-out questions, "
                  "with the prompt used in training (± standard error; z and p: two-sided tests of the difference).",
                  "", evaluation.strip(), ""]
    lines += ["## Final metrics", ""]
    if rows:
        lines += ["| metric | value |", "| --- | --- |"]
        lines += [f"| step | {final['step']} |"]
        lines += [f"| {k} | {final[k]:.4g} |" for k in shown if isinstance(final.get(k), (int, float))]
        span = first_last_mean(rows, metric)
        if span:
            lines += ["", f"Mean {metric} over the first 5 logged steps: {span[0]:.3f}; over the last 5: {span[1]:.3f}."]
    else:
        lines += ["No training metrics were logged."]
    if plot_file:
        lines += ["", "## Training curves", "", f"![{caption}]({plot_file})"]
    lines += ["", "## Recipe", "", "```yaml", recipe.strip(), "```", ""]
    return "\n".join(lines)


def push_folder(output_dir: str | Path, repo_id: str, *, private: bool | None = None, token: str | None = None, api=None) -> str:
    """Create ``repo_id`` if needed and upload the model folder (weights, tokenizer, card, plot,
    recipe, metrics); checkpoints are left out. Returns the commit URL."""
    if api is None:

        api = huggingface_hub.HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    return api.upload_folder(
        repo_id=repo_id,
        folder_path=str(output_dir),
        repo_type="model",
        commit_message="Upload model trained with trl-r1",
        # student-init/: the sft stage's truncated starting point, not the trained model
        ignore_patterns=["checkpoint-*", "checkpoint-*/**", "completions/**", "runs/**", "student-init/**"],
    )


def defer_push(args) -> bool:
    """Turn the Trainer's own Hub sync off and return whether the recipe asked for a push: a stage
    uploads once, at the end, with our card (`publish`); the Trainer's sync would create the repo at
    start-up and push every checkpoint."""
    push_to_hub, args.push_to_hub = args.push_to_hub, False
    return push_to_hub


def publish(recipe, args, *, push_to_hub: bool, panels: list[tuple[str, list[str]]] | None = None,
            evaluation: dict | None = None, **card) -> dict:
    """Finish a trained model folder, ``args.output_dir`` (main process only): write the recipe as it
    ran, the training plot (``panels``: see `plot_metrics`) and the model card (``card``: the
    keyword arguments of `model_card` other than repo_id, recipe, metrics, evaluation and plot),
    print them, and upload the folder when ``push_to_hub``. ``evaluation``: the starting vs the
    trained model (``rows`` drawn on the plot, ``table`` in the card). Returns the summary: the
    paths of the model, metrics, plot and card, and ``hub``, the upload's URL, when pushed."""
    output_dir = Path(args.output_dir)
    (output_dir / RECIPE_FILE).write_text(recipe.to_yaml())
    plot = plot_metrics(output_dir / METRICS_FILE, output_dir / PLOT_FILE, panels,
                        comparison=evaluation["rows"] if evaluation else None)
    (output_dir / CARD_FILE).write_text(model_card(
        repo_id=args.hub_model_id, recipe=recipe.to_yaml(), metrics_path=output_dir / METRICS_FILE,
        evaluation=evaluation["table"] if evaluation else None, plot_file=PLOT_FILE if plot else None, **card,
    ))
    summary = {"model": str(output_dir), "metrics": str(output_dir / METRICS_FILE),
               "plot": str(plot) if plot else None, "card": str(output_dir / CARD_FILE)}
    print("\nOutputs:")
    for key, value in summary.items():
        print(f"  {key:8s} {value}")
    if push_to_hub:
        repo_id = args.hub_model_id or output_dir.name
        summary["hub"] = str(push_folder(output_dir, repo_id, private=args.hub_private_repo, token=args.hub_token))
        print(f"  pushed   {summary['hub']}")
    return summary


def push_dataset(dataset, repo_id: str, *, files=(), private: bool | None = None, token: str | None = None, api=None) -> str:
    """Upload a ``datasets.Dataset`` to the dataset repo ``repo_id`` (as Parquet, through its own
    ``push_to_hub``, so that ``load_dataset(repo_id)`` reads it) and ``files`` (e.g. statistics)
    next to it. Returns the dataset's URL."""
    dataset.push_to_hub(repo_id, private=private, token=token)
    if files:
        if api is None:

            api = huggingface_hub.HfApi(token=token)
        for path in files:
            api.upload_file(path_or_fileobj=str(path), path_in_repo=Path(path).name, repo_id=repo_id,
                            repo_type="dataset", commit_message=f"Upload {Path(path).name}")
    return f"https://huggingface.co/datasets/{repo_id}"
