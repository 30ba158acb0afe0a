"""Generated task sets with checkable answers: arithmetic questions and small stdin -> stdout
programs. Deterministic, so a recipe trains on the same rows on every machine, offline."""

from __future__ import annotations

import math
import random

from datasets import Dataset, DatasetDict


def arithmetic(num_train: int = 2000, num_test: int = 200, max_operand: int = 50, seed: int = 1234) -> DatasetDict:
    """Questions ``What is a + b?`` / ``a - b`` with the answer in a ``solution`` column and the
    larger operand in ``difficulty`` (a curriculum's order: ``curriculum_column``); the test
    questions are distinct and never among the training questions.

    >>> ds = arithmetic(num_train=3, num_test=1)
    >>> ds["train"][0]
    {'problem': 'What is 49 + 28?', 'solution': '77', 'difficulty': 49}
    """
    rng = random.Random(seed)

    def row() -> dict:
        a, b = rng.randint(0, max_operand), rng.randint(0, max_operand)
        if rng.random() < 0.5:
            return {"problem": f"What is {a} + {b}?", "solution": str(a + b), "difficulty": max(a, b)}
        a, b = max(a, b), min(a, b)
        return {"problem": f"What is {a} - {b}?", "solution": str(a - b), "difficulty": a}

    train = [row() for _ in range(num_train)]
    seen, test = {r["problem"] for r in train}, []
    while len(test) < num_test:  # held out: no test question is also a training question
        if (candidate := row())["problem"] not in seen:
            seen.add(candidate["problem"])
            test.append(candidate)
    return DatasetDict(train=Dataset.from_list(train), test=Dataset.from_list(test))


# (task statement, function computing the expected output from the input's text, input maker)
_CODE_TASKS = [
    ("reads two integers a and b (on one line) and prints a + b",
     lambda s: str(sum(map(int, s.split()))), lambda r: f"{r.randint(-99, 99)} {r.randint(-99, 99)}"),
    ("reads integers on one line and prints the largest",
     lambda s: str(max(map(int, s.split()))), lambda r: " ".join(str(r.randint(-50, 50)) for _ in range(r.randint(1, 6)))),
    ("reads a line of text and prints it reversed",
     lambda s: s[::-1], lambda r: "".join(r.choice("abcdefgh xyz") for _ in range(r.randint(1, 12))).strip() or "a"),
    ("reads a line of text and prints how many vowels (a, e, i, o, u) it contains",
     lambda s: str(sum(c in "aeiou" for c in s)), lambda r: "".join(r.choice("abcdeiouxyz") for _ in range(r.randint(1, 15)))),
    ("reads an integer n (0 <= n <= 20) and prints n factorial",
     lambda s: str(math.factorial(int(s))), lambda r: str(r.randint(0, 20))),
    ("reads integers on one line and prints them sorted ascending, separated by spaces",
     lambda s: " ".join(map(str, sorted(map(int, s.split())))), lambda r: " ".join(str(r.randint(0, 99)) for _ in range(r.randint(1, 7)))),
    ("reads a non-negative integer and prints the sum of its digits",
     lambda s: str(sum(map(int, s))), lambda r: str(r.randint(0, 10**6))),
    ("reads a line of text and prints it in upper case",
     lambda s: s.upper(), lambda r: "".join(r.choice("abc def") for _ in range(r.randint(1, 10))).strip() or "b"),
]


def code_tasks(num_train: int = 256, num_test: int = 32, tests_per_task: int = 4, seed: int = 1234) -> DatasetDict:
    """Small stdin -> stdout programming tasks with ``test_cases`` for the ``code`` reward.

    >>> row = code_tasks(num_train=1, num_test=0)["train"][0]
    >>> row["problem"].startswith("Write a Python program that reads two integers"), len(row["test_cases"])
    (True, 4)
    """
    rng = random.Random(seed)
    rows = []
    for i in range(num_train + num_test):
        statement, solve, make_input = _CODE_TASKS[i % len(_CODE_TASKS)]
        inputs = [make_input(rng) for _ in range(tests_per_task)]
        rows.append({
            "problem": f"Write a Python program that {statement}.",
            "test_cases": [{"input": x + "\n", "output": solve(x) + "\n"} for x in inputs],
        })
    return DatasetDict(train=Dataset.from_list(rows[:num_train]), test=Dataset.from_list(rows[num_train:]))
