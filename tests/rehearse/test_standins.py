"""A rehearsed ``sample`` stage that kept none of its miniature model's samples, all wrong or
unreadable, gets correct stand-in rows; keeping nothing for any other reason fails the rehearsal.
The stage's own review, mixing, decontamination and writer run for real (no engines: the
samples are written here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_from_disk
from trl_r1_rewards import load_reward

from trl_r1.generation.backends import Completion
from trl_r1.generation.scoring import load_scorer
from trl_r1.rehearse.standins import RecipeDefect, correct_samples
from trl_r1.stages.sample import FEATURES, SampleConfig, build_dataset, load_prompts, mixing_sources, review, save

QUESTIONS = [("What is 12 + 7?", "19"), ("What is 30 - 4?", "26"), ("What is 8 + 8?", "16"), ("What is 9 - 2?", "7")]
WRONG = "<think>I add them and get zero.</think>\n\nThe answer is \\boxed{0}."


def finished_stage(tmp_path: Path, response, golds=None, benchmark=None, **overrides) -> SampleConfig:
    """A sample stage's folder as the stage leaves it: each prompt's 2 samples ``response(gold)``
    reviewed, the dataset and stats written by the stage's own code; decontaminated against the
    ``benchmark`` questions (default: the first prompt's)."""
    golds = golds or [gold for _, gold in QUESTIONS]
    prompts, general = tmp_path / "prompts.jsonl", tmp_path / "general.jsonl"
    prompts.write_text("".join(json.dumps({"problem": q, "answer": g}) + "\n"
                               for (q, _), g in zip(QUESTIONS, golds, strict=True)))
    general.write_text("".join(json.dumps({"prompt": f"Write a haiku about the number {i}.",
                                           "response": f"A haiku about {i}."}) + "\n" for i in range(10)))
    questions, benchmark = benchmark or [QUESTIONS[0][0]], tmp_path / "bench.jsonl"
    benchmark.write_text("".join(json.dumps({"problem": q}) + "\n" for q in questions))
    config = SampleConfig(**{
        "model_name_or_path": "m", "dataset_name": str(prompts), "answer_column": "answer", "num_samples": 2,
        "max_per_prompt": 2, "general_dataset_name": str(general), "general_prompt_column": "prompt",
        "general_fraction": 0.25, "decontaminate_against": [f"{benchmark}:bench"],
        "scorer_kwargs": {"num_workers": 0}, "output_dir": str(tmp_path / "out"), **overrides})
    rows = load_prompts(config)
    scorer = load_scorer(config.scorer, config.scorer_kwargs, config.answer_column)
    records = [record for i, row in enumerate(rows)
               for record in review(config, i, row, row["problem"], [Completion(response(row["answer"]), 9)] * 2,
                                    scorer, load_reward("language_consistency"))]
    save(Path(config.output_dir), *build_dataset(config, records, len(rows), *mixing_sources(config)))
    return config


def test_samples_all_scored_wrong_become_correct_stand_in_rows_with_the_sample_stage_columns(tmp_path):
    config = finished_stage(tmp_path, lambda gold: WRONG)
    stats, note = correct_samples(config)
    assert note.startswith("0 of 8 samples correct (the miniature model): stand-in rows, same columns")
    dataset = load_from_disk(str(tmp_path / "out/dataset"))
    assert dataset.features == FEATURES
    # The recipe's own cap (2 per prompt), decontamination (the benchmark's question: 2 rows) and mix (a quarter).
    assert (stats["kept"], stats["decontaminated"]["reasoning"], stats["general"]) == (6, 2, 2)
    reasoning = [row for row in dataset if row["task"] == "reasoning"]
    for row in reasoning:
        question, gold = next((q, g) for q, g in QUESTIONS if q == row["messages"][0]["content"])
        assert row["messages"][1]["content"].endswith(f"The answer is \\boxed{{{gold}}}.")
        assert row["messages"][1]["content"].startswith("<think>") and question != QUESTIONS[0][0]
    assert [row["task"] for row in dataset].count("general") == 2
    written = json.loads((tmp_path / "out/stats.json").read_text())
    assert written["rehearsal_stand_in"] == note and written["model_samples"]["rejected"]["incorrect"] == 8


def test_a_stage_that_kept_samples_of_its_own_is_left_as_it_is(tmp_path):
    config = finished_stage(tmp_path, lambda gold: f"<think>Carefully, it is {gold}.</think>\n\n\\boxed{{{gold}}}")
    before = load_from_disk(str(tmp_path / "out/dataset"))["messages"]
    assert correct_samples(config) is None
    assert load_from_disk(str(tmp_path / "out/dataset"))["messages"] == before


def test_golds_the_scorer_cannot_read_fail_the_rehearsal(tmp_path):
    config = finished_stage(tmp_path, lambda gold: WRONG, golds=["", "", "", ""])  # every sample unverifiable
    with pytest.raises(RecipeDefect, match="not only because the model answered wrongly or unreadably: unverifiable 8"):
        correct_samples(config)


def test_right_answers_outside_r1_format_get_stand_ins_when_the_filters_keep_r1_format(tmp_path):
    # The embedded model answers some questions right, without <think>: the model's doing, not the recipe's.
    config = finished_stage(tmp_path, lambda gold: f"The answer is \\boxed{{{gold}}}." if gold == "19" else WRONG)
    stats, note = correct_samples(config)
    assert note.startswith("0 of 8 samples kept (6 wrong; right but filtered: no_reasoning 2) (the miniature model)")
    assert stats["kept"] == 6


def test_decontamination_removing_every_correct_sample_fails_the_rehearsal(tmp_path):
    right = lambda gold: f"<think>Carefully, it is {gold}.</think>\n\n\\boxed{{{gold}}}"  # noqa: E731
    config = finished_stage(tmp_path, right, benchmark=[q for q, _ in QUESTIONS])
    with pytest.raises(RecipeDefect, match="not only because the model answered wrongly or unreadably: contaminated 8"):
        correct_samples(config)


def test_filters_that_would_reject_a_correct_response_in_r1_format_fail_the_rehearsal(tmp_path):
    config = finished_stage(tmp_path, lambda gold: WRONG, max_paragraph_chars=20)
    with pytest.raises(RecipeDefect, match="keep no correct response in R1's format either .*long_paragraph 8"):
        correct_samples(config)


def test_routed_stand_in_prompts_mix_at_the_recipes_share_shuffled_not_interleaved(tmp_path):
    """Evenly interleaved reasoning/general rows handed each process one of each; a real mix at 25%
    leaves a process with no general row in a step, which per-task code must survive."""
    from datasets import load_from_disk

    from trl_r1.rehearse import standins

    folder = standins.prompts(tmp_path / "mixed", ["train"], "problem", ["answer"], routed=True, general_share=0.25)
    tasks = load_from_disk(folder)["train"]["task"]
    assert tasks.count("general") == round(standins.ROWS * 0.25)
    pairs = [tasks[i:i + 2] for i in range(0, len(tasks), 2)]  # two processes, one question each a step
    assert any(pair.count("general") == 1 for pair in pairs) and any("general" not in pair for pair in pairs)
    alone = standins.prompts(tmp_path / "own", ["train"], "problem", ["answer"], routed=True, general_share=None)
    assert set(load_from_disk(alone)["train"]["task"]) == {"reasoning"}  # the stage mixes its own general set in
