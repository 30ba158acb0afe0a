"""Finding rewards by name; the worker pool's deadlines; doctests of every module."""

import time

import pytest
from trl_r1_rewards import (
    RewardConflictError,
    RewardNotFoundError,
    available_rewards,
    load_reward,
)
from trl_r1_rewards.parallel import Failure, WorkerPool, shared_pool


def test_builtin_rewards_load_by_name():
    assert {"accuracy", "format", "language_consistency"} <= set(available_rewards())
    assert load_reward("format").__name__ == "format"


def test_unknown_name_lists_available():
    with pytest.raises(RewardNotFoundError, match="Did you mean 'accuracy'.*language_consistency"):
        load_reward("acuracy")


def test_bad_option_lists_accepted():
    with pytest.raises(TypeError, match="tempalte.*template='zero'"):
        load_reward("format", tempalte="r1")


def test_duplicate_name_names_both_distributions(tmp_path, monkeypatch):
    dist = tmp_path / "evil_rewards-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: evil-rewards\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[trl_r1.rewards]\naccuracy = evil_rewards:Accuracy\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RewardConflictError, match="(?s)evil-rewards.*trl-r1-rewards|trl-r1-rewards.*evil-rewards"):
        load_reward("accuracy")


def test_pool_deadline_kills_only_the_late_item():
    pool = WorkerPool(2)
    try:
        start = time.monotonic()
        assert pool.map(time.sleep, [0.0, 30, 0.0], timeout=1.0) == [None, Failure.TIMEOUT, None]
        assert time.monotonic() - start < 10
        assert pool.map(abs, [-3], timeout=5) == [3]  # the killed worker was replaced
    finally:
        pool.close()


def test_pool_reports_exceptions_and_runs_in_process():
    assert WorkerPool(0).map(int, ["1", "x"], timeout=1) == [1, Failure.CRASH]


def test_shared_pools_are_per_preload():
    """Workers import their ``preload`` before any item's deadline starts: a pool asked for with
    other modules to preload is another pool, not one whose workers lack them."""
    plain = shared_pool(1)
    assert shared_pool(1) is plain
    assert shared_pool(1, preload=["json"]) is not plain and shared_pool(1, preload=["json"]) is shared_pool(1, preload=["json"])
