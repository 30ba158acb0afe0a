"""The command line: help, list, check, and errors that stop before any model loads."""

from __future__ import annotations

from helpers import run_cli, tiny_recipe, write_recipe


def test_help():
    result = run_cli("--help")
    assert "python -m trl_r1 RECIPE.yaml" in result.stdout and "list" in result.stdout


def test_no_arguments_prints_usage_and_fails():
    result = run_cli(check=False)
    assert result.returncode == 2 and "usage" in result.stdout


def test_list_shows_recipes_rewards_stages():
    out = run_cli("list").stdout
    for name in ("zero.yaml", "tiny/zero.yaml", "grpo", "sft", "accuracy", "format", "language_consistency",
                 "builtin:arithmetic", "embedded:SmolLM2-135M-Instruct"):
        assert name in out, name


def test_recipe_help_lists_stage_fields():
    out = run_cli("recipes/tiny/zero.yaml", "--help").stdout
    for field in ("--rewards", "--prompt_template", "--num_generations", "--model_name_or_path"):
        assert field in out


def test_check_validates_a_gpu_recipe_on_cpu():
    result = run_cli("check", "recipes/zero.yaml")
    assert "valid `grpo` recipe" in result.stdout


def test_invalid_recipe_fails_fast_naming_the_field(tiny_model, tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe("/nonexistent/model", tmp_path / "out", learnig_rate=0.1))
    result = run_cli(str(recipe), check=False)
    assert result.returncode == 2
    assert "unknown field `learnig_rate`" in result.stderr and "Did you mean `learning_rate`" in result.stderr
    assert not (tmp_path / "out").exists()


def test_bad_override_names_the_field(tmp_path):
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe("/nonexistent/model", tmp_path / "out"))
    result = run_cli(str(recipe), "--rewards", "accuracy", "nonsense", check=False)
    assert result.returncode == 2 and "nonsense" in result.stderr
