"""Stage ``grpo``: GRPO training with R1GRPOTrainer (R1-Zero; R1 stages 2 and 4), optionally
followed by a held-out evaluation of the starting and the trained model (``eval_recipe``)."""

from __future__ import annotations

import inspect
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from trl import ModelConfig, get_peft_config
from trl_r1_rewards import check_options, reward_factory

from ..data.builtin import check_dataset_name
from ..data.loading import (
    check_model_and_dataset,
    in_curriculum_order,
    load_split,
    mix_general,
    subsample,
    with_prompts,
)
from ..data.templates import takes_prefill, think_prefilled_by
from ..generation.evaluation import MODES, evaluation_recipes, run_evaluations
from ..generation.metrics import compare_models, comparison_table
from ..models import hub_id, model_init_kwargs, resolve_model
from ..train.callbacks import METRICS_FILE, MetricsFileCallback, read_metrics
from ..train.checkpoints import on_main_process, train_and_save
from ..train.config import (
    TASK_COLUMN,
    R1GRPOConfig,
    R1ScriptArguments,
    bf16_where_the_cpu_has_it,
)
from ..train.evaluation import PeriodicEvaluation
from ..train.hub import Card, defer_push, first_last_mean, publish
from ..train.trainer import R1GRPOTrainer, build_rewards

logger = logging.getLogger(__name__)

EVAL_DIR, EVAL_FILE, EVAL_TABLE = "eval", "evaluation.json", "evaluation.md"


@dataclass
class GRPOScriptArguments(R1ScriptArguments):
    """[`R1ScriptArguments`] plus:

    Args:
        eval_recipe (`str`, *optional*): an `evaluate` recipe (path relative to this recipe's
            file) run after training on the starting and the trained model, each sampled as the
            recipe says and greedily, with the prompt the model was trained with. The
            before/after table (with z-tests) is printed and goes into the card and the plot.
        eval_every_steps (`int`, *optional*): also evaluate the policy on `eval_recipe` every
            this many optimizer steps while it trains: transformers' `generate` on the live
            weights (not the colocated vLLM engine), logged as `eval/<metric>` (`eval/pass@1`,
            ...) to metrics.jsonl and the trackers and drawn on training.png; the samples go to
            `eval/during/step-<N>/`. The random states are restored after each evaluation, so the
            training is the same as without it ([`PeriodicEvaluation`]).
        eval_every_mode (`str`, defaults to `"greedy"`): `greedy`, one answer per question, or
            `sampled`, as `eval_recipe` samples (its k samples: pass@k, cons@k, k times the cost).
    """

    eval_recipe: str | None = field(
        default=None,
        metadata={"help": "An `evaluate` recipe (relative to this file) run on the starting and the trained model "
                  "after training: the before/after table goes into the output, card and plot."})
    eval_every_steps: int | None = field(
        default=None,
        metadata={"help": "Also evaluate the policy on `eval_recipe` every N optimizer steps while it trains (with "
                  "transformers), logged as eval/<metric>; the training is unchanged."})
    eval_every_mode: str = field(
        default="greedy",
        metadata={"help": "How the evaluation every N steps samples: `greedy` (one answer per question) or `sampled` "
                  "(as eval_recipe says).", "choices": ["greedy", "sampled"]})


ARGUMENTS = (GRPOScriptArguments, R1GRPOConfig, ModelConfig)
PLAN_AS = "rollouts"  # how `plan` sizes it (trl_r1/plan/planner.py)
CARD = Card("GRPO", "reward", ("completions/mean_length", "reflection/rate_per_1k_words"),
            "reward, completion length, reflection rate")  # what its model card says (trl_r1/train/hub.py)


def rehearsal_limits(size) -> dict:
    """Field -> value in a rehearsal (``rehearse``; ``size`` is trl_r1/rehearse/scale.py, with its sizes)."""
    return {**size.TRAINING_LIMITS, "num_generations": size.GENERATIONS,
            "per_device_train_batch_size": size.GENERATIONS, "max_completion_length": size.COMPLETION_TOKENS,
            "max_prompt_length": size.CONTEXT_TOKENS // 2, "vllm_max_model_length": size.CONTEXT_TOKENS,
            "vllm_gpu_memory_utilization": size.VLLM_MEMORY_SHARE, "ref_model_sync_steps": 1,
            "per_device_eval_batch_size": size.GENERATIONS}


