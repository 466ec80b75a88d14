"""The depth experiment: 10 layers of 500 units, the lecture's and the issue's numbers."""

from __future__ import annotations

import numpy as np
import pytest

from initlab import InitlabValueError
from initlab.experiments import depth


@pytest.fixture(scope="module")
def result():
    cfg = depth.Config(schemes=("0.01 * randn", "randn", "xavier", "he"), activations=("tanh", "relu"), seeds=1,
                       max_depth=20, train_width=32, steps=150)  # fmt: skip
    return depth.run(cfg)


def _layer(result, metric, init, act, layer):
    return next(r["value"] for r in result.metric(metric, init=init, activation=act, layer=layer))


def test_every_claim_holds(result) -> None:
    assert len(result.claims) == 6 and all(result.claims.values()), result.claims
    assert "0.01 * randn shrinks the signal about 4.5x per layer" in result.answer
    assert "He (relu) and Xavier (tanh) learn" in result.answer
    after = {(r["activation"], r["init"]): r for r in result.tables["After 150 steps (10 layers of 32)"]}
    assert after[("relu", "randn")]["diverged"] == 1 and after[("relu", "randn")]["train accuracy"] == "n/a"
    assert "1 of 8 models diverged" in result.answer  # randn on 10 relu layers overflows
    assert result.command.startswith("initlab run depth --set max_depth=20")


def test_divergence_rows_for_every_trained_model(result) -> None:
    at = {(r["activation"], r["init"]): r["value"] for r in result.metric("diverged_at")}
    assert len(at) == 8 and at[("relu", "randn")] >= 0 and at[("tanh", "xavier")] == -1
    acc = {(r["activation"], r["init"]): r["value"] for r in result.metric("train_accuracy")}
    assert acc[("relu", "randn")] != acc[("relu", "randn")]  # NaN: a diverged net's accuracy is not quoted
    assert len(result.metric("last_finite_loss")) == 8


def test_chunks_change_no_number(monkeypatch) -> None:
    cfg = depth.Config(schemes=("xavier", "randn"), activations=("relu",), seeds=3, layers=3, width=40, max_depth=4,
                       train_width=8, steps=20)  # fmt: skip
    whole = depth.run(cfg)
    monkeypatch.setattr(depth.chunks, "__defaults__", (1,))  # a budget of 1 byte: one model per chunk
    chunked = depth.run(cfg)
    assert [r["value"] for r in chunked.rows] == pytest.approx([r["value"] for r in whole.rows], nan_ok=True, rel=0)
    assert np.array_equal(chunked.arrays["relu/train_loss"], whole.arrays["relu/train_loss"], equal_nan=True)


def test_a_huge_learning_rate_diverges_and_is_said() -> None:
    cfg = depth.Config(schemes=("xavier", "he"), activations=("relu",), seeds=2, layers=2, width=16, max_depth=2,
                       train_width=8, steps=20, lr=1e300)  # fmt: skip
    r = depth.run(cfg)
    assert all(row["value"] >= 0 for row in r.metric("diverged_at"))
    assert all(row["value"] != row["value"] for row in r.metric("train_accuracy"))
    assert "All 4 models diverged" in r.answer


@pytest.mark.slow
def test_peak_bytes_is_within_a_factor_2_of_the_measured_peak() -> None:
    import subprocess
    import sys

    cfg = "dict(schemes=('xavier', 'he'), activations=('tanh',), seeds=16, width=300, max_depth=10, steps=5)"
    code = (
        "import tracemalloc, numpy as np\n"
        "from initlab.experiments import depth, peak_bytes\n"
        f"cfg = depth.Config(**{cfg})\n"
        "from initlab import data; data.load(cfg.dataset)\n"
        "tracemalloc.start(); depth.run(cfg); print(tracemalloc.get_traced_memory()[1], peak_bytes('depth', cfg))\n"
    )
    measured, estimate = map(int, subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                                  check=True).stdout.split())  # fmt: skip
    assert measured / 2 < estimate < measured * 2, (measured, estimate)


def test_randn_saturates_about_90_percent_of_deep_tanh_units(result) -> None:
    deep = [_layer(result, "saturated", "randn", "tanh", layer) for layer in range(2, 11)]
    assert 0.8 < np.mean(deep) < 0.97


def test_small_weights_vanish_about_4_5x_per_layer(result) -> None:
    stds = [_layer(result, "act_std", "0.01 * randn", "tanh", layer) for layer in range(1, 11)]
    assert stds[-1] < 1e-5
    ratios = np.array(stds[1:-1]) / np.array(stds[2:])
    assert np.allclose(ratios, 1 / (0.01 * np.sqrt(500)), rtol=0.1)


def test_he_keeps_relu_std_xavier_halves_its_variance(result) -> None:
    he = result.arrays["relu/he/std_by_depth"][0]
    xavier = result.arrays["relu/xavier/std_by_depth"][0]
    assert he.max() / he.min() < 2
    per_layer = (xavier[-1] / xavier[0]) ** (2 / (len(xavier) - 1))  # the variance's geometric-mean ratio
    assert per_layer == pytest.approx(0.5, abs=0.05)
    assert result.arrays["tanh/xavier/histogram"].shape == (10, 60)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"schemes": ("lsuv",)}, "'schemes' setting of depth must be a non-empty list of distinct values, each one of"),
     ({"activations": ("gelu",)}, "'tanh'"), ({"dataset": "digits"}, "'breast_cancer'"),
     ({"max_depth": 5}, "'max_depth' setting of depth must be an int >= 'layers' \\(10\\). Got 5")],
)  # fmt: skip
def test_bad_config(changes, message) -> None:
    with pytest.raises(InitlabValueError, match=message):
        depth.Config(**changes)


def test_theory_drawn_over_the_measurement(result) -> None:
    """The prediction is kept beside each measured profile, follows it, and a wrong prediction is caught."""
    theory_claim = next(c for c in result.claims if c.startswith("mean-field theory predicts"))
    assert result.claims[theory_claim] and "Mean-field theory" in result.answer
    cfg = depth.Config(**{k: v for k, v in result.config.items()})
    he = result.arrays["relu/he/predicted_std_by_depth"]
    assert he.shape == (20,) and np.allclose(he, np.sqrt(1 - 1 / np.pi), rtol=0.15)  # sqrt(q (1/2 - 1/(2 pi))), q ~ 2
    assert depth._theory_gap(cfg, result.arrays) <= depth.THEORY_FACTOR
    swapped = dict(result.arrays)  # negative control: xavier's prediction against he's measurement on relu
    swapped["relu/he/predicted_std_by_depth"] = result.arrays["relu/xavier/predicted_std_by_depth"]
    assert depth._theory_gap(cfg, swapped) > 100


def test_sigma_w2_of_a_scheme() -> None:
    assert depth.sigma_w2("he_normal", (500, 30)) == pytest.approx(2.0)
    assert depth.sigma_w2("xavier_normal", (500, 30)) == pytest.approx(2 * 30 / 530)
    assert depth.sigma_w2("randn(scale=0.01)", (500, 500)) == pytest.approx(0.05)
