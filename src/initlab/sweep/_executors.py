"""Where a sweep's tasks run: in this process, in a local process pool, or on a Dask cluster.

:func:`run_task` is what a worker runs: the models of one :class:`~initlab.sweep.Task` (one
ensemble of a per-model experiment, or one whole run of any other), one :class:`~initlab.sweep.Row`
per model.  It never raises for a model's sake: a model whose code raises ends ``failed`` with
its error, a model whose loss stops being finite ends ``diverged`` with the step.

Every executor has the same face (:class:`Executor`): ``run(tasks)`` yields ``(task, rows)`` as
tasks finish, in any order, and ``close()`` lets go of its workers.  A task's rows do not
depend on the executor that ran it nor on what else ran beside it: each model is trained from
its own seed by a backend chosen from its config alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import socket
import time
import uuid
import warnings
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from types import ModuleType, TracebackType
from typing import Any, Protocol

from .._validation import InitlabValueError
from ..experiments import declared
from ._grid import experiment_module
from ._types import WHOLE_RUN, Row, Task

__all__ = ["DIED", "TRIES", "DaskExecutor", "Executor", "InProcessExecutor", "LocalExecutor", "failed_rows",
           "run_task"]  # fmt: skip

#: how many times a task may take its worker down with it before its models are marked failed
TRIES = 3
#: the error of a model whose task's worker died every time it ran it
DIED = f"the worker died while running it ({TRIES} tries)"


def _error(exc: BaseException) -> str:
    """An exception in one line: its type and the first line of its message."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _config(module: ModuleType, config: dict[str, Any], seed: int | None = None) -> Any:
    """``module.Config`` from a cell's JSON-able config (lists back to tuples); ``seed`` is a per-model seed."""
    values = dict(config)
    for s in declared(module.Config):
        if s.is_tuple and isinstance(values.get(s.name), list):
            values[s.name] = tuple(values[s.name])
    if seed is not None:
        values["seed"], values["seeds"] = seed, 1
    return module.Config(**values)


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _value(v: Any) -> Any:
    """A metric value as the journal keeps it: a float (an int stays an int, e.g. a step), or a list of them.

    >>> import numpy as np
    >>> _value(np.float64(0.5)), _value(np.arange(2)), _value(True), _value((1, 2.5))
    (0.5, [0, 1], 1.0, [1, 2.5])
    """
    if hasattr(v, "tolist"):  # a numpy scalar or array
        v = v.tolist()
    if isinstance(v, (list, tuple)):
        return [_value(x) for x in v]
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    return float(v)


def _train(module: ModuleType, task: Task) -> list[Row]:
    """The models of a per-model task, trained as one ensemble; a chunk that raises is re-run model by model."""
    n = len(task.models)
    configs: list[Any] = [None] * n
    errors: dict[int, str] = {}
    for k, (_, seed, config) in enumerate(task.models):
        try:
            configs[k] = _config(module, config, seed)
        except Exception as exc:  # a config the grid let through but the experiment refuses: that model fails
            errors[k] = _error(exc)
    good = [k for k in range(n) if k not in errors]
    results: dict[int, Any] = {}
    if good:
        try:
            results = dict(zip(good, module.train_models([configs[k] for k in good]), strict=True))
        except Exception:
            for k in good:  # one at a time, so only the models that raise fail
                try:
                    (results[k],) = module.train_models([configs[k]])
                except Exception as exc:
                    errors[k] = _error(exc)
    rows = []
    for k, (key, seed, _) in enumerate(task.models):
        if k in errors:
            rows.append(Row(key, seed, "failed", error=errors[k]))
            continue
        r = results[k]
        metrics = {name: _value(v) for name, v in r.metrics.items()}
        diverged_at = None if r.diverged_at is None else int(r.diverged_at)
        rows.append(Row(key, seed, str(r.status), metrics, diverged_at=diverged_at if r.status == "diverged" else None))
    return rows


