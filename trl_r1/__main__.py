"""Command line: ``python -m trl_r1 RECIPE.yaml [--field value ...]`` (or ``accelerate launch -m trl_r1 ...``)."""

from __future__ import annotations

import sys
from pathlib import Path

USAGE = """\
usage: python -m trl_r1 RECIPE.yaml [--field value ...]
       accelerate launch [accelerate options] -m trl_r1 RECIPE.yaml [--field value ...]
       python -m trl_r1 RECIPE.yaml --help     the fields the recipe's stage accepts
       python -m trl_r1 check RECIPE.yaml [--num_processes N] [--num_machines M] ...
                                               validate a recipe (also one meant for GPUs) at the launch's
                                               size and stop; with a `hardware:` entry, also plan it (below)
       python -m trl_r1 plan RECIPE.yaml [--gpu H100-80GB --num_processes 16 --num_machines 2 ...]
                                               per-GPU peak memory, per-step work, fits or not
       python -m trl_r1 list                   recipes, stage kinds, rewards, built-in datasets
       python -m trl_r1 rehearse RECIPE.yaml   run a (GPU) recipe here in miniature, on the real engines
       python -m trl_r1 decontaminate TRAIN --against EVAL[:name] ... --output OUT
                                               drop training rows sharing a 10-gram with a test question
       python -m trl_r1 convert-lcb IN... OUT.jsonl [--since 2024-08-01 --until 2025-01-31]
                                               LiveCodeBench rows -> tests the `code` reward runs
       python -m trl_r1 compare METRICS.json ... [--paper]
                                               evaluations side by side, with the paper's numbers

Runs a recipe: a YAML file naming a `stage:` kind and its fields. --field value pairs on the
command line override the YAML (e.g. --max_steps 10 --output_dir /tmp/run).
"""


def recipes_dir() -> Path:
    """The repository's recipes/ folder (next to the package in a source checkout), else ./recipes."""
    here = Path(__file__).resolve().parent.parent / "recipes"
    return here if here.is_dir() else Path.cwd() / "recipes"


def list_everything() -> str:
    # Each command imports what it needs, so that `list` and `--help` answer at once.
    from trl_r1_rewards import available_rewards

    from .data.builtin import BUILTIN_DATASETS, BUILTIN_PREFIX
    from .models import EMBEDDED_MODELS, EMBEDDED_PREFIX
    from .stages import STAGES

    root = recipes_dir()
    lines = [f"Recipes ({root}):"]
    recipes = sorted(p for p in root.rglob("*.yaml") if "accelerate" not in p.parts) if root.is_dir() else []
    lines += [f"  {p.relative_to(root)}" for p in recipes] or ["  (none found)"]
    lines += ["", "Stage kinds:"] + [f"  {name:12s} {about}" for name, (_, about) in STAGES.items()]
    lines += ["", "Rewards (entry-point group trl_r1.rewards):"] + [f"  {name}" for name in available_rewards()]
    lines += ["", "Built-in datasets:"] + [f"  {BUILTIN_PREFIX}{name}" for name in BUILTIN_DATASETS]
    lines += ["", "Embedded models:"] + [f"  {EMBEDDED_PREFIX}{name}" for name in EMBEDDED_MODELS]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] == "list":
        print(list_everything())
        return 0
    if argv[0] == "decontaminate":
        from .data.decontaminate import main as decontaminate

        return decontaminate(argv[1:])
    if argv[0] == "convert-lcb":
        from .data.livecodebench import main as convert_lcb

        return convert_lcb(argv[1:])
    if argv[0] == "rehearse":
        from .rehearse import main as rehearse

        return rehearse(argv[1:])
    if argv[0] == "plan":
        from .plan import main as plan

        return plan(argv[1:])
    if argv[0] == "compare":
        from .generation.compare import main as compare

        return compare(argv[1:])

    from .recipe import RecipeError, check_machine, load_recipe, read_yaml

    check_only = argv[0] == "check"
    if check_only:
        argv = argv[1:]
        if not argv:
            print(USAGE, file=sys.stderr)
            return 2
    path, overrides = argv[0], argv[1:]
    processes = nodes = None
    if check_only:
        overrides, processes, nodes = _launch_flags(overrides)
    if "-h" in overrides or "--help" in overrides:
        from .recipe import recipe_help
        from .stages import get_stage

        print(recipe_help(get_stage(read_yaml(path).get("stage", "")), prog=f"python -m trl_r1 {path}"))
        return 0
    try:
        if check_only:
            from .plan import launch_gpus, launch_processes_of
            from .train.launch import at_launch_size

            values = read_yaml(path)
            hardware = values.get("hardware")
            processes = processes or launch_gpus(hardware, path, nodes) or launch_processes_of(hardware, path)
            with at_launch_size(processes):
                recipe = load_recipe(path, overrides, values=values, check_only=True)
            check_machine(recipe)  # what this machine must provide for the run: trackers, data
        else:
            recipe = load_recipe(path, overrides)
    except (RecipeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if check_only:
        at = f" at {processes} processes" if processes else ""
        print(f"{path}: valid `{recipe.stage.name}` recipe{at}")
        from .versions import attention_warnings, engine_warnings

        # an engine TRL does not support behaves otherwise on the cluster; a missing kernel fails late
        for warning in engine_warnings() + attention_warnings(recipe.configs):
            print(warning, file=sys.stderr)
        if recipe.hardware is None:
            return 0
        from .plan import check_fits

        return check_fits(path, overrides, processes, nodes, values)
    from .run_stage import run_stage

    run_stage(recipe)
    return 0


def _launch_flags(args: list[str]) -> tuple[list[str], int | None, int | None]:
    """``--num_processes N`` / ``--num_machines M`` (accelerate's names for the launch's size)
    taken out of ``check``'s arguments; the rest are the recipe's overrides."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m trl_r1 check", add_help=False, allow_abbrev=False)
    for name in ("--num_processes", "--num_machines"):
        parser.add_argument(name, type=int)
    launch, rest = parser.parse_known_args(args)
    for name, value in vars(launch).items():
        if value is not None and value < 1:
            raise SystemExit(f"error: --{name} takes a positive number, got {value}")
    return rest, launch.num_processes, launch.num_machines


if __name__ == "__main__":
    sys.exit(main())
