"""Stage `sft` end to end on a tiny random model through the real TRL SFTTrainer, on real files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from datasets import Dataset
from helpers import CPU_TRAINING, run_cli, run_recipe, write_recipe

from trl_r1.generation.evaluation import EvalConfig
from trl_r1.recipe import RecipeError, load_recipe
from trl_r1.stages.sft import SFTScriptArguments, conversations

QUESTION = "What is 12 + 7?"
ANSWER = "<think>\n12 + 7 = 19, let me check: 19 - 7 = 12.\n</think>\n\nThe answer is \\boxed{19}."
# An evaluation question long enough for 10-grams.
EVAL_QUESTION = "Find the sum of all integer bases b greater than 9 for which 17 in base b divides 97 in base b."


def chat(question: str = QUESTION, answer: str = ANSWER) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def sft_recipe(model: Path, dataset: Path, output_dir: Path, **overrides) -> dict:
    """An SFT recipe that trains the tiny model for 4 steps in a few seconds."""
    return {
        "stage": "sft",
        "model_name_or_path": str(model),
        "dataset_name": str(dataset),
        "per_device_train_batch_size": 2,
        "max_length": 128,
        "learning_rate": 1e-2,
        "max_steps": 4,
        "logging_steps": 1,
        "output_dir": str(output_dir),
        "activation_checkpointing": False,
        **CPU_TRAINING,
        **overrides,
    }


def logged(output_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    return [row for row in rows if "loss" in row]


def trainer_state(output_dir: Path) -> dict:
    return json.loads((output_dir / "trainer_state.json").read_text())


@pytest.fixture
def dataset(tmp_path) -> Path:
    """Eight conversations in a local JSONL file, `messages` column."""
    return write_jsonl(tmp_path / "cold_start.jsonl", [{"messages": chat()}] * 8)


def test_cli_trains_on_a_jsonl_of_messages_and_writes_everything(tiny_model, dataset, tmp_path):
    out = tmp_path / "out"
    result = run_cli(str(write_recipe(tmp_path / "recipe.yaml", sft_recipe(tiny_model, dataset, out))))
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    assert (out / "tokenizer.json").is_file()
    assert "stage: sft" in (out / "recipe.yaml").read_text()
    assert (out / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [row["step"] for row in logged(out)] == [1, 2, 3, 4]
    card = (out / "README.md").read_text()
    assert "- sft" in card and "supervised fine-tuning" in card and "| loss |" in card
    assert "![training loss, token accuracy, learning rate](training.png)" in card
    assert "Trained on 8 conversations" in result.stdout
    assert str(out) in result.stdout and "metrics.jsonl" in result.stdout and "training.png" in result.stdout
    # The prompt it was trained with, which its evaluation then uses (not the evaluation recipe's).
    config = EvalConfig(model_name_or_path=str(out), dataset_name="d", chat_examples=[{"role": "user", "content": "hi"}])
    assert config.use_trained_prompt(str(out)) == out / "prompt.json"
    assert (config.prompt_template, config.chat_examples) == ("chat", None)


def test_paper_defaults_two_epochs_and_a_decaying_learning_rate(tiny_model, dataset, tmp_path):
    values = {k: v for k, v in sft_recipe(tiny_model, dataset, tmp_path).items() if k not in ("max_steps",)}
    _, args, _ = load_recipe(None, values=values).configs
    assert args.num_train_epochs == 2 and args.lr_scheduler_type.value == "cosine"
    assert args.auto_resume and args.decontaminate_ngram == 10


def test_trains_on_the_sample_stage_dataset_folder_and_pushes(tiny_model, tmp_path, hub_api):
    # What the `sample` stage writes: a save_to_disk folder with messages, task and source columns.
    folder = tmp_path / "stage3_data"
    rows = [{"messages": chat(), "task": "reasoning", "source": "arithmetic"},
            {"messages": chat("Write a haiku.", "Leaves fall, the wind sighs."), "task": "general", "source": "chat"}]
    Dataset.from_list(rows * 3).save_to_disk(str(folder))
    out = tmp_path / "out"

    summary = run_recipe(sft_recipe(tiny_model, folder, out, max_steps=2, push_to_hub=True, hub_model_id="me/tiny-sft"))

    assert summary["model"] == str(out) and summary["train_rows"] == 6
    assert summary["train_loss"] > 0
    assert json.loads(json.dumps(summary)) == summary  # JSON-serialisable, for the pipeline
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(summary["model"]).config.num_hidden_layers == 2
    assert [(c["method"], c["repo_id"]) for c in hub_api.calls] == [("create_repo", "me/tiny-sft"), ("upload_folder", "me/tiny-sft")]
    assert "student-init/**" in hub_api.calls[1]["ignore_patterns"]
    assert summary["hub"] == (hub_api.folder / "hub/me/tiny-sft").as_uri()  # where the recorder put it


def test_an_empty_dataset_fails_naming_it_before_the_model_loads(tiny_model, tmp_path):
    """What a rejection-sampling stage that kept nothing leaves: SFT says so instead of stopping
    inside the trainer."""
    folder = tmp_path / "kept_nothing"
    Dataset.from_list([{"messages": chat(), "task": "reasoning", "source": "x"}]).select([]).save_to_disk(str(folder), num_shards=1)
    with pytest.raises(ValueError, match=f"dataset_name: {re.escape(str(folder))} has no conversation to train on"):
        run_recipe(sft_recipe(tiny_model, folder, tmp_path / "out", max_steps=1))


def test_loss_decreases_on_a_repeated_problem_response_example(tiny_model, tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"problem": QUESTION, "response": ANSWER}] * 16)
    out = tmp_path / "out"
    run_recipe(sft_recipe(tiny_model, data, out, max_steps=8))
    losses = [row["loss"] for row in logged(out)]
    assert len(losses) == 8
    assert losses[-1] < 0.8 * losses[0], losses


def test_loss_covers_the_assistant_turn_only(tiny_model, tmp_path):
    # The tiny chat template has no {% generation %} markers; the prompt-completion split masks the prompt anyway.
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    train = conversations(Dataset.from_list([{"messages": chat()}]), SFTScriptArguments(system_prompt="Be brief."))
    trainer = SFTTrainer(model=str(tiny_model), train_dataset=train,
                         args=SFTConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none", bf16=False))
    row = trainer.train_dataset[0]
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    learned = [label for label in row["labels"] if label != -100]
    assert tokenizer.decode(learned).strip() == ANSWER
    assert "Be brief." in tokenizer.decode(row["input_ids"]) and QUESTION in tokenizer.decode(row["input_ids"])


def test_conversation_rules():
    args = SFTScriptArguments(dataset_name="x", system_prompt="Think first.")
    rows = conversations(Dataset.from_list([{"messages": chat(), "task": "reasoning"}]), args)
    assert rows.column_names == ["prompt", "completion"]
    assert rows[0]["prompt"] == [{"role": "system", "content": "Think first."}, {"role": "user", "content": QUESTION}]
    assert rows[0]["completion"] == [{"role": "assistant", "content": ANSWER}]
    # A conversation with its own system message keeps it.
    own = [{"role": "system", "content": "Mine."}, *chat()]
    assert conversations(Dataset.from_list([{"messages": own}]), args)[0]["prompt"][0]["content"] == "Mine."
    # problem + response columns, used when there is no messages column.
    pairs = conversations(Dataset.from_list([{"problem": "Q?", "response": "A."}]), SFTScriptArguments())
    assert pairs[0] == {"prompt": [{"role": "user", "content": "Q?"}], "completion": [{"role": "assistant", "content": "A."}]}
    with pytest.raises(ValueError, match="dataset_messages_column.*'problem' \\+ 'response'.*\\['question'\\]"):
        conversations(Dataset.from_list([{"question": "Q?"}]), SFTScriptArguments())
    with pytest.raises(ValueError, match="must end with an assistant turn"):
        conversations(Dataset.from_list([{"messages": chat()[:1]}]), SFTScriptArguments())


def test_rope_theta_override_is_trained_with_and_saved_with_the_longer_context(tiny_model, dataset, tmp_path):
    """Qwen2.5-Math declares 4,096 tokens; stretched to 32k with RoPE theta 300k, the saved model
    must declare 32k, or vLLM and later stages stop at the old limit."""
    out = tmp_path / "out"
    run_recipe(sft_recipe(tiny_model, dataset, out, max_steps=1, rope_theta=300000, max_length=1024))
    config = json.loads((out / "config.json").read_text())
    assert config["rope_parameters"]["rope_theta"] == 300000
    assert config["max_position_embeddings"] == 1024  # the tiny model declares 512
    assert json.loads((tiny_model / "config.json").read_text())["rope_parameters"]["rope_theta"] == 10000


@pytest.mark.parametrize("family, turn_end", [("qwen2", "<|im_end|>"), ("llama", "<|eot_id|>")])
def test_the_tuned_model_stops_where_its_chat_template_ends_a_turn(family, turn_end, dataset, tmp_path):
    """Qwen2.5 base tokenizers end text with <|endoftext|> while the chat template ends a turn with
    <|im_end|> (Llama 3: <|end_of_text|> / <|eot_id|>): the saved tokenizer and generation config
    now stop at the turn end the model was trained to write."""
    from helpers import build_family_model
    from transformers import AutoTokenizer, GenerationConfig

    from trl_r1.stages.sft import end_of_turn

    base = build_family_model(tmp_path / family, family)
    assert end_of_turn(AutoTokenizer.from_pretrained(base)) == turn_end
    assert AutoTokenizer.from_pretrained(base).eos_token != turn_end
    out = tmp_path / "out"
    run_recipe(sft_recipe(base, dataset, out, max_steps=1))
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.eos_token == turn_end
    assert tokenizer.convert_tokens_to_ids(turn_end) in GenerationConfig.from_pretrained(out).eos_token_id
    with pytest.raises(ValueError, match=f"eos_token: '{re.escape(AutoTokenizer.from_pretrained(base).eos_token)}'.*never stop"):
        run_recipe(sft_recipe(base, dataset, tmp_path / "wrong", max_steps=1,
                              eos_token=AutoTokenizer.from_pretrained(base).eos_token))


def test_packing_packs_rows_into_fewer_sequences(tiny_model, dataset, tmp_path):
    # 8 conversations of ~35 tokens, one sequence per step: 8 steps unpacked, fewer packed into 256 tokens.
    out = tmp_path / "out"
    summary = run_recipe(sft_recipe(tiny_model, dataset, out, packing=True, max_length=256, max_steps=-1,
                             num_train_epochs=1, per_device_train_batch_size=1))
    assert summary["train_rows"] == 8
    assert 1 <= trainer_state(out)["global_step"] < 8


def test_lora_saves_the_adapter_and_a_merged_model(tiny_model, dataset, tmp_path):
    from safetensors.torch import load_file

    out = tmp_path / "out"
    summary = run_recipe(sft_recipe(tiny_model, dataset, out, use_peft=True, lora_r=4, lora_alpha=8))
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    merged, base = load_file(out / "model.safetensors"), load_file(tiny_model / "model.safetensors")
    assert summary["model"] == str(out) and merged.keys() == base.keys()  # a plain model, no LoRA weights
    key = "model.layers.0.self_attn.q_proj.weight"
    assert not (merged[key] == base[key]).all()  # the trained adapter is merged in
    assert "LoRA adapter" in (out / "README.md").read_text()


def test_student_keeps_the_first_layers(tiny_model, dataset, tmp_path):
    out = tmp_path / "out"
    run_recipe(sft_recipe(tiny_model, dataset, out, max_steps=1, student_num_layers=1))
    assert json.loads((out / "student-init" / "config.json").read_text())["num_hidden_layers"] == 1
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 1
    assert "first 1 decoder layers" in (out / "README.md").read_text()


def test_decontamination_drops_overlapping_conversations(tiny_model, tmp_path):
    evaluation = write_jsonl(tmp_path / "aime.jsonl", [{"problem": EVAL_QUESTION, "answer": "70"}])
    rows = [{"messages": chat()}] * 6 + [
        {"messages": chat(EVAL_QUESTION.upper(), ANSWER)},  # the question itself
        {"messages": chat("A question.", f"<think>\nRecall: {EVAL_QUESTION}\n</think>\n\n70")},  # inside the reasoning
    ]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    summary = run_recipe(sft_recipe(tiny_model, data, tmp_path / "out", max_steps=1,
                             decontaminate_against=[f"{evaluation}:aime24"]))
    assert summary["train_rows"] == 6
    assert summary["contaminated_rows"] == 2 and summary["contaminated_rows/aime24"] == 2


def test_rerun_resumes_from_the_last_checkpoint(tiny_model, dataset, tmp_path, capsys):
    out = tmp_path / "out"
    run_recipe(sft_recipe(tiny_model, dataset, out, max_steps=2, save_steps=1))
    first = logged(out)
    assert trainer_state(out)["global_step"] == 2 and (out / "checkpoint-2").is_dir()
    capsys.readouterr()

    run_recipe(sft_recipe(tiny_model, dataset, out, max_steps=4, save_steps=1))
    assert f"Resuming from {out / 'checkpoint-2'}" in capsys.readouterr().out
    assert trainer_state(out)["global_step"] == 4
    rows = logged(out)
    assert [row["step"] for row in rows] == [1, 2, 3, 4]
    assert rows[:2] == first  # the first run's steps, not redone


@pytest.mark.parametrize(
    "values, field",
    [
        ({"dataset_name": None}, "dataset_name"),
        ({"rope_thta": 1e6}, "rope_thta"),
        ({"rope_theta": -1.0}, "rope_theta"),
        ({"packing": True, "max_length": None}, "max_length"),
        ({"student_num_layers": 0}, "student_num_layers"),
        ({"decontaminate_ngram": 0}, "decontaminate_ngram"),
        ({"max_train_samples": 0}, "max_train_samples"),
        ({"model_name_or_path": None}, "model_name_or_path"),
    ],
)
def test_invalid_recipe_names_the_field(values, field, tmp_path):
    recipe = {**sft_recipe(Path("/nonexistent/model"), tmp_path / "d.jsonl", tmp_path / "out"), **values}
    with pytest.raises(RecipeError, match=field):
        load_recipe(None, values=recipe)
