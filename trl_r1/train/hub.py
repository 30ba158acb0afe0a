"""Model cards and uploads to the Hugging Face Hub.

Every call trl_r1 makes to the Hub goes through one seam, :func:`hub_api`: huggingface_hub's client
(:class:`HubClient`), or, where ``$TRL_R1_RECORD_HUB`` names a folder, a :class:`RecordingHub` that
writes there what would have gone to the Hub (``rehearse`` sets it for the processes it launches;
tests set it to a temporary folder). The variable is read at each call: importing trl_r1 changes
nothing in huggingface_hub or datasets.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import huggingface_hub
import yaml

from .callbacks import METRICS_FILE, PLOT_FILE, plot_metrics, read_metrics

CARD_FILE = "README.md"
# A summary's deferred upload: `on_main_process` runs it after the other processes have left, so
# that none of them waits at a barrier (bounded by `ddp_timeout`) while 65 GB go to the Hub.
UPLOAD = "_upload"
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


@dataclass(frozen=True)
class Card:
    """What a model card says of a stage's training: the ``method`` it trained with, its headline
    ``metric`` (logged every step; its first and last steps are compared), the ``others`` of the
    final table and the plot's ``caption``. A training stage module declares its own as ``CARD``
    (``trl_r1.stages``); one that does not gets ``Card(<the stage's name>)``."""

    method: str
    metric: str = "loss"
    others: tuple[str, ...] = ()
    caption: str = "training loss"


def model_card(
    *,
    repo_id: str | None,
    base_model: str,
    recipe: str,
    metrics_path: str | Path,
    rewards: Sequence[str] = (),
    stage,
    notes: Sequence[str] = (),
    results: dict | None = None,
    evaluation: str | None = None,
    plot_file: str | None = PLOT_FILE,
    license: str | None = None,
    datasets: Sequence[str] = (),
    evaluation_rows: Sequence[dict] = (),
    benchmark: str | None = None,
) -> str:
    """A model card in Markdown with Hub metadata: base model, method (the ``stage``'s ``Card``),
    rewards, notes (paragraphs after the introduction), results (a stage's key numbers, e.g. a
    held-out evaluation), ``evaluation`` (a Markdown table: the starting vs the trained model on
    held-out questions), final training metrics, plot, and the recipe (YAML text) that produced
    the model. The metadata names the base model on the Hub (for a local starting point, the Hub
    model its folder's own card names), its ``license``, the Hub ``datasets`` trained on, and a
    ``model-index`` of the trained model's held-out results (``evaluation_rows`` on ``benchmark``)."""
    card = stage.card or Card(stage.name)
    method, metric, others, caption = card.method, card.metric, card.others, card.caption
    rows = read_metrics(metrics_path, metric)
    final = rows[-1] if rows else {}
    shown = [metric, *sorted(k for k in final if k.startswith("rewards/") and k.endswith("/mean")), *others]
    root = hub_base_model(base_model)  # a local starting point: the Hub model its chain began from
    metadata = {"base_model": root} if root else {}
    if license:
        metadata["license"] = license
    metadata["library_name"] = "transformers"
    if datasets:
        metadata["datasets"] = list(datasets)
    metadata["tags"] = ["trl", "trl-r1", stage.name.replace("_", "-"), "deepseek-r1", "reasoning"]
    if index := model_index(repo_id, evaluation_rows, benchmark):
        metadata["model-index"] = index
    lines = ["---", yaml.safe_dump(metadata, sort_keys=False).strip(), "---", ""]
    lines += [f"# {repo_id or 'trl-r1 model'}", ""]
    if root == base_model:
        origin = f"[`{base_model}`](https://huggingface.co/{base_model})"
    else:
        origin = f"the local model `{base_model}`" + (
            f" (a stage of a chain that began from [`{root}`](https://huggingface.co/{root}))" if root else "")
    lines += [
        f"Trained from {origin} with {method} by trl-r1, a TRL-based reproduction of DeepSeek-R1.",
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


def hub_base_model(model: str) -> str | None:
    """The Hub id a card names as base model: ``model`` itself when it is a Hub id, else (a local
    folder: an earlier stage's output) the base model its own card names, else None (a local path
    would be a broken link on the Hub).

    >>> hub_base_model("Qwen/Qwen2.5-7B"), hub_base_model("outputs/r1/no-such-stage")
    ('Qwen/Qwen2.5-7B', None)
    """
    from ..data.loading import looks_local

    path = Path(model).expanduser()
    if not (path.exists() or looks_local(model)):
        return model
    card = path / CARD_FILE
    text = card.read_text() if card.is_file() else ""
    if text.startswith("---"):
        return (yaml.safe_load(text.split("---")[1]) or {}).get("base_model")
    return None


def base_license(base_model: str | None, api=None) -> str | None:
    """The base model's license from its Hub card (asked only when pushing; None when unknown or
    the Hub does not answer)."""
    if not base_model:
        return None
    try:
        card_data = (api or hub_api()).model_info(base_model).card_data
        return (card_data or {}).get("license")
    except Exception:  # offline, gated, no card, or a recorder: the card says nothing rather than something wrong
        return None


def hub_datasets(values: dict) -> list[str]:
    """The Hub datasets a recipe trains on (built-in and local ones are left out).

    >>> hub_datasets({"dataset_name": "open-r1/OpenR1-Math-220k", "general_dataset_name": "data/x.jsonl"})
    ['open-r1/OpenR1-Math-220k']
    """
    from ..data.loading import looks_local

    names = [values.get(key) for key in ("dataset_name", "general_dataset_name")]
    return [n for n in names if isinstance(n, str) and ":" not in n.split("/")[0] and not looks_local(n)]


def model_index(repo_id: str | None, rows: Sequence[dict], benchmark: str | None) -> list | None:
    """The Hub's ``model-index`` for the trained model's held-out results (percent)."""
    metrics = [{"type": row["metric"].split(",")[0].split(" (")[0], "name": row["metric"],
                "value": round(100 * row["trained"], 1)} for row in rows if row.get("trained") is not None]
    if not (repo_id and metrics):
        return None
    name = benchmark or "held-out questions"
    return [{"name": repo_id, "results": [{"task": {"type": "text-generation"},
                                           "dataset": {"name": name, "type": name}, "metrics": metrics}]}]


def push_folder(output_dir: str | Path, repo_id: str, *, private: bool | None = None, token: str | None = None, api=None) -> str:
    """Create ``repo_id`` if needed and upload the model folder (weights, tokenizer, card, plot,
    recipe, metrics); checkpoints are left out. Returns the commit URL.

    A bare name (``r1-zero-qwen2.5-7b``) is created under the token's user or organisation: the
    upload goes to the id the Hub answers with, as transformers' Trainer does."""
    api = api or hub_api(token)
    created = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    repo_id = getattr(created, "repo_id", None) or repo_id
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
    paths of the model, metrics, plot and card; with ``push_to_hub``, the upload to run under
    ``UPLOAD`` (:func:`trl_r1.train.checkpoints.on_main_process` runs it and adds ``hub``, its URL)."""
    output_dir = Path(args.output_dir)
    (output_dir / RECIPE_FILE).write_text(recipe.to_yaml())
    plot = plot_metrics(output_dir / METRICS_FILE, output_dir / PLOT_FILE, panels,
                        comparison=evaluation["rows"] if evaluation else None)
    base = card.get("base_model")
    card.setdefault("stage", recipe.stage)
    (output_dir / CARD_FILE).write_text(model_card(
        repo_id=args.hub_model_id, recipe=recipe.to_yaml(), metrics_path=output_dir / METRICS_FILE,
        evaluation=evaluation["table"] if evaluation else None, plot_file=PLOT_FILE if plot else None,
        license=base_license(hub_base_model(base) if base else None) if push_to_hub else None,
        datasets=hub_datasets(recipe.values), evaluation_rows=evaluation["rows"] if evaluation else (),
        benchmark=evaluation.get("benchmark") if evaluation else None, **card,
    ))
    summary = {"model": str(output_dir), "metrics": str(output_dir / METRICS_FILE),
               "plot": str(plot) if plot else None, "card": str(output_dir / CARD_FILE)}
    print("\nOutputs:")
    for key, value in summary.items():
        print(f"  {key:8s} {value}")
    if push_to_hub:  # uploaded by `on_main_process` once every process has finished (see UPLOAD)
        summary[UPLOAD] = functools.partial(push_folder, output_dir, args.hub_model_id or output_dir.name,
                                            private=args.hub_private_repo, token=args.hub_token)
    return summary


def push_dataset(dataset, repo_id: str, *, files=(), private: bool | None = None, token: str | None = None, api=None) -> str:
    """Upload a ``datasets.Dataset`` to the dataset repo ``repo_id`` (as Parquet, through its own
    ``push_to_hub``, so that ``load_dataset(repo_id)`` reads it) and ``files`` (e.g. statistics)
    next to it. Returns the dataset's URL."""
    api = api or hub_api(token)
    api.push_dataset(dataset, repo_id, private=private)
    for path in files:
        api.upload_file(path_or_fileobj=str(path), path_in_repo=Path(path).name, repo_id=repo_id,
                        repo_type="dataset", commit_message=f"Upload {Path(path).name}")
    return f"https://huggingface.co/datasets/{repo_id}"


RECORD_HUB_ENV = "TRL_R1_RECORD_HUB"  # a folder: the Hub calls of this process and its children are recorded there
RECORD_FILE = "hub.jsonl"


def hub_api(token: str | None = None):
    """The Hub client every stage asks for: :class:`HubClient` (huggingface_hub's), or a
    :class:`RecordingHub` writing to the folder ``$TRL_R1_RECORD_HUB`` names (read now, at the call)."""
    folder = os.environ.get(RECORD_HUB_ENV)
    return RecordingHub(folder) if folder else HubClient(token=token)


class HubClient(huggingface_hub.HfApi):
    """``huggingface_hub.HfApi`` and a dataset upload, the one call it lacks (``datasets`` makes its own client)."""

    def push_dataset(self, dataset, repo_id: str, *, private: bool | None = None):
        return dataset.push_to_hub(repo_id, private=private, token=self.token)


class RecordingHub:
    """Stands in for :class:`HubClient` where nothing may reach the Hub (a rehearsal, a test): each
    call is a line of ``<folder>/hub.jsonl`` (``method``, ``repo_id`` and the call's arguments, read
    back by ``calls``), and what it uploads is copied under ``<folder>/hub/<repo_id>/`` (a dataset as
    its ``save_to_disk`` folder). It answers as the Hub does: a bare repo name is created under
    the token's owner, ``user``. The Hub's lookups (``model_info``) it does not answer."""

    user = "rehearsal-user"

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    @property
    def calls(self) -> list[dict]:
        """Every call recorded in the folder so far, by this process or any other, in order."""
        path = self.folder / RECORD_FILE
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []

    def _record(self, method: str, repo_id: str, **arguments) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / RECORD_FILE).open("a") as f:
            f.write(json.dumps({"method": method, "repo_id": repo_id, **arguments}, default=str) + "\n")
        return self.folder / "hub" / repo_id

    def create_repo(self, repo_id: str, **kwargs):
        """The repo's URL, whose ``repo_id`` carries the namespace."""
        self._record("create_repo", repo_id, **kwargs)
        return huggingface_hub.RepoUrl(f"https://huggingface.co/{repo_id if '/' in repo_id else f'{self.user}/{repo_id}'}")

    def upload_folder(self, *, repo_id: str, folder_path, **kwargs) -> str:
        source = Path(folder_path)
        ignore = shutil.ignore_patterns(*(kwargs.get("ignore_patterns") or []))
        target = self.folder / "hub" / repo_id
        shutil.copytree(source, target, dirs_exist_ok=True, ignore=ignore)
        files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
        self._record("upload_folder", repo_id, folder_path=str(source), files=files, **kwargs)
        return target.as_uri()

    def upload_file(self, *, repo_id: str, path_or_fileobj, path_in_repo: str, **kwargs) -> str:
        target = self._record("upload_file", repo_id, path_in_repo=path_in_repo, **kwargs) / path_in_repo
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(path_or_fileobj, (str, os.PathLike)):
            shutil.copy(path_or_fileobj, target)
        else:
            target.write_bytes(path_or_fileobj if isinstance(path_or_fileobj, bytes) else path_or_fileobj.read())
        return target.as_uri()

    def push_dataset(self, dataset, repo_id: str, *, private: bool | None = None) -> str:
        target = self._record("push_dataset", repo_id, rows=len(dataset), private=private)
        dataset.save_to_disk(str(target))
        return target.as_uri()
