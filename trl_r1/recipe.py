"""What a recipe is, and turning one into validated configuration before anything loads.

A recipe is a YAML mapping: ``stage:`` names the stage kind (``python -m trl_r1 list``), an
optional ``hardware:`` the GPUs it is sized for (``trl_r1.plan.hardware``), every
other key is a field of that stage's configuration dataclasses (TRL's convention: YAML keys are
field names). Command-line ``--field value`` pairs override the YAML. Anything wrong (unknown
field, wrong type, bad value, unknown reward) fails here with the field named, before a model
or dataset is touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import enum
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from trl import TrlParser

from .stages import Stage, get_stage
from .train.launch import at_launch_size, launch_size_known


class RecipeError(ValueError):
    """A recipe (or its command-line overrides) is invalid; the message names the field."""


@dataclass
class Recipe:
    path: Path | None
    stage: Stage
    configs: tuple  # one instance per dataclass in stage.arguments, in that order
    values: dict[str, Any]  # the YAML values the recipe was built from (for cards and logs)
    overrides: list[str]
    hardware: dict | None = None  # the `hardware:` mapping: what `plan` and `check` size it for

    def to_yaml(self) -> str:
        """The recipe as it ran: its YAML, then the command-line overrides as a comment."""
        text = yaml.safe_dump(self.values, sort_keys=False)
        if self.overrides:
            text += f"# command-line overrides: {' '.join(self.overrides)}\n"
        return text

    def config(self, cls: type):
        """The configuration instance of (a subclass of) ``cls``."""
        return next(c for c in self.configs if isinstance(c, cls))


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


def load_recipe(
    path: str | Path | None,
    overrides: list[str] | None = None,
    values: dict | None = None,
    check_only: bool = False,
) -> Recipe:
    """Parse and validate a recipe file (or a ``values`` mapping) with command-line overrides.

    ``check_only`` validates a recipe meant for other hardware (GPUs) on this machine; the
    result is for inspection, not for running here, and what this machine lacks for the run
    (trackers, local data) is left to :func:`check_machine`.
    """
    return _load_recipe(path, overrides, values, check_only)


def _load_recipe(path, overrides, values, check_only) -> Recipe:
    overrides = list(overrides or [])
    where = str(path) if path is not None else "recipe"
    values = dict(read_yaml(path) if values is None else values)
    if "stage" not in values:
        raise RecipeError(f"{where}: missing `stage:` (one of the stage kinds in `python -m trl_r1 list`)")
    try:
        stage = get_stage(values.pop("stage"))
    except KeyError as e:
        raise RecipeError(f"{where}: {e.args[0]}") from None
    hardware = values.pop("hardware", None)
    launch = contextlib.nullcontext()
    if hardware is not None:
        from .plan.hardware import from_recipe

        try:
            planned = from_recipe(hardware, path)
        except ValueError as e:
            raise RecipeError(f"{where}: {e}") from None
        if check_only and not launch_size_known():  # checked for its GPUs: at their process count
            launch = at_launch_size(planned.gpus)

    prepare = getattr(stage.module, "prepare", None)  # a stage may resolve paths against its file
    if prepare is not None:
        values = prepare(values, path)
    fields = _fields(stage.arguments)
    for key in values:
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1)
            hint = f" Did you mean `{close[0]}`?" if close else ""
            raise RecipeError(f"{where}: unknown field `{key}` for stage `{stage.name}`.{hint}")
    checked = {key: _coerce(where, key, value, fields[key]) for key, value in values.items()}

    parsed = dict(checked)
    if check_only and "use_cpu" in fields:
        # transformers refuses bf16 without a bf16-capable GPU unless `use_cpu`; a recipe for GPUs
        # checked here is parsed as if for CPU, then given its own `use_cpu` back.
        parsed["use_cpu"] = True
    parser = TrlParser(stage.arguments)
    parser.set_defaults_with_config(**parsed)  # YAML values become defaults; the command line overrides them
    try:
        with launch:
            configs = parser.parse_args_into_dataclasses(args=overrides, return_remaining_strings=True)
    except (ValueError, TypeError) as e:
        raise RecipeError(f"{where}: {e}") from e
    *configs, remaining = configs
    if check_only and "use_cpu" in fields:
        for config in configs:
            if hasattr(config, "use_cpu"):
                config.use_cpu = checked.get("use_cpu", False)
    if remaining:
        raise RecipeError(f"{where}: unknown command-line argument(s) {remaining} for stage `{stage.name}`")
    try:
        stage.validate(*configs)
        check_reporting(configs, installed_here=not check_only)
        if not check_only:
            check_local_data(configs)
    except (ValueError, TypeError, KeyError) as e:
        raise RecipeError(f"{where}: {e}") from e
    # `hardware:` stays out of `values`: the recipe as it ran is written next to its outputs, where
    # the accelerate config's relative path would no longer resolve
    return Recipe(Path(path) if path else None, stage, tuple(configs), {"stage": stage.name, **values}, overrides,
                  hardware)


# pip packages of the `report_to` integrations whose package is not named as the integration.
_TRACKER_PACKAGES = {"azure_ml": "azureml-core", "flyte": "flytekit", "kubeflow": "kubeflow"}


def check_reporting(configs, installed_here: bool = True) -> None:
    """Every `report_to` integration is one transformers knows and, with ``installed_here``, is
    installed on this machine: transformers itself finds out only when the trainer starts, after
    the model loaded. A recipe checked for other hardware (``plan``, ``rehearse``) skips the
    second part; ``python -m trl_r1 check`` asks it (:func:`check_trackers_installed`)."""
    from transformers.integrations.integration_utils import (
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


def check_machine(recipe: Recipe) -> None:
    """What this machine must provide for a recipe (each stage of a pipeline) to run: its
    trackers installed, its local data present or written by an earlier stage of the pipeline.
    ``python -m trl_r1 check`` and a pipeline's start ask it; a run asks it when it loads."""
    if recipe.stage.name != "pipeline":
        check_reporting(recipe.configs)
        check_local_data(recipe.configs)
        return
    pipeline, built = recipe.stage.module, []
    for step, stage_recipe in pipeline.stage_recipes(recipe.configs[0]):
        try:
            check_reporting(stage_recipe.configs)
            check_local_data(stage_recipe.configs, built)
        except ValueError as e:
            raise ValueError(f"stage {step.name!r}: {e}") from None
        built += pipeline.promised(step, stage_recipe.stage.name).values()


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


