"""pass@k and cons@k against values computed by hand (answer grouping: rewards/tests/test_voting.py)."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import pytest

from trl_r1.generation.metrics import (
    compare_models,
    comparison_table,
    mean_cons_at_k,
    mean_pass_at_k,
    pass_at_k,
    pass_ks,
    standard_error,
    two_proportion_test,
)


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


def test_two_proportion_test_by_hand():
    # 80/300 right before, 131/300 after: pooled 211/600, se = sqrt(p(1-p)(2/300)).
    pooled = 211 / 600
    se = (pooled * (1 - pooled) * 2 / 300) ** 0.5
    z, p = two_proportion_test(80 / 300, 300, 131 / 300, 300)
    assert z == pytest.approx((131 - 80) / 300 / se) and p < 1e-4
    assert two_proportion_test(131 / 300, 300, 80 / 300, 300)[0] == pytest.approx(-z)
    # |z| = 1.96 is the 5% line.
    assert two_proportion_test(0.5, 1000, 0.5438, 1000)[1] == pytest.approx(0.05, abs=0.002)


def test_pass_at_1_standard_error_is_over_questions():
    # One sample per question: the binomial standard error.
    assert standard_error([1, 0, 0, 0]) == pytest.approx((0.25 * 0.75 / 4) ** 0.5)
    # k samples: the spread of the per-question means, not of the samples.
    assert standard_error([0.5, 0.5, 0.5]) == 0.0


def evaluation(p, n_samples, temperature, questions=100, format_rate=0.5):
    return {"pass@1": p, "pass@1_stderr": standard_error([1.0] * round(p * questions) + [0.0] * (questions - round(p * questions))),
            "num_questions": questions, "format_rate": format_rate,
            "settings": {"num_samples": n_samples, "temperature": temperature, "top_p": 0.95}}


def test_before_after_rows_test_the_difference_and_render_as_a_table():
    start = {"sampled": evaluation(0.30, 4, 0.6, format_rate=0.4), "greedy": evaluation(0.27, 1, 0.0)}
    trained = {"sampled": evaluation(0.55, 4, 0.6, format_rate=0.9), "greedy": evaluation(0.56, 1, 0.0)}
    rows = compare_models(start, trained)
    assert [r["metric"] for r in rows] == ["pass@1, 4 samples at T=0.6, top-p 0.95", "greedy accuracy (T=0)",
                                           "format rate (sampled)"]
    greedy = rows[1]
    assert (greedy["difference"], greedy["z"], greedy["p"]) == pytest.approx(
        (0.29, *two_proportion_test(0.27, 100, 0.56, 100)))
    assert rows[2]["z"] is None and rows[2]["difference"] == pytest.approx(0.5)
    table = comparison_table(rows, "arithmetic, 100 held-out questions")
    assert table.splitlines()[0] == "| arithmetic, 100 held-out questions | start | trained | difference | z | p |"
    assert "| greedy accuracy (T=0) | 27.0 ± 4.4 | 56.0 ± 5.0 | +29.0 | 4.16 | 3.2e-05 |" in table
