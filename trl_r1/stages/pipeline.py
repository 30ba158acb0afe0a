"""Stage ``pipeline``: a chain of stage recipes run in order, artifacts passed by name
(``${stage.model}``, ``${stage.dataset}``), resumable stage by stage (docs/stages.md, "pipeline").
"""

from __future__ import annotations

import gc
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import yaml

from ..generation.evaluation import MODES, SAMPLES_FILE
from ..generation.loop import read_samples
from ..generation.metrics import paired_test, question_values
from ..recipe_checks import RecipeError, check_machine_for, read_yaml

DONE_FILE, FAILED_FILE, SUMMARY_FILE, TABLE_FILE = "stage_done.json", "stage_failed.json", "pipeline.json", "pipeline.md"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z_]+))?\}")
# The summary entries shown in the final table, in this order, when a stage reports them.
_HEADLINE = ("train_loss", "reward_first5", "reward_last5", "eval_accuracy_before", "eval_accuracy",
             "eval_mse_before", "eval_mse", "samples", "kept", "rows", "train_rows")


@dataclass
class PipelineConfig:
    """A chain of stages.

    Args:
        stages (`list[dict]`): in order, each a mapping with `name` (unique identifier, used in
            references and as the stage's folder), `recipe` (a recipe file, relative to this
            one) and optional `overrides` (field: value; values may hold `${stage.model}`,
            `${stage.dataset}` or `${output_dir}`) and `evaluate` (false to skip evaluating it).
        output_dir (`str`): the pipeline's folder: one sub-folder per stage, the evaluations, and
            the final table (`pipeline.md`, `pipeline.json`).
        evaluate (`dict` or `list[dict]`, *optional*): the evaluations of the chain's models, each
            a mapping: `recipe` (an `evaluate` recipe, relative to this file), and optional
            `overrides` (may refer to stages' artifacts: `${stage.model}`), `name` (default: the
            recipe's file name), `greedy` (also greedily, one answer per question; default false),
            `stages` (the models to evaluate: `start` and stages that train a language model; default:
            the starting model and every such stage) and `metric` (`pass@1`, default, or
            `mean_score` for a reward-model scorer). Each model is compared with the one evaluated
            before it (or its stage's `compare_to`) by a paired test on the same questions.
        seed (`int`, *optional*): every stage's and evaluation's seed (a stage's own `overrides`
            win): one whole replicate of the chain per seed.
        fresh_process (`bool`, defaults to `True`): run each stage in a process of its own, so that
            its engines (vLLM, DeepSpeed) and their memory are gone before the next one starts.
        stage_wait_hours (`float`, defaults to 48): under `accelerate launch`, how long the other
            processes wait for the main process's marker of a stage it runs alone (`sample`,
            `evaluate`) before they stop with an error; a stage that failed there stops them at once.
    """

    stages: list[dict] = field(default_factory=list, metadata={"help": "Stages in order: {name, recipe, overrides, evaluate}."})
    output_dir: str = field(default="outputs/pipeline", metadata={"help": "Folder of the stages' outputs and the table."})
    evaluate: list[dict] | None = field(
        default=None, metadata={"help": "Evaluations of the chain's models: {recipe, overrides, name, greedy, stages, metric}, "
                                        "one mapping or a list."})
    seed: int | None = field(default=None, metadata={"help": "Every stage's and evaluation's seed (overrides win)."})
    base_dir: str | None = field(
        default=None, metadata={"help": "Folder the stage recipe paths are relative to (default: the pipeline file's)."})
    fresh_process: bool = field(
        default=True, metadata={"help": "Run each stage in a process of its own (its engines' memory is freed at exit)."})
    stage_wait_hours: float = field(
        default=48.0, metadata={"help": "How long the other processes wait for a stage the main process runs alone "
                                        "(sample, evaluate) before they stop with an error."})


ARGUMENTS = (PipelineConfig,)


@dataclass
class Step:
    """One stage of the chain, resolved: its recipe file, overrides and folder."""

    name: str
    recipe: Path
    overrides: dict[str, Any]
    evaluate: bool
    output_dir: Path
    compare_to: str | None = None
    index: int = 0  # its place in the chain: its processes' port (MASTER_PORT + 1 + index)

    @property
    def done_file(self) -> Path:
        return self.output_dir / DONE_FILE


