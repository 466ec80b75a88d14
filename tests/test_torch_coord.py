"""coord_check: the standard parametrization's output coordinates grow with width after one update; inputs checked."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

torch = pytest.importorskip("torch")
import torch_models as models  # noqa: E402  (examples/, on sys.path through conftest.py)
from torch import nn  # noqa: E402

from initlab import InitlabTypeError, InitlabValueError  # noqa: E402
from initlab.torch._coord import STABLE_SLOPE, CoordCheck, coord_check  # noqa: E402

pytestmark = pytest.mark.torch


WIDTHS = [32, 64, 128, 256, 512]


def sp_mlp(width: int) -> nn.Module:
    """Standard parametrization: PyTorch's default init, one learning rate for every layer."""
    return nn.Sequential(nn.Linear(64, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 10))


@pytest.fixture(scope="module")
def digits() -> tuple[Any, Any]:
    return models.digits_batch(128)


@pytest.fixture(scope="module")
def adam_check(digits: tuple[Any, Any]) -> CoordCheck:
    x, y = digits
    return coord_check(sp_mlp, WIDTHS, x, target=y, optimizer="adam", lr=0.01, steps=3, seeds=2, generator=0)


def test_sp_output_layer_grows_with_width_under_adam(adam_check: CoordCheck) -> None:
    slopes = {(r["layer"], r["step"]): r["slope"] for r in adam_check.slopes()}
    assert adam_check.layers == ("0", "2", "4")
    # at initialization every layer is stable (fan-in scaled weights)
    assert all(abs(slopes[(layer, 0)]) <= STABLE_SLOPE for layer in adam_check.layers)
    # after one Adam step the readout's coordinates grow almost like the width (Delta W h sums width terms)
    assert slopes[("4", 1)] > 0.6
    assert adam_check.verdicts["4"] == "grows with width"
    # the first layer's fan-in (64) does not change with width: it stays stable at every step
    assert all(abs(slopes[("0", s)]) <= STABLE_SLOPE for s in range(4))
    assert adam_check.verdicts["0"] == "stable"
    # the measured l1 at width 512 vs 32, step 1: at least 4x larger for the readout
    l1 = adam_check.l1("4", 1)
    assert l1[-1] / l1[0] > 4.0


def test_sp_output_layer_grows_with_width_under_sgd(digits: tuple[Any, Any]) -> None:
    x, y = digits
    check = coord_check(sp_mlp, WIDTHS, x, target=y, optimizer="sgd", lr=0.5, steps=2, seeds=1, generator=0)
    slopes = {(r["layer"], r["step"]): r["slope"] for r in check.slopes()}
    assert abs(slopes[("4", 0)]) <= STABLE_SLOPE
    assert slopes[("4", 1)] > 0.35
    assert check.verdicts == {"0": "stable", "2": "stable", "4": "grows with width"}


def test_rows_records_and_reproducibility(adam_check: CoordCheck, digits: tuple[Any, Any]) -> None:
    rows = adam_check.rows()
    assert len(rows) == len(WIDTHS) * 2 * 4 * 3  # widths x seeds x (steps + 1) x layers
    assert set(rows[0]) == {"width", "seed", "step", "layer", "module_type", "l1"}
    assert adam_check.seeds == (0, 1)
    # the l1 at step 0 is the mean |h| of a freshly built model under torch.manual_seed(seed)
    torch.manual_seed(1)
    model = sp_mlp(64)
    x, _ = digits
    with torch.no_grad():
        expected = float(model[0](x).abs().double().mean())
    got = next(r["l1"] for r in rows if r["width"] == 64 and r["seed"] == 1 and r["step"] == 0 and r["layer"] == "0")
    assert got == pytest.approx(expected, rel=1e-6)
    data = json.loads(json.dumps(adam_check.to_dict()))
    assert data["verdicts"]["4"] == "grows with width" and data["stable_slope"] == STABLE_SLOPE
    assert "grows with width" in repr(adam_check) and "slope step 1" in repr(adam_check)
    assert len(adam_check.to_frame()) == len(rows)


def test_plot_returns_a_figure(adam_check: CoordCheck) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    fig = adam_check.plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 4
    assert fig.axes[0].get_xlabel() == "width" and fig.axes[0].get_xscale() == "log"
    assert len(fig.axes[1].get_lines()) == 3
    plt.close(fig)


def test_global_rng_untouched_and_custom_optimizer(digits: tuple[Any, Any]) -> None:
    x, y = digits
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    made: list[float] = []

    def momentum(params: Any, lr: float) -> torch.optim.Optimizer:
        made.append(lr)
        return torch.optim.SGD(params, lr=lr, momentum=0.9)

    check = coord_check(sp_mlp, [16, 32], x, target=y, optimizer=momentum, lr=0.05, steps=1, seeds=1, generator=3)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert made == [0.05, 0.05] and check.optimizer == "momentum" and check.seeds == (3,)


