"""Reading model output: the shared first step of every reward.

Completions arrive as plain strings or as TRL conversational messages; content may be a
string or a list of typed parts, and may hold anything a model can emit (lone surrogates,
megabytes of text, unclosed tags). These helpers never raise on such input.
"""

from __future__ import annotations

import re

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def clean(text: object) -> str:
    """``text`` as a valid UTF-8 ``str``: non-strings become ``""``, lone surrogates ``"?"``.

    >>> clean("ok\\ud800")
    'ok?'
    >>> clean(None)
    ''
    """
    if not isinstance(text, str):
        return ""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", errors="replace").decode("utf-8")


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return clean(content)
    if isinstance(content, list):  # multimodal parts: [{"type": "text", "text": ...}, ...]
        return "".join(clean(p.get("text")) for p in content if isinstance(p, dict) and p.get("type", "text") == "text")
    return ""


def completion_text(completion: object) -> str:
    """The generated text of one completion, plain or conversational.

    >>> completion_text("4")
    '4'
    >>> completion_text([{"role": "assistant", "content": "4"}])
    '4'
    """
    if isinstance(completion, str):
        return clean(completion)
    if isinstance(completion, dict):
        return _content_text(completion.get("content"))
    if isinstance(completion, (list, tuple)):
        return "".join(
            _content_text(m.get("content")) for m in completion if isinstance(m, dict) and m.get("role", "assistant") == "assistant"
        )
    return ""


def last_user_message(prompt: object) -> str:
    """The text of the last user turn of a prompt (the whole prompt when it is plain text)."""
    if isinstance(prompt, str):
        return clean(prompt)
    if isinstance(prompt, (list, tuple)):
        for message in reversed(prompt):
            if isinstance(message, dict) and message.get("role") == "user":
                return _content_text(message.get("content"))
    return ""


def prompt_text(prompt: object) -> str:
    r"""All the text of a prompt: plain, or every message's content, one per line.

    >>> prompt_text([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2 + 3?"}])
    'Be brief.\n2 + 3?'
    """
    if isinstance(prompt, str):
        return clean(prompt)
    if isinstance(prompt, (list, tuple)):
        return "\n".join(_content_text(m.get("content")) for m in prompt if isinstance(m, dict))
    return ""


def full_response(text: str) -> str:
    r"""The assistant's message: a response whose ``<think>`` the chat template wrote gets it back.

    >>> full_response("Two and two.</think>\n\n4"), full_response("<think>a</think> 4"), full_response("4")
    ('<think>\nTwo and two.</think>\n\n4', '<think>a</think> 4', '4')
    """
    close = text.find(THINK_CLOSE)
    if close >= 0 and THINK_OPEN not in text[:close]:
        return f"{THINK_OPEN}\n{text}"
    return text


def split_reasoning(text: str) -> tuple[str | None, str | None]:
    """Split a completion into ``(reasoning, answer_region)``.

    - ``<think>R</think>A`` -> ``(R, A)`` (the last ``</think>`` closes the reasoning);
    - ``<think>R`` never closed -> ``(R, None)``: the model never answered;
    - no think tags at all -> ``(None, text)``: everything is answer.

    >>> split_reasoning("<think>hm</think> 4")
    ('hm', ' 4')
    >>> split_reasoning("<think>hm...")
    ('hm...', None)
    >>> split_reasoning("4")
    (None, '4')
    """
    close = text.rfind(THINK_CLOSE)
    if close >= 0:
        start = text.find(THINK_OPEN)
        begin = start + len(THINK_OPEN) if 0 <= start < close else 0
        return text[begin:close], text[close + len(THINK_CLOSE):]
    start = text.find(THINK_OPEN)
    if start >= 0:
        return text[start + len(THINK_OPEN):], None
    return None, text


def answer_region(text: str, answer_tags: bool = False) -> str | None:
    """Where the final answer lives: after the last ``</think>``; with ``answer_tags``, inside
    the last ``<answer>...</answer>`` block there. ``None`` when there is no answer.

    >>> answer_region("<think>a</think><answer>x</answer><answer>y</answer>", answer_tags=True)
    'y'
    >>> answer_region("<think>a</think> 7") 
    ' 7'
    """
    _, answer = split_reasoning(text)
    if answer is None or not answer_tags:
        return answer
    blocks = _ANSWER_BLOCK.findall(answer)
    return blocks[-1] if blocks else None


# One token stream over everything brace matching must see; ``\\`` and ``\{``/``\}`` come first
# so that a LaTeX line break or an escaped (literal) brace is never read as a group delimiter.
_BRACE_TOKENS = re.compile(r"\\\\|\\[{}]|\\(?:boxed|fbox)\s*\{|[{}]")


