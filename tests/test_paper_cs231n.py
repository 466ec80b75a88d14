"""The CS231n initialization demo: activation statistics through 10 layers for five starts."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from initlab import results
from initlab._validation import InitlabValueError
from initlab.papers import make_config
from initlab.papers.cs231n import CASES, LECTURE, Config, _close, _factor, _theory, run

SMALL = Config(features=200, examples=300, layers=6, seeds=3)


@pytest.fixture(scope="module")
def small() -> results.Result:
    return run(SMALL)


def test_small_run_bears_out_the_lecture(small: results.Result) -> None:
    assert len(small.claims) == 9
    assert all(small.claims.values()), small.tables["Paper vs ours"]
    # 0.01 * randn: gone after a few layers; randn: saturated; He: near 0.83
    assert small.arrays["tanh 0.01*randn/std"][:, -1].max() < 1e-3
    assert small.arrays["tanh 1.0*randn/saturated"].min() > 0.8
    assert np.allclose(small.arrays["relu he/std"][:, 0], 0.825, rtol=0.05)


def test_measurement_follows_the_theory(small: results.Result) -> None:
    for case in ("tanh 0.01*randn", "tanh 1.0*randn", "tanh xavier", "relu xavier"):
        measured = small.arrays[f"{case}/std"].mean(axis=0)
        assert np.allclose(measured, small.arrays[f"{case}/theory_std"], rtol=0.15), case


def test_lecture_digits_agree_with_the_theory() -> None:
    # the digits quoted from memory agree with the mean-field numbers at the lecture's size
    for case in ("tanh 0.01*randn", "tanh 1.0*randn", "tanh xavier", "relu he"):
        theory = _theory(case, 500, 10, 1.0)
        lecture = np.array([math.nan if v is None else v for v in LECTURE[case]])
        assert np.allclose(lecture, theory, rtol=0.03), case


def test_negative_control_the_checks_tell_the_cases_apart(small: results.Result) -> None:
    # relu with 1/sqrt(fan_in) fails He's flatness check; the xavier tanh profile is not the saturated one
    assert not _close(_factor(small.arrays["relu xavier/std"]), 1.0)
    assert not _close(small.arrays["tanh xavier/std"], 0.98)
    assert not _close(_factor(small.arrays["tanh xavier/std"]), math.sqrt(200) * 0.01)


def test_rows_are_tidy(small: results.Result) -> None:
    assert len(small.rows) == len(CASES) * 3 * 6 * 3
    assert all({"model", "step", "layer", "metric", "value", "case", "seed"} <= set(r) for r in small.rows)


@pytest.mark.parametrize(("key", "value"), [("features", 1), ("layers", 1), ("seeds", 0), ("data_seed", -1)])
def test_bad_setting_names_it(key: str, value: int) -> None:
    with pytest.raises(InitlabValueError, match=key):
        Config(**{key: value})


def test_bad_setting_text_names_it() -> None:
    with pytest.raises(InitlabValueError, match="layers"):
        make_config("cs231n", {"layers": "ten"})


def test_figure_draws_after_round_trip(small: results.Result, tmp_path: object) -> None:
    import matplotlib.pyplot as plt

    loaded = results.load(results.save(small, tmp_path, figures=True))
    figs = results.figures(loaded)
    assert list(figs) == ["cs231n_layers"]
    for fig in figs.values():
        plt.close(fig)


@pytest.mark.slow
def test_default_run_holds() -> None:
    r = run()
    assert all(r.claims.values()), r.tables["Paper vs ours"]


@pytest.mark.slow
def test_full_run_holds_with_fewer_seeds() -> None:
    r = run(make_config("cs231n", full=True, seeds=8))
    assert all(r.claims.values()), r.tables["Paper vs ours"]
