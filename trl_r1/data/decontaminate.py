"""Decontamination: drop training rows that share a word n-gram with an evaluation question.

R1 removes training text sharing a 10-gram with any test question (docs/r1.md). Texts are
normalised (lower case, punctuation to spaces, whitespace collapsed) and split into words; every
n-gram of each evaluation question is hashed into one table, and each training row is checked
by hashing its own n-grams and looking them up: linear in the data, no pairwise comparison.
A question shorter than n words counts as one n-gram of its own length: a training row
containing the whole question as consecutive words is contaminated by it.

    python -m trl_r1 decontaminate train.jsonl --against aime24.jsonl:aime24 math500.parquet \\
        --column problem --output clean.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .loading import load_any

DEFAULT_NGRAM = 10  # the paper's setting
_PUNCTUATION = re.compile(r"[^\w\s]|_")


def normalize(text: str) -> list[str]:
    """The words n-grams are built from: lower case, punctuation removed, whitespace collapsed.

    >>> normalize("  What is  2+2?\\nAnswer:\\tFOUR. ")
    ['what', 'is', '2', '2', 'answer', 'four']
    """
    return _PUNCTUATION.sub(" ", str(text).lower()).split()


def _gram_hashes(words: Sequence[str], n: int) -> set[int]:
    """Hashes of the word n-grams of ``words`` (Python's own hash of the word tuple: stable
    within a process, which is all one index needs)."""
    return set(map(hash, zip(*(words[j:] for j in range(n)))))


@dataclass
class NgramIndex:
    """Hashed n-grams of evaluation questions, each mapped to the benchmarks it occurs in.

    >>> index = NgramIndex(n=3)
    >>> index.add(["Find the sum of all integer bases b > 9"], "aime24")
    >>> index.add(["Compute 7 + 8."], "math500")
    >>> sorted(index.matches("Problem: FIND the   sum, of all integer bases... and compute 7+8"))
    ['aime24', 'math500']
    >>> index.matches("the sum, then all")
    set()
    """

    n: int = DEFAULT_NGRAM
    benchmarks: list[str] = field(default_factory=list)
    _grams: dict[int, int] = field(default_factory=dict)  # gram hash -> bit mask of benchmarks
    _short: dict[int, dict[int, int]] = field(default_factory=dict)  # length < n -> {hash: mask}

    def __post_init__(self):
        if self.n < 1:
            raise ValueError(f"n-gram size must be >= 1, got {self.n}")

    def add(self, questions: Iterable[str], benchmark: str) -> None:
        """Index every question of ``benchmark``."""
        if benchmark not in self.benchmarks:
            self.benchmarks.append(benchmark)
        bit = 1 << self.benchmarks.index(benchmark)
        for question in questions:
            words = normalize(question)
            if not words:
                continue
            table = self._grams if len(words) >= self.n else self._short.setdefault(len(words), {})
            for h in _gram_hashes(words, min(self.n, len(words))):
                table[h] = table.get(h, 0) | bit

    def match_mask(self, text: str) -> int:
        """Bit mask (bit i: ``benchmarks[i]``) of the benchmarks sharing an n-gram with ``text``."""
        words = normalize(text)
        mask = 0
        for table, n in [(self._grams, self.n), *((t, length) for length, t in self._short.items())]:
            grams = _gram_hashes(words, n)
            if not table.keys().isdisjoint(grams):  # the common case, clean rows, stops here
                for h in grams:
                    mask |= table.get(h, 0)
        return mask

    def matches(self, text: str) -> set[str]:
        """The benchmarks sharing an n-gram with ``text``."""
        mask = self.match_mask(text)
        return {name for i, name in enumerate(self.benchmarks) if mask >> i & 1}


@dataclass
class Report:
    """What decontamination removed: rows in, rows removed, and removals per benchmark (a row
    overlapping two benchmarks counts for both, once in ``removed``)."""

    rows: int
    removed: int
    per_benchmark: dict[str, int]

    def __str__(self) -> str:
        lines = [f"{self.removed} of {self.rows} training rows removed ({self.rows - self.removed} kept)"]
        lines += [f"  {name}: {count} rows" for name, count in self.per_benchmark.items()]
        return "\n".join(lines)


def rows_to_keep(texts: Sequence[str], index: NgramIndex) -> tuple[list[int], Report]:
    """Indices of the rows of ``texts`` to keep, and the report."""
    keep: list[int] = []
    per_bit = [0] * len(index.benchmarks)
    for i, text in enumerate(texts):
        mask = index.match_mask(text or "")
        if not mask:
            keep.append(i)
            continue
        for b in range(len(per_bit)):
            if mask >> b & 1:
                per_bit[b] += 1
    report = Report(len(texts), len(texts) - len(keep), dict(zip(index.benchmarks, per_bit, strict=True)))
    return keep, report


def decontaminate(train, column: str, index: NgramIndex):
    """``(train without contaminated rows, Report)`` for a ``datasets.Dataset``."""
    if column not in train.column_names:
        raise ValueError(f"--column: the training data has no column {column!r}; its columns are {train.column_names}")
    keep, report = rows_to_keep(train[column], index)
    return train.select(keep), report


def _split_spec(spec: str) -> tuple[str, str]:
    """``PATH[:name]`` -> (path, name); the name defaults to the file's stem.

    >>> _split_spec("data/aime24.jsonl:aime24"), _split_spec("data/math500.parquet"), _split_spec("builtin:arithmetic")
    (('data/aime24.jsonl', 'aime24'), ('data/math500.parquet', 'math500'), ('builtin:arithmetic', 'arithmetic'))
    """
    source, sep, name = spec.rpartition(":")
    if not sep or source in ("", "builtin") or Path(spec).exists():
        source, name = spec, ""
    return source, name or Path(source.split(":")[-1]).stem or source


def conversation_text(messages: Iterable[dict]) -> str:
    """What decontamination checks of a conversation: every turn but the system prompt.

    >>> conversation_text([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"},
    ...                    {"role": "assistant", "content": None}])
    '2+2?\\n'
    """
    return "\n".join(turn["content"] or "" for turn in messages if turn["role"] != "system")


def build_index(specs: Iterable[str], column: str = "problem", n: int = DEFAULT_NGRAM) -> NgramIndex:
    """The n-gram index of the questions in ``column`` of every split of each evaluation set
    ``PATH[:name]`` (a data file, a ``save_to_disk`` folder, a Hub id or ``builtin:<name>``)."""

    index = NgramIndex(n=n)
    for spec in specs:
        source, name = _split_spec(spec)
        questions = []
        for split_name, split in load_any(source).items():
            if column not in split.column_names:
                raise ValueError(f"{source} (split {split_name}) has no column {column!r}; "
                                 f"its columns are {split.column_names}")
            questions += split[column]
        index.add(questions, name)
    return index


def _save(dataset, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix in (".jsonl", ".json"):
        dataset.to_json(str(output), lines=True, force_ascii=False)
    elif output.suffix == ".parquet":
        dataset.to_parquet(str(output))
    elif output.suffix == ".csv":
        dataset.to_csv(str(output), index=False)
    else:
        dataset.save_to_disk(str(output))


def main(argv: list[str]) -> int:
    """``python -m trl_r1 decontaminate TRAIN --against EVAL[:name] ... --output OUT``."""
    parser = argparse.ArgumentParser(
        prog="python -m trl_r1 decontaminate",
        description="Remove training rows sharing a word n-gram with any evaluation question.",
    )
    parser.add_argument("train", help="training data: a JSONL/JSON/CSV/Parquet file, a save_to_disk folder, or a Hub id")
    parser.add_argument("--against", nargs="+", required=True, metavar="EVAL[:name]",
                        help="evaluation sets (same kinds of source), each optionally named for the report")
    parser.add_argument("--column", default="problem", help="text column of the training data (default: problem)")
    parser.add_argument("--eval-column", default=None, help="question column of the evaluation sets (default: --column)")
    parser.add_argument("--split", default="train", help="split of the training data (default: train)")
    parser.add_argument("--ngram", type=int, default=DEFAULT_NGRAM, help=f"n-gram size in words (default: {DEFAULT_NGRAM})")
    parser.add_argument("--output", required=True, help="where the kept rows go (.jsonl, .parquet, .csv, or a folder)")
    parser.add_argument("--report", default=None, help="also write the report as JSON here")
    args = parser.parse_args(argv)


    try:
        index = build_index(args.against, args.eval_column or args.column, args.ngram)
    except ValueError as e:
        parser.error(f"{e}; set --eval-column")
    data = load_any(args.train)
    if args.split not in data:
        parser.error(f"{args.train} has no split {args.split!r}; its splits are {list(data)}")
    try:
        kept, report = decontaminate(data[args.split], args.column, index)
    except ValueError as e:
        parser.error(str(e))
    _save(kept, Path(args.output))
    print(report)
    print(f"kept rows written to {args.output}")
    if args.report:
        Path(args.report).write_text(json.dumps(
            {"rows": report.rows, "removed": report.removed, "per_benchmark": report.per_benchmark}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