def _whole(module: ModuleType, key: str, config: dict[str, Any]) -> Row:
    """One whole run of an experiment: its claims as metrics (1.0 held, 0.0 not)."""
    try:
        result = module.run(_config(module, config))
    except Exception as exc:
        return Row(key, WHOLE_RUN, "failed", error=_error(exc))
    claims = {text: bool(held) for text, held in result.claims.items()}
    held = sum(claims.values())
    metrics: dict[str, Any] = {
        "claims_held": held,
        "claims_total": len(claims),
        "all_claims_hold": float(held == len(claims)),
    }
    metrics |= {f"claim: {text}": float(ok) for text, ok in claims.items()}
    return Row(key, WHOLE_RUN, "done", metrics)


@contextlib.contextmanager
def _numba_threads(threads: int | None) -> Iterator[None]:
    """Hold numba's parallel loops (the fused kernel trains its models across threads) to ``threads`` threads
    while the block runs; None leaves them as they are."""
    numba: Any = None
    if threads is not None:
        with contextlib.suppress(ImportError):
            import numba
    if numba is None:
        yield
        return
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def run_task(task: Task, threads: int | None = 1) -> list[Row]:
    """Run one task (in a worker) and return one :class:`Row` per model, in the task's order.

    A worker is one core: BLAS is held to one thread, and so are numba's parallel loops unless
    ``threads`` says otherwise (None: as many as numba has, for a task run alone in the driver).
    A model's numbers do not depend on either.  Warnings raised inside are silenced (a zero start
    warns of its symmetry, and is a legitimate cell).  ``seconds`` is the task's wall time divided
    by its models; ``worker`` is ``host:pid``.

    >>> from initlab.sweep import Task
    >>> (row,) = run_task(Task("train", "g", (("k", 0, {"activation": "nope"}),)))
    >>> row.status, row.error[:57]
    ('failed', "InitlabValueError: The 'activation' setting of train must")
    """
    from threadpoolctl import threadpool_limits

    start = time.perf_counter()
    with threadpool_limits(limits=1), _numba_threads(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module = experiment_module(task.experiment)
        except Exception as exc:
            rows = [Row(key, seed, "failed", error=_error(exc)) for key, seed, _ in task.models]
        else:
            if hasattr(module, "train_models"):
                rows = _train(module, task)
            else:
                rows = [_whole(module, key, config) for key, _, config in task.models]
    seconds = (time.perf_counter() - start) / max(1, len(rows))
    worker = _worker()
    return [Row(r.cell, r.seed, r.status, r.metrics, r.diverged_at, r.error, seconds, worker) for r in rows]


def failed_rows(task: Task, error: str) -> list[Row]:
    """Every model of ``task`` as ``failed`` with ``error`` (a task that could not be run at all)."""
    return [Row(key, seed, "failed", error=error) for key, seed, _ in task.models]


class Executor(Protocol):
    """Runs tasks and yields ``(task, rows)`` as each finishes (any order); ``close()`` lets go of the workers.

    An executor may say how many tasks it runs at once (``workers``); the driver then cuts an
    ensemble into at least that many tasks, so that no worker idles.
    """

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[Task, list[Row]]]: ...

    def close(self) -> None: ...


class _Closing:
    """Context-manager support: ``with X(...) as ex:`` closes ``ex`` at the end."""

    def close(self) -> None:
        """Let go of the workers (nothing to do here)."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class InProcessExecutor(_Closing):
    """Runs each task here, one after another (tests, and ``--workers 0``), numba's loops on every core."""

    workers = 1

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[Task, list[Row]]]:
        for task in tasks:
            yield task, run_task(task, threads=None)


