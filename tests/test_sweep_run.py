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

from initlab.experiments import symmetry, train
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


def _run_killing(task: Task, times: int) -> tuple[list[Row], list[int]]:
    """Run ``task`` on a one-worker pool whose workers are killed as they start, ``times`` times."""
    stop = threading.Event()
    killed: list[int] = []
    with LocalExecutor(1) as ex:
        watcher = threading.Thread(target=_kill_workers, args=(ex, times, killed, stop))
        watcher.start()
        try:
            ((_, rows),) = list(ex.run([task]))
        finally:
            stop.set()
            watcher.join()
    return rows, killed


def test_a_task_whose_worker_dies_three_times_fails_and_one_that_dies_once_is_rerun() -> None:
    task = symmetry_task("slow", steps=400)
    rows, killed = _run_killing(task, 3)
    assert len(killed) == 3
    assert [(r.cell, r.status, r.error) for r in rows] == [("slow", "failed", DIED)]

    rows, killed = _run_killing(task, 1)
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


# --- the train experiment: models trained as one ensemble ----------------------------------------------------------


def train_config(**settings: Any) -> dict[str, Any]:
    """A cell's config of the train experiment (every setting written out, seed 0 and one seed)."""
    base = {"dataset": "circles", "depth": 2, "width": 4, "activation": "relu", "steps": 50, "record_every": 10}
    return asdict(train.Config(**{**base, **settings}))


def train_models() -> tuple[tuple[str, int, dict[str, Any]], ...]:
    """Twelve models of two small ensembles: circles 2 x 4 relu on the fused kernel, digits softmax mini-batches on
    the numpy path; each with two cells (learning rate, start) and three seeds."""
    circles = [train_config(lr=0.1), train_config(lr=0.3, weights="xavier_normal")]
    digits = [train_config(dataset="digits", width=8, batch_size=64, steps=20, lr=lr) for lr in (0.05, 0.2)]
    return tuple((f"{name}{k}", seed, config) for name, configs in (("c", circles), ("d", digits))
                 for k, config in enumerate(configs) for seed in range(3))  # fmt: skip


def chunked(models: tuple[tuple[str, int, dict[str, Any]], ...], size: int) -> list[Task]:
    """The models as tasks of at most ``size`` models, each task within one dataset's ensemble."""
    tasks = []
    for dataset in ("circles", "digits"):
        group = [m for m in models if m[2]["dataset"] == dataset]
        tasks += [Task("train", dataset, tuple(group[i : i + size])) for i in range(0, len(group), size)]
    return tasks


def test_a_train_task_gives_one_row_per_model_with_the_experiments_numbers() -> None:
    models = train_models()
    rows = run_task(Task("train", "all-circles", models[:6]))
    assert [(r.cell, r.seed, r.status) for r in rows] == [(m[0], m[1], "done") for m in models[:6]]
    alone = train.train_models([train.Config(**{**models[4][2], "seed": 1})])[0]
    assert bits(rows[4].metrics) == bits(alone.metrics)  # the seed is the model's: c1, seed 1
    assert rows[0].metrics["curve_steps"] == [0, 10, 20, 30, 40, 50]
    assert rows[0].metrics["loss_curve"][0] != rows[1].metrics["loss_curve"][0]  # seeds 0 and 1 start apart
    assert all(r.seconds == rows[0].seconds > 0 for r in rows)  # the task's wall time, shared


def test_rows_are_the_same_bits_however_the_models_are_chunked() -> None:
    models = train_models()
    one = {(r.cell, r.seed): outcome(r) for t in chunked(models, 1) for r in run_task(t)}
    every = {(r.cell, r.seed): outcome(r) for t in chunked(models, 6) for r in run_task(t)}
    assert len(one) == len(models) == 12
    assert one == every
    # negative control: a different learning rate is a different row
    other = run_task(Task("train", "x", ((models[0][0], 0, {**models[0][2], "lr": 0.1000001}),)))
    assert outcome(other[0]) != one[(models[0][0], 0)]


