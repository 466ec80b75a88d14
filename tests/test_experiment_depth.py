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
    assert len(result.claims) == 5 and all(result.claims.values()), result.claims


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
    [({"schemes": ("lsuv",)}, "'schemes' argument of depth must list names"), ({"activations": ("gelu",)}, "'tanh'"),
     ({"max_depth": 5}, "'max_depth' argument of depth must be an int >= 10"), ({"dataset": "digits"}, "binary")],
)  # fmt: skip
def test_bad_config(changes, message) -> None:
    with pytest.raises(InitlabValueError, match=message):
        depth.run(depth.Config(**changes))
