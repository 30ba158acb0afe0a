r"""Stage ``sample``: rejection sampling, the SFT data of R1's stage 3. ``num_samples`` responses
per prompt; the correct, readable, clean ones are kept, general data mixed in (docs/stages.md,
"sample").
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Dataset, Features, Value
from trl_r1_rewards import check_options, full_response, load_reward

from ..data.builtin import check_dataset_name
from ..data.decontaminate import (
    DEFAULT_NGRAM,
    NgramIndex,
    build_index,
    conversation_text,
)
from ..data.loading import load_split
from ..generation.arguments import GenerationArguments, rehearsal_prompts
from ..generation.backends import Completion, make_backend
from ..generation.filters import FILTERS, is_code_task, rejection_reason
from ..generation.judge import EndpointJudge, LocalJudge
from ..generation.loop import check_settings, read_samples, sample_questions
from ..data.templates import takes_prefill, think_prefilled_by
from ..generation.scoring import load_scorer, reads_gold
from ..generation.shards import finish_part, merge_parts, my_batches, own_gpus, part_path, this_shard
from ..models import resolve_model
from ..train.hub import push_dataset

KEPT = "kept"
# Why a response is not in the dataset, in the order the checks run: each response gets one.
REASONS = ("incorrect", *FILTERS, "per_prompt_cap", "unverifiable", "judged_incorrect", "contaminated")
SAMPLES_FILE, STATS_FILE, DATASET_DIR, SETTINGS_FILE = "samples.jsonl", "stats.json", "dataset", "settings.json"
FEATURES = Features({"messages": [{"role": Value("string"), "content": Value("string")}],
                     "task": Value("string"), "source": Value("string")})


@dataclass
class SampleConfig(GenerationArguments):
    """Rejection sampling: [`GenerationArguments`] (which checkpoint, which prompts, how to
    sample and score; R1 samples its stage-2 RL model) plus what to keep and what to mix in.

    Args:
        answer_column (`str`, defaults to `"solution"`): the column the GRPO datasets and the
            `accuracy` reward use.
        task_column (`str`, defaults to `"task"`): rows whose task is `code` may answer with code blocks.
        scorer (`str`): `null`: no rule, the judge decides every response (free-form answers:
            `accuracy` reads almost any text as math and scores it 0, not `None`).
        max_per_prompt (`int`, defaults to 1): kept responses per prompt at most (our choice: the
            paper does not say; one keeps the data diverse).
        temperature / top_p / max_new_tokens: the paper's evaluation settings by default, as it
            gives none for stage 3.
        require_reasoning (`bool`): reject responses without `<think>...</think>` and a summary.
        reject_code_blocks (`bool`): reject ``` code blocks in answers to non-coding tasks.
        max_paragraph_chars (`int`, *optional*): reject responses with a longer paragraph.
        language_threshold (`float`, *optional*): reject responses whose `language_consistency`
            is below it; `language_kwargs` are that reward's options.
        judge_model (`str`, *optional*): a generative judge for responses the scorer cannot score:
            with `judge_url`, the model an OpenAI-compatible endpoint serves (API key from the
            environment variable `judge_api_key_env`); without, a local model.
        judge_timeout / judge_retries / judge_max_tokens: per request; further attempts; reply budget.
        general_dataset_name / general_dataset_config / general_dataset_split /
            general_prompt_column / general_response_column: non-reasoning (prompt, response) data.
        general_fraction (`float`, defaults to 0.25): the share of general rows in the output
            (the paper: ~200k of ~800k).
        decontaminate_against (`list[str]`, *optional*): evaluation sets `PATH[:name]`; rows sharing
            a `decontaminate_ngram`-word n-gram with one of their questions (`decontaminate_column`)
            are dropped.
        push_to_hub / hub_dataset_id / hub_private_repo: upload the dataset and its stats to the Hub.
        merge_timeout_s (`float`, defaults to 86400): under `accelerate launch` every process samples
            its share of the prompts (`trl_r1.generation.shards`); how long the main process waits
            for the others to finish before it merges their parts.
    """

    merge_timeout_s: float = field(
        default=86400.0, metadata={"help": "Seconds the main process waits for the other processes' samples."})
    dataset_split: str = field(default="train", metadata={"help": "Split of the prompts."})
    answer_column: str = field(default="solution", metadata={"help": "Column holding the gold answer."})
    task_column: str = field(default="task", metadata={"help": "Column naming the task; `code` rows may use code blocks."})
    scorer: str | None = field(
        default="accuracy", metadata={"help": "Reward that decides correctness (>= 1 is correct); null: the judge decides."})
    max_per_prompt: int = field(default=1, metadata={"help": "Kept responses per prompt at most (our choice)."})
    require_reasoning: bool = field(
        default=True, metadata={"help": "Reject responses without <think>...</think> and a summary (no_reasoning)."})
    reject_code_blocks: bool = field(
        default=True, metadata={"help": "Reject ``` code blocks in answers to non-coding tasks (code_block)."})
    max_paragraph_chars: int | None = field(
        default=2000, metadata={"help": "Reject responses with a longer paragraph (long_paragraph; our choice); null: off."})
    language_threshold: float | None = field(
        default=0.9, metadata={"help": "Reject responses whose language_consistency is lower (mixed_language; our "
                               "choice); null: off."})
    language_kwargs: dict = field(default_factory=dict, metadata={"help": "Options of the language_consistency reward."})
    judge_model: str | None = field(
        default=None, metadata={"help": "Generative judge for responses no rule scores: the endpoint's model name "
                                "with judge_url, else a local model. None: such responses are unverifiable."})
    judge_url: str | None = field(
        default=None, metadata={"help": "OpenAI-compatible API base of the judge, e.g. http://localhost:8000/v1."})
    judge_api_key_env: str = field(
        default="JUDGE_API_KEY", metadata={"help": "Environment variable holding the judge endpoint's API key."})
    judge_timeout: float = field(default=60.0, metadata={"help": "Seconds per judge request."})
    judge_retries: int = field(default=3, metadata={"help": "Further attempts after a failed judge request."})
    judge_max_tokens: int = field(default=1024, metadata={"help": "The judge's reply budget in tokens."})
    general_dataset_name: str | None = field(
        default=None, metadata={"help": "Non-reasoning data mixed in: Hub id, local file or folder."})
    general_dataset_config: str | None = field(default=None, metadata={"help": "Its Hub configuration."})
    general_dataset_split: str = field(default="train", metadata={"help": "Its split."})
    general_prompt_column: str = field(default="problem", metadata={"help": "Its prompt column."})
    general_response_column: str = field(default="response", metadata={"help": "Its response column."})
    general_fraction: float = field(
        default=0.25, metadata={"help": "Share of general rows in the output (paper: ~200k of ~800k)."})
    decontaminate_against: list[str] | None = field(
        default=None, metadata={"help": "Evaluation sets PATH[:name]; rows sharing an n-gram with one of their "
                                "questions are dropped."})
    decontaminate_column: str = field(default="problem", metadata={"help": "Question column of the evaluation sets."})
    decontaminate_ngram: int = field(default=DEFAULT_NGRAM, metadata={"help": "n-gram size in words (paper: 10)."})
    push_to_hub: bool = field(default=False, metadata={"help": "Upload the dataset and its stats to the Hub."})
    hub_dataset_id: str | None = field(default=None, metadata={"help": "Hub dataset repo (default: output_dir's name)."})
    hub_private_repo: bool | None = field(default=None, metadata={"help": "Create the Hub repo private."})
    output_dir: str = field(default="outputs/sample", metadata={"help": "Where samples, dataset and stats go."})

    # The verdicts in samples.jsonl depend on these too; mixing and decontamination run afresh every time.
    SETTINGS = (*GenerationArguments.SETTINGS, "task_column", "max_per_prompt", "require_reasoning",
                "reject_code_blocks", "max_paragraph_chars", "language_threshold", "language_kwargs", "judge_model")


