"""Fans and gains: the two numbers every variance-scaling scheme is built from.

Layout convention (used by every fan-based function of initlab)
----------------------------------------------------------------
A weight has shape ``(fan_out, fan_in, *receptive)``, the course's notation:
``W[l]`` is ``(n_l, n_{l-1})`` and ``Z[l] = W[l] @ A[l-1] + b[l]``.  This is also
torch's layout (``nn.Linear.weight`` is ``(out_features, in_features)``, a conv
kernel is ``(out_channels, in_channels / groups, *kernel_size)``), so fans agree
with ``torch.nn.init`` without transposes.  Keras and JAX store dense kernels as
``(in, out)``: transpose their shapes before asking for fans here.

For a weight of shape ``(o, i, k1, ..., kd)`` the receptive field is
``r = k1 * ... * kd`` (1 for a dense layer) and::

    fan_in  = i * r        # inputs that feed one output unit
    fan_out = o * r        # outputs that one input unit feeds

Grouped and transposed convolutions cannot be told apart from an ordinary kernel
by the shape alone, so they are stated with ``groups=`` and ``transposed=``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._typing import ShapeLike
from .._validation import (
    InitlabTypeError,
    InitlabValueError,
    check_choice,
    check_float,
    check_int,
    check_shape,
    shown,
)

__all__ = ["TORCH_GAINS", "fans", "gain"]


def fans(shape: ShapeLike, *, groups: int = 1, transposed: bool = False) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a weight of ``shape``.

    ``shape`` is ``(fan_out, fan_in, *receptive)`` (see the module docstring).
    With the defaults the result equals torch's ``_calculate_fan_in_and_fan_out``
    on every shape torch accepts: ``fan_in = shape[1] * r`` and
    ``fan_out = shape[0] * r`` with ``r`` the product of ``shape[2:]``.

    ``groups``: for a grouped convolution whose kernel is
    ``(out, in / groups, *k)``, each input channel feeds only ``out / groups``
    output channels, so ``fan_out = shape[0] / groups * r`` (torch ignores groups
    and reports ``shape[0] * r``); ``fan_in`` is unchanged.

    ``transposed``: a transposed convolution stores its kernel as
    ``(in, out / groups, *k)``, the other way round, so ``fan_in = shape[0] / groups * r``
    and ``fan_out = shape[1] * r``.  (torch applies the dense rule to that layout
    and so swaps the two.)  Stride is not taken into account, as in every framework.

    >>> fans((256, 512))
    (512, 256)
    >>> fans((64, 3, 3, 3))
    (27, 576)
    >>> fans((64, 8, 3, 3), groups=8)
    (72, 72)
    >>> fans((32, 16, 4, 4), transposed=True)
    (512, 256)
    """
    dims = check_shape(shape, "fans", min_dims=2)
    groups = check_int(groups, "groups", "fans", low=1)
    if not isinstance(transposed, (bool, np.bool_)):
        raise InitlabTypeError(f"The 'transposed' argument of fans must be a bool. Got {shown(transposed)} instead.")
    grouped_axis = 0
    if dims[grouped_axis] % groups:
        raise InitlabValueError(
            f"The 'groups' argument of fans must divide shape[0] = {dims[0]}. Got {shown(groups)} instead."
        )
    receptive = math.prod(dims[2:])
    if transposed:
        return dims[0] // groups * receptive, dims[1] * receptive
    return dims[1] * receptive, dims[0] // groups * receptive


#: torch.nn.init.calculate_gain's table.  leaky_relu's entry is the formula's default slope.
TORCH_GAINS: dict[str, float] = {
    "linear": 1.0,
    "conv1d": 1.0,
    "conv2d": 1.0,
    "conv3d": 1.0,
    "conv_transpose1d": 1.0,
    "conv_transpose2d": 1.0,
    "conv_transpose3d": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "leaky_relu": math.sqrt(2.0 / (1.0 + 0.01**2)),
    "selu": 3.0 / 4.0,
}

_QUADRATURE_NODES = 200  # even, so the nodes are symmetric about 0 and avoid it


