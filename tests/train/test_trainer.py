"""GRPO end to end through the real CLI and the real TRL trainer on a tiny random model."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import CPU_TRAINING, REPO, run_cli, tiny_recipe, write_recipe
from trl_r1_rewards.text import completion_text

from trl_r1.generation.reflection import reflection_counts

WORDS = ["wait", "mistake", "however", "but", "retry", "error", "verify", "wrong", "evaluate", "check"]


def metrics(output_dir: Path) -> list[dict]:
    rows = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    return [row for row in rows if "reward" in row]


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    """One 3-step run: format scheduled for the last step only, completions logged."""
    tmp = tmp_path_factory.mktemp("train")
    recipe = tiny_recipe(
        tiny_model, tmp / "out", max_steps=3, log_completions=True,
        rewards=["accuracy", {"name": "format", "kwargs": {"template": "r1", "strict": False}, "start_step": -1}],
        max_completion_length=24,
    )
    result = run_cli(str(write_recipe(tmp / "recipe.yaml", recipe)))
    return tmp / "out", result


def test_outputs_are_written_and_announced(trained):
    out, result = trained
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    assert (out / "tokenizer.json").is_file()
    assert (out / "training.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "stage: grpo" in (out / "recipe.yaml").read_text()
    assert str(out) in result.stdout and "metrics.jsonl" in result.stdout and "training.png" in result.stdout
    rows = metrics(out)
    assert [row["step"] for row in rows] == [1, 2, 3]
    for key in ("reward", "rewards/accuracy/mean", "completions/mean_length", "reflection/rate_per_1k_words"):
        assert all(key in row for row in rows), key


def test_reward_schedule_switches_format_on_for_the_last_step(trained):
    out, _ = trained
    rows = metrics(out)
    assert [row["rewards/format/mean"] is None for row in rows] == [True, True, False]
    assert all(row["rewards/accuracy/mean"] is not None for row in rows)


def test_reflection_metrics_match_the_logged_completions(trained):
    out, _ = trained
    for row in metrics(out):
        table = pd.read_parquet(out / "completions" / f"completions_{row['step']:05d}.parquet")
        texts = [completion_text(c if isinstance(c, str) else list(c)) for c in table["completion"]]
        counts, total = reflection_counts(texts, WORDS)
        assert total > 0
        for word in WORDS:
            assert row[f"reflection/{word}"] == counts[word], word
        assert row["reflection/rate_per_1k_words"] == pytest.approx(1000 * sum(counts.values()) / total)


def test_card_describes_the_run(trained):
    out, _ = trained
    card = (out / "README.md").read_text()
    # trained from a local folder with no card of its own: no base_model (a local path would be a
    # broken link on the Hub), and the text says where it started
    assert card.startswith("---\nlibrary_name: transformers") and "Trained from the local model `" in card
    assert "- `accuracy`" in card and "- `format`" in card
    assert "![reward, completion length, reflection rate](training.png)" in card
    assert "| step | 3 |" in card and "stage: grpo" in card
    assert (out / "recipe.yaml").read_text() in card


def test_interrupted_run_resumes_from_its_last_checkpoint(tiny_model, tmp_path):
    out = tmp_path / "out"
    steps = 12
    recipe = write_recipe(tmp_path / "recipe.yaml", tiny_recipe(tiny_model, out, max_steps=steps, save_steps=2))
    process = subprocess.Popen([sys.executable, "-m", "trl_r1", str(recipe)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not list(out.glob("checkpoint-*/trainer_state.json")):
            assert process.poll() is None, "the run ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert not (out / "model.safetensors").exists(), "killed too late: the run had already finished"
    complete = [int(p.parent.name.split("-")[1]) for p in out.glob("checkpoint-*/trainer_state.json")]
    killed_at = max(complete)
    assert killed_at < steps
    # A checkpoint the kill interrupted mid-save (no trainer_state.json) must be passed over.
    half_written = out / f"checkpoint-{killed_at + 1}"
    half_written.mkdir(exist_ok=True)
    (half_written / "config.json").write_text("{}")

    result = run_cli(str(recipe))
    assert f"Resuming from {out / f'checkpoint-{killed_at}'}" in result.stdout + result.stderr
    assert [row["step"] for row in metrics(out)] == list(range(1, steps + 1))  # no step twice, none missing
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == steps


def test_tiny_code_recipe_trains_with_the_code_reward(tiny_model, tmp_path):
    out = tmp_path / "out"
    run_cli("recipes/tiny/code.yaml", "--model_name_or_path", str(tiny_model), "--output_dir", str(out),
            "--max_steps", "1", "--num_generations", "4", "--per_device_train_batch_size", "4",
            "--max_completion_length", "8", "--gradient_checkpointing", "false")
    (row,) = metrics(out)
    assert row["rewards/code/mean"] == 0.0  # a random model writes no program...
    assert row["code/no_code_block"] == 4  # ...and the reward says why, for all 4 completions
    assert row["rewards/format/mean"] is not None


def _train_two_steps(tiny_model, tmp_path, reward, skip: bool, dataset=None, **config):
    """Two GRPO steps of the tiny model in this process; its parameters after them and the number of
    full loss computations (TRL's `_compute_loss`) that ran."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    from trl_r1.train.config import R1GRPOConfig
    from trl_r1.train.trainer import R1GRPOTrainer

    args = R1GRPOConfig(**{
        "output_dir": str(tmp_path), "num_generations": 4, "per_device_train_batch_size": 4, "max_completion_length": 6,
        "learning_rate": 1e-2, "max_steps": 2, "logging_steps": 1, "beta": 0.0, "reward_weights": [1.0],
        "gradient_checkpointing": False, **CPU_TRAINING, **config})
    dataset = Dataset.from_list([{"prompt": f"What is {i} + 1?"} for i in range(8)]) if dataset is None else dataset
    trainer = R1GRPOTrainer(AutoModelForCausalLM.from_pretrained(tiny_model), args=args, reward_funcs=reward,
                            train_dataset=dataset)
    full = []
    compute = trainer._compute_loss
    trainer._compute_loss = lambda *a, **k: full.append(1) or compute(*a, **k)
    if not skip:  # every pass as TRL runs it
        trainer._zero_advantages_mean_zero_gradient = lambda: False
    trainer.train()
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters()}, len(full), trainer


