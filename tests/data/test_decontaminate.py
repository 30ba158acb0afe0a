"""Decontamination: crafted overlaps (exact, whitespace, case, punctuation) and non-overlaps,
and the CLI verb on real files."""

from __future__ import annotations

import json

import pytest
from helpers import run_cli

from trl_r1.data.decontaminate import NgramIndex, rows_to_keep

AIME = "Find the number of ordered pairs of integers such that both x and y are between minus one hundred and one hundred"
MATH = "Compute the sum of the first twenty positive odd integers and express your answer in simplest form please"


@pytest.fixture
def index():
    index = NgramIndex()  # n = 10, the paper's setting
    index.add([AIME], "aime24")
    index.add([MATH, "What is 2+2?"], "math500")
    return index


@pytest.mark.parametrize(
    "text",
    [
        AIME,  # exact
        "Intro text. " + " ".join(AIME.split()[3:13]) + " and then something else entirely",  # a 10-word slice
        AIME.replace(" ", "   \n\t "),  # whitespace changes
        AIME.upper(),  # case changes
        AIME.replace("ordered pairs", "ordered, pairs").replace("integers", "integers;") + "?!",  # punctuation
    ],
    ids=["exact", "slice", "whitespace", "case", "punctuation"],
)
def test_overlaps_are_found(index, text):
    assert index.matches(text) == {"aime24"}


@pytest.mark.parametrize(
    "text",
    [
        " ".join(AIME.split()[:9]),  # 9 consecutive words: below the 10-gram
        " ".join(AIME.split()[::2]),  # same words, not consecutive
        "An unrelated question about triangles and circles inscribed in squares of side length ten units",
        "",
    ],
    ids=["nine-words", "scrambled", "unrelated", "empty"],
)
def test_non_overlaps_are_kept(index, text):
    assert index.matches(text) == set()


def test_short_question_contaminates_only_as_a_whole(index):
    assert index.matches("Warm-up: what is 2 + 2 ? Then continue.") == {"math500"}
    assert index.matches("what is 2") == set()


def test_report_counts_rows_per_benchmark(index):
    texts = [AIME, "nothing here", MATH.lower(), AIME + " " + MATH, "what is 2+2"]
    keep, report = rows_to_keep(texts, index)
    assert keep == [1]
    assert (report.rows, report.removed, report.per_benchmark) == (5, 4, {"aime24": 2, "math500": 3})


def test_cli_removes_overlapping_rows_and_reports(tmp_path):
    train = tmp_path / "train.jsonl"
    rows = [{"problem": AIME.upper(), "solution": "1"}, {"problem": "A clean question about primes", "solution": "2"},
            {"problem": "Say: " + MATH, "solution": "3"}, {"problem": "Another clean one", "solution": "4"}]
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "aime.jsonl").write_text(json.dumps({"question": AIME, "answer": "7"}) + "\n")
    (tmp_path / "m500.jsonl").write_text(json.dumps({"question": MATH, "answer": "400"}) + "\n")
    out, report = tmp_path / "clean.jsonl", tmp_path / "report.json"
    result = run_cli("decontaminate", str(train), "--against", f"{tmp_path / 'aime.jsonl'}:aime24",
                     str(tmp_path / "m500.jsonl"), "--eval-column", "question", "--output", str(out),
                     "--report", str(report))
    assert "2 of 4 training rows removed" in result.stdout
    assert "aime24: 1 rows" in result.stdout and "m500: 1 rows" in result.stdout
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["solution"] for r in kept] == ["2", "4"]
    assert json.loads(report.read_text()) == {"rows": 4, "removed": 2, "per_benchmark": {"aime24": 1, "m500": 1}}


def test_cli_names_a_missing_column(tmp_path):
    (tmp_path / "t.jsonl").write_text(json.dumps({"text": "x"}) + "\n")
    result = run_cli("decontaminate", str(tmp_path / "t.jsonl"), "--against", str(tmp_path / "t.jsonl"),
                     "--eval-column", "text", "--output", str(tmp_path / "o.jsonl"), check=False)
    assert result.returncode == 2 and "no column 'problem'" in result.stderr