def prepare(values: dict, path: Path | None) -> dict:
    """Called by the recipe loader: stage recipe paths become relative to the pipeline's file; one
    evaluation (a mapping) becomes a list of one."""
    if path is not None and values.get("base_dir") is None:
        values = {**values, "base_dir": str(Path(path).resolve().parent)}
    if isinstance(values.get("evaluate"), dict):
        values = {**values, "evaluate": [values["evaluate"]]}
    return values


def steps(config: PipelineConfig) -> list[Step]:
    base = Path(config.base_dir or ".")
    out = Path(config.output_dir)
    result, seen = [], set()
    for i, entry in enumerate(config.stages):
        if not isinstance(entry, dict) or "name" not in entry or "recipe" not in entry:
            raise ValueError(f"stages[{i}]: each stage is a mapping with `name` and `recipe`, got {entry!r}")
        unknown = set(entry) - set(_STEP_KEYS)
        if unknown:
            raise ValueError(f"stages[{i}] ({entry['name']}): unknown key(s) {sorted(unknown)}; "
                             f"accepted: {', '.join(_STEP_KEYS)}")
        name = str(entry["name"])
        if not _NAME.match(name) or name == "output_dir":
            raise ValueError(f"stages[{i}]: name {name!r} must be an identifier (letters, digits, _), not output_dir")
        if name in seen or name == START:
            raise ValueError(f"stages[{i}]: two stages are named {name!r}" if name in seen else
                             f"stages[{i}]: {START!r} names the starting model; call the stage otherwise")
        compare_to = entry.get("compare_to")
        if compare_to is not None and compare_to not in (seen | {START}):
            raise ValueError(f"stages[{i}] ({name}): compare_to {compare_to!r} is not `start` or an earlier stage")
        seen.add(name)
        overrides = dict(entry.get("overrides") or {})
        if config.seed is not None:
            overrides.setdefault("seed", config.seed)
        target = Path(str(overrides.get("output_dir") or out / name))
        result.append(Step(name, base / entry["recipe"], overrides, bool(entry.get("evaluate", True)), target,
                           compare_to, i))
    return result


START = "start"  # the starting model, in `evaluate`'s `stages` and a stage's `compare_to`
_STEP_KEYS = ("name", "recipe", "overrides", "evaluate", "compare_to")
_EVALUATION_KEYS = ("recipe", "overrides", "name", "greedy", "stages", "metric")
METRICS = ("pass@1", "mean_score")


@dataclass
class Evaluation:
    """One of the pipeline's evaluations (``evaluate``), resolved."""

    name: str
    recipe: Path
    overrides: dict[str, Any]
    greedy: bool
    stages: list[str] | None  # None: the starting model and every stage training a language model
    metric: str

    def modes(self) -> list[str]:
        return ["sampled", "greedy"] if self.greedy else ["sampled"]

    def covers(self, stage: str, default: bool) -> bool:
        return stage in self.stages if self.stages is not None else default


def evaluations(config: PipelineConfig) -> list[Evaluation]:
    """``evaluate`` as a list of :class:`Evaluation`, checked against the stages' names."""
    specs = config.evaluate or []
    names = {step.name for step in steps(config)} | {START}
    result, seen = [], set()
    for i, spec in enumerate(specs):
        where = f"evaluate[{i}]"
        if not isinstance(spec, dict) or "recipe" not in spec or set(spec) - set(_EVALUATION_KEYS):
            raise ValueError(f"{where}: a mapping with `recipe` and optional {', '.join(_EVALUATION_KEYS[1:])}, "
                             f"got {spec!r}")
        name = str(spec.get("name") or Path(spec["recipe"]).stem)
        if not _NAME.match(name) or name in seen:
            raise ValueError(f"{where}: name {name!r} must be an identifier, one per evaluation")
        seen.add(name)
        stages = spec.get("stages")
        if stages is not None and (not isinstance(stages, list) or set(map(str, stages)) - names):
            raise ValueError(f"{where}: stages {stages!r}: a list of `start` and stage names "
                             f"({', '.join(sorted(names))})")
        metric = spec.get("metric", "pass@1")
        if metric not in METRICS:
            raise ValueError(f"{where}: metric {metric!r} is not one of {', '.join(METRICS)}")
        overrides = dict(spec.get("overrides") or {})
        if config.seed is not None:
            overrides.setdefault("seed", config.seed)
        result.append(Evaluation(name, Path(config.base_dir or ".") / spec["recipe"], overrides,
                                 bool(spec.get("greedy", False)), None if stages is None else list(map(str, stages)),
                                 metric))
    return result