def test_a_batch_with_zero_advantages_skips_its_passes_and_trains_exactly_as_trl(tiny_model, tmp_path):
    import torch

    def reward(completions, trainer_state, **kwargs):
        """Varied rewards at the first step (a real update, so Adam's momentum is non-zero), the same
        reward for every completion at the second: all advantages 0."""
        return [float(i) for i in range(len(completions))] if trainer_state.global_step == 0 else [1.0] * len(completions)

    skipped, skipped_passes, trainer = _train_two_steps(tiny_model, tmp_path / "skip", reward, skip=True)
    full, full_passes, _ = _train_two_steps(tiny_model, tmp_path / "full", reward, skip=False)
    assert (skipped_passes, full_passes) == (1, 2)
    moved = [n for n in full if not torch.equal(full[n], skipped[n])]
    assert not moved, f"parameters differ from TRL's full passes: {moved[:3]}"
    # the zero-gradient step still moved the weights (Adam's momentum), as in TRL
    logged = [row for row in trainer.state.log_history if "grad_norm" in row]
    assert logged[1]["grad_norm"] == 0.0 and logged[0]["grad_norm"] > 0


def test_a_batch_with_varied_rewards_runs_its_passes(tiny_model, tmp_path):
    def reward(completions, **kwargs):
        return [float(i) for i in range(len(completions))]

    _, passes, _ = _train_two_steps(tiny_model, tmp_path, reward, skip=True)
    assert passes == 2


