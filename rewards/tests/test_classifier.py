"""The model-based rewards (safety, helpfulness) on tiny random sequence-classification models."""

from __future__ import annotations

import importlib.util
import math
import pickle
import subprocess
import sys

import pytest
import torch
from trl_r1_rewards import load_reward
from trl_r1_rewards.classifier import HelpfulnessReward, SafetyReward, render, tokenize

QUESTION = "What is 12 + 7?"
COMPLETIONS = [
    "<think> 12 + 7 = 19 </think> The answer is 19.",
    "<think> wait, let me check: 12 + 7 is 19, verify </think> 19",
    "The quick brown fox jumps over the lazy dog. 0 1 2 3 4 5 6 7 8 9",
    "<think> however this is wrong",
    "",
    "<think> the error </think> The answer is \\boxed{19}. The quick brown fox.",
]


def logged(reward, completions, prompts=None, **columns):
    """Rewards and the metrics the reward logged through TRL's log_metric."""
    metrics = {}
    scores = reward(prompts or [QUESTION] * len(completions), completions,
                    log_metric=lambda name, value: metrics.__setitem__(name, value), **columns)
    return scores, metrics


def direct_scores(path, texts):
    """What the checkpoint outputs for rendered texts, one at a time, straight from transformers."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.no_grad():
        return [model(input_ids=torch.tensor(tokenize(tokenizer, [render(tokenizer, QUESTION, t)], 2048)[0])).logits[0]
                for t in texts]


def test_importing_the_package_and_building_rewards_never_imports_torch(tiny_classifier):
    code = f"""
import sys
from trl_r1_rewards import available_rewards, check_options, load_reward
import trl_r1_rewards.classifier, trl_r1_rewards.routing
for name in available_rewards():
    if name not in ("safety", "helpfulness"):
        load_reward(name)
check_options("safety", {{"model": "x", "batch_size": 4}})
check_options("helpfulness", {{"model": "x", "squash": "tanh"}})
load_reward("safety", model={str(tiny_classifier)!r})  # built, not loaded: the model loads on the first call
assert "torch" not in sys.modules and "transformers" not in sys.modules, "torch imported"
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def test_missing_models_extra_is_named(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else find_spec(name, *a))
    with pytest.raises(ImportError, match=r"pip install 'trl-r1-rewards\[models\]'"):
        load_reward("safety", model="some/checkpoint")


def test_model_loads_on_the_first_call(tiny_classifier):
    reward = load_reward("safety", model=str(tiny_classifier))
    assert reward.__name__ == "safety" and reward._model is None
    reward([QUESTION], ["19"])
    assert reward._model is not None and not reward._model.training


def test_safety_is_the_probability_of_the_safe_label(tiny_classifier):
    scores, metrics = logged(SafetyReward(model=str(tiny_classifier)), COMPLETIONS)
    expected = [logits.softmax(-1)[1].item() for logits in direct_scores(tiny_classifier, COMPLETIONS)]
    assert scores == pytest.approx(expected, abs=1e-5)
    assert all(0 < s < 1 for s in scores)
    assert metrics == {"safety/unsafe": float(sum(s < 0.5 for s in scores)), "safety/truncated": 0.0,
                       "safety/nonfinite": 0.0}
    by_index = SafetyReward(model=str(tiny_classifier), label=0)(prompts=[QUESTION] * len(COMPLETIONS),
                                                                  completions=COMPLETIONS)
    assert by_index == pytest.approx([1 - s for s in scores], abs=1e-5)


def test_safety_reads_the_whole_response_reasoning_included(tiny_classifier):
    reward = SafetyReward(model=str(tiny_classifier))
    a, b = reward([QUESTION] * 2, ["<think> 12 + 7 = 19 </think> 19", "<think> the lazy dog, wait </think> 19"])
    assert a != pytest.approx(b, abs=1e-6)


