"""A chat template that opens <think> in the prompt (DeepSeek-R1-Distill's, Qwen3's) is detected,
and the rewards and the scorer are told: the completion has no opening tag of its own."""

from __future__ import annotations

from transformers import AutoTokenizer

from trl_r1.data.templates import opens_think, think_prefilled_by, with_prefill
from trl_r1.generation.scoring import load_scorer
from trl_r1.train.config import RewardSpec
from trl_r1.train.trainer import build_rewards

DISTILL_LIKE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
                "{% if add_generation_prompt %}<|assistant|><think>\n{% endif %}")
PLAIN = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
         "{% if add_generation_prompt %}<|assistant|>{% endif %}")
COMPLETION = "2 is 1 + 1.</think>\nThe answer is 2."  # what such a model writes: no opening tag


def _model_with_template(tiny_model, tmp_path, template):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.chat_template = template
    tokenizer.save_pretrained(tmp_path)
    return str(tmp_path)


def test_a_generation_prompt_ending_in_think_is_detected_and_a_plain_one_is_not(tiny_model, tmp_path):
    distill = _model_with_template(tiny_model, tmp_path / "distill", DISTILL_LIKE)
    plain = _model_with_template(tiny_model, tmp_path / "plain", PLAIN)
    assert think_prefilled_by(distill, "chat") and not think_prefilled_by(plain, "chat")
    assert not think_prefilled_by(distill, "zero")  # R1-Zero's plain-text prompt does not use the chat template
    no_template = AutoTokenizer.from_pretrained(tiny_model)
    no_template.chat_template = None
    assert not opens_think(no_template)


def test_the_format_reward_and_the_scorer_score_a_prefilled_completion_as_opened():
    (plain,) = build_rewards([RewardSpec(name="format", kwargs={"template": "r1"})])
    (told,) = build_rewards([RewardSpec(name="format", kwargs={"template": "r1"})], think_prefilled=True)
    assert plain(prompts=["q"], completions=[COMPLETION]) == [0.0]
    assert told(prompts=["q"], completions=[COMPLETION]) == [1.0]
    scorer = load_scorer("format", {"template": "r1"}, "answer", think_prefilled=True)
    assert scorer(prompts=["q"], completions=[COMPLETION]) == [1.0]


def test_a_recipes_own_setting_wins_and_rewards_without_the_option_are_left_alone():
    assert with_prefill("format", {"think_prefilled": False}, True) == {"think_prefilled": False}
    assert with_prefill("accuracy", {"solution_column": "a"}, True) == {"solution_column": "a"}
