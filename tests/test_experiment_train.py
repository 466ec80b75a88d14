"""The train experiment: the explorer's build, its settings' checks, and its numbers against the engine's."""

from __future__ import annotations

import io
import math
import shlex
import warnings
from pathlib import Path

import numpy as np
import pytest

from initlab import InitlabValueError, SymmetryWarning
from initlab.engine import METRICS, init_params, loss_and_grads, train
from initlab.experiments import REGIMES, command, from_text
from initlab.experiments import train as tr
from initlab.results import Result

METRIC_NAMES = set(METRICS)


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
        ({"width": "0"}, "The 'width' setting of train must be an int >= 1 and <= 2048. Got '0' instead."),
        ({"depth": "101"}, "The 'depth' setting of train must be an int >= 1 and <= 100."),
        ({"loss": "hinge"}, "The 'loss' setting of train must be one of 'auto', 'bce', 'softmax_ce', 'mse'."),
        ({"loss": "softmax_ce"}, "The 'loss' setting of train must be 'auto', 'bce' or 'mse' for the 'circles'"),
        ({"dataset": "digits", "loss": "bce"}, "The 'loss' setting of train must be 'auto', 'softmax_ce' or 'mse'"),
        ({"batch_size": "301"}, "The 'batch_size' setting of train must be 0 (the full batch) or an int from 1 to 300"),
        ({"batch_size": "-1"}, "The 'batch_size' setting of train must be an int >= 0. Got '-1' instead."),
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


# --- run ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def side_by_side() -> Result:
    """He against a zero start and a constant start's clones: 2 seeds each, on circles."""
    return tr.run(tr.Config(weights="he_normal", compare="zero", seeds=2, steps=400, record_every=100))


def test_run_records_the_tidy_rows_of_every_model(side_by_side: Result) -> None:
    r = side_by_side
    assert r.name == "train" and r.command == "initlab run train --set compare=zero --set seeds=2 --set steps=400"
    steps = [0, 100, 200, 300, 399, 400]
    assert r.arrays["record_steps"].tolist() == steps and r.arrays["loss"].shape == (400, 4)
    assert r.arrays["distinct_units"].shape == (6, 4, 3) and r.arrays["stats_act_std"].shape == (6, 4, 3)
    row = r.rows[0]
    assert {"model", "start", "init", "biases", "seed", "step", "layer", "metric", "value"} <= set(row)
    loss = {(x["model"], x["step"]): x["value"] for x in r.metric("loss")}
    assert sorted({t for _, t in loss}) == steps
    assert loss[(1, 100)] == r.arrays["loss"][100, 1] and loss[(1, 400)] == r.arrays["cost"][1]
    assert {x["metric"] for x in r.rows if x["layer"] == 2} == {*METRIC_NAMES, "distinct_units"}
    starts = {(x["model"], x["start"], x["init"], x["seed"]) for x in r.rows}
    assert starts == {(0, "A", "he_normal", 0), (1, "A", "he_normal", 1), (2, "B", "zeros", 0), (3, "B", "zeros", 1)}
    assert [x["value"] for x in r.metric("diverged_at")] == [-1] * 4


def test_the_zero_start_keeps_its_clones_and_ln2_and_he_learns(side_by_side: Result) -> None:
    r = side_by_side
    assert r.claims == {
        "start B (zeros): hidden units that start as clones stay clones (one distinct unit per hidden layer at every "
        "record)": True,
        "start B (zeros): the cost stays at ln 2 = 0.6931 on balanced labels (nothing is learnt)": True,
    }
    distinct = r.arrays["distinct_units"]  # (records, models, layers)
    assert (distinct[:, 2:, :2] == 1).all() and (distinct[-1, :2, :2] == 8).all()
    assert np.abs(r.arrays["cost"][2:] - math.log(2)).max() < 1e-12 and r.arrays["cost"][:2].max() < math.log(2) - 0.05
    for row in r.metric("train_accuracy"):
        assert (row["value"] == 0.5) == (row["start"] == "B")
    assert "Start B (zeros, biases zeros), mean ± sd over 2 seeds, went from cost 0.6931 ± 0.0000" in r.answer
    assert "distinct units per hidden layer at the end: 1, 1 of 8" in r.answer
    table = r.tables["Cost, accuracy and distinct units by start"]
    assert [(t["start"], t["distinct units per hidden layer"]) for t in table] == [("A", "8, 8"), ("B", "1, 1")]


