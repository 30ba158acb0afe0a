"""Stage ``grpo``: GRPO training with R1GRPOTrainer (R1-Zero; R1 stages 2 and 4)."""

from __future__ import annotations

import logging
from pathlib import Path

from trl import ModelConfig, get_peft_config
from trl_r1_rewards import check_options

from ..data.builtin import check_dataset_name
from ..data.loading import (
    check_model_and_dataset,
    load_split,
    mix_general,
    subsample,
    with_prompts,
)
from ..models import hub_id, model_init_kwargs, resolve_model
from ..train.callbacks import METRICS_FILE, MetricsFileCallback, read_metrics
from ..train.checkpoints import on_main_process, train_and_save
from ..train.config import TASK_COLUMN, R1GRPOConfig, R1ScriptArguments
from ..train.hub import defer_push, first_last_mean, publish
from ..train.trainer import R1GRPOTrainer, build_rewards

logger = logging.getLogger(__name__)

ARGUMENTS = (R1ScriptArguments, R1GRPOConfig, ModelConfig)


def validate(script_args: R1ScriptArguments, args: R1GRPOConfig, model_args: ModelConfig) -> None:
    check_model_and_dataset(model_args.model_name_or_path, script_args.dataset_name, "grpo")
    for spec in args.reward_specs:
        try:
            check_options(spec.name, spec.kwargs)
        except (KeyError, TypeError) as e:
            raise ValueError(f"rewards: {e}") from None
    if script_args.general_dataset_name:
        check_dataset_name(script_args.general_dataset_name)
        if not 0 < script_args.general_fraction < 1:
            raise ValueError(f"general_fraction: the share of general rows is in (0, 1), got {script_args.general_fraction}")
    if args.use_vllm and args.vllm_max_model_length is not None and args.vllm_max_model_length <= args.max_completion_length:
        raise ValueError(
            f"vllm_max_model_length: {args.vllm_max_model_length} leaves no room for the prompt before "
            f"max_completion_length {args.max_completion_length} tokens: vLLM's context holds prompt + completion; set it "
            f"to max_completion_length + the longest prompt (e.g. {args.max_completion_length + 2048})")


def check_tasks(train, specs) -> None:
    """Rewards routed by task need the `task` column, and tasks that occur in it (a typo would
    silently switch the reward off)."""
    routed = [spec for spec in specs if spec.tasks]
    if not routed:
        return
    if TASK_COLUMN not in train.column_names:
        raise ValueError(f"rewards: {', '.join(s.name for s in routed)} apply to tasks, read from the "
                         f"{TASK_COLUMN!r} column, which the dataset does not have; its columns: {train.column_names}")
    present = set(train[TASK_COLUMN])
    for spec in routed:
        if not present & set(spec.tasks):
            raise ValueError(f"rewards: `tasks` of {spec.name!r} are {spec.tasks}, but the dataset's "
                             f"{TASK_COLUMN!r} column holds only {sorted(map(str, present))}")


def run(recipe) -> dict:
    script_args, args, model_args = recipe.configs
    output_dir = Path(args.output_dir)
    rewards = build_rewards(args.reward_specs)

    rows = load_split(script_args.dataset_name, script_args.dataset_config, script_args.dataset_train_split,
                      field="dataset_train_split")
    if script_args.general_dataset_name:
        general = load_split(script_args.general_dataset_name, script_args.general_dataset_config,
                             script_args.general_dataset_split, [script_args.general_prompt_column], prefix="general_")
        before = len(rows)
        rows = mix_general(rows, general, script_args.dataset_prompt_column, script_args.general_prompt_column,
                           script_args.general_fraction, args.seed, TASK_COLUMN)
        logger.info("Mixed %d general prompts into %d rows", len(rows) - before, len(rows))
    rows = with_prompts(rows, script_args.dataset_prompt_column, args)
    rows = subsample(rows, script_args.max_train_samples, args.seed)
    check_tasks(rows, args.reward_specs)

    model_path = resolve_model(model_args.model_name_or_path)
    args.model_init_kwargs = model_init_kwargs(model_args, args)
    push_to_hub = defer_push(args)
    trainer = R1GRPOTrainer(
        model=model_path,
        reward_funcs=rewards,
        args=args,
        train_dataset=rows,
        peft_config=get_peft_config(model_args),
        callbacks=[MetricsFileCallback(output_dir)],
    )
    train_and_save(trainer, args)

    def summarize() -> dict:
        summary = publish(recipe, args, push_to_hub=push_to_hub, base_model=hub_id(model_args.model_name_or_path),
                          kind="grpo", rewards=[spec.name for spec in args.reward_specs])
        span = first_last_mean(read_metrics(output_dir / METRICS_FILE))
        if span:
            summary["reward_first5"], summary["reward_last5"] = span
            print(f"  mean reward, first 5 logged steps: {span[0]:.3f}; last 5: {span[1]:.3f}")
        return summary

    summary = on_main_process(trainer, summarize)
    trainer.release_vllm()
    return summary
