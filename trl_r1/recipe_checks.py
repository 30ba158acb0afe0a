"""Reading a recipe file, and the checks every recipe meets on the machine that runs it (its
trackers installed, its local data present).

Both the recipe loader (``trl_r1.recipe``) and the stage modules use these; this module imports
neither. The loader finds the stage modules by name, so a stage module may not import the loader
(that would close an import circle): it imports what it shares with the loader from here, and
reaches the loader itself through the recipe it is given (``Recipe.load``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class RecipeError(ValueError):
    """A recipe (or its command-line overrides) is invalid; the message names the field."""


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: no such recipe file")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML: {e}") from e
    if not isinstance(values, dict):
        raise RecipeError(f"{path}: a recipe is a YAML mapping of field: value")
    return values


# pip packages of the `report_to` integrations whose package is not named as the integration.
_TRACKER_PACKAGES = {"azure_ml": "azureml-core", "flyte": "flytekit", "kubeflow": "kubeflow"}


def check_reporting(configs, installed_here: bool = True) -> None:
    """Every `report_to` integration is one transformers knows and, with ``installed_here``, is
    installed on this machine: transformers itself finds out only when the trainer starts, after
    the model loaded. A recipe checked for other hardware (``plan``, ``rehearse``) skips the
    second part; ``python -m trl_r1 check`` asks it (``trl_r1.recipe.check_machine``)."""
    from transformers.integrations import (  # names transformers.integrations exports (trl_r1/reaches.py)
        INTEGRATION_TO_CALLBACK,
        get_available_reporting_integrations,
        is_flytekit_available,
    )

    for config in configs:
        names = getattr(config, "report_to", None) or []  # TrainingArguments made it a list
        installed = set(get_available_reporting_integrations()) | ({"flyte"} if is_flytekit_available() else set())
        for name in names:
            if name not in INTEGRATION_TO_CALLBACK:
                raise ValueError(f"report_to: unknown integration {name!r}; transformers knows "
                                 f"{', '.join(sorted(INTEGRATION_TO_CALLBACK))} (or `none`)")
            if installed_here and name not in installed:
                raise ValueError(
                    f"report_to: {name!r} is not installed here (pip install {_TRACKER_PACKAGES.get(name, name)}; "
                    "the README's GPU install line installs wandb). Or report elsewhere: `--report_to trackio` "
                    "(a local dashboard, no account: pip install trackio; `trackio show`) or `--report_to none`")


# Fields naming the data a stage reads (a Hub id, or a local file or folder).
DATA_FIELDS = ("dataset_name", "general_dataset_name")


def check_local_data(configs, built=()) -> None:
    """A local data file or folder a recipe reads exists, or is one that an earlier stage of a
    pipeline writes (``built``: those paths): else the run would stop when it gets there."""
    from .data.loading import looks_local

    built = {str(Path(p)) for p in built}
    for config in configs:
        for key in DATA_FIELDS:
            name = getattr(config, key, None)
            if not isinstance(name, str) or not looks_local(name) or Path(name).expanduser().exists():
                continue
            if str(Path(name)) not in built:
                raise ValueError(f"{key}: {name} does not exist, and no earlier stage builds it (run the stage or "
                                 "command that writes it first, or run this recipe in a pipeline after that stage)")


def check_machine_for(configs, built=()) -> None:
    """What this machine must provide for one stage's configuration: its trackers installed, its
    local data present (or among ``built``, the paths earlier stages of a pipeline write)."""
    check_reporting(configs)
    check_local_data(configs, built)
