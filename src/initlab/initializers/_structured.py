"""Structured initializers: orthogonal matrices, identities, and conv kernels that pass signals through.

Shapes follow :mod:`initlab.initializers`: ``(fan_out, fan_in, *receptive)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._typing import RNGLike, ShapeLike
from .._validation import InitlabValueError, check_float, check_gain, check_int, check_shape, shown
from . import _fans
from ._plans import Plan, draw

__all__ = ["delta_orthogonal", "dirac", "eye", "identity", "orthogonal", "sparse"]

F64 = np.float64


def orthogonal(shape: ShapeLike, rng: RNGLike, *, gain: float = 1.0, dtype: Any = F64) -> np.ndarray:
    """Saxe et al. (2014): a (semi-)orthogonal matrix times ``gain``.

    The weight is viewed as ``(shape[0], prod(shape[1:]))``; its rows (if there
    are no more rows than columns) or its columns are orthonormal, so
    ``W W^T = gain^2 I`` (or ``W^T W = gain^2 I``).  Computed in float64 by QR of a
    Gaussian matrix with R's diagonal signs folded into Q (a Haar-random
    orthogonal matrix), then cast to ``dtype``.  Same recipe as
    ``torch.nn.init.orthogonal_``.

    >>> w = orthogonal((3, 5), 0)
    >>> bool(np.allclose(w @ w.T, np.eye(3)))
    True
    """
    dims = check_shape(shape, "orthogonal", min_dims=2)
    g = check_gain(gain, "orthogonal")
    rows, cols = dims[0], math.prod(dims[1:])
    fan_in, fan_out = _fans.fans(dims)
    return draw(
        Plan(
            scheme="orthogonal",
            kind="orthogonal",
            shape=dims,
            formula="W = gain * Q, Q from the QR of a Gaussian matrix",
            mean=0.0,
            std=g / math.sqrt(max(rows, cols)),
            low=-g,
            high=g,
            fan_in=fan_in,
            fan_out=fan_out,
            gain=g,
            params={"gain": g},
            args={"gain": g},
        ),
        rng,
        dtype,
    )


def eye(shape: ShapeLike, rng: RNGLike | None = None, *, gain: float = 1.0, dtype: Any = F64) -> np.ndarray:
    """The identity (``gain`` on the main diagonal, 0 elsewhere) for a 2-D weight; also ``identity``.

    Rectangular shapes get ones on the diagonal ``W[i, i]``.  The linear layer then
    passes its first ``min(n_l, n_{l-1})`` inputs through unchanged (Le et al. 2015
    use it for recurrent weights).

    >>> eye((2, 3))
    array([[1., 0., 0.],
           [0., 1., 0.]])
    """
    dims = check_shape(shape, "eye", min_dims=2)
    if len(dims) != 2:
        raise InitlabValueError(
            f"The 'shape' argument of eye must have exactly 2 entries. Got {tuple(shape)!r} instead."
        )
    g = check_gain(gain, "eye")
    rms = g * math.sqrt(min(dims) / (dims[0] * dims[1]))
    return draw(
        Plan(
            scheme="eye",
            kind="eye",
            shape=dims,
            formula="W[i, i] = gain, 0 elsewhere",
            mean=g * min(dims) / (dims[0] * dims[1]),
            std=rms,
            low=min(0.0, g),
            high=max(0.0, g),
            fan_in=dims[1],
            fan_out=dims[0],
            gain=g,
            params={"gain": g},
            args={"gain": g},
        ),
        rng,
        dtype,
    )


def _conv_dims(shape: ShapeLike, scheme: str) -> tuple[int, ...]:
    dims = check_shape(shape, scheme)
    if not 3 <= len(dims) <= 5:
        raise InitlabValueError(
            f"The 'shape' argument of {scheme} must be a conv kernel (out, in, *kernel) with 3, 4 or 5 entries. "
            f"Got {tuple(shape)!r} instead."
        )
    return dims


def dirac(
    shape: ShapeLike, rng: RNGLike | None = None, *, groups: int = 1, gain: float = 1.0, dtype: Any = F64
) -> np.ndarray:
    """A conv kernel that passes its input through: ``W[g*o + d, d, centre] = gain``.

    For a kernel ``(out, in / groups, *k)``, in each of the ``groups`` groups the
    first ``min(out / groups, in / groups)`` channels are copied; all other taps are
    0.  The centre tap of a kernel of size ``k`` is index ``k // 2``: the middle for
    odd sizes, the one right of the middle for even sizes (as torch's ``dirac_``).

    >>> dirac((2, 2, 3))[:, :, 1]
    array([[1., 0.],
           [0., 1.]])
    """
    dims = _conv_dims(shape, "dirac")
    groups = check_int(groups, "groups", "dirac", low=1)
    if dims[0] % groups:
        raise InitlabValueError(
            f"The 'groups' argument of dirac must divide shape[0] = {dims[0]}. Got {shown(groups)} instead."
        )
    g = check_gain(gain, "dirac")
    fan_in, fan_out = _fans.fans(dims, groups=groups)
    ones_count = groups * min(dims[0] // groups, dims[1])
    size = math.prod(dims)
    return draw(
        Plan(
            scheme="dirac",
            kind="dirac",
            shape=dims,
            formula="W[g*o + d, d, centre] = gain, 0 elsewhere",
            mean=g * ones_count / size,
            std=g * math.sqrt(ones_count / size),
            low=min(0.0, g),
            high=max(0.0, g),
            fan_in=fan_in,
            fan_out=fan_out,
            gain=g,
            params={"gain": g, "groups": groups},
            args={"gain": g},
        ),
        rng,
        dtype,
    )


def delta_orthogonal(shape: ShapeLike, rng: RNGLike, *, gain: float = 1.0, dtype: Any = F64) -> np.ndarray:
    """Xiao et al. (2018): a conv kernel that is 0 except its centre tap, an orthogonal ``(out, in)`` matrix.

    The centre tap is ``k // 2`` in every spatial axis (right of the middle for even
    sizes).  Requires ``out >= in`` so that the tap's columns are orthonormal and
    the convolution preserves norms (dynamical isometry), as JAX does.

    >>> w = delta_orthogonal((4, 3, 3), 0)
    >>> c = w[:, :, 1]
    >>> bool(np.allclose(c.T @ c, np.eye(3))), float(abs(w[:, :, 0]).max())
    (True, 0.0)
    """
    dims = _conv_dims(shape, "delta_orthogonal")
    if dims[0] < dims[1]:
        raise InitlabValueError(
            "The 'shape' argument of delta_orthogonal must have out channels >= in channels "
            f"(shape[0] >= shape[1]) so that the centre tap can be orthogonal. Got {tuple(shape)!r} instead."
        )
    g = check_gain(gain, "delta_orthogonal")
    fan_in, fan_out = _fans.fans(dims)
    rms = g * math.sqrt(dims[1] / math.prod(dims))
    return draw(
        Plan(
            scheme="delta_orthogonal",
            kind="delta_orthogonal",
            shape=dims,
            formula="W[:, :, centre] = gain * Q, Q orthogonal; 0 elsewhere",
            mean=0.0,
            std=rms,
            low=-g,
            high=g,
            fan_in=fan_in,
            fan_out=fan_out,
            gain=g,
            params={"gain": g},
            args={"gain": g},
        ),
        rng,
        dtype,
    )


def sparse(shape: ShapeLike, rng: RNGLike, *, sparsity: float, std: float = 0.01, dtype: Any = F64) -> np.ndarray:
    """Martens (2010): a 2-D weight whose columns are each a fraction ``sparsity`` zeros, the rest ``N(0, std^2)``.

    In each column (one input's outgoing weights), ``ceil(sparsity * rows)`` rows
    chosen at random are set to 0, as torch's ``sparse_``.  The zero mask is drawn
    from the same ``rng``, after the values.

    >>> w = sparse((10, 4), 0, sparsity=0.3)
    >>> (w == 0).sum(axis=0).tolist()
    [3, 3, 3, 3]
    """
    dims = check_shape(shape, "sparse")
    if len(dims) != 2:
        raise InitlabValueError(
            f"The 'shape' argument of sparse must have exactly 2 entries. Got {tuple(shape)!r} instead."
        )
    sparsity = check_float(sparsity, "sparsity", "sparse", low=0.0, high=1.0)
    std = check_float(std, "std", "sparse", low=0.0)
    n_zeros = math.ceil(sparsity * dims[0])
    kept = (dims[0] - n_zeros) / dims[0]
    fan_in, fan_out = _fans.fans(dims)
    return draw(
        Plan(
            scheme="sparse",
            kind="sparse",
            shape=dims,
            formula=f"W ~ N(0, {std:g}^2) with ceil({sparsity:g} * rows) zeros per column",
            mean=0.0,
            std=std * math.sqrt(kept),
            fan_in=fan_in,
            fan_out=fan_out,
            params={"std": std, "sparsity": sparsity, "zeros_per_column": n_zeros},
            args={"std": std},
        ),
        rng,
        dtype,
    )


identity = eye
