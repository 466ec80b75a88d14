"""Running a sweep: run_task, the executors (in-process, local pool, Dask) and the driver, on real runs."""

from __future__ import annotations

import json
import math
import os
import struct
import threading
import time
from dataclasses import asdict
from typing import Any

import pytest

from initlab.experiments import symmetry
from initlab.sweep import WHOLE_RUN, Row, Task
from initlab.sweep._executors import DIED, InProcessExecutor, LocalExecutor, run_task


def bits(value: Any) -> Any:
    """A metric value with every float replaced by its IEEE bits, so that == compares bit for bit (NaN included)."""
    if isinstance(value, list):
        return [bits(v) for v in value]
    if isinstance(value, dict):
        return {k: bits(v) for k, v in value.items()}
    if isinstance(value, float):
        return struct.unpack("<Q", struct.pack("<d", value))[0]
    return value


def outcome(row: Row) -> tuple[Any, ...]:
    """What a row says about its model (not where or how fast it ran), floats as bits."""
    return row.cell, row.seed, row.status, json.dumps(bits(row.metrics), sort_keys=True), row.diverged_at, row.error


def symmetry_task(key: str, steps: int = 20, widths: tuple[int, ...] = (2, 4)) -> Task:
    config = asdict(symmetry.Config(steps=steps, seeds=1, record_every=10, widths=widths))
    config["widths"] = list(config["widths"])  # as a cell keeps it: JSON-able
    config["constants"] = list(config["constants"])
    return Task("symmetry", key, ((key, WHOLE_RUN, config),))


def test_bits_tells_floats_apart_to_the_last_bit() -> None:
    # negative control for every bit-identity check below: one ulp apart is a difference, NaN equals NaN
    assert bits([0.1, float("nan")]) == bits([0.1, float("nan")])
    assert bits([1.0]) != bits([math.nextafter(1.0, 2.0)])
    assert bits(0.0) != bits(-0.0)


def test_a_whole_run_is_one_row_with_its_claims() -> None:
    (row,) = run_task(symmetry_task("c1"))
    assert (row.cell, row.seed, row.status, row.error) == ("c1", WHOLE_RUN, "done", None)
    claims = {k: v for k, v in row.metrics.items() if k.startswith("claim: ")}
    assert len(claims) == row.metrics["claims_total"] >= 3
    assert set(claims.values()) <= {0.0, 1.0}
    assert row.metrics["claims_held"] == sum(claims.values())
    assert row.metrics["all_claims_hold"] == float(all(claims.values()))
    # the lecture's claim: equal weights keep one distinct hidden unit
    assert row.metrics["claim: equal weights: one distinct hidden unit after training, at every width"] == 1.0
    assert row.seconds > 0 and row.worker == f"{os.uname().nodename}:{os.getpid()}"


def test_a_whole_run_that_raises_fails_with_its_error_in_one_line() -> None:
    good = symmetry_task("ok")
    bad_config = {**good.models[0][2], "hidden": "nope"}
    rows = run_task(Task("symmetry", "g", (("bad", WHOLE_RUN, bad_config), good.models[0])))
    assert [(r.cell, r.status) for r in rows] == [("bad", "failed"), ("ok", "done")]
    assert rows[0].error is not None and "\n" not in rows[0].error
    assert rows[0].error.startswith("InitlabValueError: The 'hidden' setting of symmetry must be one of")
    assert rows[0].metrics == {} and rows[1].error is None


def test_an_unknown_experiment_fails_every_model() -> None:
    rows = run_task(Task("nope", "g", (("a", 0, {}), ("b", 1, {}))))
    assert [(r.cell, r.seed, r.status) for r in rows] == [("a", 0, "failed"), ("b", 1, "failed")]
    assert all(r.error is not None and "must be one of" in r.error for r in rows)


def test_local_pool_gives_the_in_process_bits() -> None:
    tasks = [symmetry_task(f"c{k}", widths=(2, 3 + k)) for k in range(3)]
    with InProcessExecutor() as ex:
        here = {t.id: [outcome(r) for r in rows] for t, rows in ex.run(tasks)}
    with LocalExecutor(2) as ex:
        got = list(ex.run(tasks))
    assert sorted(t.id for t, _ in got) == sorted(here)
    assert {t.id: [outcome(r) for r in rows] for t, rows in got} == here
    workers = {r.worker for _, rows in got for r in rows}
    assert all(w.split(":")[1] != str(os.getpid()) for w in workers)  # they ran in other processes


def _kill_workers(ex: LocalExecutor, times: int, killed: list[int], stop: threading.Event) -> None:
    """Kill each new worker process of ``ex``'s pool as soon as it shows up, ``times`` times."""
    seen: set[int] = set()
    while len(killed) < times and not stop.is_set():
        pool = ex._pool
        procs = dict(getattr(pool, "_processes", None) or {}) if pool is not None else {}
        for pid, proc in procs.items():
            if pid not in seen and proc.is_alive():
                seen.add(pid)
                os.kill(pid, 9)
                killed.append(pid)
                break
        time.sleep(0.02)


def test_a_task_whose_worker_dies_three_times_fails_and_one_that_dies_once_is_rerun() -> None:
    task = symmetry_task("slow", steps=400)
    stop = threading.Event()
    killed: list[int] = []
    with LocalExecutor(1) as ex:
        watcher = threading.Thread(target=_kill_workers, args=(ex, 3, killed, stop))
        watcher.start()
        try:
            ((_, rows),) = list(ex.run([task]))
        finally:
            stop.set()
            watcher.join()
    assert len(killed) == 3
    assert [(r.cell, r.status, r.error) for r in rows] == [("slow", "failed", DIED)]

    killed.clear()
    stop.clear()
    with LocalExecutor(1) as ex:
        watcher = threading.Thread(target=_kill_workers, args=(ex, 1, killed, stop))
        watcher.start()
        try:
            ((_, rows),) = list(ex.run([task]))
        finally:
            stop.set()
            watcher.join()
    assert len(killed) == 1
    assert [(r.cell, r.status) for r in rows] == [("slow", "done")]
    assert [outcome(r) for r in rows] == [outcome(r) for r in run_task(task)]


def test_executor_arguments_are_checked() -> None:
    from initlab._validation import InitlabValueError
    from initlab.sweep._executors import DaskExecutor

    with pytest.raises(InitlabValueError, match=r"The 'workers' argument of LocalExecutor must be an int >= 1\. Got 0"):
        LocalExecutor(0)
    with pytest.raises(InitlabValueError, match="exactly one of 'scheduler'"):
        DaskExecutor()
    with pytest.raises(InitlabValueError, match=r"'local_workers' argument of DaskExecutor must be an int >= 1"):
        DaskExecutor(local_workers=0)


def test_an_unreachable_scheduler_is_one_line_within_the_timeout() -> None:
    from initlab._validation import InitlabValueError
    from initlab.sweep._executors import DaskExecutor

    t0 = time.perf_counter()
    with pytest.raises(InitlabValueError, match=r"The Dask scheduler tcp://127\.0\.0\.1:9 could not be reached") as e:
        DaskExecutor("tcp://127.0.0.1:9", connect_timeout=1.0)
    assert "\n" not in str(e.value)
    assert time.perf_counter() - t0 < 10
