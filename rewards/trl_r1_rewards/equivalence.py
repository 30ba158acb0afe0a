r"""Whether two answers are the same answer, as a careful grader decides: words as normalised
text, plain numbers exactly (:mod:`.fast_path`), the rest by math-verify; multi-part answers as
sets of parts (:func:`match_parts`). What the ``accuracy`` reward compares a prediction with its
gold by, and what cons@k voting groups by (:func:`answers_match`).
"""

from __future__ import annotations

import re

from math_verify import verify

from .answers import MAX_NESTING, is_prose, nesting_depth, normalise_text, number_from_words, split_parts, too_costly
from .extraction import MATH_DELIMITERS, parse_answer, parse_expression, parse_gold
from .fast_path import fast_score
from .shims import math_verify_call


def same_expression(first: list, second: list) -> bool:
    r"""Whether two math-verify parses hold the same expression once every sum and product in
    them is rebuilt in sympy's canonical order (``k \cdot 2`` and ``2k``, ``\frac{1}{2^k}\sqrt{k}``
    and ``\sqrt{k}\frac{1}{2^k}``): then they are equal, and math-verify, which for a sum over
    symbolic bounds may take seconds to say so, is not asked.

    >>> same_expression(parse_expression(r"\sum_{k=1}^{n} k \cdot 2"), parse_expression(r"\sum_{k=1}^{n} 2k"))
    True
    >>> same_expression(parse_expression(r"\sum_{k=1}^{n} 2k"), parse_expression(r"\sum_{k=1}^{n} 3k"))
    False
    """
    import sympy

    expressions = [[_canonical(e) for e in parsed if isinstance(e, sympy.Basic)] for parsed in (first, second)]
    return any(a is not None and a == b for a in expressions[0] for b in expressions[1])


def _canonical(expression):
    """``expression`` with its sums and products (``Add``, ``Mul``) rebuilt, so evaluated: flat, in
    sympy's order, ones and zeros dropped; every other node rebuilt unevaluated (never a power
    computed). ``None`` if that fails."""
    import sympy

    try:
        if expression.is_Atom:
            return expression
        args = tuple(_canonical(arg) for arg in expression.args)
        if any(arg is None for arg in args):
            return None
        if isinstance(expression, (sympy.Add, sympy.Mul)):
            return expression.func(*args)
        if args == expression.args:
            return expression
        if isinstance(expression, (sympy.Sum, sympy.Product, sympy.Tuple, sympy.FiniteSet)):
            return expression.func(*args)
        return expression.func(*args, evaluate=False)  # a power, a function, an equation: as it stands
    except Exception:  # noqa: BLE001 - no canonical form: math-verify decides
        return None


def verify_parsed(expected: list, predicted: list) -> bool:
    """math-verify's verdict on two parses (:func:`same_expression` first)."""
    return bool(expected and predicted and (same_expression(expected, predicted)
                                            or verify(expected, predicted, timeout_seconds=None)))


def parts_equal(a: str, b: str) -> bool:
    r"""Whether two single answers (bare expressions or words) are the same answer: words as
    normalised text, numbers exactly, the rest by math-verify.

    >>> parts_equal(r"\frac{1}{2}", "0.5"), parts_equal("Alice", r"\text{alice}"), parts_equal("stop", "pots")
    (True, True, False)
    >>> parts_equal("42", r"\text{forty-two}"), parts_equal("forty two", "two forty")
    (True, False)
    """
    if re.sub(r"\s+", "", a) == re.sub(r"\s+", "", b):
        return True
    a, b = _digits_for_words(a), _digits_for_words(b)
    if is_prose(a) or is_prose(b):
        return normalise_text(a) == normalise_text(b)
    settled = fast_score((a, (b,), True))
    if settled is not None:
        return settled[0] == 1.0
    return verify_parsed(parse_gold(a), parse_gold(b))  # a box may hold $..$ too: read both as golds are


def _digits_for_words(expression: str) -> str:
    """A number written in words as digits ("forty two" -> "42"); anything else unchanged."""
    if is_prose(expression):
        number = number_from_words(expression)
        if number is not None:
            return str(number)
    return expression


def match_parts(expected: list[str], predicted: list[str], equal=parts_equal) -> bool:
    """Whether ``predicted`` is ``expected`` as a set: as many parts, each matched to its own
    equal (a bipartite matching, so ``x, 2x`` against ``2x, x`` finds its pairs).

    >>> match_parts(["1", "-2"], ["-2", "1"]), match_parts(["1", "-2"], ["-2"]), match_parts(["1", "-2"], ["1", "1"])
    (True, False, False)
    """
    if len(expected) != len(predicted):
        return False
    verdicts: dict[tuple[int, int], bool] = {}

    def same(i: int, j: int) -> bool:
        if (i, j) not in verdicts:
            verdicts[i, j] = equal(expected[i], predicted[j])
        return verdicts[i, j]

    owner: dict[int, int] = {}  # predicted part -> the expected part it is matched to

    def assign(i: int, tried: set[int]) -> bool:
        for j in range(len(predicted)):
            if j not in tried and same(i, j):
                tried.add(j)
                if j not in owner or assign(owner[j], tried):
                    owner[j] = i
                    return True
        return False

    return all(assign(i, set()) for i in range(len(expected)))


def answers_match(a: str, b: str) -> bool:
    r"""Whether two final answers, as :func:`~trl_r1_rewards.extraction.extract_answer` returns
    them, are the same answer: bare expressions are split into parts and compared as sets of parts
    (one part each: :func:`parts_equal`); text with delimited math (an unboxed answer) by the last
    mathematics math-verify finds in each. What cons@k voting groups by; symmetric. A pathological
    answer only matches its own text.

    >>> answers_match("1, -2", r"-2, 1"), answers_match("(2, 2), (6, 2)", "(6, 2)"), answers_match("0.5", r"\frac12")
    (True, False, True)
    >>> answers_match("Alice", "ecilA"), answers_match("so it is $0.5$.", r"\frac{1}{2}")
    (False, True)
    """
    a, b = a.strip(), b.strip()
    if a == b:
        return True
    with math_verify_call():
        if MATH_DELIMITERS.search(a) or MATH_DELIMITERS.search(b):
            if max(nesting_depth(a), nesting_depth(b)) > MAX_NESTING:
                return False
            return verify_parsed(parse_gold(a), parse_gold(b))
        if too_costly(a) or too_costly(b):
            return False
        parts_a, parts_b = split_parts(a), split_parts(b)
        if len(parts_a) == 1 and len(parts_b) == 1:
            return parts_equal(a, b)
        if len(parts_a) == len(parts_b):
            return match_parts(parts_a, parts_b)
        return verify_whole(a, b) == 1.0


def verify_whole(expected: str, answer: str) -> float:
    """Two multi-part answers, each read whole as one expression by math-verify."""
    if too_costly(answer):
        return 0.0
    return float(verify_parsed(parse_expression(expected), parse_expression(answer)))


def verify_text(expected: str, text: str) -> tuple[float, str | None]:
    """A multi-part gold against an unboxed answer: math-verify reads the text's last math."""
    predicted = parse_answer(text, boxed=False)
    if not predicted:
        return 0.0, "unparseable_answers"
    return float(verify_parsed(parse_expression(expected), predicted)), None
