"""Plans: models grouped into ensembles, cut into tasks by a memory budget, and the numbers of `sweep plan`."""

from __future__ import annotations

import pytest

from initlab import data
from initlab._validation import InitlabValueError
from initlab.experiments import peak_bytes, train
from initlab.sweep import parse_grid
from initlab.sweep._plan import make_tasks, makespan, plan
from initlab.sweep._types import WHOLE_RUN

# two ensembles (width 4 and 8); lr and weights vary inside an ensemble
GRID = """
experiment = "train"
seeds = [0, 1, 5]
[settings]
steps = 20
[axes]
width = [4, 8]
lr = [0.1, 0.05]
weights = ["he_normal", "xavier_normal"]
"""


def _bytes(width: int) -> int:
    return train.model_bytes(train.Config(width=width, steps=20))


def test_one_task_per_ensemble_with_a_large_budget() -> None:
    grid = parse_grid(GRID)
    tasks = make_tasks(grid, grid.models, memory_bytes=2**40)
    assert len(tasks) == 2  # one per ensemble key
    assert [t.group for t in tasks] == [train.ensemble_key(train.Config(width=w, steps=20)) for w in (4, 8)]
    assert all(t.experiment == "train" for t in tasks)
    first = tasks[0].models
    assert len(first) == 4 * 3 and {m[2]["width"] for m in first} == {4}
    # cell order, then seed order; each model's config is its cell's with the model's seed
    cells = [c for c in grid.cells if c.config["width"] == 4]
    assert [(k, s) for k, s, _ in first] == [(c.key, s) for c in cells for s in (0, 1, 5)]
    assert [m[2]["seed"] for m in first[:3]] == [0, 1, 5]
    assert first[4][2] == {**cells[1].config, "seed": 1}
    assert all(m[2]["seeds"] == 1 for m in first)
    # every model once, whatever the order they were asked in
    assert make_tasks(grid, list(reversed(grid.models)), memory_bytes=2**40) == tasks
    assert sorted((k, s) for t in tasks for k, s, _ in t.models) == sorted(grid.models)


def test_a_tiny_budget_gives_one_model_per_task() -> None:
    grid = parse_grid(GRID)
    tasks = make_tasks(grid, grid.models, memory_bytes=1)
    assert len(tasks) == len(grid.models) == 24
    assert all(len(t.models) == 1 for t in tasks)
    width4 = [m for m in grid.models if grid.cell(m[0]).config["width"] == 4]
    assert [(t.models[0][0], t.models[0][1]) for t in tasks[:12]] == width4  # the first ensemble, in grid order
    assert len({t.id for t in tasks}) == 24


