r"""LiveCodeBench rows -> rows the ``code`` reward scores (``recipes/eval/livecodebench.yaml``).

    python -m trl_r1 convert-lcb code_generation_lite/test*.jsonl lcb.jsonl --since 2024-08-01 --until 2025-01-31

``stdin`` tests are kept as they are; ``functional`` (LeetCode) tests get the harness that turns
a call of ``Solution().<func_name>`` into a stdin -> stdout test. Private tests are pickles (as
LiveCodeBench's own loader reads them), decoded by an unpickler that loads no class or function.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import json
import pickle
import sys
import zlib
from collections import Counter
from datetime import date, datetime
from pathlib import Path

from datasets import load_dataset
from trl_r1_rewards import canonical_output, functional_harness

from .loading import load_any

HUB_ID = "livecodebench/code_generation_lite"
# The paper's LiveCodeBench window (docs/r1.md, "Evaluation").
PAPER_WINDOW = ("2024-08-01", "2025-01-31")


class _NoGlobals(pickle.Unpickler):
    """An unpickler that refuses every class and function: only plain data loads."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: test cases are plain data")

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("refused a persistent id: test cases are plain data")


def safe_unpickle(data: bytes):
    """``pickle.loads`` for plain data only (str, bytes, numbers, lists, dicts...).

    >>> safe_unpickle(pickle.dumps('[{"input": "1"}]'))
    '[{"input": "1"}]'
    """
    return _NoGlobals(io.BytesIO(data)).load()