ARGUMENTS = (SampleConfig,)
PLAN_AS = "generation"  # how `plan` sizes it (trl_r1/plan/planner.py)
# A rehearsal's miniature model writes no correct sample: rehearse then writes stand-in correct ones
# through this stage's own review, so that the stages after it have data (trl_r1/rehearse/standins.py).
REHEARSAL_CORRECT_SAMPLES = True


def artifacts(output_dir) -> dict[str, str]:
    """What a run leaves to later stages of a pipeline: its dataset (``${stage.dataset}``)."""
    return {"dataset": str(Path(output_dir) / DATASET_DIR)}


def rehearsal_limits(size) -> dict:
    """Field -> value in a rehearsal (``rehearse``; ``size`` is trl_r1/rehearse/scale.py, with its sizes)."""
    return dict(size.GENERATION_LIMITS)


def rehearsal_data(values: dict, folder: Path, standins, splits) -> str:
    """The built-in stand-in ``rehearse`` uses for a Hub ``dataset_name`` (``standins`` is
    trl_r1/rehearse/standins.py; ``splits(*fields, default=...)`` the splits the recipe names)."""
    return rehearsal_prompts(values, folder, standins, splits, split="train", answer="solution")


def validate(config: SampleConfig) -> None:
    config.check_generation("sample", positive=("max_per_prompt", "decontaminate_ngram", "judge_max_tokens",
                                                "max_paragraph_chars"))
    if config.scorer is None and not config.judge_model:
        raise ValueError("scorer: without a scorer (null) a judge decides every response; set judge_model")
    if config.language_threshold is not None and not 0 <= config.language_threshold <= 1:
        raise ValueError(f"language_threshold: a share of words in [0, 1], got {config.language_threshold}")
    if not isinstance(config.language_kwargs, dict):
        raise ValueError(f"language_kwargs: a mapping of language_consistency's options, got {config.language_kwargs!r}")
    try:
        check_options("language_consistency", config.language_kwargs)
    except (KeyError, TypeError) as e:
        raise ValueError(f"language_kwargs: {e}") from None
    if config.judge_url:
        if not config.judge_url.startswith(("http://", "https://")):
            raise ValueError(f"judge_url: an http(s) URL such as http://localhost:8000/v1, got {config.judge_url!r}")
        if not config.judge_model:
            raise ValueError("judge_model: the judge endpoint needs the name of the model it serves")
    if config.judge_timeout <= 0 or config.judge_retries < 0:
        raise ValueError("judge_timeout must be > 0 and judge_retries >= 0")
    if not 0 <= config.general_fraction < 1:
        raise ValueError(f"general_fraction: a share in [0, 1), got {config.general_fraction}")
    if config.general_dataset_name:
        check_dataset_name(config.general_dataset_name)


