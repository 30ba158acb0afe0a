"""Evaluation as R1 reports it: sample k answers per benchmark question and score them with the
scorer reward, the same definition training uses: pass@1 over k samples, pass@k, cons@k, format
and reflection rates. The `evaluate` stage runs :func:`evaluate`; a training stage evaluates its
starting and trained models (:func:`evaluation_recipes`, :func:`run_evaluations`) and its policy
while it trains (:func:`evaluate_policy`) with the same functions.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass, field
from pathlib import Path

from trl_r1_rewards import answer_groups, final_answer

from ..data.loading import load_split
from ..data.templates import (
    PROMPT_FIELDS,
    PromptArguments,
    takes_prefill,
    think_prefilled_by,
)
from ..models import resolve_model
from ..recipe_checks import read_yaml
from .arguments import GenerationArguments
from .backends import make_backend
from .loop import check_settings, read_samples, sample_questions
from .metrics import markdown_table, summarize
from .reflection import REFLECTION_WORDS
from .scoring import load_scorer

SAMPLES_FILE, METRICS_FILE, TABLE_FILE, SETTINGS_FILE = "samples.jsonl", "metrics.json", "results.md", "settings.json"


@dataclass
class EvalConfig(GenerationArguments):
    """An evaluation: [`GenerationArguments`] (which model, which benchmark, how to sample and
    score; a sample is correct when the scorer gives it >= 1) plus:

    Args:
        choice_columns (`list[str]`, *optional*): multiple choice: the right answer's column, then
            the wrong ones, shuffled into the question; the right letter becomes the gold.
        benchmark (`str`, *optional*): the name in the results (default: the dataset's).
        reflection_words (`list[str]`): words counted per 1k response words.
    """

    choice_columns: list[str] | None = field(
        default=None,
        metadata={"help": "Multiple choice: the right answer's column, then the wrong ones. They are shuffled "
                  "(seeded per question) into the prompt as (A), (B), ...; the right letter becomes the gold "
                  "in `answer_column`. Use with scorer `choice`."},
    )
    benchmark: str | None = field(default=None, metadata={"help": "Name in the results (default: the dataset's)."})
    output_dir: str = field(default="outputs/eval", metadata={"help": "Where samples, metrics and table go."})
    reflection_words: list[str] = field(
        default_factory=lambda: list(REFLECTION_WORDS), metadata={"help": "Words counted per 1k response words."})

    SETTINGS = (*GenerationArguments.SETTINGS, "choice_columns")


def load_questions(config: EvalConfig) -> list[dict]:
    """The benchmark rows to evaluate, in order."""
    split = load_split(config.dataset_name, config.dataset_config, config.dataset_split,
                       [config.problem_column, *(config.choice_columns or [config.answer_column])])
    if config.max_questions is not None:
        split = split.select(range(min(config.max_questions, len(split))))
    rows = [dict(row) for row in split]
    if config.choice_columns:
        rows = [with_choices(row, i, config) for i, row in enumerate(rows)]
    return rows


def with_choices(row: dict, index: int, config: EvalConfig) -> dict:
    """Shuffle a multiple-choice row's options into its question; the right letter becomes the gold.

    >>> cfg = EvalConfig(model_name_or_path="m", dataset_name="d", choice_columns=["right", "wrong"], seed=0)
    >>> row = with_choices({"problem": "2+2?", "right": "4", "wrong": "5"}, 0, cfg)
    >>> row["problem"].splitlines()[2:], row["answer"]
    (['(A) 4', '(B) 5'], 'A')
    """
    options = [str(row[column]).strip() for column in config.choice_columns]
    order = random.Random(f"{config.seed}:{index}").sample(range(len(options)), len(options))
    letters = string.ascii_uppercase[: len(options)]
    listed = "\n".join(f"({letter}) {options[i]}" for letter, i in zip(letters, order))
    return {**row, config.problem_column: f"{row[config.problem_column]}\n\n{listed}",
            config.answer_column: letters[order.index(0)]}


def evaluate(config: EvalConfig) -> dict:
    """Run the evaluation ``config`` describes (resuming its samples file); write its samples,
    metrics and table into its ``output_dir``; return its metrics (``metrics.json``)."""
    output_dir = Path(config.output_dir)
    trained_prompt = config.use_trained_prompt(config.model_name_or_path)
    if trained_prompt is not None:
        print(f"Prompt: the one the model was trained with, from {trained_prompt}")
    check_settings(output_dir, config.settings(), SAMPLES_FILE, SETTINGS_FILE)
    questions = load_questions(config)
    samples_path = output_dir / SAMPLES_FILE
    done = read_samples(samples_path, config.num_samples)
    todo = [i for i in range(len(questions)) if i not in done]
    if done:
        print(f"Resuming: {len(done)} of {len(questions)} questions already evaluated in {samples_path}")

    scorer = scorer_of(config)
    if todo:
        backend = make_backend(config.backend, resolve_model(config.model_name_or_path), config.dtype,
                               config.max_model_len, config.tensor_parallel_size)
        _sample(config, backend, scorer, questions, todo, samples_path, done)
    metrics = evaluation_metrics(config, scorer, questions, done)
    (output_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2) + "\n")
    table = markdown_table([metrics])
    (output_dir / TABLE_FILE).write_text(table + "\n")
    print("\n" + table)
    print(f"\nOutputs:\n  samples  {samples_path}\n  metrics  {output_dir / METRICS_FILE}\n  table    {output_dir / TABLE_FILE}")
    return metrics


def scorer_of(config: EvalConfig):
    """The evaluation's scorer reward, told whether the model's chat template opens ``<think>``."""
    prefilled = takes_prefill(config.scorer) and think_prefilled_by(resolve_model(config.model_name_or_path),
                                                                    config.prompt_template)
    return load_scorer(config.scorer, config.scorer_kwargs, config.answer_column, prefilled)


def _sample(config: EvalConfig, backend, scorer, questions: list[dict], todo: list[int], samples_path: Path,
            done: dict) -> None:
    prompts = [config.prompt(q[config.problem_column]) for q in questions]
    sample_questions(
        backend, prompts, todo, config.sampling, config.batch_size,
        lambda i, prompt, completions: _score(config, scorer, i, questions[i], prompt, completions),
        samples_path, done, desc=f"evaluate {config.benchmark or config.dataset_name}")


def evaluation_metrics(config: EvalConfig, scorer, questions: list[dict], done: dict) -> dict:
    """What an evaluation reports (``metrics.json``): the benchmark, the model, and
    :func:`~trl_r1.generation.metrics.summarize`'s pass@k, cons@k, lengths and format rate."""
    name = config.benchmark or Path(config.dataset_name).stem
    return {"benchmark": name, "model": config.model_name_or_path, "num_questions": len(questions),
            **summarize([done[i] for i in range(len(questions))], config.reflection_words, answer_groups(scorer)),
            "settings": config.settings()}


def evaluate_policy(config: EvalConfig, backend, samples_path: str | Path, scorer=None) -> dict:
    """Evaluate the model behind ``backend`` (any :class:`~trl_r1.generation.backends.Backend`,
    e.g. a policy being trained) on ``config``'s questions now, from scratch: its samples are
    written to ``samples_path``, its metrics (as ``metrics.json`` holds them) returned. ``scorer``:
    the scorer reward, when the caller keeps one (:func:`scorer_of`)."""
    scorer = scorer if scorer is not None else scorer_of(config)
    questions = load_questions(config)
    done: dict[int, list[dict]] = {}
    samples_path = Path(samples_path)
    samples_path.parent.mkdir(parents=True, exist_ok=True)
    samples_path.unlink(missing_ok=True)
    _sample(config, backend, scorer, questions, list(range(len(questions))), samples_path, done)
    return evaluation_metrics(config, scorer, questions, done)


def _score(config: EvalConfig, scorer, index: int, row: dict, prompt, completions) -> list[dict]:
    """One result row per sample of one question, scored by the scorer reward, with the final
    answer as the scorer reads it (what cons@n votes on; none for code)."""
    texts = [c.text for c in completions]
    columns = {k: [v] * len(texts) for k, v in row.items()}
    scores = scorer([prompt] * len(texts), texts, **columns)
    rows = []
    for j, (completion, score) in enumerate(zip(completions, scores, strict=True)):
        rows.append({
            "question": index, "sample": j, "problem": row[config.problem_column],
            "gold": str(row[config.answer_column]), "completion": completion.text,
            "answer": final_answer(scorer, completion.text),
            "score": score, "num_tokens": completion.num_tokens,
        })
    return rows


# The two ways every model is evaluated before and after training: as the recipe samples (R1's
# k samples at T=0.6) and greedily (one answer per question).
MODES = {"sampled": {}, "greedy": {"temperature": 0.0, "num_samples": 1}}


def evaluation_recipes(load, eval_recipe: str | Path, models: dict[str, str], prompt: PromptArguments,
                       output_dir: str | Path) -> dict[tuple[str, str], object]:
    """The `evaluate` recipes that compare ``models`` (name -> model) on ``eval_recipe``'s
    questions: per model, sampled as the recipe says and greedily, all with ``prompt``'s
    settings (the prompt the model is trained with), each in ``output_dir/<name>-<mode>``.
    Loading them (with ``load``, the training recipe's ``Recipe.load``) checks them (nothing else
    loads): a training stage calls this before training."""
    values = read_yaml(eval_recipe)
    if values.get("stage") != "evaluate":
        raise ValueError(f"{eval_recipe} is a `{values.get('stage')}` recipe, not an `evaluate` one")
    recipes = {}
    for name, model in models.items():
        for mode, overrides in MODES.items():
            run_values = {**values, **overrides, **{k: getattr(prompt, k) for k in PROMPT_FIELDS},
                          "model_name_or_path": model, "output_dir": str(Path(output_dir) / f"{name}-{mode}")}
            recipes[name, mode] = load(eval_recipe, values=run_values)
    return recipes


def run_evaluations(recipes: dict[tuple[str, str], object]) -> dict[str, dict[str, dict]]:
    """Run :func:`evaluation_recipes`' recipes: {model name: {mode: metrics}}."""
    results: dict[str, dict[str, dict]] = {}
    for (name, mode), recipe in recipes.items():
        print(f"\nEvaluating the {name} model ({mode}) on {recipe.configs[0].dataset_name}")
        results.setdefault(name, {})[mode] = evaluate(recipe.configs[0])
    return results
