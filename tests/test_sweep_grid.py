"""Grid files: expansion of the axes into cells, canonical keys, and one line per problem of a bad grid."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from initlab._validation import InitlabTypeError, InitlabValueError
from initlab.experiments import declared, train
from initlab.sweep import (
    CELL_LIMIT,
    WHOLE_RUN,
    Grid,
    GridError,
    _grid_file,
    cell_key,
    experiment_module,
    load_grid,
    parse_grid,
)

EXAMPLE = """
experiment = "train"
seeds = 2

[settings]
dataset = "digits"
steps = 5
weights = "variance_scaling(scale={sigma_w2}, distribution='normal')"

[axes]
depth = [3, 6]
sigma_w2 = {linspace = [1.0, 4.0, 4]}

[[zip]]
width = [8, 16]
lr = [0.1, 0.01]

[report]
x = "sigma_w2"
y = "depth"
metric = "train_accuracy"
theory = { activation = "tanh", sigma_b2 = 0.05 }
"""


def test_expansion_order_zip_and_templates() -> None:
    grid = parse_grid(EXAMPLE, "grid.toml")
    assert grid.experiment == "train" and grid.per_model and grid.seeds == (0, 1)
    assert [a.name for a in grid.axes] == ["depth", "sigma_w2", "width", "lr"]
    assert [(a.setting, a.zipped) for a in grid.axes] == [(True, ()), (False, ()), (True, ("lr",)), (True, ("width",))]
    # [axes] in file order, then the zip group as one axis; the last axis varies fastest
    assert len(grid.cells) == 2 * 4 * 2
    assert [c.axes for c in grid.cells[:3]] == [
        {"depth": 3, "sigma_w2": 1.0, "width": 8, "lr": 0.1},
        {"depth": 3, "sigma_w2": 1.0, "width": 16, "lr": 0.01},
        {"depth": 3, "sigma_w2": 2.0, "width": 8, "lr": 0.1},
    ]
    assert grid.cells[-1].axes == {"depth": 6, "sigma_w2": 4.0, "width": 16, "lr": 0.01}
    cfg = grid.cells[2].config
    # every declared setting, defaults written out; the sweep owns the seed
    assert set(cfg) == {s.name for s in declared(train.Config)}
    assert cfg["weights"] == "variance_scaling(scale=2.0, distribution='normal')"
    assert (cfg["dataset"], cfg["steps"], cfg["seed"], cfg["seeds"], cfg["activation"]) == ("digits", 5, 0, 1, "relu")
    assert len({c.key for c in grid.cells}) == len(grid.cells)
    assert grid.models[:3] == [(grid.cells[0].key, 0), (grid.cells[0].key, 1), (grid.cells[1].key, 0)]
    assert grid.report["theory"] == {"activation": "tanh", "sigma_b2": 0.05}
    assert grid.settings["steps"] == 5 and grid.text == EXAMPLE and grid.source == "grid.toml"


def test_configs_of_cells_and_models() -> None:
    grid = parse_grid(EXAMPLE)
    cell = grid.cells[5]
    cfg = grid.config(cell)
    assert isinstance(cfg, train.Config) and (cfg.depth, cfg.width, cfg.lr) == (3, 16, 0.01)
    model = grid.model_config(cell, 7)
    assert model.seed == 7 and model.weights == cfg.weights and cfg.seed == 0
    assert grid.cell(cell.key) is cell
    assert grid.config(cell) is cfg and cfg == train.Config(**cell.config)  # built once, when the grid was checked
    with pytest.raises(InitlabValueError, match="must be the key of a cell"):
        grid.cell("nope")
    with pytest.raises(InitlabValueError, match="'seed' setting of train"):
        grid.model_config(cell, -1)


def test_value_forms_exactly() -> None:
    grid = parse_grid(
        'experiment = "train"\n[axes]\nlr = {logspace = [1e-4, 1e-1, 4]}\nwidth = {range = [8, 64, 8]}\n'
        "steps = {linspace = [10, 40, 4]}\nrecord_every = {range = [9, 0, -4]}\n"
    )
    values = {a.name: a.values for a in grid.axes}
    assert values["lr"] == (0.0001, 0.001, 0.01, 0.1)  # not 0.0010000000000000002
    assert values["width"] == (8, 16, 24, 32, 40, 48, 56)  # Python's range: stop excluded
    assert values["steps"] == (10, 20, 30, 40) and all(type(v) is int for v in values["steps"])  # checked as ints
    assert values["record_every"] == (9, 5, 1)
    thirds = parse_grid('experiment = "train"\n[axes]\nlr = {linspace = [1.0, 2.0, 4]}\n').axes[0].values
    assert thirds == (1.0, 1 + 1 / 3, 1 + 2 / 3, 2.0)  # first + (last - first) * i / (n - 1), all digits kept
    one = parse_grid('experiment = "train"\n[axes]\nlr = {logspace = [0.5, 8, 1]}\n').axes[0].values
    assert one == (0.5,)


def test_cell_key_is_canonical() -> None:
    grid = parse_grid('experiment = "train"\n[settings]\nlr = 1e-3\ndepth = 2\n')
    same = parse_grid('experiment = "train"\n[settings]\ndepth = 2\nlr = 0.001\nsteps = 2000\n')  # a default written
    assert grid.cells[0].key == same.cells[0].key
    cfg = grid.cells[0].config
    assert cell_key("train", cfg) == cell_key("train", dict(reversed(list(cfg.items()))))
    assert cell_key("train", {**cfg, "lr": 0.001}) == cell_key("train", {**cfg, "lr": 1e-3})
    # negative controls: another value, or another experiment, is another key
    assert cell_key("train", {**cfg, "lr": 0.0011}) != grid.cells[0].key
    assert cell_key("scale", cfg) != grid.cells[0].key
    # an int given for a float setting is normalized to a float first
    as_int = parse_grid('experiment = "train"\n[settings]\nlr = 1\n').cells[0]
    as_float = parse_grid('experiment = "train"\n[settings]\nlr = 1.0\n').cells[0]
    assert as_int.key == as_float.key and as_int.config["lr"] == 1.0


def test_whole_run_experiments_and_papers() -> None:
    grid = parse_grid('experiment = "depth"\n[settings]\nseeds = 2\n[axes]\nwidth = [4, 8]\n')
    assert not grid.per_model and grid.seeds == (WHOLE_RUN,)
    assert grid.models == [(c.key, WHOLE_RUN) for c in grid.cells] and len(grid.models) == 2
    # tuple settings are lists in the cell's config, tuples in the Config
    assert isinstance(grid.cells[0].config["schemes"], list)
    assert isinstance(grid.config(grid.cells[0]).schemes, tuple)
    with pytest.raises(InitlabValueError, match="runs whole"):
        grid.model_config(grid.cells[0], 0)
    paper = parse_grid('experiment = "glorot2010"\n[axes]\nwidth = [16, 32]\n')
    assert experiment_module("glorot2010") is paper.module and len(paper.cells) == 2


def test_load_grid(tmp_path: Path) -> None:
    path = tmp_path / "grid.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    assert load_grid(path).cells == parse_grid(EXAMPLE).cells
    with pytest.raises(GridError) as err:
        load_grid(tmp_path / "missing.toml")
    assert str(err.value).startswith(f"{tmp_path / 'missing.toml'}: cannot read the grid file:")
    path.write_text('experiment = "train"\n[axes\n', encoding="utf-8")
    with pytest.raises(GridError) as err:
        load_grid(path)
    assert len(err.value.problems) == 1 and "\n" not in str(err.value)
    assert str(err.value).startswith(f"{path}: not valid TOML:") and "line 2" in str(err.value)


def test_cell_limit_and_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    assert CELL_LIMIT == 10_000
    text = 'experiment = "train"\n[axes]\nlr = {linspace = [0.01, 1.0, 101]}\nsteps = {range = [1, 101, 1]}\n'
    with pytest.raises(GridError, match=r"10100 cells, more than 10000: pass --yes") as err:
        parse_grid(text)  # refused before a cell is built
    assert len(err.value.problems) == 1
    monkeypatch.setattr(_grid_file, "CELL_LIMIT", 5)  # a small limit: the same rule on a grid that builds quickly
    small = 'experiment = "train"\n[axes]\nsteps = {range = [1, 7, 1]}\n'
    with pytest.raises(GridError, match=r"axes.steps: range \[1, 7, 1\] has 6 values, more than 5 cells: pass --yes"):
        parse_grid(small)
    assert len(parse_grid(small, yes=True).cells) == 6
    product = 'experiment = "train"\n[axes]\nsteps = [1, 2, 3]\nlr = [0.1, 0.2]\n'
    with pytest.raises(GridError, match=r"^g.toml: axes: the grid has 6 cells, more than 5: pass --yes"):
        parse_grid(product, "g.toml")
    assert len(parse_grid(product, yes=True).cells) == 6
    assert len(parse_grid('experiment = "train"\n[axes]\nsteps = {range = [1, 6, 1]}\n').cells) == 5


# --- bad grids: each problem is one line that names the grid key --------------------------------------------------

BAD = [
    ('experiment = "train"\nmodel = 1\n', "g.toml: model: unknown key"),
    ('experiment = "train"\n[axis]\ndepth = [1]\n', "Did you mean 'axes'?"),
    ("seeds = 2\n", "g.toml: experiment: missing"),
    ('experiment = "trian"\n', "g.toml: experiment: The 'experiment' of a grid must be one of"),
    ('experiment = "trian"\n', "Got 'trian' instead. Did you mean 'train'?"),
    ("experiment = 3\n", "g.toml: experiment: "),
    ('experiment = "train"\n[settings]\ndept = 3\n', "g.toml: settings.dept: the settings of train are: dataset"),
    ('experiment = "train"\n[settings]\ndept = 3\n', "Did you mean 'depth'?"),
    (
        'experiment = "train"\n[settings]\ndepth = 0\n',
        "g.toml: settings.depth: The 'depth' setting of train must be an int >= 1 and <= 100. Got 0 instead.",
    ),
    ('experiment = "train"\n[settings]\nlr = "fast"\n', "g.toml: settings.lr: The 'lr' setting of train must be"),
    ('experiment = "train"\n[axes]\ndepth = []\n', "g.toml: axes.depth: has no values"),
    ('experiment = "train"\n[axes]\ndepth = [1, 200]\n', "g.toml: axes.depth: The 'depth' setting of train"),
    ('experiment = "train"\n[axes]\ndepth = 3\n', "g.toml: axes.depth: must be a list of values or a table"),
    ('experiment = "train"\n[axes]\nlr = {linspace = [0.1, 1.0]}\n', "g.toml: axes.lr: linspace must be [first"),
    ('experiment = "train"\n[axes]\nlr = {linspace = [0.1, 1.0, 0]}\n', "g.toml: axes.lr: linspace must be"),
    ('experiment = "train"\n[axes]\nlr = {linspace = ["a", 1.0, 3]}\n', "g.toml: axes.lr: linspace must be"),
    ('experiment = "train"\n[axes]\nlr = {linspace = [0.1, 1.0, 2.5]}\n', "n an int >= 1"),
    ('experiment = "train"\n[axes]\nlr = {logspace = [0, 1.0, 3]}\n', "g.toml: axes.lr: logspace must be"),
    ('experiment = "train"\n[axes]\nlr = {logspace = [0.1, -1.0, 3]}\n', "the ends numbers > 0"),
    ('experiment = "train"\n[axes]\ndepth = {range = [1, 5, 0]}\n', "g.toml: axes.depth: range must be [start"),
    ('experiment = "train"\n[axes]\ndepth = {range = [1, 5.5, 1]}\n', "three ints, step not 0"),
    ('experiment = "train"\n[axes]\ndepth = {range = [5, 1, 1]}\n', "g.toml: axes.depth: range [5, 1, 1] has no"),
    ('experiment = "train"\n[axes]\ndepth = {steps = [1, 2]}\n', "g.toml: axes.depth: must be a list of values"),
    ('experiment = "train"\n[axes]\ndepth = [2, 2]\n', "g.toml: axes.depth: the value 2 of depth is given twice"),
    ('experiment = "train"\n[axes]\nlr = [0.001, 1e-3]\n', "g.toml: axes.lr: the value 0.001 of lr is given twice"),
    (
        'experiment = "train"\n[axes]\ndepth = [2]\n[[zip]]\ndepth = [3]\nlr = [0.1]\n',
        "g.toml: zip[0].depth: the axis 'depth' is also given as axes.depth",
    ),
    (
        'experiment = "train"\n[settings]\ndepth = 2\n[axes]\ndepth = [3]\n',
        "g.toml: axes.depth: 'depth' is both a fixed setting ([settings]) and an axis",
    ),
    (
        'experiment = "train"\n[[zip]]\ndepth = [2, 3]\nlr = [0.1]\n',
        "g.toml: zip[0]: the axes of a zip group must have equal lengths. Got depth: 2, lr: 1.",
    ),
    ('experiment = "train"\n[[zip]]\ndepth = [2, 2]\nlr = [0.1, 0.1]\n', "g.toml: zip[0]: the value (2, 0.1)"),
    ('experiment = "train"\n[[zip]]\n', "g.toml: zip[0]: has no axes"),
    ('experiment = "train"\nzip = 3\n', "g.toml: zip: must be [[zip]] tables"),
    (
        'experiment = "train"\n[settings]\nweights = "normal(std={s})"\n',
        "g.toml: settings.weights: the placeholder {s} names no axis of the grid",
    ),
    (
        'experiment = "train"\n[settings]\nweights = "normal(std={s!r})"\n[axes]\ns = [1]\n',
        "g.toml: settings.weights: a placeholder must be {name}",
    ),
    ('experiment = "train"\n[settings]\nweights = "normal(std={s)"\n', "g.toml: settings.weights: a template must"),
    (
        'experiment = "train"\n[settings]\nweights = "normal(std={s})"\n[axes]\ns = [1]\nsigma = [2]\n',
        "g.toml: axes.sigma: not a setting of train",
    ),
    (
        'experiment = "train"\n[settings]\nweights = "normal(std={s})"\n[axes]\ns = [[1]]\n',
        "g.toml: axes.s: a template axis takes numbers or strings",
    ),
    (
        'experiment = "train"\n[settings]\nweights = "normal(std={s})"\n[axes]\ns = [-1.0]\n',
        "g.toml: axes: 1 of 1 cells are not valid settings of train; the first (s = -1.0): The 'weights' setting",
    ),
    ('experiment = "train"\nseeds = 0\n', "g.toml: seeds: must be an int n >= 1"),
    (
        'experiment = "train"\n[settings]\nweigths = "normal(std={s})"\n[axes]\ns = [1]\n',
        "g.toml: settings.weigths: the settings of train are: ",
    ),
    ('experiment = "train"\nseeds = [1, 1]\n', "g.toml: seeds: must be an int n >= 1"),
    ('experiment = "train"\nseeds = [-1]\n', "g.toml: seeds: must be"),
    ('experiment = "train"\nseeds = 2.5\n', "g.toml: seeds: must be"),
    ('experiment = "train"\nseeds = 20000\n', "g.toml: seeds: 20000 seeds per cell is more than 10000: pass --yes"),
    ('experiment = "depth"\nseeds = 3\n', "g.toml: seeds: depth runs whole, once per cell"),
    ('experiment = "train"\n[settings]\nseed = 3\n', "g.toml: settings.seed: the sweep sets each model's seed"),
    ('experiment = "train"\n[axes]\nseeds = [1, 2]\n', "g.toml: axes.seeds: the sweep sets each model's seed"),
    ('experiment = "train"\n[settings]\ncompare = "zeros"\n', "g.toml: settings.compare: each model of a train"),
    (
        'experiment = "train"\n[axes]\nbatch_size = [0, 500]\n',
        "g.toml: axes: 1 of 2 cells are not valid settings of train; the first (batch_size = 500): The 'batch_size'",
    ),
    (
        'experiment = "train"\n[axes]\ndepth = [2]\n[report]\nx = "dpth"\n',
        "g.toml: report.x: must name an axis of the grid (depth). Got 'dpth' instead. Did you mean 'depth'?",
    ),
    ('experiment = "train"\n[axes]\ndepth = [2]\n[report]\ny = 3\n', "g.toml: report.y: must name an axis"),
    ('experiment = "train"\n[report]\nmetric = 3\n', "g.toml: report.metric: must be the name of a metric"),
    ('experiment = "train"\n[report]\nmetrik = "x"\n', "g.toml: report.metrik: unknown key"),
    (
        'experiment = "train"\n[axes]\ndepth = [2]\nlr = [0.1]\n[report]\nx = "lr"\ny = "depth"\ntheory = {activation = "tanh"}\n',
        "g.toml: report.theory: must be a table",
    ),
    (
        'experiment = "train"\n[axes]\ndepth = [2]\nlr = [0.1]\n[report]\nx = "lr"\ny = "depth"\n'
        'theory = {activation = "tanh", sigma_b2 = -1}\n',
        "g.toml: report.theory: must be",
    ),
    (
        'experiment = "train"\n[report]\ntheory = {activation = "tanh", sigma_b2 = 0.05}\n',
        "g.toml: report.theory: needs report.x",
    ),
    ('experiment = "train"\nreport = 3\n', "g.toml: report: must be a table"),
    ('experiment = "train"\nsettings = 3\n', "g.toml: settings: must be a table"),
    ('experiment = "train"\naxes = [1]\n', "g.toml: axes: must be a table"),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_each_problem_is_one_line(text: str, expected: str) -> None:
    with pytest.raises(GridError) as err:
        parse_grid(text, "g.toml")
    problems = err.value.problems
    assert len(problems) == 1, problems
    assert "\n" not in problems[0] and expected in problems[0]
    assert str(err.value) == problems[0] and isinstance(err.value, InitlabValueError)


def test_bad_arguments() -> None:
    with pytest.raises(
        InitlabTypeError, match="The 'text' argument of parse_grid must be a string \\(TOML\\). Got b'x'"
    ):
        parse_grid(b"x")  # type: ignore[arg-type]
    with pytest.raises(InitlabTypeError, match="The 'source' argument of parse_grid must be a string. Got 3 instead."):
        parse_grid('experiment = "train"', 3)  # type: ignore[arg-type]
    with pytest.raises(InitlabValueError, match="The 'key' argument of Grid.cell must be the key of a cell of <grid>"):
        parse_grid('experiment = "train"').cell("0123")


def test_every_problem_at_once() -> None:
    text = (
        'experiment = "train"\nseeds = [3, 3]\nsedes = 1\n[settings]\ndepth = 0\nweights = "normal(std={q})"\n'
        "[axes]\nwidth = []\nlr = {logspace = [0, 1, 3]}\n[[zip]]\nsteps = [1, 2]\nrecord_every = [1]\n"
        "[report]\nmetric = 1\n"
    )
    with pytest.raises(GridError) as err:
        parse_grid(text, "g.toml")
    keys = [p.split(": ")[1] for p in err.value.problems]
    assert keys == ["sedes", "seeds", "settings.depth", "axes.width", "axes.lr", "zip[0]", "settings.weights",
                    "report.metric"]  # fmt: skip
    assert str(err.value).count("\n") == len(keys) - 1


def test_a_grid_without_problems_is_no_vacuous_pass() -> None:
    """The negative control of the table above: a good grid raises nothing and keeps its values."""
    grid = parse_grid('experiment = "train"\n[axes]\ndepth = [2, 3]\nlr = [0.1, 0.2]\n', "g.toml")
    assert isinstance(grid, Grid) and len(grid.cells) == 4
    assert math.isclose(grid.cells[3].config["lr"], 0.2) and grid.cells[3].config["depth"] == 3


EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples" / "sweeps").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_examples_are_valid_grids(path: Path) -> None:
    grid = load_grid(path)
    assert grid.cells and len(grid.models) == len(grid.cells) * len(grid.seeds)
    for name in ("x", "y"):
        if name in grid.report:
            assert grid.report[name] in [a.name for a in grid.axes]
