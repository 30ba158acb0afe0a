"""The memory model: DeepSpeed's accounting for model states, measured peaks for activations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from trl_r1.plan import memory
from trl_r1.plan.hardware import GPUS, Hardware, gpu_kind
from trl_r1.plan.shapes import model_shape

REPO = Path(__file__).resolve().parents[2]
H100 = GPUS["H100-80GB"]
ZERO3 = Hardware(H100, gpus=8, distributed="DEEPSPEED", zero_stage=3)


def total(parts):
    return sum(p.bytes for p in parts)


def test_zero3_model_states_are_18_bytes_per_parameter_over_the_gpus_plus_the_gathered_largest_layer():
    shape = model_shape("Qwen/Qwen2.5-7B")
    assert total(memory.model_states(shape, ZERO3)) == 18 * shape.params / 8 + 4 * shape.largest_layer_params


@pytest.mark.engines  # runs where DeepSpeed is installed: the engines environment of .ci/run
def test_model_states_agree_with_deepspeeds_own_estimator_within_5_percent():
    from deepspeed.runtime.zero import stage3  # fails, not skips, without DeepSpeed (tests/conftest.py)

    for name in ("Qwen/Qwen2.5-7B", "meta-llama/Llama-3.3-70B-Instruct"):
        shape = model_shape(name)
        for offload in (False, True):
            hw = Hardware(H100, gpus=8, distributed="DEEPSPEED", zero_stage=3, offload_optimizer=offload,
                          offload_params=offload)
            _, ds, _ = stage3.estimate_zero3_model_states_mem_needs(
                shape.params, shape.largest_layer_params, num_gpus_per_node=8, cpu_offload=offload,
                cpu_offload_params=offload)
            assert abs(total(memory.model_states(shape, hw)) / ds - 1) < 0.05


def test_offloading_optimizer_and_parameters_leaves_only_the_gathered_layer_on_the_gpu():
    shape = model_shape("meta-llama/Llama-3.3-70B-Instruct")
    hw = Hardware(H100, gpus=8, distributed="DEEPSPEED", zero_stage=3, offload_optimizer=True, offload_params=True)
    assert total(memory.model_states(shape, hw)) == 4 * shape.largest_layer_params
    assert memory.host_memory_for_offload(shape, hw) == shape.params * 18 * 1.5


def test_gradient_checkpointing_keeps_far_less_than_every_layers_tensors():
    shape = model_shape("Qwen/Qwen2.5-7B")
    full = memory.activations(shape, 32768, checkpointing=False).bytes
    checkpointed = memory.activations(shape, 32768, checkpointing=True).bytes
    assert checkpointed < full / 5


def test_the_fused_loss_head_never_holds_the_full_logits():
    shape = model_shape("Qwen/Qwen2.5-7B")
    tokens = 64 * 34816
    assert memory.loss_head(shape, tokens, tokens).bytes < tokens * shape.vocab_size * 2 / 10


def test_a_gpu_is_a_known_kind_or_any_name_with_its_memory():
    assert gpu_kind("H100-80GB") is H100
    assert gpu_kind("RTX6000-96GB").memory_gib == 96.0  # an unlisted card: its memory, H100 speed
    with pytest.raises(ValueError, match="H100-80GB"):
        gpu_kind("a big one")


@pytest.mark.slow
def test_a_measured_peak_of_a_small_models_loss_pass_is_within_20_percent_of_the_estimate():
    # bench/plan_validation.py measures 3 sizes x 2 lengths x checkpointing; this is its smallest case
    sys.path.insert(0, str(REPO / "bench"))
    try:
        from plan_validation import shape_of
    finally:
        sys.path.pop(0)
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}
    for checkpointing in (False, True):
        out = subprocess.run([sys.executable, str(REPO / "bench/plan_validation.py"), "--one", "qwen2-30M", "256",
                              str(int(checkpointing))], capture_output=True, text=True, env=env, check=True, timeout=300)
        measured = float(out.stdout.strip().splitlines()[-1])
        shape = shape_of("qwen2-30M")
        estimate = (memory.activations(shape, 512, checkpointing, dtype_bytes=4).bytes
                    + memory.loss_head(shape, 512, 512, dtype_bytes=4, device="cpu").bytes)
        assert abs(estimate / measured - 1) < 0.20, (checkpointing, measured, estimate)
