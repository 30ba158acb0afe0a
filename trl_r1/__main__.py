"""Command line: ``python -m trl_r1 RECIPE.yaml [--field value ...]`` (or ``accelerate launch -m trl_r1 ...``)."""

from __future__ import annotations

import sys
from pathlib import Path

USAGE = """\
usage: python -m trl_r1 RECIPE.yaml [--field value ...]
       accelerate launch [accelerate options] -m trl_r1 RECIPE.yaml [--field value ...]
       python -m trl_r1 RECIPE.yaml --help     the fields the recipe's stage accepts
       python -m trl_r1 check RECIPE.yaml ...  validate a recipe (also one meant for GPUs) and stop;
                                               with a `hardware:` entry, also plan it (below)
       python -m trl_r1 plan RECIPE.yaml [--gpu H100-80GB --gpus 8 ...]
                                               per-GPU peak memory, per-step work, fits or not
       python -m trl_r1 list                   recipes, stage kinds, rewards, built-in datasets
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
    if argv[0] == "plan":
        from .plan import main as plan

        return plan(argv[1:])
    if argv[0] == "compare":
        from .generation.compare import main as compare

        return compare(argv[1:])

    from .recipe import RecipeError, load_recipe, read_yaml

    check_only = argv[0] == "check"
    if check_only:
        argv = argv[1:]
        if not argv:
            print(USAGE, file=sys.stderr)
            return 2
    path, overrides = argv[0], argv[1:]
    if "-h" in overrides or "--help" in overrides:
        from transformers import HfArgumentParser

        from .stages import get_stage

        stage = get_stage(read_yaml(path).get("stage", ""))
        HfArgumentParser(stage.arguments, prog=f"python -m trl_r1 {path}").print_help()
        return 0
    try:
        recipe = load_recipe(path, overrides, check_only=check_only)
    except RecipeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if check_only:
        print(f"{path}: valid `{recipe.stage.name}` recipe")
        if recipe.hardware is None:
            return 0
        from .plan import check_fits

        return check_fits(path, overrides)
    recipe.stage.run(recipe)
    return 0


if __name__ == "__main__":
    sys.exit(main())