def _fields(classes) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.init:
                fields.setdefault(f.name, hints.get(f.name, Any))
    return fields


_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


def _coerce(where: str, key: str, value: Any, annotation: Any) -> Any:
    """Check a YAML value against its field's type, converting strings (YAML reads ``3e-6`` as a
    string) where the type is numeric or boolean."""
    if value is None:
        if _allows_none(annotation):
            return None
        raise RecipeError(f"{where}: `{key}` may not be null")
    try:
        return _convert(value, annotation)
    except (TypeError, ValueError):
        raise RecipeError(
            f"{where}: `{key}` must be {_describe(annotation)}, got {value!r} ({type(value).__name__})"
        ) from None


def _allows_none(annotation) -> bool:
    return annotation is Any or type(None) in typing.get_args(annotation)


def _convert(value: Any, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(annotation):
            if option is type(None):
                continue
            try:
                return _convert(value, option)
            except (TypeError, ValueError):
                pass
        raise TypeError
    if origin is typing.Literal:
        if value in typing.get_args(annotation):
            return value
        raise ValueError
    if origin in (list, tuple):
        if isinstance(value, (list, tuple)):
            return list(value)
        raise TypeError
    if origin is dict or annotation is dict:
        if isinstance(value, (dict, str)):
            return value
        raise TypeError
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise TypeError
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            return int(value)
        raise TypeError
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            return float(value)
        raise TypeError
    if annotation is str:
        if isinstance(value, str):
            return value
        raise TypeError
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return annotation(value).value if not isinstance(value, annotation) else value
    return value  # types we do not check (the dataclass validates them)


def _describe(annotation) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")