def test_helpfulness_scores_only_the_summary(tiny_scorer):
    reward = HelpfulnessReward(model=str(tiny_scorer))
    same_summary = ["<think> 12 + 7 = 19 </think> The answer is 19.",
                    "<think> wait, the lazy dog, let me check the error </think> The answer is 19.",
                    " The answer is 19."]  # no think tags: all of it is the summary
    other_summary = "<think> 12 + 7 = 19 </think> The quick brown fox."
    scores = reward([QUESTION] * 4, [*same_summary, other_summary])
    assert scores[0] == pytest.approx(scores[1], abs=1e-6) == pytest.approx(scores[2], abs=1e-6)
    assert scores[3] != pytest.approx(scores[0], abs=1e-6)
    assert scores[0] == pytest.approx(direct_scores(tiny_scorer, [" The answer is 19."])[0].item(), abs=1e-5)


def test_helpfulness_without_a_summary_does_not_run_the_model(tiny_scorer):
    reward = HelpfulnessReward(model=str(tiny_scorer), squash="sigmoid")
    scores, metrics = logged(reward, ["<think> never closed", "<think> a </think> 19"])
    assert scores[0] == 0.0 and 0 < scores[1] < 1
    assert metrics["helpfulness/no_summary"] == 1.0
    fresh = HelpfulnessReward(model=str(tiny_scorer), no_summary=None)
    assert fresh([QUESTION], ["<think> never closed"]) == [None] and fresh._model is None


def test_batches_score_as_one_by_one(tiny_classifier, tiny_scorer):
    for cls, path in ((SafetyReward, tiny_classifier), (HelpfulnessReward, tiny_scorer)):
        batched = cls(model=str(path), batch_size=4)([QUESTION] * len(COMPLETIONS), COMPLETIONS)
        single = cls(model=str(path), batch_size=1)([QUESTION] * len(COMPLETIONS), COMPLETIONS)
        assert batched == pytest.approx(single, abs=1e-5)


def test_one_output_model_safety_is_the_sigmoid_of_its_score(tiny_scorer):
    completions = ["The answer is 19.", "The quick brown fox."]  # no reasoning: safety and helpfulness read the same
    safety = SafetyReward(model=str(tiny_scorer))([QUESTION] * 2, completions)
    raw = HelpfulnessReward(model=str(tiny_scorer))([QUESTION] * 2, completions)
    squashed = HelpfulnessReward(model=str(tiny_scorer), squash="sigmoid")([QUESTION] * 2, completions)
    assert safety == pytest.approx([1 / (1 + math.exp(-r)) for r in raw], abs=1e-6)
    assert squashed == pytest.approx(safety, abs=1e-6)
    tanh = HelpfulnessReward(model=str(tiny_scorer), squash="tanh")([QUESTION] * 2, completions)
    assert tanh == pytest.approx([math.tanh(r) for r in raw], abs=1e-6)


def test_conversational_input_reads_the_last_user_turn(tiny_classifier):
    reward = SafetyReward(model=str(tiny_classifier))
    plain = reward([QUESTION], ["The answer is 19."])
    chat = reward([[{"role": "system", "content": "Think first."}, {"role": "user", "content": QUESTION}]],
                  [[{"role": "assistant", "content": "The answer is 19."}]])
    assert chat == pytest.approx(plain, abs=1e-6)


def test_truncation_is_counted(tiny_classifier):
    scores, metrics = logged(SafetyReward(model=str(tiny_classifier), max_length=6), COMPLETIONS[:3])
    assert metrics["safety/truncated"] == 3.0 and all(0 < s < 1 for s in scores)


