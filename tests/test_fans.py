"""fans() and gain(): the numbers every variance-scaling scheme is built from."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special

from initlab import InitlabTypeError, InitlabValueError
from initlab.initializers import TORCH_GAINS, fans, gain


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((3, 5), (5, 3)),  # dense: (fan_out, fan_in)
        ((1, 1), (1, 1)),
        ((7, 2, 5), (10, 35)),  # conv1d: r = 5
        ((16, 8, 3, 3), (72, 144)),  # conv2d: r = 9
        ((4, 2, 3, 5, 7), (210, 420)),  # conv3d: r = 105
    ],
)
def test_fans_dense_and_conv(shape: tuple[int, ...], expected: tuple[int, int]) -> None:
    assert fans(shape) == expected


def test_fans_grouped_conv_counts_true_connectivity() -> None:
    # 64 output channels in 8 groups: each input channel feeds 8 of them, over 3x3 taps.
    assert fans((64, 4, 3, 3), groups=8) == (4 * 9, 8 * 9)
    # groups=1 is the plain rule
    assert fans((64, 4, 3, 3), groups=1) == (36, 576)


def test_fans_transposed_conv_swaps_the_layout() -> None:
    # ConvTranspose2d(in=32, out=16, k=4): weight (in, out / groups, k, k) = (32, 16, 4, 4)
    assert fans((32, 16, 4, 4), transposed=True) == (32 * 16, 16 * 16)
    assert fans((32, 8, 4, 4), groups=2, transposed=True) == (16 * 16, 8 * 16)


@pytest.mark.parametrize("shape", [(), (5,), [7]])
def test_fans_rejects_fewer_than_two_dims(shape: tuple[int, ...]) -> None:
    with pytest.raises(InitlabValueError, match="'shape' argument of fans must be .* at least 2 entries"):
        fans(shape)


@pytest.mark.parametrize("shape", [(0, 3), (3, -1), (2, 2, 0)])
def test_fans_rejects_non_positive_dims(shape: tuple[int, ...]) -> None:
    with pytest.raises(InitlabValueError, match=r"ints >= 1.*Got"):
        fans(shape)


@pytest.mark.parametrize("shape", ["ab", (2.0, 3), (True, 3), None])
def test_fans_rejects_non_int_shapes(shape: object) -> None:
    with pytest.raises(InitlabTypeError, match="'shape' argument of fans"):
        fans(shape)  # type: ignore[arg-type]


def test_fans_groups_must_divide_channels() -> None:
    with pytest.raises(InitlabValueError, match=r"'groups' argument of fans must divide shape\[0\] = 10\. Got 3"):
        fans((10, 2, 3), groups=3)
    with pytest.raises(InitlabValueError, match="'groups' argument of fans must be an int >= 1. Got 0"):
        fans((10, 2, 3), groups=0)
    with pytest.raises(InitlabTypeError, match="'transposed' argument of fans must be a bool"):
        fans((10, 2, 3), transposed="yes")  # type: ignore[arg-type]


def test_gain_table_is_torchs() -> None:
    # Values written out from torch.nn.init.calculate_gain's documentation.
    expected = {"linear": 1, "sigmoid": 1, "tanh": 5 / 3, "relu": math.sqrt(2), "selu": 0.75, "conv2d": 1}
    for name, value in expected.items():
        assert gain(name) == pytest.approx(value, rel=1e-15)
    assert gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)), rel=1e-15)
    assert gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04), rel=1e-15)
    assert gain("leaky_relu", 0) == pytest.approx(math.sqrt(2), rel=1e-15)
    assert set(TORCH_GAINS) >= {"conv_transpose1d", "conv_transpose3d", "conv3d"}


def _second_moment(f):  # E[f(z)^2], z ~ N(0, 1), by adaptive quadrature split at the kink
    def integrand(z):
        return f(z) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    return integrate.quad(integrand, -np.inf, 0)[0] + integrate.quad(integrand, 0, np.inf)[0]


def _sigmoid(z):
    return special.expit(z)


def _elu(z):
    return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))


def _gelu(z):
    return z * 0.5 * (1 + special.erf(z / math.sqrt(2)))


@pytest.mark.parametrize(
    ("f", "rel"),
    [(np.tanh, 1e-10), (_sigmoid, 1e-10), (_gelu, 1e-8), (_elu, 1e-5), (lambda z: np.maximum(z, 0), 1e-13)],
)
def test_gain_of_a_callable_is_the_forward_variance_criterion(f, rel: float) -> None:
    expected = 1 / math.sqrt(_second_moment(f))
    assert gain(f) == pytest.approx(expected, rel=rel)


def test_gain_of_relu_callable_matches_he() -> None:
    assert gain(lambda z: np.maximum(z, 0)) == pytest.approx(math.sqrt(2), rel=1e-14)
    assert gain(lambda z: z) == pytest.approx(1.0, rel=1e-14)
    # the criterion differs from torch's table for tanh and sigmoid, as the docstring says
    assert gain(np.tanh) == pytest.approx(1.5925374, rel=1e-7)
    assert gain(_sigmoid) == pytest.approx(1.8462285, rel=1e-7)


def test_gain_errors() -> None:
    with pytest.raises(InitlabValueError, match="'activation' argument of gain must be one of .* Got 'relu6'"):
        gain("relu6")
    with pytest.raises(InitlabValueError, match="Did you mean 'tanh'"):
        gain("tahn")
    with pytest.raises(InitlabValueError, match="'param' argument of gain must be None for activation 'relu'"):
        gain("relu", 0.1)
    with pytest.raises(InitlabTypeError, match="'param' argument of gain must be a finite float. Got True"):
        gain("leaky_relu", True)  # type: ignore[arg-type]
    with pytest.raises(InitlabValueError, match="'param' argument of gain must be a finite float. Got nan"):
        gain("leaky_relu", float("nan"))
    with pytest.raises(
        InitlabValueError, match="'param' argument of gain must be None when 'activation' is a callable"
    ):
        gain(np.tanh, 1.0)
    with pytest.raises(InitlabValueError, match="same shape"):
        gain(lambda z: 1.0)
    with pytest.raises(InitlabValueError, match="finite, non-zero"):
        gain(lambda z: np.zeros_like(z))
    with pytest.raises(InitlabValueError, match="Calling it failed"):
        gain(lambda z: z.no_such_attribute)