def substitute(value: Any, artifacts: dict[str, dict], where: str) -> Any:
    """Replace ``${stage.key}`` references (in strings, lists and mappings) by artifacts.

    >>> substitute({"m": "${a.model}", "d": ["${output_dir}/x"]}, {"a": {"model": "/m"}, "output_dir": "/o"}, "b")
    {'m': '/m', 'd': ['/o/x']}
    """
    if isinstance(value, dict):
        return {k: substitute(v, artifacts, where) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, artifacts, where) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        stage, key = match.group(1), match.group(2)
        if stage not in artifacts:
            raise ValueError(f"{where}: `{match.group(0)}` refers to no earlier stage "
                             f"(earlier: {', '.join(k for k in artifacts if k != 'output_dir') or 'none'})")
        found = artifacts[stage]
        if key is None and isinstance(found, str):
            return found
        if not isinstance(found, dict) or key not in found or found[key] is None:
            produced = sorted(k for k, v in found.items() if v is not None) if isinstance(found, dict) else []
            raise ValueError(f"{where}: `{match.group(0)}`: stage {stage!r} produced no {key!r} "
                             f"(it produced: {', '.join(produced) or 'nothing'})")
        return str(found[key])

    return _REFERENCE.sub(replace, value)


def load_step(load, step: Step, artifacts: dict, check_only: bool = False):
    """The step's recipe with its overrides, references to earlier steps' ``artifacts`` resolved,
    loaded with ``load`` (``Recipe.load``)."""
    values = read_yaml(step.recipe)
    if values.get("stage") == "pipeline":
        raise ValueError(f"stage {step.name!r}: a pipeline cannot contain a pipeline ({step.recipe})")
    values.update(substitute(step.overrides, artifacts, f"stage {step.name!r}"))
    values["output_dir"] = str(step.output_dir)
    try:
        return load(step.recipe, values=values, check_only=check_only)
    except RecipeError as e:
        raise ValueError(f"stage {step.name!r}: {e}") from None


def stage_recipes(recipe) -> list[tuple[Step, Any]]:
    """Every step of a pipeline ``recipe`` with its recipe as a check sees it, before anything
    ran: references to earlier steps' artifacts resolve to the paths those steps will write."""
    (config,) = recipe.configs
    artifacts: dict[str, Any] = {"output_dir": config.output_dir}
    resolved = []
    for step in steps(config):
        if not step.recipe.is_file():
            raise ValueError(f"stage {step.name!r}: no such recipe file {step.recipe}")
        stage_recipe = load_step(recipe.load, step, artifacts, check_only=True)
        artifacts[step.name] = stage_recipe.stage.artifacts(step.output_dir)  # what it will produce
        resolved.append((step, stage_recipe))
    return resolved


parts = stage_recipes  # the hook `plan` and `check` ask (trl_r1.stages)


def validate(config: PipelineConfig) -> None:
    if not config.stages:
        raise ValueError("stages: a pipeline needs at least one stage")
    if not config.stage_wait_hours > 0:
        raise ValueError(f"stage_wait_hours: must be > 0, got {config.stage_wait_hours}")
    evaluations(config)  # and the steps


def check(recipe) -> None:
    """Every stage's recipe and every evaluation's recipe load (as a check sees them)."""
    (config,) = recipe.configs
    planned: dict[str, Any] = {"output_dir": config.output_dir}
    language_models = [START]  # what an evaluation's `stages` may name
    for step, stage_recipe in stage_recipes(recipe):
        planned[step.name] = stage_recipe.stage.artifacts(step.output_dir)
        if stage_recipe.stage.trains_a_language_model:
            language_models.append(step.name)
    for evaluation in evaluations(config):
        if none := sorted(set(evaluation.stages or []) - set(language_models)):
            raise ValueError(f"evaluate ({evaluation.name}): stages {none} train no language model to evaluate; "
                             f"these do: {', '.join(language_models)}")
        for mode in evaluation.modes():
            _evaluation_step(recipe, evaluation, START, "model", mode, planned, check_only=True)


def machine_checks(recipe) -> None:
    """Every stage's trackers installed and local data present, or written by an earlier stage."""
    built = []
    for step, stage_recipe in stage_recipes(recipe):
        try:
            check_machine_for(stage_recipe.configs, built)
        except ValueError as e:
            raise ValueError(f"stage {step.name!r}: {e}") from None
        built += stage_recipe.stage.artifacts(step.output_dir).values()


