"""Honest programs get the reward they deserve, through ``load_reward("code")`` too."""

from __future__ import annotations

import json
import shutil

import pytest
from trl_r1_rewards import load_reward
from trl_r1_rewards.code import CodeReward, RunResult, SandboxError

DOUBLE = "print(int(input()) * 2)"
DOUBLE_TESTS = [("2", "4"), ("5", "10"), ("-1", "-2")]


def test_correct_program_scores_one(score):
    assert score(DOUBLE, DOUBLE_TESTS) == 1.0


def test_wrong_program_scores_zero(score):
    assert score("print(int(input()) + 2)", [("5", "10"), ("1", "2")]) == 0.0


def test_partially_right_program_scores_the_fraction_passed(score):
    assert score("print(int(input()) + 2)", DOUBLE_TESTS) == pytest.approx(1 / 3)  # only 2 -> 4


def test_raising_program_scores_zero(score):
    assert score("raise ValueError('no')", DOUBLE_TESTS) == 0.0


def test_program_reading_all_of_stdin(score):
    program = """
        import sys
        n, *xs = map(int, sys.stdin.read().split())
        print(sum(xs[:n]))
        for x in xs[:n]:
            print(x * x, end=" ")
    """
    assert score(program, [("3\n1 2 3\n", "6\n1 4 9\n"), ("1\n7", "7\n49")]) == 1.0


def test_binary_option_is_all_or_nothing():
    reward = CodeReward(binary=True, timeout=1.0)
    completion = "```py\nprint(int(input()) + 2)\n```"
    assert reward(prompts=["q"], completions=[completion], test_cases=[[dict(input="2", output="4")]]) == [1.0]
    tests = [dict(input=i, output=o) for i, o in DOUBLE_TESTS]
    assert reward(prompts=["q"], completions=[completion], test_cases=[tests]) == [0.0]


def test_float_tolerance_and_exact_options():
    completion = "```python\nprint(1/3)\n```"
    tests = [[{"input": "", "output": "0.333333"}]]
    assert CodeReward()(prompts=["q"], completions=[completion], test_cases=tests) == [0.0]
    assert CodeReward(float_tolerance=1e-5)(prompts=["q"], completions=[completion], test_cases=tests) == [1.0]
    trailing = "```python\nprint('a ')\n```"
    assert CodeReward()(prompts=["q"], completions=[trailing], test_cases=[[{"input": "", "output": "a"}]]) == [1.0]
    assert CodeReward(compare="exact")(prompts=["q"], completions=[trailing], test_cases=[[{"input": "", "output": "a"}]]) == [0.0]


def test_load_reward_with_conversational_completions_and_json_test_cases():
    reward = load_reward("code", timeout=1.0)
    assert reward.__name__ == "code"
    tests = json.dumps([{"input": i, "output": o} for i, o in DOUBLE_TESTS])
    completions = [
        [{"role": "assistant", "content": f"<think>double it</think>\nHere:\n```python\n{DOUBLE}\n```\nDone."}],
        [{"role": "assistant", "content": f"<think>```python\n{DOUBLE}\n```</think>\nNo code in the answer."}],
        [{"role": "assistant", "content": f"<think>never closed ```python\n{DOUBLE}\n```"}],
        [{"role": "assistant", "content": [{"type": "text", "text": f"```py\n{DOUBLE}\n```\n```text\n4\n```"}]}],
        [{"role": "assistant", "content": f"```python\n{DOUBLE}\n```"}],
    ]
    metrics: dict[str, float] = {}
    rewards = reward(
        prompts=[[{"role": "user", "content": "double"}]] * 5,
        completions=completions,
        test_cases=[tests, tests, tests, tests, None],
        log_metric=metrics.__setitem__,
        trainer_state=None,
    )
    assert rewards == [1.0, 0.0, 0.0, 1.0, None]
    assert metrics["code/passed"] == 2 and metrics["code/no_code_block"] == 2  # completions of the batch
    assert metrics["code/wrong_answer"] == 0


