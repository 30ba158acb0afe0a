"""LiveCodeBench conversion (`convert-lcb`) on rows written exactly as LiveCodeBench stores them,
scored end to end by the `code` reward in the real local sandbox."""

from __future__ import annotations

import base64
import json
import os
import pickle
import zlib
from pathlib import Path

import pytest
from helpers import run_cli
from trl_r1_rewards import load_reward

from trl_r1.data.livecodebench import decode_tests
from trl_r1.generation.backends import Completion
from trl_r1.generation.evaluation import EvalConfig, _score, load_questions


def lcb_private(tests: list[dict]) -> str:
    """``private_test_cases`` as LiveCodeBench encodes it: base64(zlib(pickle(json)))."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


STDIN_ROW = {
    "question_title": "Sum of Two", "question_content": "Read A and B and print A+B.", "platform": "atcoder",
    "question_id": "abc370_a", "contest_id": "abc370", "contest_date": "2024-09-07T00:00:00", "starter_code": "",
    "difficulty": "easy", "metadata": "{}",
    "public_test_cases": json.dumps([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]),
    "private_test_cases": lcb_private([{"input": "10 -4\n", "output": "6\n", "testtype": "stdin"},
                                       {"input": "0 0\n", "output": "0\n", "testtype": "stdin"}]),
}
STARTER = "class Solution:\n    def topK(self, nums: List[int], k: int) -> List[int]:\n        "
FUNCTIONAL_ROW = {
    "question_title": "Top K", "question_content": "Return the k largest numbers of nums, largest first.",
    "platform": "leetcode", "question_id": "3400", "contest_id": "weekly-contest-420",
    "contest_date": "2024-10-19T00:00:00", "starter_code": STARTER, "difficulty": "medium",
    "metadata": json.dumps({"func_name": "topK"}),
    "public_test_cases": json.dumps([{"input": "[3, 1, 2]\n2", "output": "[3,2]", "testtype": "functional"}]),
    "private_test_cases": lcb_private([{"input": "[5]\n1", "output": "[5]", "testtype": "functional"},
                                       {"input": "[-1, 7, 7, 0]\n3", "output": "[7, 7, 0]", "testtype": "functional"}]),
}
OLD_ROW = {**STDIN_ROW, "question_id": "abc300_a", "contest_date": "2023-04-29T00:00:00",
           "private_test_cases": json.dumps([{"input": "5 5\n", "output": "10\n", "testtype": "stdin"}])}


class SystemCall:
    """A pickle payload that would run a shell command when loaded by ``pickle.loads``."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def malicious_private(marker: Path) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(SystemCall(f"touch {marker}")))).decode()


def test_private_tests_decode_as_livecodebench_stores_them():
    assert decode_tests(STDIN_ROW["private_test_cases"]) == [
        {"input": "10 -4\n", "output": "6\n", "testtype": "stdin"}, {"input": "0 0\n", "output": "0\n", "testtype": "stdin"}]
    assert decode_tests(OLD_ROW["private_test_cases"])[0]["output"] == "10\n"  # older rows: plain JSON


def test_a_pickle_that_calls_os_system_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    encoded = malicious_private(marker)
    assert pickle.loads(zlib.decompress(base64.b64decode(encoded))) == 0 and marker.exists()  # what pickle would do
    marker.unlink()
    with pytest.raises(ValueError, match="refused to load (posix|os).system"):
        decode_tests(encoded)
    assert not marker.exists()


@pytest.fixture
def lcb_file(tmp_path) -> Path:
    marker = tmp_path / "pwned"
    evil = {**STDIN_ROW, "question_id": "evil", "private_test_cases": malicious_private(marker)}
    path = tmp_path / "lcb_raw.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [STDIN_ROW, OLD_ROW, FUNCTIONAL_ROW, evil]))
    return path


