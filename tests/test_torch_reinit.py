"""initlab.torch reinit: plans drawn with initlab's fans, bit-identical on re-apply, per-tensor streams, tied tensors."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch_models  # noqa: E402  (examples/, on sys.path through conftest.py)
from torch import nn  # noqa: E402

from initlab import InitlabTypeError, InitlabValueError  # noqa: E402
from initlab.torch._reinit import ReinitPlan, plan_reinit, reinit  # noqa: E402

pytestmark = pytest.mark.torch


# ---------------------------------------------------------------- models built here


def cnn_bn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, groups=4),
        nn.BatchNorm2d(32),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(32, 10),
    )


class LSTMClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 16, padding_idx=0)
        self.lstm = nn.LSTM(16, 24, num_layers=2, batch_first=True)
        self.head = nn.Linear(24, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(x))
        return self.head(out[:, -1])


def transformer() -> nn.Module:
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)


def mlp(depth: int = 20, width: int = 128, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Linear(64, width), act()]
    for _ in range(depth - 2):
        layers += [nn.Linear(width, width), act()]
    layers.append(nn.Linear(width, 10))
    return nn.Sequential(*layers)


def sd(t: torch.Tensor) -> float:
    return float(t.detach().double().std())


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("factory", [cnn_bn, LSTMClassifier, transformer], ids=["cnn_bn", "lstm", "transformer"])
def test_applying_a_plan_twice_is_bit_identical(factory) -> None:
    model = factory()
    plan = plan_reinit(model, "he", generator=torch.Generator().manual_seed(7))
    plan.apply(model)
    first = snapshot(model)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0).add_(1.0)  # anything the plan must overwrite
    plan.apply(model)
    second = snapshot(model)
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
    # and a fresh copy of the architecture gets the same bits from the same plan
    other = factory()
    plan.apply(other)
    for key, value in snapshot(other).items():
        assert torch.equal(value, first[key]), key


def test_a_rule_on_one_layer_does_not_change_any_other_draw() -> None:
    a, b = mlp(depth=5, width=32), mlp(depth=5, width=32)
    plan_reinit(a, "he", generator=3).apply(a)
    plan_reinit(b, "he", rules=[("4.weight", "orthogonal")], generator=3).apply(b)
    sa, sb = snapshot(a), snapshot(b)
    changed = [k for k in sa if not torch.equal(sa[k], sb[k])]
    assert changed == ["4.weight"]
    w = sb["4.weight"].double()
    assert torch.allclose(w @ w.T, torch.eye(32, dtype=torch.float64), atol=1e-5)


def test_generator_seeds_the_plan() -> None:
    model = mlp(depth=3, width=16)
    same = [plan_reinit(model, "he", generator=torch.Generator().manual_seed(5)).seed for _ in range(2)]
    assert same[0] == same[1]
    assert plan_reinit(model, "he", generator=torch.Generator().manual_seed(6)).seed != same[0]
    assert plan_reinit(model, "he", generator=11).seed == 11
    default = plan_reinit(model, "he")
    assert default.seed == 0 and any("seed 0" in n for n in default.notes)
    one, two = copy.deepcopy(model), copy.deepcopy(model)
    reinit(one, "he", generator=1)
    reinit(two, "he", generator=2)
    assert not torch.equal(one[0].weight, two[0].weight)


def test_torch_scheme_is_torchs_default_seeded_and_leaves_the_global_rng_alone() -> None:
    model = cnn_bn()
    state = torch.get_rng_state()
    plan = plan_reinit(model, "torch", bias="torch", generator=4)
    plan.apply(model)
    first = snapshot(model)
    plan.apply(model)
    assert all(torch.equal(first[k], v) for k, v in snapshot(model).items())
    assert torch.equal(torch.get_rng_state(), state)
    w = first["0.weight"]  # torch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = 27
    bound = 1 / math.sqrt(27)
    assert float(w.abs().max()) <= bound
    assert abs(float(w.std()) - bound / math.sqrt(3)) < 0.15 * bound / math.sqrt(3)


# ---------------------------------------------------------------- tied tensors


class TiedLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.body = nn.Linear(16, 16)
        self.decoder = nn.Linear(16, 50, bias=False)
        self.decoder.weight = self.embed.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.relu(self.body(self.embed(x))))


def test_tied_parameters_are_initialized_once_and_listed() -> None:
    model = TiedLM()
    plan = plan_reinit(model, "he", generator=0)
    holding = [e for e in plan.entries if "decoder.weight" in (e.path, *e.tied)]
    assert len(holding) == 1
    entry = holding[0]
    assert {entry.path, *entry.tied} == {"embed.weight", "decoder.weight"}
    assert (entry.path, entry.tied) in plan.tied
    assert len(plan.entries) == len(list(model.parameters()))  # named_parameters() counts the tensor once
    plan.apply(model)
    assert model.decoder.weight is model.embed.weight
    assert "also" in plan.explain() and "decoder.weight" in plan.explain()


# ---------------------------------------------------------------- the numbers drawn


def test_he_on_a_20_layer_relu_mlp_has_the_he_std_in_every_layer() -> None:
    model = mlp(depth=20, width=128)
    reinit(model, "he", generator=0)
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert len(linears) == 20
    for m in linears:
        target = math.sqrt(2 / m.in_features)
        assert abs(sd(m.weight) / target - 1) < 0.05
        assert abs(float(m.weight.detach().double().mean())) < 0.1 * target
        assert torch.equal(m.bias, torch.zeros_like(m.bias))


def test_auto_reads_the_activation_that_follows() -> None:
    model = nn.Sequential(nn.Linear(100, 200), nn.Tanh(), nn.Linear(200, 300), nn.ReLU(), nn.Linear(300, 10))
    plan = plan_reinit(model, "auto", example=torch.zeros(2, 100), generator=0)
    assert plan["0.weight"].std == pytest.approx(5 / 3 / math.sqrt(100))
    assert plan["2.weight"].std == pytest.approx(math.sqrt(2) / math.sqrt(200))
    assert plan["4.weight"].std == pytest.approx(1 / math.sqrt(300))
    assert plan["0.weight"].activation == "tanh"
    plan.apply(model)
    assert abs(sd(model[2].weight) / (math.sqrt(2 / 200)) - 1) < 0.03


@pytest.mark.parametrize(
    ("make", "scheme", "reference"),
    [
        (lambda: nn.Linear(200, 300), "he", lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu")),
        (lambda: nn.Conv2d(16, 32, 3), "he", lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu")),
        (lambda: nn.Linear(200, 300), "xavier", nn.init.xavier_uniform_),
        (lambda: nn.Conv2d(16, 32, 3), "xavier", nn.init.xavier_uniform_),
    ],
    ids=["linear-he", "conv-he", "linear-xavier", "conv-xavier"],
)
def test_ks_parity_with_torch_init_where_torchs_fans_are_right(make, scheme, reference) -> None:
    stats = pytest.importorskip("scipy.stats")
    ours = make()
    reinit(ours, scheme, generator=0)
    theirs = make()
    torch.manual_seed(0)
    with torch.no_grad():
        reference(theirs.weight)
    a, b = ours.weight.detach().double().flatten().numpy(), theirs.weight.detach().double().flatten().numpy()
    assert stats.ks_2samp(a, b).pvalue > 0.001
    # negative control: the same test tells a 1.5x wider draw apart
    assert stats.ks_2samp(a, 1.5 * b).pvalue < 0.001


def block_stds(w: torch.Tensor, blocks: int) -> list[float]:
    return [sd(b) for b in w.detach().chunk(blocks, dim=0)]


def test_grouped_and_transposed_convs_are_drawn_with_initlabs_fans() -> None:
    grouped = nn.Conv2d(16, 64, 3, groups=4)  # weight (64, 4, 3, 3): fan_in 4*9 = 36, fan_out 64/4*9 = 144
    reinit(grouped, "xavier_normal", generator=0)
    expected = math.sqrt(2 / (36 + 144))
    assert abs(sd(grouped.weight) / expected - 1) < 0.05
    torch_expected = math.sqrt(2 / (36 + 576))  # torch's fan_out ignores the groups
    assert abs(sd(grouped.weight) / torch_expected - 1) > 0.3

    transposed = nn.ConvTranspose2d(32, 16, 3)  # weight (32, 16, 3, 3): fan_in 32*9 = 288, torch says 144
    reinit(transposed, "he", generator=0)
    assert abs(sd(transposed.weight) / math.sqrt(2 / 288) - 1) < 0.05


def test_packed_qkv_blocks_are_drawn_each_as_its_own_matrix() -> None:
    mha = nn.MultiheadAttention(64, 4)
    plan = reinit(mha, "xavier_normal", generator=0)
    entry = plan["in_proj_weight"]
    assert entry.blocks == 3 and (entry.fan_in, entry.fan_out) == (64, 64)
    for s in block_stds(mha.in_proj_weight, 3):
        assert abs(s / math.sqrt(2 / 128) - 1) < 0.05  # torch: sqrt(2 / (64 + 192))
    reinit(mha, "orthogonal", generator=0)
    for b in mha.in_proj_weight.detach().double().chunk(3, dim=0):
        assert torch.allclose(b @ b.T, torch.eye(64, dtype=torch.float64), atol=1e-5)


def test_lstm_gates_fans_orthogonal_recurrent_blocks_and_forget_bias() -> None:
    lstm = nn.LSTM(32, 64)
    plan = reinit(lstm, "xavier_normal", recurrent={"hidden": "orthogonal", "forget_bias": 1.0}, generator=0)
    assert (plan["weight_ih_l0"].fan_in, plan["weight_ih_l0"].fan_out) == (32, 64)
    for s in block_stds(lstm.weight_ih_l0, 4):
        assert abs(s / math.sqrt(2 / (32 + 64)) - 1) < 0.06  # torch's fans would give sqrt(2 / (32 + 256))
    for b in lstm.weight_hh_l0.detach().double().chunk(4, dim=0):  # gate order i, f, g, o: each (H, H) orthogonal
        assert torch.allclose(b @ b.T, torch.eye(64, dtype=torch.float64), atol=1e-5)
    assert not torch.allclose(lstm.weight_hh_l0[:64], lstm.weight_hh_l0[64:128])
    bias_ih, bias_hh = lstm.bias_ih_l0.detach(), lstm.bias_hh_l0.detach()
    assert torch.equal(bias_ih[64:128], torch.ones(64))
    assert torch.equal(bias_ih[:64], torch.zeros(64)) and torch.equal(bias_ih[128:], torch.zeros(128))
    assert torch.equal(bias_hh, torch.zeros(256))  # the effective forget bias b_ih + b_hh is 1, not 2
    assert "forget gate" in plan["bias_ih_l0"].source


def test_norms_reset_embeddings_standard_normal_with_zero_padding_row() -> None:
    model = LSTMClassifier()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.5)
    bn = cnn_bn()
    with torch.no_grad():
        bn[1].weight.fill_(3.0)
        bn[1].bias.fill_(2.0)
    reinit(bn, "he", generator=0)
    assert torch.equal(bn[1].weight, torch.ones(16)) and torch.equal(bn[1].bias, torch.zeros(16))
    reinit(model, "he", generator=0)
    emb = model.embed.weight.detach().double()
    assert torch.equal(emb[0], torch.zeros(16, dtype=torch.float64))
    assert abs(float(emb[1:].std()) - 1.0) < 0.15
    kept = plan_reinit(bn, "he", rules=[(nn.BatchNorm2d, "keep")], generator=0)
    assert kept["1.weight"].keep and kept["1.bias"].keep


def test_bias_policies_and_rules_on_biases() -> None:
    model = mlp(depth=3, width=16)
    reinit(model, "he", bias="constant(value=0.1)", rules=[("2.bias", "normal(std=0.5)")], generator=0)
    assert torch.allclose(model[0].bias, torch.full((16,), 0.1))
    assert sd(model[2].bias) > 0.1
    before = snapshot(model)
    reinit(model, "he", bias="keep", generator=9)
    assert torch.equal(model[0].bias, before["0.bias"])
    assert not torch.equal(model[0].weight, before["0.weight"])


def test_a_class_rule_sets_weights_and_keep_keeps_everything() -> None:
    model = cnn_bn()
    before = snapshot(model)
    plan = reinit(model, "he", rules=[(nn.Conv2d, "orthogonal"), (nn.Linear, "keep")], generator=0)
    assert plan["0.weight"].spec.startswith("orthogonal") and plan["0.bias"].spec == "zeros"
    assert torch.equal(model[8].weight, before["8.weight"]) and torch.equal(model[8].bias, before["8.bias"])


# ---------------------------------------------------------------- bad input


def test_unknown_scheme_names_the_argument_and_lists_what_is_accepted() -> None:
    with pytest.raises(
        InitlabValueError, match=r"'scheme' argument of plan_reinit.*'auto'.*orthogonal.*Did you mean 'he'"
    ):
        plan_reinit(mlp(3, 8), "hee")
    with pytest.raises(InitlabValueError, match="'scheme'"):
        plan_reinit(mlp(3, 8), "normal(sdt=1)")
    with pytest.raises(InitlabTypeError, match="'scheme'"):
        plan_reinit(mlp(3, 8), 3)  # type: ignore[arg-type]


def test_a_rule_matching_nothing_is_named() -> None:
    with pytest.raises(InitlabValueError, match=r"rule 1 \(\*\.out_prj\.weight\)"):
        plan_reinit(mlp(3, 8), "he", rules=[("0.weight", "he"), ("*.out_prj.weight", "zeros")])
    with pytest.raises(InitlabValueError, match="rule 0 \\(LSTM\\)"):
        plan_reinit(mlp(3, 8), "he", rules=[(nn.LSTM, "orthogonal")])
    with pytest.raises(InitlabValueError, match="'rules'"):
        plan_reinit(mlp(3, 8), "he", rules=[("0.weight", "orthogonl")])
    with pytest.raises(InitlabTypeError, match="'rules'"):
        plan_reinit(mlp(3, 8), "he", rules=[(3, "he")])  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("kwargs", "error", "arg"),
    [
        ({"generator": "seed"}, InitlabTypeError, "generator"),
        ({"generator": 1.5}, InitlabTypeError, "generator"),
        ({"generator": True}, InitlabTypeError, "generator"),
        ({"generator": -1}, InitlabValueError, "generator"),
        ({"bias": "ones"}, InitlabValueError, "bias"),
        ({"recurrent": {"hiden": "orthogonal"}}, InitlabValueError, "recurrent"),
        ({"recurrent": {"forget_bias": "one"}}, InitlabValueError, "recurrent"),
        ({"depth": "fixup"}, InitlabValueError, "depth"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, arg) -> None:
    with pytest.raises(error, match=f"'{arg}' argument of plan_reinit"):
        plan_reinit(mlp(3, 8), "he", **kwargs)


def test_applying_to_another_model_is_refused() -> None:
    plan = plan_reinit(mlp(3, 8), "he")
    with pytest.raises(InitlabValueError, match="'model' argument of ReinitPlan.apply.*0.weight"):
        plan.apply(mlp(3, 16))
    with pytest.raises(InitlabTypeError, match="'model'"):
        plan.apply("model")  # type: ignore[arg-type]


# ---------------------------------------------------------------- what the plan shows


def test_explain_rows_dict_repr_and_plot() -> None:
    model = cnn_bn()
    plan = plan_reinit(model, "he", example=torch.zeros(2, 3, 8, 8), generator=0)
    text = plan.explain()
    conv = text.split("- 3.weight", 1)[1].split("\n- ", 1)[0]
    assert "fan_in = 36" in conv and "fan_out = 72" in conv and "grouped conv" in conv
    assert "gain = 1.41421" in conv and "relu" in conv
    assert f"std = {math.sqrt(2 / 36):.6g}" in conv
    rows = plan.rows()
    assert len(rows) == len(plan.entries) and all(r.keys() == rows[0].keys() for r in rows)
    json.dumps(plan.to_dict())
    assert isinstance(plan, ReinitPlan) and "3.weight" in repr(plan) and "seed 0" in repr(plan)
    frame = plan.to_frame()
    assert list(frame["path"]) == [e.path for e in plan.entries]
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plan.plot()
    assert isinstance(fig, matplotlib.figure.Figure)
    assert fig.axes[0].get_yscale() == "log" and fig.axes[0].get_ylabel()
    plt.close(fig)


@pytest.mark.gpu
def test_apply_on_cuda_writes_the_same_bits_as_on_cpu() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    cpu, gpu = LSTMClassifier(), LSTMClassifier().cuda()
    plan = plan_reinit(cpu, "he", recurrent={"hidden": "orthogonal", "forget_bias": 1.0}, generator=3)
    plan.apply(cpu)
    plan.apply(gpu)
    for (name, a), b in zip(cpu.named_parameters(), gpu.parameters(), strict=True):
        assert b.device.type == "cuda"
        assert torch.equal(a, b.cpu()), name


def test_numpy_streams_do_not_touch_numpys_global_rng() -> None:
    np.random.seed(0)
    expected = np.random.random()
    np.random.seed(0)
    reinit(mlp(3, 8), "he", generator=0)
    assert np.random.random() == expected


class Scaled(nn.Module):
    """A custom module: its own parameter has no layout initlab knows."""

    def __init__(self) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((8,), 0.3))
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gamma * self.fc(x)


class Conv1D(nn.Module):
    """HF GPT-2's Conv1D: a dense layer whose weight is stored (in, out)."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_in, n_out))
        self.bias = nn.Parameter(torch.zeros(n_out))


