"""What every reward shares: a caller's mistake in the batch's shape is named, never a zip() error."""

import pytest
from trl_r1_rewards import load_reward
from trl_r1_rewards.routing import for_tasks

REWARDS = [("accuracy", {}), ("format", {}), ("language_consistency", {}), ("choice", {}), ("code", {}),
           ("safety", {"model": "never/loaded"})]


@pytest.mark.parametrize("name, options", REWARDS, ids=[name for name, _ in REWARDS])
def test_a_column_of_the_wrong_length_is_named_with_both_lengths(name, options):
    reward = load_reward(name, **options)
    with pytest.raises(ValueError, match=rf"Reward '{name}' got 2 completions but 1 value in column 'solution'"):
        reward(["q", "q"], ["a", "b"], solution=["1"])


@pytest.mark.parametrize("name, options", REWARDS, ids=[name for name, _ in REWARDS])
def test_prompts_of_the_wrong_length_are_an_error_in_every_reward(name, options):
    reward = load_reward(name, **options)
    with pytest.raises(ValueError, match="got 2 completions but 3 prompts"):
        reward(["q"] * 3, ["a", "b"], solution=["1", "1"])


def test_a_routed_reward_names_the_wrong_column_too():
    reward = for_tasks(load_reward("accuracy"), ["math"])
    with pytest.raises(ValueError, match="got 2 completions but 1 value in column 'task'"):
        reward(["q", "q"], ["a", "b"], solution=["1", "1"], task=["math"])


def test_trl_arguments_that_are_not_columns_are_left_alone():
    reward = load_reward("format")
    assert reward(["q"], ["<think>a</think><answer>1</answer>"], trainer_state=None, log_metric=lambda *a: None,
                  log_extra=lambda *a: None, completion_ids=[[1, 2]]) == [1.0]
