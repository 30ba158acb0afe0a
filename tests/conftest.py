"""Shared fixtures (the helpers themselves live in helpers.py, importable from any test)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import build_tiny_model, run_cli, tiny_recipe, write_recipe  # noqa: F401  (re-exported)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random Llama + tokenizer directory, built once per test session."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))
