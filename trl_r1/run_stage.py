"""A pipeline's stage process: ``python -m trl_r1.run_stage RECIPE.yaml SUMMARY.json`` loads the
recipe, runs its stage and writes the stage's summary on the main process (``trl_r1.stages.pipeline``
starts these). It sits above the recipe loader, which the pipeline stage may not import."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .recipe import load_recipe
from .stages.pipeline import is_main_process


def main(recipe_file: str, summary_file: str) -> None:
    recipe = load_recipe(recipe_file)
    summary = recipe.stage.run(recipe) or {}
    if is_main_process():
        Path(summary_file).write_text(json.dumps(summary, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:])