def _forward_gain(f: Callable[[np.ndarray], Any]) -> float:
    """1 / sqrt(E[f(z)^2]) for z ~ N(0, 1), by Gauss-Hermite quadrature."""
    z, w = np.polynomial.hermite_e.hermegauss(_QUADRATURE_NODES)
    w = w / math.sqrt(2.0 * math.pi)  # probabilists' weights now sum to 1
    try:
        fz = np.asarray(f(z), dtype=np.float64)
        fmz = np.asarray(f(-z), dtype=np.float64)
    except Exception as exc:  # the user's callable failed on an array of floats
        raise InitlabValueError(
            "The 'activation' argument of gain must be a name or a callable that maps a float64 "
            f"numpy array to an array of the same shape. Calling it failed with {exc!r}."
        ) from exc
    if fz.shape != z.shape or fmz.shape != z.shape:
        raise InitlabValueError(
            "The 'activation' argument of gain must map a float64 numpy array to an array of the "
            f"same shape. Got shape {fz.shape} for an input of shape {z.shape} instead."
        )
    # E[f(z)^2] = E[(f(z)^2 + f(-z)^2) / 2] because z is symmetric; the symmetrized
    # integrand is smooth for relu-like kinks at 0, where the plain one is not.
    second_moment = float(np.sum(w * (fz * fz + fmz * fmz) / 2.0))
    if not math.isfinite(second_moment) or second_moment <= 0.0:
        raise InitlabValueError(
            "The 'activation' argument of gain must have a finite, non-zero E[f(z)^2] under "
            f"z ~ N(0, 1). Got E[f(z)^2] = {second_moment!r} instead."
        )
    return 1.0 / math.sqrt(second_moment)


def gain(activation: str | Callable[[np.ndarray], Any], param: float | None = None) -> float:
    """The recommended scale of a weight's std for a layer followed by ``activation``.

    For a name, the value is torch's ``calculate_gain`` table exactly:

    ================================ ==================================== ==========================
    activation                       gain                                 where it comes from
    ================================ ==================================== ==========================
    linear, conv*, sigmoid           1                                    convention (LeCun 1998)
    tanh                             5/3                                  empirical choice in Torch
    relu                             sqrt(2)                              forward variance, He et al. 2015
    leaky_relu (slope ``param``)     sqrt(2 / (1 + param^2))              forward variance, He et al. 2015
    selu                             3/4                                  torch's choice (the SNN paper,
                                                                          Klambauer et al. 2017, uses 1)
    ================================ ==================================== ==========================

    For a callable ``f`` (vectorized over numpy arrays), the gain is computed by
    the forward-variance criterion ``1 / sqrt(E[f(z)^2])`` with ``z ~ N(0, 1)``:
    the weight std ``gain / sqrt(fan_in)`` keeps the pre-activation variance at 1
    from layer to layer.  The expectation is computed by Gauss-Hermite quadrature
    (200 nodes, integrand symmetrized about 0), exact for relu and accurate to
    about 1e-6 relative for smooth activations and ELU-like kinks.  Note that the
    criterion counts the activation's mean: for sigmoid it gives 1.846, not 1;
    for tanh it gives 1.5925, not 5/3.

    >>> gain("tanh")
    1.6666666666666667
    >>> gain("leaky_relu", 0.2)
    1.3867504905630728
    >>> round(gain(lambda z: np.maximum(z, 0.0)), 12)
    1.414213562373
    >>> round(gain(np.tanh), 6)
    1.592537
    """
    if callable(activation):
        if param is not None:
            raise InitlabValueError(
                "The 'param' argument of gain must be None when 'activation' is a callable "
                f"(bind parameters into the callable instead). Got {shown(param)} instead."
            )
        return _forward_gain(activation)
    name = check_choice(activation, "activation", list(TORCH_GAINS), "gain")
    if name == "leaky_relu":
        slope = 0.01 if param is None else check_float(param, "param", "gain")
        if abs(slope) > 1e150:  # slope**2 would overflow; there 1 + slope**2 == slope**2 in floats
            return math.sqrt(2.0) / abs(slope)
        return math.sqrt(2.0 / (1.0 + slope**2))  # torch's formula, to the last bit
    if param is not None:
        raise InitlabValueError(
            f"The 'param' argument of gain must be None for activation {name!r} "
            f"(only 'leaky_relu' takes one). Got {shown(param)} instead."
        )
    return TORCH_GAINS[name]