def test_a_dropped_zero_advantage_batch_leaves_the_weights_and_adam_alone(tiny_model, tmp_path):
    import torch

    def reward(completions, trainer_state, **kwargs):
        return [float(i) for i in range(len(completions))] if trainer_state.global_step == 0 else [1.0] * len(completions)

    one, _, _ = _train_two_steps(tiny_model, tmp_path / "one", reward, skip=True, max_steps=1)
    dropped, passes, trainer = _train_two_steps(tiny_model, tmp_path / "drop", reward, skip=True,
                                                drop_zero_advantage_batches=True)
    assert passes == 1
    assert all(torch.equal(one[n], dropped[n]) for n in one)  # the second step moved nothing
    assert {int(state["step"]) for state in trainer.optimizer.state.values()} == {1}


def test_group_filter_reward_zeroes_the_groups_where_that_reward_is_the_same(tiny_model, tmp_path):
    """Two groups of 4 per step: `right` is the same in the first group (all right) and differs in the
    second; `length` differs in both. Only the second group keeps its advantages."""
    import torch

    def right(completions, **kwargs):
        return [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0]

    def length(completions, **kwargs):
        return [float(i) for i in range(len(completions))]

    from trl_r1.train.trainer import R1GRPOTrainer

    seen = []

    def run(**config):
        return _train_two_steps(tiny_model, tmp_path / str(len(seen)), [right, length], skip=True, max_steps=1,
                                per_device_train_batch_size=8, reward_weights=[1.0, 1.0], **config)[2]

    original = R1GRPOTrainer._generate_and_score_completions

    def spy(self, inputs):
        output = original(self, inputs)
        seen.append(output["advantages"].clone())
        return output

    R1GRPOTrainer._generate_and_score_completions = spy
    try:
        plain = run()
        filtered = run(group_filter_reward="right")
    finally:
        R1GRPOTrainer._generate_and_score_completions = original
    unfiltered, kept = seen
    assert (unfiltered[:4] != 0).all()  # `length` alone gives the first group advantages...
    assert (kept[:4] == 0).all()  # ...which the filter on `right` takes away
    assert torch.equal(kept[4:], unfiltered[4:])  # the second group is left as it was
    logged = [row for row in filtered.state.log_history if "frac_groups_filtered" in row]
    assert logged[0]["frac_groups_filtered"] == 0.5
    assert not any("frac_groups_filtered" in row for row in plain.state.log_history)