def boxed_spans(text: str) -> list[tuple[int, int, int]]:
    """``(box start, content start, content end)`` of every complete outermost ``\\boxed{...}``
    (or ``\\fbox{...}``) in ``text``, in order; boxes nested in a box are part of its content.

    Braces are matched with one pass over the brace tokens only, so the cost is linear in the
    text whatever its nesting; unbalanced braces and boxes never closed are skipped, not fatal.

    >>> text = r"\\boxed{1} and \\boxed{\\boxed{2}}"
    >>> [text[start:end] for _, start, end in boxed_spans(text)]
    ['1', '\\\\boxed{2}']
    """
    depth = 0
    open_boxes: list[tuple[int, int, int]] = []  # (depth outside the box, box start, content start)
    spans: list[tuple[int, int, int]] = []
    for token in _BRACE_TOKENS.finditer(text):
        t = token.group()
        if t == "{":
            depth += 1
        elif t == "}":
            if depth == 0:
                continue  # a stray closing brace closes nothing
            depth -= 1
            if open_boxes and open_boxes[-1][0] == depth:
                _, box_start, content_start = open_boxes.pop()
                while spans and spans[-1][0] > box_start:  # boxes inside this one
                    spans.pop()
                spans.append((box_start, content_start, token.start()))
        elif len(t) > 2:  # \boxed{ or \fbox{ (the rest are \\, \{ and \}: literal text)
            open_boxes.append((depth, token.start(), token.end()))
            depth += 1
    return spans


def last_boxed(text: str) -> str | None:
    """Content of the last complete ``\\boxed{...}`` (or ``\\fbox{...}``) in ``text``, else ``None``.

    >>> last_boxed(r"so \\boxed{1} no, \\boxed{\\frac{1}{2}}.")
    '\\\\frac{1}{2}'
    >>> last_boxed(r"\\boxed{\\{1, 2\\}}")
    '\\\\{1, 2\\\\}'
    >>> last_boxed(r"\\boxed{3} then \\boxed{") 
    '3'
    >>> last_boxed("no box") is None
    True
    """
    spans = boxed_spans(text)
    return text[spans[-1][1]:spans[-1][2]] if spans else None


# What may stand between the boxes of one answer: spaces, commas, "and"/"or" (plain or in
# \text{}), LaTeX spacing and line breaks, math delimiters, and variables being named ("x = ",
# "a_1 = ", "(x, y) = ").
_VARIABLE = r"\\?[A-Za-z](?:_\{?\w+\}?)?"
_BETWEEN_PARTS = re.compile(
    r"(?:\s|[,;&]|\$|\\[()\[\]]|\\(?:quad|qquad|[,;:! ])|\\\\|\\text\s*\{\s*(?:and|or|,)?\s*\}|\b(?:and|or)\b"
    rf"|{_VARIABLE}\s*=|\(\s*{_VARIABLE}(?:\s*,\s*{_VARIABLE})+\s*\)\s*=)*",
    re.IGNORECASE,
)
# Or a few words that name what the boxes count ("\boxed{3} apples and \boxed{5} pears"), as
# long as they do not take an answer back: a correction's box ends the answer alone.
MAX_WORDS_BETWEEN_PARTS = 60  # characters
_CORRECTION = re.compile(
    r"\b(?:no|not|wait|actually|instead|rather|but|however|hmm+|oops|sorry|wrong|mistake|incorrect|correct(?:ion|ed)?"
    r"|recheck|re-?check|check|verify|again|scratch|ignore|redo|error|fail\w*|invalid|impossible|discard\w*|reject\w*"
    r"|so|therefore|thus|hence|final|answer)\b|n['’]t\b|[?!]|\\boxed",
    re.IGNORECASE,
)


def _between_parts(gap: str) -> bool:
    """Whether ``gap``, the text between two boxes, keeps them in one answer."""
    if _BETWEEN_PARTS.fullmatch(gap):
        return True
    return len(gap) <= MAX_WORDS_BETWEEN_PARTS and "\n\n" not in gap and not _CORRECTION.search(gap)


def final_boxes(text: str) -> list[str]:
    r"""Contents of the final group of boxes: the last box and the boxes before it that only
    spaces, commas, "and"/"or", math delimiters, ``x =`` or a few words naming what they count
    separate from it. ``[]``: no box.

    A multi-part answer boxes each part (``\boxed{1} and \boxed{-2}``, ``\boxed{3} apples and
    \boxed{5} pears``); a correction does not join its boxes (``\boxed{3}, no wait, \boxed{5}``
    ends with ``5`` alone), nor does a conclusion (``\boxed{3}, so the answer is \boxed{5}``).

    >>> final_boxes(r"So $x = \boxed{1}$ and $x = \boxed{-2}$.")
    ['1', '-2']
    >>> final_boxes(r"\boxed{3}, no wait, \boxed{5}"), final_boxes(r"\boxed{3} apples and \boxed{5} pears")
    (['5'], ['3', '5'])
    """
    spans = boxed_spans(text)
    if not spans:
        return []
    group = [spans[-1]]
    for span in reversed(spans[:-1]):
        gap = text[span[2] + 1:group[0][0]]
        if not _between_parts(gap):
            break
        group.insert(0, span)
    return [text[start:end] for _, start, end in group]
