"""Datasets for recipes: Hub ids, local files, and small built-in generated sets.

Built-in sets (``dataset_name: builtin:<name>``) are generated deterministically, so a recipe
that uses one trains on the same rows on every machine, with no download.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

from . import chain_data
from .templates import make_prompt

BUILTIN_PREFIX = "builtin:"
_FILE_FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def arithmetic(num_train: int = 2000, num_test: int = 200, max_operand: int = 50, seed: int = 1234) -> DatasetDict:
    """Questions ``What is a + b?`` / ``a - b`` with the answer in a ``solution`` column; the
    test questions are distinct and never among the training questions.

    >>> ds = arithmetic(num_train=3, num_test=1)
    >>> ds["train"][0]
    {'problem': 'What is 49 + 28?', 'solution': '77'}
    """
    rng = random.Random(seed)

    def row() -> dict:
        a, b = rng.randint(0, max_operand), rng.randint(0, max_operand)
        if rng.random() < 0.5:
            return {"problem": f"What is {a} + {b}?", "solution": str(a + b)}
        a, b = max(a, b), min(a, b)
        return {"problem": f"What is {a} - {b}?", "solution": str(a - b)}

    train = [row() for _ in range(num_train)]
    seen, test = {r["problem"] for r in train}, []
    while len(test) < num_test:  # held out: no test question is also a training question
        if (candidate := row())["problem"] not in seen:
            seen.add(candidate["problem"])
            test.append(candidate)
    return DatasetDict(train=Dataset.from_list(train), test=Dataset.from_list(test))


# (task statement, function computing the expected output from the input's text, input maker)
_CODE_TASKS = [
    ("reads two integers a and b (on one line) and prints a + b",
     lambda s: str(sum(map(int, s.split()))), lambda r: f"{r.randint(-99, 99)} {r.randint(-99, 99)}"),
    ("reads integers on one line and prints the largest",
     lambda s: str(max(map(int, s.split()))), lambda r: " ".join(str(r.randint(-50, 50)) for _ in range(r.randint(1, 6)))),
    ("reads a line of text and prints it reversed",
     lambda s: s[::-1], lambda r: "".join(r.choice("abcdefgh xyz") for _ in range(r.randint(1, 12))).strip() or "a"),
    ("reads a line of text and prints how many vowels (a, e, i, o, u) it contains",
     lambda s: str(sum(c in "aeiou" for c in s)), lambda r: "".join(r.choice("abcdeiouxyz") for _ in range(r.randint(1, 15)))),
    ("reads an integer n (0 <= n <= 20) and prints n factorial",
     lambda s: str(__import__("math").factorial(int(s))), lambda r: str(r.randint(0, 20))),
    ("reads integers on one line and prints them sorted ascending, separated by spaces",
     lambda s: " ".join(map(str, sorted(map(int, s.split())))), lambda r: " ".join(str(r.randint(0, 99)) for _ in range(r.randint(1, 7)))),
    ("reads a non-negative integer and prints the sum of its digits",
     lambda s: str(sum(map(int, s))), lambda r: str(r.randint(0, 10**6))),
    ("reads a line of text and prints it in upper case",
     lambda s: s.upper(), lambda r: "".join(r.choice("abc def") for _ in range(r.randint(1, 10))).strip() or "b"),
]


def code_tasks(num_train: int = 256, num_test: int = 32, tests_per_task: int = 4, seed: int = 1234) -> DatasetDict:
    """Small stdin -> stdout programming tasks with ``test_cases`` for the ``code`` reward.

    >>> row = code_tasks(num_train=1, num_test=0)["train"][0]
    >>> row["problem"].startswith("Write a Python program that reads two integers"), len(row["test_cases"])
    (True, 4)
    """
    rng = random.Random(seed)
    rows = []
    for i in range(num_train + num_test):
        statement, solve, make_input = _CODE_TASKS[i % len(_CODE_TASKS)]
        inputs = [make_input(rng) for _ in range(tests_per_task)]
        rows.append({
            "problem": f"Write a Python program that {statement}.",
            "test_cases": [{"input": x + "\n", "output": solve(x) + "\n"} for x in inputs],
        })
    return DatasetDict(train=Dataset.from_list(rows[:num_train]), test=Dataset.from_list(rows[num_train:]))


BUILTIN_DATASETS: dict[str, Callable[[], DatasetDict]] = {
    "arithmetic": arithmetic,
    "code_tasks": code_tasks,
    # The miniature R1 chain's data (chain_data.py): one set per link.
    "cold_start": chain_data.cold_start,
    "general": chain_data.general,
    "safety": chain_data.safety,
    "helpfulness": chain_data.helpfulness,
    "all_scenarios": chain_data.all_scenarios,
}


def check_dataset_name(name: str) -> None:
    """Fail early on an unknown built-in name (other names are checked when loaded)."""
    if name.startswith(BUILTIN_PREFIX) and name.removeprefix(BUILTIN_PREFIX) not in BUILTIN_DATASETS:
        raise ValueError(
            f"dataset_name: unknown built-in dataset {name!r}; built-in: "
            f"{', '.join(BUILTIN_PREFIX + k for k in BUILTIN_DATASETS)}"
        )


def check_model_and_dataset(model: str | None, dataset: str | None, stage: str) -> None:
    """What every stage that runs a model on data checks first: both are named, and a built-in
    dataset exists."""
    if not model:
        raise ValueError(f"model_name_or_path: a `{stage}` recipe needs a model (a Hub id, a local folder "
                         "or embedded:<name>)")
    if not dataset:
        raise ValueError(f"dataset_name: a `{stage}` recipe needs a dataset (a Hub id, a local file or folder, "
                         "or builtin:<name>)")
    check_dataset_name(dataset)


def load_any(name: str, config: str | None = None) -> DatasetDict:
    """A ``DatasetDict`` from a built-in name, a ``save_to_disk`` folder, a data file, or the Hub."""
    if name.startswith(BUILTIN_PREFIX):
        check_dataset_name(name)
        return BUILTIN_DATASETS[name.removeprefix(BUILTIN_PREFIX)]()
    path = Path(name)
    if path.is_dir() and ((path / "dataset_dict.json").exists() or (path / "dataset_info.json").exists()):
        loaded = load_from_disk(str(path))
        return loaded if isinstance(loaded, DatasetDict) else DatasetDict(train=loaded)
    if path.is_file():
        if path.suffix not in _FILE_FORMATS:
            raise ValueError(f"{name}: unsupported data file type; use one of {', '.join(_FILE_FORMATS)}")
        return load_dataset(_FILE_FORMATS[path.suffix], data_files=str(path))
    return load_dataset(name, name=config)


def load_split(name: str, config: str | None, split: str, columns: Sequence[str] = (), prefix: str = "",
               field: str = "dataset_split") -> Dataset:
    """Split ``split`` of dataset ``name``, with ``columns`` checked to exist. A local file has one
    split, ``train``, used whatever split is named. Errors name the recipe's ``prefix + field``
    (``general_dataset_split``, ``dataset_train_split``)."""
    data = load_any(name, config)
    if split in data:
        rows = data[split]
    elif list(data) == ["train"]:  # a local file: its one split
        rows = data["train"]
    else:
        raise ValueError(f"{prefix}{field}: {name} has no split {split!r}; its splits are {list(data)}")
    for column in columns:
        if column not in rows.column_names:
            raise ValueError(f"{name} has no column {column!r}; its columns are {rows.column_names} "
                             f"(set the recipe's {prefix}*_column fields)")
    return rows


def subsample(dataset: Dataset, n: int | None, seed: int) -> Dataset:
    """``n`` rows drawn with ``seed`` (all of them when ``n`` is None): a recipe's ``max_train_samples``.

    >>> len(subsample(Dataset.from_list([{"x": i} for i in range(5)]), 2, seed=0)), len(subsample(Dataset.from_list([{"x": 1}]), None, 0))
    (2, 1)
    """
    if n is None:
        return dataset
    return dataset.shuffle(seed=seed).select(range(min(n, len(dataset))))


def mix_general(rows: Dataset, general: Dataset, prompt_column: str, general_column: str, fraction: float,
                seed: int, task_column: str = "task") -> Dataset:
    """``rows`` (task ``reasoning`` unless they have a task column) and general prompts (task
    ``general``, their question in ``prompt_column``, other columns empty) making up ``fraction``
    of the result, or all of ``general`` when it has fewer rows.

    >>> r = Dataset.from_list([{"problem": f"{i} + 1?", "solution": str(i + 1)} for i in range(3)])
    >>> g = Dataset.from_list([{"prompt": "Write a haiku."}, {"prompt": "Hi!"}])
    >>> mix_general(r, g, "problem", "prompt", 0.25, seed=0)[3]
    {'problem': 'Write a haiku.', 'solution': None, 'task': 'general'}
    """
    from datasets import concatenate_datasets

    if task_column not in rows.column_names:
        rows = rows.add_column(task_column, ["reasoning"] * len(rows))
    wanted = min(len(general), round(len(rows) * fraction / (1 - fraction)))
    picked = general.shuffle(seed=seed).select(range(wanted))[general_column]
    columns = {c: [None] * wanted for c in rows.column_names}
    columns.update({prompt_column: picked, task_column: ["general"] * wanted})
    return concatenate_datasets([rows, Dataset.from_dict(columns).cast(rows.features)])


def with_prompts(
    dataset: Dataset, column: str, template: str, system_prompt: str | None = None, examples: list[dict] | None = None
) -> Dataset:
    """Add TRL's ``prompt`` column from ``column`` through the template (kept if already there)."""
    if "prompt" in dataset.column_names:
        return dataset
    if column not in dataset.column_names:
        raise ValueError(
            f"dataset_prompt_column: the dataset has no column {column!r}; its columns are {dataset.column_names}"
        )
    return dataset.map(lambda row: {"prompt": make_prompt(row[column], template, system_prompt, examples)})
