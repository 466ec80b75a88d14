"""Saxe et al. (2014): learning time of deep linear nets against depth, orthogonal vs scaled Gaussian init."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from initlab import results
from initlab._validation import InitlabValueError
from initlab.engine import init_params
from initlab.papers import get, make_config
from initlab.papers.saxe2014 import INITS, Config, run

SMALL = Config(depths=(1, 2, 16), steps=200, seeds=2)


@pytest.fixture(scope="module")
def small() -> results.Result:
    return run(SMALL)


def test_the_inits_are_the_papers() -> None:
    w = init_params([64, 64], weights=INITS["orthogonal"], rng=0)["W1"]
    assert np.allclose(w @ w.T, np.eye(64), atol=1e-5)
    w = init_params([400, 400], weights=INITS["gaussian"], rng=0)["W1"]  # N(0, 1/N)
    assert w.var() == pytest.approx(1 / 400, rel=0.03)
    assert abs(float(w.mean())) < 3e-3


def test_small_run_bears_out_the_paper(small: results.Result) -> None:
    assert len(small.claims) == 2
    assert all(small.claims.values()), small.tables["Paper vs ours"]
    t_o, t_g = small.arrays["orthogonal/learning_time"], small.arrays["gaussian/learning_time"]  # (seeds, depths)
    assert t_o.shape == (2, 3)
    # depth 16 from orthogonal weights: within 2x of depth 2; from Gaussian ones: not reached in the budget
    assert np.all(t_o[:, 2] <= 2 * t_o[:, 1])
    assert np.all(small.arrays["orthogonal/reached"] == 1)
    assert np.all(t_g[:, 2] >= 2 * t_g[:, 1])
    # one layer: both inits learn in about the same time (a linear regression either way)
    assert np.all(np.abs(t_o[:, 0] - t_g[:, 0]) <= 0.3 * t_o[:, 0])


def test_rows_are_tidy(small: results.Result) -> None:
    keys = {"model", "step", "layer", "metric", "value", "init", "seed", "depth"}
    assert all(keys <= set(r) for r in small.rows)
    assert {r["metric"] for r in small.rows} == {"learning_time", "reached", "final_loss"}
    assert len(small.rows) == 3 * 2 * 2 * 3


def test_negative_control_shallow_depths_show_no_growth() -> None:
    # between 2 and 3 weight layers the Gaussian product has not spread yet: its learning time does not outgrow
    # the orthogonal one's, so the "grows with depth" check is False
    r = run(Config(depths=(2, 3), steps=200, seeds=2))
    claims = list(r.claims.values())
    assert claims[0] is True
    assert claims[1] is False, r.tables["Paper vs ours"]


def test_negative_control_without_the_depth_scaled_rate() -> None:
    # at one fixed rate (half the default depth-2 one) deeper orthogonal nets learn faster: not "about 1" any more
    r = run(Config(depths=(2, 16), steps=200, seeds=1, lr=0.25, lr_scaling="fixed"))
    t = r.arrays["orthogonal/learning_time"][0]
    assert t[1] < 0.5 * t[0]
    assert next(iter(r.claims.values())) is False


@pytest.mark.parametrize(
    ("key", "value"),
    [("width", 0), ("depths", (0,)), ("steps", 0), ("lr", 0.0), ("lr_scaling", "sqrt"), ("criterion", 1.5),
     ("seeds", 0)],
)  # fmt: skip
def test_bad_setting_names_it(key: str, value: object) -> None:
    with pytest.raises(InitlabValueError, match=key):
        Config(**{key: value})


def test_bad_setting_text_names_it() -> None:
    with pytest.raises(InitlabValueError, match="criterion"):
        make_config("saxe2014", {"criterion": "low"})


def test_figure_draws_after_round_trip(small: results.Result, tmp_path: object) -> None:
    import matplotlib.pyplot as plt

    path = results.save(small, tmp_path, figures=True)
    loaded = results.load(path)
    figs = results.figures(loaded)
    assert set(figs) == {"saxe2014_learning_time", "saxe2014_curves"}
    for fig in figs.values():
        plt.close(fig)


def test_get_and_full_config() -> None:
    assert get("saxe2014").PAPER.year == 2014
    full = make_config("saxe2014", full=True)
    assert (full.depths, full.steps, full.seeds) == ((1, 2, 4, 8, 16, 32, 64), 1000, 5)


@pytest.mark.slow
def test_default_run_holds() -> None:
    r = run()
    assert all(r.claims.values()), r.tables["Paper vs ours"]


@pytest.mark.slow
def test_full_run_holds_with_fewer_seeds() -> None:
    r = run(make_config("saxe2014", full=True, seeds=2))
    assert all(r.claims.values()), r.tables["Paper vs ours"]
