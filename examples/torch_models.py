"""Five small, real PyTorch models and a real batch of data, for initlab's torch tests and the doctor.

Every factory builds its model from ``torch.nn`` only, with PyTorch's own default
initialization (the start a practitioner gets without thinking about it), under a
seeded, forked RNG: the same ``seed`` gives the same weights and the global torch RNG
is left as it was.  All models classify the scikit-learn digits (8x8 images, 10
classes; they ship with scikit-learn, nothing is downloaded) and are small enough that a
forward and backward pass on 64 examples takes well under 50 ms on one CPU core.

=============== ================================================= ======================
factory         model                                             input of ``digits_batch``
=============== ================================================= ======================
``mlp``         ``depth`` x (Linear + activation), Linear -> 10   ``kind="flat"``: (n, 64)
``cnn_bn``      3 x (Conv-BN-ReLU), max-pool, avg-pool, Linear     ``kind="image"``: (n, 1, 8, 8)
``resnet``      stem conv + 3 BasicBlocks (torchvision style)     ``kind="image"``: (n, 1, 8, 8)
``transformer`` Linear(8, d) + 2-layer ``nn.TransformerEncoder``  ``kind="sequence"``: (n, 8, 8)
``lstm``        ``nn.LSTM(8, 32)`` over the 8 rows, last hidden   ``kind="sequence"``: (n, 8, 8)
=============== ================================================= ======================

This file is not part of the installed package.  Tests load it by path::

    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "torch_models.py"
    spec = importlib.util.spec_from_file_location("torch_models", path)
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)
    x, y = models.digits_batch(64, kind="image")
    logits = models.cnn_bn()(x)  # (64, 10)

and the doctor calls a factory with no arguments::

    initlab doctor --model examples/torch_models.py:cnn_bn --input-shape 64,1,8,8 --data digits --fix he
    initlab doctor --model examples/torch_models.py:mlp --input-shape 64,64 --data digits --fix he
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "BasicBlock",
    "LSTMClassifier",
    "ResNet",
    "RowTransformer",
    "cnn_bn",
    "digits_batch",
    "lstm",
    "mlp",
    "resnet",
    "transformer",
]

#: activation name -> module class used by :func:`mlp`
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "linear": nn.Identity,
}


def _seeded(build: Callable[[], nn.Module], seed: int) -> nn.Module:
    """Build a model under ``torch.manual_seed(seed)`` without touching the caller's RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


# ------------------------------------------------------------------------------------ MLP


