"""Running a recipe's stage: what ``python -m trl_r1 RECIPE.yaml`` does, and what each stage process
of a pipeline does (``python -m trl_r1.run_stage RECIPE.yaml SUMMARY.json``: load the recipe, run
it, write its summary on the main process; ``trl_r1.stages.pipeline`` starts them).

In a process that ``python -m trl_r1 rehearse`` launched (``$TRL_R1_REHEARSAL`` names the
rehearsal's folder, read at the call) the run is also recorded for the rehearsal's table
(trl_r1/rehearse/record.py). It sits above the recipe loader, which the pipeline stage may not
import (``trl_r1.stages``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .recipe import load_recipe
from .stages.pipeline import is_main_process


def run_stage(recipe) -> dict:
    """Run ``recipe``'s stage; its summary."""
    from .rehearse import WORKDIR_ENV

    if folder := os.environ.get(WORKDIR_ENV):
        from .rehearse.record import run_recorded

        return run_recorded(recipe, Path(folder))
    return recipe.stage.run(recipe)


def main(recipe_file: str, summary_file: str) -> None:
    recipe = load_recipe(recipe_file)
    summary = run_stage(recipe) or {}
    if is_main_process():
        Path(summary_file).write_text(json.dumps(summary, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:])
