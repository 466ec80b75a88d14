"""The explorer's run, without a server: the messages' contents, and every number the engine's.

A :class:`~initlab.explorer.Session` must be the ``train`` experiment's run: its parameters after
``t`` steps are those of ``build(cfg)`` trained by one ``train(steps=t)`` call, however the steps
were chunked, and each number of a frame is what the engine computes on those parameters.
"""

from __future__ import annotations

import base64
import json
import math
import threading
from urllib.parse import parse_qsl

import numpy as np
import pytest

from initlab import InitlabValueError
from initlab.engine import clone_groups, distinct_units, forward, layer_stats, loss_and_grads, train
from initlab.experiments import REGIMES, make_config, settings
from initlab.experiments import train as experiment
from initlab.explorer import Session, check_texts, describe, setting_texts
from initlab.explorer import _session as session_module


def _trained(texts: dict[str, str], steps: int) -> tuple[object, dict[str, np.ndarray], np.ndarray]:
    """The reference: build(cfg), then one train call of ``steps`` steps; returns (built, params, losses)."""
    cfg = make_config("train", texts)
    built = experiment.build(cfg)
    history = train(built.net, built.params, built.X, built.Y, steps=steps, optimizer=experiment.make_optimizer(cfg),
                    record_every=0, backend="numpy")  # fmt: skip
    return built, built.params, history.loss


def _strict_json(message: dict) -> dict:
    """The message as the browser parses it (no NaN allowed)."""
    return json.loads(json.dumps(message, allow_nan=False))


def test_the_config_message_describes_the_run() -> None:
    s = Session({"weights": "zero", "compare": "he_normal", "seeds": "2"})
    c = _strict_json(s.config_message())
    assert c["type"] == "config"
    assert list(c["settings"]) == [x.name for x in settings("train")]
    assert c["settings"]["weights"] == "zero" and c["settings"]["seeds"] == "2"
    assert c["query"] == "weights=zero&compare=he_normal&seeds=2"  # only what differs, in declaration order
    assert c["command"] == "initlab run train --set weights=zero --set compare=he_normal --set seeds=2"
    assert c["python"] == experiment.python_call(s.cfg)
    assert [(a["label"], a["weights"], a["models"]) for a in c["starts"]] == [
        ("A", REGIMES["zero"], [0, 1]),
        ("B", "he_normal", [2, 3]),
    ]
    assert c["layer_dims"] == [2, 8, 8, 1] and c["loss"] == "bce"
    d = c["dataset"]
    assert d["name"] == "circles" and d["n_x"] == 2 and d["classes"] == 2
    assert len(d["points"]) == s.built.data.X_train.shape[1] and {p[2] for p in d["points"]} == {0, 1}
    xmin, xmax, ymin, ymax = d["box"]
    X = s.built.data.X_train
    assert xmin < X[0].min() and X[0].max() < xmax and ymin < X[1].min() and X[1].max() < ymax
    # one plan per start and layer; the realized std is the std of model 0's drawn W[l]
    assert [len(p) for p in c["plans"]] == [3, 3]
    he = c["plans"][1][0]
    assert he["fan_in"] == 2 and he["fan_out"] == 8 and he["std"] == pytest.approx(math.sqrt(2 / 2))
    assert he["realized_std"] == pytest.approx(float(np.std(s.params["W1"][2])))
    assert c["plans"][0][1]["std"] == 0 and c["plans"][0][1]["realized_std"] == 0


def test_a_frame_has_every_view_with_the_contract_shapes() -> None:
    s = Session({"depth": "3", "width": "20", "compare": "xavier_normal", "seeds": "3"})
    s.advance(7)
    f = _strict_json(s.frame(playing=True))
    assert f["type"] == "frame" and f["step"] == 7 and f["playing"] is True
    assert f["loss"]["steps"] == list(range(7)) and all(len(v) == 6 for v in f["loss"]["values"])
    assert len(f["cost"]) == len(f["accuracy"]) == len(f["diverged"]) == 6
    assert f["diverged"] == [-1] * 6
    b = f["boundary"]
    assert b["n"] == 64 and len(b["probs"]) == 2
    assert all(len(base64.b64decode(p)) == 64 * 64 for p in b["probs"])
    dims = [2, 20, 20, 20, 1]
    assert len(f["layers"]) == 2
    for per_start in f["layers"]:
        assert [layer["layer"] for layer in per_start] == [1, 2, 3, 4]
        for l, layer in enumerate(per_start, start=1):
            rows, cols = min(dims[l], 16), min(dims[l - 1], 16)
            assert layer["units"] == dims[l] and layer["shown"] == rows
            assert np.shape(layer["W"]) == np.shape(layer["dW"]) == (rows, cols)
            assert len(layer["groups"]) == dims[l] and layer["distinct"] == len(set(layer["groups"]))
            assert len(layer["hist"]["edges"]) == 21 and len(layer["hist"]["counts"]) == 20
            assert sum(layer["hist"]["counts"]) == dims[l] * s.X.shape[1]  # every activation of the train set
            for key in ("act_mean", "act_std", "w_std"):
                assert isinstance(layer[key], float)
    assert np.shape(f["spread"]["distinct"]) == (6, 4) and f["spread"]["cost"] == f["cost"]
    # the cost-curve points are handed out once
    assert s.frame()["loss"] == {"steps": [], "values": []}


