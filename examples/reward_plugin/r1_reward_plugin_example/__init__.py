"""``brevity``: an example third-party reward for trl-r1, found by name through entry points."""

from __future__ import annotations

from trl_r1_rewards.text import completion_text

__all__ = ["BrevityReward"]


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
