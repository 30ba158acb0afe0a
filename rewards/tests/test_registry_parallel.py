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


def kill_when_reported(pid_file):
    """A started thread that SIGKILLs the worker whose pid ``sleep_and_report`` writes to ``pid_file``."""
    import os
    import signal
    import threading

    def kill():
        while not pid_file.exists() or not pid_file.read_text():
            time.sleep(0.01)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)

    killer = threading.Thread(target=kill)
    killer.start()
    return killer

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


def test_pool_cpu_deadline_interrupts_the_item_and_the_worker_lives():
    """A CPU-bound item past ``cpu_timeout`` is stopped by its own worker (SIGPROF), which then
    takes the next item: no kill, no interpreter restart."""
    from scoring_helpers import burn_cpu

    pool = WorkerPool(1)
    try:
        assert pool.map(burn_cpu, [0.0], timeout=30) == [0.0]
        workers = pool.pids
        start = time.monotonic()
        assert pool.map(burn_cpu, [30.0, 0.01], cpu_timeout=0.2, timeout=60) == [Failure.TIMEOUT, 0.01]
        assert time.monotonic() - start < 15
        assert pool.pids == workers
    finally:
        pool.close()


def test_pool_budget_bounds_a_whole_call():
    pool = WorkerPool(1)
    try:
        pool.map(abs, [1], timeout=5)
        start = time.monotonic()
        results = pool.map(time.sleep, [0.3] * 10, timeout=5, budget=1.0)
        assert time.monotonic() - start < 5
        assert results[0] is None and results[-1] is Failure.TIMEOUT
        assert pool.map(abs, [-2], timeout=5) == [2]  # the pool is whole again
    finally:
        pool.close()


def test_pool_worker_killed_mid_item_costs_that_item_only(tmp_path):

    from scoring_helpers import sleep_and_report

    pool = WorkerPool(2)
    try:
        pool.map(abs, [1, 2], timeout=5)
        victim = tmp_path / "victim"
        items = [(str(tmp_path / f"other{i}"), 0.05) for i in range(6)]
        items.insert(2, (str(victim), 30))

        killer = kill_when_reported(victim)
        start = time.monotonic()
        results = pool.map(sleep_and_report, items, timeout=60)
        killer.join()
        assert time.monotonic() - start < 20
        assert results[2] is Failure.CRASH
        assert all(isinstance(r, int) for i, r in enumerate(results) if i != 2)
        assert int(victim.read_text()) not in pool.pids and len(pool.pids) == 2
    finally:
        pool.close()


def test_pool_survives_a_replacement_that_dies_while_starting(tmp_path, monkeypatch):
    """A worker killed mid-item, then its replacement killed while starting: the call returns
    (the items nobody could score are crashes), and the next call starts a new worker."""

    from scoring_helpers import sleep_and_report

    poison = tmp_path / "poison"
    monkeypatch.setenv("TRL_R1_FRAGILE_WORKER", str(poison))
    pool = WorkerPool(1, preload=["fragile_worker"])
    try:
        pool.map(sleep_and_report, [(str(tmp_path / "first"), 0)], timeout=30)
        poison.write_text("")
        victim = tmp_path / "victim"

        killer = kill_when_reported(victim)
        results = pool.map(sleep_and_report, [(str(victim), 30), (str(tmp_path / "after"), 0)], timeout=60)
        killer.join()
        assert results == [Failure.CRASH, Failure.CRASH] and pool.pids == []
        poison.unlink()
        assert isinstance(pool.map(sleep_and_report, [(str(tmp_path / "again"), 0)], timeout=30)[0], int)
    finally:
        pool.close()
