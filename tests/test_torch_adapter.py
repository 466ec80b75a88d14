"""initlab.torch: fans from each module's definition (checked by hand and by measured variances) and inspect()."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn.init import _calculate_fan_in_and_fan_out as torch_fans  # noqa: E402

from initlab import InitlabValueError  # noqa: E402
from initlab.torch import inspect, param_fans  # noqa: E402

pytestmark = pytest.mark.torch


def fans(module: nn.Module, name: str = "weight") -> tuple[int | None, int | None]:
    return param_fans(module, name)[:2]


# ---------------------------------------------------------------- fans, by hand


def test_linear_fans() -> None:
    assert fans(nn.Linear(5, 7)) == (5, 7)


@pytest.mark.parametrize(
    ("conv", "expected"),
    [
        (nn.Conv1d(4, 6, 5), (4 * 5, 6 * 5)),
        (nn.Conv2d(16, 32, (3, 5), groups=4), (16 // 4 * 15, 32 // 4 * 15)),
        (nn.Conv2d(8, 8, 3, groups=8), (1 * 9, 1 * 9)),  # depthwise
        (nn.Conv2d(8, 24, 3, groups=8), (1 * 9, 3 * 9)),  # depthwise, channel multiplier 3
        (nn.Conv3d(6, 12, 2, groups=3), (2 * 8, 4 * 8)),
        (nn.ConvTranspose1d(4, 6, 3), (4 * 3, 6 * 3)),
        (nn.ConvTranspose2d(16, 32, 4, groups=2), (16 // 2 * 16, 32 // 2 * 16)),
        (nn.ConvTranspose3d(6, 9, 2, groups=3), (2 * 8, 3 * 8)),
    ],
)
def test_conv_fans_by_hand(conv: nn.Module, expected: tuple[int, int]) -> None:
    assert fans(conv) == expected


def test_torch_is_wrong_for_grouped_and_transposed_convs() -> None:
    grouped = nn.Conv2d(16, 32, 3, groups=4)  # weight (32, 4, 3, 3)
    assert torch_fans(grouped.weight) == (36, 288)  # fan_out ignores groups
    assert fans(grouped) == (36, 72)
    transposed = nn.ConvTranspose2d(16, 32, 3)  # weight (16, 32, 3, 3)
    assert torch_fans(transposed.weight) == (288, 144)  # fans swapped
    assert fans(transposed) == (144, 288)
    grouped_t = nn.ConvTranspose2d(16, 32, 3, groups=4)  # weight (16, 8, 3, 3)
    assert torch_fans(grouped_t.weight) == (72, 144)
    assert fans(grouped_t) == (36, 72)
    # where torch is right, the two agree
    for m in (nn.Linear(3, 9), nn.Conv2d(3, 9, 3), nn.Conv1d(2, 5, 4)):
        assert fans(m) == torch_fans(m.weight)


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Conv2d(12, 18, 3, groups=3, bias=False),
        lambda: nn.Conv2d(6, 6, 3, groups=6, bias=False),
        lambda: nn.ConvTranspose2d(12, 18, 3, groups=3, bias=False),
        lambda: nn.ConvTranspose1d(8, 4, 5, groups=2, bias=False),
    ],
)
def test_conv_fans_are_the_measured_forward_and_backward_variances(make) -> None:  # type: ignore[no-untyped-def]
    """With unit weights and unit-variance inputs, an interior output has variance fan_in, an input's gradient fan_out."""
    torch.manual_seed(0)
    conv = make().double()
    with torch.no_grad():
        conv.weight.fill_(1.0)  # each output is then a plain sum of the inputs it sees
    spatial = (24,) * (conv.weight.dim() - 2)
    x = torch.randn(256, conv.in_channels, *spatial, dtype=torch.float64, requires_grad=True)
    y = conv(x)
    k = conv.kernel_size[0]
    inner = (slice(None), slice(None), *([slice(k, -k)] * len(spatial)))
    fan_in, fan_out = fans(conv)
    assert y[inner].var().item() == pytest.approx(fan_in, rel=0.05)
    (grad,) = torch.autograd.grad(y, x, torch.randn_like(y))
    assert grad[inner].var().item() == pytest.approx(fan_out, rel=0.05)