def load_prompts(config: SampleConfig) -> list[dict]:
    """The prompt rows to sample, in order."""
    columns = [config.problem_column]
    if config.judge_model or (config.scorer and reads_gold(config.scorer)):
        columns.append(config.answer_column)
    split = load_split(config.dataset_name, config.dataset_config, config.dataset_split, columns)
    if config.max_questions is not None:
        split = split.select(range(min(config.max_questions, len(split))))
    return [dict(row) for row in split]


def make_judge(config: SampleConfig):
    """The configured judge (``None`` without one). An endpoint that does not answer fails here."""

    if not config.judge_model:
        return None
    if config.judge_url:
        return EndpointJudge(config.judge_url, config.judge_model, api_key=os.environ.get(config.judge_api_key_env),
                             timeout=config.judge_timeout, retries=config.judge_retries,
                             max_tokens=config.judge_max_tokens)
    return LocalJudge(config.judge_model, max_tokens=config.judge_max_tokens, dtype=config.dtype)


def run(recipe) -> dict:
    (config,) = recipe.configs
    output_dir = Path(config.output_dir)
    check_settings(output_dir, config.settings(), SAMPLES_FILE, SETTINGS_FILE)
    rows = load_prompts(config)
    samples_path = output_dir / SAMPLES_FILE
    shard = this_shard()  # under `accelerate launch`, every process samples its share of the prompts
    done = read_samples(samples_path, config.num_samples)
    todo = my_batches([i for i in range(len(rows)) if i not in done], config.batch_size, shard)
    if shard.world > 1:  # this process's own questions of an interrupted run of the same size
        own = read_samples(part_path(samples_path, shard), config.num_samples)
        todo = [i for i in todo if i not in own]
        done = {**done, **own}
    if done:
        print(f"Resuming: {len(done)} of {len(rows)} prompts already sampled in {samples_path}")

    # Everything that can be misconfigured is read before the model loads, not after hours of sampling.
    index, general_pool = mixing_sources(config)
    if todo:
        judge = make_judge(config)  # an unreachable endpoint fails at once
        prefilled = bool(config.scorer) and takes_prefill(config.scorer) and think_prefilled_by(
            resolve_model(config.model_name_or_path), config.prompt_template)
        scorer = (load_scorer(config.scorer, config.scorer_kwargs, config.answer_column, prefilled)
                  if config.scorer else None)
        language = None
        if config.language_threshold is not None:
            language = load_reward("language_consistency", **config.language_kwargs)
        with own_gpus(shard, config.tensor_parallel_size):
            backend = make_backend(config.backend, resolve_model(config.model_name_or_path), config.dtype,
                                   config.max_model_len, config.tensor_parallel_size)
        prompts = [config.prompt(r[config.problem_column]) for r in rows]
        sample_questions(
            backend, prompts, todo, config.sampling, config.batch_size,
            lambda i, prompt, completions: review(config, i, rows[i], prompt, completions, scorer, language, judge),
            part_path(samples_path, shard), done,
            desc=f"sample {config.dataset_name}" + (f" [{shard.rank + 1}/{shard.world}]" if shard.world > 1 else ""))
    finish_part(samples_path, shard)
    if not shard.main:
        return {}  # the main process merges every part and builds the dataset
    if shard.world > 1:
        merge_parts(samples_path, shard, config.merge_timeout_s)
        done = read_samples(samples_path, config.num_samples)

    records = [r for i in range(len(rows)) for r in done[i]]
    dataset, stats = build_dataset(config, records, len(rows), index, general_pool)
    dataset_path, stats_path = save(output_dir, dataset, stats)

    summary = {"dataset": str(dataset_path), "stats": str(stats_path),
               **{k: stats[k] for k in ("prompts", "samples", "kept", "general", "rows")},
               "decontaminated": stats["decontaminated"]["reasoning"] + stats["decontaminated"]["general"]}
    rejected = ", ".join(f"{reason} {n}" for reason, n in stats["rejected"].items() if n) or "none"
    print(f"\n{stats['prompts']} prompts, {stats['samples']} samples: {stats['kept']} kept; rejected: {rejected}")
    if not stats["kept"]:
        print("Warning: no response was kept; see the verdicts in samples.jsonl")
    print(f"{stats['general']} general rows mixed in ({stats['general_fraction']:.0%} of {stats['rows']} rows); "
          f"{summary['decontaminated']} rows removed by decontamination")
    print(f"\nOutputs:\n  dataset  {dataset_path}\n  stats    {stats_path}\n  samples  {samples_path}")
    if config.push_to_hub:

        url = push_dataset(dataset, config.hub_dataset_id or output_dir.name, files=[stats_path],
                           private=config.hub_private_repo)
        summary["hub"] = url
        print(f"  pushed   {url}")
    return summary