def _evaluation_step(recipe, evaluation: Evaluation, stage: str, model: str, mode: str, artifacts: dict,
                     check_only: bool = False):
    """The `evaluate` run of ``model`` (the model of ``stage``) in ``mode`` (``MODES``): its step
    (folder ``eval/<evaluation>/<stage>[-greedy]``) and its recipe."""
    folder = Path(recipe.configs[0].output_dir) / "eval" / evaluation.name / (stage if mode == "sampled" else f"{stage}-{mode}")
    overrides = {**evaluation.overrides, **MODES[mode], "model_name_or_path": model}
    step = Step(f"evaluate_{evaluation.name}_{stage}_{mode}", evaluation.recipe, overrides, False, folder)
    if not step.recipe.is_file():
        raise ValueError(f"evaluate ({evaluation.name}): no such recipe file {step.recipe}")
    loaded = load_step(recipe.load, step, artifacts, check_only=check_only)
    if loaded.stage.name != "evaluate":
        raise ValueError(f"evaluate ({evaluation.name}): {step.recipe} is a `{loaded.stage.name}` recipe, "
                         "not an `evaluate` one")
    return step, loaded


def _references(value: Any) -> set[str]:
    """The stages ``value``'s ``${stage.key}`` references name."""
    return {match.group(1) for match in _REFERENCE.finditer(json.dumps(value))} - {"output_dir"}


def _evaluate(recipe, evaluation: Evaluation, stage: str, model: str, artifacts: dict) -> dict:
    """Run one evaluation of one model, in each of its modes: {mode: the metrics the table shows,
    with ``values``, one per question, for the paired tests} (on the main process; {} elsewhere)."""
    fresh = recipe.configs[0].fresh_process
    found = {}
    for mode in evaluation.modes():
        step, loaded = _evaluation_step(recipe, evaluation, stage, model, mode, artifacts)
        metrics = _run_once(step, loaded, fresh, recipe.configs[0].stage_wait_hours)["summary"]
        if is_main_process():
            samples = read_samples(step.output_dir / SAMPLES_FILE, loaded.configs[0].num_samples)
            values = question_values([samples[i] for i in sorted(samples)], evaluation.metric)
            found[mode] = {**{k: metrics.get(k) for k in ("pass@1", "format_rate", "num_questions")},
                           "mean_score": sum(values) / len(values) if evaluation.metric == "mean_score" else None,
                           "values": values}
    return found


def run(recipe) -> dict:
    (config,) = recipe.configs
    machine_checks(recipe)  # every stage's trackers and data, before the first one runs for hours
    out = Path(config.output_dir)
    artifacts: dict[str, Any] = {"output_dir": str(out)}
    evals = evaluations(config)
    rows: dict[str, dict] = {}
    models: dict[str, str] = {}  # stage -> the model it produced (START: the one the chain starts from)
    pending: list[tuple[Evaluation, str]] = []  # run once the stages their overrides name have run
    chain = steps(config)

    def evaluate_ready() -> None:
        for evaluation, stage in list(pending):
            if _references(evaluation.overrides) <= set(artifacts):
                pending.remove((evaluation, stage))
                rows[stage]["evaluations"][evaluation.name] = _evaluate(recipe, evaluation, stage, models[stage],
                                                                         artifacts)

    for i, step in enumerate(chain):
        stage_recipe = load_step(recipe.load, step, artifacts)
        if i == 0:  # the starting model, as a baseline
            models[START] = next(c.model_name_or_path for c in stage_recipe.configs
                                 if getattr(c, "model_name_or_path", None))
            rows[START] = _row(START, "-", None, {})
            pending += [(e, START) for e in evals if e.covers(START, True)]
            evaluate_ready()
        marker = _run_once(step, stage_recipe, config.fresh_process, config.stage_wait_hours)
        summary = marker["summary"]
        artifacts[step.name] = summary
        rows[step.name] = _row(step.name, marker["kind"], marker["seconds"], summary)
        if summary.get("model") and stage_recipe.stage.trains_a_language_model:
            models[step.name] = summary["model"]
            pending += [(e, step.name) for e in evals if e.covers(step.name, step.evaluate)]
        evaluate_ready()
    if pending:  # validated: cannot happen unless a stage produced no model
        raise ValueError(f"evaluate: never ran {', '.join(f'{e.name} of {s}' for e, s in pending)}")

    ordered = list(rows.values())
    compare(ordered, evals, {step.name: step.compare_to for step in chain})
    table = markdown(ordered, evals)
    if is_main_process():
        (out / SUMMARY_FILE).write_text(json.dumps(ordered, indent=2, default=str) + "\n")
        (out / TABLE_FILE).write_text(table + "\n")
        print("\n" + table + f"\n\nOutputs:\n  table    {out / TABLE_FILE}\n  summary  {out / SUMMARY_FILE}")
    return {"table": str(out / TABLE_FILE), "stages": len(chain)}


