"""lsuv(model, batch): after it, every rescaled layer's output std is within tol of the target, re-measured here."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest

torch = pytest.importorskip("torch")
import torch_models as models  # noqa: E402  (examples/, on sys.path through conftest.py)
from torch import nn  # noqa: E402

from initlab import InitlabTypeError, InitlabValueError  # noqa: E402
from initlab.torch._lsuv import FEEDS_NORM, LSUVReport, LSUVWarning, lsuv  # noqa: E402

pytestmark = pytest.mark.torch


NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)


def measured_stds(model: nn.Module, x: Any, paths: list[str]) -> dict[str, float]:
    """Independently of lsuv: each module's first-call output std (population, float64), norms on batch statistics."""
    model = copy.deepcopy(model)
    model.eval()
    for m in model.modules():
        if isinstance(m, NORMS):
            m.train()
    found: dict[str, float] = {}

    def hook(path: str) -> Any:
        def record(module: nn.Module, args: Any, out: Any) -> None:
            t = out[0] if isinstance(out, tuple) else out
            found.setdefault(path, float(t.detach().double().std(correction=0)))

        return record

    for path in paths:
        model.get_submodule(path).register_forward_hook(hook(path))
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            model(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return found


def check_within_tol(model: nn.Module, x: Any, report: LSUVReport) -> list[str]:
    done = [layer.path for layer in report.layers if layer.status == "ok"]
    stds = measured_stds(model, x, done)
    for layer in report.layers:
        if layer.status == "ok":
            assert abs(stds[layer.path] - report.target_std) <= report.tol * report.target_std, layer.path
            assert stds[layer.path] == pytest.approx(layer.std_after, rel=1e-5)
    return done


def no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


# ---------------------------------------------------------------- the five real models


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_every_layer_within_tolerance(activation: str) -> None:
    model = models.mlp(depth=10, activation=activation)
    x, _ = models.digits_batch(256)
    report = lsuv(model, x, generator=0)
    assert report.ok
    assert [layer.path for layer in report.layers] == [str(i) for i in range(0, 21, 2)]  # the first layer included
    assert all(layer.status == "ok" for layer in report.layers)
    assert len(check_within_tol(model, x, report)) == 11
    # orthonormal pre-init: with unit-std inputs the layers lose a known factor each (tanh / relu squash the signal)
    # so that the hidden layers needed a rescaling > 1
    assert all(layer.scale > 1.2 for layer in report.layers[1:])


def test_mlp_tighter_target() -> None:
    model = models.mlp(depth=10, activation="tanh")
    x, _ = models.digits_batch(256)
    report = lsuv(model, x, target_std=0.5, tol=0.01, generator=1)
    assert report.ok
    stds = measured_stds(model, x, [layer.path for layer in report.layers])
    assert all(abs(s - 0.5) <= 0.005 for s in stds.values())


def test_cnn_bn_layers_feeding_bn_reported_not_rescaled() -> None:
    model = models.cnn_bn()
    model.train()
    model[1].eval()  # a mixed mode, to see it restored
    x, _ = models.digits_batch(128, kind="image")
    buffers = {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}
    report = lsuv(model, x, generator=0)
    statuses = {layer.path: layer.status for layer in report.layers}
    assert statuses == {"0": FEEDS_NORM, "3": FEEDS_NORM, "7": FEEDS_NORM, "12": "ok"}
    for layer in report.layers[:3]:
        assert layer.scale == 1.0 and layer.iterations == 0
    # the convs kept their orthonormal pre-init: conv 3's (32, 16*9) weight has orthonormal rows
    w = model[3].weight.detach().double().reshape(32, -1)
    torch.testing.assert_close(w @ w.T, torch.eye(32, dtype=torch.float64), atol=1e-5, rtol=0)
    check_within_tol(model, x, report)
    # modes and BN statistics as found, no hooks
    assert [m.training for m in model.modules()] == [True, True, False] + [True] * 11
    for k, v in model.state_dict().items():
        if k in buffers:
            assert torch.equal(v, buffers[k]), k
    assert no_hooks(model)


def test_rescale_before_norm_rescales_the_convs() -> None:
    model = models.cnn_bn()
    x, _ = models.digits_batch(128, kind="image")
    report = lsuv(model, x, generator=0, rescale_before_norm=True)
    assert [layer.status for layer in report.layers] == ["ok"] * 4
    assert report.layers[0].scale == pytest.approx(1 / report.layers[0].std_before, rel=1e-5)  # no bias: one step
    check_within_tol(model, x, report)


def test_resnet() -> None:
    model = models.resnet()
    x, _ = models.digits_batch(128, kind="image")
    report = lsuv(model, x, generator=0)
    by_path = {layer.path: layer for layer in report.layers}
    convs = [p for p, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 8 and all(by_path[p].status == FEEDS_NORM for p in convs)
    assert by_path["fc"].status == "ok" and report.layers[-1].path == "fc"
    assert by_path["layers.1.downsample.0"].order is not None
    check_within_tol(model, x, report)
    assert no_hooks(model)


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer(norm_first: bool) -> None:
    model = models.transformer(norm_first=norm_first)
    x, _ = models.digits_batch(128, kind="sequence")
    report = lsuv(model, x, generator=0)
    paths = [layer.path for layer in report.layers]
    expected = ["embed"]
    for i in range(2):
        expected += [f"encoder.layers.{i}.{name}" for name in ("self_attn", "linear1", "linear2")]
    assert paths == [*expected, "head"]  # execution order; attention's out_proj is part of self_attn
    # in pre-LN the embedding feeds norm1 and the residual stream: its scale matters, so it is rescaled
    assert all(layer.status == "ok" for layer in report.layers)
    assert report.layers[1].module_type == "MultiheadAttention"
    check_within_tol(model, x, report)
    # the packed q/k/v blocks are orthonormal (each (32, 32) block)
    w = model.encoder.layers[0].self_attn.in_proj_weight.detach().double()
    for block in w.split(32):
        torch.testing.assert_close(block @ block.T, torch.eye(32, dtype=torch.float64), atol=1e-5, rtol=0)
    assert torch.backends.mha.get_fastpath_enabled()
    assert no_hooks(model)


def test_lstm_skipped_with_reason() -> None:
    model = models.lstm()
    before = [p.detach().clone() for p in model.lstm.parameters()]
    x, _ = models.digits_batch(128, kind="sequence")
    report = lsuv(model, x, generator=0)
    lstm_row, head = report.layers
    assert lstm_row.path == "lstm" and lstm_row.status.startswith("skipped: a recurrent layer")
    assert all(torch.equal(a, b) for a, b in zip(before, model.lstm.parameters(), strict=True))
    assert head.status == "ok"
    check_within_tol(model, x, report)


def test_dropout_is_off_while_measuring() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 128), nn.ReLU(),
                          nn.Dropout(0.5), nn.Linear(128, 10))  # fmt: skip
    x, _ = models.digits_batch(256)
    state = torch.random.get_rng_state()
    report = lsuv(model, x, generator=0)
    assert torch.equal(torch.random.get_rng_state(), state)  # no global RNG drawn: dropout did not run
    assert report.ok and model.training
    check_within_tol(model, x, report)  # measured in eval mode: dropout off


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.out = nn.Linear(8, 16), nn.Linear(4, 16), nn.Linear(16, 3)

    def forward(self, x: Any, z: Any) -> Any:
        return self.out(torch.tanh(self.a(x) + self.b(z)))