def review(config: SampleConfig, index: int, row: dict, prompt, completions: list[Completion], scorer,
           language=None, judge=None) -> list[dict]:
    """One record per response to prompt ``index``: its scores and its verdict, ``kept`` or the
    first reason (in :data:`REASONS` order) it is rejected for. ``scorer`` and ``language`` are
    registry rewards (``None``: not used); ``judge(question, reference, response) -> bool`` is
    asked only about responses that pass everything else but that no scorer could score."""
    texts = [c.text for c in completions]
    columns = {k: [v] * len(texts) for k, v in row.items()}
    scores = scorer([prompt] * len(texts), texts, **columns) if scorer else [None] * len(texts)
    problem = row[config.problem_column]
    # The target language is the problem's (or the row's `language` column), not the template's.
    languages = language([problem] * len(texts), texts, **columns) if language else [None] * len(texts)
    allow_code_blocks = not config.reject_code_blocks or is_code_task(row.get(config.task_column), config.scorer)
    reference = row.get(config.answer_column)
    records, kept = [], 0
    for j, (completion, score, language_score) in enumerate(zip(completions, scores, languages, strict=True)):
        judged = None
        if score is not None and score < 1:
            verdict = "incorrect"
        else:
            verdict = rejection_reason(
                completion.text, allow_code_blocks=allow_code_blocks, language_score=language_score,
                require_reasoning=config.require_reasoning, max_paragraph_chars=config.max_paragraph_chars,
                language_threshold=config.language_threshold)
        if verdict is None and kept >= config.max_per_prompt:
            verdict = "per_prompt_cap"  # enough for this prompt: no judge asked
        if verdict is None and score is None:
            if judge is None:
                verdict = "unverifiable"
            else:
                judged = judge(problem, "" if reference is None else str(reference), completion.text)
                verdict = None if judged else "judged_incorrect"
        if verdict is None:
            verdict, kept = KEPT, kept + 1
        records.append({
            "question": index, "sample": j, "problem": problem,
            "gold": None if reference is None else str(reference), "completion": completion.text,
            "num_tokens": completion.num_tokens, "score": score, "language_consistency": language_score,
            "judge": judged, "verdict": verdict,
        })
    return records


