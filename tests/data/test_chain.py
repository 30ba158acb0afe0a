"""The miniature chain's built-in data: what each link trains on, and what is held out from all of it."""

from __future__ import annotations

from trl_r1.data import chain
from trl_r1.data.tasks import arithmetic


def test_stage_4s_general_prompts_are_held_out_from_every_stage_and_both_reward_models():
    held_out = chain.all_scenarios()["test"]
    assert set(held_out["task"]) == {"general"} and len(held_out) == 24
    trained = set(chain.all_scenarios()["train"]["problem"]) | set(chain.general()["train"]["problem"])
    for reward_model in (chain.safety(), chain.helpfulness()):
        trained |= {row["prompt"] for split in reward_model.values() for row in split}
    assert not set(held_out["problem"]) & trained
    # Risky requests are among them, so that the safety reward model has something to tell.
    assert sum(p in chain._RISKY_HELD_OUT for p in held_out["problem"]) == 8


def test_no_chain_data_asks_a_held_out_arithmetic_question():
    test_questions = set(arithmetic()["test"]["problem"])
    cold_start = chain.cold_start()
    asked = {m["content"] for row in cold_start["train"] for m in row["messages"] if m["role"] == "user"}
    asked |= {row["problem"] for row in chain.all_scenarios()["train"] if row["task"] == "reasoning"}
    assert asked and not asked & test_questions
