"""Configuration dataclasses for GRPO recipes: TRL's own plus what R1 needs and TRL lacks.

YAML keys in a recipe are the field names of these dataclasses (TRL's convention), so every
``GRPOConfig`` / ``TrainingArguments`` / ``ModelConfig`` option works in a recipe unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from trl import GRPOConfig, ScriptArguments

from ..data.templates import TEMPLATE_STOPS, PromptArguments
from ..generation.reflection import REFLECTION_WORDS
from .activation_checkpointing import ActivationCheckpointing
from .checkpoints import ResumeArguments
from .console import ConsoleArguments
from .launch import derive_accumulation

TASK_COLUMN = "task"  # the dataset column a reward's `tasks` are read from

# CPU flags of hardware bf16 arithmetic (x86: AVX512-BF16, AMX; Arm: BF16 dot products).
_BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


def cpu_has_bf16(cpuinfo: str | None = None) -> bool:
    """Whether this CPU computes in bf16 natively (Linux ``/proc/cpuinfo`` flags); without it,
    bf16 autocast emulates the arithmetic and is slower than fp32.

    >>> cpu_has_bf16("flags\t: fpu avx512f avx512_bf16"), cpu_has_bf16("flags\t: fpu avx2"), cpu_has_bf16("")
    (True, False, False)
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return False
    flags = {flag for line in cpuinfo.splitlines() if line.split(":")[0].strip() in ("flags", "Features")
             for flag in line.partition(":")[2].split()}
    return any(flag in flags for flag in _BF16_CPU_FLAGS)


def bf16_where_the_cpu_has_it(values: dict) -> dict:
    """A CPU recipe's ``bf16: true`` where this CPU computes in bf16, else ``bf16: false``
    (said on stdout): the recipe then runs as fast as this machine allows either way."""
    if values.get("use_cpu") and values.get("bf16") is True and not cpu_has_bf16():
        print("bf16: this CPU has no bf16 arithmetic (avx512_bf16 / amx_bf16), where bf16 is slower than fp32; "
              "training in fp32")
        return {**values, "bf16": False}
    return values


def with_template_stops(generation_kwargs, template: str, use_vllm: bool, enabled: bool = True) -> dict | None:
    """``generation_kwargs`` with the template's stop strings (``TEMPLATE_STOPS``) in the
    generation engine's own terms; the recipe's own entries win.

    >>> with_template_stops(None, "zero", use_vllm=True)
    {'stop': ['</answer>'], 'include_stop_str_in_output': True}
    >>> with_template_stops({"stop_strings": []}, "zero", use_vllm=False), with_template_stops(None, "chat", False)
    ({'stop_strings': []}, None)
    """
    stops = TEMPLATE_STOPS.get(template) if enabled else None
    if not stops:
        return generation_kwargs
    if isinstance(generation_kwargs, str):
        generation_kwargs = json.loads(generation_kwargs)
    ours = {"stop": list(stops), "include_stop_str_in_output": True} if use_vllm else {"stop_strings": list(stops)}
    return {**ours, **(generation_kwargs or {})}


@dataclass
class RewardSpec:
    """One entry of a recipe's ``rewards`` list, after normalisation.

    A recipe writes either a bare name (``- accuracy``) or a mapping::

        - name: helpfulness        # a name from `python -m trl_r1 list`
          weight: 1.0              # its weight in the summed reward
          kwargs: {model: ...}     # options passed to the reward's factory
          start_step: -400         # active from this step on (negative: counted from the end)
          end_step: null           # active before this step (negative: counted from the end)
          tasks: [general]         # only rows whose `task` column is one of these (others: None)

    Outside its steps or its tasks a reward gives ``None``: TRL leaves it out of that row's
    summed reward and of its logged mean. A reward with ``tasks`` runs on its rows only.
    """

    name: str
    weight: float = 1.0
    kwargs: dict[str, Any] = field(default_factory=dict)
    start_step: int | None = None
    end_step: int | None = None
    tasks: list[str] | None = None

    @classmethod
    def parse(cls, entry: Any) -> RewardSpec:
        if isinstance(entry, str) and entry.lstrip().startswith("{"):
            entry = json.loads(entry)  # a mapping given on the command line as JSON
        if isinstance(entry, str):
            return cls(name=entry)
        if not isinstance(entry, dict) or "name" not in entry:
            raise ValueError(f"rewards: each entry is a reward name or a mapping with a `name`, got {entry!r}")
        unknown = set(entry) - {"name", "weight", "kwargs", "start_step", "end_step", "tasks"}
        if unknown:
            raise ValueError(
                f"rewards: entry {entry['name']!r} has unknown key(s) {sorted(unknown)}; "
                "accepted: name, weight, kwargs, start_step, end_step, tasks"
            )
        spec = cls(**entry)
        if not isinstance(spec.kwargs, dict):
            raise ValueError(f"rewards: `kwargs` of {spec.name!r} must be a mapping, got {spec.kwargs!r}")
        for key in ("start_step", "end_step"):
            value = getattr(spec, key)
            if value is not None and not isinstance(value, int):
                raise ValueError(f"rewards: `{key}` of {spec.name!r} must be an integer step, got {value!r}")
        if isinstance(spec.tasks, str):
            spec.tasks = [spec.tasks]
        if spec.tasks is not None and (
            not isinstance(spec.tasks, list) or not spec.tasks or not all(isinstance(t, str) and t for t in spec.tasks)
        ):
            raise ValueError(f"rewards: `tasks` of {spec.name!r} must be a non-empty list of task names, got {spec.tasks!r}")
        spec.weight = float(spec.weight)
        return spec

    @property
    def scheduled(self) -> bool:
        return self.start_step is not None or self.end_step is not None


