"""Datasets for recipes: Hub ids, local files, and small built-in generated sets.

Built-in sets (``dataset_name: builtin:<name>``) are generated deterministically, so a recipe
that uses one trains on the same rows on every machine, with no download.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

from .templates import make_prompt

BUILTIN_PREFIX = "builtin:"
_FILE_FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def arithmetic(num_train: int = 2000, num_test: int = 200, max_operand: int = 50, seed: int = 1234) -> DatasetDict:
    """Questions ``What is a + b?`` / ``a - b`` with the answer in a ``solution`` column.

    >>> ds = arithmetic(num_train=3, num_test=1)
    >>> ds["train"][0]
    {'problem': 'What is 49 + 28?', 'solution': '77'}
    """
    rng = random.Random(seed)
    rows = []
    for _ in range(num_train + num_test):
        a, b = rng.randint(0, max_operand), rng.randint(0, max_operand)
        if rng.random() < 0.5:
            rows.append({"problem": f"What is {a} + {b}?", "solution": str(a + b)})
        else:
            a, b = max(a, b), min(a, b)
            rows.append({"problem": f"What is {a} - {b}?", "solution": str(a - b)})
    return DatasetDict(
        train=Dataset.from_list(rows[:num_train]), test=Dataset.from_list(rows[num_train:])
    )


BUILTIN_DATASETS: dict[str, Callable[[], DatasetDict]] = {"arithmetic": arithmetic}


def load_any(name: str, config: str | None = None) -> DatasetDict:
    """A ``DatasetDict`` from a built-in name, a ``save_to_disk`` folder, a data file, or the Hub."""
    if name.startswith(BUILTIN_PREFIX):
        key = name.removeprefix(BUILTIN_PREFIX)
        if key not in BUILTIN_DATASETS:
            raise ValueError(f"Unknown built-in dataset {name!r}; built-in: {', '.join(BUILTIN_PREFIX + k for k in BUILTIN_DATASETS)}")
        return BUILTIN_DATASETS[key]()
    path = Path(name)
    if path.is_dir() and ((path / "dataset_dict.json").exists() or (path / "dataset_info.json").exists()):
        loaded = load_from_disk(str(path))
        return loaded if isinstance(loaded, DatasetDict) else DatasetDict(train=loaded)
    if path.is_file():
        if path.suffix not in _FILE_FORMATS:
            raise ValueError(f"{name}: unsupported data file type; use one of {', '.join(_FILE_FORMATS)}")
        return load_dataset(_FILE_FORMATS[path.suffix], data_files=str(path))
    return load_dataset(name, name=config)


def with_prompts(dataset: Dataset, column: str, template: str, system_prompt: str | None) -> Dataset:
    """Add TRL's ``prompt`` column from ``column`` through the template (kept if already there)."""
    if "prompt" in dataset.column_names:
        return dataset
    if column not in dataset.column_names:
        raise ValueError(
            f"dataset_prompt_column: the dataset has no column {column!r}; its columns are {dataset.column_names}"
        )
    return dataset.map(lambda row: {"prompt": make_prompt(row[column], template, system_prompt)})
