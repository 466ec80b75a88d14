"""initlab.torch diagnose: the engine's numbers on any torch model, verdicts, and the model left exactly as found."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch_models  # noqa: E402  (examples/, on sys.path through conftest.py)
from torch import nn  # noqa: E402

from initlab import InitlabTypeError, InitlabValueError, data  # noqa: E402
from initlab.diagnostics import diagnose as numpy_diagnose  # noqa: E402
from initlab.engine import MLP, SymmetryWarning, init_params  # noqa: E402
from initlab.torch._diagnose import Diagnosis, diagnose  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """128 standardized digits (128, 64) float32 and their labels (128,)."""
    d = data.digits(seed=0)
    x = torch.from_numpy(d.X_train[:, :128].T.copy()).float()
    y = torch.from_numpy(d.Y_train[:, :128].argmax(axis=0))
    return x, y


def snapshot(model: nn.Module) -> dict[str, object]:
    """Everything diagnose promises to leave as found."""
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "grads": [(p.grad, None if p.grad is None else p.grad.clone()) for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
        "hooks": [
            (dict(m._forward_hooks), dict(m._forward_pre_hooks), dict(m._backward_hooks)) for m in model.modules()
        ],
        "fastpath": torch.backends.mha.get_fastpath_enabled(),
        "rng": torch.get_rng_state(),
    }


def assert_as_found(model: nn.Module, before: dict[str, object]) -> None:
    after = snapshot(model)
    state_b, state_a = before["state"], after["state"]
    assert isinstance(state_b, dict) and isinstance(state_a, dict) and state_b.keys() == state_a.keys()
    for k in state_b:
        assert torch.equal(state_b[k], state_a[k]), k  # bit-identical, buffers and num_batches_tracked included
    for (g_b, v_b), (g_a, _) in zip(before["grads"], after["grads"], strict=True):  # type: ignore[call-overload]
        assert g_a is g_b  # the same object (None stays None)
        if g_b is not None:
            assert torch.equal(g_a, v_b)
    for key in ("modes", "hooks", "fastpath"):
        assert after[key] == before[key], key
    assert torch.equal(after["rng"], before["rng"])  # type: ignore[arg-type]


# ---------------------------------------------------------------- parity with the numpy engine


def _parity_case(weights: str, biases: str, hidden: list[str]) -> list[str]:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 50))  # (n_x, m)
    Y = (X[:1] + 0.3 * X[1:2] > 0).astype(np.float64)  # (1, m)
    dims = [6, 12, 10, 1]
    net = MLP.make(dims, hidden, "bce")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SymmetryWarning)
        params = init_params(dims, weights=weights, biases=biases, rng=0)
    reports = numpy_diagnose(net, params, X, Y)[0]

    acts = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}
    layers: list[nn.Module] = []
    for l in range(1, len(dims)):
        layers.append(nn.Linear(dims[l - 1], dims[l]))
        if l < len(dims) - 1:
            layers.append(acts[hidden[l - 1]]())
    model = nn.Sequential(*layers).double()
    with torch.no_grad():
        for l, i in enumerate(range(0, len(layers), 2), start=1):
            layers[i].weight.copy_(torch.from_numpy(params[f"W{l}"]))  # (n_l, n_{l-1}), torch's layout too
            layers[i].bias.copy_(torch.from_numpy(params[f"b{l}"][:, 0]))
    lr = 0.05
    found = diagnose(model, torch.from_numpy(X.T.copy()), nn.BCEWithLogitsLoss(), target=torch.from_numpy(Y.T.copy()),
                     lr=lr)  # fmt: skip
    assert found.input_std == pytest.approx(float(X.std()), rel=1e-12)
    for l, r in enumerate(reports, start=1):
        rec = found.verdicts and next(c for c in found.records if c.path == str(2 * (l - 1)))
        assert rec.activation == r.activation and rec.units == r.units
        for name in ("act_mean", "act_std", "saturated", "dead", "grad_norm"):
            ours, theirs = getattr(rec, name), getattr(r, name)
            if math.isnan(theirs):
                assert math.isnan(ours), name
            else:
                assert ours == pytest.approx(theirs, rel=1e-6, abs=1e-300), (l, name, ours, theirs)
        assert rec.distinct_units == r.distinct_units
        assert [list(g) for g in rec.clone_groups] == r.clone_groups
        expected = lr * r.grad_ratio  # SGD: ||lr dW|| / ||W|| (0 / 0 = nan for a zero layer with no gradient)
        assert rec.update_ratio == pytest.approx(expected, rel=1e-6, nan_ok=True)
        assert rec.verdict == r.verdict and list(rec.reasons) == r.reasons
    return [f"{r.verdict} {r.saturated:.2f} {r.dead:.2f} {r.distinct_units}" for r in reports]


def test_parity_with_the_numpy_engine_tanh_saturating_and_relu_dying() -> None:
    # randn(scale=1) weights and N(0, 9) biases: 53% of the tanh layer saturated (verdict), 1 of 10 relu units dead
    assert _parity_case("randn(scale=1)", "normal(std=3)", ["tanh", "relu"]) == [
        "saturated 0.53 nan 12",
        "healthy nan 0.10 10",
    ]


def test_parity_with_the_numpy_engine_sigmoid_and_zero_weights() -> None:
    # every hidden layer: one distinct unit; relu(0) = 0 everywhere, so all its units are dead too
    assert _parity_case("zeros", "zeros", ["sigmoid", "relu"]) == ["symmetric 0.00 nan 1", "symmetric nan 1.00 1"]


@pytest.mark.parametrize("shape", [(2, 7), (12, 50), (37, 20_000), (5, 150_000)])
def test_blockwise_statistics_are_the_engines_bit_for_bit(shape: tuple[int, int]) -> None:
    """diagnose reads large outputs in blocks of units; the numbers must be the engine's on the whole matrix."""
    from initlab.engine import activation_mean, activation_std, dead_share, get_activation, saturated_share
    from initlab.torch._diagnose import CLONE_EXAMPLES, _measure

    rng = np.random.default_rng(sum(shape))
    Z = rng.standard_normal(shape) * 3.0 + 0.5
    Z[: max(1, shape[0] // 4)] = -np.abs(Z[: max(1, shape[0] // 4)])  # some dead relu units
    for name in ("relu", "tanh"):
        act = get_activation(name)
        A = act.forward(np, Z)
        got = _measure(torch.from_numpy(A), torch.from_numpy(Z), act, 10)
        assert got["act_mean"] == float(activation_mean(np, A))
        assert got["act_std"] == float(activation_std(np, A))

        def same(a: float, b: float) -> bool:
            return a == b or (math.isnan(a) and math.isnan(b))

        assert same(got["dead"], float(dead_share(np, act, A)))
        assert same(got["saturated"], float(saturated_share(np, act, Z, A)))
        assert got["dead" if name == "relu" else "saturated"] > 0.1
        applied = _measure(torch.from_numpy(Z), None, act, 10, apply=act)  # A = g(Z) computed block by block
        assert applied["act_std"] == got["act_std"] and same(applied["saturated"], got["saturated"])
        d = A - A.mean()
        assert got["kurtosis"] == pytest.approx(float((d**4).mean() / (d**2).mean() ** 2 - 3), rel=1e-9)
        step = -(-shape[1] // CLONE_EXAMPLES)  # clone groups see every step-th example, at most CLONE_EXAMPLES
        assert got["cols"].shape == (shape[0], len(range(0, shape[1], step)))
        assert np.array_equal(got["cols"], A[:, ::step])


# ---------------------------------------------------------------- verdicts on real data


def _mlp(depth: int, width: int = 64) -> nn.Sequential:
    layers: list[nn.Module] = []
    for l in range(depth):
        layers += [nn.Linear(64 if l == 0 else width, width), nn.ReLU()]
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def test_deep_relu_mlp_vanishes_with_torch_default_and_is_healthy_with_he(digits) -> None:  # type: ignore[no-untyped-def]
    x, y = digits
    torch.manual_seed(0)
    model = _mlp(20)
    found = diagnose(model, x, nn.CrossEntropyLoss(), target=y)
    layers = found.layers
    assert len(layers) == 21 and len(found.records) == 41
    vanishing = [r.key for r in layers if r.verdict == "vanishing"]
    assert len(vanishing) >= 5, found
    # torch's default (std 1/sqrt(3 fan_in)) shrinks the relu signal layer after layer, and the gradient with it
    assert layers[10].act_std < 0.25 * layers[0].act_std
    assert layers[0].grad_norm < 1e-3 * layers[-1].grad_norm

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
    found = diagnose(model, x, nn.CrossEntropyLoss(), target=y)
    assert all(r.verdict == "healthy" for r in found.records), found
    stds = [r.act_std for r in found.layers[:-1]]
    assert max(stds) / min(stds) < 5  # He keeps the signal's scale


def test_zero_initialized_hidden_layer_is_symmetric_with_one_distinct_unit(digits) -> None:  # type: ignore[no-untyped-def]
    x, y = digits
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 16), nn.Tanh(), nn.Linear(16, 10))
    with torch.no_grad():
        model[2].weight.zero_()
        model[2].bias.zero_()
    found = diagnose(model, x, nn.CrossEntropyLoss(), target=y)
    assert found.verdicts["2"] == "symmetric" and found.verdicts["3"] == "symmetric"
    rec = found.records[2]
    assert rec.distinct_units == 1 and rec.clone_groups == (tuple(range(16)),)
    assert rec.reasons[0] == "symmetric: 1 distinct of 16 units (clone tolerance 1e-06)"
    # the zero layer also stops the gradient: the layer below it gets none
    first = found.records[0]
    assert first.distinct_units == 32 and first.grad_norm == 0.0 and first.verdict == "vanishing"
    # and the layer above sees only tanh(0) = 0: no gradient for its weights either
    assert found.records[4].grad_norm == 0.0 and found.verdicts["4"] == "vanishing"


# ---------------------------------------------------------------- the model left as found


class _CNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(inplace=True),
            nn.Conv2d(8, 16, 3, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            nn.Dropout(0.2),
        )
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=(2, 3)))


