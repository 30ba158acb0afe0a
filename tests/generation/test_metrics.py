"""pass@k and cons@k against values computed by hand (answer grouping: tests/rewards/test_voting.py)."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import pytest

from trl_r1.generation.metrics import mean_cons_at_k, mean_pass_at_k, pass_at_k, pass_ks


@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (1, 1, 1, 1.0),
        (1, 0, 1, 0.0),
        (4, 2, 1, 0.5),  # pass@1 = c / n
        (5, 2, 3, 0.9),  # 1 - C(3,3)/C(5,3) = 1 - 1/10
        (10, 3, 4, 5 / 6),  # 1 - C(7,4)/C(10,4) = 1 - 35/210
        (4, 1, 4, 1.0),  # k = n: any correct sample suffices
        (6, 2, 5, 1.0),  # n - c < k: every k-subset holds a correct one
        (8, 0, 8, 0.0),
    ],
)
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_is_stable_where_binomials_overflow_floats():
    n, c, k = 2000, 7, 64  # C(2000, 64) ~ 1e127 as a float, C(1993, 64) likewise: a ratio of huge numbers
    exact = 1 - Fraction(comb(n - c, k), comb(n, k))
    assert pass_at_k(n, c, k) == pytest.approx(float(exact), rel=1e-12)


@pytest.mark.parametrize("n, c, k", [(4, 5, 1), (4, 1, 0), (4, 1, 5), (4, -1, 1)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError, match="pass@k"):
        pass_at_k(n, c, k)


def test_pass_at_1_is_the_mean_over_samples_and_questions():
    scores = [[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 0.0], [0.0, None, 0.0, 0.0]]
    assert mean_pass_at_k(scores, 1) == pytest.approx((0.25 + 0.75 + 0) / 3)
    # pass@2: q1 1 - C(3,2)/C(4,2) = 1/2; q2 1 - 0 = 1; q3 0
    assert mean_pass_at_k(scores, 2) == pytest.approx(0.5)
    assert pass_ks(4) == [1, 2, 4] and pass_ks(5) == [1, 2, 4, 5]


def test_cons_at_k_votes_per_group_and_ties_go_to_the_first_answer():
    # q1: group 1 has 2 of 3 votes (wrong); q2: group 0 has 2 of 3 (right)
    groups, scores = [[0, 1, 1], [0, 0, 1]], [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    assert mean_cons_at_k(groups, scores) == 0.5
    assert mean_cons_at_k(groups, scores, k=1) == 1.0  # the first sample alone
    assert mean_cons_at_k([[0, 1]], [[1.0, 0.0]]) == 1.0 and mean_cons_at_k([[0, 1]], [[0.0, 1.0]]) == 0.0  # ties
    assert mean_cons_at_k([[None, None, 0]], [[0.0, 0.0, 1.0]]) == 1.0  # no answer, no vote
    assert mean_cons_at_k([[None]], [[0.0]]) == 0.0
