"""The hardware a recipe is planned for: GPU kind and count, nodes, and the DeepSpeed/DDP setup.

A recipe names its hardware in a top-level ``hardware:`` mapping::

    hardware: {gpu: H100-80GB, accelerate_config: ../accelerate/zero3.yaml}

``gpu`` is a kind from ``GPUS`` (or any ``<name>-<N>GB``); ``accelerate_config`` (relative to the
recipe's file) gives the process count, nodes, ZeRO stage and offload; ``gpus`` sets the process
count where there is no accelerate config (``sample``/``evaluate`` run in one process).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

GiB = 1024**3


@dataclass(frozen=True)
class GPU:
    name: str
    memory_gib: float  # what torch reports as total memory
    bf16_tflops: float  # dense bf16 peak, from the vendor's data sheet
    bandwidth_tbs: float  # HBM bandwidth, TB/s


# Data sheets: NVIDIA H100 SXM (989 TFLOPS dense bf16, 3.35 TB/s), H200 SXM (989, 4.8 TB/s),
# A100 SXM (312, 2.0 TB/s); one-GPU cards: GeForce RTX 4090 (165 TFLOPS dense bf16 with fp32
# accumulation, 1.0 TB/s GDDR6X), L40S (362, 0.86 TB/s), RTX A6000 (155, 0.77 TB/s). Memory: what
# torch.cuda reports (an "80GB" H100 shows 79.1 GiB; a 4090 23.6, an L40S with ECC 44.4, an A6000 47.5).
GPUS = {
    "H100-80GB": GPU("H100-80GB", 79.1, 989.0, 3.35),
    "H200-141GB": GPU("H200-141GB", 139.8, 989.0, 4.8),
    "A100-80GB": GPU("A100-80GB", 79.1, 312.0, 2.0),
    "A100-40GB": GPU("A100-40GB", 39.4, 312.0, 1.55),
    "RTX4090-24GB": GPU("RTX4090-24GB", 23.6, 165.0, 1.0),
    "L40S-48GB": GPU("L40S-48GB", 44.4, 362.0, 0.86),
    "A6000-48GB": GPU("A6000-48GB", 47.5, 155.0, 0.77),
}
HARDWARE_KEYS = ("gpu", "gpus", "accelerate_config", "host_memory")


@dataclass(frozen=True)
class Hardware:
    gpu: GPU
    gpus: int = 1  # processes (one GPU each), all nodes together
    nodes: int = 1
    distributed: str = "NO"  # accelerate's distributed_type: NO, MULTI_GPU, DEEPSPEED
    zero_stage: int = 0
    offload_optimizer: bool = False
    offload_params: bool = False
    accelerate_config: str | None = None
    host_memory_gib: float | None = None  # CPU RAM per node, where ZeRO offload keeps its states

    @property
    def memory(self) -> float:
        return self.gpu.memory_gib * GiB

    def describe(self) -> str:
        setup = {"DEEPSPEED": f"DeepSpeed ZeRO-{self.zero_stage}", "MULTI_GPU": "DDP", "NO": "one process"}[self.distributed]
        offload = [what for what, on in (("optimizer", self.offload_optimizer), ("parameters", self.offload_params)) if on]
        if offload:
            setup += f", {' and '.join(offload)} offloaded to CPU"
        nodes = f" on {self.nodes} nodes" if self.nodes > 1 else ""
        return f"{self.gpus}x {self.gpu.name}{nodes}, {setup}" + (f" ({self.accelerate_config})" if self.accelerate_config else "")


def gpu_kind(text: str) -> GPU:
    """``H100-80GB`` (a known kind) or any ``NAME-<N>GB`` (memory only; H100 speed assumed).

    >>> gpu_kind("H200-141GB").memory_gib, gpu_kind("RTX6000-96GB").memory_gib
    (139.8, 96.0)
    """
    if text in GPUS:
        return GPUS[text]
    match = re.fullmatch(r"(.+?)-?(\d+(?:\.\d+)?)\s*GB", text.strip(), re.IGNORECASE)
    if not match:
        raise ValueError(f"gpu: {text!r} is not a GPU kind; use one of {', '.join(GPUS)} or NAME-<memory>GB")
    h100 = GPUS["H100-80GB"]
    return GPU(text, float(match.group(2)), h100.bf16_tflops, h100.bandwidth_tbs)


def from_accelerate_config(path: str | Path, gpu: GPU) -> Hardware:
    """Processes, nodes, ZeRO stage and offload from an ``accelerate launch --config_file`` YAML."""
    config = yaml.safe_load(Path(path).read_text()) or {}
    distributed = config.get("distributed_type", "NO")
    ds = config.get("deepspeed_config") or {}
    return Hardware(
        gpu=gpu,
        gpus=int(config.get("num_processes", 1)),
        nodes=int(config.get("num_machines", 1)),
        distributed=distributed if distributed in ("DEEPSPEED", "MULTI_GPU") else "NO",
        zero_stage=int(ds.get("zero_stage", 0)) if distributed == "DEEPSPEED" else 0,
        offload_optimizer=ds.get("offload_optimizer_device", "none") not in ("none", None),
        offload_params=ds.get("offload_param_device", "none") not in ("none", None),
        accelerate_config=str(path),
    )


def from_recipe(hardware: dict | None, recipe_path: str | Path | None) -> Hardware | None:
    """The recipe's ``hardware:`` mapping as a ``Hardware`` (None when the recipe names none)."""
    if not hardware:
        return None
    if not isinstance(hardware, dict) or "gpu" not in hardware:
        raise ValueError(f"hardware: a mapping with at least `gpu` (e.g. {{gpu: H100-80GB, accelerate_config: "
                         f"../accelerate/zero3.yaml}}), got {hardware!r}")
    unknown = set(hardware) - set(HARDWARE_KEYS)
    if unknown:
        raise ValueError(f"hardware: unknown key(s) {sorted(unknown)}; accepted: {', '.join(HARDWARE_KEYS)}")
    gpu = gpu_kind(str(hardware["gpu"]))
    result = Hardware(gpu=gpu)
    if hardware.get("accelerate_config"):
        base = Path(recipe_path).parent if recipe_path else Path.cwd()
        path = base / hardware["accelerate_config"]
        if not path.is_file():
            raise ValueError(f"hardware: accelerate_config {hardware['accelerate_config']!r}: no such file ({path})")
        result = from_accelerate_config(path, gpu)
        result = replace(result, accelerate_config=str(hardware["accelerate_config"]))
    if hardware.get("gpus"):
        result = replace(result, gpus=int(hardware["gpus"]))
    if hardware.get("host_memory"):
        result = replace(result, host_memory_gib=memory_gib(hardware["host_memory"], "host_memory"))
    return result


def memory_gib(value, field: str = "host_memory") -> float:
    """A memory size as GiB: a number (GiB) or text such as ``2TB``, ``1.5 TiB``, ``1024GB``
    (TB and GB read as TiB and GiB: the figures servers are sold with).

    >>> memory_gib("2TB"), memory_gib(512), memory_gib("1536 GiB")
    (2048.0, 512.0, 1536.0)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(T|G)i?B\s*", str(value), re.IGNORECASE)
    if not match:
        raise ValueError(f"hardware: {field} {value!r}: a size such as 2TB or 1024GB (per node)")
    return float(match.group(1)) * (1024 if match.group(2).upper() == "T" else 1)