def test_cnn_with_batchnorm_left_exactly_as_found(digits) -> None:  # type: ignore[no-untyped-def]
    x, y = digits
    torch.manual_seed(0)
    model = _CNN()
    model(x.reshape(-1, 1, 8, 8))  # running stats away from their start, num_batches_tracked = 1
    model.features[4].eval()  # mixed modes must come back mixed
    model.head.weight.grad = torch.full_like(model.head.weight, 3.0)  # a gradient the user left there
    user_calls: list[int] = []
    model.features[0].register_forward_hook(lambda m, a, o: user_calls.append(1))
    before = snapshot(model)
    found = diagnose(model, x.reshape(-1, 1, 8, 8), nn.CrossEntropyLoss(), target=y)
    assert_as_found(model, before)
    assert user_calls == [1]  # the user's hook ran once, and is still there
    conv = found.records[0]
    assert conv.key == "features.0" and conv.units == 8 and conv.shape == (128, 8, 8, 8)
    assert conv.activation == "relu" and conv.paired == "features.2" and conv.dead == 0.0
    # the conv's statistics are those of the relu output, channels as units, N * H * W examples
    assert conv.act_mean > 0 and conv.act_std > 0
    bn = found.records[1]
    assert bn.role == "norm" and bn.act_mean == pytest.approx(0.0, abs=1e-6) and bn.act_std == pytest.approx(1.0, 1e-3)
    assert all(r.verdict == "healthy" for r in found.records), found
    assert math.isfinite(found.records[-1].update_ratio)