def test_tuple_and_dict_batches() -> None:
    gen = torch.Generator().manual_seed(0)
    x, z = torch.randn(256, 8, generator=gen), 3.0 * torch.randn(256, 4, generator=gen)
    for batch in ((x, z), {"x": x, "z": z}):
        model = TwoInputs()
        report = lsuv(model, batch, generator=0)
        assert [layer.path for layer in report.layers] == ["a", "b", "out"] and report.ok
        with torch.no_grad():
            assert abs(float(model.b(z).std(correction=0)) - 1.0) <= 0.1
            assert abs(float(model.out(torch.tanh(model.a(x) + model.b(z))).std(correction=0)) - 1.0) <= 0.1


# ---------------------------------------------------------------- failures


def test_zero_variance_names_the_layer() -> None:
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4))
    with torch.no_grad():
        model[2].bias.fill_(-1e4)  # every unit of layer 2 is dead after the ReLU: layer 4 sees zeros
    x, _ = models.digits_batch(64)
    with pytest.raises(InitlabValueError, match=r"layer 4 \(Linear\).*zero variance over the batch.*dead ReLU"):
        lsuv(model, x, generator=0)
    assert no_hooks(model)
    assert model.training


def test_unreachable_target_warns_with_the_numbers() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 8))
    with torch.no_grad():
        model[2].bias.copy_(torch.linspace(-8, 8, 8))  # std over units ~5.5: no weight scale gets below it
    x, _ = models.digits_batch(64)
    with pytest.warns(LSUVWarning, match=r"output std of 2 \(Linear\) is \d.*after 3 rescalings.*target is 1 \+- 0.1"):
        report = lsuv(model, x, generator=0, max_iter=3)
    assert not report.ok
    assert report.layers[1].status == "not reached" and report.layers[1].iterations == 3
    assert report.layers[1].std_after > 4.0
    assert report.layers[0].status == "ok"
    # centring moves the bias to the units' means: the target is then reached
    report = lsuv(model, x, generator=0, max_iter=3, centre=True)
    assert report.ok and report.layers[1].centred
    assert abs(report.layers[1].mean_after) < 1e-5
    assert report.layers[1].iterations <= 1  # centred output scales exactly with the weight
    check_within_tol(model, x, report)


