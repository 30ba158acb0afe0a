"""Stage kinds: what a recipe's ``stage:`` names. One module per kind.

A stage module defines ``ARGUMENTS`` (its configuration dataclasses, whose fields are the
recipe's keys), ``validate(*configs)`` (cheap checks that need no model), and
``run(recipe) -> dict``: the stage's summary, with ``model`` (the folder of the model it saved)
or ``dataset`` (the ``save_to_disk`` folder it wrote) and its key metrics, which a pipeline
passes on to later stages. Optionally ``prepare(values, path)`` rewrites the recipe's YAML
values before they are parsed (e.g. paths relative to the recipe's file).

Other layers ask a stage what they need to know of it through optional hooks, never by its name
(``Stage`` gives each its default):

- ``check(recipe)``: checks that load the recipes this one names (a pipeline's stages, an
  evaluation recipe), through ``recipe.load``; run when the recipe loads.
- ``parts(recipe)``: the ``(step, recipe)`` pairs a recipe made of other recipes runs (a
  pipeline's); ``plan`` and ``check`` look at each.
- ``machine_checks(recipe)``: what this machine must provide for the run (default: its trackers
  installed, its local data present).
- ``rehearsal_limits(size)``, ``rehearsal_data(values, folder, standins, splits)``: how
  ``rehearse`` scales the recipe down and what stands in for its Hub dataset (trl_r1/rehearse/);
  ``rehearsal(...)``: a recipe made of recipes rewrites itself for a rehearsal (a pipeline);
  ``REHEARSAL_CORRECT_SAMPLES``: a rehearsal writes stand-in correct samples where the miniature
  model kept none (``sample``).
- ``artifacts(output_dir)``: what a run leaves to later stages of a pipeline (default: a training
  stage's model, in ``output_dir``; nothing for the others).
- ``PLAN_AS``: how ``plan`` sizes the stage's work (``trl_r1.plan.planner``: ``rollouts``,
  ``language_model``, ``score_head``, ``generation``, the default).
- ``CARD``: what the model card of a training stage says of its training (a
  ``trl_r1.train.hub.Card``: the method, the headline metric, the other metrics, the plot's
  caption; default: the stage's name, its loss).

Whether a stage trains (its configuration is a ``TrainingArguments``) is read from ``ARGUMENTS``.

A stage module never imports the recipe loader (``trl_r1.recipe``), which finds stage modules by
name: what both use lives in ``trl_r1.recipe_checks``, and the loader reaches a stage module as
``recipe.load``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from ..recipe_checks import check_machine_for

STAGES = {
    "grpo": ("trl_r1.stages.grpo", "GRPO with rule-based (and model-based) rewards: R1-Zero, R1 stages 2 and 4"),
    "sft": ("trl_r1.stages.sft", "supervised fine-tuning on R1-format reasoning: cold start, stage-3 SFT, distillation"),
    "reward_model": ("trl_r1.stages.reward_model", "pointwise reward model (safety classifier, helpfulness score) for R1 stage 4"),
    "pipeline": ("trl_r1.stages.pipeline", "stage recipes run in order, artifacts passed by name; resumable"),
    "evaluate": ("trl_r1.stages.evaluate", "pass@1 over k samples, pass@k, cons@k on a benchmark (R1's protocol)"),
    "sample": ("trl_r1.stages.sample", "rejection sampling: k responses per prompt, keep the correct and readable ones (R1 stage 3 data)"),
}


@dataclass(frozen=True)
class Stage:
    name: str
    module: ModuleType

    @property
    def arguments(self) -> tuple[type, ...]:
        return self.module.ARGUMENTS

    def validate(self, *configs) -> None:
        self.module.validate(*configs)

    def run(self, recipe) -> dict:
        return self.module.run(recipe)

    @property
    def trains(self) -> bool:
        """Whether the stage trains a model (its configuration is a ``TrainingArguments``)."""
        from transformers import TrainingArguments

        return any(issubclass(cls, TrainingArguments) for cls in self.arguments)

    @property
    def trains_a_language_model(self) -> bool:
        """Whether the model it trains generates text (so that evaluating it means something)."""
        return self.plan_as in ("rollouts", "language_model")

    def artifacts(self, output_dir) -> dict[str, str]:
        """What a run in ``output_dir`` leaves to later stages of a pipeline (``${stage.model}``,
        ``${stage.dataset}``), known before it runs: the hook's, else a training stage's model."""
        if hasattr(self.module, "artifacts"):
            return self.module.artifacts(output_dir)
        return {"model": str(output_dir)} if self.trains else {}

    @property
    def made_of_parts(self) -> bool:
        """Whether a recipe of this kind is made of other recipes (a pipeline: see ``parts``)."""
        return hasattr(self.module, "parts")

    def rehearsal_limits(self, size) -> dict:
        return self.module.rehearsal_limits(size) if hasattr(self.module, "rehearsal_limits") else {}

    def rehearsal_data(self, values: dict, folder, standins, splits) -> str | None:
        """The stand-in for the recipe's Hub dataset in a rehearsal; None: the stage reads none."""
        hook = getattr(self.module, "rehearsal_data", None)
        return hook(values, folder, standins, splits) if hook else None

    @property
    def card(self):
        """What the model card says of the stage's training (``trl_r1.train.hub.Card``); None: the default."""
        return getattr(self.module, "CARD", None)

    @property
    def plan_as(self) -> str:
        return getattr(self.module, "PLAN_AS", "generation")

    def check(self, recipe) -> None:
        if hasattr(self.module, "check"):
            self.module.check(recipe)

    def parts(self, recipe) -> list[tuple] | None:
        """The steps and recipes a recipe of this kind is made of; None for a single stage."""
        return self.module.parts(recipe) if self.made_of_parts else None

    def machine_checks(self, recipe) -> None:
        if hasattr(self.module, "machine_checks"):
            self.module.machine_checks(recipe)
        else:
            check_machine_for(recipe.configs)


def get_stage(name: str) -> Stage:
    if name not in STAGES:
        raise KeyError(f"unknown stage `{name}`; stage kinds: {', '.join(STAGES)}")
    return Stage(name, importlib.import_module(STAGES[name][0]))