def _row(name: str, kind: str, seconds: float | None, summary: dict) -> dict:
    return {"stage": name, "kind": kind, "seconds": seconds,
            "metrics": {k: summary[k] for k in _HEADLINE if isinstance(summary.get(k), (int, float))},
            "evaluations": {}}


def compare(rows: list[dict], evals: list[Evaluation], compare_to: dict[str, str | None]) -> None:
    """Per evaluation and mode, each evaluated model against the one evaluated before it (or its
    stage's ``compare_to``): ``vs``, ``difference`` and the paired test's ``p`` added in place."""
    for evaluation in evals:
        evaluated = [row for row in rows if evaluation.name in row["evaluations"]]
        by_stage = {row["stage"]: row for row in evaluated}
        for before, row in zip([None, *evaluated], evaluated):
            other = by_stage.get(compare_to.get(row["stage"]) or "", before)
            if other is None:
                continue
            for mode, result in row["evaluations"][evaluation.name].items():
                base = other["evaluations"][evaluation.name].get(mode)
                if base and base.get("values") and result.get("values"):
                    difference, p = paired_test(base["values"], result["values"])
                    result.update(vs=other["stage"], difference=difference, p=p)


def markdown(rows: list[dict], evals: list[Evaluation] = ()) -> str:
    """The end-of-pipeline tables: per stage its wall time, key metrics and the first evaluation
    (each model against the one before it, paired test's p); then one table per other evaluation.

    >>> ev = [Evaluation("arith", Path("e.yaml"), {}, True, None, "pass@1")]
    >>> result = lambda p, values: {"pass@1": p, "format_rate": 1.0, "values": values}
    >>> rows = [{"stage": "start", "kind": "-", "seconds": None, "metrics": {},
    ...          "evaluations": {"arith": {"sampled": result(0.25, [0.25, 0.25]), "greedy": result(0.5, [0, 1])}}},
    ...         {"stage": "sft", "kind": "sft", "seconds": 90.0, "metrics": {"train_loss": 1.25},
    ...          "evaluations": {"arith": {"sampled": result(0.5, [0.5, 0.5]), "greedy": result(1.0, [1, 1])}}}]
    >>> compare(rows, ev, {})
    >>> print(markdown(rows, ev))
    | stage | kind | minutes | key metrics | pass@1 | Δ pass@1 (p) | greedy | Δ greedy (p) | format |
    |---|---|---|---|---|---|---|---|---|
    | start | - | - | - | 25.0 | - | 50.0 | - | 100.0 |
    | sft | sft | 1.5 | train_loss 1.25 | 50.0 | +25.0 vs start (p 0) | 100.0 | +50.0 vs start (p 1) | 100.0 |
    """
    main, others = (evals[0], evals[1:]) if evals else (None, [])
    header = ["stage", "kind", "minutes", "key metrics", *(_columns(main) if main else [])]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        metrics = ", ".join(f"{k} {_number(v)}" for k, v in row["metrics"].items()) or "-"
        minutes = "-" if row["seconds"] is None else f"{row['seconds'] / 60:.1f}"
        cells = [row["stage"], row["kind"], minutes, metrics, *(_cells(main, row) if main else [])]
        lines.append("| " + " | ".join(cells) + " |")
    for evaluation in others:
        header = ["stage", *_columns(evaluation)]
        lines += ["", f"{evaluation.name} ({evaluation.recipe.name}):", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join([row["stage"], *_cells(evaluation, row)]) + " |"
                  for row in rows if evaluation.name in row["evaluations"]]
    return "\n".join(lines)


def _columns(evaluation: Evaluation) -> list[str]:
    metric = evaluation.metric.replace("_", " ")
    columns = [metric, f"Δ {metric} (p)"]
    if evaluation.greedy:
        columns += ["greedy", "Δ greedy (p)"]
    return columns + (["format"] if evaluation.metric == "pass@1" else [])


