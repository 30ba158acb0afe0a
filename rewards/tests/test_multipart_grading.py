r"""The grader's second pass (issue 23), one class at a time, on cases of our own: lists of
tuples, equations and roots boxed one by one; golds that box several quantities amid words;
sums and products whose factors are written in another order."""

from __future__ import annotations

import pytest
from trl_r1_rewards import load_reward
from trl_r1_rewards.accuracy import answers_match


@pytest.fixture(scope="module")
def accuracy():
    return load_reward("accuracy")  # the default deadlines: what training uses


def graded(accuracy, cases):
    """``(gold, answer, reward)`` for each case, the answer boxed after the reasoning."""
    rewards = accuracy(prompts=["?"] * len(cases), completions=[f"<think>...</think> {answer}" for _, answer, _ in cases],
                       solution=[gold for gold, _, _ in cases])
    return [(gold, answer, reward) for (gold, answer, _), reward in zip(cases, rewards, strict=True)]


def assert_graded(accuracy, cases):
    got = graded(accuracy, cases)
    assert got == cases, [g for g, c in zip(got, cases, strict=True) if g != c]


# --- lists of tuples, equations and roots, each element boxed on its own ----------------------

LISTS = [
    # roots given with one plus-or-minus sign in the gold, boxed one by one (any closed form)
    (r"x = 2 \pm \sqrt{3}", r"\boxed{x = 2 + \sqrt{3}} \text{ and } \boxed{x = 2 - \sqrt{3}}", 1.0),
    (r"\frac{3 \pm \sqrt{17}}{4}", r"$\boxed{\frac{3+\sqrt{17}}{4}}$, $\boxed{\frac{3-\sqrt{17}}{4}}$", 1.0),
    (r"\frac{3 \pm \sqrt{17}}{4}", r"\boxed{\frac{6+2\sqrt{17}}{8}} or \boxed{\frac{6-\sqrt{68}}{8}}", 1.0),
    (r"\pm 5", r"\boxed{-5}, \boxed{5}", 1.0),
    (r"\pm 5", r"\boxed{5}", 0.0),  # one root of two
    (r"\frac{3 \pm \sqrt{17}}{4}", r"\boxed{\frac{3+\sqrt{17}}{4}}", 0.0),
    # a set of pairs named by its variables; pairs named in the answer
    (r"(m, n) \in \{(2, 5), (7, 1)\}", r"\boxed{(7, 1)} \text{ and } \boxed{(2, 5)}", 1.0),
    (r"(m, n) \in \{(2, 5), (7, 1)\}", r"\boxed{(2, 5)}", 0.0),
    ("(2, 5), (7, 1)", r"$(m, n) = \boxed{(2, 5)}$ or $(m, n) = \boxed{(7, 1)}$", 1.0),
    # boxes on lines of their own
    ("p = 3, q = 11", r"\boxed{p = 3} \\ \boxed{q = 11}", 1.0),
    ("p = 3, q = 11", r"\boxed{p = 11} \\ \boxed{q = 3}", 0.0),
    ("(0, 4), (6, -2), (-1, 1)", r"\boxed{(6,-2)} \\ \boxed{(-1,1)} \\ \boxed{(0,4)}", 1.0),
    ("(0, 4), (6, -2), (-1, 1)", r"\boxed{(6,-2)} \\ \boxed{(0,4)}", 0.0),
]


def test_lists_of_tuples_equations_and_roots_boxed_one_by_one(accuracy):
    assert_graded(accuracy, LISTS)


def test_roots_with_a_plus_or_minus_sign_group_with_the_roots_written_out_for_cons_at_k():
    assert answers_match(r"\frac{-1 \pm \sqrt{5}}{2}", r"\frac{-1-\sqrt5}{2}, \frac{-1+\sqrt5}{2}")
    assert not answers_match(r"\frac{-1 \pm \sqrt{5}}{2}", r"\frac{-1+\sqrt5}{2}")


# --- a gold that boxes several quantities amid words needs every one of them -----------------

AMID_WORDS = [
    (r"\boxed{4} red marbles and \boxed{9} blue marbles", r"\boxed{9}", 0.0),  # the last quantity alone
    (r"\boxed{4} red marbles and \boxed{9} blue marbles", r"\boxed{4}", 0.0),
    (r"\boxed{4} red marbles and \boxed{9} blue marbles", r"\boxed{4}, \boxed{9}", 1.0),
    (r"\boxed{4} red marbles and \boxed{9} blue marbles", r"\boxed{4} red and \boxed{9} blue", 1.0),
    (r"Train A travels at \boxed{60} km/h; train B at \boxed{45} km/h.", r"\boxed{45}", 0.0),
    (r"Train A travels at \boxed{60} km/h; train B at \boxed{45} km/h.", r"\boxed{60} km/h for A, \boxed{45} km/h for B", 1.0),
    # a correction, or a conclusion, still ends the answer with its own box
    (r"\boxed{4} red marbles and \boxed{9} blue marbles", r"\boxed{4}, no wait, \boxed{9}", 0.0),
    (r"\boxed{4} red marbles and \boxed{9} blue marbles", r"\boxed{4} is too few, so the answer is \boxed{9}", 0.0),
    (r"\boxed{4} red marbles and \boxed{9} blue marbles", r"\boxed{4} doesn't fit; \boxed{9}", 0.0),
]


def test_a_gold_boxing_several_quantities_amid_words_needs_every_one(accuracy):
    assert_graded(accuracy, AMID_WORDS)


# --- sums and products with their factors in another order -----------------------------------

REORDERED = [
    (r"\sum_{j=1}^{m} j \binom{m}{j}", r"\boxed{\sum_{j=1}^{m} \binom{m}{j} \cdot j}", 1.0),
    (r"\sum_{i=0}^{\infty} \frac{y^{i}}{i!}", r"\boxed{\sum_{i=0}^{\infty} \frac{1}{i!} y^{i}}", 1.0),
    (r"\sum_{i=0}^{\infty} \sqrt{i} \frac{1}{3^i}", r"\boxed{\sum_{i=0}^{\infty} \frac{1}{3^i} \cdot \sqrt{i}}", 1.0),
    (r"\prod_{j=1}^{m} \frac{j+1}{j}", r"\boxed{\prod_{j=1}^{m} \frac{1}{j} (j+1)}", 1.0),
    (r"\sum_{j=1}^{m} \frac{1}{j(j+2)}", r"\boxed{\sum_{j=1}^{m} \frac{1}{(j+2)j}}", 1.0),
    (r"\sum\limits_{j=1}^{m} 4 j^3", r"\boxed{\sum_{j=1}^{m} j^3 \cdot 4}", 1.0),
    (r"\sum_{j=1}^{m} 4 j^3", r"\boxed{\sum_{j=1}^{m} j^3 \cdot 5}", 0.0),
    (r"\sum_{j=1}^{m} j^2 2^j", r"\boxed{\sum_{j=2}^{m} 2^j j^2}", 0.0),
]


def test_sums_and_products_with_their_factors_reordered(accuracy):
    assert_graded(accuracy, REORDERED)
    assert answers_match(r"\sum_{j=1}^{m} j \binom{m}{j}", r"\sum_{j=1}^{m} \binom{m}{j} j")  # cons@k groups them