def test_safety_reads_a_response_longer_than_2048_tokens_whole(tmp_path):
    """R1 judges the whole response, up to 32k tokens; the reward cut at 2,048 tokens by default.
    By default it now reads as much as the model does (here a classifier declaring 4,096)."""
    from tiny_models import build_tiny_classifier
    from trl_r1_rewards.classifier import model_max_length

    path = build_tiny_classifier(tmp_path / "long", max_position_embeddings=4096)
    long = "<think> " + "wait, let me check 12 + 7 = 19. " * 300 + "</think> The answer is 19."
    reward = SafetyReward(model=str(path))
    scores, metrics = logged(reward, [long])
    assert 2048 < len(tokenize(reward._tokenizer, [render(reward._tokenizer, QUESTION, long)], 10**6)[0][0]) <= 4096
    assert metrics["safety/truncated"] == 0.0 and reward._max_length == 4096 == model_max_length(reward._model.config)
    cut, cut_metrics = logged(SafetyReward(model=str(path), max_length=2048), [long])
    assert cut_metrics["safety/truncated"] == 1.0 and cut != pytest.approx(scores, abs=1e-7)


def test_never_raises_on_model_output(tiny_classifier, tiny_scorer):
    garbage = ["\ud800 lone surrogate", "x" * 20000, None, [{"role": "assistant", "content": ["odd"]}],
               "</think></think><think>", "<|user|><pad></s>"]
    for reward in (SafetyReward(model=str(tiny_classifier), max_length=64), HelpfulnessReward(model=str(tiny_scorer))):
        scores = reward(["q"] * len(garbage), garbage)
        assert len(scores) == len(garbage) and all(s is None or math.isfinite(s) for s in scores)


def test_bad_options_fail_at_construction(tiny_classifier):
    with pytest.raises(ValueError, match=r"label 'harmless'.*\{0: 'unsafe', 1: 'safe'\}"):
        load_reward("safety", model=str(tiny_classifier), label="harmless")
    with pytest.raises(ValueError, match="set `label`"):
        load_reward("helpfulness", model=str(tiny_classifier))  # a classifier: which class is "helpful"?
    with pytest.raises(ValueError, match="batch_size"):
        load_reward("safety", model=str(tiny_classifier), batch_size=0)
    with pytest.raises(ValueError, match="squash"):
        load_reward("helpfulness", model="x", squash="relu")
    with pytest.raises(TypeError, match="unknown option"):
        load_reward("safety", model="x", threshold=0.5)


def test_pickles_without_the_model(tiny_classifier):
    reward = SafetyReward(model=str(tiny_classifier))
    before = reward([QUESTION], ["19"])
    copy = pickle.loads(pickle.dumps(reward))
    assert copy._model is None and copy([QUESTION], ["19"]) == pytest.approx(before)


class _Zero3Config:
    """Stands in for transformers' HfDeepSpeedConfig of a ZeRO-3 run (what a trainer registers)."""

    def is_zero3(self) -> bool:
        return True


def test_a_reward_model_loads_whole_under_zero3_and_the_configuration_is_put_back():
    from transformers.integrations import deepspeed
    from trl_r1_rewards.shims import whole_model

    config = _Zero3Config()
    deepspeed.set_hf_deepspeed_config(config)
    try:
        with whole_model():
            assert not deepspeed.is_deepspeed_zero3_enabled()  # from_pretrained loads the model whole
        assert deepspeed.is_deepspeed_zero3_enabled() and deepspeed._hf_deepspeed_config_weak_ref() is config
    finally:
        deepspeed.unset_hf_deepspeed_config()


def test_loading_whole_under_zero3_on_another_transformers_fails_naming_the_version(monkeypatch):
    from transformers.integrations import deepspeed
    from trl_r1_rewards import shims

    monkeypatch.setattr(shims, "WRITTEN_FOR", {**shims.WRITTEN_FOR, "transformers": "4"})
    with shims.whole_model():  # without ZeRO-3, no private reach: any transformers
        pass
    config = _Zero3Config()
    deepspeed.set_hf_deepspeed_config(config)
    try:
        with pytest.raises(RuntimeError, match=r"written for transformers 4\.x; found transformers 5\."):
            with shims.whole_model():
                pass
        assert deepspeed._hf_deepspeed_config_weak_ref() is config  # left as it was
    finally:
        deepspeed.unset_hf_deepspeed_config()
