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

from .recipe_checks import (  # noqa: F401  (`RecipeError`, `read_yaml`, the checks: public here too)
    DATA_FIELDS,
    RecipeError,
    check_local_data,
    check_reporting,
    read_yaml,
)
from .stages import Stage, get_stage
from .train.launch import at_launch_size, launch_size_known


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

    @staticmethod
    def load(path: str | Path, values: dict | None = None, check_only: bool = False) -> Recipe:
        """Load another recipe (one this recipe names): how a stage module reaches the loader,
        which it may not import (see ``trl_r1.stages``)."""
        return load_recipe(path, values=values, check_only=check_only)


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
    # `hardware:` stays out of `values`: the recipe as it ran is written next to its outputs, where
    # the accelerate config's relative path would no longer resolve
    recipe = Recipe(Path(path) if path else None, stage, tuple(configs), {"stage": stage.name, **values}, overrides,
                    hardware)
    try:
        stage.validate(*configs)
        stage.check(recipe)  # the recipes it names, loaded
        check_reporting(configs, installed_here=not check_only)
        if not check_only:
            check_local_data(configs)
    except (ValueError, TypeError, KeyError) as e:
        raise RecipeError(f"{where}: {e}") from e
    return recipe


def check_machine(recipe: Recipe) -> None:
    """What this machine must provide for a recipe (each stage of a pipeline) to run: its
    trackers installed, its local data present or written by an earlier stage of the pipeline.
    ``python -m trl_r1 check`` and a pipeline's start ask it; a run asks it when it loads."""
    recipe.stage.machine_checks(recipe)


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
