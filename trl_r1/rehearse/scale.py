"""Scaling a recipe down for a rehearsal, and nothing else.

Scaled: the model, lengths, steps, batch sizes, memory shares, and the schedule of every event
(reference-model sync, reward windows, checkpoints, evaluations) so that each happens at least
once; Hub datasets become stand-ins with the same columns and splits. Kept: the stage kind,
rewards and their options, templates, loss, beta, the vLLM mode, precision, and everything else.
Each change is returned as a note ``(field, was, now)`` for the rehearsal's table.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from . import models, standins

MODEL = models.EMBEDDED  # models of unknown family, and the stand-in reward models
STEPS = 2
GENERATIONS = 4
COMPLETION_TOKENS = 32
CONTEXT_TOKENS = 1024  # prompt + completion; a tiny family tokenizer spells a template in ~300 tokens
ROWS = 16
VLLM_MEMORY_SHARE = 0.1  # of the RAM per colocated engine group (cpu_engines.kv_cache_bytes)

# field -> rehearsal value: each stage module's `rehearsal_limits(size)` says its own, from these
# sizes and building blocks (``size`` is this module); applied only where the recipe sets the
# field or the stage's default would be too large for a rehearsal.
TRAINING_LIMITS = {
    "max_steps": STEPS, "gradient_accumulation_steps": 1, "logging_steps": 1,
    "save_steps": 1, "eval_steps": 1, "max_train_samples": ROWS,
}
GENERATION_LIMITS = {"num_samples": 2, "max_new_tokens": COMPLETION_TOKENS, "batch_size": 4, "max_questions": 4,
                     "max_model_len": CONTEXT_TOKENS}
_ALWAYS = {"max_steps", "max_train_samples", "logging_steps", "max_questions", "num_samples",
           "max_new_tokens", "max_completion_length", "max_length", "per_device_train_batch_size"}
_EVENTS = {"save_steps", "eval_steps", "logging_steps", "ref_model_sync_steps"}
_ATTENTION = {"flash_attention_2", "flash_attention_3", "kernels-community/vllm-flash-attn3"}


def _is_reference(value) -> bool:
    return isinstance(value, str) and "${" in value


def scale(kind: str, values: dict[str, Any], workdir: Path, name: str, overrides: bool = False,
          steps: int = STEPS, processes: int = 1) -> tuple[dict, list]:
    """The rehearsal's version of a stage's recipe values (or of a pipeline entry's
    ``overrides``, with ``overrides=True``: only the fields they set), and notes of what changed;
    training stages run ``steps`` optimizer steps on ``processes`` processes."""
    from ..stages import get_stage

    values, notes = dict(values), []
    old_steps = values.get("max_steps")
    stage = get_stage(kind)
    fields = stage_fields(kind)

    def change(key, new, why=""):
        if values.get(key) != new:
            notes.append((key, values.get(key), new, why))
            values[key] = new

    for key, new in stage.rehearsal_limits(sys.modules[__name__]).items():
        new = steps if key == "max_steps" else new
        if key in values or (key in _ALWAYS and key in fields and not overrides):
            if key == "ref_model_sync_steps" and not values.get("sync_ref_model"):
                continue
            change(key, new, "every event at least once" if key in _EVENTS else "")
    fit_step_size(values, processes, change)
    if "steps_per_generation" in values:
        change("steps_per_generation", 2, "two optimizer steps per rollout")
    if stage.trains:
        if values.get("attn_implementation") in _ATTENTION:
            change("attn_implementation", "sdpa", "no flash-attention kernels on CPU")
        if not overrides:
            change("use_cpu", True, "this machine (TrainingArguments refuses bf16 on CPU otherwise)")
            change("log_level", "info", "the engines' own log lines (DeepSpeed logs at info)")
    if not stage.made_of_parts and not overrides:  # a pipeline's folder is set where it is rehearsed
        change("output_dir", str(workdir / "out" / name))
    if "hardware" in values:  # the GPUs `plan` sizes the run for; here the machine is this one
        notes.append(("hardware", values.pop("hardware"), None, "planned for GPUs (`plan`), not rehearsed"))
    if isinstance(values.get("rewards"), list):  # a stage with rewards (grpo)
        rewards = [_scale_window(r, old_steps, steps, notes) for r in values["rewards"]]
        rewards = [_stand_in_reward_model(r, workdir, notes) for r in rewards]
        values["rewards"] = rewards
    model = values.get("model_name_or_path")
    if model and not _is_reference(model) and model != MODEL and not str(model).startswith(str(workdir)):
        family = models.family(model)
        change("model_name_or_path", models.stand_in(model, workdir / "standins" / "models"),
               f"a tiny random {family} model built here: the family's chat template and end of text" if family
               else "the embedded model (family unknown)")
    _stand_in_datasets(stage, values, workdir / "standins" / name, change)
    return values, notes


def fit_step_size(values: dict, processes: int, change) -> None:
    """A stated step size (``questions_per_step``, ``sequences_per_step``) scaled to one micro-batch
    per process of the rehearsal (accumulation is derived from it); ``rehearse`` calls it again
    after the command line's overrides, which may change the micro-batch."""
    per_device = values.get("per_device_train_batch_size") or 1
    if "questions_per_step" in values:
        change("questions_per_step", max(1, per_device * processes // (values.get("num_generations") or 1)),
               f"one micro-batch per process of {processes} (accumulation is derived)")
    if "sequences_per_step" in values:
        change("sequences_per_step", per_device * processes, f"one micro-batch per process of {processes}")
    # A rollout trained in several optimizer steps (DAPO's, GSPO's): two here, so that the second
    # trains off-policy (clip ranges and sequence-level ratios act), on one micro-batch each.
    if "generation_batch_size" in values:
        change("generation_batch_size", 2 * per_device * processes, "two optimizer steps per rollout")


def stage_fields(kind: str) -> set[str]:
    """The fields a recipe of stage kind ``kind`` accepts."""
    from ..recipe import _fields
    from ..stages import get_stage

    return set(_fields(get_stage(kind).arguments))


def _scale_window(reward, old_steps: int | None, steps: int, notes: list):
    """A reward's ``start_step``/``end_step`` rescaled to ``steps``: a negative (from the end)
    window keeps at least its last step; a positive one keeps its share of the run."""
    if not isinstance(reward, dict):
        return reward
    reward = dict(reward)
    for key in ("start_step", "end_step"):
        step = reward.get(key)
        if not isinstance(step, int):
            continue
        if step < 0:
            new = -max(1, round(-step * steps / old_steps)) if old_steps else -1
            new = max(new, -(steps - 1))  # and the steps before the window happen too
        else:
            new = min(steps - 1, max(1, round(step * steps / old_steps))) if old_steps else 1
        if new != step:
            notes.append((f"rewards.{reward.get('name')}.{key}", step, new, "the window opens within the run"))
            reward[key] = new
    return reward


def _stand_in_reward_model(reward, workdir: Path, notes: list):
    if not isinstance(reward, dict) or reward.get("name") not in ("safety", "helpfulness"):
        return reward
    kwargs = dict(reward.get("kwargs") or {})
    path = kwargs.get("model")
    if not path or _is_reference(path) or Path(path).exists():
        return reward
    labels = None if reward["name"] == "helpfulness" else ["unsafe", "safe"]
    new = standins.reward_model(workdir / "standins" / f"{reward['name']}_rm", MODEL, labels)
    notes.append((f"rewards.{reward['name']}.model", path, new, "not built here: a stand-in classifier"))
    return {**reward, "kwargs": {**kwargs, "model": new}}


def _stand_in_datasets(stage, values: dict, folder: Path, change) -> None:
    why = "Hub dataset: a built-in stand-in with the same columns and splits"

    def splits(*keys, default="train"):
        return [values.get(k, default) for k in keys if k in values] or [default]

    name = values.get("dataset_name")
    if standins.is_hub_dataset(name):
        new = stage.rehearsal_data(values, folder, standins, splits) or name
        change("dataset_name", new, why)
        if values.get("dataset_config") is not None:
            change("dataset_config", None, "the stand-in has no configurations")
    general = values.get("general_dataset_name")
    if standins.is_hub_dataset(general):
        change("general_dataset_name", standins.general(folder / "general", splits("general_dataset_split"),
                                                        values.get("general_prompt_column", "problem"),
                                                        values.get("general_response_column", "response")), why)
        if values.get("general_dataset_config") is not None:
            change("general_dataset_config", None, "the stand-in has no configurations")
    against = values.get("decontaminate_against")
    if isinstance(against, list):
        column = values.get("decontaminate_column", "problem")
        new = []
        for entry in against:
            dataset, _, label = str(entry).partition(":")
            if standins.is_hub_dataset(dataset):
                path = standins.questions(folder / f"decontaminate_{label or len(new)}", column)
                entry = f"{path}:{label}" if label else path
            new.append(entry)
        if new != against:
            change("decontaminate_against", new, why)
