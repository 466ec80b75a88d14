"""Pennington, Schoenholz & Ganguli (2017): orthogonal tanh near isometry; Gaussian weights and relu spread with depth."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from initlab import results
from initlab._validation import InitlabValueError
from initlab.papers import TABLE, get, make_config
from initlab.papers.pennington2017 import Config, run

SMALL = Config(width=100, depths=(2, 8), seeds=4)


@pytest.fixture(scope="module")
def small() -> results.Result:
    return run(SMALL)


def test_small_run_bears_out_the_paper(small: results.Result) -> None:
    assert len(small.claims) == 6
    assert all(small.claims.values()), small.tables[TABLE]
    deep = {case: small.arrays[f"{case}/normalized_variance"][-1].mean() for case in
            ("tanh/orthogonal", "tanh/gaussian", "relu/orthogonal", "relu/gaussian")}  # fmt: skip
    # orthogonal tanh at q* = 1/64 is nearly isometric; Gaussian tanh spreads as L, relu as L and 2L
    assert deep["tanh/orthogonal"] < 0.05
    assert 6 < deep["tanh/gaussian"] < 10 and 6 < deep["relu/orthogonal"] < 10 and 12 < deep["relu/gaussian"] < 20
    sv = small.arrays["tanh/orthogonal/depth8/singular_values"]
    assert sv.shape == (4, 100) and sv.min() > 0.7 and sv.max() < 1.3


def test_measurement_follows_the_theory(small: results.Result) -> None:
    for case in ("tanh/orthogonal", "tanh/gaussian", "relu/orthogonal", "relu/gaussian"):
        measured = small.arrays[f"{case}/normalized_variance"].mean(axis=1)
        assert np.allclose(measured, small.arrays[f"{case}/predicted_variance"], rtol=0.25), case
        assert np.allclose(small.arrays[f"{case}/mean_sq_singular_value"].mean(axis=1), 1.0, atol=0.35), case


def test_negative_control_a_large_q_star_loses_isometry() -> None:
    r = run(Config(width=100, depths=(2, 8), seeds=2, tanh_q_star=1.0))
    isometry = next(k for k in r.claims if k.startswith("orthogonal tanh"))
    assert r.claims[isometry] is False
    # the theory still predicts what is measured: only the paper's effect is gone
    theory = next(k for k in r.claims if k.startswith("the normalized spectrum variance"))
    assert r.claims[theory] is True


def test_rows_are_tidy(small: results.Result) -> None:
    assert len(small.rows) == 4 * 2 * 4 * 5  # cases x depths x seeds x metrics
    assert all({"model", "step", "layer", "metric", "value", "activation", "weights", "seed"} <= set(r)
               for r in small.rows)  # fmt: skip
    assert {r["model"] for r in small.rows} == set(range(16))


@pytest.mark.parametrize(
    ("key", "value"),
    [("width", 1), ("depths", ()), ("depths", (0, 2)), ("seeds", 0), ("tanh_q_star", 0.0), ("tanh_q_star", 5.0)],
)
def test_bad_setting_names_it(key: str, value: object) -> None:
    with pytest.raises(InitlabValueError, match=key):
        Config(**{key: value})  # type: ignore[arg-type]


def test_settings_together_name_themselves() -> None:
    with pytest.raises(InitlabValueError, match="'width', 'depths' and 'seeds'"):
        Config(width=4000, depths=(1024,), seeds=10)
    with pytest.raises(InitlabValueError, match="depths"):
        make_config("pennington2017", {"depths": "two"})


def test_figure_draws_after_round_trip(small: results.Result, tmp_path: object) -> None:
    import matplotlib.pyplot as plt

    loaded = results.load(results.save(small, tmp_path, figures=True))
    figs = results.figures(loaded)
    assert sorted(figs) == ["pennington2017_spectra", "pennington2017_variance"]
    for fig in figs.values():
        plt.close(fig)


@pytest.mark.slow
def test_default_run_holds() -> None:
    r = get("pennington2017").run()
    assert all(r.claims.values()), r.tables[TABLE]


@pytest.mark.slow
def test_full_size_holds_with_two_seeds() -> None:
    r = run(make_config("pennington2017", full=True, seeds=2))
    assert r.config["width"] == 1000 and max(r.config["depths"]) == 128
    assert all(r.claims.values()), r.tables[TABLE]
