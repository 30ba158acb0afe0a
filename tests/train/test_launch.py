"""A recipe states its step's size; the launch's process count only changes how it is split."""

from __future__ import annotations

import pytest
from helpers import REPO, run_cli

from trl_r1.recipe import RecipeError, load_recipe
from trl_r1.train.launch import at_launch_size

ZERO = REPO / "recipes" / "zero.yaml"


@pytest.mark.parametrize(("processes", "accumulation"), [(8, 32), (16, 16), (32, 8)])
def test_questions_per_step_derives_accumulation_from_the_launchs_processes(processes, accumulation, monkeypatch):
    from trl_r1.train.launch import launch_processes

    monkeypatch.setenv("WORLD_SIZE", str(processes))  # what `accelerate launch` sets in every process
    assert launch_processes() == processes
    monkeypatch.delenv("WORLD_SIZE")  # (a process group is not started here: the size is given instead)
    with at_launch_size(processes):
        args = load_recipe(ZERO, ["--report_to", "none"], check_only=True).configs[1]
    assert args.gradient_accumulation_steps == accumulation
    assert args.per_device_train_batch_size * accumulation * processes == 32 * args.num_generations


def test_sequences_per_step_does_the_same_for_sft_and_a_size_given_by_check_or_plan_wins():
    with at_launch_size(16):
        args = load_recipe(REPO / "recipes/distill/qwen2.5-32b.yaml", ["--report_to", "none"],
                           check_only=True).configs[1]
    assert args.gradient_accumulation_steps == 8 and args.launch_processes == 16


def test_a_launch_size_that_cannot_split_the_step_is_refused_with_the_sizes_that_can():
    with at_launch_size(24), pytest.raises(RecipeError, match=r"32 questions x 16\) per step cannot be split over 24 processes.*"
                                          r"launch on one of 1, 2, 4, 8, 16, 32"):
        load_recipe(ZERO, ["--report_to", "none"], check_only=True)


def test_stating_the_steps_size_and_its_accumulation_both_is_refused():
    with pytest.raises(RecipeError, match="remove gradient_accumulation_steps"):
        load_recipe(ZERO, ["--report_to", "none", "--gradient_accumulation_steps", "4"], check_only=True)


def test_plan_on_two_nodes_states_the_same_32_questions_x_16_completions_as_one():
    one = run_cli("plan", str(ZERO), "--report_to", "none", "--json")
    two = run_cli("plan", str(ZERO), "--report_to", "none", "--num_machines", "2", "--json")
    import json

    (one,), (two,) = json.loads(one.stdout), json.loads(two.stdout)
    assert (one["per_step"]["questions"], one["per_step"]["completions"]) == ("32", "512")
    assert (two["per_step"]["questions"], two["per_step"]["completions"]) == ("32", "512")
    assert one["per_step"]["layout"] == "2 x 32 accumulation x 8 processes"
    assert two["per_step"]["layout"] == "2 x 16 accumulation x 16 processes" and "16x" in two["hardware"]


def test_check_takes_the_launchs_size_as_accelerate_names_it():
    result = run_cli("check", str(ZERO), "--report_to", "none", "--num_processes", "32", "--num_machines", "4")
    assert "valid `grpo` recipe at 32 processes" in result.stdout
    assert "per step: questions 32, completions 512 (2 x 8 accumulation x 32 processes)" in result.stdout
