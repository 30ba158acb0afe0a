"""Reading the program and the test cases out of a completion and a dataset row."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .languages import Language

# An opening fence with an optional info string, the body, and a closing fence at a line start.
_FENCED_BLOCK = re.compile(r"```[ \t]*([^\s`]*)[^\n]*\n(.*?)^[ \t]*```", re.DOTALL | re.MULTILINE)


def extract_program(answer: str | None, language: Language) -> str | None:
    """The last closed fenced code block of ``answer`` tagged for ``language`` or untagged.

    Blocks in other languages (```text, ```bash) are skipped; ``None`` when there is none.

    >>> from trl_r1_rewards.code.languages import get_language
    >>> extract_program("```py\\nprint(1)\\n```\\n```text\\n1\\n```", get_language("python"))
    'print(1)\\n'
    >>> extract_program("no code", get_language("python")) is None
    True
    """
    if not answer:
        return None
    program = None
    for match in _FENCED_BLOCK.finditer(answer):
        tag = match.group(1).lower()
        if not tag or tag in language.fence_tags:
            program = match.group(2)
    return program


@dataclass(frozen=True)
class TestCase:
    """One test: the program's stdin, and the stdout expected from it."""

    __test__ = False  # not a pytest test class

    input: str
    output: str


def parse_test_cases(raw: object) -> list[TestCase] | None:
    """The test cases of one row; ``None`` when the row has none (or they are unreadable).

    Accepts a list of ``{"input", "output"}`` dicts, the same as a JSON string (how many
    datasets store it), or APPS-style ``{"inputs": [...], "outputs": [...]}``.

    >>> parse_test_cases('[{"input": "1", "output": "2"}]')
    [TestCase(input='1', output='2')]
    >>> parse_test_cases(None) is None, parse_test_cases([]) is None
    (True, True)
    """
    if isinstance(raw, (str, bytes)):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    if isinstance(raw, dict) and isinstance(raw.get("inputs"), list) and isinstance(raw.get("outputs"), list):
        raw = [{"input": i, "output": o} for i, o in zip(raw["inputs"], raw["outputs"])]
    if not isinstance(raw, list) or not raw:
        return None
    cases = []
    for case in raw:
        if not isinstance(case, dict) or not isinstance(case.get("output"), str):
            return None
        stdin = case.get("input")
        cases.append(TestCase(input=stdin if isinstance(stdin, str) else "", output=case["output"]))
    return cases
