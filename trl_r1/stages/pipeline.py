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
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import yaml

from ..recipe_checks import RecipeError, check_machine_for, read_yaml

DONE_FILE, SUMMARY_FILE, TABLE_FILE = "stage_done.json", "pipeline.json", "pipeline.md"
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
        evaluate (`dict`, *optional*): `{recipe, overrides}`: an `evaluate` recipe run on the
            starting model and after every `sft`/`grpo` stage (on the main process).
        fresh_process (`bool`, defaults to `True`): run each stage in a process of its own, so that
            its engines (vLLM, DeepSpeed) and their memory are gone before the next one starts.
    """

    stages: list[dict] = field(default_factory=list, metadata={"help": "Stages in order: {name, recipe, overrides, evaluate}."})
    output_dir: str = field(default="outputs/pipeline", metadata={"help": "Folder of the stages' outputs and the table."})
    evaluate: dict | None = field(
        default=None, metadata={"help": "{recipe, overrides}: evaluation run on the start model and each trained model."})
    base_dir: str | None = field(
        default=None, metadata={"help": "Folder the stage recipe paths are relative to (default: the pipeline file's)."})
    fresh_process: bool = field(
        default=True, metadata={"help": "Run each stage in a process of its own (its engines' memory is freed at exit)."})


ARGUMENTS = (PipelineConfig,)


@dataclass
class Step:
    """One stage of the chain, resolved: its recipe file, overrides and folder."""

    name: str
    recipe: Path
    overrides: dict[str, Any]
    evaluate: bool
    output_dir: Path

    @property
    def done_file(self) -> Path:
        return self.output_dir / DONE_FILE


def prepare(values: dict, path: Path | None) -> dict:
    """Called by the recipe loader: stage recipe paths become relative to the pipeline's file."""
    if path is not None and values.get("base_dir") is None:
        values = {**values, "base_dir": str(Path(path).resolve().parent)}
    return values


def steps(config: PipelineConfig) -> list[Step]:
    base = Path(config.base_dir or ".")
    out = Path(config.output_dir)
    result, seen = [], set()
    for i, entry in enumerate(config.stages):
        if not isinstance(entry, dict) or "name" not in entry or "recipe" not in entry:
            raise ValueError(f"stages[{i}]: each stage is a mapping with `name` and `recipe`, got {entry!r}")
        unknown = set(entry) - {"name", "recipe", "overrides", "evaluate"}
        if unknown:
            raise ValueError(f"stages[{i}] ({entry['name']}): unknown key(s) {sorted(unknown)}; "
                             "accepted: name, recipe, overrides, evaluate")
        name = str(entry["name"])
        if not _NAME.match(name) or name == "output_dir":
            raise ValueError(f"stages[{i}]: name {name!r} must be an identifier (letters, digits, _), not output_dir")
        if name in seen:
            raise ValueError(f"stages[{i}]: two stages are named {name!r}")
        seen.add(name)
        overrides = dict(entry.get("overrides") or {})
        target = Path(str(overrides.get("output_dir") or out / name))
        result.append(Step(name, base / entry["recipe"], overrides, bool(entry.get("evaluate", True)), target))
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
    steps(config)


def check(recipe) -> None:
    """Every stage's recipe and the evaluation recipe load (as a check sees them)."""
    stage_recipes(recipe)
    if recipe.configs[0].evaluate is not None:
        _evaluation(recipe, "start", "model", check_only=True)


def machine_checks(recipe) -> None:
    """Every stage's trackers installed and local data present, or written by an earlier stage."""
    built = []
    for step, stage_recipe in stage_recipes(recipe):
        try:
            check_machine_for(stage_recipe.configs, built)
        except ValueError as e:
            raise ValueError(f"stage {step.name!r}: {e}") from None
        built += stage_recipe.stage.artifacts(step.output_dir).values()


def _evaluation(recipe, name: str, model: str, check_only: bool = False):
    config = recipe.configs[0]
    spec = dict(config.evaluate or {})
    unknown = set(spec) - {"recipe", "overrides"}
    if "recipe" not in spec or unknown:
        raise ValueError(f"evaluate: a mapping with `recipe` and optional `overrides`, got {config.evaluate!r}")
    step = Step(f"evaluate_{name}", Path(config.base_dir or ".") / spec["recipe"],
                {**(spec.get("overrides") or {}), "model_name_or_path": model}, False,
                Path(config.output_dir) / "eval" / name)
    if not step.recipe.is_file():
        raise ValueError(f"evaluate: no such recipe file {step.recipe}")
    evaluation = load_step(recipe.load, step, {"output_dir": config.output_dir}, check_only=check_only)
    if evaluation.stage.name != "evaluate":
        raise ValueError(f"evaluate: {step.recipe} is a `{evaluation.stage.name}` recipe, not an `evaluate` one")
    return step, evaluation


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
        spec = dict(values["evaluate"])
        pipeline["evaluate"] = {**spec, "recipe": scale_file(Path(path).parent / spec["recipe"], "evaluate", "evaluate")}
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
    elif "MASTER_PORT" in env:  # the same port on every rank: derived from the stage's name
        env["MASTER_PORT"] = str(int(env["MASTER_PORT"]) + 1 + zlib.crc32(step.name.encode()) % 997)
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


