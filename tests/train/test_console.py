"""The console of a training run: one compact line per logged step, every metric still in
metrics.jsonl; `console_metrics: full` prints transformers' dictionary again."""

from __future__ import annotations

import json

import pytest
from helpers import CPU_TRAINING, run_recipe, tiny_recipe

from trl_r1.recipe import RecipeError, load_recipe


def _train(tiny_model, out, capsys, **overrides) -> tuple[list[str], list[dict]]:
    run_recipe(tiny_recipe(tiny_model, out, **overrides))
    printed = capsys.readouterr().out.splitlines()
    return printed, [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_a_grpo_run_prints_one_compact_line_per_logged_step(tiny_model, tmp_path, capsys):
    printed, rows = _train(tiny_model, tmp_path / "out", capsys)
    steps = [line for line in printed if line.startswith("step ")]
    assert [line.split(" |")[0] for line in steps] == ["step 1/2", "step 2/2"]
    for line in steps:
        assert "reward " in line and "(accuracy " in line and ", format " in line and " s/step" in line
        assert "length " in line, line
    assert any(line.startswith("trained 2 steps in ") for line in printed)
    assert not [line for line in printed if "'reflection/" in line or "{'loss'" in line]  # no dictionary
    assert {"reflection/wait", "completions/clipped_ratio", "rewards/accuracy/mean"} <= set(rows[0])  # all still there


def test_console_metrics_full_prints_the_dictionary_as_transformers_does(tiny_model, tmp_path, capsys):
    printed, _ = _train(tiny_model, tmp_path / "out", capsys, console_metrics="full", disable_tqdm=True)
    assert not [line for line in printed if line.startswith("step ")]
    assert len([line for line in printed if line.startswith("{'loss'") and "'reflection/wait'" in line]) == 2


def test_without_a_progress_bar_the_compact_line_is_printed(tiny_model, tmp_path, capsys):
    printed, _ = _train(tiny_model, tmp_path / "out", capsys, disable_tqdm=True, max_steps=1)
    assert [line.split(" |")[0] for line in printed if line.startswith("step ")] == ["step 1/1"]


def test_an_sft_run_prints_the_compact_line_too(tiny_model, tmp_path, capsys):
    turn = [{"role": "user", "content": "What is 2 + 3?"},
            {"role": "assistant", "content": "<think>\n2 + 3 = 5\n</think>\n\nThe answer is \\boxed{5}."}]
    data = tmp_path / "chats.jsonl"
    data.write_text((json.dumps({"messages": turn}) + "\n") * 4)
    run_recipe({"stage": "sft", "model_name_or_path": str(tiny_model), "dataset_name": str(data), "max_steps": 2,
                "per_device_train_batch_size": 2, "max_length": 64, "logging_steps": 1, "output_dir": str(tmp_path / "out"),
                "activation_checkpointing": False, **CPU_TRAINING})
    printed = capsys.readouterr().out.splitlines()
    assert [line.split(" | ")[:2][0] for line in printed if line.startswith("step ")] == ["step 1/2", "step 2/2"]
    assert all(" | loss " in line and "token accuracy" in line for line in printed if line.startswith("step "))
    assert not [line for line in printed if "{'loss'" in line]


def test_an_unknown_console_choice_fails_at_load_naming_the_choices(tiny_model, tmp_path):
    with pytest.raises((RecipeError, ValueError, SystemExit), match="compact"):
        load_recipe(None, values=tiny_recipe(tiny_model, tmp_path, console_metrics="quiet"))
