"""Held-out evaluation while a policy trains (TRL's ``eval_strategy``, verl's ``test_freq``): every N
optimizer steps the live policy answers an `evaluate` recipe's questions through transformers'
``generate`` (:meth:`TransformersBackend.for_model`), scored as the evaluate stage scores
(:func:`trl_r1.generation.evaluation.evaluate_policy`), logged as ``eval/<metric>``.

It never changes the training: the random states (Python, NumPy, torch on CPU and every GPU) are
saved before and restored after, the model's train/eval mode is put back, no gradient is kept,
and the metrics go through ``transformers.Trainer.log`` itself, around GRPOTrainer's ``log``,
which would otherwise take (and clear) the step's training metrics with them. A colocated vLLM
engine is not used: its weights are the last synced ones, not the live policy's, and waking it
between steps is not exact under sleep mode; generation with transformers is slower, not wrong.
"""

from __future__ import annotations

import contextlib
import random
import tempfile
from pathlib import Path

from transformers import Trainer, TrainerCallback

EVAL_PREFIX = "eval/"
SAMPLES_DIR = "eval/during"  # under the output folder: step-<N>/samples.jsonl


@contextlib.contextmanager
def preserved_random_state():
    """Within: use any random generator; after: Python's, NumPy's and torch's (CPU and every CUDA
    device) are where they were.

    >>> import torch
    >>> _ = torch.manual_seed(0); first = torch.rand(1)
    >>> _ = torch.manual_seed(0)
    >>> with preserved_random_state():
    ...     _ = torch.rand(5), random.random()
    >>> bool(torch.rand(1) == first)
    True
    """
    import numpy as np
    import torch

    python, numpy, cpu = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        random.setstate(python)
        np.random.set_state(numpy)
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def logged_metrics(metrics: dict) -> dict[str, float]:
    """An evaluation's numeric metrics as ``eval/<name>``.

    >>> logged_metrics({"benchmark": "arithmetic", "pass@1": 0.5, "num_samples": 4, "settings": {}})
    {'eval/pass@1': 0.5, 'eval/num_samples': 4}
    """
    return {f"{EVAL_PREFIX}{k}": v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


class PeriodicEvaluation(TrainerCallback):
    """Evaluates ``trainer``'s policy on ``config`` (an `EvalConfig`) every ``every`` optimizer
    steps; the samples of step N go to ``output_dir/eval/during/step-N/samples.jsonl``.

    Every process generates the whole evaluation (DeepSpeed ZeRO-3 gathers the weights on all of
    them); the main process writes the samples and logs the metrics.
    """

    def __init__(self, trainer, config, every: int, output_dir: str | Path):
        if every < 1:
            raise ValueError(f"eval_every_steps: a number of optimizer steps >= 1, got {every}")
        self.trainer, self.config, self.every, self.output_dir = trainer, config, every, Path(output_dir)
        self._scorer = None

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.every:
            return
        metrics = self.evaluate(state.global_step)
        should_log = control.should_log  # logging resets it, which would drop this step's training log
        Trainer.log(self.trainer, logged_metrics(metrics))  # not GRPOTrainer.log: see the module docstring
        control.should_log = should_log
        return control

    def evaluate(self, step: int) -> dict:
        """The live policy's evaluation metrics now (:func:`evaluate_policy`)."""
        import torch
        from trl.models.utils import unwrap_model_for_generation

        from ..generation.backends import TransformersBackend
        from ..generation.evaluation import evaluate_policy, scorer_of

        trainer = self.trainer
        if self._scorer is None:
            self._scorer = scorer_of(self.config)
        main = trainer.accelerator.is_main_process
        with contextlib.ExitStack() as stack:
            folder = self.output_dir / SAMPLES_DIR / f"step-{step}" if main else Path(stack.enter_context(
                tempfile.TemporaryDirectory()))
            stack.enter_context(preserved_random_state())
            stack.enter_context(torch.no_grad())
            model = stack.enter_context(unwrap_model_for_generation(
                trainer.model_wrapped, trainer.accelerator, gather_deepspeed3_params=trainer.args.ds3_gather_for_generation,
                gradient_checkpointing_kwargs=trainer.args.gradient_checkpointing_kwargs))
            model = model.get_base_model() if hasattr(model, "get_base_model") else model  # PEFT: adapters active
            training = model.training
            model.eval()
            try:
                return evaluate_policy(self.config, TransformersBackend.for_model(model, trainer.processing_class),
                                       folder / "samples.jsonl", self._scorer)
            finally:
                model.train(training)
