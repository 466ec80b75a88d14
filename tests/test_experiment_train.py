"""The train experiment: the explorer's build, its settings' checks, and its numbers against the engine's."""

from __future__ import annotations

import math

import numpy as np
import pytest

from initlab import InitlabValueError
from initlab.engine import init_params, loss_and_grads, train
from initlab.experiments import REGIMES, from_text
from initlab.experiments import train as tr


def test_build_gives_the_net_the_loss_and_the_models_of_each_start() -> None:
    cfg = tr.Config(depth=3, width=5, activation="tanh", compare="zero", compare_biases="normal(std=0.1)", seeds=3,
                    seed=7)  # fmt: skip
    b = tr.build(cfg)
    assert b.net.layer_dims == (2, 5, 5, 5, 1) and b.net.loss.name == "bce"
    assert b.seeds == (7, 8, 9, 7, 8, 9)
    assert [(s.label, s.weights, s.biases, s.models) for s in b.starts] == [
        ("A", "he_normal", "zeros", range(0, 3)),
        ("B", "zeros", "normal(std=0.1)", range(3, 6)),
    ]
    assert b.params["W2"].shape == (6, 5, 5) and b.params["b4"].shape == (6, 1, 1)
    assert all(v.dtype == np.float64 for v in b.params.values())
    assert b.X.shape == (2, 300) and b.Y.shape == (1, 300) and b.data.name == "circles"
    for k in range(3):  # model k of a start is that start's spec drawn alone from seed + k, bit for bit
        for start in b.starts:
            alone = init_params(b.net.layer_dims, weights=start.weights, biases=start.biases, rng=7 + k)
            for key, value in alone.items():
                assert np.array_equal(b.params[key][start.models[k]], value), (start.label, k, key)
    assert not b.params["W1"][3:].any()  # the zero start really is zero


def test_build_without_a_second_start_and_the_data_are_the_callers_own() -> None:
    b = tr.build(tr.Config())
    assert len(b.starts) == 1 and b.seeds == (0,) and b.params["W1"].shape == (1, 8, 2)
    b.X[:] = 0.0  # the next build gets the dataset as it was
    assert tr.build(tr.Config()).X.any()


def test_digits_has_ten_one_hot_classes_and_the_softmax_loss() -> None:
    b = tr.build(tr.Config(dataset="digits", depth=1, width=16))
    assert b.net.layer_dims == (64, 16, 10) and b.net.loss.name == "softmax_ce"
    assert b.Y.shape == (10, b.X.shape[1]) and np.array_equal(b.Y.sum(axis=0), np.ones(b.X.shape[1]))
    assert "'softmax_ce'" in tr.python_call(tr.Config(dataset="digits"))


@pytest.mark.parametrize("regime", list(REGIMES))
def test_regimes_resolve_to_their_specs(regime: str) -> None:
    cfg = from_text(tr.Config, {"weights": regime, "compare": regime})
    assert tr.weights_spec(cfg.weights) == REGIMES[regime]
    assert [s.weights for s in tr.build(cfg).starts] == [REGIMES[regime]] * 2


WEIGHTS = (
    "The 'weights' setting of train must be a regime (zero, too small, appropriate, too large) or an initializer spec."
)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"weights": "nonsense"}, f"{WEIGHTS} Got 'nonsense' instead: The 'spec' argument of get must name"),
        ({"weights": "(" * 500}, f"{WEIGHTS} Got '((((("),
        ({"weights": "normal(std=-1)"}, "std' argument of normal must be a finite float >= 0"),
        ({"weights": "dirac"}, "The 'weights' setting of train must be"),  # a conv kernel's scheme on a dense layer
        ({"compare": "too big"}, "The 'compare' setting of train must be a regime"),
        ({"biases": "he_normal"}, "The 'biases' setting of train must be a bias policy spec"),
        ({"compare": "he_normal", "compare_biases": "normal(mean=1"}, "The 'compare_biases' setting of train"),
        ({"width": "0"}, "The 'width' setting of train must be an int >= 1 and <= 64. Got '0' instead."),
        ({"depth": "9"}, "The 'depth' setting of train must be an int >= 1 and <= 8."),
        ({"lr": "0"}, "The 'lr' setting of train must be a finite float > 0 and <= 100."),
        ({"seeds": "17"}, "The 'seeds' setting of train must be an int >= 1 and <= 16."),
        ({"dataset": "circle"}, "Did you mean 'circles'?"),
        ({"activation": "softmax"}, "The 'activation' setting of train must be one of 'linear'"),
        ({"optimizer": "sgd"}, "The 'optimizer' setting of train must be one of 'gd', 'momentum', 'adam'"),
    ],
)
def test_bad_settings_name_the_setting(settings: dict[str, str], message: str) -> None:
    with pytest.raises(InitlabValueError) as info:
        from_text(tr.Config, settings)
    assert message in str(info.value) and "\n" not in str(info.value) and len(str(info.value)) < 700


def test_the_default_lr_trains_he_on_circles_below_0_1_in_2000_steps() -> None:
    cfg = tr.Config()
    b = tr.build(cfg)
    h = train(b.net, b.params, b.X, b.Y, steps=cfg.steps, optimizer=tr.make_optimizer(cfg), record_every=0,
              backend="numpy")  # fmt: skip
    assert h.loss[-1, 0] < 0.1 and h.loss[0, 0] > 0.5


def test_a_zero_start_on_circles_stays_at_ln2_with_one_distinct_unit_per_layer() -> None:
    from initlab.engine import distinct_units, forward

    cfg = tr.Config(weights="zero", steps=300)
    b = tr.build(cfg)
    h = train(b.net, b.params, b.X, b.Y, steps=cfg.steps, optimizer=tr.make_optimizer(cfg), record_every=0,
              backend="numpy")  # fmt: skip
    assert np.abs(h.loss - math.log(2)).max() < 1e-12
    _, caches = forward(b.net, b.params, b.X)
    for l in (1, 2):
        assert distinct_units(b.params[f"W{l}"], b.params[f"b{l}"], caches[l - 1][2]).tolist() == [1]
    cost, _ = loss_and_grads(b.net, b.params, b.X, b.Y)
    assert abs(float(cost[0]) - math.log(2)) < 1e-12


def test_make_optimizer_is_fresh_each_time() -> None:
    cfg = tr.Config(optimizer="adam", lr=0.5)
    a, b = tr.make_optimizer(cfg), tr.make_optimizer(cfg)
    assert a is not b and a.lr == 0.5 and type(a).__name__ == "Adam"