def test_zero_weights_keep_one_distinct_unit_per_hidden_layer_and_the_cost_at_ln_2() -> None:
    s = Session({"weights": "zero", "compare": "he_normal", "depth": "3"})
    s.advance(300)
    f = s.frame()
    zero, he = f["layers"]
    assert [layer["distinct"] for layer in zero[:-1]] == [1, 1, 1]
    assert all(set(layer["groups"]) == {0} for layer in zero[:-1])  # every unit in the one clone group
    assert f["cost"][0] == pytest.approx(math.log(2), abs=1e-12)
    assert [layer["distinct"] for layer in he[:-1]] == [8, 8, 8]
    assert f["cost"][1] < math.log(2) - 0.05


def test_one_step_shows_the_engines_numbers() -> None:
    texts = {"seed": "5", "compare": "xavier_normal", "activation": "tanh"}
    s = Session(texts)
    s.advance(1)
    f = s.frame()
    built, params, losses = _trained(texts, 1)
    assert f["loss"] == {"steps": [0], "values": losses.tolist()}
    cost, grads = loss_and_grads(built.net, params, built.X, built.Y)
    assert f["cost"] == cost.tolist()  # bit for bit
    ZL, caches = forward(built.net, params, built.X)
    stats = layer_stats(built.net, params, caches, grads)
    for start, per_start in zip(built.starts, f["layers"], strict=True):
        k = start.models[0]
        for l, layer in enumerate(per_start, start=1):
            assert layer["act_std"] == stats["act_std"][k, l - 1]
            assert layer["W"] == [[float(f"{w:.4g}") for w in row] for row in params[f"W{l}"][k][:16, :16]]
            assert layer["dW"] == [[float(f"{w:.4g}") for w in row] for row in grads[f"dW{l}"][k][:16, :16]]
            assert layer["w_std"] == float(np.std(params[f"W{l}"][k]))
            A = caches[l - 1][2] if l < built.net.n_layers else built.net.loss.output(np, ZL)
            counts, edges = np.histogram(A[k], bins=20)
            assert layer["hist"] == {"counts": counts.tolist(), "edges": edges.tolist()}
            assert layer["distinct"] == int(distinct_units(params[f"W{l}"][k], params[f"b{l}"][k], A[k]))
            W, b = params[f"W{l}"][k], params[f"b{l}"][k]
            groups = clone_groups(np.concatenate([W, b, A[k]], axis=1))
            assert layer["groups"] == [next(g for g, m in enumerate(groups) if u in m) for u in range(W.shape[0])]
    assert f["accuracy"][0] == float(np.mean((ZL[0] > 0) == (built.Y > 0)))


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
def test_chunked_steps_are_one_train_call_bit_for_bit(optimizer: str) -> None:
    texts = {"optimizer": optimizer, "lr": "0.05", "seeds": "2", "compare": "lecun_normal"}
    s = Session(texts)
    for chunk in (1, 3, 10, 1, 25):
        s.advance(chunk)
    curve = s.frame()["loss"]
    _, params, losses = _trained(texts, 40)
    assert s.step == 40
    for key, value in params.items():
        assert np.array_equal(s.params[key], value), key
    assert curve == {"steps": list(range(40)), "values": losses.tolist()}


def test_a_long_chunk_runs_as_several_engine_calls_with_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_module, "CHUNK_SECONDS", 1e-9)  # every call after the first: one step
    s = Session({"optimizer": "adam", "lr": "0.01"})
    assert s.advance(30) == 30
    _, params, _ = _trained({"optimizer": "adam", "lr": "0.01"}, 30)
    assert all(np.array_equal(s.params[k], v) for k, v in params.items())


def test_a_stop_request_ends_the_chunk_between_engine_calls() -> None:
    s = Session()
    stop = threading.Event()
    stop.set()
    assert s.advance(500, stop) == 0 and s.step == 0