def decode_tests(raw) -> list[dict]:
    """A LiveCodeBench test list: JSON text, or base64(zlib(pickle(JSON text))), or already a list.

    >>> encoded = base64.b64encode(zlib.compress(pickle.dumps(json.dumps([{"input": "1", "output": "2"}]))))
    >>> decode_tests(encoded.decode()), decode_tests('[]')
    ([{'input': '1', 'output': '2'}], [])
    """
    if isinstance(raw, list):
        return raw
    if raw is None or raw == "":
        return []
    try:
        tests = json.loads(raw)
    except ValueError:
        try:
            payload = safe_unpickle(zlib.decompress(base64.b64decode(raw, validate=True)))
        except (binascii.Error, zlib.error, pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
            raise ValueError(f"test cases are neither JSON nor LiveCodeBench's compressed form: {e}") from None
        tests = json.loads(payload) if isinstance(payload, (str, bytes)) else payload
    if not isinstance(tests, list) or not all(isinstance(t, dict) for t in tests):
        raise ValueError(f"test cases must be a list of objects, got {type(tests).__name__}")
    return tests


def prompt_text(question: str, starter_code: str | None) -> str:
    """The question as the model sees it: LiveCodeBench's zero-shot layout, the starter code
    (a LeetCode problem) or the stdin/stdout instruction, then where the answer goes.

    >>> print(prompt_text("Add two numbers.", "class Solution:\\n    def add(self, a, b):\\n        "))
    ### Question:
    Add two numbers.
    <BLANKLINE>
    ### Format: Complete the following starter code; put the whole solution in one ```python code block.
    ```python
    class Solution:
        def add(self, a, b):
    ```
    <BLANKLINE>
    ### Answer: (in the format above, within backticks)
    """
    text = f"### Question:\n{question.strip()}\n\n"
    if starter_code and starter_code.strip():
        text += ("### Format: Complete the following starter code; put the whole solution in one ```python code block.\n"
                 f"```python\n{starter_code.rstrip()}\n```\n\n")
    else:
        text += ("### Format: Read the input from stdin, solve the problem and write the answer to stdout (do not "
                 "just test on the sample inputs). Put the whole program in one ```python code block.\n"
                 "```python\n# YOUR CODE HERE\n```\n\n")
    return text + "### Answer: (in the format above, within backticks)"


def contest_day(value) -> date | None:
    """The day of a ``contest_date`` (ISO text such as ``2024-08-03T00:00:00``, or a datetime).

    >>> contest_day("2024-08-03T19:30:00"), contest_day(None)
    (datetime.date(2024, 8, 3), None)
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()


def convert_row(row: dict) -> dict:
    """One LiveCodeBench row as the ``code`` reward reads it (``ValueError`` when unreadable)."""
    metadata = row.get("metadata") or {}
    if isinstance(metadata, str):
        metadata = json.loads(metadata) if metadata.strip() else {}
    func_name = metadata.get("func_name") or None  # LiveCodeBench's rule: a func_name makes it call-based
    public, private = decode_tests(row.get("public_test_cases")), decode_tests(row.get("private_test_cases"))
    tests = []
    for test in public + private:
        if not isinstance(test.get("input"), str) or not isinstance(test.get("output"), str):
            raise ValueError("a test case without string input and output")
        output = canonical_output(test["output"]) if func_name else test["output"]
        tests.append({"input": test["input"], "output": output})
    if not tests:
        raise ValueError("no test cases")
    day = contest_day(row.get("contest_date"))
    return {
        "question_id": str(row.get("question_id", "")),
        "question_title": row.get("question_title") or "",
        "platform": row.get("platform") or "",
        "difficulty": row.get("difficulty") or "",
        "contest_id": str(row.get("contest_id", "")),
        "contest_date": day.isoformat() if day else None,
        "question_content": row.get("question_content") or "",
        "starter_code": row.get("starter_code") or "",
        "problem": prompt_text(row.get("question_content") or "", row.get("starter_code")),
        "testtype": "functional" if func_name else "stdin",
        "func_name": func_name,
        "harness": functional_harness(func_name) if func_name else None,
        "num_public_tests": len(public),
        "test_cases": tests,
    }


def iter_rows(source: str, hub_files: str):
    """LiveCodeBench rows from a local JSONL (read line by line), another local data file or
    folder (:func:`trl_r1.data.load_any`), or the Hub id (its JSONL files ``hub_files``)."""
    path = Path(source)
    if path.suffix == ".jsonl" and path.is_file():
        with path.open() as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)
        return


    if path.exists():
        splits = load_any(source)
    else:  # the Hub: the dataset's loading script is not run; its JSONL files are the data
        splits = load_dataset("json", data_files=f"hf://datasets/{source}/{hub_files}")
    for split in splits.values():
        yield from split


def convert(sources: list[str], output: Path, since: date | None = None, until: date | None = None,
            hub_files: str = "test*.jsonl") -> Counter:
    """Write the rows of ``sources`` dated within [since, until] to ``output`` (JSONL), each
    question once; return counts."""
    counts: Counter = Counter()
    seen: set[str] = set()
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w") as out:
        for row in (row for source in sources for row in iter_rows(source, hub_files)):
            counts["read"] += 1
            day = contest_day(row.get("contest_date"))
            if (since or until) and (day is None or (since and day < since) or (until and day > until)):
                counts["outside_window"] += 1
                continue
            key = f"{row.get('platform')}/{row.get('question_id')}"
            if key in seen:
                counts["duplicates"] += 1
                continue
            seen.add(key)
            try:
                converted = convert_row(row)
            except (ValueError, TypeError, AttributeError) as e:
                counts["unreadable"] += 1
                print(f"skipped {row.get('question_id', '?')}: {e}", file=sys.stderr)
                continue
            out.write(json.dumps(converted, ensure_ascii=False) + "\n")
            counts["kept"] += 1
            counts[converted["testtype"]] += 1
            counts["tests"] += len(converted["test_cases"])
            counts["public_tests"] += converted["num_public_tests"]
    return counts


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def main(argv: list[str]) -> int:
    """``python -m trl_r1 convert-lcb IN [IN ...] OUT [--since DAY] [--until DAY]``."""
    parser = argparse.ArgumentParser(
        prog="python -m trl_r1 convert-lcb",
        description="Convert LiveCodeBench code-generation rows into a JSONL the `code` reward scores "
                    "(recipes/eval/livecodebench.yaml).",
    )
    parser.add_argument("sources", metavar="IN", nargs="+",
                        help=f"LiveCodeBench rows: local JSONL/Parquet files (e.g. its test*.jsonl), a folder, "
                             f"or the Hub id ({HUB_ID})")
    parser.add_argument("output", metavar="OUT", help="the converted rows (JSONL)")
    parser.add_argument("--since", type=_day, default=None, help="first contest day kept, YYYY-MM-DD (inclusive)")
    parser.add_argument("--until", type=_day, default=None, help="last contest day kept, YYYY-MM-DD (inclusive)")
    parser.add_argument("--paper-window", action="store_true",
                        help=f"the R1 paper's window: --since {PAPER_WINDOW[0]} --until {PAPER_WINDOW[1]}")
    parser.add_argument("--hub-files", default="test*.jsonl",
                        help="with a Hub id: which of its JSONL files to read (default: test*.jsonl, every release)")
    args = parser.parse_args(argv)
    if args.paper_window:
        if args.since or args.until:
            parser.error("--paper-window sets --since and --until; give one or the other")
        args.since, args.until = map(date.fromisoformat, PAPER_WINDOW)
    if args.since and args.until and args.since > args.until:
        parser.error(f"--since {args.since} is after --until {args.until}")
    output = Path(args.output)
    if output.suffix != ".jsonl":
        parser.error(f"OUT must be a .jsonl file, got {args.output}")
    counts = convert(args.sources, output, args.since, args.until, args.hub_files)
    window = f" dated {args.since or '...'} to {args.until or '...'}" if args.since or args.until else ""
    print(f"{counts['read']} problems read, {counts['kept']} kept{window} ({counts['stdin']} stdin, "
          f"{counts['functional']} functional), {counts['outside_window']} outside the window, "
          f"{counts['unreadable']} unreadable" + (f", {counts['duplicates']} duplicates" if counts["duplicates"] else ""))
    print(f"{counts['tests']} test cases ({counts['public_tests']} public, {counts['tests'] - counts['public_tests']} private)")
    print(f"written to {output}")
    return 0 if counts["kept"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