def test_a_constant_start_stays_one_unit_per_layer_but_random_biases_break_it() -> None:
    r = tr.run(tr.Config(weights="constant(value=0.5)", activation="tanh", compare="constant(value=0.5)",
                         compare_biases="normal(std=0.5)", depth=3, steps=200, record_every=50))  # fmt: skip
    assert list(r.claims.values()) == [True] and next(iter(r.claims)).startswith("start A (constant(value=0.5))")
    distinct = r.arrays["distinct_units"]
    assert (distinct[:, 0, :3] == 1).all() and (distinct[0, 1, :3] == 8).all()


def test_a_start_that_overflows_diverges_and_is_said_while_the_other_trains() -> None:
    r = tr.run(tr.Config(weights="randn(scale=1e200)", compare="he_normal", steps=20, record_every=10, seeds=2))
    assert [row["value"] for row in r.metric("diverged_at")] == [0, 0, -1, -1]
    assert [math.isnan(row["value"]) for row in r.metric("train_accuracy")] == [True, True, False, False]
    assert "Start A (randn(scale=1e200)): every model diverged." in r.answer
    assert "2 of 4 models diverged (the loss was no longer finite, the first at step 0)" in r.answer


def test_the_python_call_runs_and_gives_runs_cost_bit_for_bit() -> None:
    cfg = tr.Config(dataset="moons", depth=3, width=6, activation="tanh", weights="appropriate", compare="zero",
                    compare_biases="normal(std=0.1)", optimizer="momentum", lr=0.3, seed=11, seeds=3, steps=150)  # fmt: skip
    code = tr.python_call(cfg)
    names: dict[str, object] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SymmetryWarning)  # the zero start warns, as it should
        exec(compile(code, "<python_call>", "exec"), names)
    cost = np.asarray(names["cost"])
    assert cost.shape == (6,) and np.array_equal(cost, tr.run(cfg).arrays["cost"])
    assert "seeds=list(range(11, 14)) * 2" in code and "weights=['randn(scale=0.01)'] * 3 + ['zeros'] * 3" in code


def test_the_command_round_trips_through_from_text() -> None:
    cfg = from_text(tr.Config, {"dataset": "spirals", "weights": "too small", "compare": "xavier_uniform(gain=5/3)",
                                "biases": "normal(std=0.1)", "lr": "1/3", "seeds": "5", "seed": "9",
                                "optimizer": "adam"})  # fmt: skip
    cmd = command(cfg)
    pairs = dict(w.split("=", 1) for w in shlex.split(cmd)[3:] if w != "--set")
    assert from_text(tr.Config, pairs) == cfg and cmd.startswith("initlab run train --set dataset=spirals")


def test_initlab_run_train_end_to_end(tmp_path: Path) -> None:
    from initlab.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(["run", "train", "--set", "weights=zero", "--set", "steps=40", "--set", "record_every=10", "--out",
                 str(tmp_path)], out=out, err=err)  # fmt: skip
    assert code == 0, err.getvalue()
    text = out.getvalue()
    assert text.startswith("[x] start A (zeros): hidden units that start as clones stay clones")
    assert "went from cost 0.6931 to 0.6931 in 40 steps" in text and (tmp_path / "train" / "rows.csv").is_file()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("weights=normal(std=-1)", "The 'weights' setting of train must be a regime"),
        ("width=0", "The 'width' setting of train must be an int >= 1 and <= 2048. Got '0' instead."),
        ("seeds=2.5", "The 'seeds' setting of train must be an int >= 1 and <= 16."),
        ("optimiser=adam", "Got an unknown setting 'optimiser' instead. Did you mean 'optimizer'?"),
    ],
)
def test_initlab_run_train_refuses_bad_settings_in_one_line(setting: str, message: str, tmp_path: Path) -> None:
    from initlab.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(["run", "train", "--set", setting, "--out", str(tmp_path / "res")], out=out, err=err)
    assert code == 2 and out.getvalue() == "" and message in err.getvalue()
    assert err.getvalue().count("\n") == 1 and not (tmp_path / "res").exists()


def test_peak_bytes_grows_with_the_models_and_stays_small_by_default() -> None:
    from initlab.experiments import peak_bytes

    one, many = peak_bytes("train"), peak_bytes("train", tr.Config(seeds=16, compare="zero", width=64, depth=8))
    assert 1e5 < one < 5e7 and many > 16 * one


def test_initlab_list_train_shows_the_settings_and_where_specs_are_explained() -> None:
    from initlab.cli import main

    out = io.StringIO()
    assert main(["list", "train"], out=out, err=io.StringIO()) == 0
    lines = {line.split()[0]: line for line in out.getvalue().splitlines() if line.strip()}
    assert "see the help" in lines["weights"] and "regime (zero, too small, appropriate, too large)" in lines["weights"]
    assert "0.1" in lines["lr"] and "(0, 100]" in lines["lr"] and "[1, 16]" in lines["seeds"]