def test_chunks_follow_the_budget_exactly() -> None:
    grid = parse_grid(GRID)
    for n in (1, 3, 5, 12):
        budget = n * _bytes(8) + _bytes(8) // 2  # room for n models of the larger ensemble, not n + 1
        tasks = make_tasks(grid, grid.models, memory_bytes=budget)
        sizes = [len(t.models) for t in tasks if t.models[0][2]["width"] == 8]
        assert max(sizes) == n and sum(sizes) == 12, (n, sizes)
        assert sizes == [n] * (12 // n) + ([12 % n] if 12 % n else [])
    # the smaller models fit more per task under the same budget (negative control of sizing by model_bytes)
    budget = 3 * _bytes(8)
    small = [len(t.models) for t in make_tasks(grid, grid.models, budget) if t.models[0][2]["width"] == 4]
    assert max(small) == min(12, budget // _bytes(4)) > 3


def test_only_the_models_asked_for() -> None:
    grid = parse_grid(GRID)
    missing = [m for m in grid.models if m[1] == 5]  # a resumed sweep: seed 5 missing everywhere
    tasks = make_tasks(grid, missing, memory_bytes=2**40)
    assert [len(t.models) for t in tasks] == [4, 4]
    assert all(s == 5 and c["seed"] == 5 for t in tasks for _, s, c in t.models)
    assert make_tasks(grid, [], memory_bytes=2**40) == []


def test_bad_arguments() -> None:
    grid = parse_grid(GRID)
    first = grid.models[0]
    cases = [
        ([("nope", 0)], r"must hold \(cell key, seed\) pairs of the grid <grid>. Got \('nope', 0\) instead."),
        ([(first[0], 2)], r"pairs of the grid <grid>. Got \('[0-9a-f]{16}', 2\) instead."),  # a seed not in the grid
        (["x"], r"must hold \(cell key, seed\) pairs of the grid <grid>. Got 'x' instead."),
        ([first, first], r"must hold each model once. Got \('[0-9a-f]{16}', 0\) twice."),
    ]
    for models, message in cases:
        with pytest.raises(InitlabValueError, match=message):
            make_tasks(grid, models, memory_bytes=2**30)
    with pytest.raises(InitlabValueError, match="The 'memory_bytes' argument of make_tasks must be an int >= 1. Got 0"):
        make_tasks(grid, grid.models, memory_bytes=0)
    with pytest.raises(InitlabValueError, match="The 'workers' argument of plan must be an int >= 1. Got 0"):
        plan(grid, memory_bytes=1, workers=0)


def test_whole_run_experiments_one_task_per_cell() -> None:
    grid = parse_grid('experiment = "depth"\n[settings]\nseeds = 2\n[axes]\nwidth = [4, 8, 16]\n')
    tasks = make_tasks(grid, grid.models, memory_bytes=1)
    assert [t.models for t in tasks] == [((c.key, WHOLE_RUN, c.config),) for c in grid.cells]
    assert [t.group for t in tasks] == [c.key for c in grid.cells]
    p = plan(grid, memory_bytes=1, workers=2)
    expected = max(peak_bytes("depth", grid.config(c)) for c in grid.cells)
    assert p.task_bytes == expected and p.memory_all == 2 * expected
    assert p.seconds() is None and p.calibrations == []
    lines = p.lines()
    assert lines[0] == "<grid>: depth, 3 cells (each run whole)" and lines[1] == "tasks: 3, one per cell"
    assert lines[3] == "time: unknown (no cost model for whole runs of depth)"
    paper = plan(parse_grid('experiment = "glorot2010"\n[axes]\nwidth = [16, 32]\n'), memory_bytes=1, workers=1)
    assert paper.task_bytes is None and paper.lines()[2] == "memory: unknown (glorot2010 has no memory estimate)"


def test_plan_numbers_without_calibration() -> None:
    grid = parse_grid(GRID.replace("steps = 20", 'steps = 20\ndataset = "digits"'), "grid.toml")
    per_model = {w: train.model_bytes(train.Config(width=w, steps=20, dataset="digits")) for w in (4, 8)}
    budget = 5 * per_model[8]
    p = plan(grid, memory_bytes=budget, workers=2, calibrate=False)
    small = budget // per_model[4]  # more of the smaller models fit the same budget
    assert small > 5
    assert (p.cells, p.models, p.groups, p.models_per_task) == (8, 24, 2, min(small, 12))
    assert len(p.tasks) == len(make_tasks(grid, grid.models, budget)) == 3 + -(-12 // small)
    d = data.load("digits")
    data_bytes = d.X_train.nbytes + d.Y_train.nbytes + d.X_test.nbytes + d.Y_test.nbytes
    largest = max(5 * per_model[8], min(small, 12) * per_model[4])
    assert p.task_bytes == largest + data_bytes and p.task_bytes <= budget + data_bytes
    assert p.memory_all == 2 * p.task_bytes
    assert p.seconds() is None
    lines = p.lines()
    assert lines[0] == "grid.toml: train, 8 cells x 3 seeds = 24 models"
    assert lines[1].startswith("ensembles: 2 (models that train together); tasks: ")
    assert f"of at most {min(small, 12)} models" in lines[1]
    assert lines[2].startswith("memory: about ") and "per worker (the largest task: " in lines[2]
    assert lines[3] == "time: unknown (no calibration run)"


def test_plan_with_calibration() -> None:
    grid = parse_grid(GRID)
    p = plan(grid, memory_bytes=2**30, workers=1)
    assert p.task_seconds is not None and len(p.task_seconds) == len(p.tasks) == 2
    # two ensembles: the first (width 4) and the costliest (width 8) are both measured, each for its own tasks
    assert [c.group for c in p.calibrations] == [t.group for t in p.tasks]
    assert all(c.rate > 0 and c.overhead >= 0 and c.models == 4 and 1 < c.steps <= 20 for c in p.calibrations)
    cost = [sum(train.model_cost(train.Config(**c)) for _, _, c in t.models) for t in p.tasks]
    expected = [c / m.rate + 12 * m.overhead for c, m in zip(cost, p.calibrations, strict=True)]
    assert p.task_seconds == pytest.approx(expected)
    one, two = p.seconds(1), p.seconds(2)
    assert one == pytest.approx(sum(p.task_seconds)) and two == pytest.approx(max(p.task_seconds))
    line = p.lines()[3]
    assert line.startswith("time: about ") and line.endswith(" per model)")
    assert "on 1 worker (an estimate: model_cost's multiply-adds at the rates measured on this machine" in line
    assert "of the first ensemble, " in line and ", and of the costliest, " in line
    # one ensemble: one measurement, and no word of others
    single = plan(parse_grid(GRID.replace("width = [4, 8]", "width = [4]")), memory_bytes=2**30, workers=3)
    assert len(single.calibrations) == 1 and "costliest" not in single.lines()[3]
    # one ensemble of 12 models is cut into 3 tasks of 4 (as run_sweep cuts it), one per worker
    assert [len(t.models) for t in single.tasks] == [4, 4, 4]
    assert single.seconds(3) == pytest.approx(max(single.task_seconds or [0.0]))


def test_makespan() -> None:
    assert makespan([], 4) == 0.0
    assert makespan([1.0, 2.0, 3.0], 1) == 6.0
    assert makespan([1.0, 2.0, 3.0], 8) == 3.0
    assert makespan([3.0, 3.0, 2.0, 2.0, 2.0], 2) == 7.0  # longest first: 3+2+2 and 3+2