@pytest.mark.parametrize(
    ("kwargs", "match", "error"),
    [
        ({"tol": -1}, r"'tol' argument of lsuv must be a finite float > 0. Got -1", InitlabValueError),
        ({"target_std": 0.0}, r"'target_std' argument of lsuv must be a finite float > 0. Got 0.0", InitlabValueError),
        ({"max_iter": 0}, r"'max_iter' argument of lsuv must be an int >= 1", InitlabValueError),
        ({"centre": "yes"}, r"'centre' argument of lsuv must be True or False. Got 'yes'", InitlabTypeError),
        ({"generator": -3}, r"'generator' argument of lsuv must be an int >= 0", InitlabValueError),
        ({"device": "gpu7"}, r"'device' argument of lsuv must be None or a torch device", InitlabValueError),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], match: str, error: type[Exception]) -> None:
    with pytest.raises(error, match=match):
        lsuv(nn.Linear(4, 2), torch.randn(8, 4), **kwargs)


def test_bad_model_and_batch() -> None:
    with pytest.raises(InitlabTypeError, match=r"'model' argument of lsuv must be a torch.nn.Module. Got 3"):
        lsuv(3, torch.randn(2, 4))  # type: ignore[arg-type]
    model = nn.Sequential(nn.Linear(4, 2))
    with pytest.raises(InitlabValueError, match=r"'batch' argument of lsuv must be an input the model accepts"):
        lsuv(model, torch.randn(8, 5), generator=0)
    assert no_hooks(model)


# ---------------------------------------------------------------- seeds, sharing, results


def test_same_seed_same_weights() -> None:
    x, _ = models.digits_batch(128)
    a, b, c = (models.mlp(depth=3) for _ in range(3))
    lsuv(a, x, generator=7)
    lsuv(b, x, generator=torch.Generator().manual_seed(7))
    lsuv(c, x, generator=8)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb)
        if pa.dim() == 2:
            assert not torch.equal(pa, pc)
    fresh = models.mlp(depth=3)
    report = lsuv(fresh, x)  # no generator: a fresh seed, kept in the report, reproduces the weights
    assert isinstance(report.seed, int)
    again = models.mlp(depth=3)
    lsuv(again, x, generator=report.seed)
    assert all(torch.equal(p, q) for p, q in zip(fresh.parameters(), again.parameters(), strict=True))


def test_shared_module_processed_at_first_call() -> None:
    torch.manual_seed(0)
    shared = nn.Linear(16, 16)
    model = nn.Sequential(nn.Linear(8, 16), nn.Tanh(), shared, nn.Tanh(), shared, nn.Linear(16, 2))
    x = torch.randn(256, 8, generator=torch.Generator().manual_seed(1))
    report = lsuv(model, x, generator=0)
    assert [(layer.path, layer.calls) for layer in report.layers] == [("0", 1), ("2", 2), ("5", 1)]
    assert report.ok
    check_within_tol(model, x, report)  # the hook in measured_stds keeps the first call


def test_tied_weight_rescaled_once() -> None:
    torch.manual_seed(0)
    a, b = nn.Linear(16, 16), nn.Linear(16, 16)
    b.weight = a.weight
    model = nn.Sequential(nn.Linear(8, 16), a, nn.Tanh(), b)
    report = lsuv(model, torch.randn(128, 8), generator=0)
    assert report.layers[2].status == "skipped: its weight is tied to 1, rescaled there"


def test_results_rows_dict_plot_repr() -> None:
    x, _ = models.digits_batch(64, kind="image")
    report = lsuv(models.cnn_bn(), x, generator=0)
    rows = report.rows()
    assert len(rows) == 4 and len({tuple(r) for r in rows}) == 1
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is True and data["rows"][3]["status"] == "ok" and data["seed"] == 0
    assert "feeds a normalization layer" in repr(report) and "LSUV of Sequential" in repr(report)
    frame = report.to_frame()
    assert list(frame["path"]) == ["0", "3", "7", "12"]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = report.plot()
    assert isinstance(fig, Figure) and fig.axes[0].get_ylabel() == "std of the layer's output"
    plt.close(fig)
    assert math.isfinite(rows[3]["scale"])


def test_device_cpu_string() -> None:
    model = models.mlp(depth=2)
    x, _ = models.digits_batch(64)
    assert lsuv(model, x, device="cpu", generator=0).ok


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_same_weights_as_cpu() -> None:
    x, _ = models.digits_batch(128)
    cpu, gpu = models.mlp(depth=10, activation="tanh"), models.mlp(depth=10, activation="tanh")
    lsuv(cpu, x, generator=0)
    report = lsuv(gpu, x, generator=0, device="cuda")
    assert report.ok and next(gpu.parameters()).is_cuda
    for a, b in zip(cpu.parameters(), gpu.parameters(), strict=True):
        torch.testing.assert_close(a, b.cpu(), rtol=1e-3, atol=1e-4)
    check_within_tol(gpu, x.cuda(), report)
