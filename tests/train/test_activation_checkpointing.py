"""Activation checkpointing under transformers 5's name: no configuration or training run of ours
warns about a deprecated name, and the old name still works where a recipe writes it."""

from __future__ import annotations

import warnings

import pytest
from helpers import run_recipe, tiny_recipe

from trl_r1.stages.reward_model import RewardModelConfig
from trl_r1.stages.sft import R1SFTConfig
from trl_r1.train.config import R1GRPOConfig

BASE = {"output_dir": "/tmp/trl-r1-test-checkpointing", "use_cpu": True, "report_to": "none"}


def _deprecations(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, FutureWarning) and "checkpointing" in str(w.message)]


@pytest.mark.parametrize(("config", "default"), [(R1GRPOConfig, True), (R1SFTConfig, True), (RewardModelConfig, False)],
                         ids=lambda c: getattr(c, "__name__", str(c)))
def test_a_configuration_keeps_its_default_and_warns_about_no_deprecated_name(config, default):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        args = config(**BASE)
        off = config(**BASE, activation_checkpointing=False)
    assert not _deprecations(caught)
    assert (args.activation_checkpointing, args.gradient_checkpointing) == (default, default)  # the planner reads the old name
    assert (off.activation_checkpointing, off.gradient_checkpointing) == (False, False)


def test_the_old_name_in_a_recipe_still_works_and_warns():
    with pytest.warns(FutureWarning, match="`gradient_checkpointing` is deprecated"):
        args = R1GRPOConfig(**BASE, gradient_checkpointing=False)
    assert (args.activation_checkpointing, args.gradient_checkpointing) == (False, False)


def test_a_grpo_run_warns_about_no_deprecated_name(tiny_model, tmp_path):
    """TRL 1.16 reads `model.is_gradient_checkpointing` before every generation; transformers
    deprecates the name: R1GRPOTrainer's training silences exactly that warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_recipe(tiny_recipe(tiny_model, tmp_path / "out", max_steps=1))
    assert not _deprecations(caught)
