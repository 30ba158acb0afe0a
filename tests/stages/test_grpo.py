"""Stage `grpo` around the trainer: the held-out evaluation of the starting and the trained model
at the end (`eval_recipe`), the prompt saved with the model, bf16 only where the CPU has it, the
curriculum order (`curriculum_column`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from helpers import run_cli, tiny_recipe, write_recipe

from trl_r1.recipe import RecipeError, load_recipe
from trl_r1.train.config import bf16_where_the_cpu_has_it

EXAMPLES = [{"role": "user", "content": "What is 2 + 3?"}, {"role": "assistant", "content": "<think>5</think> 5"}]


def eval_values(**overrides) -> dict:
    values = {"stage": "evaluate", "model_name_or_path": "placeholder", "dataset_name": "builtin:arithmetic",
              "dataset_split": "test", "problem_column": "problem", "answer_column": "solution", "scorer": "number",
              "benchmark": "arithmetic", "max_questions": 3, "num_samples": 2, "max_new_tokens": 6, "batch_size": 3,
              "backend": "transformers", "output_dir": "unused"}
    return {**values, **overrides}


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    """A 2-step run whose recipe names an evaluate recipe next to it (relative path)."""
    tmp = tmp_path_factory.mktemp("grpo-eval")
    (tmp / "recipes" / "eval").mkdir(parents=True)
    write_recipe(tmp / "recipes" / "eval" / "small.yaml", eval_values())
    recipe = tiny_recipe(tiny_model, tmp / "out", system_prompt="Be brief.", chat_examples=EXAMPLES,
                         eval_recipe="eval/small.yaml")
    result = run_cli(str(write_recipe(tmp / "recipes" / "train.yaml", recipe)), cwd=tmp)
    return tmp / "out", result


def test_the_run_ends_with_the_starting_and_trained_model_on_held_out_questions(trained):
    out, result = trained
    for name in ("start", "trained"):
        for mode, n in (("sampled", 2), ("greedy", 1)):
            metrics = json.loads((out / "eval" / f"{name}-{mode}" / "metrics.json").read_text())
            assert metrics["num_questions"] == 3 and metrics["num_samples"] == n
            assert metrics["settings"]["dataset_split"] == "test" and metrics["settings"]["scorer"] == "number"
            # Both models are evaluated with the prompt the model was trained with.
            assert (metrics["settings"]["system_prompt"], metrics["settings"]["chat_examples"]) == ("Be brief.", EXAMPLES)
    assert json.loads((out / "eval" / "start-greedy" / "metrics.json").read_text())["settings"]["temperature"] == 0.0
    table = (out / "evaluation.md").read_text()
    assert table.startswith("| arithmetic, 3 held-out questions | start | trained | difference | z | p |")
    assert "| greedy accuracy (T=0) |" in table and "| pass@1, 2 samples at T=0.6, top-p 0.95 |" in table
    assert table.strip() in result.stdout
    comparison = json.loads((out / "evaluation.json").read_text())["comparison"]
    assert [row["metric"] for row in comparison][1] == "greedy accuracy (T=0)"


def test_the_card_and_plot_show_the_evaluation_and_the_model_keeps_its_prompt(trained):
    out, _ = trained
    card = (out / "README.md").read_text()
    assert "## Held-out evaluation" in card and (out / "evaluation.md").read_text().strip() in card
    assert (out / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    prompt = json.loads((out / "prompt.json").read_text())
    assert prompt == {"prompt_template": "chat", "system_prompt": "Be brief.", "chat_examples": EXAMPLES}


def test_a_wrong_eval_recipe_fails_before_training(tiny_model, tmp_path):
    values = tiny_recipe(tiny_model, tmp_path / "out", eval_recipe=str(tmp_path / "missing.yaml"))
    with pytest.raises(RecipeError, match="eval_recipe: no such recipe file"):
        load_recipe(None, values=values)
    write_recipe(tmp_path / "train.yaml", tiny_recipe(tiny_model, tmp_path / "x"))
    with pytest.raises(RecipeError, match="eval_recipe: .* is a `grpo` recipe, not an `evaluate` one"):
        load_recipe(None, values={**values, "eval_recipe": str(tmp_path / "train.yaml")})
    write_recipe(tmp_path / "bad.yaml", eval_values(num_samples=0))
    with pytest.raises(RecipeError, match="eval_recipe: .*num_samples"):
        load_recipe(None, values={**values, "eval_recipe": str(tmp_path / "bad.yaml")})


def test_a_group_filter_on_a_reward_the_recipe_lacks_fails_before_training(tiny_model, tmp_path):
    values = tiny_recipe(tiny_model, tmp_path / "out", rewards=["accuracy", "format"], group_filter_reward="acuracy")
    with pytest.raises(RecipeError, match=r"group_filter_reward: 'acuracy' is not one of this recipe's rewards \(accuracy, format\)"):
        load_recipe(None, values=values)
    assert load_recipe(None, values={**values, "group_filter_reward": "accuracy"})


def test_the_default_recipe_evaluates_itself_with_the_tiny_arithmetic_recipe():
    repo = Path(__file__).resolve().parents[2]
    script_args, _, _ = load_recipe(repo / "recipes/tiny/zero.yaml").configs
    assert Path(script_args.eval_recipe).resolve() == repo / "recipes/eval/tiny_arithmetic.yaml"


def test_bf16_applies_only_on_cpus_that_compute_in_bf16(monkeypatch, capsys):
    import trl_r1.train.config as config

    values = {"use_cpu": True, "bf16": True}
    monkeypatch.setattr(config, "cpu_has_bf16", lambda: True)
    assert bf16_where_the_cpu_has_it(values) == values
    monkeypatch.setattr(config, "cpu_has_bf16", lambda: False)
    assert bf16_where_the_cpu_has_it(values) == {"use_cpu": True, "bf16": False}
    assert "training in fp32" in capsys.readouterr().out
    assert bf16_where_the_cpu_has_it({"bf16": True}) == {"bf16": True}  # GPU recipes are left alone


def test_a_curriculum_trains_on_the_kept_questions_from_easy_to_hard(tiny_model, tmp_path):
    """One question per step: the steps see the 4 questions max_train_samples kept, by their
    larger operand (builtin:arithmetic's `difficulty`), where a run without it shuffles them."""
    out = tmp_path / "out"
    recipe = tiny_recipe(tiny_model, out, max_train_samples=4, max_steps=4, num_generations=2,
                         per_device_train_batch_size=2, log_completions=True, curriculum_column="difficulty")
    run_cli(str(write_recipe(tmp_path / "recipe.yaml", recipe)))
    seen = []
    for step in range(1, 5):
        prompts = pd.read_parquet(out / "completions" / f"completions_{step:05d}.parquet")["prompt"]
        [question] = {re.findall(r"What is \d+ [+-] \d+\?", str(p))[-1] for p in prompts}
        seen.append(max(map(int, re.findall(r"\d+", question))))
    assert seen == sorted(seen) and len(set(seen)) > 1, seen


def test_a_curriculum_column_the_dataset_lacks_is_named_with_the_columns_it_has():
    from datasets import Dataset

    from trl_r1.data.loading import in_curriculum_order

    with pytest.raises(ValueError, match=r"no column 'level'; its columns: \['problem', 'difficulty'\]"):
        in_curriculum_order(Dataset.from_list([{"problem": "q", "difficulty": 1}]), "level")
