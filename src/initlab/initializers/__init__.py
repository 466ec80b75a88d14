"""Initializers: pure functions ``f(shape, rng, *, dtype, ...) -> array``, their plans, fans, gains and bias policies.

A weight is ``(fan_out, fan_in, *receptive)``: the course's ``W[l]`` of shape
``(n_l, n_{l-1})`` and torch's layout.  :func:`plan` tells what a call would draw
without drawing it; :func:`get` turns a spec such as ``"normal(std=0.01)"`` into an
initializer; :mod:`bias <initlab.initializers.bias>` holds the bias policies.
"""

from __future__ import annotations

from . import _bias as bias
from ._distributions import truncated_normal_moments
from ._explain import Explanation, explain, orthogonality_error
from ._fans import TORCH_GAINS, fans, gain
from ._plans import Plan, centre_tap, draw, plan
from ._registry import BIASES, INITIALIZERS, SCHEMES, Initializer, aliases, get, get_bias, names, register
from ._schemes import (
    constant,
    delta_orthogonal,
    dirac,
    eye,
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    identity,
    kaiming_normal,
    kaiming_uniform,
    lecun_normal,
    lecun_uniform,
    normal,
    ones,
    orthogonal,
    randn,
    sparse,
    torch_default,
    truncated_normal,
    uniform,
    variance_scaling,
    xavier_normal,
    xavier_uniform,
    zeros,
)

__all__ = [
    "BIASES",
    "INITIALIZERS",
    "SCHEMES",
    "TORCH_GAINS",
    "Explanation",
    "Initializer",
    "Plan",
    "aliases",
    "bias",
    "centre_tap",
    "constant",
    "delta_orthogonal",
    "dirac",
    "draw",
    "explain",
    "eye",
    "fans",
    "gain",
    "get",
    "get_bias",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "identity",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "names",
    "normal",
    "ones",
    "orthogonal",
    "orthogonality_error",
    "plan",
    "randn",
    "register",
    "sparse",
    "torch_default",
    "truncated_normal",
    "truncated_normal_moments",
    "uniform",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]