def test_attention_fans_are_those_of_one_block() -> None:
    mha = nn.MultiheadAttention(32, 4)
    assert fans(mha, "in_proj_weight") == (32, 32)
    assert torch_fans(mha.in_proj_weight) == (32, 96)  # torch counts the three blocks
    assert fans(mha.out_proj) == (32, 32)
    split = nn.MultiheadAttention(32, 4, kdim=10, vdim=6)
    assert fans(split, "k_proj_weight") == (10, 32) and fans(split, "v_proj_weight") == (6, 32)
    assert param_fans(mha, "in_proj_bias").fan_in is None


@pytest.mark.parametrize(("cls", "gates"), [(nn.RNN, 1), (nn.LSTM, 4), (nn.GRU, 3)])
def test_recurrent_fans_are_those_of_one_gate(cls, gates: int) -> None:  # type: ignore[no-untyped-def]
    rnn = cls(5, 7, num_layers=2, bidirectional=True)
    assert rnn.weight_ih_l0.shape == (gates * 7, 5)
    assert fans(rnn, "weight_ih_l0") == (5, 7)
    assert fans(rnn, "weight_hh_l0_reverse") == (7, 7)
    assert fans(rnn, "weight_ih_l1") == (14, 7)  # both directions of layer 0 feed layer 1
    assert param_fans(rnn, "bias_hh_l1").fan_in is None


def test_lstm_projection() -> None:
    lstm = nn.LSTM(5, 8, proj_size=3)
    assert fans(lstm, "weight_hh_l0") == (3, 8)
    assert fans(lstm, "weight_hr_l0") == (8, 3)


def test_embedding_norms_and_biases_are_not_fan_based() -> None:
    assert "lookup table" in param_fans(nn.Embedding(10, 4), "weight").how
    for module, name in [(nn.BatchNorm2d(3), "weight"), (nn.LayerNorm(3), "weight"), (nn.Linear(2, 3), "bias")]:
        found = param_fans(module, name)
        assert found.fan_in is None and found.fan_out is None and found.how.startswith("not fan-based: ")


class Conv1D(nn.Module):
    """GPT-2's layer: weight stored (in, out)."""

    def __init__(self, n_out: int, n_in: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_in, n_out) * 0.02)
        self.bias = nn.Parameter(torch.zeros(n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight + self.bias


def test_hf_conv1d_is_stored_in_out() -> None:
    layer = Conv1D(12, 4)  # 4 -> 12
    found = param_fans(layer, "weight")
    assert found[:2] == (4, 12) and "(in, out)" in found.how
    assert torch_fans(layer.weight) == (12, 4)


def test_param_fans_errors() -> None:
    with pytest.raises(InitlabValueError, match=r"The 'name' argument of param_fans must be one of .*'bias', 'weight'"):
        param_fans(nn.Linear(2, 3), "wieght")

    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kernel = nn.Parameter(torch.zeros(2, 3))

    with pytest.raises(InitlabValueError, match="does not know the layout of parameter 'kernel'"):
        param_fans(Odd(), "kernel")


def test_missing_torch_is_a_clear_error() -> None:
    code = "import sys; sys.modules['torch'] = None\ntry:\n import initlab.torch\nexcept Exception as e: print(type(e).__name__, e)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("InitlabError initlab.torch needs PyTorch") and "pip install torch==2.13.0" in out


# ---------------------------------------------------------------- inspect on real models


def snapshot(model: nn.Module) -> tuple[dict[str, torch.Tensor], list[bool]]:
    return ({k: v.clone() for k, v in model.state_dict().items()}, [m.training for m in model.modules()])


def assert_untouched(model: nn.Module, before: tuple[dict[str, torch.Tensor], list[bool]]) -> None:
    state, modes = before
    after = model.state_dict()
    assert state.keys() == after.keys()
    for k, v in state.items():
        assert torch.equal(v, after[k]) and v.dtype == after[k].dtype, k
    assert [m.training for m in model.modules()] == modes
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks


def by_path(found) -> dict:  # type: ignore[no-untyped-def]
    return {r.path: r for r in found.params}


class Act(nn.Module):
    """An MLP whose forward runs the layers in a different order from their registration."""

    def __init__(self) -> None:
        super().__init__()
        self.out = nn.Linear(16, 3)
        self.tanh = nn.Tanh()
        self.hidden = nn.Linear(4, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.tanh(self.hidden(x)))


def test_inspect_mlp() -> None:
    torch.manual_seed(0)
    mlp = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 2))
    found = inspect(mlp)
    assert found.order == "registration"
    rows = by_path(found)
    assert [r["path"] for r in found.rows()] == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    assert [rows[p].activation for p in ("0.weight", "2.weight", "4.weight")] == ["relu", "tanh", "linear"]
    r = rows["0.weight"]
    assert (r.fan_in, r.fan_out) == (10, 32)
    assert r.he_std == pytest.approx(math.sqrt(2 / 10))
    assert r.lecun_std == pytest.approx(1 / math.sqrt(10))
    assert r.xavier_std == pytest.approx(math.sqrt(2) * math.sqrt(2 / 42))
    assert rows["2.weight"].he_std == pytest.approx(5 / 3 / math.sqrt(32))
    # torch's default init is U(+-1/sqrt(fan_in)): std 1/sqrt(3 fan_in)
    assert r.std == pytest.approx(1 / math.sqrt(30), rel=0.1)
    assert rows["0.bias"].fan_in is None and rows["0.bias"].he_std is None
    assert found.not_understood == ()


