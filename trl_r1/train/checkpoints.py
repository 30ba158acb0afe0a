"""Resuming an interrupted training stage: re-running its command continues from the newest
*complete* checkpoint (transformers writes ``trainer_state.json`` last, so a run killed mid-save
leaves a newest folder that cannot be loaded)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from .console import use_console


@dataclass
class ResumeArguments:
    """Args:
        auto_resume (`bool`, defaults to `True`):
            Resume from the last complete checkpoint in `output_dir` when there is one, so
            re-running an interrupted command continues instead of starting over.
    """

    auto_resume: bool = field(
        default=True, metadata={"help": "Resume from the last complete checkpoint in output_dir when there is one."})


_CHECKPOINT = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


def last_complete_checkpoint(output_dir: str | Path) -> Path | None:
    """The highest-step ``checkpoint-N`` folder that holds a ``trainer_state.json``.

    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for step, complete in [(2, True), (4, True), (6, False)]:
    ...     (root / f"checkpoint-{step}").mkdir()
    ...     _ = complete and (root / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    >>> last_complete_checkpoint(root).name
    'checkpoint-4'
    """
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    complete = [
        (int(match.group(1)), path)
        for path in output_dir.iterdir()
        if (match := _CHECKPOINT.match(path.name)) and (path / TRAINER_STATE_NAME).is_file()
    ]
    return max(complete)[1] if complete else None


def checkpoint_to_resume(args, announce=None) -> str | None:
    """What a training stage passes to ``Trainer.train(resume_from_checkpoint=...)``: the
    recipe's ``resume_from_checkpoint`` when set, else with ``auto_resume`` the last complete
    checkpoint in ``output_dir`` (None: start fresh). ``announce`` (e.g. the accelerator's
    ``print``) is told ``Resuming from <checkpoint>``."""
    checkpoint = args.resume_from_checkpoint
    if checkpoint is None and getattr(args, "auto_resume", False):
        found = last_complete_checkpoint(args.output_dir)
        checkpoint = str(found) if found else None
    if checkpoint and announce is not None:
        announce(f"Resuming from {checkpoint}")
    return checkpoint


def train_and_save(trainer, args, *, save_dir: str | Path | None = None, evaluate_first: bool = False):
    """What every training stage does with its trainer: resume (or start), train, save the model
    (to ``save_dir``, default ``output_dir``) and the trainer state. With ``evaluate_first`` a
    fresh start also evaluates the untrained model, inside ``train()`` once the engines are
    prepared (transformers' ``eval_on_start``): a ``trainer.evaluate()`` before ``train()`` leaves
    DeepSpeed's inference engine in place, and training then fails at its first backward pass.
    Returns (train output, that evaluation's metrics from the log history, so that a resumed run
    finds them too, or None)."""
    use_console(trainer)  # one line per logged step (`console_metrics`)
    checkpoint = checkpoint_to_resume(args, trainer.accelerator.print)
    if evaluate_first and not checkpoint:
        trainer.args.eval_on_start = True
    result = trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model(str(save_dir or args.output_dir))
    trainer.save_state()
    first = next((entry for entry in trainer.state.log_history
                  if entry.get("step") == 0 and any(key.startswith("eval_") for key in entry)), None)
    return result, first if evaluate_first else None


def on_main_process(trainer, summarize) -> dict:
    """``summarize()`` on the main process (cards, printing), ``{}`` elsewhere; then, once every
    process has reached the same point, the summary's Hub upload (``hub.UPLOAD``) on the main
    process alone: the others leave instead of waiting at a barrier that times out after
    ``ddp_timeout`` (30 min by default) while a large model uploads."""
    from .hub import UPLOAD

    summary = summarize() if trainer.accelerator.is_main_process else {}
    trainer.accelerator.wait_for_everyone()
    upload = summary.pop(UPLOAD, None)
    if upload is not None:
        summary["hub"] = str(upload())
        print(f"  pushed   {summary['hub']}")
    return summary