def test_a_model_that_raises_fails_alone_and_its_chunk_mates_train() -> None:
    good, wide = train_config(), train_config(width=3)  # width 3 is another ensemble: the chunk of both raises
    bad = {**good, "activation": "nope"}  # a config placed by hand that the experiment refuses
    rows = run_task(Task("train", "g", (("good", 0, good), ("bad", 0, bad), ("wide", 1, wide))))
    assert [(r.cell, r.status) for r in rows] == [("good", "done"), ("bad", "failed"), ("wide", "done")]
    assert rows[1].error is not None and rows[1].error.startswith("InitlabValueError: The 'activation' setting")
    assert rows[1].metrics == {} and rows[0].error is None and rows[2].error is None
    (alone,) = run_task(Task("train", "g", (("good", 0, good),)))
    assert outcome(rows[0]) == outcome(alone)  # re-run alone after the chunk raised: the same bits


def test_a_diverged_model_has_its_step_and_its_neighbours_train() -> None:
    ok = train_config(activation="linear")
    wild = train_config(activation="linear", lr=100.0, weights="randn(scale=10)")  # the same ensemble
    rows = run_task(Task("train", "g", (("ok", 0, ok), ("wild", 0, wild), ("ok", 1, ok))))
    assert [r.status for r in rows] == ["done", "diverged", "done"]
    assert rows[1].diverged_at == 6 and rows[0].diverged_at is None
    assert math.isnan(rows[1].metrics["final_loss"]) and math.isnan(rows[1].metrics["train_accuracy"])
    assert math.isfinite(rows[1].metrics["last_finite_loss"])
    assert rows[0].metrics["final_loss"] < rows[0].metrics["loss_curve"][0]  # the others learn
    (alone,) = run_task(Task("train", "g", (("ok", 1, ok),)))
    assert outcome(rows[2]) == outcome(alone)


@pytest.mark.slow  # a local cluster's start and each worker's first kernel take a while; test_sweep_kill's Dask
def test_dask_gives_the_in_process_bits() -> None:  # test checks the same bits in the default run
    from initlab.sweep._executors import DaskExecutor

    models = train_models()
    here = {(r.cell, r.seed): outcome(r) for t in chunked(models, 2) for r in run_task(t)}
    with DaskExecutor(local_workers=2) as ex:
        got = list(ex.run(chunked(models, 3)))
    dask = {(r.cell, r.seed): outcome(r) for _, rows in got for r in rows}
    assert len(here) == 12 and dask == here
    assert len({r.worker for _, rows in got for r in rows}) == 2  # both workers took tasks


# --- the driver: tasks journaled as they finish ---------------------------------------------------------------------

GRID = """
experiment = "train"
seeds = 3
[settings]
dataset = "circles"
depth = 2
width = 4
steps = 50
record_every = 10
[axes]
lr = [0.05, 0.1, 0.2]
weights = ["he_normal", "xavier_normal"]
"""
# circles on the fused kernel, digits (softmax, full batch) on the numpy path
TWO_PATHS = GRID.replace("[axes]", '[axes]\ndataset = ["circles", "digits"]').replace('dataset = "circles"\n', "")


def journal_rows(out: Any) -> dict[tuple[str, int], tuple[Any, ...]]:
    from initlab.sweep._journal import open_journal

    with open_journal(out) as view:
        rows = view.rows()
        assert view.integrity() == "ok"
    out_rows = {(r.cell, r.seed): outcome(r) for r in rows}
    assert len(out_rows) == len(rows)  # no model twice
    return out_rows


