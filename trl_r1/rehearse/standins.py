"""Stand-ins for what a rehearsal cannot reach: Hub datasets and models named by path.

A Hub dataset becomes a small ``save_to_disk`` folder with the columns and split names the
recipe reads, filled from the built-in sets (arithmetic questions, R1-format conversations,
general prompts, labelled and scored responses). A reward model that a recipe names by a path
that does not exist becomes a classifier built from the rehearsal model.
"""

from __future__ import annotations

from pathlib import Path

from ..data.builtin import BUILTIN_PREFIX

ROWS = 32  # rows per split: enough for a few steps on 2 processes


def is_hub_dataset(name) -> bool:
    """A Hub dataset id: not built-in, not a reference to an earlier stage, not a local path.

    >>> is_hub_dataset("open-r1/OpenR1-Math-220k"), is_hub_dataset("builtin:arithmetic"), is_hub_dataset("data/x.jsonl")
    (True, False, False)
    """
    if not isinstance(name, str) or name.startswith(BUILTIN_PREFIX) or "${" in name or Path(name).exists():
        return False
    return name.count("/") == 1 and not Path(name).suffix and not name.startswith((".", "/"))


def _rows(source: str, columns: dict[str, str | list[str]], n: int = ROWS) -> list[dict]:
    """``n`` rows of built-in set ``source`` with its columns renamed (``{ours: theirs}``; a list
    of names copies a column under each)."""
    from ..data.builtin import BUILTIN_DATASETS

    data = BUILTIN_DATASETS[source]()
    rows = [r for split in data.values() for r in split]
    rows = (rows * (n // len(rows) + 1))[:n]
    names = {ours: [theirs] if isinstance(theirs, str) else theirs for ours, theirs in columns.items()}
    return [{name: row[ours] for ours, theirs in names.items() for name in theirs} for row in rows]


def write(folder: Path, rows: list[dict], splits: list[str]) -> str:
    """Save ``rows`` under each of ``splits`` as a ``save_to_disk`` folder; its path."""
    from datasets import Dataset, DatasetDict

    if not folder.is_dir():
        DatasetDict({split: Dataset.from_list(rows) for split in dict.fromkeys(splits)}).save_to_disk(str(folder))
    return str(folder)


def prompts(folder: Path, splits: list[str], prompt: str, answers: list[str], routed: bool) -> str:
    """Questions with gold answers (GRPO, sample, evaluate); with ``routed`` a ``task`` column
    mixing reasoning and general rows, as R1's stage 4 prompts."""
    columns = {"problem": prompt, "solution": list(answers)}
    if routed:
        rows = _rows("all_scenarios", {**columns, "task": "task"}, 10**4)
        by_task = [[r for r in rows if r["task"] == task][:ROWS // 2] for task in ("reasoning", "general")]
        return write(folder, [r for pair in zip(*by_task, strict=True) for r in pair], splits)
    return write(folder, _rows("arithmetic", columns), splits)


def conversations(folder: Path, splits: list[str], messages: str | None, prompt: str, response: str) -> str:
    """R1-format conversations (SFT): a messages column, or a prompt and a response column."""
    if messages:
        return write(folder, _rows("cold_start", {"messages": messages}), splits)
    rows = [{prompt: r["messages"][0]["content"], response: r["messages"][1]["content"]}
            for r in _rows("cold_start", {"messages": "messages"})]
    return write(folder, rows, splits)


def general(folder: Path, splits: list[str], prompt: str, response: str) -> str:
    return write(folder, _rows("general", {"problem": prompt, "response": response}), splits)


def judged(folder: Path, splits: list[str], prompt: str, response: str, target: str, scores: bool) -> str:
    """Responses with a label (classifier) or a score (regressor), as a reward model trains on."""
    source, column = ("helpfulness", "score") if scores else ("safety", "label")
    return write(folder, _rows(source, {"prompt": prompt, "response": response, column: target}), splits)


def questions(folder: Path, column: str) -> str:
    """Evaluation questions (a decontamination set), as a JSONL file."""
    import json

    folder.parent.mkdir(parents=True, exist_ok=True)
    path = folder.with_suffix(".jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in _rows("arithmetic", {"problem": column})))
    return str(path)


def reward_model(folder: Path, base: str, labels: list[str] | None) -> str:
    """A sequence classifier made from ``base`` (a random head): ``labels`` as its classes, or a
    1-output scorer when None. Stands in for a reward model a recipe names but nothing built."""
    if (folder / "config.json").is_file():
        return str(folder)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from ..models import resolve_model

    path = resolve_model(base)
    kwargs = {"num_labels": 1} if labels is None else {
        "num_labels": len(labels), "id2label": dict(enumerate(labels)), "label2id": {n: i for i, n in enumerate(labels)}}
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, **kwargs)
    model.config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