def test_unknown_and_lazy_parameters_are_kept_with_the_reason_unless_a_rule_names_them() -> None:
    model = Scaled()
    plan = reinit(model, "he", generator=0)
    assert plan["gamma"].keep and "not re-initialized" in plan["gamma"].source
    assert torch.equal(model.gamma.detach(), torch.full((8,), 0.3))
    assert "gamma" in plan.explain() and "kept as it is" in plan.explain()
    reinit(model, "he", rules=[("gamma", "ones")], generator=0)
    assert torch.equal(model.gamma.detach(), torch.ones(8))
    lazy = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.Linear(4, 2))
    plan = reinit(lazy, "he", generator=0)
    assert plan["0.weight"].keep and plan["0.weight"].source == "an uninitialized lazy parameter"
    assert not plan["2.weight"].keep


def test_hf_conv1d_is_drawn_with_its_transposed_fans() -> None:
    layer = Conv1D(64, 256)  # weight (in, out) = (64, 256): fan_in 64; the shape rule would say 256
    plan = reinit(layer, "he", generator=0)
    assert (plan["weight"].fan_in, plan["weight"].fan_out) == (64, 256)
    assert abs(sd(layer.weight) / math.sqrt(2 / 64) - 1) < 0.05


def test_bias_policy_stds_are_planned_and_drawn() -> None:
    model = nn.Sequential(nn.Linear(25, 4000))
    plan = reinit(model, "he", bias="torch_default", generator=0)
    assert plan["0.bias"].std == pytest.approx(1 / (5 * math.sqrt(3)))
    assert abs(sd(model[0].bias) / plan["0.bias"].std - 1) < 0.05
    assert float(model[0].bias.detach().abs().max()) <= 0.2