def test_activation_after_pooling_has_the_channels_as_units_and_pairs_with_the_conv() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 3 * 3, 4), nn.ReLU()
    )
    x = torch.randn(10, 3, 8, 8)
    found = diagnose(model, x)
    conv, relu, lin, relu2 = found.records
    assert relu.shape == (10, 6, 3, 3) and relu.units == 6 and conv.paired == "2" and conv.units == 6
    a = torch.relu(model[1](model[0](x))).detach().double()
    assert conv.act_std == pytest.approx(float(a.std(unbiased=False)), rel=1e-12)
    assert conv.dead == float((a.amax(dim=(0, 2, 3)) == 0).double().mean())
    assert lin.units == relu2.units == 4 and lin.paired == "5"


def test_inplace_relu_gives_the_same_numbers_as_out_of_place(digits) -> None:  # type: ignore[no-untyped-def]
    x, y = digits

    def build(inplace: bool) -> nn.Sequential:
        torch.manual_seed(3)
        return nn.Sequential(nn.Linear(64, 32), nn.ReLU(inplace=inplace), nn.Linear(32, 10), nn.ReLU(inplace=inplace))

    a = diagnose(build(True), x, nn.CrossEntropyLoss(), target=y)
    b = diagnose(build(False), x, nn.CrossEntropyLoss(), target=y)
    assert a.rows() == b.rows()
    # the last relu's input (the Linear's output) is overwritten in place, yet the Linear's z was seen intact:
    # its paired statistics are the relu's, and the relu's own record has the same numbers
    assert a.records[2].act_mean == a.records[3].act_mean and a.records[2].dead == a.records[3].dead