def test_transformer_attention_and_norms(digits: tuple[Any, Any]) -> None:
    x, y = models.digits_batch(64, kind="sequence")
    check = coord_check(lambda w: models.transformer(d_model=w), [16, 64, 256], x, target=y, optimizer="adam",
                        lr=0.01, steps=1, seeds=1, generator=0)  # fmt: skip
    assert "encoder.layers.0.self_attn" in check.layers  # attention returns a tuple: its first tensor is recorded
    assert check.layers.index("encoder.layers.0.self_attn") < check.layers.index("encoder.layers.0.linear1")
    # LayerNorm outputs have unit variance per position at every width: flat at every step
    assert check.verdicts["encoder.layers.0.norm1"] == check.verdicts["encoder.layers.1.norm2"] == "stable"
    # the attention block's output after one Adam step grows with width (the SP blow-up inside a transformer)
    assert check.verdicts["encoder.layers.0.self_attn"] == "grows with width"
    assert "1 seed;" in repr(check)


@pytest.mark.parametrize(
    ("widths", "error", "match"),
    [
        ([0, 64], InitlabValueError, r"'widths' argument of coord_check must hold ints >= 1. Got 0"),
        ([32, 32], InitlabValueError, r"'widths' argument of coord_check must hold at least two distinct widths"),
        ([], InitlabTypeError, r"'widths' argument of coord_check must be a non-empty sequence"),
        ([32, 64.5], InitlabValueError, r"must hold ints >= 1. Got 64.5"),
        (64, InitlabTypeError, r"'widths' argument of coord_check must be a non-empty sequence of ints"),
    ],
)
def test_bad_widths(widths: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        coord_check(sp_mlp, widths, torch.randn(4, 64))


def test_factory_errors() -> None:
    def broken(width: int) -> nn.Module:
        if width > 32:
            raise RuntimeError("no such width")
        return sp_mlp(width)

    with pytest.raises(InitlabValueError, match=r"'factory' argument .*factory\(64\) raised RuntimeError"):
        coord_check(broken, [32, 64], torch.randn(4, 64), generator=0)
    with pytest.raises(InitlabTypeError, match=r"'factory' argument of coord_check must return a torch.nn.Module"):
        coord_check(lambda w: "model", [32, 64], torch.randn(4, 64), generator=0)
    with pytest.raises(InitlabTypeError, match=r"'factory' argument of coord_check must be a callable"):
        coord_check(3, [32, 64], torch.randn(4, 64))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"steps": 0}, InitlabValueError, r"'steps' argument of coord_check must be an int >= 1"),
        ({"lr": -1.0}, InitlabValueError, r"'lr' argument of coord_check must be a finite float > 0"),
        ({"optimizer": "adamw"}, InitlabValueError, r"'optimizer' argument of coord_check must be one of"),
        ({"seeds": 0}, InitlabValueError, r"'seeds' argument of coord_check must be an int >= 1"),
        ({"target": [1, 2]}, InitlabTypeError, r"'target' argument of coord_check must be a tensor"),
    ],
)
def test_bad_arguments(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        coord_check(sp_mlp, [8, 16], torch.randn(4, 64), **kwargs)


def test_batch_the_model_rejects() -> None:
    with pytest.raises(InitlabValueError, match=r"'batch' argument of coord_check must be an input the model accepts"):
        coord_check(sp_mlp, [8, 16], torch.randn(4, 3), generator=0)


def test_default_loss_and_loss_fn(digits: tuple[Any, Any]) -> None:
    x, y = digits
    a = coord_check(sp_mlp, [16, 32], x, steps=1, seeds=1, generator=0)  # mean(output ** 2)
    b = coord_check(sp_mlp, [16, 32], x, steps=1, seeds=1, generator=0, loss_fn=lambda out: out.square().mean())
    assert [r.l1 for r in a.records] == [r.l1 for r in b.records]
    c = coord_check(sp_mlp, [16, 32], x, target=y, steps=1, seeds=1, generator=0)
    assert [r.l1 for r in c.records if r.step == 0] == [r.l1 for r in a.records if r.step == 0]
    assert [r.l1 for r in c.records if r.step == 1] != [r.l1 for r in a.records if r.step == 1]
    assert all(math.isfinite(r.l1) for r in c.records)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_matches_the_readout_growth(digits: tuple[Any, Any]) -> None:
    x, y = digits
    check = coord_check(sp_mlp, WIDTHS, x, target=y, optimizer="adam", lr=0.01, seeds=2, generator=0, device="cuda")
    assert check.verdicts["4"] == "grows with width" and check.verdicts["0"] == "stable"
