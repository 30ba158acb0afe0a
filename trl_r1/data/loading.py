"""Loading a recipe's dataset (built-in name, ``save_to_disk`` folder, data file or Hub id) and
turning its questions into prompts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

from .builtin import BUILTIN_DATASETS, BUILTIN_PREFIX, check_dataset_name
from .templates import PromptArguments

_FILE_FORMATS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


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


def looks_local(name: str) -> bool:
    """Whether a dataset name is a local path rather than a Hub id (``org/name``) or built-in.

    >>> [looks_local(n) for n in ("open-r1/OpenR1-Math-220k", "data/x.jsonl", "outputs/r1/sft/dataset", "builtin:general")]
    [False, True, True, False]
    """
    if ":" in name.split("/")[0]:  # builtin:<name>, embedded:<name>
        return False
    return (Path(name).suffix in _FILE_FORMATS or name.startswith(("/", ".", "~"))
            or name.count("/") > 1)


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


def in_curriculum_order(dataset: Dataset, column: str) -> Dataset:
    """The rows in ``column``'s ascending order, easy to hard (ties keep their order): a recipe's
    ``curriculum_column``.

    >>> list(in_curriculum_order(Dataset.from_list([{"d": 3}, {"d": 1}, {"d": 2}]), "d")["d"])
    [1, 2, 3]
    """
    if column not in dataset.column_names:
        raise ValueError(f"curriculum_column: the dataset has no column {column!r}; its columns: {dataset.column_names}")
    return dataset.sort(column)  # a stable sort (Arrow's)


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


def with_prompts(dataset: Dataset, column: str, prompting: PromptArguments) -> Dataset:
    """Add TRL's ``prompt`` column from ``column`` through the recipe's template (kept if already there)."""
    if "prompt" in dataset.column_names:
        return dataset
    if column not in dataset.column_names:
        raise ValueError(
            f"dataset_prompt_column: the dataset has no column {column!r}; its columns are {dataset.column_names}"
        )
    return dataset.map(lambda row: {"prompt": prompting.prompt(row[column])})
