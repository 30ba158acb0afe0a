"""Sampling on every process of a launch: ``accelerate launch --num_processes 8 -m trl_r1
sample.yaml`` splits the prompts over the 8 GPUs instead of one sampling while seven idle.

The prompts to sample are cut into the same batches one process would make (a batch's seed is
its first prompt's index, so the samples do not depend on the launch's size) and the batches
are dealt to the processes in turn. Each process appends its questions to its own part file;
the main process waits for every part (bounded, with a clear error), then merges them into the
one samples file in question order. No collective runs: the processes only share the folder, so
a slow process never trips a communication timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def this_shard() -> Shard:
    """This process's place in the launch (``accelerate launch`` / torchrun set RANK, WORLD_SIZE,
    LOCAL_RANK); one process otherwise."""
    env = os.environ
    return Shard(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)))


def my_batches(todo: list[int], batch_size: int, shard: Shard) -> list[int]:
    """The questions of ``todo`` this process samples: every ``world``-th batch of ``batch_size``.

    >>> my_batches(list(range(10)), 2, Shard(1, 2)), my_batches(list(range(10)), 2, Shard(0, 1))
    ([2, 3, 6, 7], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    """
    batches = [todo[i:i + batch_size] for i in range(0, len(todo), batch_size)]
    return [q for batch in batches[shard.rank::shard.world] for q in batch]


@contextlib.contextmanager
def own_gpus(shard: Shard, gpus_per_process: int = 1) -> Iterator[None]:
    """While an engine starts: this process's GPUs alone visible (``LOCAL_RANK`` x ``gpus_per_process``
    onwards), so that 8 processes do not all load onto GPU 0; torch's current device too."""
    if shard.world == 1:
        yield
        return
    first = shard.local_rank * gpus_per_process
    before = os.environ.get("CUDA_VISIBLE_DEVICES")
    visible = before.split(",") if before else None
    chosen = [str(first + i) for i in range(gpus_per_process)]
    if visible is not None:
        chosen = [visible[int(i)] for i in chosen if int(i) < len(visible)]
    import torch

    if torch.cuda.is_available() and gpus_per_process == 1 and first < torch.cuda.device_count():
        torch.cuda.set_device(first)  # `generate` on "cuda" means the current device
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(chosen)  # what an engine's own processes see
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CUDA_VISIBLE_DEVICES", None)
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = before


def part_path(samples: Path, shard: Shard) -> Path:
    """Where a process of a multi-process launch appends its samples (the samples file itself
    with one process)."""
    return samples if shard.world == 1 else samples.with_name(f"{samples.stem}.part{shard.rank}-of-{shard.world}.jsonl")


def finish_part(samples: Path, shard: Shard) -> None:
    """Say this process's part is complete (a marker beside it)."""
    if shard.world > 1:
        part_path(samples, shard).with_suffix(".done").write_text("")


def merge_parts(samples: Path, shard: Shard, timeout_s: float, poll_s: float = 2.0) -> None:
    """On the main process: wait until every process's part is complete (at most ``timeout_s``),
    then append the parts to ``samples`` in question order and remove them."""
    if shard.world == 1:
        return
    parts = [part_path(samples, Shard(rank, shard.world)) for rank in range(shard.world)]
    deadline = time.monotonic() + timeout_s
    while missing := [p for p in parts if not p.with_suffix(".done").is_file()]:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"sampling: {len(missing)} of {shard.world} processes did not finish within {timeout_s:.0f} s "
                f"({', '.join(p.name for p in missing)} unfinished; see their logs). Their finished questions are "
                "kept: re-run the same command to resume, or raise `merge_timeout_s`")
        time.sleep(poll_s)
    rows = [json.loads(line) for p in parts if p.is_file() for line in p.read_text().splitlines() if line.strip()]
    rows.sort(key=lambda row: row["question"])  # stable: a question's rows keep their order
    with samples.open("a") as out:
        out.write("".join(json.dumps(row) + "\n" for row in rows))
    for p in parts:
        p.unlink(missing_ok=True)
        p.with_suffix(".done").unlink(missing_ok=True)
