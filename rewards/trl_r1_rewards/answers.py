r"""What a final answer is made of: its parts, whether it is words, and whether it is too costly.

The text-level half of grading, shared by the ``accuracy`` reward and cons@k answer grouping
(the mathematical half, math-verify, is in :mod:`trl_r1_rewards.equivalence`):

- **Parts**: ``1, -2``, ``(2, 2), (6, 2)`` or ``x = 1 \text{ or } x = -2`` are several answers
  to one question; a tuple ``(1, 2)``, an interval ``[1, 3)``, a set ``\{1, 2\}`` or a number
  ``1,000`` is one. Parts are compared as a set.
- **Prose**: ``forty two``, ``\text{Alice}`` or ``No solution`` are words, not products of
  one-letter symbols; they are compared as normalised text (case, articles, punctuation and
  ``\text{}`` do not matter). Anything with a digit or a LaTeX command is mathematics.
- **Cost**: an answer nested deeper than :data:`MAX_NESTING` or longer than
  :data:`MAX_ANSWER_CHARS` is not worth parsing: math-verify's comparison is exponential in
  nesting (a 16-deep ``\frac`` takes seconds, 18 a minute), and no real answer needs it.
"""

from __future__ import annotations

import math
import re
import unicodedata

# Deepest bracket nesting ({, (, [) of an answer worth parsing; real answers stay under 8
# (\frac{\sqrt{\frac{a^{2}}{b}}}{c} is 4). Past 10 math-verify may take seconds.
MAX_NESTING = 10
# Longest boxed answer worth parsing (a 4x4 matrix of fractions is ~300 characters).
MAX_ANSWER_CHARS = 1000
# More parts than this is a list nobody asked for; matching them costs parts^2 comparisons.
MAX_PARTS = 32

_TEXT_COMMAND = re.compile(r"\\(?:text|textbf|textit|textrm|textsf|texttt|mathrm|mathbf|mathit|mbox|operatorname)\s*\{([^{}]*)\}")
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
# Where an answer splits into parts: a comma or semicolon, or "and"/"or" as a word or in \text{}.
_SEPARATOR = re.compile(r"\s*(?:[,;]|\\text\s*\{\s*(?:and|or)\s*\}|\\quad|\\qquad|\b(?:and|or)\b)\s*", re.IGNORECASE)
_OPEN, _CLOSE = "([{", ")]}"
_SET_LITERAL = re.compile(r"(?:\\left)?\\\{(.*?)(?:\\right)?\\\}", re.DOTALL)
# What names the members of a set before it: "(x, y) \in", "x =", "S =".
_NAMING = re.compile(r"\(?\s*[A-Za-z](?:_\{?\w+\}?)?(?:\s*,\s*[A-Za-z](?:_\{?\w+\}?)?)*\s*\)?\s*(?:=|\\in(?![A-Za-z]))\s*")
# A part with one plus-or-minus sign is two answers (x = 1 \pm \sqrt{2}: x = 1 + \sqrt{2}, x = 1 - \sqrt{2}).
_PLUS_MINUS = re.compile(r"\\(pm|mp)(?![A-Za-z])")
# Brackets written as commands, seen as the bracket they are while splitting.
_BRACKET_COMMANDS = re.compile(r"\\(langle|rangle|lbrace|rbrace|lvert|rvert)(?![A-Za-z])")
_BRACKET_SHADOW = {"langle": "(", "rangle": ")", "lbrace": "(", "rbrace": ")", "lvert": "(", "rvert": ")"}
# Letter runs that are mathematics even without a backslash (sin x, log 2, max).
_MATH_WORDS = frozenset(
    "sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln lg exp lim max min gcd lcm mod "
    "det deg dim sup inf infty pi".split()
)
# Two-letter words that are answers in their own right (yes/no questions).
_SHORT_WORDS = frozenset({"no", "ok"})
_ARTICLES = frozenset({"a", "an", "the"})


def unwrap_text(expression: str) -> str:
    r"""``expression`` with ``\text{..}``-like wrappers replaced by their content.

    >>> unwrap_text(r"\text{Alice} and \textbf{Bob}")
    'Alice and Bob'
    """
    for _ in range(4):  # \text{\textbf{x}}: innermost first; deeper nesting is not prose anyway
        unwrapped = _TEXT_COMMAND.sub(r"\1", expression)
        if unwrapped == expression:
            break
        expression = unwrapped
    return expression


def nesting_depth(expression: str) -> int:
    """The deepest bracket nesting in ``expression`` (``{``, ``(``, ``[`` alike; unmatched
    closers ignored). Linear in the text.

    >>> nesting_depth(r"\\frac{\\sqrt{2}}{3}"), nesting_depth("(1, 2)"), nesting_depth("5")
    (2, 1, 0)
    """
    depth = deepest = 0
    for char in expression:
        if char in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif char in _CLOSE and depth:
            depth -= 1
    return deepest


