"""What a rehearsal adds to the processes it launches (``-m trl_r1``, under ``accelerate launch``
too, and any process a pipeline starts for a stage): Hub uploads go to a local recorder
(``hub.jsonl`` and ``hub/<repo>/`` in the rehearsal folder), and every stage writes one line to
``parts.jsonl``: its kind, status, wall time and the engines it ran on. A ``sample`` stage
that kept none of the miniature model's samples, all wrong or unreadable, gets correct stand-in
rows, and keeping nothing for any other reason fails it (standins.correct_samples). Installed by
``trl_r1/__init__.py`` when ``$TRL_R1_REHEARSAL`` names a rehearsal folder; nothing else changes.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from . import HUB_FILE, PARTS_FILE, WORKDIR_ENV, standins


def _append(path: Path, entry: dict) -> None:
    with path.open("a") as f:
        f.write(json.dumps(entry, default=str) + "\n")


class LocalHub:
    """Stands in for ``huggingface_hub.HfApi``: uploads are copied under ``hub/<repo_id>/`` and
    each call is a line of ``hub.jsonl``."""

    root: Path

    def __init__(self, token=None, **_):
        pass

    def _record(self, method: str, repo_id: str, **details) -> None:
        _append(self.root / HUB_FILE, {"method": method, "repo_id": repo_id, **details})

    user = "rehearsal-user"  # the token's owner: a bare name is created under it, as the Hub does

    def create_repo(self, repo_id, **kwargs):
        """Answers as the Hub does: the repo's URL, whose ``repo_id`` carries the namespace."""
        from huggingface_hub import RepoUrl

        self._record("create_repo", repo_id, **{k: v for k, v in kwargs.items() if k in ("private", "repo_type")})
        return RepoUrl(f"https://huggingface.co/{repo_id if '/' in repo_id else f'{self.user}/{repo_id}'}")

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        target = self.root / "hub" / repo_id
        shutil.copytree(folder_path, target, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(*(kwargs.get("ignore_patterns") or [])))
        files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
        self._record("upload_folder", repo_id, files=files, repo_type=kwargs.get("repo_type"))
        return f"local://{repo_id}"

    def upload_file(self, *, repo_id, path_or_fileobj, path_in_repo, **kwargs):
        target = self.root / "hub" / repo_id / path_in_repo
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(path_or_fileobj, (str, os.PathLike)):
            shutil.copy(path_or_fileobj, target)
        else:
            target.write_bytes(path_or_fileobj if isinstance(path_or_fileobj, bytes) else path_or_fileobj.read())
        self._record("upload_file", repo_id, path_in_repo=path_in_repo, repo_type=kwargs.get("repo_type"))
        return f"local://{repo_id}/{path_in_repo}"


def engines(recipe) -> dict:
    """What a stage ran on: its processes and distribution (accelerate, DeepSpeed) and its
    generation engine, read from the accelerator state and the recipe's configuration."""
    found: dict = {}
    config = {k: v for c in recipe.configs for k, v in vars(c).items()}
    try:
        from accelerate.state import AcceleratorState, is_initialized

        if is_initialized():  # else AcceleratorState() would set one up
            state = AcceleratorState()
            found["distributed"] = str(state.distributed_type).split(".")[-1]
            found["processes"] = state.num_processes
            plugin = state.deepspeed_plugin  # the active one; None without DeepSpeed
            if plugin is not None:
                zero = plugin.deepspeed_config.get("zero_optimization", {})
                offload = [f"{part} -> {zero[key]['device']}" for part, key in
                           (("optimizer", "offload_optimizer"), ("parameters", "offload_param"))
                           if zero.get(key, {}).get("device") not in (None, "none")]
                found["deepspeed"] = f"ZeRO-{zero.get('stage')}" + (f", offload {', '.join(offload)}" if offload else "")
    except Exception as e:  # the record must never fail the stage it describes
        found["distributed_error"] = repr(e)
    if "use_vllm" in config:  # a stage that trains on its rollouts (grpo)
        found["rollouts"] = f"vLLM {config.get('vllm_mode')}" if config.get("use_vllm") else "transformers generate"
    if "backend" in config:  # a stage that generates with an engine of its choice (sample, evaluate)
        found["generation"] = config.get("backend")
    return found


def install() -> None:
    """Patch the Hub clients and ``Stage.run`` of this process (once)."""
    import datasets
    import huggingface_hub

    from ..stages import Stage

    if getattr(Stage, "_rehearsal", False):
        return
    workdir = Path(os.environ[WORKDIR_ENV])
    LocalHub.root = workdir
    huggingface_hub.HfApi = LocalHub

    def push_dataset(self, repo_id, **kwargs):
        self.save_to_disk(str(workdir / "hub" / repo_id))
        _append(workdir / HUB_FILE, {"method": "Dataset.push_to_hub", "repo_id": repo_id, "rows": len(self)})

    datasets.Dataset.push_to_hub = push_dataset
    original = Stage.run

    def run(self, recipe):
        start, status, note = time.time(), "failed", None
        try:
            summary = original(self, recipe)
            if (getattr(self.module, "REHEARSAL_CORRECT_SAMPLES", False)
                    and (found := standins.correct_samples(recipe.configs[0]))):
                stats, note = found  # `kept` stays the model's own count (0); the dataset's rows are stand-ins
                summary = {**summary, "general": stats["general"], "rows": stats["rows"],
                           "stand_in_rows": stats["kept"]}
            status = "ok"
            return summary
        except standins.RecipeDefect as e:
            note = str(e)
            raise
        finally:
            if int(os.environ.get("RANK", "0")) == 0:
                output_dir = next((c.output_dir for c in recipe.configs if hasattr(c, "output_dir")), "")
                _append(workdir / PARTS_FILE, {"part": Path(str(output_dir)).name, "kind": self.name, "status": status,
                                               "note": note, "start": start, "seconds": round(time.time() - start, 1),
                                               "engines": engines(recipe)})

    Stage.run = run
    Stage._rehearsal = True
    if os.environ.get("ACCELERATE_USE_DEEPSPEED") == "true":
        # DeepSpeed's handler filters at WARNING whatever the Trainer's log_level; let its own
        # INFO lines (ZeRO stage, offload, engine configuration) through to the rehearsal's log.
        import logging

        from deepspeed.utils import logger as deepspeed_logger

        for handler in deepspeed_logger.handlers:
            handler.setLevel(logging.INFO)
