"""Example third-party rewards for trl-r1, found by name through entry points: ``brevity`` (a
training reward) and ``exact_answer`` (a scorer that evaluation, cons@k and rejection sampling
use like the built-in ones, because it describes itself: ``gold_option``, ``final_answer``,
``group_answers``)."""

from __future__ import annotations

import re

from trl_r1_rewards import completion_text

__all__ = ["BrevityReward", "ExactAnswerReward"]


class BrevityReward:
    """Rewards short completions: 1.0 up to ``target_chars`` characters, then a linear decay
    to 0.0 at twice that length (and beyond).

    Follows TRL's reward protocol: ``(prompts, completions, **dataset_columns)``, plain or
    conversational completions, one float per completion, never raises on model output.
    Bad options fail here, in the constructor, before any model is loaded.

    Args:
        target_chars: the longest completion (in characters) that still earns the full reward.

    >>> reward = BrevityReward(target_chars=4)
    >>> reward(prompts=["q"] * 4, completions=["abc", "abcdef", "abcdefgh", [{"role": "assistant", "content": "ab"}]])
    [1.0, 0.5, 0.0, 1.0]
    >>> reward(prompts=[None], completions=[None])  # garbage in: scored as an empty completion
    [1.0]
    """

    def __init__(self, *, target_chars: int = 200):
        if isinstance(target_chars, bool) or not isinstance(target_chars, int) or target_chars <= 0:
            raise ValueError(f"brevity: target_chars must be a positive integer, got {target_chars!r}.")
        self.target_chars = target_chars
        self.__name__ = "brevity"  # TRL logs rewards/<__name__>/mean; load_reward sets it too

    def __call__(self, prompts: list, completions: list, **kwargs) -> list[float]:
        rewards = []
        for completion in completions:
            excess = len(completion_text(completion)) / self.target_chars - 1.0
            rewards.append(min(1.0, max(0.0, 1.0 - excess)))
        return rewards


class ExactAnswerReward:
    """1.0 when the final answer, the text after the last ``Answer:``, equals the gold answer
    once case, spaces and punctuation are ignored; else 0.0 (``None`` for a row without gold).

    Args:
        answer_column: the dataset column holding the gold answer.

    >>> reward = ExactAnswerReward()
    >>> reward(prompts=["q"] * 3, completions=["So... Answer: Paris.", "answer: paris", "Lyon"], answer=["paris"] * 3)
    [1.0, 1.0, 0.0]
    >>> reward.final_answer("Answer: x. Answer: The Hague!"), reward.group_answers([["Paris", "paris.", None, "Rome"]])
    ('The Hague!', [[0, 0, None, 1]])
    """

    gold_option = "answer_column"  # the option evaluation sets to the recipe's gold column

    def __init__(self, *, answer_column: str = "answer"):
        self.answer_column = answer_column
        self.__name__ = "exact_answer"

    @staticmethod
    def _normal(text: str) -> str:
        return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())

    def final_answer(self, completion) -> str | None:
        text = completion_text(completion)
        found = re.split(r"(?i)answer\s*:", text)
        return found[-1].strip() if len(found) > 1 else None

    def group_answers(self, questions):
        groups = []
        for answers in questions:
            seen: dict[str, int] = {}
            groups.append([None if a is None else seen.setdefault(self._normal(a), len(seen)) for a in answers])
        return groups

    def __call__(self, prompts: list, completions: list, **columns) -> list[float | None]:
        rewards = []
        for completion, gold in zip(completions, columns[self.answer_column], strict=True):
            answer = self.final_answer(completion)
            if gold is None:
                rewards.append(None)
            else:
                rewards.append(float(answer is not None and self._normal(answer) == self._normal(str(gold))))
        return rewards
