"""Model card content and the Hub upload (the Hub is unreachable here: the seam answers with a recorder)."""

from __future__ import annotations

import json

import yaml
from helpers import run_recipe, tiny_recipe

from trl_r1.stages import get_stage
from trl_r1.train.hub import RECORD_HUB_ENV, HubClient, RecordingHub, hub_api, model_card, push_dataset, push_folder

GRPO = get_stage("grpo")


def test_card_content(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("\n".join(json.dumps(r) for r in [
        {"step": s, "reward": s / 10, "rewards/accuracy/mean": s / 20, "completions/mean_length": 30.0,
         "reflection/rate_per_1k_words": 2.5} for s in range(1, 11)
    ] + [json.dumps({"step": 10, "train_runtime": 5.0})]))
    recipe = yaml.safe_dump({"stage": "grpo", "model_name_or_path": "Qwen/Qwen2.5-7B", "learning_rate": 3e-6})
    card = model_card(repo_id="me/r1-zero", base_model="Qwen/Qwen2.5-7B", recipe=recipe,
                      rewards=["accuracy", "format"], metrics_path=metrics, stage=GRPO)
    front = yaml.safe_load(card.split("---")[1])
    assert front["base_model"] == "Qwen/Qwen2.5-7B" and "grpo" in front["tags"]
    assert "# me/r1-zero" in card
    assert "- `accuracy`\n- `format`" in card
    assert "| reward | 1 |" in card and "| rewards/accuracy/mean | 0.5 |" in card
    assert "first 5 logged steps: 0.300; over the last 5: 0.800" in card
    assert "(training.png)" in card
    assert "learning_rate: 3.0e-06" in card


def test_push_uploads_the_model_folder_with_card(tiny_model, tmp_path, hub_api):
    out = tmp_path / "out"
    values = tiny_recipe(tiny_model, out, max_steps=1, push_to_hub=True, hub_model_id="me/tiny-r1", save_steps=1)
    summary = run_recipe(values)

    created, upload = hub_api.calls
    assert (created["method"], upload["method"]) == ("create_repo", "upload_folder")
    assert created["repo_id"] == upload["repo_id"] == "me/tiny-r1"
    assert {"README.md", "model.safetensors", "config.json", "training.png", "recipe.yaml", "metrics.jsonl"} <= set(upload["files"])
    assert "checkpoint-*" in upload["ignore_patterns"] and not any(f.startswith("checkpoint-") for f in upload["files"])
    assert summary["hub"] == (hub_api.folder / "hub" / "me/tiny-r1").as_uri()  # where the recorder put it
    assert "# me/tiny-r1" in (out / "README.md").read_text()


def test_push_folder_defaults(tmp_path):
    (tmp_path / "model").mkdir()
    hub = RecordingHub(tmp_path / "hub")
    push_folder(tmp_path / "model", "org/model", api=hub)
    assert hub.calls[0] == {"method": "create_repo", "repo_id": "org/model", "private": None, "exist_ok": True,
                            "repo_type": "model"}


def test_a_bare_repo_name_is_uploaded_to_the_namespaced_id_the_hub_answers_with(tmp_path):
    # the recipes name `r1-zero-qwen2.5-7b`; the Hub creates `<user>/r1-zero-qwen2.5-7b`
    (tmp_path / "model").mkdir()
    hub = RecordingHub(tmp_path / "hub")
    push_folder(tmp_path / "model", "r1-zero-qwen2.5-7b", api=hub)
    asked, uploaded = hub.calls
    assert asked["repo_id"] == "r1-zero-qwen2.5-7b" and uploaded["repo_id"] == f"{RecordingHub.user}/r1-zero-qwen2.5-7b"


def test_the_seam_answers_with_the_hub_client_unless_a_folder_is_named_to_record_to(tmp_path, monkeypatch):
    """Read at each call: setting the variable after import records, unsetting it reaches the Hub again."""
    monkeypatch.delenv(RECORD_HUB_ENV, raising=False)
    client = hub_api(token="hf_x")
    assert isinstance(client, HubClient) and client.token == "hf_x"
    monkeypatch.setenv(RECORD_HUB_ENV, str(tmp_path))
    recorder = hub_api()
    assert isinstance(recorder, RecordingHub) and recorder.folder == tmp_path
    monkeypatch.delenv(RECORD_HUB_ENV)
    assert isinstance(hub_api(), HubClient)


def test_a_dataset_push_goes_through_datasets_own_upload_with_the_token(monkeypatch, tmp_path):
    import datasets

    pushed = []
    monkeypatch.setattr(datasets.Dataset, "push_to_hub", lambda self, repo_id, **kw: pushed.append((repo_id, len(self), kw)))
    monkeypatch.delenv(RECORD_HUB_ENV, raising=False)
    uploaded = []
    monkeypatch.setattr(HubClient, "upload_file", lambda self, **kw: uploaded.append((kw["repo_id"], kw["path_in_repo"])))
    stats = tmp_path / "stats.json"
    stats.write_text("{}")
    url = push_dataset(datasets.Dataset.from_dict({"x": [1, 2]}), "me/data", files=[stats], private=True, token="hf_x")
    assert pushed == [("me/data", 2, {"private": True, "token": "hf_x"})] and uploaded == [("me/data", "stats.json")]
    assert url == "https://huggingface.co/datasets/me/data"


def test_the_recorder_keeps_a_pushed_dataset_and_its_files_where_load_from_disk_reads_them(tmp_path):
    import datasets

    stats = tmp_path / "stats.json"
    stats.write_text('{"rows": 2}')
    hub = RecordingHub(tmp_path / "recorded")
    push_dataset(datasets.Dataset.from_dict({"x": [1, 2]}), "me/data", files=[stats], private=True, api=hub)
    assert [(c["method"], c["repo_id"]) for c in hub.calls] == [("push_dataset", "me/data"), ("upload_file", "me/data")]
    assert hub.calls[0]["rows"] == 2 and hub.calls[0]["private"] is True
    assert datasets.load_from_disk(str(tmp_path / "recorded/hub/me/data"))["x"] == [1, 2]
    assert (tmp_path / "recorded/hub/me/data/stats.json").read_text() == '{"rows": 2}'


def test_the_upload_runs_after_every_process_has_finished_not_inside_the_barrier():
    from types import SimpleNamespace

    from trl_r1.train.checkpoints import on_main_process
    from trl_r1.train.hub import UPLOAD

    order = []
    accelerator = SimpleNamespace(is_main_process=True, wait_for_everyone=lambda: order.append("barrier"))
    summary = on_main_process(SimpleNamespace(accelerator=accelerator),
                              lambda: {"card": "c", UPLOAD: lambda: order.append("upload") or "https://hub/x"})
    assert order == ["barrier", "upload"] and summary == {"card": "c", "hub": "https://hub/x"}
    accelerator.is_main_process = False
    assert on_main_process(SimpleNamespace(accelerator=accelerator), lambda: 1 / 0) == {}


def test_the_card_names_license_datasets_results_and_a_hub_base_for_a_local_starting_point(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(json.dumps({"step": 1, "reward": 0.5}) + "\n")
    stage3 = tmp_path / "outputs" / "r1" / "stage3"
    stage3.mkdir(parents=True)
    (stage3 / "README.md").write_text("---\nbase_model: Qwen/Qwen2.5-7B\nlicense: apache-2.0\n---\n# stage 3\n")
    rows = [{"metric": "pass@1, 4 samples at T=0.6, top-p 0.95", "trained": 0.488},
            {"metric": "greedy accuracy (T=0)", "trained": 0.48}]
    card = model_card(repo_id="me/r1", base_model=str(stage3), recipe="stage: grpo\n", metrics_path=metrics, stage=GRPO,
                      license="apache-2.0", datasets=["open-r1/OpenR1-Math-220k"], evaluation_rows=rows,
                      benchmark="math_500")
    front = yaml.safe_load(card.split("---")[1])
    assert front["base_model"] == "Qwen/Qwen2.5-7B"  # not a local path, a broken link on the Hub
    assert front["license"] == "apache-2.0" and front["datasets"] == ["open-r1/OpenR1-Math-220k"]
    (index,) = front["model-index"]
    (result,) = index["results"]
    assert index["name"] == "me/r1" and result["dataset"]["name"] == "math_500"
    assert [(m["type"], m["value"]) for m in result["metrics"]] == [("pass@1", 48.8), ("greedy accuracy", 48.0)]
    assert f"the local model `{stage3}`" in card
    orphan = model_card(repo_id=None, base_model=str(tmp_path / "no-card"), recipe="", metrics_path=metrics, stage=GRPO)
    assert "base_model" not in yaml.safe_load(orphan.split("---")[1])


def test_a_stage_describes_its_own_card_and_one_that_does_not_gets_its_name_and_loss(tmp_path):
    from types import ModuleType

    from trl_r1.stages import Stage

    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(json.dumps({"step": 1, "loss": 0.5, "mean_token_accuracy": 0.25}) + "\n")
    sft = model_card(repo_id=None, base_model="Qwen/Qwen2.5-7B", recipe="", metrics_path=metrics, stage=get_stage("sft"))
    assert "with supervised fine-tuning (SFT) by trl-r1" in sft and "| mean_token_accuracy | 0.25 |" in sft
    assert "sft" in yaml.safe_load(sft.split("---")[1])["tags"]
    plugin = model_card(repo_id=None, base_model="Qwen/Qwen2.5-7B", recipe="", metrics_path=metrics,
                        stage=Stage("my_dpo", ModuleType("my_dpo")))
    assert "with my_dpo by trl-r1" in plugin and "| loss | 0.5 |" in plugin and "![training loss]" in plugin
    assert "my-dpo" in yaml.safe_load(plugin.split("---")[1])["tags"]
