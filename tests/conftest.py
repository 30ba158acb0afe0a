"""Shared fixtures (the helpers themselves live in helpers.py, importable from any test)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

if os.environ.get("PYTEST_XDIST_WORKER"):  # a worker of `pytest -n N`: the workers share the cores, one thread each
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # (several threads per worker on shared cores run slower, not faster)

import pytest  # noqa: E402
from helpers import (  # noqa: F401, E402  (re-exported)
    build_tiny_classifier,
    build_tiny_model,
    run_cli,
    tiny_recipe,
    write_recipe,
)
from tiny_models import tiny_classifier, tiny_scorer  # noqa: F401, E402  (fixtures, shared with rewards/tests)


ENGINES = ("vllm", "deepspeed")  # what an `engines`-marked test runs on (.ci/run's engines environment)


def pytest_runtest_setup(item):
    """An `engines` test FAILS where the engines cannot be imported: a skip would let a CI whose
    engines environment broke pass green with nothing run. The default run deselects these tests."""
    if item.get_closest_marker("engines") is None:
        return
    for name in ENGINES:
        try:
            importlib.import_module(name)
            continue
        except Exception as error:  # ImportError, or an engine broken at import (a mismatched torch)
            failure = f"{type(error).__name__}: {error}"
        pytest.fail(f"{item.nodeid} is marked `engines` but `import {name}` failed ({failure}). Run `-m engines` "
                    f"in the engines environment that .ci/run builds (pip install -e '.[dev,rehearse]'), or leave "
                    f"`-m engines` out.", pytrace=False)


@pytest.fixture
def hub_api(monkeypatch, tmp_path):
    """The Hub, recorded: the seam every stage asks (``trl_r1.train.hub.hub_api``) answers with a
    recorder writing under ``tmp_path``; its ``calls`` are what reached it."""
    from trl_r1.train.hub import RECORD_HUB_ENV, RecordingHub

    monkeypatch.setenv(RECORD_HUB_ENV, str(tmp_path / "recorded-hub"))
    return RecordingHub(tmp_path / "recorded-hub")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama + tokenizer directory, built once per test session."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


