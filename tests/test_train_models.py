"""The train experiment's per-model API (what a sweep trains): ensemble_key, train_models, model_bytes, model_cost,
the loss and mini-batch settings, and the explorer's own limits."""

from __future__ import annotations

import json
import math
import tracemalloc
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from initlab import InitlabTypeError, InitlabValueError
from initlab.engine import MLP
from initlab.experiments import from_text, settings
from initlab.experiments import train as tr


def _same(a: tr.ModelResult, b: tr.ModelResult) -> bool:
    """Bit-identical results: every float compared by its repr (NaN equals NaN, 0.1 + 1e-17 does not)."""
    return json.dumps([a.status, a.diverged_at, a.metrics], sort_keys=True) == json.dumps(
        [b.status, b.diverged_at, b.metrics], sort_keys=True
    )


def _alone_and_together(configs: list[tr.Config]) -> tuple[list[tr.ModelResult], list[tr.ModelResult]]:
    together = tr.train_models(configs)
    alone = [tr.train_models([c])[0] for c in configs]
    return together, alone


def _backends(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The backend of every engine train call that train_models makes from now on."""
    seen: list[str] = []
    real = tr.train  # type: ignore[attr-defined]

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["backend"])
        return real(*args, **kwargs)

    monkeypatch.setattr(tr, "train", spy)
    return seen


# --- model k alone is model k of any ensemble -----------------------------------------------------------------


def test_numpy_path_gives_each_model_its_bits_alone_and_in_an_ensemble(monkeypatch: pytest.MonkeyPatch) -> None:
    # softmax on digits, mini-batches, heavy ball, and per-model seeds, starts, biases and learning rates
    base = tr.Config(dataset="digits", depth=2, width=16, optimizer="heavy_ball", batch_size=100, shuffle=7, steps=30,
                     record_every=10)  # fmt: skip
    configs = [
        replace(base, seed=0),
        replace(base, seed=1, weights="xavier_uniform", lr=0.05),
        replace(base, seed=2, weights="normal(std=0.3)", biases="normal(std=0.1)", lr=0.3),
        replace(base, seed=0, lr=0.02),  # model 0's start with another learning rate
    ]
    assert len({tr.ensemble_key(c) for c in configs}) == 1
    backends = _backends(monkeypatch)
    together, alone = _alone_and_together(configs)
    assert backends == ["numpy"] * 5
    for k, (a, b) in enumerate(zip(together, alone, strict=True)):
        assert _same(a, b), k
        assert a.status == "done" and a.metrics["curve_steps"] == [0, 10, 20, 30]
        assert len(a.metrics["loss_curve"]) == 4 and a.metrics["loss_curve"][-1] == a.metrics["final_loss"]
        assert 0.1 < a.metrics["train_accuracy"] <= 1.0 and 0.1 < a.metrics["test_accuracy"] <= 1.0
    # negative control: the models really differ, so the equality above is not vacuous
    finals = [r.metrics["final_loss"] for r in together]
    assert len(set(finals)) == 4 and together[0].metrics["loss_curve"][0] == together[3].metrics["loss_curve"][0]


def test_numpy_path_gives_the_numbers_of_run() -> None:
    cfg = tr.Config(dataset="digits", width=16, optimizer="adam", lr=0.01, batch_size=64, shuffle=3, steps=25,
                    record_every=5, seed=4)  # fmt: skip
    (res,) = tr.train_models([cfg])
    result = tr.run(cfg)
    rows = {(r["metric"], r["step"]): r["value"] for r in result.rows if r["layer"] == 0}
    assert res.metrics["final_loss"] == float(result.arrays["cost"][0]) == rows[("loss", 25)]
    assert res.metrics["loss_curve"][:-1] == [rows[("loss", t)] for t in (0, 5, 10, 15, 20)]
    assert res.metrics["train_accuracy"] == rows[("train_accuracy", 25)]
    assert res.metrics["test_accuracy"] == rows[("test_accuracy", 25)]
    assert res.metrics["min_loss"] == min(result.arrays["loss"][:, 0].min(), result.arrays["cost"][0])


def test_numba_path_gives_each_model_its_bits_alone_and_in_an_ensemble(monkeypatch: pytest.MonkeyPatch) -> None:
    base = tr.Config(dataset="circles", depth=3, width=16, activation="tanh", steps=60, record_every=20)
    configs = [replace(base, seed=s, lr=lr, weights=w)
               for s, lr, w in [(0, 0.1, "he_normal"), (1, 0.5, "xavier_normal"), (2, 1.0, "lecun_normal")]]  # fmt: skip
    backends = _backends(monkeypatch)
    together, alone = _alone_and_together(configs)
    assert backends == ["numba"] * 4  # bce, gd, tanh, full batch: the fused kernel, alone as in the ensemble
    for k, (a, b) in enumerate(zip(together, alone, strict=True)):
        assert _same(a, b), k
        assert a.status == "done" and a.metrics["final_loss"] < a.metrics["loss_curve"][0]
    assert len({r.metrics["final_loss"] for r in together}) == 3
    # the kernel's numbers are the numpy path's up to rounding (it reassociates sums)
    numpy = tr.run(configs[1])
    assert together[1].metrics["final_loss"] == pytest.approx(float(numpy.arrays["cost"][0]), rel=1e-9)


def test_the_backend_follows_the_config_only() -> None:
    assert tr._backend(tr.Config()) == "numba"
    assert tr._backend(tr.Config(activation="tanh")) == "numba"
    for other in ({"optimizer": "adam"}, {"batch_size": 10}, {"loss": "mse"}, {"dataset": "digits"}):
        assert tr._backend(tr.Config(**other)) == "numpy", other


def test_fused_activations_are_the_kernels() -> None:
    from initlab.engine._fused import SUPPORTED_ACTIVATIONS

    assert set(tr.FUSED_ACTIVATIONS) == set(SUPPORTED_ACTIVATIONS)


# --- ensemble keys ----------------------------------------------------------------------------------------------


def test_ensemble_key_ignores_only_the_per_model_settings() -> None:
    base = tr.Config()
    key = tr.ensemble_key(base)
    for same in ({"seed": 9}, {"weights": "zero"}, {"biases": "normal(std=0.1)"}, {"lr": 0.5}):
        assert tr.ensemble_key(replace(base, **same)) == key, same
    for other in ({"width": 9}, {"depth": 3}, {"activation": "tanh"}, {"optimizer": "adam"}, {"steps": 10},
                  {"batch_size": 30}, {"dataset": "moons"}, {"loss": "mse"}):  # fmt: skip
        assert tr.ensemble_key(replace(base, **other)) != key, other
    # the mini-batch order is a setting of its own, not the model seed: every seed of a cell shares one ensemble
    mini = replace(base, batch_size=30)
    assert tr.ensemble_key(replace(mini, seed=5)) == tr.ensemble_key(mini) != tr.ensemble_key(replace(mini, shuffle=1))
    assert tr.ensemble_key(base).startswith("train:circles:2x8:relu:bce:")
    assert tr.ensemble_key(replace(base, shuffle=4)) == key  # the full batch has no order to shuffle


def test_train_models_refuses_configs_of_different_ensembles() -> None:
    with pytest.raises(InitlabValueError, match="must share one ensemble_key .* at index 1") as info:
        tr.train_models([tr.Config(steps=5), tr.Config(steps=5, width=4)])
    assert "\n" not in str(info.value)
    with pytest.raises(InitlabValueError, match=r"one model per config \(seeds=1, compare=''\). Got seeds=2"):
        tr.train_models([tr.Config(steps=5, seeds=2)])
    with pytest.raises(InitlabValueError, match="Got seeds=1, compare='zero' at index 0"):
        tr.train_models([tr.Config(steps=5, compare="zero")])
    with pytest.raises(InitlabTypeError, match="must be a non-empty list of train Configs. Got"):
        tr.train_models([])
    with pytest.raises(InitlabTypeError, match="must hold train Configs. Got dict at index 0"):
        tr.train_models([{"steps": 5}])  # type: ignore[list-item]


# --- divergence ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["gd", "heavy_ball"])  # the kernel's path and the numpy path
def test_a_diverged_model_is_recorded_with_its_step_and_the_others_are_done(optimizer: str) -> None:
    base = tr.Config(activation="linear", depth=8, steps=40, record_every=10, optimizer=optimizer)
    configs = [replace(base, lr=0.01), replace(base, lr=100.0, seed=1), replace(base, lr=0.02, seed=2)]
    together, alone = _alone_and_together(configs)
    assert all(_same(a, b) for a, b in zip(together, alone, strict=True))
    ok, bad, ok2 = together
    assert ok.status == ok2.status == "done" and ok.diverged_at is None
    assert math.isfinite(ok.metrics["final_loss"]) and ok.metrics["last_finite_loss"] == ok.metrics["final_loss"]
    assert bad.status == "diverged" and isinstance(bad.diverged_at, int) and 0 < bad.diverged_at < 40
    assert math.isnan(bad.metrics["train_accuracy"]) and math.isnan(bad.metrics["test_accuracy"])
    assert math.isfinite(bad.metrics["last_finite_loss"]) and not math.isfinite(bad.metrics["final_loss"])
    assert bad.metrics["min_loss"] <= bad.metrics["last_finite_loss"]
    curve = bad.metrics["loss_curve"]
    assert math.isfinite(curve[0]) and not math.isfinite(curve[-1]) and len(curve) == 5


# --- the loss and mini-batch settings ---------------------------------------------------------------------------


def test_loss_auto_keeps_the_rule_and_mse_trains_with_its_own_accuracy() -> None:
    assert tr.build(tr.Config()).net.loss.name == "bce"
    assert tr.build(tr.Config(dataset="digits")).net.loss.name == "softmax_ce"
    assert tr.build(tr.Config(dataset="digits", loss="mse")).net.loss.name == "mse"
    (res,) = tr.train_models([tr.Config(loss="mse", width=16, steps=400, lr=0.1)])
    assert res.metrics["final_loss"] < 0.5 * res.metrics["loss_curve"][0]
    assert res.metrics["train_accuracy"] > 0.8  # outputs above 0.5 read as class 1: learnt, not exact-match zero
    (digits,) = tr.train_models([tr.Config(dataset="digits", loss="mse", width=32, steps=100, lr=0.5)])
    assert digits.metrics["train_accuracy"] > 0.5  # the largest output is the class


def test_accuracy_of_decides_mse_outputs_by_the_nearest_label() -> None:
    mse = MLP.make([1, 3], "linear", "mse")
    Z = np.array([[[0.9, 0.1], [0.2, 0.3], [0.0, 0.6]]])  # (M=1, 3 classes, 2 examples)
    Y = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    assert tr.accuracy_of(mse, Z, Y).tolist() == [1.0]
    assert tr.accuracy_of(mse, Z, Y[::-1]).tolist() == [0.0]  # negative control: the other labels
    bce = MLP.make([1, 1], "linear", "bce")
    assert tr.accuracy_of(bce, np.array([[[0.3, -2.0]]]), np.array([[1.0, 1.0]])).tolist() == [0.5]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"loss": "bce", "dataset": "digits"}, "The 'loss' setting of train must be 'auto', 'softmax_ce' or 'mse' "
         "for the 'digits' dataset ('bce' needs one output and the 'digits' labels are 10 one-hot classes). "
         "Got 'bce' instead."),
        ({"loss": "softmax_ce", "dataset": "moons"}, "The 'loss' setting of train must be 'auto', 'bce' or 'mse' for "
         "the 'moons' dataset ('softmax_ce' needs two or more classes and the 'moons' labels are one output)."),
        ({"batch_size": "1000"}, "The 'batch_size' setting of train must be 0 (the full batch) or an int from 1 to "
         "300, the examples of the 'circles' training set. Got 1000 instead."),
        ({"batch_size": "2.5"}, "The 'batch_size' setting of train must be an int >= 0. Got '2.5' instead."),
        ({"shuffle": "-1"}, "The 'shuffle' setting of train must be an int >= 0 and <= 2147483647."),
        ({"width": "2049"}, "The 'width' setting of train must be an int >= 1 and <= 2048. Got '2049' instead."),
    ],
)  # fmt: skip
def test_bad_loss_and_batch_settings_are_one_line_errors(settings: dict[str, str], message: str) -> None:
    with pytest.raises((InitlabValueError, InitlabTypeError)) as info:
        from_text(tr.Config, settings)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_batch_size_bounds_are_the_training_set() -> None:
    m = tr.build(tr.Config()).X.shape[1]
    assert tr.Config(batch_size=m).batch_size == m and tr.Config(batch_size=1).batch_size == 1


def test_python_call_reproduces_a_mini_batch_mse_run() -> None:
    cfg = tr.Config(loss="mse", batch_size=50, shuffle=2, steps=30, seed=3, optimizer="momentum")
    code = tr.python_call(cfg)
    assert "'mse'" in code and "batch_size=50, shuffle_seed=2" in code
    scope: dict[str, Any] = {}
    exec(code, scope)
    assert scope["cost"].tolist() == tr.run(cfg).arrays["cost"].tolist()


def test_a_large_net_is_checked_without_drawing_every_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    # 100 layers of 2048 would be 3.4 GB to draw: the check draws each layer shape there is once
    drawn: list[list[int]] = []
    real = tr.init_params  # type: ignore[attr-defined]

    def spy(dims: list[int], **kwargs: Any) -> Any:
        drawn.append(list(dims))
        return real(dims, **kwargs)

    monkeypatch.setattr(tr, "init_params", spy)
    tr._check_spec_once.cache_clear()
    cfg = tr.Config(depth=100, width=2048, weights="normal(std=0.02)")
    assert cfg.depth == 100 and drawn == [[2, 2048, 2048, 1]] * 2  # the weights' check, then the biases'
    with pytest.raises(InitlabValueError, match="The 'weights' setting of train must be a regime"):
        tr.Config(depth=100, width=2048, weights="normal(std=-1)")  # a bad spec is still caught on that net


# --- memory and cost estimates ------------------------------------------------------------------------------------


def test_model_bytes_is_near_the_measured_memory_of_one_more_model() -> None:
    cfg = tr.Config(dataset="digits", depth=3, width=64, optimizer="heavy_ball", steps=5)
    tr.train_models([cfg])  # the data generated, the code warm
    peaks = []
    for n in (1, 5):
        tracemalloc.start()
        tr.train_models([replace(cfg, seed=s) for s in range(n)])
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    per_model = (peaks[1] - peaks[0]) / 4
    assert 0.9 * per_model < tr.model_bytes(cfg) < 1.6 * per_model, (per_model, tr.model_bytes(cfg))
    assert tr.model_bytes(replace(cfg, batch_size=100)) < tr.model_bytes(cfg)


def test_model_cost_counts_the_multiply_adds() -> None:
    cfg = tr.Config(dataset="digits", depth=2, width=10, steps=7, batch_size=20)
    weights = 64 * 10 + 10 * 10 + 10 * 10
    d = tr.build(cfg).data
    m_test = 0 if d.X_test is None else d.X_test.shape[1]
    assert tr.model_cost(cfg) == weights * (3 * 7 * 20 + d.X_train.shape[1] + m_test)
    assert tr.model_cost(replace(cfg, steps=14)) > tr.model_cost(cfg)


# --- the explorer keeps its own limits --------------------------------------------------------------------------


def test_the_explorer_refuses_a_net_beyond_its_limits_in_one_line() -> None:
    from initlab.explorer._session import EXPLORER_LIMITS, Session, explorer_settings

    assert EXPLORER_LIMITS == {"depth": 8, "width": 64, "batch_size": 0}
    highs = {s.name: s.high for s in explorer_settings()}
    train_highs = {s.name: s.high for s in settings("train")}
    assert highs == {**train_highs, "width": 64, "depth": 8, "batch_size": 0} and train_highs["width"] == 2048
    for texts, shown in (({"width": "128"}, "'width' setting of the explorer must be an int >= 1 and <= 64"),
                         ({"depth": "9"}, "'depth' setting of the explorer must be an int >= 1 and <= 8"),
                         ({"batch_size": "10"}, "'batch_size' setting of the explorer must be an int >= 0 and <= 0")):  # fmt: skip
        with pytest.raises(InitlabValueError) as info:
            Session(texts)
        assert shown in str(info.value) and "\n" not in str(info.value)
        assert "initlab run train takes more" in str(info.value)
    s = Session({"width": "64", "depth": "8", "steps": "5"})  # negative control: the limits themselves are fine
    assert s.net.layer_dims == (2, *[64] * 8, 1)