@dataclass
class R1ScriptArguments(ScriptArguments):
    """Where the prompts come from.

    Args:
        dataset_name (`str`):
            A Hub dataset id, a local directory or data file (JSONL, JSON, CSV, Parquet), or a
            built-in generated dataset such as `builtin:arithmetic` (`python -m trl_r1 list`).
        dataset_prompt_column (`str`, defaults to `"problem"`):
            Column holding the question; the prompt template turns it into the model's prompt.
            Ignored when the dataset already has a `prompt` column.
        max_train_samples (`int`, *optional*):
            Keep only the first N training rows (after shuffling with the seed), for quick runs.
        curriculum_column (`str`, *optional*):
            Train on the rows in this column's ascending order, easy to hard (a curriculum),
            instead of in a shuffled order: the rows `max_train_samples` kept are sorted by it and
            `shuffle_dataset` is turned off. With one pass over the data, set `max_train_samples` to
            the questions the run will see (`max_steps` x questions per step), so that the order
            spans the whole range. `builtin:arithmetic`'s `difficulty` is its larger operand.
        general_dataset_name (`str`, *optional*):
            General (non-reasoning) prompts mixed into the training rows, as R1's stage 4 does: they
            get `task` = `general`, the other rows `reasoning` (unless they have a `task` column).
        general_dataset_config (`str`, *optional*), general_dataset_split (`str`, defaults to `"train"`):
            Its configuration and split.
        general_prompt_column (`str`, defaults to `"prompt"`):
            Its question column.
        general_fraction (`float`, defaults to `0.25`):
            The share of general rows in the mix (fewer when the general set is smaller).
    """

    dataset_prompt_column: str = field(
        default="problem",
        metadata={"help": "Column holding the question, turned into the prompt by `prompt_template`."},
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep only the first N training rows (quick runs)."}
    )
    curriculum_column: str | None = field(
        default=None, metadata={"help": "Train on the rows in this column's ascending order (a curriculum)."}
    )
    general_dataset_name: str | None = field(
        default=None, metadata={"help": "General prompts mixed in with task `general` (R1 stage 4)."}
    )
    general_dataset_config: str | None = field(default=None, metadata={"help": "Configuration of the general set."})
    general_dataset_split: str = field(default="train", metadata={"help": "Split of the general set."})
    general_prompt_column: str = field(default="prompt", metadata={"help": "Question column of the general set."})
    general_fraction: float = field(default=0.25, metadata={"help": "Share of general rows in the mix."})


