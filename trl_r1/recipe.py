"""What a recipe is, and turning one into validated configuration before anything loads.

A recipe is a YAML mapping: ``stage:`` names the stage kind (``python -m trl_r1 list``), an
optional ``hardware:`` the GPUs it is sized for (``trl_r1.plan.hardware``), every
other key is a field of that stage's configuration dataclasses (TRL's convention: YAML keys are
field names). Command-line ``--field value`` pairs override the YAML. Anything wrong (unknown
field, wrong type, bad value, unknown reward) fails here with the field named, before a model
or dataset is touched.

Each value is checked against its field's annotation by pydantic (:func:`check_field`), not by
TRL's argument parser: argparse converts only the command line's strings (a YAML value reaches
the dataclass unchecked: a float where an int belongs, a list of anything), and exits the
process on an error where a recipe's error should name its field and file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import enum
import functools
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import yaml

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
            raise RecipeError(f"{where}: unknown field `{key}` for stage `{stage.name}`.{_did_you_mean(key, fields)}")
    checked = {key: check_field(where, key, value, fields[key]) for key, value in values.items()}
    try:
        command_line = command_line_values(overrides, fields)
    except ValueError as e:
        raise RecipeError(f"{where}: {e} (stage `{stage.name}`)") from None
    checked.update({key: check_field(f"{where}, command line", key, value, fields[key])
                    for key, value in command_line.items()})

    parsed = dict(checked)
    if check_only and "use_cpu" in fields:
        # transformers refuses bf16 without a bf16-capable GPU unless `use_cpu`; a recipe for GPUs
        # checked here is parsed as if for CPU, then given its own `use_cpu` back.
        parsed["use_cpu"] = True
    try:
        with launch:
            configs = [_build(cls, parsed) for cls in stage.arguments]
    except (ValueError, TypeError) as e:
        raise RecipeError(f"{where}: {e}") from e
    if check_only and "use_cpu" in fields:
        for config in configs:
            if hasattr(config, "use_cpu"):
                config.use_cpu = checked.get("use_cpu", False)
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
    """Every init field of the stage's dataclasses, with its annotation resolved (TRL and
    transformers write theirs as strings: ``from __future__ import annotations``)."""
    fields: dict[str, Any] = {}
    for cls in classes:
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.init:
                fields.setdefault(f.name, hints.get(f.name, Any))
    return fields


def _build(cls: type, values: dict[str, Any]):
    """An instance of ``cls`` from the checked values of its fields (the rest: its defaults);
    a field of several of the stage's dataclasses gets the same value in each, as with TRL's parser."""
    return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.init and f.name in values})


def _did_you_mean(name: str, names) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f" Did you mean `{close[0]}`?" if close else ""


def check_field(where: str, key: str, value: Any, annotation: Any) -> Any:
    """``value`` as the field ``key``'s annotation says, checked by pydantic; else a
    :class:`RecipeError` naming the field, the type it takes, and ``where`` (the recipe file).

    Strict (no float for an int, no ``1`` for a bool), but a string (every command-line value;
    YAML's ``3e-6``, which PyYAML reads as a string) stands for the number or boolean it spells, or
    for the JSON it holds (a mapping for a ``dict`` field). Two rules for annotations beyond that:

    - ``SomeEnum | str`` (transformers' ``lr_scheduler_type``, ``eval_strategy``, ``optim``, ...):
      the string must be one of the enum's values, as transformers' ``__post_init__`` demands; it
      stays the string.
    - a type pydantic cannot build a validator for (an arbitrary class) is not checked here: the
      dataclass's own ``__post_init__`` is its check.

    >>> check_field("r.yaml", "max_steps", "7", int), check_field("r.yaml", "learning_rate", "3e-6", float)
    (7, 3e-06)
    >>> check_field("r.yaml", "max_steps", 7.5, int)
    Traceback (most recent call last):
    trl_r1.recipe_checks.RecipeError: r.yaml: `max_steps` must be int, got 7.5 (float): Input should be a valid integer
    """
    enum_class = _enum_of(annotation)
    adapter = _adapter(enum_class or annotation)
    if adapter is None:
        return value
    try:
        try:
            checked = adapter.validate_python(value, strict=True)
        except pydantic.ValidationError:
            if not _spelled(value):
                raise
            try:
                checked = adapter.validate_python(value)  # the string read as the value it spells
            except pydantic.ValidationError:
                if not isinstance(value, str):
                    raise
                checked = adapter.validate_json(value)  # a mapping or list written as JSON
    except pydantic.ValidationError as e:
        got = f"{value!r} ({type(value).__name__})"
        raise RecipeError(f"{where}: `{key}` must be {_describe(annotation)}, got {got}: {_first_error(e)}") from None
    return checked.value if enum_class is not None and isinstance(checked, enum_class) else checked


def _spelled(value: Any) -> bool:
    """A string, or a list of strings (a command-line list): text that spells its value."""
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _enum_of(annotation: Any) -> type[enum.Enum] | None:
    """The enum of an ``SomeEnum | str`` annotation (optionally ``| None``), else None."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    options = set(typing.get_args(annotation)) - {type(None)}
    enums = [o for o in options if isinstance(o, type) and issubclass(o, enum.Enum)]
    return enums[0] if len(enums) == 1 and options == {enums[0], str} else None


@functools.lru_cache(maxsize=None)
def _adapter(annotation: Any) -> pydantic.TypeAdapter | None:
    try:
        return pydantic.TypeAdapter(annotation)
    except (pydantic.PydanticSchemaGenerationError, pydantic.PydanticUserError):
        return None  # not a type pydantic can check: the dataclass checks it


def _first_error(error: pydantic.ValidationError) -> str:
    first = error.errors()[0]
    items = "".join(f"[{part}]" for part in first["loc"] if isinstance(part, int))  # which list element
    return f"{items} {first['msg']}".strip()


def _describe(annotation) -> str:
    """The type a field takes, in a user's words: ``list[str] | None``; ``one of 'no', 'steps', 'epoch'``.

    >>> from transformers.trainer_utils import IntervalStrategy
    >>> _describe(float), _describe(dict[str, Any] | None), _describe(IntervalStrategy | str)
    ('float', 'dict[str, Any] | None', "one of 'no', 'steps', 'epoch'")
    """
    if (enum_class := _enum_of(annotation)) is not None:
        return "one of " + ", ".join(repr(member.value) for member in enum_class)
    text = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    return re.sub(r"\b[a-z_][\w.]*\.(?=[A-Za-z_])", "", text)  # no module paths: `Any`, `DebugOption`


def _options(annotation) -> set:
    """The types a union annotation allows (the annotation itself for any other)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return set(typing.get_args(annotation))
    return {annotation}


def _takes_list(annotation) -> bool:
    return any(typing.get_origin(option) is list or option is list for option in _options(annotation))


def command_line_values(args: list[str], fields: dict[str, Any]) -> dict[str, Any]:
    """The command line's overrides, ``--field value``, as strings for :func:`check_field` to read.

    A list field takes every value up to the next ``--`` option; a boolean field takes none as
    true (``--use_vllm``) and ``--no_<field>`` as false; ``--field=value``, ``--field-name`` and
    a field's unique prefix (``--model`` for ``model_name_or_path``) work as with argparse.
    Anything else is a ValueError naming it.

    >>> fields = {"max_steps": int, "use_vllm": bool, "reflection_words": list[str]}
    >>> command_line_values(["--max-steps=7", "--no_use_vllm", "--reflection_words", "wait", "hmm"], fields)
    {'max_steps': '7', 'use_vllm': False, 'reflection_words': ['wait', 'hmm']}
    >>> command_line_values(["--max", "7", "--reflection", "wait"], fields)
    {'max_steps': '7', 'reflection_words': ['wait']}
    """
    values: dict[str, Any] = {}
    position = 0
    while position < len(args):
        option = args[position]
        position += 1
        if not option.startswith("--"):
            raise ValueError(f"unknown command-line argument {option!r}: options are `--field value`")
        name, inline, text = option[2:].partition("=")
        name = name.replace("-", "_")
        if name not in fields and len(prefixed := [f for f in fields if f.startswith(name)]) == 1:
            name = prefixed[0]
        given = [text] if inline else []
        while not inline and position < len(args) and not args[position].startswith("--"):
            given.append(args[position])
            position += 1
        if name not in fields and name.startswith("no_") and bool in _options(fields.get(name[3:])):
            if given:
                raise ValueError(f"`{option}` takes no value, got {given}")
            values[name[3:]] = False
            continue
        if name not in fields:
            raise ValueError(f"unknown command-line argument `{option}`.{_did_you_mean(name, fields)}")
        annotation = fields[name]
        if not given and bool in _options(annotation):
            values[name] = True
        elif not given:
            raise ValueError(f"`{option}` needs a value")
        elif _takes_list(annotation) and (len(given) > 1 or str not in _options(annotation)):
            values[name] = given
        elif len(given) == 1:
            values[name] = given[0]
        else:
            raise ValueError(f"`{option}` takes one value, got {given}")
    return values


def recipe_help(stage: Stage, prog: str) -> str:
    """``python -m trl_r1 RECIPE --help``: the stage's fields, their types, defaults and help."""
    lines = [f"usage: {prog} [--field value ...]", "", f"Fields of stage `{stage.name}` (YAML keys, or "
             "command-line overrides):"]
    fields = _fields(stage.arguments)
    seen = set()
    for cls in stage.arguments:
        for f in dataclasses.fields(cls):
            if not f.init or f.name in seen:
                continue
            seen.add(f.name)
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
            lines.append(f"  --{f.name}  {_describe(fields[f.name])}; default {default!r}")
            if f.metadata.get("help"):
                lines.append(f"      {f.metadata['help']}")
    return "\n".join(lines)
