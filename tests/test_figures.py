"""Figures: drawn from the rows and arrays alone, every axis labelled, colour-blind-safe colours, no legend
covering the data, and every diverged model drawn where its loss stopped being finite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from initlab.results import Result, figures, load, save
from initlab.results._figures import PALETTE

GREYS = {"#999999", "#777777", "#000000"}
DIVERGED_AT, LAST_FINITE = 60, 0.42


def _divergence(rows: list[dict[str, Any]], models: dict[int, dict[str, Any]], diverged: int) -> None:
    """Rows diverged_at / last_finite_loss for every model; model ``diverged`` diverged at step 60."""
    for m, described in models.items():
        base = {"model": m, **described, "layer": 0, "step": 99}
        rows.append({**base, "metric": "diverged_at", "value": DIVERGED_AT if m == diverged else -1})
        rows.append({**base, "metric": "last_finite_loss", "value": LAST_FINITE if m == diverged else 0.3})


def _loss(rows: list[dict[str, Any]], m: int, described: dict[str, Any], diverged: bool) -> None:
    for step in range(0, 100, 20):
        value = float("nan") if diverged and step > DIVERGED_AT else 0.7 - 0.003 * step * (1 + m % 3)
        rows.append({"model": m, **described, "layer": 0, "step": step, "metric": "loss", "value": value})


def synthetic(name: str) -> Result:
    """A small run of ``name`` with the columns and arrays its figures read; its model 0 diverged."""
    rows: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    config: dict[str, Any] = {}
    models: dict[int, dict[str, Any]] = {}
    if name == "symmetry":  # 3 starts x 4 widths: 12 lines, once in one legend
        for init in ("constant 0", "constant 0.5", "randn"):
            for width in (1, 2, 4, 8):
                m = len(models)
                models[m] = {"width": width, "init": init, "seed": 0}
                for step in (0, 50, 99):
                    value = width if init == "randn" else 1
                    rows.append({"model": m, **models[m], "layer": 1, "step": step, "metric": "distinct_units",
                                 "value": value})  # fmt: skip
    elif name == "bias-vs-weights":
        for act in ("tanh", "relu"):
            for init in ("zero W, rand b", "rand W, zero b", "zero W, zero b"):
                m = len(models)
                models[m] = {"activation": act, "init": init, "seed": 0}
                for step in range(0, 100, 20):
                    rows.append({"model": m, **models[m], "layer": 1, "step": step, "metric": "sv_ratio_W1",
                                 "value": 0.01 * step * (init != "zero W, zero b")})  # fmt: skip
    elif name == "scale":
        for act in ("tanh", "sigmoid"):
            for c in (0.0, 0.01, 1.0, 100.0):
                m = len(models)
                models[m] = {"activation": act, "init": f"{c:g} * randn", "scale": c, "seed": 0}
                for metric, value in (("saturated", min(1.0, c)), ("dgz_mean", 1 / (1 + c))):
                    rows.append({"model": m, **models[m], "layer": 1, "step": 0, "metric": metric, "value": value})
    elif name == "depth":
        schemes = ("0.01 * randn", "he")
        for act in ("tanh", "relu"):
            for scheme in schemes:
                arrays[f"{act}/{scheme}/std_by_depth"] = np.geomspace(1, 1e-3 if scheme != "he" else 0.5, 12)[None]
                arrays[f"{act}/{scheme}/histogram"] = np.ones((10, 60))
                arrays[f"{act}/{scheme}/grad_histogram"] = np.ones((10, 40))
                for layer in range(1, 11):
                    rows.append({"model": 0, "activation": act, "init": scheme, "seed": 0, "step": 0, "layer": layer,
                                 "metric": "grad_norm", "value": 10.0**-layer})  # fmt: skip
            loss = np.tile(np.linspace(0.7, 0.2, 100)[:, None], (1, len(schemes)))
            for k, scheme in enumerate(schemes):
                models_key = len(models)
                models[models_key] = {"activation": act, "init": scheme, "seed": 0}
                rows.append({"model": k, **models[models_key], "layer": 0, "step": 100, "metric": "final_loss",
                             "value": 0.2})  # fmt: skip
            if act == "tanh":
                loss[DIVERGED_AT:, 0] = np.nan
            arrays[f"{act}/train_loss"] = loss
        rows += [{"model": 0, "activation": "tanh", "init": "0.01 * randn", "seed": 0, "layer": 0, "step": 100,
                  "metric": "diverged_at", "value": DIVERGED_AT},
                 {"model": 0, "activation": "tanh", "init": "0.01 * randn", "seed": 0, "layer": 0, "step": 100,
                  "metric": "last_finite_loss", "value": LAST_FINITE}]  # fmt: skip
        return Result("depth", config, rows, arrays, answer="a")
    elif name == "course":
        config = {"inits": ["zeros", "large", "he"], "seeds": [3, 4]}
        for init in config["inits"]:
            for seed in config["seeds"]:
                m = len(models)
                models[m] = {"init": init, "seed": seed}
                rows.append({"model": m, **models[m], "layer": 0, "step": 100, "metric": "test_accuracy", "value": 0.9})
        g = np.linspace(-1, 1, 20)
        arrays["grid_x"], arrays["grid_y"] = np.meshgrid(g, g)
        arrays["grid_logits"] = np.stack([arrays["grid_x"] * (m + 1) for m in models])
        arrays["X_train"] = np.random.default_rng(0).normal(size=(2, 50))
        arrays["Y_train"] = (arrays["X_train"][:1] > 0).astype(float)
    for m, described in models.items():
        _loss(rows, m, described, diverged=m == 0)
    _divergence(rows, models, diverged=0)
    return Result(name, config, rows, arrays, answer="a")


NAMES = ["symmetry", "bias-vs-weights", "scale", "depth", "course"]


@pytest.fixture(autouse=True)
def _close_figures() -> Any:
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize("name", NAMES)
def test_every_axis_is_labelled_and_coloured_from_the_palette(name: str) -> None:
    drawn = figures(synthetic(name))
    assert drawn
    palette = {c.lower() for c in PALETTE} | GREYS
    from matplotlib.colors import to_hex

    for fig_name, fig in drawn.items():
        for ax in fig.axes:
            if not ax.get_visible():
                continue
            assert ax.get_xlabel() and (ax.get_ylabel() or ax.get_shared_y_axes().get_siblings(ax)), (fig_name, ax)
            for line in ax.get_lines():
                assert to_hex(line.get_color()) in palette, (fig_name, line.get_color())
            legend = ax.get_legend()
            assert legend is None or len(legend.get_texts()) <= 6, (fig_name, len(legend.get_texts()))


def test_symmetry_splits_its_twelve_lines_and_labels_the_units_directly() -> None:
    drawn = figures(synthetic("symmetry"))
    units = drawn["symmetry"].axes[0]
    assert units.get_legend() is None
    labels = {t.get_text() for t in units.texts}
    assert {"constant 0", "constant 0.5", "randn"} <= labels
    loss_panels = [ax for ax in drawn["symmetry_loss"].axes if ax.get_visible()]
    assert [ax.get_title() for ax in loss_panels] == ["constant 0", "constant 0.5", "randn"]
    assert all(len([ln for ln in ax.get_lines() if len(ln.get_xdata()) > 2]) == 4 for ax in loss_panels)  # widths


def _crosses(fig: Any) -> list[tuple[float, float]]:
    return [
        (float(line.get_xdata()[0]), float(line.get_ydata()[0]))
        for ax in fig.axes
        for line in ax.get_lines()
        if line.get_marker() == "x"
    ]


@pytest.mark.parametrize("name", NAMES)
def test_a_diverged_model_is_drawn_where_its_loss_stopped(name: str) -> None:
    drawn = figures(synthetic(name))
    crosses = [c for fig in drawn.values() for c in _crosses(fig)]
    assert crosses == [(DIVERGED_AT, LAST_FINITE)], crosses  # one diverged model, one cross, at its last loss
    notes = [t.get_text() for fig in drawn.values() for ax in fig.axes for t in ax.texts]
    assert "x = diverged (1)" in notes


def test_no_cross_when_nothing_diverged() -> None:
    result = synthetic("scale")
    result.rows = [r for r in result.rows if r["metric"] != "diverged_at"]
    assert [c for fig in figures(result).values() for c in _crosses(fig)] == []


def test_a_model_without_any_finite_loss_is_marked_at_the_top_edge() -> None:
    result = synthetic("course")
    for r in result.rows:
        if r["metric"] == "last_finite_loss" and r["model"] == 0:
            r["value"] = float("nan")
    (ax,) = figures(result)["course_cost"].axes
    (cross,) = [line for line in ax.get_lines() if line.get_marker() == "x"]
    assert cross.get_transform() != ax.transData and cross.get_ydata()[0] == pytest.approx(0.97)


@pytest.mark.parametrize("name", NAMES)
def test_figures_are_rebuilt_from_a_saved_run(tmp_path: Path, name: str) -> None:
    first = save(synthetic(name), tmp_path / "a")
    again = save(load(first), tmp_path / "b")
    for png in sorted(first.glob("*.png")):
        assert png.read_bytes() == (again / png.name).read_bytes(), png.name
        assert png.with_suffix(".svg").read_bytes() == (again / png.name).with_suffix(".svg").read_bytes()