def test_a_sweep_journals_the_same_bits_whatever_ran_it(tmp_path: Any) -> None:
    from initlab.sweep import parse_grid
    from initlab.sweep._driver import Progress, run_sweep

    grid = parse_grid(TWO_PATHS)
    assert len(grid.models) == 36
    seen: list[Progress] = []
    with InProcessExecutor() as ex:
        final = run_sweep(grid, tmp_path / "a", executor=ex, memory_bytes=1, on_progress=seen.append)  # chunks of 1
    assert len(seen) == 36  # one call per task, one model each
    assert [p.finished for p in seen] == list(range(1, 37))
    assert seen[0].eta is not None and seen[0].eta > 0 and seen[-1].eta == 0.0
    assert (final.total, final.done, final.diverged, final.failed, final.missing_at_start) == (36, 36, 0, 0, 36)
    with LocalExecutor(2) as ex:
        run_sweep(grid, tmp_path / "b", executor=ex, memory_bytes=2**30)  # one chunk per dataset
    a, b = journal_rows(tmp_path / "a"), journal_rows(tmp_path / "b")
    assert len(a) == 36 and set(a) == set(grid.models)
    assert a == b
    direct = {(r.cell, r.seed): outcome(r) for dataset in ("circles", "digits") for r in run_task(Task("train", "g", tuple(
        (key, seed, {**grid.cell(key).config, "seed": seed}) for key, seed in grid.models
        if grid.cell(key).config["dataset"] == dataset)))}  # fmt: skip
    assert a == direct
    from initlab.sweep._journal import open_journal

    with open_journal(tmp_path / "b") as view:
        pids = {r.worker.rsplit(":", 1)[1] for r in view.rows()}
    assert pids and str(os.getpid()) not in pids  # the pool's rows came from its workers


class _Refuses:
    """An executor that must not be asked for anything."""

    def run(self, tasks: Any) -> Any:
        raise AssertionError(f"asked to run {len(tasks)} tasks")

    def close(self) -> None:
        pass


def test_a_finished_sweep_does_nothing_and_a_second_driver_gets_the_lock_error(tmp_path: Any) -> None:
    from initlab.sweep import parse_grid
    from initlab.sweep._driver import Progress, run_sweep
    from initlab.sweep._journal import SweepLockedError

    grid = parse_grid(GRID.replace("seeds = 3", "seeds = 1"))
    errors: list[str] = []

    def second_driver(p: Progress) -> None:  # while the first holds the lock
        if not errors:
            with pytest.raises(SweepLockedError) as e:
                run_sweep(grid, tmp_path, executor=_Refuses())
            errors.append(str(e.value))

    with InProcessExecutor() as ex:
        first = run_sweep(grid, tmp_path, executor=ex, memory_bytes=1, on_progress=second_driver)
    assert first.done == 6 and len(errors) == 1
    assert "is being written by another sweep" in errors[0] and f"pid {os.getpid()}" in errors[0]
    before = journal_rows(tmp_path)
    calls: list[Progress] = []
    t0 = time.perf_counter()
    again = run_sweep(grid, tmp_path, executor=_Refuses(), on_progress=calls.append)
    assert time.perf_counter() - t0 < 2 and calls == []
    assert (again.total, again.done, again.missing_at_start, again.eta) == (6, 6, 0, 0.0)
    assert journal_rows(tmp_path) == before


def test_failed_and_diverged_models_are_counted(tmp_path: Any) -> None:
    from initlab.sweep import parse_grid
    from initlab.sweep._driver import run_sweep

    grid = parse_grid(GRID.replace('weights = ["he_normal", "xavier_normal"]', "").replace("lr = [0.05, 0.1, 0.2]",
                      'lr = [0.1, 100.0]\nweights = ["he_normal", "randn(scale=10)"]\nactivation = ["linear"]'))  # fmt: skip
    with InProcessExecutor() as ex:
        final = run_sweep(grid, tmp_path, executor=ex)
    rows = journal_rows(tmp_path)
    statuses = sorted(o[2] for o in rows.values())
    assert (final.done, final.diverged, final.failed) == (statuses.count("done"), statuses.count("diverged"), 0)
    assert final.diverged >= 3  # lr 100 from randn(scale=10): every seed of that cell diverges