def test_relu_called_twice_gives_two_records_paired_with_each_layer(digits) -> None:  # type: ignore[no-untyped-def]
    x, y = digits

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2, self.out = nn.Linear(64, 32), nn.Linear(32, 32), nn.Linear(32, 10)
            self.act = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(self.act(self.fc2(self.act(self.fc1(x)))))

    torch.manual_seed(0)
    found = diagnose(Twice(), x, nn.CrossEntropyLoss(), target=y)
    keys = [r.key for r in found.records]
    assert keys == ["fc1", "act#0", "fc2", "act#1", "out"]
    assert [r.call for r in found.records] == [0, 0, 0, 1, 0]
    assert found.records[0].paired == "act#0" and found.records[2].paired == "act#1"
    assert found.records[1].act_std != found.records[3].act_std
    assert any("called more than once" in n for n in found.notes)


def test_transformer_encoder_batch_first_restores_the_fastpath_flag() -> None:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.1, batch_first=True)
    model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
    x = torch.randn(8, 5, 16)
    for flag in (True, False):
        torch.backends.mha.set_fastpath_enabled(flag)
        try:
            model.eval() if flag else model.train()
            before = snapshot(model)
            found = diagnose(model, x)
            assert_as_found(model, before)
        finally:
            torch.backends.mha.set_fastpath_enabled(True)
    keys = [r.key for r in found.records]
    assert keys[:5] == [
        "layers.0.self_attn",
        "layers.0.norm1",
        "layers.0.linear1",
        "layers.0.linear2",
        "layers.0.norm2",
    ]
    lin1 = found.records[2]
    # relu is called as a function inside the layer: the record applies the engine's relu to linear1's output
    assert lin1.activation == "relu" and lin1.units == 32 and 0.0 <= lin1.dead < 0.5 and lin1.act_mean > 0
    attn = found.records[0]
    assert attn.module_type == "MultiheadAttention" and attn.units == 16 and math.isfinite(attn.grad_norm)
    # the attention's weights include out_proj (used through its parent, never called as a module)
    expected = math.sqrt(
        float(model.layers[0].self_attn.in_proj_weight.detach().double().pow(2).sum())
        + float(model.layers[0].self_attn.out_proj.weight.detach().double().pow(2).sum())
    )
    assert attn.weight_norm == pytest.approx(expected, rel=1e-10)
    assert found.loss.startswith("0.5 * mean(output^2)")


