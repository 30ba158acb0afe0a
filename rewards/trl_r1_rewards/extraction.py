r"""Reading golds and answers as the ``accuracy`` reward grades them: what kind of gold a dataset
stored (one mathematical answer, several parts, a number in words, words, a sentence), math-verify's
parse of a gold or a predicted answer, and the final answer of a completion (its final boxes, else
the tail of its answer region). Text-level rules (parts, prose, cost) are in :mod:`.answers`.
"""

from __future__ import annotations

import functools
import re

from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

from .answers import MAX_PARTS, is_prose, normalise_text, number_from_words, split_parts
from .text import answer_region, boxed_spans, completion_text, final_boxes, last_boxed

# Without a \boxed{}, only the end of the answer region is parsed: that is where answers are,
# and it bounds the work on a megabyte of rambling.
UNBOXED_TAIL_CHARS = 2000
MATH_DELIMITERS = re.compile(r"(?<!\\)\$|\\\(|\\\[")
# A prose gold longer than this is a sentence, not an answer: it cannot be graded as text.
MAX_PROSE_WORDS = 3


# Where a sum's or product's bounds are typeset (\sum\limits_{k=1}^{n}): latex2sympy cannot read it.
_LIMITS = re.compile(r"\\(?:no)?limits(?![A-Za-z])")


@functools.lru_cache(maxsize=4096)
def parse_expression(expr: str) -> list:
    r"""A bare LaTeX expression, as math-verify reads it between ``$...$`` (plain text after);
    ``\limits`` dropped.

    >>> parse_expression(r"\sum\limits_{k=1}^{n} k")[0]
    Sum(k, (k, 1, n))
    """
    expr = _LIMITS.sub("", expr)
    return parse(f"${expr}$", [LatexExtractionConfig()], parsing_timeout=None) or parse(
        expr, [ExprExtractionConfig()], parsing_timeout=None
    )


def gold_expression(gold: str) -> str | None:
    """The bare expression :func:`parse_gold` reads, ``None`` for math delimited in prose."""
    boxed = last_boxed(gold)
    if boxed is not None:
        return boxed
    if MATH_DELIMITERS.search(gold):
        return None
    return gold


@functools.lru_cache(maxsize=4096)
def parse_gold(gold: str) -> list:
    r"""Parse a gold answer as datasets store it; ``[]`` when it cannot be read.

    >>> [str(parse_gold(g)[0]) for g in [r"\sqrt{3}", r"2\pi", r"\boxed{\frac12}", "$0.5$", "C"]]
    ['sqrt(3)', '2*pi', '1/2', '1/2', 'c']
    """
    expression = gold_expression(gold)
    if expression is None:  # delimited math inside prose: math-verify finds it
        return parse(gold, parsing_timeout=None)
    return parse_expression(expression)


def parse_answer(answer: str, boxed: bool) -> list:
    r"""Parse a predicted answer as :func:`extract_answer` returns it; ``[]`` when unreadable.

    A boxed answer is a bare expression; free text is searched for its last math.

    >>> str(parse_answer(r"\frac{1}{2}", boxed=True)[0]), str(parse_answer("so it is $x=3$", boxed=False)[0])
    ('1/2', 'Eq(x, 3)')
    """
    return parse_expression(answer) if boxed else parse(answer, parsing_timeout=None)


@functools.lru_cache(maxsize=4096)
def read_gold(gold: str) -> tuple[str, tuple[str, ...]]:
    r"""How a gold is graded: ``("math", ())`` one mathematical answer (math-verify);
    ``("parts", parts)`` several, compared as a set; ``("number", (digits,))`` a number in
    words; ``("prose", (words,))`` normalised text; ``("none", ())`` not gradable (a sentence).

    >>> read_gold(r"\(\boxed{1}\) and \(\boxed{-2}\)"), read_gold("(2, 2), (6, 2)")
    (('parts', ('1', '-2')), ('parts', ('(2, 2)', '(6, 2)')))
    >>> read_gold(r"\text{The Alice}"), read_gold(r"\frac{1}{2}"), read_gold("It is forty two.")
    (('prose', ('alice',)), ('math', ()), ('none', ()))
    >>> read_gold("forty two"), read_gold(r"\boxed{3} apples and \boxed{5} pears")
    (('number', ('42',)), ('parts', ('3', '5')))

    A gold has no corrections: each of its boxes is part of the answer, whatever stands between.
    """
    boxes = [gold[start:end] for _, start, end in boxed_spans(gold)]
    if not boxes and MATH_DELIMITERS.search(gold):  # delimited math inside prose: math-verify finds it
        return "math", ()
    expressions = boxes or [gold]
    if len(expressions) == 1 and is_prose(expressions[0]):
        number = number_from_words(expressions[0])
        if number is not None:
            return "number", (str(number),)
        words = normalise_text(expressions[0])
        return ("prose", (words,)) if 0 < len(words.split()) <= MAX_PROSE_WORDS else ("none", ())
    parts = unique_parts(part for expression in expressions for part in split_parts(expression))
    if 2 <= len(parts) <= MAX_PARTS:
        return "parts", tuple(parts)
    return "math", ()


def unique_parts(parts) -> list[str]:
    """``parts`` without repeats (spacing aside), in order."""
    seen: dict[str, str] = {}
    for part in parts:
        seen.setdefault(re.sub(r"\s+", "", part), part)
    return list(seen.values())


def read_answer(completion: object, answer_tags: bool = False) -> tuple[tuple[str, ...] | None, bool]:
    r"""``(answers, boxed)``: what the ``accuracy`` reward reads from one completion: the final
    boxes of the answer region (:func:`~trl_r1_rewards.text.final_boxes`: a multi-part answer
    boxes each part), else the region's tail; ``None`` when the completion never answered.

    >>> read_answer(r"<think>\boxed{1}?</think> so $\boxed{1}$ and $\boxed{-2}$.")
    (('1', '-2'), True)
    >>> read_answer("<think>never closed")
    (None, False)
    """
    region = answer_region(completion_text(completion), answer_tags=answer_tags)
    if region is None:
        return None, False
    boxes = final_boxes(region)
    if boxes:
        return tuple(boxes), True
    return (region[-UNBOXED_TAIL_CHARS:],), False


def extract_answer(completion: object, answer_tags: bool = False) -> tuple[str | None, bool]:
    r"""``(answer, boxed)``: the final answer as one string, what cons@k votes on; several
    final boxes are joined as one multi-part answer (compare with
    :func:`~trl_r1_rewards.equivalence.answers_match`).

    >>> extract_answer(r"<think>\boxed{1}?</think> so \boxed{2}.")
    ('2', True)
    >>> extract_answer(r"</think> \boxed{(2, 2)} \quad \text{and} \quad \boxed{(6, 2)}")
    ('(2, 2), (6, 2)', True)
    """
    answers, boxed = read_answer(completion, answer_tags)
    return (", ".join(answers) if answers is not None else None), boxed