def rehearsal_data(values: dict, folder: Path, standins, splits) -> str:
    """The built-in stand-in ``rehearse`` uses for a Hub ``dataset_name`` (``standins`` is
    trl_r1/rehearse/standins.py; ``splits(*fields, default=...)`` the splits the recipe names)."""
    answers = sorted({(r.get("kwargs") or {}).get("solution_column", "solution")
                      for r in values.get("rewards", []) if isinstance(r, dict)} | {"solution"})
    routed = any(isinstance(r, dict) and r.get("tasks") for r in values.get("rewards", []))
    # the stage mixes a recipe's own general set in at its general_fraction; else a mix stands in
    share = None if values.get("general_dataset_name") else values.get("general_fraction", 0.25)
    return standins.prompts(folder / "prompts", splits("dataset_train_split", "dataset_test_split"),
                            values.get("dataset_prompt_column", "problem"), answers, routed, share,
                            int(values.get("seed", 0) or 0))


def prepare(values: dict, path: Path | None) -> dict:
    """Called by the recipe loader: ``eval_recipe`` is read relative to the recipe's file and kept
    absolute, so that the recipe written again elsewhere (the saved recipe.yaml, a rehearsal's
    copy) still names the same file; a CPU recipe's ``bf16`` applies where the CPU computes in bf16
    (`bf16_where_the_cpu_has_it`)."""
    values = bf16_where_the_cpu_has_it(values)
    recipe = values.get("eval_recipe")
    if path is not None and recipe and not Path(recipe).is_absolute():
        values = {**values, "eval_recipe": str((Path(path).parent / recipe).resolve())}
    return values


def validate(script_args: GRPOScriptArguments, args: R1GRPOConfig, model_args: ModelConfig) -> None:
    check_model_and_dataset(model_args.model_name_or_path, script_args.dataset_name, "grpo")
    for spec in args.reward_specs:
        try:
            check_options(spec.name, spec.kwargs)
        except (KeyError, TypeError) as e:
            raise ValueError(f"rewards: {e}") from None
    with_the_length_limit(args)
    names = [spec.name for spec in args.reward_specs]
    if args.group_filter_reward is not None and args.group_filter_reward not in names:
        raise ValueError(f"group_filter_reward: {args.group_filter_reward!r} is not one of this recipe's rewards "
                         f"({', '.join(names)})")
    if script_args.general_dataset_name:
        check_dataset_name(script_args.general_dataset_name)
        if not 0 < script_args.general_fraction < 1:
            raise ValueError(f"general_fraction: the share of general rows is in (0, 1), got {script_args.general_fraction}")
    if args.use_vllm and args.vllm_max_model_length is not None and args.vllm_max_model_length <= args.max_completion_length:
        raise ValueError(
            f"vllm_max_model_length: {args.vllm_max_model_length} leaves no room for the prompt before "
            f"max_completion_length {args.max_completion_length} tokens: vLLM's context holds prompt + completion; set it "
            f"to max_completion_length + the longest prompt (e.g. {args.max_completion_length + 2048})")


def check(recipe) -> None:
    """The evaluation recipes (`eval_recipe`) load, for the final and the periodic evaluations."""
    script_args, args, model_args = recipe.configs
    if script_args.eval_recipe:
        final_evaluations(script_args, args, model_args, recipe.load)
    if script_args.eval_every_steps is not None:
        during_training_evaluation(script_args, args, model_args, recipe.load)


LENGTH_OPTION = "max_completion_length"


def with_the_length_limit(args: R1GRPOConfig) -> None:
    """A reward option named ``max_completion_length`` (``overlong``'s) is the recipe's: filled in
    where the recipe leaves it out, so that it follows the limit when a run changes it (on the
    command line, in a rehearsal), and refused where the recipe sets another value. The recipe's
    own mapping is left as written."""
    for spec in args.reward_specs:
        if LENGTH_OPTION not in inspect.signature(reward_factory(spec.name)).parameters:
            continue
        spec.kwargs = {**spec.kwargs, LENGTH_OPTION: spec.kwargs.get(LENGTH_OPTION, args.max_completion_length)}
        value = spec.kwargs[LENGTH_OPTION]
        if value != args.max_completion_length:
            raise ValueError(f"rewards: {spec.name}'s {LENGTH_OPTION} is {value} tokens but the recipe's "
                             f"max_completion_length is {args.max_completion_length}: leave the option out (it "
                             "follows the recipe's) or make the two equal")