def too_costly(expression: str, max_chars: int = MAX_ANSWER_CHARS) -> bool:
    r"""Whether an answer is pathological: too deeply nested, too long, or an integer power
    too large to compute (sympy evaluates ``9^{9^{9}}`` exactly, in C, for hours).

    >>> too_costly(r"\frac{1}{2}"), too_costly("{" * 50 + "1" + "}" * 50), too_costly("1+" * 600 + "1")
    (False, True, True)
    >>> too_costly(r"2^{2^{10}}"), too_costly(r"9^{9^{9}}"), too_costly(r"10^{10^{10}}")
    (False, True, True)
    """
    return len(expression) > max_chars or nesting_depth(expression) > MAX_NESTING or _huge_power(expression)


# Integer powers, towers included: 9^{9^{9}}, 2^{2^{2^{2}}}, 10^100.
_POWER_CHAIN = re.compile(r"\d+(?:\s*\^\s*\{?\s*\d+)+")
MAX_POWER_DIGITS = 100_000  # 2^{300000} is computed in milliseconds; 9^{9^{9}} never


def _huge_power(expression: str) -> bool:
    for chain in _POWER_CHAIN.findall(expression):
        numbers = [int(n) if len(n) < 20 else 10**19 for n in re.findall(r"\d+", chain)]
        exponent = float(numbers[-1])
        for base in reversed(numbers[:-1]):  # from the top of the tower down
            digits = exponent * math.log10(base) if base > 1 else 0.0
            if digits > MAX_POWER_DIGITS:
                return True
            exponent = 10.0**digits if digits < 300 else math.inf
    return False


def split_parts(expression: str) -> list[str]:
    r"""The parts of a (possibly) multi-part answer: split at top-level commas, semicolons and
    "and"/"or"; brackets keep a tuple, interval or set whole, and ``1,000`` is one number.
    Empty parts are dropped, repeated ones kept once.

    >>> split_parts("1, -2"), split_parts("(2, 2), (6, 2)"), split_parts(r"x = 1 \text{ or } x = -2")
    (['1', '-2'], ['(2, 2)', '(6, 2)'], ['x = 1', 'x = -2'])
    >>> split_parts("(1, 2)"), split_parts(r"\langle 1, 2 \rangle"), split_parts("1,000"), split_parts("Alice and Bob")
    (['(1, 2)'], ['\\langle 1, 2 \\rangle'], ['1,000'], ['Alice', 'Bob'])
    >>> split_parts(r"\{2, 1\}"), split_parts(r"\left\{ 2, 1 \right\}"), split_parts(r"(x, y) \in \{(1, 3), (4, 0)\}")
    (['2', '1'], ['2', '1'], ['(1, 3)', '(4, 0)'])
    >>> split_parts(r"x = 1 \pm \sqrt{2}"), split_parts(r"\frac{-1 \pm \sqrt{5}}{2}")
    (['x = 1 + \\sqrt{2}', 'x = 1 - \\sqrt{2}'], ['\\frac{-1 + \\sqrt{5}}{2}', '\\frac{-1 - \\sqrt{5}}{2}'])
    """
    expression = expression.strip()
    if _THOUSANDS.fullmatch(expression):
        return [expression]
    named = _NAMING.match(expression)
    if named and _SET_LITERAL.fullmatch(expression, named.end()):  # (x, y) \in \{...\}: the set
        expression = expression[named.end():]
    members = _SET_LITERAL.fullmatch(expression)
    if members and _balanced_set_braces(members.group(1)):  # a set's members are its parts
        expression = members.group(1)
    shadow = _BRACKET_COMMANDS.sub(lambda m: _BRACKET_SHADOW[m.group(1)].ljust(len(m.group())), expression)
    parts, depth, start = [], 0, 0
    position = 0
    while position < len(expression):
        char = shadow[position]
        if char in _OPEN:
            depth += 1
        elif char in _CLOSE:
            depth = max(0, depth - 1)
        elif depth == 0:
            separator = _SEPARATOR.match(expression, position)
            if separator and separator.end() > position and _separates(expression, separator):
                parts.append(expression[start:position])
                start = position = separator.end()
                continue
        position += 1
    parts.append(expression[start:])
    unique: dict[str, str] = {}
    for part in (signed for part in parts for signed in _both_signs(part)):
        part = part.strip()
        if part:
            unique.setdefault(re.sub(r"\s+", "", part), part)
    return list(unique.values())