def _cells(evaluation: Evaluation, row: dict) -> list[str]:
    results = row["evaluations"].get(evaluation.name)
    if results is None:
        return ["-"] * len(_columns(evaluation))
    percent = evaluation.metric == "pass@1"

    def value(v):
        return "-" if v is None else f"{100 * v:.1f}" if percent else f"{v:.3f}"

    def change(result):
        if "p" not in result:
            return "-"
        amount = f"{100 * result['difference']:+.1f}" if percent else f"{result['difference']:+.3f}"
        return f"{amount} vs {result['vs']} (p {result['p']:.2g})"

    cells = []
    for mode in evaluation.modes():
        result = results.get(mode, {})
        cells += [value(result.get(evaluation.metric)), change(result)]
    if percent:
        cells.append(value(results.get("sampled", {}).get("format_rate")))
    return cells


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.3g}"


def rehearsal(values: dict, path: Path, out: Path, scale_file, scale_overrides, notes: list) -> dict:
    """How ``rehearse`` rewrites a pipeline (trl_r1/rehearse/): each stage's recipe scaled into a
    file of its own (``scale_file(recipe_path, name, where) -> file name``), its overrides scaled
    (``scale_overrides(recipe_path, overrides, name, where)``), the evaluation recipe too, the
    outputs in ``out``; the pipeline's values for the rehearsal. What changed goes to ``notes``,
    as ``(where, field, was, now, why)``."""
    config = PipelineConfig(**{k: v for k, v in values.items() if k not in ("stage", "hardware")})
    config.base_dir = str(Path(path).parent)
    entries = []
    for step, entry in zip(steps(config), values["stages"], strict=True):
        file = scale_file(step.recipe, step.name, step.name)
        overrides = scale_overrides(step.recipe, dict(entry.get("overrides") or {}), step.name, f"{step.name} (pipeline)")
        entries.append({**entry, "recipe": file, "overrides": overrides})
    pipeline = {**values, "stages": entries, "output_dir": str(out)}
    notes.append(("pipeline", "output_dir", values.get("output_dir"), pipeline["output_dir"], ""))
    if values.get("evaluate"):
        specs = values["evaluate"] if isinstance(values["evaluate"], list) else [values["evaluate"]]
        scaled = []
        for i, spec in enumerate(specs):
            file = Path(path).parent / spec["recipe"]
            scaled.append({**spec, "recipe": scale_file(file, f"evaluate_{i}", "evaluate"),
                           "overrides": scale_overrides(file, dict(spec.get("overrides") or {}), f"evaluate_{i}",
                                                        "evaluate (pipeline)")})
        pipeline["evaluate"] = scaled if isinstance(values["evaluate"], list) else scaled[0]
    pipeline.pop("base_dir", None)
    if pipeline.pop("hardware", None) is not None:
        notes.append(("pipeline", "hardware", values["hardware"], None, "planned for GPUs (`plan`), not rehearsed"))
    return pipeline


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _barrier() -> None:

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


# Variables that make a process one rank of a torch.distributed job.
_DISTRIBUTED_ENV = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
                    "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID")


def child_command(step: Step, recipe, recipe_file: Path, summary_file: Path) -> tuple[list[str], dict[str, str]]:
    """The command and environment that run ``step`` in a fresh process. A training stage runs on
    every rank, and its processes form their own group on a port of their own (this process's
    group still holds ``MASTER_PORT``); a single-process stage runs as a job of one process."""
    env = dict(os.environ)
    # Under torchrun (what `accelerate launch` runs) the launcher's agent hosts the rendezvous store
    # and tells every rank so; nothing hosts one on a stage's own port, so rank 0 must (else every
    # rank waits for a store that never comes up).
    env.pop("TORCHELASTIC_USE_AGENT_STORE", None)
    if not recipe.stage.trains:  # a single process; under `accelerate launch` the others wait
        for key in _DISTRIBUTED_ENV:
            env.pop(key, None)
    elif "MASTER_PORT" in env:  # the same port on every rank, one per stage: its place in the chain
        env["MASTER_PORT"] = str(int(env["MASTER_PORT"]) + 1 + step.index)
    return [sys.executable, "-m", "trl_r1.run_stage", str(recipe_file), str(summary_file)], env