def test_lstm_classifier(digits) -> None:  # type: ignore[no-untyped-def]
    x, y = digits

    class Classifier(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(8, 24, batch_first=True)
            self.head = nn.Linear(24, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(x)
            return self.head(out[:, -1])

    torch.manual_seed(0)
    model = Classifier()
    before = snapshot(model)
    found = diagnose(model, x.reshape(-1, 8, 8), nn.CrossEntropyLoss(), target=y)
    assert_as_found(model, before)
    lstm = found.records[0]
    assert lstm.key == "lstm" and lstm.units == 24 and lstm.shape == (128, 8, 24) and lstm.activation == "tanh"
    out = model.lstm(x.reshape(-1, 8, 8))[0].detach().double()
    assert lstm.act_std == pytest.approx(float(out.std(unbiased=False)), rel=1e-6)
    assert math.isfinite(lstm.grad_norm) and lstm.grad_norm > 0 and lstm.verdict == "healthy"


def test_a_model_that_raises_midway_leaves_no_trace() -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.bn = nn.BatchNorm1d(4)
            self.act = nn.ReLU()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.act(self.bn(self.fc(x)))
            raise RuntimeError("boom after the relu")

    model = Broken().eval()
    x = torch.randn(5, 4)
    before = snapshot(model)
    with pytest.raises(InitlabValueError, match=r"The 'batch' argument of diagnose must be an input the model .*boom"):
        diagnose(model, x)
    assert_as_found(model, before)


@pytest.mark.parametrize(
    ("factory", "kind", "expected"),
    [
        # (factory, input kind, keys of records that must be there)
        ("cnn_bn", "image", ["0", "1", "2", "3", "4", "5"]),
        ("resnet", "image", ["layers.0.relu#0", "layers.0.relu#1", "layers.1.downsample.0", "fc"]),
        ("transformer", "sequence", ["encoder.layers.0.self_attn", "encoder.layers.1.linear1", "head"]),
        ("lstm", "sequence", ["lstm", "head"]),
    ],
)
def test_the_shared_real_models_are_healthy_and_left_as_found(factory: str, kind: str, expected: list[str]) -> None:
    models = torch_models
    x, y = models.digits_batch(64, kind=kind)
    model = getattr(models, factory)()
    before = snapshot(model)
    found = diagnose(model, x, nn.CrossEntropyLoss(), target=y)
    assert_as_found(model, before)
    assert set(expected) <= set(found.verdicts)
    # torch's defaults are a healthy start for these shallow, normalized models
    assert found.unhealthy == (), found
    assert all(math.isfinite(r.grad_norm) and r.grad_norm > 0 for r in found.layers)


# ---------------------------------------------------------------- the numbers themselves


def test_kurtosis_histogram_and_update_ratio_with_adam() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 200), nn.Linear(200, 1)).double()
    x = torch.randn(400, 3, dtype=torch.float64)
    lr = 1e-3
    x.requires_grad_(True)
    found = diagnose(model, x, optimizer=lambda p: torch.optim.Adam(p, lr=lr))
    assert x.grad is None  # the caller's input is not part of the backward pass
    x = x.detach()
    z = model[0](x).detach()
    d = z - z.mean()
    excess = float((d**4).mean() / (d**2).mean() ** 2 - 3)
    rec = found.records[0]
    assert rec.kurtosis == pytest.approx(excess, rel=1e-9)
    # 80,000 entries: the histogram counts every fifth one of (units, examples) = z.T, HISTOGRAM_SAMPLE = 16,384
    counts, edges = rec.histogram
    sample = z.T.reshape(-1)[::5].numpy()
    expected_counts, expected_edges = np.histogram(sample, bins=40)
    assert list(counts) == expected_counts.tolist() and sum(counts) == 16_000
    assert np.allclose(edges, expected_edges, rtol=1e-12)
    # Adam's first step moves every weight by lr (m / sqrt(v) = sign(g)): ||dW|| = lr sqrt(numel)
    w = model[0].weight.detach()
    assert rec.update_ratio == pytest.approx(lr * math.sqrt(w.numel()) / float(w.norm()), rel=1e-4)
    assert found.optimizer == "the given optimizer"


def test_eval_mode_uses_running_statistics() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Linear(6, 1))
    x = 3.0 + 2.0 * torch.randn(64, 4)
    train = diagnose(model, x, mode="train")
    evaluated = diagnose(model, x, mode="eval")
    assert train.records[1].act_std == pytest.approx(1.0, rel=1e-3)  # batch statistics
    z = model[0](x).detach()
    expected = float((z / math.sqrt(1 + 1e-5)).std(unbiased=False))  # running stats (0, 1) at the start
    assert evaluated.records[1].act_std == pytest.approx(expected, rel=1e-5)
    assert evaluated.mode == "eval" and model[1].training


