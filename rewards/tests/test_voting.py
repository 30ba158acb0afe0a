"""cons@k's answer groups, as the accuracy and choice rewards define them."""

from __future__ import annotations

from trl_r1_rewards import answer_groups, final_answer, load_reward
from trl_r1_rewards.voting import equivalence_groups, group_by_equivalence


def test_math_answers_group_by_equivalence_not_strings():
    answers = [r"\frac{1}{2}", "0.5", r"\dfrac12", "2", "2.00", None, r"\sqrt{4}", "x", "The answer is $0.5$."]
    assert equivalence_groups(answers) == [0, 0, 0, 1, 1, None, 1, 2, 0]


def test_grouping_runs_in_workers_and_falls_back_to_identical_text_past_the_deadline():
    assert group_by_equivalence([[r"\frac{1}{2}", "0.5", "3", "3"]]) == [[0, 0, 1, 1]]
    # 60 distinct values take thousands of comparisons, far past 50 ms: identical text only, so
    # 0.5 is not grouped with the 1/2 written first (it would be by equivalence).
    many = [rf"\frac{{{i}}}{{{i + 1}}}" for i in range(1, 61)] + [r"\frac{1}{2}", "0.5"]
    [ids] = group_by_equivalence([many], timeout=0.05)
    assert ids[-2:] == [0, 60] and ids[:60] == list(range(60))


def test_accuracy_and_choice_describe_their_final_answers_and_groups():
    accuracy, choice, fmt = load_reward("accuracy"), load_reward("choice"), load_reward("format")
    assert final_answer(accuracy, r"<think>\boxed{1}</think> so \boxed{2}.") == "2"
    assert final_answer(choice, r"<think>A?</think> \boxed{b}") == "B"
    assert final_answer(fmt, "anything") is None and answer_groups(fmt) is None
    assert answer_groups(accuracy)([["1", "1.0", None]]) == [[0, 0, None]]
    assert answer_groups(choice)([["B", "A", "B", None]]) == [[0, 1, 0, None]]


def test_multi_part_answers_group_as_sets_and_words_as_text():
    """The accuracy reward's rules: parts in any order are one answer; an anagram is not a
    product of the same letters."""
    answers = ["1, -2", "-2, 1", "-2", "Alice", r"\text{alice}", "ecilA", "forty two", "42"]
    assert equivalence_groups(answers) == [0, 0, 1, 2, 2, 3, 4, 4]