@dataclass
class R1GRPOConfig(ActivationCheckpointing, ConsoleArguments, GRPOConfig, PromptArguments, ResumeArguments):
    r"""
    [`trl.GRPOConfig`] plus what DeepSeek-R1 recipes need.

    Args:
        rewards (`list[str | dict[str, Any]]`):
            Rewards by registry name (`python -m trl_r1 list`), each a name or a mapping with
            `name`, `weight`, `kwargs`, `start_step`, `end_step`, `tasks` (see [`RewardSpec`]).
            Weights become TRL's `reward_weights`; do not set both. `tasks` needs a `task`
            column in the dataset.
        prompt_template, system_prompt, chat_examples:
            How a question becomes a prompt ([`PromptArguments`]).
        reflection_words (`list[str]`):
            Words whose rate per 1k completion words is logged every step (R1's "aha moment").
        drop_zero_advantage_batches (`bool`, defaults to `False`):
            A batch whose advantages are all zero (every group's completions got the same reward)
            carries no learning signal. By default the optimizer still steps on its zero gradient,
            as TRL's does (Adam's momentum moves the weights on); with `True` it is dropped: no
            gradient, no update, Adam's moments untouched (DAPO's filtering of such groups, without
            drawing new ones). Either way its forward and backward passes are skipped where that
            is exact (see [`R1GRPOTrainer`]).
        group_filter_reward (`str`, *optional*):
            A reward by name (e.g. `accuracy`): a group whose completions all got the same value of
            it gives no policy-gradient signal (its advantages are set to 0), even where the other
            rewards differ. DAPO's dynamic-sampling filter (groups all right or all wrong carry no
            signal about correctness); `dynamic_sampling_redraws` draws new questions when a whole
            batch is filtered. Measured on the CPU default: without it, early questions the model
            never answers right train the format alone, and well-formatted wrong sums are what it
            learns (docs/experiments.md).
        dynamic_sampling_redraws (`int`, defaults to `0`):
            Up to this many times per step, a generation batch with no learning signal (every
            advantage zero: each group's completions got the same reward, or were filtered by
            `group_filter_reward`) is thrown away and regenerated on questions drawn at random from
            the training set (DAPO's dynamic sampling, a whole batch at a time; logged as
            `redraws`). Each redraw costs a generation; it spares a step that would move nothing.
        auto_resume (`bool`, defaults to `True`):
            Resume from the last complete checkpoint ([`ResumeArguments`]).
        console_metrics (`str`, defaults to `"compact"`):
            One line per logged step on the console, or `full`: every metric, as TRL prints them
            ([`ConsoleArguments`]). `metrics.jsonl` and the trackers get every metric either way.
        stop_at_template_end (`bool`, defaults to `True`):
            Stop each completion where the prompt template's answer closes (`zero`: at `</answer>`,
            kept in the completion), instead of running on to `max_completion_length`. Applied
            through `generation_kwargs` (vLLM's `stop`, transformers' `stop_strings`); a
            `generation_kwargs` entry of the recipe's own wins.
        questions_per_step (`int`, *optional*):
            Questions per optimizer step, every process together (the paper's unit: R1-Zero takes
            32, each with `num_generations` completions). `gradient_accumulation_steps` is derived
            from the launch's process count (`trl_r1.train.launch`), so that more GPUs or nodes
            train the same experiment faster; a count that cannot give it exactly is refused.
            Leave `gradient_accumulation_steps` unset with it.
    """

    stop_at_template_end: bool = field(
        default=True,
        metadata={"help": "Stop generating where the prompt template's answer closes (`zero`: after </answer>)."},
    )
    questions_per_step: int | None = field(
        default=None,
        metadata={"help": "Questions per optimizer step, all processes together: gradient_accumulation_steps is "
                          "derived from the launch's process count."},
    )
    rewards: list[str | dict[str, Any]] = field(
        default_factory=lambda: ["accuracy", "format"],
        metadata={"help": "Rewards by registry name, or mappings {name, weight, kwargs, start_step, end_step, tasks}."},
    )
    reflection_words: list[str] = field(
        default_factory=lambda: list(REFLECTION_WORDS),
        metadata={"help": "Words counted per 1k completion words and logged each step."},
    )
    drop_zero_advantage_batches: bool = field(
        default=False,
        metadata={"help": "Drop batches whose advantages are all zero (no optimizer update) instead of stepping on "
                          "their zero gradient as TRL does."},
    )
    dynamic_sampling_redraws: int = field(
        default=0,
        metadata={"help": "Up to this many times per step, regenerate a batch with no nonzero advantage on questions "
                          "drawn at random from the training set (DAPO's dynamic sampling)."},
    )
    group_filter_reward: str | None = field(
        default=None,
        metadata={"help": "A reward by name: groups whose completions all got the same value of it get zero "
                          "advantages (DAPO's dynamic-sampling filter; dynamic_sampling_redraws redraws)."},
    )

    def __post_init__(self):
        self.reward_specs = [RewardSpec.parse(entry) for entry in self.rewards or []]
        if not self.reward_specs:
            raise ValueError("rewards: a GRPO recipe needs at least one reward")
        self.check_prompt_arguments()
        weights = [spec.weight for spec in self.reward_specs]
        if self.reward_weights is not None and any(w != 1.0 for w in weights):
            raise ValueError("reward_weights: set weights either per reward in `rewards` or in `reward_weights`, not both")
        if self.reward_weights is None:
            self.reward_weights = weights
        if self.dynamic_sampling_redraws < 0:
            raise ValueError(f"dynamic_sampling_redraws: {self.dynamic_sampling_redraws} is negative; 0 turns redrawing off")
        self.generation_kwargs = with_template_stops(self.generation_kwargs, self.prompt_template, self.use_vllm,
                                                     self.stop_at_template_end)
        if self.questions_per_step is not None:
            derive_accumulation(self, self.questions_per_step * self.num_generations,
                                f"completions ({self.questions_per_step} questions x {self.num_generations})",
                                "questions_per_step")
        super().__post_init__()
