"""Built-in datasets, named in recipes as ``dataset_name: builtin:<name>`` (``python -m trl_r1 list``)."""

from __future__ import annotations

from collections.abc import Callable

from datasets import DatasetDict

from . import chain
from .tasks import arithmetic, code_tasks

BUILTIN_PREFIX = "builtin:"

BUILTIN_DATASETS: dict[str, Callable[[], DatasetDict]] = {
    "arithmetic": arithmetic,
    "code_tasks": code_tasks,
    # The miniature R1 chain's data (chain.py): one set per link.
    "cold_start": chain.cold_start,
    "general": chain.general,
    "safety": chain.safety,
    "helpfulness": chain.helpfulness,
    "all_scenarios": chain.all_scenarios,
}


def check_dataset_name(name: str) -> None:
    """Fail early on an unknown built-in name (other names are checked when loaded)."""
    if name.startswith(BUILTIN_PREFIX) and name.removeprefix(BUILTIN_PREFIX) not in BUILTIN_DATASETS:
        raise ValueError(
            f"dataset_name: unknown built-in dataset {name!r}; built-in: "
            f"{', '.join(BUILTIN_PREFIX + k for k in BUILTIN_DATASETS)}"
        )