def _run_in_child(step: Step, recipe) -> tuple[dict, int]:
    """Run the step's recipe (as resolved here, written to a file) in a fresh process; its summary
    and the process id. The engines it built die with that process."""
    with tempfile.TemporaryDirectory(prefix=f"trl-r1-{step.name}-") as tmp:
        recipe_file, summary_file = Path(tmp) / "recipe.yaml", Path(tmp) / "summary.json"
        recipe_file.write_text(yaml.safe_dump(recipe.values, sort_keys=False))
        command, env = child_command(step, recipe, recipe_file, summary_file)
        process = subprocess.Popen(command, env=env)
        if process.wait() != 0:
            raise RuntimeError(f"[pipeline] stage {step.name!r} failed in its process (exit code {process.returncode}); "
                               "re-run the pipeline to resume it")
        found = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    return found, process.pid


def _wait_for_marker(step: Step, hours: float, since: float, poll: float) -> dict:
    """On a process other than the main one: the main process's marker of ``step``, once written.
    Stops with an error when the main process wrote that the stage failed (after ``since``, this
    process's wall clock when it began to wait) or after ``hours``."""
    deadline = time.monotonic() + hours * 3600
    failed = step.output_dir / FAILED_FILE
    while not step.done_file.is_file():
        if failed.is_file() and failed.stat().st_mtime >= since - 1:
            raise RuntimeError(f"[pipeline] stage {step.name!r} failed on the main process: "
                               f"{json.loads(failed.read_text()).get('error')}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"[pipeline] rank {os.environ.get('RANK')} waited {hours:g} h for stage {step.name!r}'s "
                               f"marker ({step.done_file}): the main process may have died. A stage that long needs a "
                               "larger `stage_wait_hours`")
        time.sleep(poll)
    return json.loads(step.done_file.read_text())


def _run_once(step: Step, recipe, fresh_process: bool = False, wait_hours: float = 48.0) -> dict:
    """Run a step unless its done-marker exists; return its marker (summary and wall time).

    Training stages run on every process (``accelerate launch``), which then meet at one barrier,
    whether the step ran or was skipped; in fresh processes they meet in the stage's own group
    only, and the other ranks then wait for the main process's marker (a barrier here that the
    main process alone reached hung `accelerate launch` after stage 1). Single-process kinds
    (``sample``, ``evaluate``) run on the main process only; the others wait for the marker file
    (no barrier: sampling can outlast a collective's timeout)."""
    single = not recipe.stage.trains
    if step.done_file.is_file():
        print(f"[pipeline] {step.name}: done before ({step.done_file}), skipped")
        if not single and not fresh_process:
            _barrier()
        return json.loads(step.done_file.read_text())
    if single and not is_main_process():
        return _wait_for_marker(step, wait_hours, time.time(), poll=5)
    print(f"[pipeline] {step.name}: running `{recipe.stage.name}` recipe {step.recipe} in {step.output_dir}")
    waiting_since, start = time.time(), time.monotonic()
    failed = step.output_dir / FAILED_FILE
    if is_main_process():
        failed.unlink(missing_ok=True)
    try:
        if fresh_process:
            summary, pid = _run_in_child(step, recipe)
        else:
            summary, pid = recipe.stage.run(recipe) or {}, os.getpid()
    except BaseException as error:
        if is_main_process():  # the other processes waiting for this stage's marker stop now, with the cause
            step.output_dir.mkdir(parents=True, exist_ok=True)
            failed.write_text(json.dumps({"name": step.name, "error": f"{type(error).__name__}: {error}"}) + "\n")
        raise
    marker = {"name": step.name, "kind": recipe.stage.name, "recipe": str(step.recipe),
              "seconds": round(time.monotonic() - start, 1), "pid": pid, "summary": summary}
    if is_main_process():
        step.output_dir.mkdir(parents=True, exist_ok=True)
        tmp = step.done_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(marker, indent=2, default=str) + "\n")
        tmp.replace(step.done_file)  # atomic: a marker is whole or absent
    if fresh_process and not is_main_process():  # the ranks' processes met at their stage's end; its marker follows
        _wait_for_marker(step, wait_hours, waiting_since, poll=1)
    elif not single and not fresh_process:
        _barrier()
    if not single or is_main_process():
        marker = json.loads(step.done_file.read_text())  # every process sees the main process's summary
    if not fresh_process:
        _free_memory()
    return marker


def _free_memory() -> None:

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
