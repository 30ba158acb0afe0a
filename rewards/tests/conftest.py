"""Fixtures of the rewards' tests; their helper modules (``scoring_helpers``, ``tiny_models``)
are importable by name: this folder is on ``pythonpath`` (rewards/pyproject.toml, and the
project's pyproject.toml, whose ``python -m pytest`` runs these tests too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import build_tiny_classifier


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory) -> Path:
    """The tiny Llama as a random safe/unsafe classifier (``id2label`` {0: unsafe, 1: safe})."""
    return build_tiny_classifier(tmp_path_factory.mktemp("tiny-classifier"))


@pytest.fixture(scope="session")
def tiny_scorer(tmp_path_factory) -> Path:
    """The tiny Llama as a random 1-output reward model."""
    return build_tiny_classifier(tmp_path_factory.mktemp("tiny-scorer"), labels=None)
