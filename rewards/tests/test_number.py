"""The `number` reward: the last number of the answer region against the gold number, so that
the output format alone earns nothing."""

from __future__ import annotations

import pytest
from trl_r1_rewards import (
    answer_groups,
    available_rewards,
    final_answer,
    gold_option,
    load_reward,
    reward_factory,
)


@pytest.fixture(scope="module")
def number():
    return load_reward("number")


def score(reward, completion, gold="77"):
    return reward(prompts=["q"], completions=[completion], solution=[gold])[0]


@pytest.mark.parametrize("completion", [
    "<think>\n49 + 28 = 77\n</think>\n\nThe answer is \\boxed{77}.",
    "<think>49 + 28 = 76? no</think> 77",
    "It is 77.",                                     # no think block: the whole completion is the answer
    "<think>x</think> The answer is 77.0",
    [{"role": "assistant", "content": "<think>x</think> 77"}],
])
def test_the_last_number_of_the_answer_counts(number, completion):
    assert score(number, completion) == 1.0


@pytest.mark.parametrize("completion", [
    "<think>\n49 + 28 = 77\n</think>",               # the right number only in the reasoning: no answer
    "<think>49 + 28 = 77",                           # never closed: no answer
    "<think>x</think> 77, or maybe 78",              # the last number is the answer
    "<think>x</think> \\boxed{}",                    # the format alone earns nothing
    "", None, 42, "\ud800", "<think>" * 10_000, "9" * 100_000,
])
def test_wrong_missing_or_garbage_is_zero(number, completion):
    assert score(number, completion) == 0.0


def test_a_gold_that_is_no_number_does_not_apply(number):
    assert score(number, "<think>x</think> 3", gold="\\frac{1}{2}") is None


def test_counts_answers_without_a_number(number):
    logged = {}
    number(prompts=["q"] * 2, completions=["<think>x", "<think>x</think> 5"], solution=["5", "5"],
           log_metric=logged.__setitem__)
    assert logged == {"number/no_number": 1.0}


def test_registered_and_describes_itself_for_evaluation(number):
    assert "number" in available_rewards()
    assert gold_option(reward_factory("number")) == "solution_column"
    assert final_answer(number, "<think>2 + 2 = 4</think> so 1,000") == "1000"
    assert answer_groups(number)([["7", "7.0", None, "8"]]) == [[0, 0, None, 1]]


def test_reads_the_gold_from_the_named_column():
    reward = load_reward("number", solution_column="gold")
    assert reward(prompts=["q"], completions=["5"], gold=["5"]) == [1.0]
    with pytest.raises(KeyError, match="solution_column"):
        reward(prompts=["q"], completions=["5"], solution=["5"])