def test_retry_failed_runs_the_failed_models_again(tmp_path: Any) -> None:
    from initlab.sweep import parse_grid
    from initlab.sweep._driver import run_sweep
    from initlab.sweep._journal import open_for_run

    grid = parse_grid(GRID.replace("seeds = 3", "seeds = 1"))
    key, seed = grid.models[2]
    with open_for_run(tmp_path, grid, "by hand") as journal:  # one model failed in an earlier run
        journal.record([Row(key, seed, "failed", error="RuntimeError: out of luck")])
    with InProcessExecutor() as ex:
        first = run_sweep(grid, tmp_path, executor=ex)
        assert (first.done, first.failed, first.missing_at_start) == (5, 1, 5)
        assert journal_rows(tmp_path)[(key, seed)][2] == "failed"
        again = run_sweep(grid, tmp_path, executor=ex)  # without retry_failed: nothing to do
        assert (again.failed, again.missing_at_start) == (1, 0)
        retried = run_sweep(grid, tmp_path, executor=ex, retry_failed=True)
    assert (retried.done, retried.failed, retried.missing_at_start) == (6, 0, 1)
    (row,) = run_task(Task("train", "g", ((key, seed, {**grid.cell(key).config, "seed": seed}),)))
    assert journal_rows(tmp_path)[(key, seed)] == outcome(row)


def test_ctrl_c_kills_the_workers_keeps_the_rows_and_frees_the_folder(tmp_path: Any) -> None:
    from initlab.sweep import parse_grid
    from initlab.sweep._driver import Progress, run_sweep

    grid = parse_grid('experiment = "symmetry"\n[settings]\nsteps = 200\nseeds = 1\nwidths = [2, 4]\n'
                      "[axes]\nlr = [0.3, 0.6, 0.9, 1.2, 1.5, 1.8]")  # six whole runs of half a second  # fmt: skip
    workers: list[Any] = []

    def interrupt(p: Progress) -> None:
        workers.extend((getattr(ex._pool, "_processes", None) or {}).values())
        raise KeyboardInterrupt

    ex = LocalExecutor(2)
    t0 = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        run_sweep(grid, tmp_path, executor=ex, on_progress=interrupt)
    assert len(workers) == 2
    assert not any(p.is_alive() for p in workers)  # killed, not left to finish their tasks
    assert ex._pool is None
    assert time.perf_counter() - t0 < 30
    kept = journal_rows(tmp_path)
    assert len(kept) == 1  # the task that finished before Ctrl-C
    with InProcessExecutor() as here:  # the lock is free: the sweep resumes with the five others
        final = run_sweep(grid, tmp_path, executor=here)
    assert (final.missing_at_start, final.finished) == (5, 6)
    assert journal_rows(tmp_path)[next(iter(kept))] == next(iter(kept.values()))


def test_dask_without_distributed_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from initlab._validation import InitlabValueError
    from initlab.sweep._executors import DaskExecutor

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed raises ImportError
    with pytest.raises(InitlabValueError, match=r'^Running a sweep on Dask needs .*: pip install "initlab\[dask\]"\.$'):
        DaskExecutor(local_workers=2)


def test_a_worker_that_dies_between_tasks_costs_nothing() -> None:
    first, second = symmetry_task("first"), symmetry_task("second", widths=(2, 5))
    with LocalExecutor(1) as ex:
        ((_, rows),) = list(ex.run([first]))
        assert ex._pool is not None
        (idle,) = list(getattr(ex._pool, "_processes", {}).values())
        idle.kill()  # an idle worker dies (the out-of-memory killer, a user)
        idle.join()
        deadline = time.monotonic() + 10
        while not getattr(ex._pool, "_broken", False) and time.monotonic() < deadline:
            time.sleep(0.01)  # until the pool has seen it: the next submit then finds the pool broken
        assert getattr(ex._pool, "_broken", False)
        ((_, later),) = list(ex.run([second]))
    assert [r.status for r in rows + later] == ["done", "done"]
    assert [outcome(r) for r in later] == [outcome(r) for r in run_task(second)]
