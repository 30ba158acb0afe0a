"""What a training run prints per logged step: one line a person can follow (step, reward by
reward function, completion length, step time) instead of the dictionary of every metric that
transformers prints (a GRPO step logs about 40). Every metric still goes to ``metrics.jsonl``
(`MetricsFileCallback`) and the trackers; ``console_metrics: full`` prints the dictionary again.

transformers prints logs from its `ProgressCallback` (above the progress bar) or, with
``disable_tqdm``, its `PrinterCallback`; `use_console` swaps them for subclasses that print the
compact line, so everything else those callbacks do (the bars) stays transformers'.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from transformers.trainer_callback import PrinterCallback, ProgressCallback

CONSOLE_CHOICES = ("compact", "full")


@dataclass
class ConsoleArguments:
    """Mixin (before the trainer's configuration among a configuration's bases): what the console
    shows while training.

    Args:
        console_metrics (`str`, defaults to `"compact"`):
            `compact`: one line per logged step (step, reward and each reward function's mean,
            completion length and the share cut at the budget, groups filtered, step time; the
            loss for stages without rewards). `full`: the dictionary of every logged metric, as
            transformers prints it. Either way every metric goes to `metrics.jsonl` and the trackers.
    """

    console_metrics: str = field(
        default="compact",
        metadata={"help": "compact: one line per logged step (step, rewards, length, step time); full: the dictionary "
                          "of every logged metric, as transformers prints it. metrics.jsonl has them all either way.",
                  "choices": list(CONSOLE_CHOICES)},
    )

    def __post_init__(self):
        # A YAML value never meets argparse's `choices`: checked here, before any model loads.
        if self.console_metrics not in CONSOLE_CHOICES:
            raise ValueError(f"console_metrics: {self.console_metrics!r} is not one of {', '.join(CONSOLE_CHOICES)}")
        super().__post_init__()


def _number(value, spec: str = ".3g") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec) if isinstance(value, float) else str(value)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def compact_line(logs: dict, step: int, max_steps: int | None = None) -> str | None:
    """The console's line for one log of a training run; None when the log holds none of the
    metrics it shows (the caller prints the dictionary then).

    >>> compact_line({"loss": 0.0, "reward": 1.0, "rewards/number/mean": 0.25, "rewards/format/mean": 0.75,
    ...               "completions/mean_length": 21.12, "completions/clipped_ratio": 0.125,
    ...               "frac_groups_filtered": 0.0, "reflection/wait": 0.0, "step_time": 11.96}, 3, 40)
    'step 3/40 | reward 1.00 (number 0.25, format 0.75) | length 21.1, 12% cut | filtered 0 | 12.0 s/step'
    >>> compact_line({"loss": 0.52, "mean_token_accuracy": 0.81, "learning_rate": 2e-05}, 7)
    'step 7 | loss 0.52 | token accuracy 0.81'
    >>> compact_line({"train_runtime": 286.4, "train_loss": 0.001}, 40, 40)
    'trained 40 steps in 4 min 46 s'
    """
    if "train_runtime" in logs:
        return f"trained {step} steps in {_duration(logs['train_runtime'])}"
    parts = []
    if "reward" in logs:
        per_function = [f"{key[len('rewards/'):-len('/mean')]} {_number(value, '.2f')}" for key, value in logs.items()
                        if key.startswith("rewards/") and key.endswith("/mean")]
        parts.append(f"reward {_number(logs['reward'], '.2f')}" + (f" ({', '.join(per_function)})" if per_function else ""))
    elif "loss" in logs:
        parts.append(f"loss {_number(logs['loss'])}")
    if "mean_token_accuracy" in logs:
        parts.append(f"token accuracy {_number(logs['mean_token_accuracy'])}")
    if "kl" in logs:
        parts.append(f"kl {_number(logs['kl'])}")
    if "completions/mean_length" in logs:
        cut = logs.get("completions/clipped_ratio")
        parts.append(f"length {_number(logs['completions/mean_length'])}"
                     + (f", {100 * cut:.0f}% cut" if isinstance(cut, float) and math.isfinite(cut) else ""))
    for key, label in (("frac_groups_filtered", "filtered"), ("redraws", "redraws")):
        if key in logs:
            parts.append(f"{label} {_number(logs[key])}")
    parts += [f"{key} {_number(value)}" for key, value in logs.items()
              if key.startswith("eval_") and not key.endswith(("_runtime", "_per_second"))]
    if not parts:
        return None
    if "step_time" in logs:
        parts.append(f"{logs['step_time']:.1f} s/step")
    return " | ".join([f"step {step}/{max_steps}" if max_steps else f"step {step}", *parts])


def _full(logs: dict) -> str:
    """The dictionary as transformers prints it (floats to 4 significant digits, no `total_flos`)."""
    return str({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in logs.items() if k != "total_flos"})


class CompactProgressCallback(ProgressCallback):
    """transformers' progress bar, with the compact line above it instead of the dictionary."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None and logs:
            self.training_bar.write(compact_line(logs, state.global_step, state.max_steps) or _full(logs))


class CompactPrinterCallback(PrinterCallback):
    """transformers' printer (``disable_tqdm``), printing the compact line."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_local_process_zero and logs:
            print(compact_line(logs, state.global_step, state.max_steps) or _full(logs))


def use_console(trainer) -> None:
    """Make ``trainer`` print as its args' ``console_metrics`` say (transformers' callbacks for
    `full`, or any other console, such as a notebook's, left as they are). Calling it again
    changes nothing."""
    if getattr(trainer.args, "console_metrics", "full") != "compact" or any(
            isinstance(cb, (CompactProgressCallback, CompactPrinterCallback)) for cb in trainer.callback_handler.callbacks):
        return
    for transformers_callback, compact in ((ProgressCallback, CompactProgressCallback),
                                           (PrinterCallback, CompactPrinterCallback)):
        if trainer.pop_callback(transformers_callback) is not None:
            trainer.add_callback(compact)