def _both_signs(part: str) -> list[str]:
    r"""A part with one ``\pm`` (or ``\mp``) as its two answers, the upper sign first; any other
    part as it is (two signs would be four answers, or a tolerance: left to math-verify)."""
    signs = _PLUS_MINUS.findall(part)
    if len(signs) != 1:
        return [part]
    upper, lower = ("+", "-") if signs[0] == "pm" else ("-", "+")
    return [_PLUS_MINUS.sub(f" {sign} ", part).replace("  ", " ") for sign in (upper, lower)]


def _balanced_set_braces(content: str) -> bool:
    r"""``\{`` and ``\}`` pair up in ``content`` (so ``\{1\} \cup \{2\}`` is not one set)."""
    depth = 0
    for brace in re.findall(r"\\[{}]", content):
        depth += 1 if brace == "\\{" else -1
        if depth < 0:
            return False
    return depth == 0


def _separates(expression: str, separator: re.Match) -> bool:
    """A separator match is a real one: not whitespace alone, and a word separator ("and")
    starts a word (the regex's ``\\b`` already ends it)."""
    text = separator.group().strip()
    if not text:
        return False
    if text[0].isalpha():
        start = separator.start() + separator.group().index(text[0])
        return start == 0 or not expression[start - 1].isalnum()
    return True


def is_prose(expression: str) -> bool:
    r"""Whether an answer is words rather than mathematics: no digit, no LaTeX command (once
    ``\text{}`` is unwrapped), and a word of three letters or more that is not a function name
    (``sin``, ``log``, ``max``), or a short answer word (``No``).

    >>> [is_prose(x) for x in ["forty two", r"\text{Alice}", "No", "x = 2", r"2\pi", "sin x", "xy", "C", "5 apples"]]
    [True, True, True, False, False, False, False, False, False]
    """
    text = unwrap_text(expression)
    if re.search(r"\d|\\[A-Za-z]", text):
        return False
    words = [w.lower() for w in re.findall(r"[^\W\d_]+", text)]
    return any((len(w) >= 3 and w not in _MATH_WORDS) or w in _SHORT_WORDS for w in words)


def normalise_text(expression: str) -> str:
    r"""Words as a careful grader compares them: ``\text{}`` unwrapped, case, accents' forms,
    punctuation, math delimiters and the articles a/an/the ignored.

    >>> normalise_text(r"\text{The Alice.}"), normalise_text("No solution!"), normalise_text("$\\text{(C)}$")
    ('alice', 'no solution', 'c')
    """
    text = unicodedata.normalize("NFKC", unwrap_text(expression)).lower()
    text = re.sub(r"\\[A-Za-z]+|\\.|[^\w\s]|_", " ", text)
    return " ".join(word for word in text.split() if word not in _ARTICLES)


_UNITS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_TENS = {w: 10 * i for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)}
_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9}


def number_from_words(text: str) -> int | None:
    """The whole number a phrase of English number words writes, or ``None`` when it is not one
    (well-formed only: "two forty" is not a number).

    >>> number_from_words("forty two"), number_from_words("Forty-Two"), number_from_words("three hundred and five")
    (42, 42, 305)
    >>> number_from_words("two forty"), number_from_words("Alice"), number_from_words("one million two thousand")
    (None, None, 1002000)
    """
    words = [w for w in re.split(r"[\s-]+", normalise_text(text)) if w and w != "and"]
    if not words:
        return None
    total, current, previous, last_scale = 0, 0, None, None  # previous: unit, teen, tens, hundred, scale
    for word in words:
        if word in _UNITS:
            value = _UNITS[word]
            if previous in ("unit", "teen") or (previous == "tens" and value >= 10):
                return None
            current += value
            previous = "teen" if value >= 10 else "unit"
        elif word in _TENS:
            if previous in ("unit", "teen", "tens"):
                return None
            current += _TENS[word]
            previous = "tens"
        elif word == "hundred":
            if previous not in ("unit",) or current % 100 == 0 or current >= 100:
                return None
            current *= 100
            previous = "hundred"
        elif word in _SCALES:
            if not 0 < current < 1000 or (last_scale is not None and _SCALES[word] >= last_scale):
                return None
            total += current * _SCALES[word]
            current, previous, last_scale = 0, "scale", _SCALES[word]
        else:
            return None
    return total + current


# Where a sentence states its answer ("The answer is Alice.", "Answer: Bob").
_STATED_ANSWER = re.compile(r"(?i:answer)\s*(?:is|:)\s*([^\n.!?]+)")


def stated_text(region: str) -> str:
    r"""An unboxed answer region's answer as words: what follows its last "answer is" or
    "answer:", else its last line; for comparison with a prose gold.

    >>> stated_text("Let me think. The answer is Alice."), stated_text("So.\nBob")
    ('Alice', 'Bob')
    """
    stated = _STATED_ANSWER.findall(region[-2000:])
    if stated:
        return stated[-1].strip()
    lines = [line for line in region.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""
