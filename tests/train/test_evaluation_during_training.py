"""Evaluation every N steps while a GRPO recipe trains: `eval/*` in metrics.jsonl and on the plot,
and the trained weights the same as without it."""

from __future__ import annotations

import json

import pytest
import yaml
from helpers import run_recipe, tiny_recipe

from trl_r1.recipe import RecipeError, load_recipe


@pytest.fixture
def eval_recipe(tiny_model, tmp_path):
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump({
        "stage": "evaluate", "model_name_or_path": str(tiny_model), "dataset_name": "builtin:arithmetic",
        "dataset_split": "test", "problem_column": "problem", "answer_column": "solution", "max_questions": 3,
        "scorer": "number", "num_samples": 2, "temperature": 0.6, "max_new_tokens": 6, "batch_size": 4,
        "backend": "transformers", "output_dir": str(tmp_path / "eval-out")}))
    return path


def train(tiny_model, out, **values):
    """Three steps whose rewards differ within each group (repeated tokens), so every step moves
    the weights and depends on the step's sampled completions; the weights after them."""
    from safetensors.torch import load_file

    run_recipe(tiny_recipe(tiny_model, out, max_steps=3, max_completion_length=32,
                           rewards=[{"name": "repetition", "kwargs": {"ngram_size": 1}}],
                           **values))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return load_file(out / "model.safetensors"), rows


def training_rows(rows):
    timing = ("runtime", "per_second", "time", "train_loss", "epoch")
    return [{k: v for k, v in row.items() if not any(t in k for t in timing)} for row in rows if "reward" in row]


def test_evaluating_every_step_logs_eval_metrics_and_leaves_the_training_unchanged(tiny_model, tmp_path, eval_recipe):
    import torch

    plain, plain_rows = train(tiny_model, tmp_path / "plain")
    evaluated, rows = train(tiny_model, tmp_path / "evaluated", eval_recipe=str(eval_recipe), eval_every_steps=1,
                            eval_every_mode="sampled")
    assert [row["step"] for row in rows if "eval/pass@1" in row] == [1, 2, 3]
    assert {"eval/pass@2", "eval/cons@2", "eval/mean_response_tokens", "eval/format_rate"} <= set(rows[0]) | set(rows[1])
    assert (tmp_path / "evaluated/eval/during/step-2/samples.jsonl").read_text().count("\n") == 3 * 2
    assert training_rows(rows) == training_rows(plain_rows)
    assert all(row["reward_std"] > 0 for row in training_rows(rows))  # every step had a signal to learn from
    assert plain.keys() == evaluated.keys() and all(torch.equal(plain[k], evaluated[k]) for k in plain)
    assert (tmp_path / "evaluated/training.png").is_file()


def test_without_restoring_the_random_state_the_training_would_change(tiny_model, tmp_path, eval_recipe, monkeypatch):
    """The check above can fail: an evaluation that draws from the training's random generator
    changes the next step's completions, hence the weights."""
    import contextlib

    import torch

    from trl_r1.train import evaluation

    plain, _ = train(tiny_model, tmp_path / "plain")
    monkeypatch.setattr(evaluation, "preserved_random_state", contextlib.nullcontext)
    leaky, _ = train(tiny_model, tmp_path / "leaky", eval_recipe=str(eval_recipe), eval_every_steps=1,
                     eval_every_mode="sampled")
    assert not all(torch.equal(plain[k], leaky[k]) for k in plain)


@pytest.mark.parametrize("values, message", [
    ({"eval_every_steps": 2}, "eval_every_steps: evaluates on `eval_recipe`"),
    ({"eval_every_steps": 0, "eval_recipe": "EVAL"}, "eval_every_steps: a number of optimizer steps >= 1"),
    ({"eval_every_steps": 2, "eval_recipe": "EVAL", "eval_every_mode": "twice"}, "eval_every_mode"),
])
def test_a_wrong_period_is_named_before_anything_loads(tmp_path, eval_recipe, values, message):
    values = {k: str(eval_recipe) if v == "EVAL" else v for k, v in values.items()}
    with pytest.raises(RecipeError, match=message):
        load_recipe(None, values=tiny_recipe("/nonexistent/model", tmp_path, **values))
