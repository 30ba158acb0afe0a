"""Fixtures of the rewards' tests; their helper modules (``scoring_helpers``, ``tiny_models``)
are importable by name: this folder is on ``pythonpath`` (rewards/pyproject.toml, and the
project's pyproject.toml, whose ``python -m pytest`` runs these tests too)."""

from __future__ import annotations

from tiny_models import tiny_classifier, tiny_scorer  # noqa: F401  (fixtures, shared with tests/)
