"""Stage ``evaluate``: sample k answers per benchmark question and score them as R1 does: pass@1,
pass@k and cons@k by the scorer reward, the same definition training uses (docs/stages.md,
"evaluate"). The evaluation itself is :mod:`trl_r1.generation.evaluation`'s, which training
stages use too.
"""

from __future__ import annotations

from pathlib import Path

from ..generation.arguments import rehearsal_prompts
from ..generation.evaluation import EvalConfig, evaluate

ARGUMENTS = (EvalConfig,)
PLAN_AS = "generation"  # how `plan` sizes it (trl_r1/plan/planner.py)


def rehearsal_limits(size) -> dict:
    """Field -> value in a rehearsal (``rehearse``; ``size`` is trl_r1/rehearse/scale.py, with its sizes)."""
    return dict(size.GENERATION_LIMITS)


def rehearsal_data(values: dict, folder: Path, standins, splits) -> str:
    """The built-in stand-in ``rehearse`` uses for a Hub ``dataset_name`` (``standins`` is
    trl_r1/rehearse/standins.py; ``splits(*fields, default=...)`` the splits the recipe names)."""
    return rehearsal_prompts(values, folder, standins, splits, split="test", answer="answer")


def validate(config: EvalConfig) -> None:
    if config.scorer is None:
        raise ValueError("scorer: an evaluation needs a scorer reward (e.g. accuracy)")
    config.check_generation("evaluate")


def run(recipe) -> dict:
    (config,) = recipe.configs
    return evaluate(config)
