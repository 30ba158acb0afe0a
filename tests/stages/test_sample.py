"""Stage `sample` (rejection sampling): verdicts on crafted responses with the real rewards, the judge
through a real HTTP server on 127.0.0.1, and end to end through real generation on the tiny model."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from helpers import REPO, JudgeServer, run_cli, run_recipe, write_recipe
from trl_r1_rewards import load_reward
from trl_r1_rewards.text import full_response

from trl_r1.data.loading import load_any
from trl_r1.generation.backends import Completion
from trl_r1.generation.judge import EndpointJudge, JudgeError, LocalJudge, judge_prompt
from trl_r1.generation.scoring import load_scorer
from trl_r1.recipe import RecipeError, load_recipe
from trl_r1.stages.sample import (
    KEPT,
    REASONS,
    SampleConfig,
    build_dataset,
    make_judge,
    mixing_sources,
    review,
)


@pytest.fixture
def judge_server():
    server = JudgeServer()
    yield server
    server.close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


# --- verdicts on crafted responses --------------------------------------------------------------

REASONING = "First I add the two numbers, and the sum of twelve and seven is nineteen. "
THINK = f"<think>{REASONING}</think>\n\n"
CRAFTED = {  # response -> the verdict it gets, in this order, with max_per_prompt 1
    THINK + "The answer is \\boxed{19}.": KEPT,
    "<think>I think the sum is twenty.</think>\n\n\\boxed{20}": "incorrect",
    "The answer is \\boxed{19}.": "no_reasoning",
    THINK + "```python\nprint(12 + 7)\n```\n\\boxed{19}": "code_block",
    f"<think>{REASONING * 3}</think>\n\n\\boxed{{19}}": "long_paragraph",
    "<think>Douze plus sept font dix-neuf, nous avons donc le résultat voulu.</think>\n\n\\boxed{19}": "mixed_language",
    THINK + "So \\boxed{19}.": "per_prompt_cap",
}


def config(**overrides) -> SampleConfig:
    values = {"model_name_or_path": "m", "dataset_name": "d", "max_paragraph_chars": 200, "language_threshold": 0.9,
              "scorer_kwargs": {"num_workers": 0}}
    return SampleConfig(**{**values, **overrides})


def verdicts(cfg: SampleConfig, row: dict, responses: list[str], judge=None) -> list[str]:
    scorer = load_scorer(cfg.scorer, cfg.scorer_kwargs, cfg.answer_column) if cfg.scorer else None
    language = load_reward("language_consistency") if cfg.language_threshold is not None else None
    records = review(cfg, 0, row, row["problem"], [Completion(r, 5) for r in responses], scorer, language, judge)
    assert [r["sample"] for r in records] == list(range(len(responses)))
    return [r["verdict"] for r in records]


ROW = {"problem": "What is 12 + 7?", "solution": "19"}


def test_each_rule_and_filter_on_crafted_responses():
    assert verdicts(config(), ROW, list(CRAFTED)) == list(CRAFTED.values())
    # More than one per prompt when asked; checks in order: an incorrect response is `incorrect`
    # whatever else is wrong with it.
    assert verdicts(config(max_per_prompt=2), ROW, [*CRAFTED][-1:] * 3) == [KEPT, KEPT, "per_prompt_cap"]
    assert verdicts(config(), ROW, ["```\n\\boxed{20}\n```"]) == ["incorrect"]


def test_filters_can_be_switched_off_and_code_tasks_may_use_code_blocks():
    off = config(require_reasoning=False, reject_code_blocks=False, max_paragraph_chars=None, language_threshold=None,
                 max_per_prompt=10)
    assert verdicts(off, ROW, list(CRAFTED)) == [KEPT, "incorrect", KEPT, KEPT, KEPT, KEPT, KEPT]
    code = THINK + "```python\nprint(12 + 7)\n```\n\\boxed{19}"
    assert verdicts(config(), {**ROW, "task": "code"}, [code]) == [KEPT]
    assert verdicts(config(task_column="kind"), {**ROW, "kind": "code"}, [code]) == [KEPT]
    assert verdicts(config(), {**ROW, "task": "math"}, [code]) == ["code_block"]


def test_unscorable_responses_are_unverifiable_without_a_judge():
    # The accuracy reward cannot parse an empty gold: it returns None, and no rule applies.
    row = {"problem": "Name the capital of France.", "solution": ""}
    assert verdicts(config(), row, [THINK + "Paris.", THINK + "Lyon."]) == ["unverifiable", "unverifiable"]


def test_the_judge_decides_what_no_rule_can_and_is_not_asked_past_the_cap(judge_server, monkeypatch):
    monkeypatch.setenv("MY_JUDGE_KEY", "sk-test")
    cfg = config(scorer=None, judge_model="test-judge", judge_url=judge_server.url, judge_api_key_env="MY_JUDGE_KEY",
                 max_per_prompt=1)
    judge = make_judge(cfg)
    row = {"problem": "Name the capital of France.", "solution": "Paris"}
    responses = [
        "<think>I believe the answer is Lyon.</think>\n\nLyon.",  # the judge says NO
        "<think>Mixed: c'est Paris, nous avons donc le résultat voulu.</think>\n\nParis.",  # filtered before the judge
        "<think>The capital is Paris.</think>\n\nParis.",  # YES
        "<think>The capital of France is Paris.</think>\n\nParis.",  # past the cap: not asked
    ]
    assert verdicts(cfg, row, responses, judge) == ["judged_incorrect", "mixed_language", KEPT, "per_prompt_cap"]
    assert len(judge_server.requests) == 2
    request = judge_server.requests[0]
    assert request["authorization"] == "Bearer sk-test" and request["body"]["model"] == "test-judge"
    prompt = request["body"]["messages"][0]["content"]
    assert "Name the capital of France." in prompt and "\nParis\n" in prompt
    assert "Lyon." in prompt and "I believe" not in prompt  # the final answer, not the reasoning

    # With a rule where one applies: the judge is only asked where the scorer returns None.
    cfg = config(judge_model="test-judge", judge_url=judge_server.url)
    assert verdicts(cfg, ROW, [THINK + "\\boxed{20}", THINK + "\\boxed{19}"], make_judge(cfg)) == ["incorrect", KEPT]
    assert len(judge_server.requests) == 2


def test_judge_retries_then_fails_clearly(judge_server):
    judge = EndpointJudge(judge_server.url, "test-judge", retries=2, backoff=0.01)
    judge_server.fail = 2
    assert judge("Capital of France?", "Paris", "</think> Paris") is True
    assert len(judge_server.requests) == 3
    judge_server.fail = 5
    with pytest.raises(JudgeError, match="after 3 attempts"):
        judge("Capital of France?", "Paris", "</think> Paris")


def test_unreachable_judge_fails_at_start_up_before_the_model_loads(tmp_path):
    url = closed_port_url()
    with pytest.raises(JudgeError, match="judge_url: nothing answers at " + re.escape(url)):
        EndpointJudge(url, "test-judge", timeout=2)
    data = tmp_path / "p.jsonl"
    data.write_text(json.dumps(ROW) + "\n")
    values = {"stage": "sample", "model_name_or_path": str(tmp_path / "no-such-model"), "dataset_name": str(data),
              "judge_model": "j", "judge_url": url, "output_dir": str(tmp_path / "out")}
    recipe = load_recipe(None, values=values)
    with pytest.raises(JudgeError, match="judge_url"):  # not the missing model: the judge is checked first
        recipe.stage.run(recipe)


def test_local_model_judge_answers_a_verdict(tiny_model):
    judge = LocalJudge(str(tiny_model), max_tokens=4)
    first = judge("What is 12 + 7?", "19", "</think> 19")
    assert isinstance(first, bool) and judge("What is 12 + 7?", "19", "</think> 19") == first  # greedy
    # What the model is asked, and how its reply becomes the verdict.
    asked = []
    for reply, verdict in [("YES", True), ("NO, it differs.", False)]:
        judge.backend.generate = lambda prompts, sampling, reply=reply: asked.append((prompts, sampling)) or [[Completion(reply, 1)]]
        assert judge("What is 12 + 7?", "19", "</think> 19") is verdict
    prompts, sampling = asked[0]
    assert prompts == [[{"role": "user", "content": judge_prompt("What is 12 + 7?", "19", "</think> 19")}]]
    assert (sampling.num_samples, sampling.temperature, sampling.max_new_tokens) == (1, 0.0, 4)


# --- the dataset and its stats ------------------------------------------------------------------

def build(cfg: SampleConfig, records: list[dict], prompts: int):
    """build_dataset with the sources the stage reads before sampling."""
    return build_dataset(cfg, records, prompts, *mixing_sources(cfg))


def records(verdict_list: list[str]) -> list[dict]:
    return [{"question": i, "sample": 0, "problem": f"Question number {i}?", "completion": f"<think>r{i}</think> {i}",
             "verdict": v, "judge": None} for i, v in enumerate(verdict_list)]


def test_general_rows_make_up_the_configured_fraction(tmp_path):
    general = tmp_path / "general.jsonl"
    general.write_text("".join(json.dumps({"problem": f"Write a haiku {i}.", "response": f"Haiku {i}."}) + "\n"
                               for i in range(10)))
    kept = records([KEPT] * 6 + ["incorrect", "per_prompt_cap"])
    for fraction, expected in [(0.25, 2), (0.5, 6), (0.0, 0)]:
        dataset, stats = build(config(general_dataset_name=str(general), general_fraction=fraction), kept, 8)
        assert (stats["kept"], stats["general"], stats["rows"], len(dataset)) == (6, expected, 6 + expected, 6 + expected)
        assert dataset["task"] == ["reasoning"] * 6 + ["general"] * expected
        assert stats["general_fraction"] == pytest.approx(expected / (6 + expected))
    # Seeded: the same general rows on every run; a row is a user turn and the assistant's reply.
    first, _ = build(config(general_dataset_name=str(general)), kept, 8)
    again, _ = build(config(general_dataset_name=str(general)), kept, 8)
    assert first["messages"][6:] == again["messages"][6:]
    prompt, reply = first["messages"][6]
    assert prompt["role"] == "user" and prompt["content"].startswith("Write a haiku")
    assert reply == {"role": "assistant", "content": f"Haiku {prompt['content'].split()[-1][:-1]}."}
    assert set(first["source"][6:]) == {str(general)}
    # The miniature chain's built-in general data fits the defaults.
    dataset, stats = build(config(general_dataset_name="builtin:general"), kept, 8)
    assert stats["general"] == 2 and dataset["source"][6:] == ["builtin:general"] * 2
    # Too few general rows: all of them, and the stats say what the fraction came to.
    _, stats = build(config(general_dataset_name=str(general), general_fraction=0.9), kept, 8)
    assert stats["general"] == 10 and stats["general_fraction"] == pytest.approx(10 / 16)


def test_misnamed_general_column_fails_before_the_model_loads(tmp_path):
    """The general pool and the decontamination sets are read before sampling: a wrong column is
    an error at once (the model path below does not exist), not after hours of generation."""
    general = tmp_path / "general.jsonl"
    general.write_text(json.dumps({"question": "Hi.", "answer": "Hello."}) + "\n")
    values = {"stage": "sample", "model_name_or_path": str(tmp_path / "no-such-model"), "dataset_name": "builtin:arithmetic",
              "answer_column": "solution", "max_questions": 1, "general_dataset_name": str(general),
              "output_dir": str(tmp_path / "out")}
    with pytest.raises(ValueError, match="has no column 'problem'"):
        run_recipe(values)
    assert not (tmp_path / "out" / "samples.jsonl").exists()


def test_decontamination_drops_rows_sharing_an_ngram_with_a_test_question(tmp_path):
    test_set = tmp_path / "aime.jsonl"
    test_set.write_text(json.dumps({"problem": "Find the number of ordered pairs of positive integers below 100."}) + "\n")
    general = tmp_path / "general.jsonl"
    general.write_text(json.dumps({"problem": "Find the number of ordered pairs of positive integers below 100, please.",
                                   "response": "Sure."}) + "\n" + json.dumps({"problem": "Hi.", "response": "Hello."}) + "\n")
    rows = records([KEPT, KEPT, "incorrect"])
    rows[1]["problem"] = "Task: find the number of ORDERED pairs of positive integers below 100"
    # 0.7 asks for 2 general rows next to 1 reasoning row: both general rows are looked at.
    cfg = config(decontaminate_against=[f"{test_set}:aime"], general_dataset_name=str(general), general_fraction=0.7)
    dataset, stats = build(cfg, rows, 3)
    assert stats["kept"] == 1 and stats["rejected"]["contaminated"] == 1 and stats["rejected"]["incorrect"] == 1
    assert stats["decontaminated"] == {"reasoning": 1, "general": 1, "per_benchmark": {"aime": 2}}
    assert [m[0]["content"] for m in dataset["messages"]] == ["Question number 0?", "Hi."]
    assert stats["samples"] == stats["kept"] + sum(stats["rejected"].values())


# --- end to end ---------------------------------------------------------------------------------

def sample_recipe(model: Path, data: Path, out: Path, judge_url: str, **overrides) -> dict:
    recipe = {
        "stage": "sample", "model_name_or_path": str(model), "dataset_name": str(data),
        "num_samples": 2, "max_per_prompt": 1, "max_new_tokens": 8, "batch_size": 2, "backend": "transformers",
        "scorer_kwargs": {"num_workers": 0}, "judge_model": "test-judge", "judge_url": judge_url,
        # The tiny model writes random tokens: the readability filters are tested above, on crafted text.
        "require_reasoning": False, "reject_code_blocks": False, "max_paragraph_chars": None, "language_threshold": None,
        "output_dir": str(out),
    }
    recipe.update(overrides)
    return recipe


# Empty golds: the accuracy reward cannot score them, so the judge decides; the test judge accepts
# any response to a question marked [yes]. The last question has a gold random tokens never hit.
PROMPTS = [
    {"problem": "[yes] Name the capital city of France, a country in western Europe.", "solution": ""},
    {"problem": "[no] Name the largest planet.", "solution": ""},
    {"problem": "[yes] Name a prime number.", "solution": ""},
    {"problem": "[yes] Name a colour.", "solution": ""},
    {"problem": "What is 123456 + 1?", "solution": "123457"},
]


@pytest.fixture
def tagged_judge():
    server = JudgeServer(rule=lambda question, reference, answer: question.startswith("[yes]"))
    yield server
    server.close()


def test_end_to_end_through_the_cli(tiny_model, tagged_judge, tmp_path):
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    test_set = tmp_path / "test.jsonl"
    test_set.write_text(json.dumps({"problem": "Name the capital city of France, a country in western Europe."}) + "\n")
    general = tmp_path / "general.jsonl"
    general.write_text("".join(json.dumps({"problem": p, "response": "Done."}) + "\n" for p in [
        "Write a poem.", "Translate 'chat' into English.",
        "Please name the capital city of France, a country in western Europe.",  # contaminated
    ]))
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "sample.yaml", sample_recipe(
        # 0.6 asks for 3 general rows next to 2 reasoning rows: all 3 are looked at, 2 are clean.
        tiny_model, data, out, tagged_judge.url, general_dataset_name=str(general), general_fraction=0.6,
        decontaminate_against=[str(test_set)]))
    result = run_cli(str(recipe))

    stats = json.loads((out / "stats.json").read_text())
    assert (stats["prompts"], stats["samples"], stats["kept"], stats["general"], stats["rows"]) == (5, 10, 2, 2, 4)
    assert stats["rejected"] == {**dict.fromkeys(REASONS, 0), "incorrect": 2, "per_prompt_cap": 3,
                                 "judged_incorrect": 2, "contaminated": 1}
    assert stats["samples"] == stats["kept"] + sum(stats["rejected"].values())
    assert stats["decontaminated"] == {"reasoning": 1, "general": 1, "per_benchmark": {"test": 2}}
    assert stats["judged"] == len(tagged_judge.requests) == 5  # 3 accepted, 2 refused; none past the cap

    dataset = load_any(str(out / "dataset"))["train"]  # as the sft stage loads it
    assert dataset.column_names == ["messages", "task", "source"] and len(dataset) == 4
    assert dataset["task"] == ["reasoning", "reasoning", "general", "general"]
    assert [m[0]["content"] for m in dataset["messages"][:2]] == [PROMPTS[2]["problem"], PROMPTS[3]["problem"]]
    assert all([m["role"] for m in messages] == ["user", "assistant"] for messages in dataset["messages"])
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    kept = [s["completion"] for s in samples if s["verdict"] == KEPT]
    assert [m[1]["content"] for m in dataset["messages"][:2]] == [full_response(k) for k in kept[1:]]  # 1st: contaminated
    assert set(dataset["source"]) == {str(data), str(general)}
    assert f"dataset  {out / 'dataset'}" in result.stdout and "2 kept" in result.stdout and "3 were wanted" in result.stdout


def test_resumes_skipping_finished_prompts_and_refuses_other_settings(tiny_model, judge_server, tmp_path):
    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    out = tmp_path / "out"
    values = sample_recipe(tiny_model, data, out, judge_server.url, max_questions=2)
    first = load_recipe(None, values=values)
    summary = first.stage.run(first)
    assert (summary["prompts"], summary["samples"]) == (2, 4)
    lines = (out / "samples.jsonl").read_text().splitlines()
    asked = len(judge_server.requests)

    more = load_recipe(None, values={**values, "max_questions": 4})
    summary = more.stage.run(more)
    assert (summary["prompts"], summary["samples"]) == (4, 8)
    assert (out / "samples.jsonl").read_text().splitlines()[:4] == lines  # not sampled again
    assert len(judge_server.requests) - asked == 4  # only the new prompts' responses were judged
    stats = json.loads((out / "stats.json").read_text())
    assert stats["samples"] == stats["kept"] + sum(stats["rejected"].values()) == 8

    other = load_recipe(None, values={**values, "num_samples": 3})
    with pytest.raises(ValueError, match="num_samples"):
        other.stage.run(other)


def test_push_to_hub_uploads_the_dataset_and_its_stats(tiny_model, judge_server, tmp_path, hub_api):
    data = tmp_path / "prompts.jsonl"
    data.write_text(json.dumps(PROMPTS[0]) + "\n")
    values = sample_recipe(tiny_model, data, tmp_path / "out", judge_server.url, num_samples=1,
                           push_to_hub=True, hub_dataset_id="me/r1-stage3", hub_private_repo=True)
    recipe = load_recipe(None, values=values)
    summary = recipe.stage.run(recipe)
    pushed, stats = hub_api.calls
    assert (pushed["method"], pushed["repo_id"], pushed["rows"], pushed["private"]) == (
        "push_dataset", "me/r1-stage3", summary["rows"], True)
    assert (stats["method"], stats["repo_id"], stats["path_in_repo"], stats["repo_type"]) == (
        "upload_file", "me/r1-stage3", "stats.json", "dataset")
    pushed_folder = hub_api.folder / "hub/me/r1-stage3"  # the dataset's save_to_disk folder, its stats beside it
    assert (pushed_folder / "state.json").is_file() and (pushed_folder / "stats.json").is_file()
    assert summary["hub"] == "https://huggingface.co/datasets/me/r1-stage3"


def test_validation_names_the_field(tmp_path):
    values = {"stage": "sample", "model_name_or_path": "m", "dataset_name": "builtin:arithmetic"}
    (cfg,) = load_recipe(None, ["--model", "other/model", "--num_samples", "16"], values=values).configs
    assert (cfg.model_name_or_path, cfg.num_samples, cfg.max_per_prompt, cfg.general_fraction) == ("other/model", 16, 1, 0.25)
    for bad, field in [({"num_samples": 0}, "num_samples"), ({"max_per_prompt": 0}, "max_per_prompt"),
                       ({"scorer": "acuracy"}, "acuracy"), ({"language_threshold": 1.5}, "language_threshold"),
                       ({"language_kwargs": {"colour": 1}}, "colour"), ({"judge_url": "ftp://x"}, "judge_url"),
                       ({"judge_url": "http://x/v1"}, "judge_model"), ({"scorer": None}, "judge_model"),
                       ({"general_fraction": 1.0}, "general_fraction"), ({"dataset_name": "builtin:nope"}, "dataset_name"),
                       ({"model_name_or_path": None}, "model_name_or_path"), ({"temperature": 0.0}, "temperature")]:
        with pytest.raises(RecipeError, match=field):
            load_recipe(None, values={**values, **bad})


@pytest.mark.slow
def test_every_process_of_a_launch_samples_its_share_and_the_merge_is_the_one_process_result(
        tiny_model, tagged_judge, tmp_path):
    """`accelerate launch` with 2 processes: the 3 batches of 2 prompts go 2 to one process and 1 to
    the other (uneven), each writes its part, the main process merges them in question order:
    the samples and the dataset are exactly those of one process (a batch's seed is its first
    prompt's index, whoever samples it)."""
    import os
    import subprocess
    import sys

    data = tmp_path / "prompts.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    one, two = tmp_path / "one", tmp_path / "two"
    run_cli(str(write_recipe(tmp_path / "one.yaml", sample_recipe(tiny_model, data, one, tagged_judge.url))))
    recipe = write_recipe(tmp_path / "two.yaml", sample_recipe(tiny_model, data, two, tagged_judge.url))
    result = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
         str(REPO / "recipes/accelerate/cpu_2proc.yaml"), "-m", "trl_r1", str(recipe)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr[-5000:]
    assert "[1/2]" in result.stderr and "[2/2]" in result.stderr  # both processes sampled
    assert (one / "samples.jsonl").read_text() == (two / "samples.jsonl").read_text()
    assert not list(two.glob("samples.part*"))
    assert json.loads((one / "stats.json").read_text()) == json.loads((two / "stats.json").read_text())
    assert result.stdout.count("Outputs:") == 1
