"""The five real models of examples/torch_models.py: each builds, runs forward and backward on its digits batch."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
import torch_models as models  # noqa: E402  (examples/, on sys.path through conftest.py)

pytest.importorskip("sklearn")
from torch import nn  # noqa: E402

pytestmark = pytest.mark.torch


CASES = [("mlp", "flat"), ("cnn_bn", "image"), ("resnet", "image"), ("transformer", "sequence"), ("lstm", "sequence")]


@pytest.mark.parametrize(("factory", "kind"), CASES)
def test_forward_backward_on_digits(factory: str, kind: str) -> None:
    model = getattr(models, factory)()
    assert isinstance(model, nn.Module)
    x, y = models.digits_batch(64, kind=kind)
    out = model(x)
    assert out.shape == (64, 10)
    assert torch.isfinite(out).all()
    loss = nn.functional.cross_entropy(out, y)
    # an untrained classifier is close to chance: loss near log(10)
    assert 1.5 < loss.item() < 4.0
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads if g is not None) > 0


@pytest.mark.parametrize("factory", ["mlp", "cnn_bn", "resnet", "transformer", "lstm"])
def test_seeded_and_the_global_rng_untouched(factory: str) -> None:
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a, b, c = getattr(models, factory)(), getattr(models, factory)(), getattr(models, factory)(seed=1)
    assert torch.equal(torch.random.get_rng_state(), before)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb)
    assert not torch.equal(pa, pc)


def test_digits_batch_shapes_and_standardization() -> None:
    x, y = models.digits_batch(64, kind="flat")
    assert x.shape == (64, 64) and x.dtype == torch.float32
    assert y.shape == (64,) and y.dtype == torch.int64 and int(y.min()) >= 0 and int(y.max()) <= 9
    assert models.digits_batch(5, kind="image")[0].shape == (5, 1, 8, 8)
    assert models.digits_batch(5, kind="sequence")[0].shape == (5, 8, 8)
    full, labels = models.digits_batch(1797, dtype=torch.float64)
    assert abs(float(full.mean())) < 1e-12
    assert float(full.std(unbiased=False)) == pytest.approx(1.0, rel=1e-12)
    assert sorted(torch.bincount(labels).tolist())[0] >= 170  # every class present, about 180 each
    # the same seed gives the same subset, another seed another one; the kinds hold the same pixels
    assert torch.equal(models.digits_batch(8)[0], models.digits_batch(8)[0])
    assert not torch.equal(models.digits_batch(8)[0], models.digits_batch(8, seed=1)[0])
    assert torch.equal(models.digits_batch(8, kind="image")[0].reshape(8, 64), models.digits_batch(8)[0])


def test_mlp_layout_and_activation() -> None:
    net = models.mlp(depth=3, width=16, activation="tanh")
    assert [type(m).__name__ for m in net] == ["Linear", "Tanh"] * 3 + ["Linear"]
    assert net[0].in_features == 64 and net[-1].out_features == 10
    assert len(models.mlp()) == 41  # 20 Linear + 20 ReLU + the output Linear


def test_resnet_blocks_are_torchvision_style() -> None:
    net = models.resnet()
    blocks = [m for m in net.modules() if isinstance(m, models.BasicBlock)]
    assert len(blocks) == 3
    for block in blocks:
        assert isinstance(block.conv1, nn.Conv2d) and isinstance(block.bn2, nn.BatchNorm2d)
    assert [b.downsample is None for b in blocks] == [True, False, True]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: models.mlp(activation="swish"), "'activation' argument of mlp"),
        (lambda: models.mlp(depth=0), "'depth' argument of mlp"),
        (lambda: models.digits_batch(0), "'n' argument of digits_batch"),
        (lambda: models.digits_batch(2000), "'n' argument of digits_batch"),
        (lambda: models.digits_batch(4, kind="cube"), "'kind' argument of digits_batch"),
    ],
)
def test_bad_arguments(call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=match):
        call()
