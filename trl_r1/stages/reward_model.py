"""Stage ``reward_model``: a pointwise reward model for R1's stage 4 (safety classifier,
helpfulness score), trained with transformers' ``Trainer`` on exactly the text the ``safety`` /
``helpfulness`` rewards will read (docs/stages.md, "reward_model").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from datasets import Dataset
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    set_seed,
)
from trl import ModelConfig, ScriptArguments
from trl_r1_rewards import render, response_text, tokenize

from ..data.loading import check_model_and_dataset, load_any
from ..models import hub_id, resolve_model
from ..train.activation_checkpointing import ActivationCheckpointing
from ..train.callbacks import MetricsFileCallback
from ..train.checkpoints import ResumeArguments, on_main_process, train_and_save
from ..train.console import ConsoleArguments
from ..train.hub import Card, defer_push, publish
from ..train.launch import StepSize

logger = logging.getLogger(__name__)


@dataclass
class RewardModelScriptArguments(ScriptArguments):
    """The labelled data and how a row becomes the text the model reads.

    Args:
        dataset_name (`str`): a Hub dataset id, a local folder or data file (JSONL, JSON, CSV,
            Parquet). Its `dataset_test_split` (default `test`), when present, is evaluated.
        prompt_column (`str`, defaults to `"prompt"`): the question (text, or chat messages whose
            last user turn is used).
        response_column (`str`, defaults to `"response"`): the response judged (text or messages).
        label_column (`str`, defaults to `"label"`): a class per row (a name from `labels` or its
            index): trains a classifier. A dataset has this column or `score_column`, not both.
        score_column (`str`, defaults to `"score"`): a number per row: trains a 1-output regressor.
        labels (`list[str]`, defaults to `["unsafe", "safe"]`): the class names, in output order
            (saved as the model's `id2label`; the `safety` reward reads the `safe` one).
        summary_only (`bool`, defaults to `False`): judge only the summary after the last
            `</think>`, as the `helpfulness` reward does (rows without one are skipped); default:
            the whole response, reasoning included, as the `safety` reward does.
        eval_size (`float`, *optional*): without a test split, hold out this share (< 1) or
            number (>= 1) of the training rows for evaluation.
    """

    prompt_column: str = field(default="prompt", metadata={"help": "Column holding the question."})
    response_column: str = field(default="response", metadata={"help": "Column holding the response judged."})
    label_column: str = field(
        default="label", metadata={"help": "Column of classes (names from `labels` or indices): a classifier."})
    score_column: str = field(default="score", metadata={"help": "Column of numbers: a 1-output regressor."})
    labels: list[str] = field(
        default_factory=lambda: ["unsafe", "safe"],
        metadata={"help": "Class names in output order (the model's id2label)."},
    )
    summary_only: bool = field(
        default=False,
        metadata={"help": "Judge only the summary after </think> (helpfulness); default: the whole response (safety)."},
    )
    eval_size: float | None = field(
        default=None,
        metadata={"help": "Without a test split: hold out this share (< 1) or number (>= 1) of training rows."},
    )


@dataclass
class RewardModelConfig(ActivationCheckpointing, ConsoleArguments, StepSize, TrainingArguments, ResumeArguments):
    """transformers' `TrainingArguments` plus what the reward-model stage needs.

    Args:
        max_length (`int`, defaults to `2048`): tokens read per row (prompt included), cut on the
            tokenizer's truncation side. The rewards read up to the model's maximum by default
            (R1 scores the whole response); give them a `max_length` to cut there too.
        auto_resume (`bool`, defaults to `True`): resume from the last complete checkpoint.
        sequences_per_step (`int`, *optional*): rows per optimizer step, every process together;
            `gradient_accumulation_steps` is derived from the launch's size ([`StepSize`]).
        activation_checkpointing (`bool`, defaults to `False`): transformers' default, under its
            new name ([`ActivationCheckpointing`]).
    """

    ACTIVATION_CHECKPOINTING_DEFAULT = False  # transformers' (TRL's configurations turn it on)

    max_length: int = field(default=2048, metadata={"help": "Tokens read per row, prompt included (the rest is cut)."})


ARGUMENTS = (RewardModelScriptArguments, RewardModelConfig, ModelConfig)
PLAN_AS = "score_head"  # how `plan` sizes it (trl_r1/plan/planner.py)
CARD = Card("pointwise reward-model training", "loss", ("learning_rate",))  # what its model card says


def rehearsal_limits(size) -> dict:
    """Field -> value in a rehearsal (``rehearse``; ``size`` is trl_r1/rehearse/scale.py, with its sizes)."""
    return {**size.TRAINING_LIMITS, "per_device_train_batch_size": 2, "per_device_eval_batch_size": 2, "max_length": 256}


def rehearsal_data(values: dict, folder: Path, standins, splits) -> str:
    """The built-in stand-in ``rehearse`` uses for a Hub ``dataset_name`` (``standins`` is
    trl_r1/rehearse/standins.py; ``splits(*fields, default=...)`` the splits the recipe names)."""
    scores = "score_column" in values
    return standins.judged(folder / "judged", splits("dataset_train_split", "dataset_test_split"),
                           values.get("prompt_column", "prompt"), values.get("response_column", "response"),
                           values.get("score_column" if scores else "label_column", "score" if scores else "label"),
                           scores)


def validate(script_args: RewardModelScriptArguments, args: RewardModelConfig, model_args: ModelConfig) -> None:
    check_model_and_dataset(model_args.model_name_or_path, script_args.dataset_name, "reward_model")
    if model_args.use_peft or model_args.load_in_4bit or model_args.load_in_8bit:
        raise ValueError("use_peft / load_in_4bit / load_in_8bit: the reward_model stage trains the whole model")
    labels = script_args.labels or []
    if len(labels) < 2 or len(set(labels)) != len(labels) or not all(isinstance(x, str) and x for x in labels):
        raise ValueError(f"labels: at least two distinct class names, got {labels!r}")
    if script_args.label_column == script_args.score_column:
        raise ValueError("label_column / score_column: two different columns")
    if args.max_length < 1:
        raise ValueError(f"max_length: must be >= 1, got {args.max_length}")
    if script_args.eval_size is not None and script_args.eval_size <= 0:
        raise ValueError(f"eval_size: a share (< 1) or a number (>= 1) of rows, got {script_args.eval_size}")


def splits(script_args: RewardModelScriptArguments, seed: int) -> tuple[Dataset, Dataset | None]:
    """The training rows and the evaluation rows (None: no evaluation)."""
    data = load_any(script_args.dataset_name, script_args.dataset_config)
    if script_args.dataset_train_split not in data:
        raise ValueError(f"dataset_train_split: no split {script_args.dataset_train_split!r}; splits: {list(data)}")
    train = data[script_args.dataset_train_split]
    if script_args.dataset_test_split in data:
        return train, data[script_args.dataset_test_split]
    if script_args.eval_size is None:
        return train, None
    size = script_args.eval_size if script_args.eval_size < 1 else int(script_args.eval_size)
    held = train.train_test_split(test_size=size, seed=seed)
    return held["train"], held["test"]


def target_column(dataset: Dataset, script_args: RewardModelScriptArguments) -> tuple[str, bool]:
    """``(column, is_regression)``: the label column (a classifier) or the score column (a regressor)."""
    columns = dataset.column_names
    for key in ("prompt_column", "response_column"):
        if getattr(script_args, key) not in columns:
            raise ValueError(f"{key}: the dataset has no column {getattr(script_args, key)!r}; its columns: {columns}")
    has_label, has_score = script_args.label_column in columns, script_args.score_column in columns
    if has_label == has_score:
        raise ValueError(
            f"label_column / score_column: the dataset needs exactly one of {script_args.label_column!r} (classes) "
            f"and {script_args.score_column!r} (numbers); its columns: {columns}"
        )
    return (script_args.score_column, True) if has_score else (script_args.label_column, False)


def _target(value, labels: list[str], regression: bool, row: int) -> float | int:
    if regression:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"score of row {row}: a number, got {value!r}")
        return float(value)
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int) and 0 <= value < len(labels):
        return value
    if isinstance(value, str) and value in labels:
        return labels.index(value)
    raise ValueError(f"label of row {row}: one of {labels} or an index below {len(labels)}, got {value!r}")


def encode(dataset: Dataset, tokenizer, script_args: RewardModelScriptArguments, column: str, regression: bool,
           max_length: int) -> tuple[Dataset, dict]:
    """Token ids and targets, the way the rewards will read these rows; and what was skipped or cut."""
    texts, targets = [], []
    skipped = 0
    rows = zip(dataset[script_args.prompt_column], dataset[script_args.response_column], dataset[column], strict=True)
    for i, (prompt, response, value) in enumerate(rows):
        response = response_text(response, script_args.summary_only)
        if response is None:  # summary_only and the reasoning never closes: nothing to judge
            skipped += 1
            continue
        texts.append(render(tokenizer, prompt, response))
        targets.append(_target(value, script_args.labels, regression, i))
    ids, truncated = tokenize(tokenizer, texts, max_length)
    encoded = Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * len(x) for x in ids], "labels": targets})
    return encoded, {"skipped": skipped, "truncated": sum(truncated)}


def classification_metrics(prediction) -> dict:
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    return {"accuracy": float((np.asarray(logits).argmax(-1) == np.asarray(prediction.label_ids)).mean())}


def regression_metrics(prediction) -> dict:
    logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
    scores = np.asarray(logits, dtype=np.float64).reshape(-1)
    targets = np.asarray(prediction.label_ids, dtype=np.float64).reshape(-1)
    metrics = {"mse": float(((scores - targets) ** 2).mean())}
    if scores.std() > 0 and targets.std() > 0:
        metrics["pearson"] = float(np.corrcoef(scores, targets)[0, 1])
    return metrics


def load_model(model_args: ModelConfig, labels: list[str], regression: bool, seed: int):
    """Tokenizer (with a pad token) and a sequence-classification model from any checkpoint: a
    causal LM gets a new head (seeded), a classifier with other outputs a new one too."""

    path = resolve_model(model_args.model_name_or_path)
    tokenizer = AutoTokenizer.from_pretrained(path, revision=model_args.model_revision)
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError(f"model_name_or_path: the tokenizer of {path} has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    outputs = {"num_labels": 1} if regression else {
        "num_labels": len(labels), "id2label": dict(enumerate(labels)), "label2id": {n: i for i, n in enumerate(labels)}}
    set_seed(seed)  # the new head is random
    model = AutoModelForSequenceClassification.from_pretrained(
        path,
        revision=model_args.model_revision,
        dtype=model_args.dtype,
        attn_implementation=model_args.attn_implementation,
        problem_type="regression" if regression else "single_label_classification",
        ignore_mismatched_sizes=True,
        **outputs,
    )
    # The model pools each row's last token that is not padding: it must know the pad id.
    model.config.get_text_config().pad_token_id = tokenizer.pad_token_id
    model.config.pad_token_id = tokenizer.pad_token_id
    return tokenizer, model


def _prefixed(metrics: dict, suffix: str = "") -> dict:
    keys = ("eval_loss", "eval_accuracy", "eval_mse", "eval_pearson")
    return {k + suffix: float(metrics[k]) for k in keys if k in metrics}


def run(recipe) -> dict:

    script_args, args, model_args = recipe.configs
    output_dir = Path(args.output_dir)
    train_rows, eval_rows = splits(script_args, args.seed)
    column, regression = target_column(train_rows, script_args)
    tokenizer, model = load_model(model_args, script_args.labels, regression, args.seed)
    train_set, train_stats = encode(train_rows, tokenizer, script_args, column, regression, args.max_length)
    evaluation = None
    if eval_rows is not None:
        target_column(eval_rows, script_args)
        evaluation, _ = encode(eval_rows, tokenizer, script_args, column, regression, args.max_length)
    if train_stats["skipped"]:
        logger.warning("%d training rows have no summary after </think> and were skipped (summary_only)",
                       train_stats["skipped"])

    push_to_hub = defer_push(args)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_set,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=regression_metrics if regression else classification_metrics,
        callbacks=[MetricsFileCallback(output_dir)],
    )
    result, first = train_and_save(trainer, args, evaluate_first=evaluation is not None)  # first: the untrained head
    before = _prefixed(first, "_before") if first else None
    after = _prefixed(trainer.evaluate()) if evaluation is not None else {}

    def summarize() -> dict:
        results = {"train_loss": float(result.training_loss), **after, **(before or {}),
                   "train_rows": len(train_set), "eval_rows": len(evaluation) if evaluation is not None else 0,
                   "truncated_rows": train_stats["truncated"], "skipped_rows": train_stats["skipped"]}
        what = "a regressor (`score`, MSE)" if regression else f"a classifier over {script_args.labels}"
        summary = publish(recipe, args, push_to_hub=push_to_hub, panels=[("Training loss", ["loss"])],
                          base_model=hub_id(model_args.model_name_or_path), notes=[f"The model is {what}."],
                          results=results)
        print("  " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in results.items()))
        summary.update(results)
        return summary

    return on_main_process(trainer, summarize)