def final_evaluations(script_args: GRPOScriptArguments, args: R1GRPOConfig, model_args: ModelConfig, load) -> dict:
    """The `evaluate` recipes run after training (see `eval_recipe`), checked; ``load`` is
    ``Recipe.load``."""
    if not Path(script_args.eval_recipe).is_file():
        raise ValueError(f"eval_recipe: no such recipe file {script_args.eval_recipe}")
    try:
        return evaluation_recipes(load, script_args.eval_recipe, {"start": model_args.model_name_or_path,
                                                            "trained": args.output_dir},
                                  args, Path(args.output_dir) / EVAL_DIR)
    except ValueError as e:
        raise ValueError(f"eval_recipe: {e}") from None


def during_training_evaluation(script_args: GRPOScriptArguments, args: R1GRPOConfig, model_args: ModelConfig, load):
    """The `evaluate` configuration run every `eval_every_steps` steps (see `eval_every_mode`), checked."""
    if not script_args.eval_recipe:
        raise ValueError("eval_every_steps: evaluates on `eval_recipe`, which this recipe does not set")
    if script_args.eval_every_steps < 1:
        raise ValueError(f"eval_every_steps: a number of optimizer steps >= 1, got {script_args.eval_every_steps}")
    if script_args.eval_every_mode not in MODES:
        raise ValueError(f"eval_every_mode: one of {', '.join(MODES)}, got {script_args.eval_every_mode!r}")
    try:
        recipes = evaluation_recipes(load, script_args.eval_recipe, {"during": model_args.model_name_or_path}, args,
                                     Path(args.output_dir) / EVAL_DIR)
    except ValueError as e:
        raise ValueError(f"eval_recipe: {e}") from None
    return recipes["during", script_args.eval_every_mode].configs[0]


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
    prefilled = any(takes_prefill(spec.name) for spec in args.reward_specs) and think_prefilled_by(
        resolve_model(model_args.model_name_or_path), args.prompt_template)
    if prefilled:
        print("The chat template opens <think> in the prompt: rewards that take `think_prefilled` score "
              "completions as starting inside it")
    rewards = build_rewards(args.reward_specs, think_prefilled=prefilled)

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
    if script_args.curriculum_column:
        rows = in_curriculum_order(rows, script_args.curriculum_column)
        args.shuffle_dataset = False
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
    if script_args.eval_every_steps is not None:
        trainer.add_callback(PeriodicEvaluation(trainer, during_training_evaluation(script_args, args, model_args, recipe.load),
                                                script_args.eval_every_steps, output_dir))
    train_and_save(trainer, args)

    def summarize() -> dict:
        args.save_prompt(output_dir)  # the trained model's prompt, for its evaluation
        comparison = evaluate_before_after(script_args, args, model_args, recipe.load) if script_args.eval_recipe else None
        summary = publish(recipe, args, push_to_hub=push_to_hub, base_model=hub_id(model_args.model_name_or_path),
                          rewards=[spec.name for spec in args.reward_specs], evaluation=comparison)
        span = first_last_mean(read_metrics(output_dir / METRICS_FILE))
        if span:
            summary["reward_first5"], summary["reward_last5"] = span
            print(f"  mean reward, first 5 logged steps: {span[0]:.3f}; last 5: {span[1]:.3f}")
        if comparison:
            summary["evaluation"] = str(output_dir / EVAL_TABLE)
            print(f"\nHeld-out evaluation, starting vs trained model ({output_dir / EVAL_TABLE}):\n\n"
                  f"{comparison['table']}")
        return summary

    trainer.release_vllm()  # before the final evaluation loads engines of its own
    return on_main_process(trainer, summarize)


def evaluate_before_after(script_args: GRPOScriptArguments, args: R1GRPOConfig, model_args: ModelConfig,
                          load) -> dict:
    """Run `eval_recipe` on the starting and the trained model; write the comparison
    (``evaluation.json``, ``evaluation.md``) into the output folder; return it as ``rows``
    (:func:`compare_models`) and ``table`` (Markdown)."""
    recipes = final_evaluations(script_args, args, model_args, load)
    results = run_evaluations(recipes)
    rows = compare_models(results["start"], results["trained"])
    questions = results["trained"]["greedy"]
    table = comparison_table(rows, f"{questions['benchmark']}, {questions['num_questions']} held-out questions")
    output_dir = Path(args.output_dir)
    (output_dir / EVAL_FILE).write_text(json.dumps({"comparison": rows, "results": results}, indent=2) + "\n")
    (output_dir / EVAL_TABLE).write_text(table + "\n")
    return {"rows": rows, "table": table, "benchmark": questions["benchmark"]}