def test_execution_order_beats_registration_order() -> None:
    torch.manual_seed(0)
    model = Act()
    registered = by_path(inspect(model))
    assert registered["hidden.weight"].activation == "linear"  # nothing follows it in registration order
    assert registered["out.weight"].activation == "tanh"  # wrongly, by registration
    before = snapshot(model)
    ran = inspect(model, torch.randn(5, 4))
    assert_untouched(model, before)
    assert ran.order == "execution"
    assert [r.path for r in ran.params if r.fan_in] == ["hidden.weight", "out.weight"]
    rows = by_path(ran)
    assert rows["hidden.weight"].activation == "tanh" and rows["hidden.weight"].activation_from == "execution order"
    assert rows["out.weight"].activation == "linear"
    overridden = by_path(inspect(model, torch.randn(5, 4), activations={"out": "sigmoid"}))
    assert overridden["out.weight"].activation == "sigmoid"


def test_inspect_cnn_with_batchnorm_and_groups_leaves_it_untouched() -> None:
    torch.manual_seed(0)
    cnn = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1, groups=16),  # depthwise
        nn.BatchNorm2d(16),
        nn.LeakyReLU(0.2),
        nn.Conv2d(16, 32, 1, groups=4),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(32 * 8 * 8, 10),
    )
    cnn.train()
    cnn[1].eval()  # a mixed mode, to be restored exactly
    before = snapshot(cnn)
    found = inspect(cnn, torch.randn(4, 3, 8, 8))
    assert_untouched(cnn, before)
    rows = by_path(found)
    assert rows["0.weight"].activation == "relu"  # through the BatchNorm
    assert (rows["3.weight"].fan_in, rows["3.weight"].fan_out) == (9, 9)
    assert rows["3.weight"].activation == "leaky_relu"
    assert rows["3.weight"].he_std == pytest.approx(math.sqrt(2 / (1 + 0.2**2)) / 3)
    assert (rows["6.weight"].fan_in, rows["6.weight"].fan_out) == (4, 8)
    assert rows["6.weight"].activation == "linear"
    assert rows["1.weight"].fan_in is None and "normalization" in rows["1.weight"].how
    # a training-mode BatchNorm forward would have moved the running stats: they are bit-identical
    assert torch.equal(cnn[4].running_mean, before[0]["4.running_mean"])
    assert "in execution order" in repr(found) and "leaky_relu" in repr(found)


def test_inspect_transformer_encoder_layer() -> None:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.1, activation="gelu", batch_first=True)
    before = snapshot(layer)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    found = inspect(layer, torch.randn(2, 6, 32))
    assert_untouched(layer, before)
    assert torch.backends.mha.get_fastpath_enabled() == fastpath
    rows = by_path(found)
    weights = [r.path for r in found.params if r.fan_in]
    assert weights == ["self_attn.in_proj_weight", "self_attn.out_proj.weight", "linear1.weight", "linear2.weight"]
    assert (rows["self_attn.in_proj_weight"].fan_in, rows["self_attn.in_proj_weight"].fan_out) == (32, 32)
    assert rows["self_attn.in_proj_weight"].activation == "linear"
    assert rows["linear1.weight"].activation == "gelu"  # F.gelu is a function: known from the layer's structure
    assert rows["linear1.weight"].activation_from == "module structure"
    assert rows["linear2.weight"].activation == "linear"
    # eval mode is where torch's fused fast path would skip the submodules: the same rows come out
    layer.eval()
    assert [r.path for r in inspect(layer, torch.randn(2, 6, 32)).params if r.fan_in] == weights


