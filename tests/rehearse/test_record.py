"""The stage runner records each stage run for the rehearsal's table where ``$TRL_R1_REHEARSAL``
names a rehearsal folder (trl_r1/rehearse/record.py), and nothing elsewhere."""

from __future__ import annotations

import json

import pytest
from helpers import tiny_recipe

from trl_r1.recipe import load_recipe
from trl_r1.rehearse import PARTS_FILE, WORKDIR_ENV
from trl_r1.run_stage import run_stage


def test_a_stage_run_in_a_rehearsal_process_is_a_line_of_parts_jsonl_and_elsewhere_nothing(tiny_model, tmp_path, monkeypatch):
    recipe = load_recipe(None, values=tiny_recipe(tiny_model, tmp_path / "zero", max_steps=1))
    monkeypatch.delenv(WORKDIR_ENV, raising=False)
    run_stage(recipe)
    assert not (tmp_path / PARTS_FILE).exists()

    monkeypatch.setenv(WORKDIR_ENV, str(tmp_path))
    summary = run_stage(recipe)
    (part,) = [json.loads(line) for line in (tmp_path / PARTS_FILE).read_text().splitlines()]
    assert (part["part"], part["kind"], part["status"], part["note"]) == ("zero", "grpo", "ok", None)
    assert part["seconds"] >= 0 and part["engines"]["rollouts"] == "transformers generate"
    assert summary["model"] == str(tmp_path / "zero")


def test_a_failed_stage_is_recorded_as_failed_and_its_error_passes_through(tmp_path, monkeypatch):
    recipe = load_recipe(None, values=tiny_recipe(tmp_path / "no-such-model", tmp_path / "broken", max_steps=1))
    monkeypatch.setenv(WORKDIR_ENV, str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError, match="no-such-model"):  # the model is nowhere: the stage's own error
        run_stage(recipe)
    (part,) = [json.loads(line) for line in (tmp_path / PARTS_FILE).read_text().splitlines()]
    assert (part["part"], part["kind"], part["status"]) == ("broken", "grpo", "failed")


def test_the_processes_a_rehearsal_launches_record_their_stage_and_hub_pushes_into_its_table(tiny_model, tmp_path):
    """`launch` runs the recipe's own command with the rehearsal's folder named; the stage runner and
    the Hub seam of that process record into it, and the table reads both."""
    import time

    from helpers import write_recipe

    from trl_r1.rehearse import launch, table

    recipe = write_recipe(tmp_path / "zero.yaml", tiny_recipe(tiny_model, tmp_path / "out" / "zero", max_steps=1,
                                                              push_to_hub=True, hub_model_id="me/tiny-zero"))
    plan = {"recipe": recipe, "accelerate": None, "accelerate_source": None, "servers": [], "processes": 1, "notes": []}
    start = time.time()
    assert launch(plan, tmp_path) == 0
    text = table({"recipe": recipe}, plan, tmp_path, 0, time.time() - start, start)
    assert "| zero | grpo | ok |" in text
    assert "create_repo me/tiny-zero, upload_folder me/tiny-zero" in text
    assert (tmp_path / "hub/me/tiny-zero/model.safetensors").is_file()