def mlp(
    depth: int = 20, width: int = 64, activation: str = "relu", n_in: int = 64, n_out: int = 10, *, seed: int = 0
) -> nn.Sequential:
    """A plain MLP: ``depth`` hidden layers of ``Linear(width) + activation``, then ``Linear(width, n_out)``.

    With PyTorch's default ``nn.Linear`` init (kaiming_uniform with a=sqrt(5), i.e. weight
    std ``1/sqrt(3 fan_in)``) a deep ReLU stack loses signal by about a factor sqrt(6) per
    layer: the textbook vanishing start that He et al. (2015) fixes.

    Args:
        depth: number of hidden ``Linear + activation`` pairs (>= 1).
        width: units per hidden layer.
        activation: one of :data:`ACTIVATIONS` (``"relu"``, ``"tanh"``, ``"sigmoid"``, ``"gelu"``,
            ``"silu"``, ``"leaky_relu"``, ``"elu"``, ``"linear"``).
        n_in: input features (64 for the flat digits).
        n_out: output units (logits).
        seed: seed of the weights.

    Returns:
        ``nn.Sequential`` with ``2 * depth + 1`` children; input (N, n_in), output (N, n_out).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"The 'activation' argument of mlp must be one of {sorted(ACTIVATIONS)}. Got {activation!r}.")
    if depth < 1:
        raise ValueError(f"The 'depth' argument of mlp must be an integer >= 1. Got {depth!r}.")

    def build() -> nn.Sequential:
        layers: list[nn.Module] = []
        for l in range(depth):
            layers += [nn.Linear(n_in if l == 0 else width, width), ACTIVATIONS[activation]()]
        layers.append(nn.Linear(width, n_out))
        return nn.Sequential(*layers)

    model = _seeded(build, seed)
    assert isinstance(model, nn.Sequential)
    return model


# ------------------------------------------------------------------------------------ CNN


def cnn_bn(channels: tuple[int, int, int] = (16, 32, 32), n_out: int = 10, *, seed: int = 0) -> nn.Sequential:
    """A small CNN with BatchNorm for (N, 1, 8, 8) images.

    ``Conv3x3-BN-ReLU`` (8x8) -> ``Conv3x3-BN-ReLU`` -> ``MaxPool2`` (4x4) -> ``Conv3x3-BN-ReLU``
    -> global average pool -> ``Linear(channels[2], n_out)``.  The convs have no bias (the BN
    that follows has one), as in most modern CNNs (Ioffe & Szegedy, 2015).
    """
    c1, c2, c3 = channels

    def build() -> nn.Sequential:
        return nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1, bias=False),  # (N, c1, 8, 8)
            nn.BatchNorm2d(c1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, padding=1, bias=False),  # (N, c2, 8, 8)
            nn.BatchNorm2d(c2),
            nn.ReLU(),
            nn.MaxPool2d(2),  # (N, c2, 4, 4)
            nn.Conv2d(c2, c3, 3, padding=1, bias=False),  # (N, c3, 4, 4)
            nn.BatchNorm2d(c3),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),  # (N, c3, 1, 1)
            nn.Flatten(),  # (N, c3)
            nn.Linear(c3, n_out),
        )

    model = _seeded(build, seed)
    assert isinstance(model, nn.Sequential)
    return model


# ------------------------------------------------------------------------------------ ResNet


class BasicBlock(nn.Module):
    """The two-conv residual block of He et al. (2016), laid out as torchvision's ``BasicBlock``.

    ``out = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`` where the shortcut is the
    identity, or ``downsample`` (1x1 conv + BN) when the stride or channel count changes.
    The attribute names (``conv1``, ``bn1``, ``conv2``, ``bn2``, ``downsample``) are
    torchvision's, so schemes that look for them (Fixup, zero-init of the last BN) find them.
    One in-place ReLU module is called twice per forward, as in torchvision.
    """

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False), nn.BatchNorm2d(channels)
            )
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Stem ``Conv3x3-BN-ReLU`` + ``BasicBlock``s + global average pool + ``fc``, for (N, 1, 8, 8) images."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 32), strides: tuple[int, ...] = (1, 2, 1), n_out: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        blocks, c_in = [], widths[0]
        for c, s in zip(widths, strides, strict=True):
            blocks.append(BasicBlock(c_in, c, stride=s))
            c_in = c
        self.layers = nn.Sequential(*blocks)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))  # (N, 16, 8, 8)
        x = self.layers(x)  # (N, 32, 4, 4)
        x = torch.flatten(self.avgpool(x), 1)  # (N, 32)
        return self.fc(x)  # (N, n_out)


def resnet(*, seed: int = 0) -> ResNet:
    """A small ResNet: stem conv + 3 BasicBlocks (16 -> 16, 16 -> 32 stride 2 with 1x1 shortcut, 32 -> 32)."""
    model = _seeded(ResNet, seed)
    assert isinstance(model, ResNet)
    return model


# ------------------------------------------------------------------------------------ transformer


class RowTransformer(nn.Module):
    """Digits as a sequence of 8 rows of 8 pixels: ``Linear(8, d)`` + ``nn.TransformerEncoder`` + mean pool + head.

    Input (N, 8, 8) (batch first), output (N, n_out).  Post-LN encoder layers (Vaswani et al.,
    2017) by default, pre-LN with ``norm_first=True``; dropout 0 so that a diagnosis is
    deterministic.  There is no positional encoding: the mean pool makes the model blind to row
    order, which is fine for a test model.
    """

    def __init__(
        self, d_model: int = 32, nhead: int = 4, num_layers: int = 2, n_out: int = 10, norm_first: bool = False
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(8, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, nhead, dim_feedforward=2 * d_model, dropout=0.0, batch_first=True, norm_first=norm_first
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x)  # (N, 8, d)
        h = self.encoder(h)  # (N, 8, d)
        return self.head(h.mean(dim=1))  # (N, n_out)


def transformer(
    d_model: int = 32, nhead: int = 4, num_layers: int = 2, *, norm_first: bool = False, seed: int = 0
) -> RowTransformer:
    """A 2-layer ``nn.TransformerEncoder`` classifier (d=32, 4 heads) over the 8 rows of a digit; see RowTransformer."""
    model = _seeded(lambda: RowTransformer(d_model, nhead, num_layers, norm_first=norm_first), seed)
    assert isinstance(model, RowTransformer)
    return model


# ------------------------------------------------------------------------------------ LSTM


class LSTMClassifier(nn.Module):
    """``nn.LSTM(8, hidden, batch_first=True)`` over the 8 rows of a digit; the last hidden state -> ``Linear``."""

    def __init__(self, hidden: int = 32, n_out: int = 10) -> None:
        super().__init__()
        self.lstm = nn.LSTM(8, hidden, batch_first=True)
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.lstm(x)  # h_n: (1, N, hidden)
        return self.head(h_n[-1])  # (N, n_out)


def lstm(hidden: int = 32, *, seed: int = 0) -> LSTMClassifier:
    """An LSTM classifier of the digits read row by row (input (N, 8, 8), output (N, 10))."""
    model = _seeded(lambda: LSTMClassifier(hidden), seed)
    assert isinstance(model, LSTMClassifier)
    return model


# ------------------------------------------------------------------------------------ data

_SHAPES = {"flat": (64,), "image": (1, 8, 8), "sequence": (8, 8)}


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    x = data.data / 16.0  # (1797, 64) in [0, 1]
    x = (x - x.mean()) / x.std()  # one mean and one std over the whole dataset
    return x, data.target.astype(np.int64)


def digits_batch(
    n: int = 64,
    kind: Literal["flat", "image", "sequence"] = "flat",
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded random subset of ``n`` scikit-learn digits (of 1797), standardized.

    Pixels are divided by 16, then shifted and scaled by one mean and one std computed over
    the whole dataset (so the full dataset has mean 0 and std 1; single pixels keep their
    relative contrast, and always-blank pixels do not become NaN).

    Args:
        n: number of examples, 1 <= n <= 1797 (drawn without replacement).
        kind: ``"flat"`` -> x (n, 64); ``"image"`` -> x (n, 1, 8, 8); ``"sequence"`` -> x (n, 8, 8) (rows as steps).
        seed: seed of the subset (a numpy Generator; the torch RNG is not touched).
        dtype: floating dtype of x.

    Returns:
        ``(x, y)``: x as above, y (n,) int64 labels in 0..9.
    """
    if kind not in _SHAPES:
        raise ValueError(f"The 'kind' argument of digits_batch must be one of {sorted(_SHAPES)}. Got {kind!r}.")
    x_all, y_all = _digits()
    if not 1 <= n <= len(x_all):
        raise ValueError(f"The 'n' argument of digits_batch must be an integer in [1, {len(x_all)}]. Got {n!r}.")
    idx = np.random.default_rng(seed).choice(len(x_all), size=n, replace=False)
    x = torch.from_numpy(x_all[idx].reshape(n, *_SHAPES[kind])).to(dtype)
    return x, torch.from_numpy(y_all[idx])
