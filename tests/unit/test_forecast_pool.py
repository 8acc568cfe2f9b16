"""The forecast's worker pool: forked per call when no other thread runs, else a fork
server's pool started once per process and reused; heaviest tasks first, a broken pool
replaced, and the same numbers as fitting in-process either way."""

from __future__ import annotations

import os
import threading
import time

import pandas as pd
import pytest

import analytics.forecast as fc
from analytics.forecast import ForecastConfig, forecast_series, parallel_map, shutdown_pool
from tests.unit.test_forecast import frame, weekly

POOL = ForecastConfig(workers=2, uncertainty_samples=200, mp_context="forkserver")
FORK = ForecastConfig(workers=2, uncertainty_samples=200)  # the default: fork, no threads here


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _die(code: int) -> None:
    os._exit(code)


def test_the_pool_is_started_once_and_reused_across_calls() -> None:
    shutdown_pool()
    first = set(parallel_map(_pid_after, [0.3, 0.3, 0.3, 0.3], POOL))
    pool = fc._pool_state["pool"]
    second = set(parallel_map(_pid_after, [0.3, 0.3, 0.3, 0.3], POOL))
    assert fc._pool_state["pool"] is pool
    assert os.getpid() not in first
    assert second <= first and 1 <= len(first) <= 2
    shutdown_pool()
    assert "pool" not in fc._pool_state
    third = set(parallel_map(_pid_after, [0.3, 0.3], POOL))
    assert not third & first, "after shutdown_pool a new pool starts"
    shutdown_pool()


def test_one_worker_runs_in_process_without_a_pool() -> None:
    shutdown_pool()
    assert parallel_map(_pid_after, [0.0, 0.0], ForecastConfig(workers=1)) == [os.getpid()] * 2
    assert "pool" not in fc._pool_state


def test_a_broken_pool_is_not_handed_to_the_next_call() -> None:
    from concurrent.futures.process import BrokenProcessPool

    with pytest.raises(BrokenProcessPool):
        parallel_map(_die, [3, 3], POOL)
    assert "pool" not in fc._pool_state
    assert len(parallel_map(_pid_after, [0.0, 0.0], POOL)) == 2
    shutdown_pool()


def test_tasks_are_handed_out_heaviest_first_and_results_keep_task_order() -> None:
    assert fc._heaviest_first(4, [1.0, 5.0, 5.0, 2.0]) == [1, 2, 3, 0]
    assert fc._heaviest_first(3, None) == [0, 1, 2]
    with pytest.raises(ValueError):
        fc._heaviest_first(3, [1.0])
    out = parallel_map(_pid_after, [0.0, 0.2, 0.0, 0.1], POOL, weights=[0.0, 3.0, 1.0, 2.0])
    assert len(out) == 4 and all(isinstance(pid, int) for pid in out)
    shutdown_pool()


def test_a_reused_pool_gives_the_same_numbers_as_fitting_in_process() -> None:
    data = frame(
        org=weekly(100, growth=0.3),
        team__a=weekly(100, level=20.0, seed=2),
        team__b=weekly(100, level=8.0, noise=0.3, seed=5),
        team__short=weekly(20, start="2026-03-26", level=3.0, seed=6),
    )
    serial = forecast_series(data, config=ForecastConfig(workers=1, uncertainty_samples=200))
    for _ in range(2):  # the second call runs on the first call's workers
        pooled = forecast_series(data, config=POOL)
        pd.testing.assert_frame_equal(serial.daily, pooled.daily, check_exact=True)
        pd.testing.assert_frame_equal(serial.month_end, pooled.month_end, check_exact=True)
    methods = serial.month_end.set_index("series_id")["method"]
    assert methods["org"] == "prophet" and methods["team:short"] == "seasonal_naive"
    shutdown_pool()
    forked = forecast_series(data, config=FORK)
    pd.testing.assert_frame_equal(serial.daily, forked.daily, check_exact=True)
    pd.testing.assert_frame_equal(serial.month_end, forked.month_end, check_exact=True)


def test_workers_are_forked_per_call_unless_threads_run_then_the_fork_server_is_used() -> None:
    shutdown_pool()
    assert threading.active_count() == 1, [t.name for t in threading.enumerate()]
    assert fc._start_method(None) == "fork"
    assert fc._start_method("spawn") == "spawn"
    first = set(parallel_map(_pid_after, [0.2, 0.2, 0.2], FORK))
    assert "pool" not in fc._pool_state, "a forked pool is not kept"
    assert threading.active_count() == 1, "and its threads are gone"
    second = set(parallel_map(_pid_after, [0.2, 0.2, 0.2], FORK))
    assert os.getpid() not in first | second and not first & second

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert fc._start_method(None) == "forkserver"
        parallel_map(_pid_after, [0.0, 0.0], FORK)
        assert fc._pool_state["key"] == (2, None), "with a thread running: the lasting pool"
    finally:
        stop.set()
        other.join()
        shutdown_pool()