class Block(nn.Module):
    """A residual block that calls one ReLU twice (as torchvision's BasicBlock does)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + x)
        return self.head(out.mean((2, 3)))


def test_a_module_called_twice_is_seen_at_each_call() -> None:
    torch.manual_seed(0)
    block = Block()
    assert by_path(inspect(block))["conv2.weight"].activation == "linear"  # the ReLU is registered before conv2
    rows = by_path(inspect(block, torch.randn(2, 4, 6, 6)))
    assert rows["conv1.weight"].activation == "relu" and rows["conv2.weight"].activation == "relu"
    assert rows["head.weight"].activation == "linear"


def test_prelu_slope_is_read_from_its_weight() -> None:
    model = nn.Sequential(nn.Linear(9, 4), nn.PReLU(init=0.5))
    row = by_path(inspect(model))["0.weight"]
    assert row.activation == "leaky_relu" and row.he_std == pytest.approx(math.sqrt(2 / 1.25) / 3)


def test_lazy_parameters() -> None:
    model = nn.Sequential(nn.LazyLinear(3))
    found = inspect(model)
    assert [p for p, _ in found.not_understood] == ["0.weight", "0.bias"]
    with pytest.raises(InitlabValueError, match="uninitialized lazy parameters"):
        inspect(model, torch.randn(2, 5))
    assert isinstance(model[0].weight, nn.parameter.UninitializedParameter)


class LSTMClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.lstm = nn.LSTM(8, 16, batch_first=True)
        self.head = nn.Linear(16, 3)
        self.decode = nn.Linear(8, 50, bias=False)
        self.decode.weight = self.embed.weight  # tied

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(tokens))
        return self.head(out[:, -1])


def test_inspect_lstm_classifier_with_tied_weights() -> None:
    torch.manual_seed(0)
    model = LSTMClassifier()
    before = snapshot(model)
    found = inspect(model, torch.randint(0, 50, (3, 7)))
    assert_untouched(model, before)
    paths = [r.path for r in found.params]
    assert paths.count("embed.weight") == 1 and "decode.weight" not in paths
    rows = by_path(found)
    assert rows["embed.weight"].tied == ("decode.weight",)
    assert rows["embed.weight"].fan_in is None and "lookup table" in rows["embed.weight"].how
    assert (rows["lstm.weight_ih_l0"].fan_in, rows["lstm.weight_ih_l0"].fan_out) == (8, 16)
    assert rows["lstm.weight_hh_l0"].activation == "tanh"
    assert paths.index("lstm.weight_ih_l0") < paths.index("head.weight")
    assert len(paths) == len({id(p) for p in model.parameters()})
    data = found.to_dict()
    assert data["order"] == "execution" and data["rows"][0]["tied"] == ["decode.weight"]
    import json

    json.dumps(data)


def test_unknown_parameters_are_listed_with_a_reason() -> None:
    model = nn.Sequential(Conv1D(6, 4), nn.ReLU())
    model.register_parameter("scale", nn.Parameter(torch.ones(2, 2)))
    found = inspect(model)
    rows = by_path(found)
    assert rows["0.weight"].activation == "relu" and (rows["0.weight"].fan_in, rows["0.weight"].fan_out) == (4, 6)
    assert [p for p, _ in found.not_understood] == ["scale"]
    assert "Sequential" in found.not_understood[0][1]


def test_inspect_errors() -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2)).train()
    before = snapshot(model)
    with pytest.raises(InitlabValueError, match="The 'example' argument of inspect must be an input the model accepts"):
        inspect(model, torch.randn(2, 5))
    assert_untouched(model, before)  # a failed run removes its hooks and restores the modes too
    with pytest.raises(InitlabValueError, match="'nope', which is not a module of the model"):
        inspect(nn.Linear(3, 2), activations={"nope": "relu"})


def test_a_module_registered_under_two_names_is_listed_once() -> None:
    torch.manual_seed(0)
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, nn.ReLU(), shared, nn.Tanh())
    found = inspect(model, torch.randn(3, 4))
    assert [(r.path, r.tied) for r in found.params] == [("0.weight", ("2.weight",)), ("0.bias", ("2.bias",))]
    assert found.params[0].activation == "relu"  # at its first call
