"""initlab.torch depth-aware starts: GPT-2 residual scaling, Fixup, T-Fixup, ReZero / SkipInit, on real models."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
import torch_models as models  # noqa: E402  (examples/, on sys.path through conftest.py)
from torch import nn  # noqa: E402

from initlab import InitlabTypeError, InitlabValueError  # noqa: E402
from initlab.torch._depth import ReZero, SkipInit, fixup_init, gpt2_init, rezero, t_fixup_init  # noqa: E402
from initlab.torch._reinit import plan_reinit  # noqa: E402

pytestmark = pytest.mark.torch


def sd(t: torch.Tensor) -> float:
    return float(t.detach().double().std())


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def pooled_std(model: nn.Module, suffix: str) -> float:
    values = torch.cat([p.detach().double().flatten() for n, p in model.named_parameters() if n.endswith(suffix)])
    return float(values.std())


# ---------------------------------------------------------------- GPT-2


def test_gpt2_residual_projections_and_no_compounding() -> None:
    model = models.transformer(d_model=64, num_layers=3)
    plan = gpt2_init(model, generator=0)
    target = 0.02 / math.sqrt(2 * 3)
    for suffix in ("self_attn.out_proj.weight", "linear2.weight"):
        assert abs(pooled_std(model, suffix) / target - 1) < 0.03, suffix
    assert abs(pooled_std(model, "linear1.weight") / 0.02 - 1) < 0.03  # not a residual output: plain 0.02
    assert abs(pooled_std(model, "embed.weight") / 0.02 - 1) < 0.1
    first = snapshot(model)
    plan.apply(model)  # a second apply draws afresh: no (1/sqrt(2n))^2
    assert all(torch.equal(first[k], v) for k, v in snapshot(model).items())
    assert abs(pooled_std(model, "self_attn.out_proj.weight") / target - 1) < 0.03
    entry = plan["encoder.layers.1.linear2.weight"]
    assert entry.factors == (pytest.approx(1 / math.sqrt(6)),) and "GPT-2" in entry.factor_why
    assert "1/sqrt(2 n_layer)" in plan.explain()


def test_gpt2_as_the_depth_option_of_plan_reinit_and_n_layer_given() -> None:
    model = models.transformer(d_model=32, num_layers=2)
    plan = plan_reinit(model, "normal(std=0.02)", depth="gpt2", generator=1)
    assert plan["encoder.layers.0.self_attn.out_proj.weight"].std == pytest.approx(0.02 / 2)
    assert plan["encoder.layers.0.linear1.weight"].std == pytest.approx(0.02)
    explicit = gpt2_init(model, n_layer=12, apply=False)
    assert explicit["encoder.layers.0.linear2.weight"].std == pytest.approx(0.02 / math.sqrt(24))


def test_gpt2_bad_input() -> None:
    mlp = models.mlp(depth=3)
    with pytest.raises(InitlabValueError, match="'n_layer' argument of gpt2_init"):
        gpt2_init(mlp)
    with pytest.raises(InitlabValueError, match="'residual' argument of gpt2_init.*matches no parameter"):
        gpt2_init(mlp, n_layer=2)
    with pytest.raises(InitlabValueError, match="'n_layer'"):
        gpt2_init(models.transformer(), n_layer=0)
    with pytest.raises(InitlabValueError, match="'std' argument of gpt2_init"):
        gpt2_init(models.transformer(), std=-0.02)


# ---------------------------------------------------------------- Fixup


def test_fixup_on_a_resnet() -> None:
    model = models.resnet()
    plan = fixup_init(model, generator=0)
    blocks = list(model.layers)
    assert len(blocks) == 3
    for block in blocks:
        assert torch.equal(block.conv2.weight, torch.zeros_like(block.conv2.weight))  # last layer of each branch
        fan_in = block.conv1.in_channels * 9
        target = math.sqrt(2 / fan_in) * 3 ** (-1 / 2)  # L = 3 branches, m = 2: L^(-1/(2m-2)) = L^(-1/2)
        assert abs(sd(block.conv1.weight) / target - 1) < 0.1
    assert torch.equal(model.fc.weight, torch.zeros_like(model.fc.weight))
    assert torch.equal(model.fc.bias, torch.zeros_like(model.fc.bias))
    assert abs(sd(model.conv1.weight) / math.sqrt(2 / 9) - 1) < 0.2  # the stem: plain He, not scaled
    first = snapshot(model)
    plan.apply(model)
    assert all(torch.equal(first[k], v) for k, v in snapshot(model).items())
    # each block starts as its shortcut: the branch adds exactly 0
    model.eval()
    x = torch.relu(torch.randn(4, 16, 8, 8))
    with torch.no_grad():
        assert torch.equal(blocks[0](x), x)  # identity shortcut, x >= 0
        assert torch.equal(blocks[1](x), torch.relu(blocks[1].downsample(x)))
        out = model(models.digits_batch(8, kind="image")[0])
    assert torch.equal(out, torch.zeros_like(out))  # the classification layer starts at 0
    assert any("without normalization" in n for n in plan.notes)  # this ResNet has BatchNorm


def test_fixup_with_explicit_branches_of_three_layers() -> None:
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))
    plan = fixup_init(model, branches=[["0", "2", "4"], ["2"]], output="4", apply=False)
    assert plan["0.weight"].factors == (pytest.approx(2 ** (-1 / 4)),)  # L = 2, m = 3: 2^(-1/4)
    assert plan["4.weight"].factors == (0.0,)
    with pytest.raises(InitlabValueError, match="'branches' argument of fixup_init.*'9'"):
        fixup_init(model, branches=[["0", "9"]])
    with pytest.raises(InitlabValueError, match="'branches' argument of fixup_init is needed"):
        fixup_init(models.mlp(depth=3))
    with pytest.raises(InitlabTypeError, match="'branches'"):
        fixup_init(model, branches="0")  # type: ignore[arg-type]


# ---------------------------------------------------------------- T-Fixup


def test_t_fixup_on_an_encoder_decoder_transformer() -> None:
    torch.manual_seed(0)
    model = nn.Transformer(
        64, 4, num_encoder_layers=3, num_decoder_layers=2, dim_feedforward=128, dropout=0.0, batch_first=True
    )
    plan = t_fixup_init(model, generator=0)
    enc, dec = 0.67 * 3 ** (-1 / 4), (9 * 2) ** (-1 / 4)
    xavier_e = math.sqrt(2 / 128)  # each (64, 64) block of the packed q/k/v
    qkv = model.encoder.layers[0].self_attn.in_proj_weight.detach().chunk(3)
    assert abs(sd(qkv[0]) / xavier_e - 1) < 0.05
    assert abs(sd(qkv[2]) / (enc * xavier_e) - 1) < 0.05
    cross = model.decoder.layers[1].multihead_attn.in_proj_weight.detach().chunk(3)
    assert abs(sd(cross[1]) / xavier_e - 1) < 0.05 and abs(sd(cross[2]) / (dec * xavier_e) - 1) < 0.05
    lin1 = model.encoder.layers[2].linear1.weight
    assert abs(sd(lin1) / (enc * math.sqrt(2 / (64 + 128))) - 1) < 0.05
    assert plan["decoder.layers.0.linear2.weight"].factors == (pytest.approx(dec),)
    assert any("LayerNorm" in n for n in plan.notes)
    first = snapshot(model)
    plan.apply(model)
    assert all(torch.equal(first[k], v) for k, v in snapshot(model).items())


def test_t_fixup_embeddings_and_bad_input() -> None:
    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tokens = nn.Embedding(1000, 64)
            self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(64, 4, 128), 4, enable_nested_tensor=False)

    model = Encoder()
    t_fixup_init(model, generator=0)
    target = 64**-0.5 * (9 * 4) ** (-1 / 4)
    assert abs(sd(model.tokens.weight) / target - 1) < 0.03
    with pytest.raises(InitlabValueError, match="'model' argument of t_fixup_init"):
        t_fixup_init(models.mlp(depth=3))


# ---------------------------------------------------------------- ReZero / SkipInit


def test_rezero_is_the_identity_at_the_start_and_learns_alpha() -> None:
    torch.manual_seed(0)
    block = ReZero(nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 16)))
    x = torch.randn(8, 16)
    y = block(x)
    assert torch.equal(y, x)
    y.pow(2).sum().backward()
    assert block.alpha.grad is not None and float(block.alpha.grad.abs()) > 0
    skip = SkipInit(nn.Linear(16, 16))
    assert torch.equal(skip(x), x) and float(skip.alpha.detach()) == 0.0
    with pytest.raises(InitlabTypeError, match="'branch' argument of ReZero"):
        ReZero("mlp")  # type: ignore[arg-type]


def test_rezero_wraps_named_branches_in_place() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 8), nn.Sequential(nn.Linear(8, 8), nn.Tanh()), nn.Linear(8, 8))
    rezero(net, ["1", "2"], skipinit=True)
    assert isinstance(net[1], SkipInit) and isinstance(net[2], SkipInit)
    x = torch.randn(4, 8)
    assert torch.equal(net(x), net[0](x))  # both wrapped branches add 0
    with pytest.raises(InitlabValueError, match="'branches' argument of rezero.*'7'"):
        rezero(net, ["7"])
    with pytest.raises(InitlabTypeError, match="'branches'"):
        rezero(net, "1")


@pytest.mark.gpu
def test_depth_schemes_on_cuda_match_the_cpu_bits() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    cpu, gpu = models.transformer(), models.transformer().cuda()
    plan = gpt2_init(cpu, generator=0)
    plan.apply(gpu)
    for (name, a), b in zip(cpu.named_parameters(), gpu.parameters(), strict=True):
        assert b.device.type == "cuda" and torch.equal(a, b.cpu()), name
    net = models.resnet().cuda()
    fixup_init(net, generator=0)
    assert float(net.layers[0].conv2.weight.abs().sum()) == 0.0
    block = ReZero(nn.Linear(4, 4).cuda())
    assert block.alpha.device.type == "cuda"
    x = torch.randn(2, 4, device="cuda")
    assert torch.equal(block(x), x)
