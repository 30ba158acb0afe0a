"""bench/bench_rewards.py times what the rewards' two-stage parsing (trl_r1_rewards/shims.py)
buys: on every gold and answer of its mixes, the parse is the one latex2sympy makes."""

from __future__ import annotations

import sys

from helpers import REPO
from scoring_helpers import latex2sympy_outcome  # rewards/tests
from trl_r1_rewards.shims import math_verify_call


def test_two_stage_parsing_gives_the_same_parses_on_the_bench_mixes():
    sys.path.insert(0, str(REPO / "bench"))
    from bench_rewards import FAMILIES, gold_family, realistic_family

    corpus = []
    for n, k in [(10, 0), (23, 5)]:
        corpus += [x for kind in range(FAMILIES) for x in gold_family(kind, n, k)]
        corpus += [x for kind in range(19, 32) for x in realistic_family(kind, n, k)]
    for latex in corpus:
        expected = latex2sympy_outcome(latex)
        with math_verify_call():
            assert latex2sympy_outcome(latex) == expected, latex