def test_completions_with_zero_advantage_skip_their_passes_and_the_gradient_is_the_same(tiny_model, tmp_path, monkeypatch):
    """Two groups of 4: the first all right (advantage 0 everywhere), the second varied. Only the
    second group's 4 completions go through the model, and the gradient equals the full batch's."""
    import torch

    from trl_r1.train.trainer import R1GRPOTrainer

    def reward(completions, **kwargs):
        return [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 2.0]

    batches, rows = [], []
    original = R1GRPOTrainer.compute_loss

    def spy(self, model, inputs, **kwargs):
        batches.append({k: v.clone() for k, v in inputs.items()})
        return original(self, model, inputs, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(R1GRPOTrainer, "compute_loss", spy)
        _, _, trainer = _train_two_steps(tiny_model, tmp_path, reward, skip=True, max_steps=1, per_device_train_batch_size=8,
                                         max_completion_length=12)
    compute = trainer._compute_loss
    trainer._compute_loss = lambda model, inputs: rows.append(inputs["completion_ids"].shape[0]) or compute(model, inputs)

    def gradient(**patch):
        for name, value in patch.items():
            monkeypatch.setattr(trainer, name, value)
        trainer.model.train()
        trainer.model.zero_grad()
        trainer.compute_loss(trainer.model, dict(batches[0])).backward()
        return {n: p.grad.clone() for n, p in trainer.model.named_parameters()}

    (batch,) = batches
    assert int((batch["advantages"] == 0).sum()) == 4  # the first group's (TRL shuffles the rows)
    skipped = gradient()
    full = gradient(_informative_rows=lambda inputs: inputs)
    assert rows == [4, 8]
    assert any(g.abs().sum() > 0 for g in full.values())
    for name in full:
        torch.testing.assert_close(skipped[name], full[name], rtol=1e-4, atol=1e-7, msg=name)


def test_dynamic_sampling_redraws_a_batch_without_signal_until_a_question_has_some(tiny_model, tmp_path, monkeypatch):
    """Only questions 6 and 7 (of 0-7) get varied rewards. Each step regenerates on fresh questions,
    drawn from the training set and laid out in groups, until its batch has a nonzero advantage;
    every batch that trains has one, and the redraws are logged per step."""
    from trl_r1.train.trainer import R1GRPOTrainer

    def reward(prompts, completions, **kwargs):
        return [float(i) if p in ("What is 6 + 1?", "What is 7 + 1?") else 1.0 for i, p in enumerate(prompts)]

    drawn, trained = [], []
    score, generate = R1GRPOTrainer._score_and_filter, R1GRPOTrainer._generate_and_score_completions

    def spy_score(self, inputs):
        drawn.append([row["prompt"] for row in inputs])
        return score(self, inputs)

    def spy_generate(self, inputs):
        output = generate(self, inputs)
        trained.append(output["advantages"].clone())
        return output

    monkeypatch.setattr(R1GRPOTrainer, "_score_and_filter", spy_score)
    monkeypatch.setattr(R1GRPOTrainer, "_generate_and_score_completions", spy_generate)
    _, _, trainer = _train_two_steps(tiny_model, tmp_path, reward, skip=True, max_steps=3, dynamic_sampling_redraws=40)
    assert len(trained) == 3 and all((advantages != 0).any() for advantages in trained)
    redraws = [row["redraws"] for row in trainer.state.log_history if "redraws" in row]
    assert len(redraws) == 3 and sum(redraws) == len(drawn) - 3 > 0  # the seed's first questions include 0-5
    for prompts in drawn:
        assert prompts == [prompts[0]] * 4  # one question, its 4 completions in a row
    signal = [prompts[0] in ("What is 6 + 1?", "What is 7 + 1?") for prompts in drawn]
    assert sum(signal) == 3 and signal[-1]  # each step stopped at its first question with a signal


def test_dynamic_sampling_needs_a_dataset_it_can_draw_from(tiny_model, tmp_path):
    from datasets import Dataset

    streamed = Dataset.from_list([{"prompt": f"What is {i} + 1?"} for i in range(8)]).to_iterable_dataset()
    with pytest.raises(ValueError, match="dynamic_sampling_redraws draws questions by index: it needs a map-style"):
        _train_two_steps(tiny_model, tmp_path, lambda completions, **kwargs: [1.0] * len(completions), skip=True,
                         dataset=streamed, dynamic_sampling_redraws=1)


def test_group_filter_reward_must_name_a_reward(tiny_model, tmp_path):
    def right(completions, **kwargs):
        return [1.0] * len(completions)

    with pytest.raises(ValueError, match="group_filter_reward: 'accuracy' is not one of the rewards \\(right\\)"):
        _train_two_steps(tiny_model, tmp_path, right, skip=True, group_filter_reward="accuracy")


def test_padding_columns_are_trimmed_per_micro_batch_and_logps_loss_and_gradients_are_trls(tiny_model, tmp_path, monkeypatch):
    """One long completion pads the whole generation batch: each chunk of rows is cut to its own
    longest completion (the model sees fewer columns), and what TRL computes does not change."""
    import torch
    from trl import GRPOTrainer

    from trl_r1.train.trainer import R1GRPOTrainer

    batches = []
    original = R1GRPOTrainer.compute_loss

    def spy(self, model, inputs, **kwargs):
        batches.append({k: v.clone() if hasattr(v, "clone") else v for k, v in inputs.items()})
        return original(self, model, inputs, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(R1GRPOTrainer, "compute_loss", spy)
        _, _, trainer = _train_two_steps(tiny_model, tmp_path, lambda completions, **k: [float(i) for i in range(8)],
                                         skip=True, max_steps=1, per_device_train_batch_size=8,
                                         max_completion_length=12)
    batch = batches[0]
    batch["completion_mask"][:] = 1
    batch["completion_mask"][1:, 3:] = 0  # row 0 runs to 12 tokens, the seven others stop at 3
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
    mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
    widths = []
    hook = trainer.model.register_forward_pre_hook(lambda m, args, kw: widths.append(kw["input_ids"].shape[1]),
                                                   with_kwargs=True)
    trainer.model.eval()
    with torch.no_grad():
        ours, _, _ = trainer._get_per_token_logps_and_entropies(trainer.model, ids, mask, 12, batch_size=1)
        widths_ours, widths[:] = list(widths), []
        trls, _, _ = GRPOTrainer._get_per_token_logps_and_entropies(trainer, trainer.model, ids, mask, 12, batch_size=1)
    hook.remove()
    prompt = batch["prompt_ids"].shape[1]
    assert widths_ours == [prompt + 12] + [prompt + 3] * 7 and widths == [prompt + 12] * 8
    used = batch["completion_mask"].bool()
    torch.testing.assert_close(ours[used], trls[used], rtol=1e-5, atol=1e-6)
    assert (ours[~used] == 0).all()

    def gradient(trim: bool):
        if not trim:
            monkeypatch.setattr(trainer, "_get_per_token_logps_and_entropies",
                                GRPOTrainer._get_per_token_logps_and_entropies.__get__(trainer))
        trainer.model.train()
        trainer.model.zero_grad()
        short = {k: v[1:] if k in ("prompt_ids", "prompt_mask", "completion_ids", "completion_mask", "advantages")
                 else v for k, v in batch.items() if k != "old_per_token_logps"}
        loss = trainer.compute_loss(trainer.model, short)
        loss.backward()
        monkeypatch.undo()
        return loss.detach(), {n: p.grad.clone() for n, p in trainer.model.named_parameters()}

    (loss_trim, trimmed), (loss_full, full) = gradient(True), gradient(False)
    torch.testing.assert_close(loss_trim, loss_full, rtol=1e-5, atol=1e-7)
    assert any(g.abs().sum() > 0 for g in full.values())
    for name in full:
        torch.testing.assert_close(trimmed[name], full[name], rtol=1e-4, atol=1e-7, msg=name)


@pytest.mark.filterwarnings("ignore:`use_liger_kernel=True` is deprecated:FutureWarning")  # TRL's, on the option
@pytest.mark.parametrize("config", [{"use_liger_kernel": True}, {"entropy_coef": 0.01}, {"use_adaptive_entropy": True}])
def test_zero_advantages_run_trls_loss_when_something_else_shapes_it(tiny_model, tmp_path, config):
    """A Liger loss normalises on its own and an entropy bonus has a gradient of its own (TRL's
    public `entropy_coef` / `use_adaptive_entropy`): a batch of zero advantages then goes to TRL's
    loss, where without them its passes are skipped."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    from trl_r1.train.config import R1GRPOConfig
    from trl_r1.train.trainer import R1GRPOTrainer

    def build(**extra):
        args = R1GRPOConfig(output_dir=str(tmp_path), num_generations=4, per_device_train_batch_size=4,
                            max_completion_length=6, beta=0.0, reward_weights=[1.0], activation_checkpointing=False,
                            **CPU_TRAINING, **extra)
        return R1GRPOTrainer(AutoModelForCausalLM.from_pretrained(tiny_model), args=args,
                             reward_funcs=lambda completions, **kw: [0.0] * len(completions),
                             train_dataset=Dataset.from_list([{"prompt": "1 + 1?"}] * 4))

    for trainer, trls_loss in ((build(), False), (build(**config), True)):
        ran = []
        trainer._compute_loss = lambda model, inputs: ran.append(1) or torch.zeros((), requires_grad=True)
        trainer.model.train()
        trainer.compute_loss(trainer.model, {"advantages": torch.zeros(4)})
        assert bool(ran) is trls_loss, config