def test_a_scheme_that_cannot_fit_a_tensor_names_the_argument_that_gave_it() -> None:
    with pytest.raises(InitlabValueError, match=r"'rules' argument of plan_reinit gives 'dirac.*0\.weight"):
        plan_reinit(mlp(3, 8), "he", rules=[("0.weight", "dirac")])
    with pytest.raises(InitlabValueError, match="'example' argument of plan_reinit"):
        plan_reinit(mlp(3, 8), "auto", example=torch.zeros(2, 5))
    with pytest.raises(InitlabValueError, match="'activations' argument of plan_reinit"):
        plan_reinit(mlp(3, 8), "auto", activations={"9": "relu"})


def test_torch_scheme_follows_torchs_defaults_inside_attention() -> None:
    model = transformer()
    reinit(model, "torch", bias="torch", generator=2)
    attn = model.layers[0].self_attn
    assert torch.equal(attn.out_proj.bias.detach(), torch.zeros(32))
    assert torch.equal(attn.in_proj_bias.detach(), torch.zeros(96))
    bound = math.sqrt(6 / (32 + 96))  # torch's xavier_uniform_ over the whole packed (3E, E) matrix
    assert float(attn.in_proj_weight.detach().abs().max()) <= bound
    assert abs(sd(attn.in_proj_weight) / (bound / math.sqrt(3)) - 1) < 0.1
    assert float(model.layers[0].linear1.bias.detach().abs().max()) > 0  # Linear's own uniform bias