def test_results_are_tables_json_and_figures(digits) -> None:  # type: ignore[no-untyped-def]
    x, y = digits
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10))
    found = diagnose(model, x, nn.CrossEntropyLoss(), target=y, histogram_bins=7)
    assert isinstance(found, Diagnosis)
    rows = found.rows()
    assert len(rows) == 3 and all(r.keys() == rows[0].keys() for r in rows)
    blob = json.loads(json.dumps(found.to_dict(), allow_nan=False))
    assert len(blob["histograms"]["0"]["counts"]) == 7 and blob["rows"][0]["verdict"] == "healthy"
    assert blob["rows"][1]["grad_norm"] is None  # NaN is null in JSON
    pytest.importorskip("pandas")
    assert list(found.to_frame()["key"]) == ["0", "1", "2"]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = found.figures()
    assert set(figures) == {"signal", "histograms", "shares", "clones", "updates"}
    for fig in [*figures.values(), found.plot()]:
        assert isinstance(fig, matplotlib.figure.Figure) and all(ax.get_ylabel() for ax in fig.axes if ax.get_visible())
        plt.close(fig)
    text = repr(found)
    assert text.startswith("Diagnosis of Sequential (train mode, loss CrossEntropyLoss") and "healthy" in text


def test_functional_activation_by_override_and_the_model_itself_as_a_layer() -> None:
    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(5, 40)
            self.out = nn.Linear(40, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out(torch.tanh(self.fc(x)))

    torch.manual_seed(0)
    model = Functional().double()
    x = 3.0 * torch.randn(300, 5, dtype=torch.float64)
    seen = diagnose(model, x).records[0]
    assert seen.activation == "linear" and math.isnan(seen.saturated)  # torch.tanh is invisible to hooks
    told = diagnose(model, x, activations={"fc": "tanh"}).records[0]
    a = torch.tanh(model.fc(x)).detach()
    assert told.activation == "tanh" and told.act_std == pytest.approx(float(a.std(unbiased=False)), rel=1e-9)
    assert told.saturated == pytest.approx(float(((1 - a * a) < 0.02).double().mean()), rel=1e-12)
    assert told.saturated > 0.05
    bare = diagnose(nn.Linear(5, 3), torch.randn(8, 5))
    assert list(bare.verdicts) == ["(model)"] and bare.records[0].units == 3


def test_non_finite_values_are_data_exploding_without_warnings() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1)).double()
    with torch.no_grad():
        model[2].weight.mul_(1e200)  # std ~1e199: squares overflow to inf (pytest turns any warning into an error)
    found = diagnose(model, torch.randn(32, 8, dtype=torch.float64))
    assert found.verdicts == {"0": "healthy", "1": "healthy", "2": "exploding", "3": "exploding", "4": "exploding"}
    assert found.records[2].act_std == math.inf and found.records[2].reasons == (
        "exploding: activation std inf is inf x the input's",
    )
    blob = json.loads(json.dumps(found.to_dict(), allow_nan=False))
    assert blob["rows"][2]["act_std"] is None


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"model": "net"}, InitlabTypeError, r"The 'model' argument of diagnose must be a torch.nn.Module. Got 'net'"),
        ({"batch": [1, 2]}, InitlabTypeError, r"The 'batch' argument of diagnose must be a tensor"),
        ({"loss_fn": 3}, InitlabTypeError, r"The 'loss_fn' argument of diagnose must be a callable"),
        ({"target": torch.zeros(4)}, InitlabValueError, r"The 'target' argument of diagnose needs a 'loss_fn'"),
        ({"lr": -1}, InitlabValueError, r"The 'lr' argument of diagnose must be a finite float > 0. Got -1 instead."),
        ({"histogram_bins": 0}, InitlabValueError, r"The 'histogram_bins' argument of diagnose must be an int >= 1"),
        ({"mode": "test"}, InitlabValueError, r"The 'mode' argument of diagnose must be one of 'train', 'eval'"),
        ({"optimizer": "sgd"}, InitlabTypeError, r"The 'optimizer' argument of diagnose must be a callable"),
        ({"optimizer": lambda p: 1}, InitlabTypeError, r"must return a torch.optim.Optimizer .* Got 1 instead"),
        ({"activations": {"9": "relu"}}, InitlabValueError, r"Got the path '9', which is not a module of the model"),
        ({"activations": {"0": "swish"}}, InitlabValueError, r"must map to linear, relu, .* Got 'swish' for '0'"),
        ({"loss_fn": lambda out: out}, InitlabValueError, r"must return a floating-point tensor with one element"),
        ({"loss_fn": lambda out, t: out.sum(), "target": None}, InitlabValueError, r"loss_fn\(output\) failed"),
        ({"batch": torch.zeros(4, 3)}, InitlabValueError, r"The 'batch' argument .* failed with RuntimeError"),
    ],
)
def test_bad_input_names_the_argument(kwargs, error, message) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    args = {"model": model, "batch": torch.zeros(4, 2), **kwargs}
    m, b = args.pop("model"), args.pop("batch")
    before = snapshot(model)
    with pytest.raises(error, match=message):
        diagnose(m, b, **args)
    assert_as_found(model, before)