def _quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (once per process) with its leak warning off.

    Workers killed mid-task (Ctrl-C, a worker that died) leave the pool's semaphores to the
    tracker, which removes them; it would also print a warning about them after the command's
    one line of Ctrl-C.  Only the tracker's own process gets the filter.
    """
    from multiprocessing import resource_tracker

    before = os.environ.get("PYTHONWARNINGS")
    os.environ["PYTHONWARNINGS"] = ",".join(
        filter(None, [before, "ignore::UserWarning:multiprocessing.resource_tracker"])
    )
    try:
        resource_tracker.ensure_running()
    finally:
        if before is None:
            del os.environ["PYTHONWARNINGS"]
        else:
            os.environ["PYTHONWARNINGS"] = before


class LocalExecutor(_Closing):
    """A pool of ``workers`` processes on this machine, at most ``workers`` tasks in flight.

    Tasks are handed out as results come back, so the memory held is that of the tasks in
    flight.  A worker that dies (killed, out of memory) breaks the pool: a new pool is made and
    the unfinished tasks are run again; a task that was in flight when a worker died runs alone
    afterwards, so a task that kills its worker every time is found and, after :data:`TRIES`
    deaths, its models are ``failed`` with :data:`DIED`.  Ctrl-C kills the workers at once.
    """

    def __init__(self, workers: int) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InitlabValueError(
                f"The 'workers' argument of LocalExecutor must be an int >= 1. Got {workers!r} instead."
            )
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def _new_pool(self) -> ProcessPoolExecutor:
        _quiet_resource_tracker()
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context)
        return self._pool

    def _kill(self) -> None:
        """Stop the pool now: cancel what waits and kill the workers' processes."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            if p.is_alive():
                p.kill()
        for p in processes:
            p.join(timeout=5)
        # the pool's own thread now sees its workers gone and closes its queues; without waiting for it, Python's
        # resource tracker would print a warning about their semaphores after the one line of Ctrl-C
        pool.shutdown(wait=True)

    def close(self) -> None:
        """Shut the pool down (waiting for its workers to exit)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[Task, list[Row]]]:
        pending = deque(tasks)
        deaths: Counter[str] = Counter()
        in_flight: dict[Future[list[Row]], Task] = {}
        pool = self._pool or self._new_pool()

        def outcome(future: Future[list[Row]], task: Task) -> list[Row] | None:
            """The task's rows; None when its worker died and it goes back in the queue."""
            try:
                return future.result()
            except BrokenProcessPool:
                deaths[task.id] += 1
                if deaths[task.id] >= TRIES:
                    return failed_rows(task, DIED)
                pending.appendleft(task)  # first in the queue, and alone (below)
                return None
            except Exception as exc:  # the task could not be sent or its rows not returned
                return failed_rows(task, _error(exc))

        try:
            while pending or in_flight:
                broken = False
                # a task that was in flight when a worker died runs alone, so that the next death is its own
                while pending and len(in_flight) < self.workers:
                    if any(deaths[t.id] for t in in_flight.values()) or (deaths[pending[0].id] and in_flight):
                        break
                    task = pending.popleft()
                    try:
                        in_flight[pool.submit(run_task, task)] = task
                    except BrokenProcessPool:  # a worker died between tasks
                        pending.appendleft(task)
                        broken = True
                        break
                if in_flight:
                    finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in finished:
                        task = in_flight.pop(future)
                        rows = outcome(future, task)
                        broken |= rows is None
                        if rows is not None:
                            yield task, rows
                if broken:  # the tasks still in flight die with the pool: wait for their end, then a new pool
                    if in_flight:
                        wait(in_flight)
                    for future, task in list(in_flight.items()):
                        rows = outcome(future, task)
                        if rows is not None:
                            yield task, rows
                    in_flight.clear()
                    self._kill()
                    pool = self._new_pool()
        except BaseException:  # Ctrl-C, or the caller stopped listening: nothing may keep running
            self._kill()
            raise


async def _probe(address: str, timeout: float) -> None:
    """Open and close one connection to a Dask scheduler (raises OSError when it cannot be reached)."""
    import importlib

    connect: Any = importlib.import_module("distributed.comm").connect  # untyped
    comm = await connect(address, timeout=timeout)
    await comm.close()