def test_a_callable_scheme_and_a_depth_factor_on_a_bias_policy() -> None:
    def halves(shape, rng, *, dtype=np.float64):  # a user's initializer: no plan, drawn on each block's shape
        return np.full(shape, 0.5, dtype=dtype)

    model = nn.LSTM(4, 6)
    plan = reinit(model, halves, bias="constant(value=0.2)", generator=0)
    assert plan["weight_ih_l0"].kind == "custom" and plan["weight_ih_l0"].blocks == 4
    assert torch.equal(model.weight_ih_l0.detach(), torch.full((24, 4), 0.5))
    scaled = replace(plan, entries=tuple(e.scaled([0.5], "test") if e.role == "bias" else e for e in plan.entries))
    scaled.apply(model)
    assert torch.allclose(model.bias_ih_l0.detach(), torch.full((24,), 0.1))
    assert scaled["bias_ih_l0"].std == 0.0
    json.dumps(scaled.to_dict())


# ---------------------------------------------------------------- the five shared models


@pytest.mark.parametrize(
    ("name", "kind"),
    [("mlp", "flat"), ("cnn_bn", "image"), ("resnet", "image"), ("transformer", "sequence"), ("lstm", "sequence")],
)
def test_auto_on_the_five_real_models_keeps_the_signal(name: str, kind: str) -> None:
    shared = torch_models
    model = getattr(shared, name)()
    x, _ = shared.digits_batch(64, kind=kind)
    plan = reinit(model, "auto", example=x, generator=0)
    fan_scaled = [e for e in plan.entries if e.role == "weight"]
    assert fan_scaled and all(e.std is not None and e.fan_in for e in fan_scaled)
    for e in fan_scaled:  # each weight got gain(activation that follows) / sqrt(fan_in)
        assert e.std == pytest.approx(e.gain / math.sqrt(e.fan_in))
    model.eval()
    with torch.no_grad():
        out = model(x)
    assert bool(torch.isfinite(out).all())
    assert 0.05 < float(out.std()) < 20  # neither vanished nor exploded at the output
    first = snapshot(model)
    plan.apply(model)
    assert all(torch.equal(first[k], v) for k, v in snapshot(model).items())