def _run_once(step: Step, recipe, fresh_process: bool = False) -> dict:
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
        while not step.done_file.is_file():
            time.sleep(5)
        return json.loads(step.done_file.read_text())
    print(f"[pipeline] {step.name}: running `{recipe.stage.name}` recipe {step.recipe} in {step.output_dir}")
    start = time.monotonic()
    if fresh_process:
        summary, pid = _run_in_child(step, recipe)
    else:
        summary, pid = recipe.stage.run(recipe) or {}, os.getpid()
    marker = {"name": step.name, "kind": recipe.stage.name, "recipe": str(step.recipe),
              "seconds": round(time.monotonic() - start, 1), "pid": pid, "summary": summary}
    if is_main_process():
        step.output_dir.mkdir(parents=True, exist_ok=True)
        tmp = step.done_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(marker, indent=2, default=str) + "\n")
        tmp.replace(step.done_file)  # atomic: a marker is whole or absent
    if fresh_process:  # the ranks' processes met at their stage's end; the main process's marker follows
        while not step.done_file.is_file():
            time.sleep(1)
    elif not single:
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


def _evaluate(recipe, name: str, model: str) -> dict | None:
    config = recipe.configs[0]
    if config.evaluate is None:
        return None
    return _run_once(*_evaluation(recipe, name, model), fresh_process=config.fresh_process)["summary"]


def run(recipe) -> dict:
    (config,) = recipe.configs
    machine_checks(recipe)  # every stage's trackers and data, before the first one runs for hours
    out = Path(config.output_dir)
    artifacts: dict[str, Any] = {"output_dir": str(out)}
    rows = []
    chain = steps(config)
    for i, step in enumerate(chain):
        stage_recipe = load_step(recipe.load, step, artifacts)
        if i == 0 and config.evaluate is not None:  # the starting model, as a baseline
            start_model = next(c.model_name_or_path for c in stage_recipe.configs if getattr(c, "model_name_or_path", None))
            rows.append(_row("start", "-", None, {}, _evaluate(recipe, "start", start_model)))
        marker = _run_once(step, stage_recipe, fresh_process=config.fresh_process)
        summary = marker["summary"]
        artifacts[step.name] = summary
        evaluation = None
        if step.evaluate and stage_recipe.stage.trains_a_language_model and summary.get("model"):
            evaluation = _evaluate(recipe, step.name, summary["model"])
        rows.append(_row(step.name, marker["kind"], marker["seconds"], summary, evaluation))

    table = markdown(rows)
    if is_main_process():
        (out / SUMMARY_FILE).write_text(json.dumps(rows, indent=2, default=str) + "\n")
        (out / TABLE_FILE).write_text(table + "\n")
        print("\n" + table + f"\n\nOutputs:\n  table    {out / TABLE_FILE}\n  summary  {out / SUMMARY_FILE}")
    return {"table": str(out / TABLE_FILE), "stages": len(chain)}


def _row(name: str, kind: str, seconds: float | None, summary: dict, evaluation: dict | None) -> dict:
    return {"stage": name, "kind": kind, "seconds": seconds,
            "metrics": {k: summary[k] for k in _HEADLINE if isinstance(summary.get(k), (int, float))},
            "pass@1": (evaluation or {}).get("pass@1"), "format_rate": (evaluation or {}).get("format_rate")}


def markdown(rows: list[dict]) -> str:
    """The end-of-pipeline table: per stage, its wall time, key metrics and evaluation.

    >>> print(markdown([{"stage": "sft", "kind": "sft", "seconds": 90.0, "metrics": {"train_loss": 1.25},
    ...                  "pass@1": 0.5, "format_rate": 0.25}]))
    | stage | kind | minutes | key metrics | pass@1 | format |
    |---|---|---|---|---|---|
    | sft | sft | 1.5 | train_loss 1.25 | 50.0 | 25.0 |
    """
    lines = ["| stage | kind | minutes | key metrics | pass@1 | format |", "|---|---|---|---|---|---|"]
    for row in rows:
        metrics = ", ".join(f"{k} {_number(v)}" for k, v in row["metrics"].items()) or "-"
        minutes = "-" if row["seconds"] is None else f"{row['seconds'] / 60:.1f}"
        scores = ["-" if row[k] is None else f"{100 * row[k]:.1f}" for k in ("pass@1", "format_rate")]
        lines.append(f"| {row['stage']} | {row['kind']} | {minutes} | {metrics} | {' | '.join(scores)} |")
    return "\n".join(lines)


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.3g}"