def test_convert_filters_by_contest_date_and_reports_counts(lcb_file, tmp_path):
    out = tmp_path / "lcb.jsonl"
    result = run_cli("convert-lcb", str(lcb_file), str(out), "--since", "2024-08-01", "--until", "2025-01-31")
    assert "4 problems read, 2 kept dated 2024-08-01 to 2025-01-31 (1 stdin, 1 functional), " \
           "1 outside the window, 1 unreadable" in result.stdout
    assert "6 test cases (2 public, 4 private)" in result.stdout
    assert "skipped evil" in result.stderr and "refused" in result.stderr
    assert not (tmp_path / "pwned").exists()
    stdin, functional = [json.loads(line) for line in out.read_text().splitlines()]

    assert (stdin["question_id"], stdin["contest_date"], stdin["testtype"]) == ("abc370_a", "2024-09-07", "stdin")
    assert stdin["harness"] is None and stdin["func_name"] is None
    assert stdin["test_cases"] == [{"input": "1 2\n", "output": "3\n"}, {"input": "10 -4\n", "output": "6\n"},
                                   {"input": "0 0\n", "output": "0\n"}]
    assert "Read A and B and print A+B." in stdin["problem"] and "stdin" in stdin["problem"]

    assert (functional["testtype"], functional["func_name"], functional["contest_date"]) == ("functional", "topK", "2024-10-19")
    assert functional["question_content"] == FUNCTIONAL_ROW["question_content"]
    assert f"```python\n{STARTER.rstrip()}\n```" in functional["problem"]  # the starter code is in the prompt
    assert functional["test_cases"] == [  # outputs in the harness's canonical JSON
        {"input": "[3, 1, 2]\n2", "output": "[3, 2]"}, {"input": "[5]\n1", "output": "[5]"},
        {"input": "[-1, 7, 7, 0]\n3", "output": "[7, 7, 0]"}]
    assert "_run_functional(PROGRAM, 'topK')" in functional["harness"]

    # Several files (LiveCodeBench's test.jsonl ... test6.jsonl), each question kept once.
    everything = run_cli("convert-lcb", str(lcb_file), str(lcb_file), str(tmp_path / "all.jsonl"))
    assert "8 problems read, 3 kept (2 stdin, 1 functional), 0 outside the window, 1 unreadable, " \
           "4 duplicates" in everything.stdout
    bad = run_cli("convert-lcb", str(lcb_file), str(tmp_path / "x.jsonl"), "--since", "2025-02-01",
                  "--until", "2025-01-01", check=False)
    assert bad.returncode == 2 and "after --until" in bad.stderr


def answer(code: str) -> Completion:
    return Completion(text=f"<think>Let me solve it.</think>\nHere it is:\n```python\n{code}\n```", num_tokens=9)


RIGHT_SOLUTION = """\
class Solution:
    def topK(self, nums: List[int], k: int) -> List[int]:
        print("debugging output is not the answer")
        return tuple(sorted(nums, reverse=True)[:k])   # a tuple: LiveCodeBench accepts it for a list

if __name__ == "__main__":
    print(Solution().topK([1, 2], 1))
"""
WRONG_SOLUTION = """\
class Solution:
    def topK(self, nums, k):
        print([3, 2])
        return sorted(nums)[:k]
"""


def test_converted_rows_are_scored_by_the_code_reward_in_the_sandbox(lcb_file, tmp_path):
    """The evaluation's own path: the converted file loaded as `evaluate` loads it, each question
    scored by `_score` with the recipe's scorer, programs run in the local sandbox."""
    from datasets import Dataset

    raw = tmp_path / "lcb_raw.parquet"  # LiveCodeBench rows as Parquet this time
    Dataset.from_list([json.loads(line) for line in lcb_file.read_text().splitlines()]).to_parquet(str(raw))
    out = tmp_path / "lcb.jsonl"
    result = run_cli("convert-lcb", str(raw), str(out), "--paper-window")
    assert "2 kept dated 2024-08-01 to 2025-01-31" in result.stdout
    recipe = Path(__file__).resolve().parents[2] / "recipes/eval/livecodebench.yaml"
    from trl_r1.recipe import load_recipe

    (recipe_config,) = load_recipe(recipe, ["--dataset_name", str(out)], check_only=True).configs
    config = EvalConfig(model_name_or_path="m", dataset_name=str(out), problem_column=recipe_config.problem_column,
                        answer_column=recipe_config.answer_column, scorer="code",
                        scorer_kwargs={**recipe_config.scorer_kwargs, "timeout": 2.0, "memory_mb": 256})
    stdin_row, functional_row = load_questions(config)
    scorer = load_reward("code", **config.scorer_kwargs)

    completions = [answer(RIGHT_SOLUTION), answer(WRONG_SOLUTION), answer("class Solution:\n    pass")]
    rows = _score(config, scorer, 1, functional_row, functional_row["problem"], completions)
    assert [r["score"] for r in rows] == [1.0, 0.0, 0.0]  # the wrong one passes 1 of 3 tests: binary, 0
    assert rows[0]["gold"] == "3400"  # the question id, not megabytes of tests in every sample line
    assert all(r["answer"] is None for r in rows)  # no final answer to vote on: none extracted

    stdin_answers = [answer("a, b = map(int, input().split())\nprint(a + b)"), answer("print(3)")]
    rows = _score(config, scorer, 0, stdin_row, stdin_row["problem"], stdin_answers)
    assert [r["score"] for r in rows] == [1.0, 0.0]