class DaskExecutor(_Closing):
    """Tasks on a Dask cluster: the scheduler at ``scheduler`` (``tcp://host:port``), or a local cluster of
    ``local_workers`` single-threaded worker processes.

    Each task is submitted once (``retries=2`` for errors the task itself raises; a worker that
    dies mid-task has its task rescheduled by the scheduler).  A task that still fails, e.g.
    ``KilledWorker`` after its workers died again and again, ends as ``failed`` rows.  Needs the
    optional ``distributed`` package (``pip install "initlab[dask]"``).
    """

    def __init__(self, scheduler: str | None = None, local_workers: int | None = None, *,
                 connect_timeout: float = 10.0) -> None:  # fmt: skip
        if (scheduler is None) == (local_workers is None):
            raise InitlabValueError(
                "DaskExecutor needs exactly one of 'scheduler' (an address such as tcp://host:8786) or "
                f"'local_workers' (an int >= 1). Got scheduler={scheduler!r}, local_workers={local_workers!r} instead."
            )
        if local_workers is not None and (
            isinstance(local_workers, bool) or not isinstance(local_workers, int) or local_workers < 1
        ):
            raise InitlabValueError(
                f"The 'local_workers' argument of DaskExecutor must be an int >= 1. Got {local_workers!r} instead."
            )
        try:
            import distributed as _distributed
        except ImportError:
            raise InitlabValueError(
                'Running a sweep on Dask needs the distributed package: pip install "initlab[dask]".'
            ) from None
        distributed: Any = _distributed  # untyped
        self._cluster: Any = None
        if scheduler is not None:
            if not isinstance(scheduler, str) or not scheduler.strip():
                raise InitlabValueError(
                    f"The 'scheduler' argument of DaskExecutor must be an address such as tcp://host:8786. "
                    f"Got {scheduler!r} instead."
                )
            try:  # a bare connection first: a Client that fails to start complains again when collected
                asyncio.run(_probe(scheduler, connect_timeout))
            except (OSError, TimeoutError, ValueError) as exc:
                raise InitlabValueError(
                    f"The Dask scheduler {scheduler} could not be reached within {connect_timeout:g} s: {_error(exc)}"
                ) from None
            self.client: Any = distributed.Client(scheduler, timeout=connect_timeout, set_as_default=False)
        else:
            self._cluster = distributed.LocalCluster(n_workers=local_workers, threads_per_worker=1, processes=True,
                                                     dashboard_address=None, silence_logs=40)  # fmt: skip
            self.client = distributed.Client(self._cluster, set_as_default=False)
        self._futures: list[Any] = []

    @property
    def workers(self) -> int:
        """The tasks the cluster runs at once: its workers' threads."""
        return max(1, int(sum(self.client.nthreads().values())))

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[Task, list[Row]]]:
        import distributed

        as_completed: Any = distributed.as_completed  # untyped

        run_id = uuid.uuid4().hex[:12]
        by_key: dict[str, Task] = {}
        futures: list[Any] = []
        for task in tasks:
            key = f"initlab-sweep-{run_id}-{len(futures)}-{task.id}"
            by_key[key] = task
            futures.append(self.client.submit(run_task, task, pure=False, retries=2, key=key))
        self._futures = futures
        try:
            for future in as_completed(futures, loop=self.client.loop):
                task = by_key[future.key]
                try:
                    rows = future.result()
                except Exception as exc:  # KilledWorker, or an error left after the retries
                    rows = failed_rows(task, _error(exc))
                future.release()
                yield task, rows
        except BaseException:
            self.client.cancel(self._futures)
            raise
        finally:
            self._futures = []

    def close(self) -> None:
        """Close the client (and the local cluster, when this executor made one)."""
        if self._futures:
            self.client.cancel(self._futures)
            self._futures = []
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