def test_he_fixes_the_vanishing_20_layer_relu_mlp() -> None:
    shared = torch_models
    x, _ = shared.digits_batch(256, kind="flat")
    default = shared.mlp(
        depth=20
    )  # torch's default: std 1/sqrt(3 fan_in), the weights shrink the signal ~sqrt(6) per layer
    he = shared.mlp(depth=20)
    reinit(he, "he", generator=0)
    with torch.no_grad():
        hidden = [default[:-1](x), he[:-1](x)]
    ratio_default = float(hidden[0].pow(2).mean().sqrt() / x.pow(2).mean().sqrt())
    ratio_he = float(hidden[1].pow(2).mean().sqrt() / x.pow(2).mean().sqrt())
    assert ratio_default < 0.1  # what is left is mostly torch's uniform biases
    assert 0.2 < ratio_he < 3 and ratio_he > 5 * ratio_default  # measured: 0.44 against 0.06


def test_recurrent_options_that_do_nothing_are_noted() -> None:
    assert any("no effect" in n for n in plan_reinit(mlp(3, 8), "he", recurrent={"hidden": "orthogonal"}).notes)
    gru = plan_reinit(nn.GRU(4, 8), "he", recurrent={"forget_bias": 1.0})
    assert any("only nn.LSTM" in n for n in gru.notes)
    kept = plan_reinit(nn.LSTM(4, 8), "he", bias="keep", recurrent={"forget_bias": 1.0})
    assert any("bias_ih_l0" in n and "kept" in n for n in kept.notes)
    gru_plan = reinit(nn.GRU(4, 8), "he", recurrent={"hidden": "orthogonal"}, generator=0)
    assert gru_plan["weight_hh_l0"].blocks == 3