def test_a_bad_setting_raises_the_named_error_and_keeps_the_run() -> None:
    s = Session({"width": "4"})
    s.advance(5)
    before = {k: v.copy() for k, v in s.params.items()}
    with pytest.raises(
        InitlabValueError, match=r"The 'width' setting of the explorer must be an int >= 1 and <= 64\. Got '0'"
    ):
        s.apply({"width": "0"})
    with pytest.raises(
        InitlabValueError, match="The settings of train are: dataset, .* Got an unknown setting 'widht'"
    ):
        s.apply({"widht": "3"})
    with pytest.raises(InitlabValueError, match="'weights' setting of train"):
        s.apply({"weights": "normall(std=1)"})
    assert s.step == 5 and s.cfg.width == 4
    assert all(np.array_equal(s.params[k], v) for k, v in before.items())
    s.apply({"width": "3", "seed": "2"})
    assert s.step == 0 and s.net.layer_dims == (2, 3, 3, 1) and s.query() == "width=3&seed=2"


def test_the_messages_refuse_what_is_not_text() -> None:
    with pytest.raises(InitlabValueError, match="at most 1000 characters"):
        Session({"weights": "x" * 1001})
    with pytest.raises(TypeError, match="each setting's name to its text"):
        Session({"width": 3})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="an object of setting: text"):
        Session(["width"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(0).standard_normal((7, 300)),
        np.zeros((4, 10)),  # one value: numpy's unit-wide range around it
        np.array([[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, np.nan, np.inf]]),  # edges hit exactly
        np.linspace(-3, 7, 1001).reshape(7, 143),
        np.full((2, 2), np.nan),
    ],
)
def test_the_histogram_is_numpys(values: np.ndarray) -> None:
    counts, edges = session_module._histogram(values)
    finite = values[np.isfinite(values)]
    expected = np.histogram(finite, bins=20) if finite.size else (np.zeros(20), np.linspace(0, 1, 21))
    assert counts.tolist() == expected[0].tolist() and edges.tolist() == expected[1].tolist()


def test_reset_starts_the_same_run_again() -> None:
    s = Session({"seed": "11"})
    first = s.frame()
    s.advance(20)
    s.reset()
    again = s.frame()
    assert s.step == 0 and again["cost"] == first["cost"] and again["layers"] == first["layers"]


def test_the_query_round_trips_and_texts_are_checked_without_building() -> None:
    texts = {"weights": "too small", "compare": "normal(std=0.5)", "lr": "0.5", "activation": "tanh"}
    s = Session(texts)
    query = s.query()
    assert query == "activation=tanh&weights=too%20small&compare=normal%28std%3D0.5%29&lr=0.5"
    again = Session(dict(parse_qsl(query)))
    assert setting_texts(again.cfg) == setting_texts(s.cfg) and again.frame()["cost"] == s.frame()["cost"]
    check_texts({"dataset": "moons"})
    with pytest.raises(InitlabValueError, match="'dataset' setting of train must be one of"):
        check_texts({"dataset": "moon"})
    command, python = describe({"seeds": "3"})
    assert command == "initlab run train --set seeds=3" and python == experiment.python_call(make_config("train",
                                                                                                       {"seeds": "3"}))  # fmt: skip


def test_two_sessions_of_one_config_share_no_array_and_agree() -> None:
    a, b = Session({"seeds": "2"}), Session({"seeds": "2"})
    assert not any(np.shares_memory(a.params[k], b.params[k]) for k in a.params)
    assert not np.shares_memory(a.X, b.X) and not np.shares_memory(a.Y, b.Y)
    a.advance(10)
    assert b.frame()["step"] == 0
    b.advance(10)
    assert a.frame()["cost"] == b.frame()["cost"]


def test_a_diverged_run_is_data_null_in_strict_json() -> None:
    s = Session({"weights": "normal(std=1e200)", "compare": "he_normal"})
    s.advance(3)
    f = _strict_json(s.frame())
    assert f["diverged"] == [0, -1]
    assert f["cost"][0] is None and f["cost"][1] is not None
    assert f["loss"]["values"][0][0] is None
    assert s.frame()["diverged"] == [0, -1]  # the first non-finite step is kept, not moved on


def test_long_chunks_send_at_most_200_cost_points_with_the_first_and_last() -> None:
    s = Session()
    s.advance(1000)
    curve = s.frame()["loss"]
    assert len(curve["steps"]) == 200 and curve["steps"][0] == 0 and curve["steps"][-1] == 999
    _, _, losses = _trained({}, 1000)
    assert curve["values"] == losses[curve["steps"]].tolist()


def test_digits_has_no_boundary_and_no_points() -> None:
    s = Session({"dataset": "digits", "width": "4", "depth": "1"})
    c, f = s.config_message(), s.frame()
    assert c["loss"] == "softmax_ce" and c["dataset"]["classes"] == 10
    assert c["dataset"]["points"] is None and c["dataset"]["box"] is None
    assert f["boundary"] is None and f["layers"][0][-1]["units"] == 10
