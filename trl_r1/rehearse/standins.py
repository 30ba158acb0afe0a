"""Stand-ins for what a rehearsal cannot reach: Hub datasets, models named by path, and the
correct samples a miniature model cannot draw.

A Hub dataset becomes a small ``save_to_disk`` folder with the columns and split names the
recipe reads, filled from the built-in sets (arithmetic questions, R1-format conversations,
general prompts, labelled and scored responses). A reward model that a recipe names by a path
that does not exist becomes a classifier built from the rehearsal model. A ``sample`` stage
that kept none of the miniature model's samples, all wrong or unreadable, gets correct stand-in
responses (:func:`correct_samples`).
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


def _rows(source: str, columns: dict[str, str | list[str]], n: int = ROWS, split: str | None = None) -> list[dict]:
    """``n`` rows of built-in set ``source`` (of its ``split``; None: all splits) with its columns
    renamed (``{ours: theirs}``; a list of names copies a column under each)."""
    from ..data.builtin import BUILTIN_DATASETS

    data = BUILTIN_DATASETS[source]()
    rows = [r for name, part in data.items() if split in (None, name) for r in part]
    rows = (rows * (n // len(rows) + 1))[:n]
    names = {ours: [theirs] if isinstance(theirs, str) else theirs for ours, theirs in columns.items()}
    return [{name: row[ours] for ours, theirs in names.items() for name in theirs} for row in rows]


def write(folder: Path, rows: list[dict], splits: list[str]) -> str:
    """Save ``rows`` under each of ``splits`` as a ``save_to_disk`` folder; its path."""
    from datasets import Dataset, DatasetDict

    if not folder.is_dir():
        DatasetDict({split: Dataset.from_list(rows) for split in dict.fromkeys(splits)}).save_to_disk(str(folder))
    return str(folder)


def prompts(folder: Path, splits: list[str], prompt: str, answers: list[str], routed: bool,
            general_share: float | None = None, seed: int = 0) -> str:
    """Questions with gold answers (GRPO, sample, evaluate); with ``routed`` a ``task`` column, as
    R1's stage 4 prompts: ``general_share`` of them general, shuffled with ``seed`` as a real mix
    lies (no even interleaving that hands every process both tasks); None: reasoning rows only,
    for a recipe whose own ``general_dataset_name`` is mixed in by the stage itself."""
    import random

    columns = {"problem": prompt, "solution": list(answers)}
    if routed:
        rows = _rows("all_scenarios", {**columns, "task": "task"}, 10**4)
        general = round(ROWS * (general_share or 0.0))
        by_task = {task: [r for r in rows if r["task"] == task] for task in ("reasoning", "general")}
        chosen = by_task["reasoning"][:ROWS - general] + by_task["general"][:general]
        random.Random(seed).shuffle(chosen)
        return write(folder, chosen, splits)
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
    """Evaluation questions (a decontamination set), as a JSONL file: arithmetic's held-out test
    questions, none of them a stand-in prompt (:func:`prompts`), as benchmarks are not training
    prompts at scale."""
    import json

    folder.parent.mkdir(parents=True, exist_ok=True)
    path = folder.with_suffix(".jsonl")
    path.write_text("".join(json.dumps(r) + "\n" for r in _rows("arithmetic", {"problem": column}, split="test")))
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


WRONG = "incorrect"  # the verdict of a sample scored below 1 against a gold the scorer could read


class RecipeDefect(RuntimeError):
    """A rehearsed stage did what a run at scale would do, and that would not work."""


def needs_correct_samples(stats: dict) -> bool:
    """Whether a rehearsed ``sample`` stage, whose statistics are ``stats``, gets stand-in
    correct responses: only when it kept nothing because of the miniature model's text, each
    sample scored wrong (a gold the scorer cannot read scores ``None``, not 0) or, right, written
    outside R1's readable format (the readability filters; :func:`correct_samples` then checks
    that those filters keep a correct response in R1's format). Keeping nothing for any other
    reason (unreadable golds, decontamination, no prompts) is the recipe's problem, and raises
    :class:`RecipeDefect`.

    >>> needs_correct_samples({"kept": 0, "samples": 8, "rejected": {"incorrect": 8, "no_reasoning": 0}})
    True
    >>> needs_correct_samples({"kept": 3, "samples": 8, "rejected": {"incorrect": 5}})
    False
    """
    from ..generation.filters import FILTERS

    if stats["kept"]:
        return False
    others = {reason: n for reason, n in stats["rejected"].items() if n and reason not in (WRONG, *FILTERS)}
    if not stats["samples"] or others:
        why = ", ".join(f"{reason} {n}" for reason, n in others.items()) or "there were no samples"
        raise RecipeDefect(f"the sample stage kept none of its {stats['samples']} samples, and not only because the "
                           f"model answered wrongly or unreadably: {why} (the verdicts are in samples.jsonl). A run "
                           "at scale would write an SFT dataset without reasoning rows; fix the recipe.")
    return True


def _model_verdicts(stats: dict) -> str:
    """What became of the model's own samples, for the table.

    >>> _model_verdicts({"samples": 8, "rejected": {"incorrect": 8, "no_reasoning": 0}})
    '0 of 8 samples correct'
    >>> _model_verdicts({"samples": 8, "rejected": {"incorrect": 5, "no_reasoning": 3}})
    '0 of 8 samples kept (5 wrong; right but filtered: no_reasoning 3)'
    """
    wrong = stats["rejected"].get(WRONG, 0)
    if wrong == stats["samples"]:
        return f"0 of {wrong} samples correct"
    filtered = ", ".join(f"{reason} {n}" for reason, n in stats["rejected"].items() if n and reason != WRONG)
    return f"0 of {stats['samples']} samples kept ({wrong} wrong; right but filtered: {filtered})"


def correct_samples(config) -> tuple[dict, str] | None:
    """When :func:`needs_correct_samples` says so, replace each of a finished ``sample`` stage's
    samples by a correct response (the gold answer in R1's format), review them with the
    recipe's own scorer and filters (``sample.review``; filters that keep none of them raise
    :class:`RecipeDefect`), mix and decontaminate as the stage does (``sample.build_dataset``)
    and write its dataset and stats over the empty ones (``sample.save``): same columns, same
    folder. The new statistics and a note for the table; ``None`` when the stage kept samples
    of its own."""
    import json

    from trl_r1_rewards import load_reward

    from ..generation.backends import Completion
    from ..generation.scoring import load_scorer
    from ..stages import sample

    output_dir = Path(config.output_dir)
    stats = json.loads((output_dir / sample.STATS_FILE).read_text())
    if not needs_correct_samples(stats):
        return None
    rows = sample.load_prompts(config)
    scorer = load_scorer(config.scorer, config.scorer_kwargs, config.answer_column)
    language = (load_reward("language_consistency", **config.language_kwargs)
                if config.language_threshold is not None else None)
    records = []
    for i, row in enumerate(rows):
        completions = [Completion(f"<think>\nA stand-in for sample {j + 1}: the rehearsal's miniature model answered "
                                  f"wrongly.\n</think>\n\nThe answer is \\boxed{{{row[config.answer_column]}}}.", 0)
                       for j in range(config.num_samples)]
        prompt = config.prompt(row[config.problem_column])
        records += sample.review(config, i, row, prompt, completions, scorer, language)
    index, general_pool = sample.mixing_sources(config)
    dataset, new = sample.build_dataset(config, records, len(rows), index, general_pool)
    if not new["kept"]:
        rejected = ", ".join(f"{reason} {n}" for reason, n in new["rejected"].items() if n)
        raise RecipeDefect(f"the recipe's scorer, filters and decontamination keep no correct response in R1's "
                           f"format either (rejected: {rejected}); fix the recipe.")
    note = (f"{_model_verdicts(stats)} (the miniature model): stand-in rows, same columns "
            f"({new['kept']} gold answers in R1's format, kept by the recipe's scorer and filters, "
            f"+ {new['general']} general)")
    sample.save(output_dir, dataset, {**new, "rehearsal_stand_in": note, "model_samples": stats})
    return new, note
