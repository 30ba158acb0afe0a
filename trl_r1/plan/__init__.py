"""``python -m trl_r1 plan RECIPE.yaml``: does a recipe fit its GPUs, before it queues for them.

``plan_recipe`` returns one ``StagePlan`` per stage (a pipeline: one per link) with the per-GPU
peak memory by part, per-step work and time, a verdict, and the change that makes it fit.
The hardware comes from the recipe's ``hardware:`` mapping (see ``hardware``), or the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from ..train.launch import at_launch_size
from .hardware import Hardware, from_recipe
from .planner import (
    TRAINING,
    Options,
    StagePlan,
    plan_generation,
    plan_training,
    recipe_lineage,
    resolve_model,
)

__all__ = ["Options", "StagePlan", "check_fits", "plan_recipe", "main"]

def _recipes_root(path: Path) -> Path:
    """The ``recipes/`` folder a recipe lives in (to find which recipe writes a model), else its own."""
    for parent in path.resolve().parents:
        if parent.name == "recipes":
            return parent
    return path.resolve().parent


def _hardware(recipe, hardware_overrides: dict, nodes: int | None) -> Hardware:
    spec = {**(recipe.hardware or {}), **hardware_overrides}
    if "gpu" not in spec:
        raise ValueError(f"{recipe.path}: the recipe names no hardware: add `hardware: {{gpu: H100-80GB, "
                         "accelerate_config: ...}` to it, or pass --gpu H100-80GB [--gpus 8] [--accelerate_config FILE]")
    hw = from_recipe(spec, recipe.path)
    return replace(hw, nodes=nodes) if nodes else hw


def _plan_one(recipe, name: str, hw: Hardware, lineage: dict, options: Options) -> StagePlan:
    model = options.model_shape or _model_of(recipe)
    shape = resolve_model(model, lineage)
    if recipe.stage.plan_as in TRAINING:
        return plan_training(recipe, name, hw, shape, lineage, options)
    return plan_generation(recipe, name, hw, shape, options)


def _model_of(recipe) -> str:
    for config in recipe.configs:
        if getattr(config, "model_name_or_path", None):
            return config.model_name_or_path
    raise ValueError(f"{recipe.path}: no model_name_or_path")


def plan_recipe(path: str | Path, overrides: list[str] | None = None, options: Options | None = None,
                hardware_overrides: dict | None = None, nodes: int | None = None,
                values: dict | None = None) -> list[StagePlan]:
    """Plan a recipe (with ``--field value`` overrides) on the hardware it names, or on
    ``hardware_overrides`` (keys of a recipe's ``hardware:``), at that hardware's process count:
    a recipe that states its step's size (``questions_per_step``) derives its accumulation there.
    ``values``: the recipe file's YAML, where the caller has read it already."""
    from ..recipe import read_yaml

    options = options or Options()
    hardware_overrides = dict(hardware_overrides or {})
    values = read_yaml(path) if values is None else values
    with at_launch_size(launch_processes_of(values.get("hardware"), path, hardware_overrides)):
        return _plan_recipe(path, values, overrides, options, hardware_overrides, nodes)


def launch_processes_of(hardware: dict | None, path, hardware_overrides: dict | None = None) -> int | None:
    """The process count a recipe is launched with: the command line's (``gpus``), else its
    ``hardware:`` mapping's (its accelerate config's ``num_processes``), else None (this machine's).
    ``path``: the recipe's file, which a relative accelerate config is resolved against."""
    hardware_overrides = hardware_overrides or {}
    if hardware_overrides.get("gpus"):
        return int(hardware_overrides["gpus"])
    spec = {**(hardware or {}), **hardware_overrides}
    if "gpu" not in spec:
        return None
    return from_recipe(spec, path).gpus


def launch_gpus(hardware: dict | None, path, nodes: int | None, accelerate_config: str | None = None) -> int | None:
    """Processes of a launch on ``nodes`` nodes, each with as many GPUs as a node of the recipe's
    accelerate config (its ``hardware:`` mapping's, or ``accelerate_config``) has; None without ``nodes``."""
    if not nodes:
        return None
    spec = dict(hardware or {})
    if accelerate_config:
        spec["accelerate_config"] = str(Path(accelerate_config).resolve())
    if "gpu" not in spec or not spec.get("accelerate_config"):
        raise ValueError(f"{path}: --num_machines {nodes} needs the GPUs per node: add --num_processes "
                         "(GPUs in all) or an accelerate config (--accelerate_config, or the recipe's hardware:)")
    hw = from_recipe(spec, path)
    return nodes * max(1, hw.gpus // max(1, hw.nodes))


def _plan_recipe(path, values, overrides, options, hardware_overrides, nodes) -> list[StagePlan]:
    from ..recipe import load_recipe

    recipe = load_recipe(path, overrides, values=values, check_only=True)
    lineage = recipe_lineage(_recipes_root(Path(path)))
    parts = recipe.stage.parts(recipe)
    if parts is None:
        return [_plan_one(recipe, Path(path).name, _hardware(recipe, hardware_overrides, nodes), lineage, options)]
    plans = []
    for step, stage_recipe in parts:
        if recipe.hardware and not stage_recipe.hardware:
            stage_recipe.hardware = recipe.hardware
        model = getattr(stage_recipe.configs[0], "model_name_or_path", None) or _model_of(stage_recipe)
        lineage[str(step.output_dir)] = model
        hw = _hardware(stage_recipe, hardware_overrides, nodes)
        plans.append(_plan_one(stage_recipe, step.name, hw, lineage, options))
    return plans


def check_fits(path: str, overrides: list[str], processes: int | None = None, nodes: int | None = None,
               values: dict | None = None) -> int:
    """`check` on a recipe that names its hardware: plan it (at ``processes`` on ``nodes`` when
    given), fail when a stage does not fit. ``values``: its YAML, where already read."""
    try:
        plans = plan_recipe(path, overrides, hardware_overrides={"gpus": processes} if processes else None,
                            nodes=nodes, values=values)
    except (LookupError, ValueError) as e:
        print(f"error: {path}: cannot plan it on its hardware: {e}", file=sys.stderr)
        return 2
    for plan in plans:
        print(f"  {plan.name} on {plan.hardware.describe()}: {plan.verdict()}")
        if "layout" in plan.per_step:
            sizes = ", ".join(f"{k} {plan.per_step[k]}" for k in ("questions", "completions", "sequences")
                              if k in plan.per_step)
            print(f"    per step: {sizes} ({plan.per_step['layout']})")
    failed = [plan for plan in plans if not plan.fits]
    for plan in failed:
        print(f"\n{plan.to_text()}", file=sys.stderr)
        print(f"error: {path}: stage {plan.name!r} does not fit its hardware; fix: {plan.fix}", file=sys.stderr)
    return 2 if failed else 0


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trl_r1 plan",
        description="Per-GPU peak memory, per-step work and a verdict for a recipe on its GPUs. Other --field "
                    "value pairs override the recipe, as when running it.")
    parser.add_argument("recipe")
    parser.add_argument("--gpu", help="GPU kind: H100-80GB, H200-141GB, A100-80GB, A100-40GB or NAME-<N>GB")
    parser.add_argument("--gpu_memory", help="GPU memory, e.g. 80GB (instead of --gpu)")
    parser.add_argument("--gpus", "--num_processes", dest="gpus", type=int,
                        help="processes (GPUs) in all, every node together (accelerate's --num_processes)")
    parser.add_argument("--nodes", "--num_machines", dest="nodes", type=int,
                        help="nodes (accelerate's --num_machines); without --gpus, each node has the accelerate "
                             "config's GPUs")
    parser.add_argument("--accelerate_config", help="accelerate config file: processes, ZeRO stage, offload")
    parser.add_argument("--host_memory", help="CPU RAM per node, e.g. 2TB (checks what ZeRO offload keeps there)")
    parser.add_argument("--model_shape", help="plan as this model: a shipped id or a folder with config.json")
    parser.add_argument("--prompt_tokens", type=int, help="prompt length to assume (default: from the recipe, else 512)")
    parser.add_argument("--mfu", type=float, default=0.4, help="training's share of peak FLOPs (default 0.4)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    return parser


def main(argv: list[str]) -> int:
    """Exit status 0 when every stage fits, 1 when one does not, 2 on a bad recipe or option."""
    from ..recipe import RecipeError, read_yaml
    from .shapes import UnknownModel

    args, overrides = make_parser().parse_known_args(argv)
    try:
        values = read_yaml(args.recipe)
        gpus = args.gpus or launch_gpus(values.get("hardware"), args.recipe, args.nodes, args.accelerate_config)
    except ValueError as e:
        print(f"error: {e}")
        return 2
    hardware = {k: v for k, v in (("gpu", args.gpu or (args.gpu_memory and f"GPU-{args.gpu_memory}")),
                                  ("gpus", gpus)) if v}
    if args.accelerate_config:
        hardware["accelerate_config"] = str(Path(args.accelerate_config).resolve())
    if args.host_memory:
        hardware["host_memory"] = args.host_memory
    options = Options(model_shape=args.model_shape, prompt_tokens=args.prompt_tokens, mfu=args.mfu)
    try:
        plans = plan_recipe(args.recipe, overrides, options, hardware, args.nodes, values)
    except (RecipeError, UnknownModel, ValueError) as e:
        print(f"error: {e}")
        return 2
    if args.json:
        print(json.dumps([{"stage": p.name, "kind": p.kind, "model": p.model.name, "hardware": p.hardware.describe(),
                           "parts_gib": {q.name: round(q.bytes / 2**30, 2) for q in p.parts},
                           "peak_gib": round(p.peak / 2**30, 2), "usable_gib": round(p.budget / 2**30, 2),
                           "fits": p.fits, "per_step": p.per_step, "notes": p.notes, "fix": p.fix} for p in plans],
                         indent=1))
    else:
        print("\n\n".join(p.to_text() for p in plans))
    return 0 if all(p.fits for p in plans) else 1
