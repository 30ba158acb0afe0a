"""Shared fixtures (the helpers themselves live in helpers.py, importable from any test)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import (  # noqa: F401  (re-exported)
    build_tiny_classifier,
    build_tiny_model,
    run_cli,
    tiny_recipe,
    write_recipe,
)


@pytest.fixture
def hub_api(monkeypatch):
    """``huggingface_hub.HfApi`` replaced by a recorder of the calls (``hub_api.calls``)."""
    import huggingface_hub
    from helpers import RecordingHubApi

    RecordingHubApi.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingHubApi)
    return RecordingHubApi


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama + tokenizer directory, built once per test session."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory) -> Path:
    """The tiny Llama as a random safe/unsafe classifier (``id2label`` {0: unsafe, 1: safe})."""
    return build_tiny_classifier(tmp_path_factory.mktemp("tiny-classifier"))


@pytest.fixture(scope="session")
def tiny_scorer(tmp_path_factory) -> Path:
    """The tiny Llama as a random 1-output reward model."""
    return build_tiny_classifier(tmp_path_factory.mktemp("tiny-scorer"), labels=None)
