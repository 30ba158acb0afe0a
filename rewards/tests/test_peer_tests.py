r"""Open-R1's and TRL's own tests of their accuracy and format rewards, run against ours.

Ported case by case from huggingface/open-r1 ``tests/test_rewards.py`` (``accuracy_reward``,
``format_reward``) and huggingface/trl ``tests/test_rewards.py`` (``accuracy_reward``,
``reasoning_accuracy_reward``, ``think_format_reward``). Each case keeps their input and their
expected value; ``ours`` differs only where we disagree on purpose, and ``why`` says why.
TRL's cases are also run through TRL itself (installed), so the port is checked against them.
Open-R1's format reward is R1-Zero's format (our ``template="zero"``); TRL's
``think_format_reward`` is R1's (``template="r1"``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import pytest
from trl_r1_rewards.accuracy import AccuracyReward
from trl_r1_rewards.format import FormatReward


@dataclass(frozen=True)
class Case:
    source: str  # "open-r1" or "trl", and their test's name
    reward: str  # "accuracy", "zero" or "r1" (ours), as their function is
    completion: str
    solution: str | None
    theirs: float | None
    ours: float | None = "same"  # type: ignore[assignment]
    why: str = ""
    function: str = ""  # theirs: accuracy_reward, reasoning_accuracy_reward, think_format_reward, format_reward

    @property
    def expected(self):
        return self.theirs if self.ours == "same" else self.ours


F63, F64 = r"\boxed{\frac{63}{400}}", r"\boxed{\frac{64}{400}}"
NO_REASONING = "R1's format needs reasoning: an empty <think></think> is the shape without the substance."
UNBOXED = ("Our accuracy scores the answer wherever the completion gives it (no think tags: all of it is answer); "
           "whether reasoning came first is the format reward's business, summed with it as in R1.")
WORDS = "A careful grader reads 'forty two' as 42; TRL skips a gold it cannot parse as LaTeX."

def _of(function: str, cases: list[Case]) -> list[Case]:
    return [replace(case, function=function) for case in cases]


CASES = _of("accuracy_reward", [
    # --- open-r1: accuracy_reward -----------------------------------------------------------
    Case("open-r1 test_accuracy_reward_correct_answer", "accuracy", F63, r"\frac{63}{400}", 1.0),
    Case("open-r1 test_accuracy_reward_wrong_answer", "accuracy", F64, r"\frac{63}{400}", 0.0),
    Case("open-r1 test_multiple_completions [0]", "accuracy", F63, r"\frac{63}{400}", 1.0),
    Case("open-r1 test_multiple_completions [1]", "accuracy", F64, r"\frac{63}{400}", 0.0),
]) + _of("format_reward", [
    # --- open-r1: format_reward (R1-Zero's format) --------------------------------------------
    Case("open-r1 test_format_reward_correct", "zero", "<think>\nSome reasoning\n</think>\n<answer>\nThe answer\n</answer>", None, 1.0),
    Case("open-r1 test_format_reward_correct (earlier version)", "zero", "<think>Some reasoning</think><answer>The answer</answer>", None, 1.0),
    Case("open-r1 test_format_reward_incorrect [0]", "zero", "<think>Only thinking</think>", None, 0.0),
    Case("open-r1 test_format_reward_incorrect [1]", "zero", "<answer>Only answer</answer>", None, 0.0),
    Case("open-r1 test_format_reward_incorrect [2]", "zero", "No tags at all", None, 0.0),
    Case("open-r1 test_format_reward_incorrect [3]", "zero", "<think>Missing closing</think><answer>Missing closing", None, 0.0),
    Case("open-r1 test_format_reward_incorrect [4]", "zero", "<think>Wrong order</answer><answer>Wrong order</think>", None, 0.0),
    Case("open-r1 test_format_reward_specific_multiline", "zero",
         "<think>\nI will count each distinct object in the image:\n1. Purple scooter\n2. Red bicycle\n3. Green motorcycle\n"
         "4. Gray sedan\n5. Yellow school bus\n6. Small green double-decker bus\n7. Small red car\n8. Small purple car\n"
         "9. Small gray dirt bike\n\nThere are 9 distinct objects in total.\n</think>\n<answer>\n9\n</answer>", None, 1.0),
]) + _of("accuracy_reward", [
    # --- trl: accuracy_reward -------------------------------------------------------------------
    Case("trl test_accuracy_reward_correct_answer [0]", "accuracy", F63, r"\frac{63}{400}", 1.0),
    Case("trl test_accuracy_reward_correct_answer [1]", "accuracy", F63, "63/400", 1.0),
    Case("trl test_accuracy_reward_wrong_answer", "accuracy", F64, r"\frac{63}{400}", 0.0),
    Case("trl test_accuracy_reward_wrong_answer_no_latex", "accuracy", r"\boxed{3}", "6", 0.0),
    Case("trl test_accuracy_reward_unparsable_gold [0]", "accuracy", "Answer is forty two.", "Answer is forty two.", None),
    Case("trl test_accuracy_reward_unparsable_gold [1]", "accuracy", r"Some other content. \boxed{43}.", "Answer is forty three.", None),
]) + _of("reasoning_accuracy_reward", [
    # --- trl: reasoning_accuracy_reward (the answer after </think>: what our accuracy reads) ---
    Case("trl test_correct_answer_yields_unit_reward [0]", "accuracy", rf"<think> Reasoning content </think> {F63}", r"\frac{63}{400}", 1.0),
    Case("trl test_correct_answer_yields_unit_reward [1]", "accuracy", rf"Reasoning content </think> {F63}", r"\frac{63}{400}", 1.0),
    Case("trl test_correct_answer_with_custom_tags_yields_unit_reward", "accuracy",
         rf"<REASONING_START> Reasoning content </REASONING_END> {F63}", r"\frac{63}{400}", 1.0,
         why="We have no reasoning_delimiters option; without think tags the whole completion is the answer: same verdict."),
    Case("trl test_incorrect_answer_yields_zero_reward", "accuracy", rf"<think> Reasoning content </think> {F64}", r"\frac{63}{400}", 0.0),
    Case("trl test_correct_answer_in_reasoning_yields_zero_reward [0]", "accuracy",
         r"<think> My answer is \boxed{42} </think> Some other text.", r"\boxed{42}", 0.0),
    Case("trl test_correct_answer_in_reasoning_yields_zero_reward [1]", "accuracy",
         r"<think> The answer is \boxed{42} </think> Here's a wrong answer: \boxed{43}.", r"\boxed{42}", 0.0),
    Case("trl test_incomplete_reasoning_yields_zero_reward [0]", "accuracy",
         "<think> Incomplete reasoning without closing tag", r"\frac{63}{400}", 0.0),
    Case("trl test_incomplete_reasoning_yields_zero_reward [1]", "accuracy",
         r"Correct answer \frac{63}{400} but completely missing reasoning content", r"\frac{63}{400}", 0.0, 1.0, UNBOXED),
    Case("trl test_unparsable_gold_solution_yields_none_reward", "accuracy",
         r"<think> Reasoning content </think> \boxed{42}", "forty two", None, 1.0, WORDS),
]) + _of("think_format_reward", [
    # --- trl: think_format_reward (R1's format) -------------------------------------------------
    Case("trl test_valid_format [0]", "r1", "<think>This is my reasoning.</think>This is my answer.", None, 1.0),
    Case("trl test_valid_format [1]", "r1", "<think>\nThis is my reasoning.\n</think>\nThis is my answer.", None, 1.0),
    Case("trl test_valid_format [2]", "r1", "<think>\nThis is\nmy reasoning.\n</think>\nThis is my answer.", None, 1.0),
    Case("trl test_valid_format [3]", "r1", "<think>\nThis is <some tag> my reasoning.</think>\nThis is my answer.", None, 1.0),
    Case("trl test_valid_format [4]", "r1", "<think></think>\nThis is my answer.", None, 1.0, 0.0, NO_REASONING),
    Case("trl test_invalid_format [0]", "r1", "<think>\nThis is my reasoning.\nThis is my answer.", None, 0.0),
    Case("trl test_invalid_format [1]", "r1", "<think>This is my reasoning.\nThis is my answer.", None, 0.0),
    Case("trl test_invalid_format [2]", "r1", "This is my reasoning. This is my answer.", None, 0.0),
    Case("trl test_invalid_format [3]", "r1", "This is my reasoning.\nThis is my answer.", None, 0.0),
    Case("trl test_invalid_format [4]", "r1", "This is my reasoning.</think>\nThis is my answer.", None, 0.0),
    Case("trl test_invalid_format [5]", "r1", "This is my reasoning.</think>This is my answer.", None, 0.0),
    Case("trl test_invalid_format [6]", "r1", "This<think>is my reasoning.</think>\nThis is my answer.", None, 0.0),
    Case("trl test_invalid_format [7]", "r1", "<think>This is<think>my reasoning.</think></think>This is my answer.", None, 0.0),
    Case("trl test_invalid_format [8]", "r1", "<think>This is</think>\nmy\n<think>reasoning.</think>\nThis is my answer.", None, 0.0),
    Case("trl test_mixed_format [0]", "r1", "<think>This is my reasoning.</think>This is my answer.", None, 1.0),
    Case("trl test_mixed_format [1]", "r1", "<think>\nThis is my reasoning.\n</think>\nThis is my answer.", None, 1.0),
    Case("trl test_mixed_format [2]", "r1", "<think>This is my reasoning.\nThis is my answer.", None, 0.0),
    Case("trl test_mixed_format [3]", "r1", "This is my reasoning. This is my answer.", None, 0.0),
])
# Of 45 cases here (46 with the worker-thread test below, which agrees too): the three whose
# `why` disagrees are deliberate.
AGREED = 42


def ours(case: Case) -> float | None:
    completion = [{"role": "assistant", "content": case.completion}]
    if case.reward == "accuracy":
        return AccuracyReward()(prompts=["q"], completions=[completion], solution=[case.solution])[0]
    return FormatReward(template=case.reward)(prompts=["q"], completions=[completion])[0]


def theirs(case: Case) -> float | None:
    """TRL's verdict, from TRL itself (Open-R1 is not installed: its cases keep its expectations)."""
    from trl.rewards import (
        accuracy_reward,
        reasoning_accuracy_reward,
        think_format_reward,
    )

    completion = [[{"content": case.completion}]]
    if case.function == "reasoning_accuracy_reward":
        kwargs = {"reasoning_delimiters": ["</REASONING_END>"]} if "custom_tags" in case.source else {}
        return reasoning_accuracy_reward(completion, [case.solution], **kwargs)[0]
    if case.function == "accuracy_reward":
        return accuracy_reward(completion, [case.solution])[0]
    return think_format_reward(completion)[0]


@pytest.mark.parametrize("case", CASES, ids=[c.source for c in CASES])
def test_peer_case(case):
    assert ours(case) == case.expected, case.why or "the peer's expectation"
    assert (case.ours == "same") == (not case.why or case.expected == case.theirs)  # every disagreement says why


@pytest.mark.parametrize("case", [c for c in CASES if c.source.startswith("trl")], ids=lambda c: c.source)
def test_the_port_of_trls_case_is_what_trl_does(case):
    assert theirs(case) == case.theirs


def test_agreement_with_the_peers_tests_is_counted():
    agreed = sum(ours(case) == case.theirs for case in CASES)
    assert (agreed, len(CASES)) == (AGREED, 45)


def test_trl_accuracy_in_worker_thread_case():
    """trl test_accuracy_reward_in_worker_thread: scoring from a non-main thread works (ours
    never relies on signal.alarm in the caller)."""
    results = []
    thread = threading.Thread(target=lambda: results.extend(
        AccuracyReward()(prompts=["q"], completions=[[{"content": r"\boxed{\frac{1}{3}}"}]], solution=[r"\frac{1}{3}"])))
    thread.start()
    thread.join()
    assert results == [1.0]
