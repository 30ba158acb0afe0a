"""The `choice` reward (GPQA-style multiple choice): good, bad and hostile input."""

from __future__ import annotations

import pytest
from trl_r1_rewards import load_reward


@pytest.fixture(scope="module")
def choice():
    return load_reward("choice")


def score(reward, completion, gold="C"):
    return reward(prompts=["q"], completions=[completion], solution=[gold])[0]


@pytest.mark.parametrize("completion", [
    r"<think>A? no.</think> The answer is \boxed{C}.",
    r"<think>..</think> \boxed{(C)}",
    r"<think>..</think> \boxed{\text{C}}",
    "<think>..</think> Answer: (c)",
    "<think>..</think> So the answer is **C**.",
    "<think>..</think> C",
    [{"role": "assistant", "content": r"<think>x</think>\boxed{C}"}],
])
def test_right_letter(choice, completion):
    assert score(choice, completion) == 1.0


@pytest.mark.parametrize("completion", [
    r"<think>..</think> \boxed{B}",
    r"<think>The answer is \boxed{C}",  # never closed: no answer
    "<think>..</think> the answer is a number I cannot find",  # lower-case 'a' is a word
    r"<think>..</think> \boxed{E}",  # not an offered letter
    r"<think>..</think> \boxed{CD}",
    "", None, 42, "\ud800", "<think>" * 10_000, r"\boxed{" + "{" * 100_000,
])
def test_wrong_missing_or_garbage_is_zero(choice, completion):
    assert score(choice, completion) == 0.0


def test_the_last_choice_counts(choice):
    assert score(choice, r"<think>..</think> \boxed{A}, no wait: \boxed{C}") == 1.0


@pytest.mark.parametrize("gold, expected", [("(C)", 1.0), (" c ", 1.0), ("E", None), ("", None), (None, None), ("CD", None)])
def test_gold_forms(choice, gold, expected):
    assert score(choice, r"<think>..</think>\boxed{C}", gold) == expected


def test_options_and_counter():
    seen = {}
    reward = load_reward("choice", letters="ABCDE", solution_column="letter", answer_tags=True)
    out = reward(prompts=["q", "q"], completions=["<think>x</think><answer>E</answer>", "<think>x</think>E"],
                 letter=["E", "E"], log_metric=lambda name, value: seen.setdefault(name, value))
    assert out == [1.0, 0.0] and seen == {"choice/no_choice": 1.0}
    with pytest.raises(ValueError, match="letters"):
        load_reward("choice", letters="abcd")
    with pytest.raises(KeyError, match="solution_column"):
        load_reward("choice")(prompts=["q"], completions=["A"], answer=["A"])