@pytest.mark.gpu
def test_gpu_diagnose_matches_cpu_and_leaves_the_model_on_its_device() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    torch.manual_seed(0)
    cpu_model = _CNN().double()
    gpu_model = _CNN().double()
    gpu_model.load_state_dict(cpu_model.state_dict())
    gpu_model = gpu_model.cuda()
    x = torch.randn(16, 1, 8, 8, dtype=torch.float64)
    before = snapshot(gpu_model)
    on_gpu = diagnose(gpu_model, x, mode="eval")  # the batch follows the model's device; eval: no dropout draws
    assert_as_found(gpu_model, before)
    on_cpu = diagnose(cpu_model, x, mode="eval")
    for a, b in zip(on_gpu.records, on_cpu.records, strict=True):
        assert a.key == b.key and a.verdict == b.verdict
        assert a.act_std == pytest.approx(b.act_std, rel=1e-9) and a.grad_norm == pytest.approx(b.grad_norm, rel=1e-9)
    assert next(gpu_model.parameters()).is_cuda


def _chain(act: type[nn.Module], init: object, depth: int = 6, width: int = 400, n_in: int = 64) -> nn.Sequential:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for i in range(depth):
        layer = nn.Linear(width if i else n_in, width)
        init(layer.weight)  # type: ignore[operator]
        nn.init.normal_(layer.bias, std=0.1)
        layers += [layer, act()]
    return nn.Sequential(*layers)


@pytest.mark.parametrize(("act", "init", "tol"), [(nn.Tanh, nn.init.xavier_normal_, 0.05),
                                                  (nn.ReLU, nn.init.kaiming_normal_, 0.15),
                                                  (nn.Sigmoid, lambda w: nn.init.normal_(w, std=0.2), 0.05)])  # fmt: skip
def test_mean_field_prediction_follows_a_plain_chain(act, init, tol) -> None:
    """Each Linear's prediction comes from its own weights and the input's mean square, layer after layer."""
    found = diagnose(_chain(act, init), torch.randn(1000, 64, generator=torch.Generator().manual_seed(1)))
    layers = found.layers
    assert len(layers) == 6
    for r in found.records:  # the activation module shows the same A as its layer
        assert math.isfinite(r.predicted_std) and r.predicted_std == pytest.approx(r.act_std, rel=tol)
    assert json.loads(json.dumps(found.to_dict()))["rows"][0]["predicted_std"] == pytest.approx(layers[0].predicted_std)
    labels = [line.get_label() for line in found.plot().axes[0].get_lines()]
    assert "mean-field prediction" in labels


def test_mean_field_prediction_is_left_out_where_it_does_not_apply() -> None:
    conv = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 4))
    found = diagnose(conv, torch.randn(16, 3, 8, 8))
    assert all(math.isnan(r.predicted_std) for r in found.records)
    normed = nn.Sequential(nn.Linear(10, 20), nn.LayerNorm(20), nn.Tanh(), nn.Linear(20, 2))
    assert all(math.isnan(r.predicted_std) for r in diagnose(normed, torch.randn(32, 10)).records)
    labels = [line.get_label() for line in found.plot().axes[0].get_lines()]
    assert "mean-field prediction" not in labels
