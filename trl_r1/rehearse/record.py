"""What a rehearsal records of each stage it runs: one line of ``parts.jsonl`` in the rehearsal's
folder (its kind, status, wall time and the engines it ran on), written by the stage runner
(trl_r1/run_stage.py) in every process that ``rehearse`` launched (``-m trl_r1``, under
``accelerate launch`` too, and each stage process of a pipeline): ``$TRL_R1_REHEARSAL`` names the
folder. A ``sample`` stage that kept none of the miniature model's samples, all wrong or
unreadable, gets correct stand-in rows, and keeping nothing for any other reason fails it
(standins.correct_samples). Hub calls are recorded by the Hub seam (trl_r1/train/hub.py), not here.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from . import PARTS_FILE, standins


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


def run_recorded(recipe, folder: Path) -> dict:
    """Run the recipe's stage and record it in ``folder``'s ``parts.jsonl`` (main process), whether
    it succeeds or fails; a ``sample`` stage's stand-in rows are written here (see the module)."""
    stage, start, status, note = recipe.stage, time.time(), "failed", None
    if os.environ.get("ACCELERATE_USE_DEEPSPEED") == "true":
        _deepspeed_info_logged()
    try:
        summary = stage.run(recipe)
        if (getattr(stage.module, "REHEARSAL_CORRECT_SAMPLES", False)
                and (found := standins.correct_samples(recipe.configs[0]))):
            stats, note = found  # `kept` stays the model's own count (0); the dataset's rows are stand-ins
            summary = {**summary, "general": stats["general"], "rows": stats["rows"], "stand_in_rows": stats["kept"]}
        status = "ok"
        return summary
    except standins.RecipeDefect as e:
        note = str(e)
        raise
    finally:
        if int(os.environ.get("RANK", "0")) == 0:
            output_dir = next((c.output_dir for c in recipe.configs if hasattr(c, "output_dir")), "")
            line = {"part": Path(str(output_dir)).name, "kind": stage.name, "status": status, "note": note,
                    "start": start, "seconds": round(time.time() - start, 1), "engines": engines(recipe)}
            with (folder / PARTS_FILE).open("a") as f:
                f.write(json.dumps(line, default=str) + "\n")


def _deepspeed_info_logged() -> None:
    """DeepSpeed's handler filters at WARNING whatever the Trainer's log_level; a rehearsal lets its
    own INFO lines (ZeRO stage, offload, engine configuration) through to its log."""
    import logging

    from deepspeed.utils import logger as deepspeed_logger

    for handler in deepspeed_logger.handlers:
        handler.setLevel(logging.INFO)
