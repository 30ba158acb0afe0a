r"""answers: parts, prose and cost of a final answer, and the equivalence cons@k groups by."""

import pytest
from trl_r1_rewards.accuracy import answers_match, extract_answer, read_gold
from trl_r1_rewards.answers import is_prose, normalise_text, split_parts, too_costly
from trl_r1_rewards.text import final_boxes


@pytest.mark.parametrize(
    "text, boxes",
    [
        (r"\boxed{(2, 2)} \quad \text{and} \quad \boxed{(6, 2)}", ["(2, 2)", "(6, 2)"]),
        (r"\(\boxed{1}\) and \(\boxed{-2}\)", ["1", "-2"]),
        (r"$x_1 = \boxed{3}$, $x_2 = \boxed{4}$", ["3", "4"]),
        (r"\boxed{3}, no wait, \boxed{5}", ["5"]),  # a correction is not a second part
        (r"\boxed{3}. Checking again gives \boxed{5}.", ["5"]),
        (r"\boxed{1}\boxed{2}", ["1", "2"]),
        (r"\boxed{\boxed{1}}", [r"\boxed{1}"]),  # an outer box holds its inner one
        ("no box", []),
    ],
)
def test_final_boxes_are_the_last_group_of_adjacent_boxes(text, boxes):
    assert final_boxes(text) == boxes


@pytest.mark.parametrize(
    "expression, parts",
    [
        ("1, -2", ["1", "-2"]),
        ("(2, 2), (6, 2)", ["(2, 2)", "(6, 2)"]),
        (r"x = 1 \text{ or } x = -2", ["x = 1", "x = -2"]),
        ("3; 4", ["3", "4"]),
        (r"\{1, 2\}", ["1", "2"]),  # a set's members
        ("(1, 2)", ["(1, 2)"]),  # a tuple is one answer
        ("[1, 3)", ["[1, 3)"]),  # an interval too
        (r"(-\infty, 1) \cup (2, \infty)", [r"(-\infty, 1) \cup (2, \infty)"]),
        (r"\langle 1, 2 \rangle", [r"\langle 1, 2 \rangle"]),
        ("1,000", ["1,000"]),  # a number with a thousands separator
        ("1, 1, 2", ["1", "2"]),  # repeated parts count once
        (r"\{1\} \cup \{2\}", [r"\{1\} \cup \{2\}"]),  # not one set literal
        ("Anderson", ["Anderson"]),  # "and" inside a word
    ],
)
def test_split_parts(expression, parts):
    assert split_parts(expression) == parts


@pytest.mark.parametrize(
    "expression, prose",
    [
        ("forty two", True), ("Alice", True), ("stop", True), (r"\text{Monday}", True), ("No", True),
        ("No solution", True), ("x = 2", False), (r"2\pi", False), (r"\{1, 2\}", False), ("C", False),
        (r"\text{(C)}", False), ("xy", False), ("sin x", False), ("5 apples", False), (r"10\text{ cm}", False),
    ],
)
def test_words_are_prose_and_mathematics_is_not(expression, prose):
    assert is_prose(expression) is prose


@pytest.mark.parametrize(
    "words, number",
    [("forty two", 42), ("Forty-Two", 42), ("three hundred and five", 305), ("two thousand twenty four", 2024),
     ("zero", 0), ("two forty", None), ("one two", None), ("one thousand one thousand", None), ("Alice", None)],
)
def test_numbers_written_in_words_are_read_only_when_well_formed(words, number):
    from trl_r1_rewards.answers import number_from_words

    assert number_from_words(words) == number


def test_text_normalisation_ignores_case_articles_punctuation_and_text_commands():
    assert normalise_text(r"\text{The Eiffel Tower!}") == normalise_text("eiffel tower") == "eiffel tower"
    assert normalise_text("ecilA") != normalise_text("Alice")


@pytest.mark.parametrize(
    "gold, kind",
    [
        (r"\(\boxed{1}\) and \(\boxed{-2}\)", "parts"), ("(2, 2), (6, 2)", "parts"), (r"\{1, 2\}", "parts"),
        ("forty two", "number"), ("two forty", "prose"), (r"\boxed{\text{Alice}}", "prose"), ("Answer is forty two.", "none"),
        (r"\frac{1}{2}", "math"), ("(1, 2)", "math"), ("x = 2", "math"), ("$x = 2$ is the root", "math"),
    ],
)
def test_how_golds_are_read(gold, kind):
    assert read_gold(gold)[0] == kind


@pytest.mark.parametrize(
    "answer, costly",
    [
        (r"\frac{\sqrt{\frac{1}{2}}}{3}", False), ("{" * 11 + "1" + "}" * 11, True), ("(" * 12 + ")" * 12, True),
        ("1" * 1001, True), (r"9^{9^{9}}", True), (r"2^{2^{10}}", False), (r"10^{200000}", True), (r"e^{x^2}", False),
    ],
)
def test_pathological_answers_are_recognised_cheaply(answer, costly):
    assert too_costly(answer) is costly


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("1, -2", "-2, 1", True), (r"\frac12", "0.5", True), ("(2, 2), (6, 2)", "(6,2),(2,2)", True),
        ("(2, 2), (6, 2)", "(2, 2)", False), ("1, -2", "-2", False), ("Alice", r"\text{alice}", True),
        ("Alice", "ecilA", False), ("forty two", "two forty", False), (r"\{1, 2\}", "2, 1", True), ("x, 2x", "2x, x", True),
    ],
)
def test_answers_match_is_what_cons_at_k_groups_by(a, b, same):
    assert answers_match(a, b) is same
    assert answers_match(b, a) is same  # symmetric


def test_extract_answer_joins_a_multi_part_answer_for_voting():
    assert extract_answer(r"<think>a</think> $\boxed{1}$ and $\boxed{-2}$") == ("1, -2", True)
    assert extract_answer(r"<think>a</think> \boxed{3}, no wait, \boxed{5}") == ("5", True)


def test_answers_match_unboxed_texts_and_pathological_answers():
    assert answers_match("so it is $\\frac{1}{2}$", "the answer: $0.5$")
    assert not answers_match("so it is $2$", "the answer: $3$")
    deep = "{" * 50 + "1" + "}" * 50
    assert answers_match(deep, deep) and not answers_match(deep, "1")  # never parsed
