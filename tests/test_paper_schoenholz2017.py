"""Schoenholz et al. (2017): the trainable depth of tanh nets lies under 6 xi_c, deepest at criticality."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from initlab import results
from initlab._validation import InitlabValueError
from initlab.papers import get, make_config
from initlab.papers.schoenholz2017 import Config, _boundary, _grid_steps_apart, run, xi_c
from initlab.theory import critical_sigma_w2

# ordered (6 xi_c = 8.9), critical, chaotic (6 xi_c = 42): depth 3 trains for all three, depth 12 only for the
# last two
SMALL = Config(width=32, depths=(3, 12), sigma_w2s=(0.6, 1.76, 4.0), steps=200, seeds=2)
AGREE = "share of (sigma_w2, depth) cells where trainable"


@pytest.fixture(scope="module")
def small() -> results.Result:
    return run(SMALL)


def _claim(r: results.Result, start: str) -> bool:
    (key,) = [k for k in r.claims if k.startswith(start)]
    return r.claims[key]


def test_the_depth_scale_is_the_papers() -> None:
    # xi_c = -1 / ln(chi_c) is finite off the line and diverges at the order-to-chaos point 1.761 (sigma_b2 = 0.05)
    crit = critical_sigma_w2(0.05, "tanh")
    assert crit == pytest.approx(1.761, abs=1e-3)
    assert xi_c(crit, 0.05) > 1000
    assert xi_c(1.0, 0.05) == pytest.approx(3.63, abs=0.01)
    assert xi_c(1.0, 0.05) < xi_c(1.5, 0.05) and xi_c(4.0, 0.05) < xi_c(2.5, 0.05)
    assert math.isfinite(xi_c(8.0, 0.05))  # large sigma_w2: no quadrature warning (pytest makes it an error)


def test_small_run_bears_out_the_paper(small: results.Result) -> None:
    assert len(small.claims) == 3
    assert all(small.claims.values()), small.tables["Paper vs ours"]
    acc = small.arrays["train_acc"]  # (sigma_w2, depth, seed)
    assert acc.shape == (3, 2, 2)
    # every net of depth 3 learns; at depth 12 (beyond 6 xi_c = 8.9) the ordered net stays near chance
    assert np.all(acc[:, 0].mean(axis=1) > 0.45)
    assert acc[0, 1].mean() < 0.3
    assert acc[1, 1].mean() > acc[0, 1].mean() + 0.3
    # the boundary table: the ordered value's deepest trainable depth is 3, the others' 12
    table = small.tables["Trainable depth by sigma_w2"]
    assert [row["deepest trainable grid depth"] for row in table] == [3, 12, 12]
    assert 0.1 < float(small.arrays["threshold"][0]) < 1.0


def test_rows_are_tidy(small: results.Result) -> None:
    keys = {"model", "step", "layer", "metric", "value", "sigma_w2", "depth", "seed", "init"}
    assert all(keys <= set(r) for r in small.rows)
    assert {r["metric"] for r in small.rows} == {"train_acc", "test_acc", "final_loss"}
    assert len(small.rows) == 3 * 2 * 2 * 3
    assert len({r["model"] for r in small.rows}) == 12


def test_negative_control_a_smaller_multiple_of_xi_c_does_not_fit() -> None:
    # with L < 1 xi_c the ordered net would fail already at depth 3 (xi_c = 1.48) and the chaotic one at depth 12
    # (xi_c = 7): the measured trainable region does not follow that line
    r = run(Config(width=32, depths=(3, 12), sigma_w2s=(0.6, 1.76, 4.0), steps=200, seeds=2, factor=1.0))
    assert not _claim(r, AGREE), r.tables["Paper vs ours"]


def test_boundary_rules() -> None:
    depths = (4, 8, 16)
    assert _boundary(np.array([True, True, False]), depths) == 8
    assert _boundary(np.array([True, False, True]), depths) == 4  # the first failure ends the trainable range
    assert _boundary(np.array([False, True, True]), depths) == 0
    assert _grid_steps_apart(0, 8, depths) == 2
    assert _grid_steps_apart(16, 8, depths) == 1


@pytest.mark.parametrize(
    ("key", "value"),
    [("width", 1), ("depths", ()), ("depths", (0, 4)), ("depths", (4, 4)), ("sigma_w2s", (0.0,)),
     ("sigma_b2", -0.1), ("steps", 0), ("lr", 0.0), ("optimizer", "adam"), ("factor", 0.0), ("seeds", 0)],
)  # fmt: skip
def test_bad_setting_names_it(key: str, value: object) -> None:
    with pytest.raises(InitlabValueError, match=key):
        Config(**{key: value})  # type: ignore[arg-type]


def test_bad_setting_text_names_it() -> None:
    with pytest.raises(InitlabValueError, match="depths"):
        make_config("schoenholz2017", {"depths": "deep"})


def test_figure_draws_after_round_trip(small: results.Result, tmp_path: object) -> None:
    import matplotlib.pyplot as plt

    path = results.save(small, tmp_path, figures=True)
    loaded = results.load(path)
    figs = results.figures(loaded)
    assert set(figs) == {"schoenholz2017_train_accuracy", "schoenholz2017_test_accuracy"}
    for fig in figs.values():
        plt.close(fig)


def test_get_and_full_config() -> None:
    assert get("schoenholz2017").PAPER.year == 2017
    full = make_config("schoenholz2017", full=True)
    assert (full.width, full.depths[-1], full.seeds) == (300, 300, 3)


@pytest.mark.slow
def test_default_run_holds() -> None:
    r = run()
    assert all(r.claims.values()), r.tables["Paper vs ours"]


@pytest.mark.slow
def test_full_run_holds_with_one_seed() -> None:
    r = run(make_config("schoenholz2017", full=True, seeds=1))
    assert all(r.claims.values()), r.tables["Paper vs ours"]