def test_rows_without_test_cases_do_not_apply():
    reward = CodeReward()
    completions = ["```python\nprint(1)\n```"] * 3
    assert reward(prompts=["q"] * 3, completions=completions, test_cases=[None, [], "not json"]) == [None] * 3
    assert reward(prompts=["q"] * 3, completions=completions) == [None] * 3  # no column at all


class BrokenProvider:
    """A provider whose machinery fails: the reward must survive it."""

    def run(self, program, language, tests):
        raise SandboxError("service down")


class EchoProvider:
    """A provider that "runs" every program as cat."""

    def run(self, program, language, tests):
        return [RunResult(status="ok", stdout=t) for t in tests]


def test_providers_are_pluggable_and_their_failures_score_zero():
    completion = ["```python\nprint(1)\n```"]
    tests = [[{"input": "1", "output": "1"}]]
    assert CodeReward(provider=EchoProvider())(prompts=["q"], completions=completion, test_cases=tests) == [1.0]
    metrics = {}
    broken = CodeReward(provider=BrokenProvider())
    assert broken(prompts=["q"], completions=completion, test_cases=tests, log_metric=metrics.__setitem__) == [0.0]
    assert metrics["code/sandbox_error"] == 1.0


def test_bad_options_fail_at_load_time():
    with pytest.raises(ValueError):
        load_reward("code", language="cobol")
    with pytest.raises(ValueError):
        load_reward("code", compare="exact", float_tolerance=1e-6)
    with pytest.raises(TypeError):
        load_reward("code", provider=object())
    for workers in (0, -1):
        with pytest.raises(ValueError, match="max_workers"):
            load_reward("code", max_workers=workers)


def test_reward_pickles_after_use():
    """TRL may hand reward functions to another process (async rollouts): the thread pool started
    by the first call must not make the reward unpicklable."""
    import pickle

    reward = CodeReward(timeout=2.0)
    completion = [f"```python\n{DOUBLE}\n```"]
    tests = [[{"input": i, "output": o} for i, o in DOUBLE_TESTS]]
    assert reward(prompts=["q"], completions=completion, test_cases=tests) == [1.0]
    clone = pickle.loads(pickle.dumps(reward))
    assert clone(prompts=["q"], completions=completion, test_cases=tests) == [1.0]


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
def test_cpp_is_one_more_language():
    reward = CodeReward(language="cpp", timeout=2.0)
    program = "#include <iostream>\nint main(){long long x; std::cin >> x; std::cout << 2*x << std::endl;}\n"
    broken = "int main( {"
    tests = [[{"input": "21", "output": "42"}]] * 2
    completions = [f"```cpp\n{program}```", f"```cpp\n{broken}\n```"]
    assert reward(prompts=["q"] * 2, completions=completions, test_cases=tests) == [1.0, 0.0]


def test_a_rows_harness_grades_function_calls(reward):
    """LeetCode-style rows: the harness calls the program's method with the JSON arguments on
    stdin and prints the result as canonical JSON; rows without a harness run programs as is."""
    from trl_r1_rewards.code import canonical_output, functional_harness

    tests = [{"input": '["b", "a", "b"]', "output": canonical_output('{"b": 2, "a": 1}')},
             {"input": "[]", "output": canonical_output("{}")}]
    right = "```python\nclass Solution:\n    def count(self, words: List[str]) -> Dict[str, int]:\n" \
            "        return dict(Counter(words))   # List, Dict, Counter: LiveCodeBench's prelude\n```"
    function = "```python\ndef count(words):\n    c = defaultdict(int)\n    for w in words: c[w] += 1\n    return c\n```"
    wrong = "```python\nclass Solution:\n    def count(self, words):\n        return {w: 1 for w in words}\n```"
    stdin = "```python\nprint(input())\n```"
    harness = functional_harness("count")
    rewards = reward(prompts=["q"] * 5, completions=[right, function, wrong, stdin, stdin],
                     test_cases=[tests] * 4 + [[{"input": "hi", "output": "hi"}]],
                     harness=[harness] * 4 + [None])
    assert rewards == [1.0, 1.0, 0.5, 0.0, 1.0]
    without = CodeReward(timeout=1.0, harness_column=None)
    assert without(prompts=["q"], completions=[right], test_cases=[tests], harness=[harness]) == [0.0]