def mixing_sources(config: SampleConfig) -> tuple[NgramIndex | None, Dataset | None]:
    """The decontamination index of the evaluation sets and the pool of general rows (``None``
    where the recipe asks for neither), their files and columns checked."""
    index = None
    if config.decontaminate_against:
        index = build_index(config.decontaminate_against, config.decontaminate_column, config.decontaminate_ngram)
    pool = None
    if config.general_dataset_name and config.general_fraction > 0:
        pool = load_split(config.general_dataset_name, config.general_dataset_config, config.general_dataset_split,
                          [config.general_prompt_column, config.general_response_column], prefix="general_")
    return index, pool


def build_dataset(config: SampleConfig, records: list[dict], prompts: int, index: NgramIndex | None = None,
                  general_pool: Dataset | None = None):
    """The SFT dataset from the reviewed ``records`` (kept responses, free of ``index``'s n-grams,
    with rows of ``general_pool`` mixed in; see :func:`mixing_sources`) and its statistics."""
    verdicts = Counter(r["verdict"] for r in records)
    kept = (sft_row(r["problem"], full_response(r["completion"]), "reasoning", config.dataset_name)
            for r in records if r["verdict"] == KEPT)
    reasoning, contaminated, per_benchmark = clean_rows(kept, index)
    verdicts["contaminated"] = contaminated

    general, general_contaminated = [], 0
    if general_pool is not None:
        wanted = general_count(len(reasoning), config.general_fraction)
        candidates = (sft_row(r[config.general_prompt_column], r[config.general_response_column], "general",
                              config.general_dataset_name) for r in general_pool.shuffle(seed=config.seed))
        general, general_contaminated, more = clean_rows(candidates, index, limit=wanted)
        per_benchmark.update(more)
        if len(general) < wanted:
            print(f"Warning: {config.general_dataset_name} has {len(general)} usable rows, "
                  f"{wanted} were wanted for general_fraction {config.general_fraction}")

    rows = reasoning + general
    stats = {
        "prompts": prompts,
        "samples": len(records),
        "kept": len(reasoning),
        "rejected": {reason: verdicts[reason] for reason in REASONS},
        "judged": sum(r["judge"] is not None for r in records),
        "general": len(general),
        "rows": len(rows),
        "general_fraction": len(general) / len(rows) if rows else 0.0,
        "decontaminated": {"reasoning": contaminated, "general": general_contaminated,
                           "per_benchmark": dict(per_benchmark)},
        "settings": config.settings(),
    }
    columns = {"messages": [r["messages"] for r in rows], "task": [r["task"] for r in rows],
               "source": [r["source"] for r in rows]}
    return Dataset.from_dict(columns, features=FEATURES), stats


def save(output_dir: Path, dataset: Dataset, stats: dict) -> tuple[Path, Path]:
    """Write the SFT dataset (a ``save_to_disk`` folder) and its statistics into ``output_dir``."""
    dataset_path, stats_path = output_dir / DATASET_DIR, output_dir / STATS_FILE
    if dataset_path.exists():
        shutil.rmtree(dataset_path)
    dataset.save_to_disk(str(dataset_path), num_shards=None if len(dataset) else 1)  # 0 shards would not load
    stats_path.write_text(json.dumps(stats, indent=2) + "\n")
    return dataset_path, stats_path


def sft_row(problem: str, response: str, task: str, source: str) -> dict:
    """One row of the SFT dataset: the problem as the user's turn, the response as the assistant's."""
    return {"messages": [{"role": "user", "content": problem}, {"role": "assistant", "content": response}],
            "task": task, "source": source}


def general_count(kept: int, fraction: float) -> int:
    """General rows that make up ``fraction`` of the output next to ``kept`` reasoning rows.

    >>> general_count(600_000, 0.25), general_count(3, 0.5), general_count(2, 0.25), general_count(0, 0.25)
    (200000, 3, 1, 0)
    """
    return round(kept * fraction / (1 - fraction))


def clean_rows(rows: Iterable[dict], index: NgramIndex | None, limit: int | None = None) -> tuple[list[dict], int, Counter]:
    """The first ``limit`` (all) of ``rows`` that share no n-gram with an evaluation question of
    ``index`` (every row without one), how many were dropped before that, and drops per benchmark."""
    clean, dropped, per_benchmark = [], 0, Counter()
    for row in rows:
        if limit is not None and len(clean) >= limit:
            break
        found = index.matches(conversation_text(row["messages"])) if index else set()
        if found:
            dropped += 1
            per_benchmark.update(found)
        else:
            clean.append(row)
    return clean, dropped, per_benchmark
