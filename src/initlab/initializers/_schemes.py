"""Weight initializers: pure functions ``f(shape, rng, *, dtype, ...) -> ndarray``.

Shapes follow :mod:`initlab.initializers`: a weight is ``(fan_out, fan_in, *receptive)``,
the course's ``W[l]`` of shape ``(n_l, n_{l-1})`` and torch's layout.  ``rng`` is a
``numpy.random.Generator``, an int seed or a legacy ``RandomState``
(see :func:`initlab.seeding.as_rng`); the same seed gives the same bits.

This module lists every initializer of initlab (the structured ones live in
:mod:`initlab.initializers` and are re-exported here).  Each first builds a
:class:`~initlab.initializers.Plan` and then draws from it, so :func:`~initlab.initializers.plan`
can show what a call will draw without drawing it.  The named schemes are specializations of
:func:`variance_scaling`::

    std = sqrt(scale / n),  n = fan_in | fan_out | (fan_in + fan_out) / 2 | sqrt(fan_in * fan_out)

    lecun   scale = 1,        n = fan_in    (LeCun et al. 1998)
    xavier  scale = gain^2,   n = fan_avg   (Glorot & Bengio 2010)
    kaiming scale = gain^2,   n = fan_in    (He et al. 2015), gain = sqrt(2) for relu

Normal variants draw from a plain normal, as torch and the papers do.  Keras and
JAX's ``he_normal``/``glorot_normal``/``lecun_normal`` draw from a truncated
normal instead: ``variance_scaling(scale=2, distribution='truncated_normal')``
reproduces theirs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._typing import RNGLike, ShapeLike
from .._validation import InitlabValueError, check_choice, check_float, check_gain, check_shape, shown
from . import _fans
from ._distributions import truncated_normal_moments
from ._plans import Plan, draw, plan  # noqa: F401  (plan: used by the doctests)
from ._structured import delta_orthogonal, dirac, eye, identity, orthogonal, sparse

__all__ = [
    "constant",
    "delta_orthogonal",
    "dirac",
    "eye",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "identity",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "normal",
    "ones",
    "orthogonal",
    "randn",
    "sparse",
    "torch_default",
    "truncated_normal",
    "uniform",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

F64 = np.float64


# --- constants ---------------------------------------------------------------------


def constant(shape: ShapeLike, rng: RNGLike | None = None, *, value: float = 0.0, dtype: Any = F64) -> np.ndarray:
    """Every entry equal to ``value``: ``W = value``.

    A layer whose weights are all equal has identical hidden units, and gradient
    descent keeps them identical (the symmetry problem of the lecture): use constants
    for biases, or on purpose to show that failure.

    >>> constant((2, 3), value=0.5)
    array([[0.5, 0.5, 0.5],
           [0.5, 0.5, 0.5]])
    """
    return _constant("constant", shape, rng, value, dtype)


def _constant(scheme: str, shape: ShapeLike, rng: Any, value: Any, dtype: Any) -> np.ndarray:
    dims = check_shape(shape, scheme)
    value = check_float(value, "value", scheme)
    args = {"value": value} if scheme == "constant" else {}
    formula = f"W = {value:g}"
    return draw(
        Plan(
            scheme=scheme,
            kind="constant",
            shape=dims,
            formula=formula,
            mean=value,
            std=0.0,
            low=value,
            high=value,
            args=args,
        ),
        rng,
        dtype,
    )


def zeros(shape: ShapeLike, rng: RNGLike | None = None, *, dtype: Any = F64) -> np.ndarray:
    """All zeros (``constant(value=0)``): fine for biases, symmetric for weights.

    >>> zeros((2, 2))
    array([[0., 0.],
           [0., 0.]])
    """
    return _constant("zeros", shape, rng, 0.0, dtype)


def ones(shape: ShapeLike, rng: RNGLike | None = None, *, dtype: Any = F64) -> np.ndarray:
    """All ones (``constant(value=1)``).

    >>> ones((1, 3))
    array([[1., 1., 1.]])
    """
    return _constant("ones", shape, rng, 1.0, dtype)


# --- plain distributions -------------------------------------------------------------


def normal(shape: ShapeLike, rng: RNGLike, *, mean: float = 0.0, std: float = 1.0, dtype: Any = F64) -> np.ndarray:
    """Gaussian draws: ``W ~ N(mean, std^2)``, computed as ``randn * std + mean``.

    With ``rng=np.random.RandomState(s)`` and ``mean=0`` this is bit for bit the
    course's ``np.random.seed(s); np.random.randn(*shape) * std``.

    >>> normal((2, 2), np.random.RandomState(3), std=0.01)
    array([[ 0.01788628,  0.0043651 ],
           [ 0.00096497, -0.01863493]])
    """
    return _normal("normal", shape, rng, mean, std, "std", dtype)


def _normal(scheme: str, shape: ShapeLike, rng: Any, mean: Any, std: Any, std_name: str, dtype: Any) -> np.ndarray:
    dims = check_shape(shape, scheme)
    mean = check_float(mean, "mean", scheme)
    std = check_float(std, std_name, scheme, low=0.0)
    formula = f"W ~ N({mean:g}, std^2), std = {std:g}" if scheme == "normal" else f"W = randn * {std:g}"
    args = {"mean": mean, std_name: std} if scheme == "normal" else {std_name: std}
    return draw(
        Plan(scheme=scheme, kind="normal", shape=dims, formula=formula, mean=mean, std=std, args=args), rng, dtype
    )


def randn(shape: ShapeLike, rng: RNGLike, *, scale: float = 0.01, dtype: Any = F64) -> np.ndarray:
    """The lecture's scheme: ``W = np.random.randn(n_l, n_{l-1}) * scale``, scale 0.01 by default.

    Small random weights break the symmetry of the hidden units and keep tanh and
    sigmoid away from their flat ends in a shallow net (Ng, deeplearning.ai C1W3);
    in a deep net the signal shrinks by a constant factor per layer, which is why
    deeper nets need :func:`xavier_normal` or :func:`kaiming_normal`.

    >>> randn((2, 2), np.random.RandomState(3))
    array([[ 0.01788628,  0.0043651 ],
           [ 0.00096497, -0.01863493]])
    """
    return _normal("randn", shape, rng, 0.0, scale, "scale", dtype)


def uniform(shape: ShapeLike, rng: RNGLike, *, low: float = 0.0, high: float = 1.0, dtype: Any = F64) -> np.ndarray:
    """Uniform draws on ``[low, high]``: ``W ~ U(low, high)``; no entry leaves the interval.

    >>> uniform((1, 3), 0, low=-1.0, high=1.0)
    array([[ 0.27392337, -0.46042657, -0.91805295]])
    """
    dims = check_shape(shape, "uniform")
    low = check_float(low, "low", "uniform")
    high = check_float(high, "high", "uniform")
    if not low < high:
        raise InitlabValueError(f"The 'low' argument of uniform must be < high = {high!r}. Got low = {low!r} instead.")
    std = (high - low) / math.sqrt(12.0)
    plan_ = Plan(
        scheme="uniform",
        kind="uniform",
        shape=dims,
        formula=f"W ~ U({low:g}, {high:g})",
        mean=low / 2 + high / 2,  # not (low + high) / 2, which overflows for bounds near the float range
        std=std,
        low=low,
        high=high,
        args={"low": low, "high": high},
    )
    return draw(plan_, rng, dtype)


def _pair(value: Any, arg: str, where: str) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise InitlabValueError(
            f"The {arg!r} argument of {where} must be a pair (low, high). Got {shown(value)} instead."
        )
    lo = check_float(value[0], f"{arg}[0]", where, allow_inf=True)
    hi = check_float(value[1], f"{arg}[1]", where, allow_inf=True)
    if not lo < hi:
        raise InitlabValueError(
            f"The {arg!r} argument of {where} must satisfy low < high. Got {tuple(value)!r} instead."
        )
    return lo, hi


def _parent_scale_for_std(target: float, mean: float, low: float, high: float) -> float:
    """The parent std whose normal, truncated to the absolute [low, high], has std ``target``."""

    def result_std(scale: float) -> float:
        return scale * truncated_normal_moments((low - mean) / scale, (high - mean) / scale)[1]

    # As the parent's std grows, the truncated normal tends to the uniform on [low, high], whose std
    # (high - low) / sqrt(12) it approaches from below but never reaches.
    limit = (high - low) / math.sqrt(12.0)
    if target >= limit:
        raise InitlabValueError(
            "The 'std' argument of truncated_normal (with match_std=True) must be below the largest reachable std, "
            f"(high - low) / sqrt(12) = {limit:.6g}: the std of the uniform on the bounds {[low, high]!r}, which a "
            f"truncated normal approaches as its parent std grows. Got {target!r} instead."
        )
    lo, hi = target, target
    while result_std(lo) >= target:  # the result's std grows with the parent's
        lo /= 2.0
    while result_std(hi) < target:
        hi *= 2.0
        if hi > 1e12 * target:
            raise InitlabValueError(
                f"The 'std' argument of truncated_normal (with match_std=True) is too close to the limit {limit:.6g} "
                f"of the bounds {[low, high]!r} to be reached. Got {target!r} instead."
            )
    for _ in range(200):  # bisection in log space; 200 halvings reach float64 resolution
        mid = math.sqrt(lo * hi)
        if result_std(mid) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 4e-16 * hi:
            break
    return hi


def _truncated_plan(
    scheme: str, dims: tuple[int, ...], loc: float, scale: float, a: float, b: float, formula: str, **extra: Any
) -> Plan:
    m, s = truncated_normal_moments(a, b)
    return Plan(
        scheme=scheme,
        kind="truncated_normal",
        shape=dims,
        formula=formula,
        mean=loc + scale * m,
        std=scale * s,
        low=loc + scale * a,
        high=loc + scale * b,
        params={"loc": loc, "scale": scale, "a": a, "b": b},
        **extra,
    )


def truncated_normal(
    shape: ShapeLike,
    rng: RNGLike,
    *,
    mean: float = 0.0,
    std: float = 1.0,
    sigmas: tuple[float, float] | None = None,
    bounds: tuple[float, float] | None = None,
    match_std: bool = False,
    dtype: Any = F64,
) -> np.ndarray:
    """A normal ``N(mean, std^2)`` restricted to an interval (draws outside are redrawn).

    The interval is given in exactly one of two units:

    - ``sigmas=(a, b)``: in standard deviations around ``mean``, i.e.
      ``[mean + a * std, mean + b * std]``; the default ``(-2, 2)`` is Keras' and JAX's;
    - ``bounds=(low, high)``: in absolute units, as torch's ``trunc_normal_(a, b)``.

    Truncation shrinks the spread: on ``[-2, 2]`` sigmas the values have std
    ``0.8796 * std``.  With ``match_std=True`` the parent std is chosen so that the
    *values* have std ``std`` exactly, for any bounds (the correction Keras hard-codes
    as 0.87962566 for ``[-2, 2]``; here it is computed from the truncated normal's
    variance ``1 + (a phi(a) - b phi(b)) / Z - ((phi(a) - phi(b)) / Z)^2``,
    ``Z = Phi(b) - Phi(a)``).  Infinite bounds are allowed on one side.

    >>> w = truncated_normal((1000, 1000), 0, std=0.1, match_std=True)
    >>> round(float(w.std()), 3), bool(abs(w).max() <= 2 * 0.1 / 0.8796)
    (0.1, True)
    """
    dims = check_shape(shape, "truncated_normal")
    mean = check_float(mean, "mean", "truncated_normal")
    std = check_float(std, "std", "truncated_normal", low=0.0, low_open=True)
    if not isinstance(match_std, bool):
        raise InitlabValueError(
            f"The 'match_std' argument of truncated_normal must be a bool. Got {shown(match_std)} instead."
        )
    if sigmas is not None and bounds is not None:
        raise InitlabValueError(
            "The 'sigmas' and 'bounds' arguments of truncated_normal are two units for the same interval: "
            f"give one. Got sigmas={shown(sigmas)} and bounds={shown(bounds)} instead."
        )
    if bounds is not None:
        low, high = _pair(bounds, "bounds", "truncated_normal")
        scale = _parent_scale_for_std(std, mean, low, high) if match_std else std
        a, b = (low - mean) / scale, (high - mean) / scale
        unit = f"[{low:g}, {high:g}]"
    else:
        a, b = (-2.0, 2.0) if sigmas is None else _pair(sigmas, "sigmas", "truncated_normal")
        scale = std / truncated_normal_moments(a, b)[1] if match_std else std
        unit = f"[{a:g}, {b:g}] parent stds"
    formula = f"W ~ N({mean:g}, s^2) truncated to {unit}, s = {scale:.6g}"
    if match_std:
        formula += f" (chosen so that std(W) = {std:g})"
    args = {"mean": mean, "std": std}
    if bounds is not None:
        args.update(zip(("bounds[0]", "bounds[1]"), (low, high), strict=True))
    return draw(_truncated_plan("truncated_normal", dims, mean, scale, a, b, formula, args=args), rng, dtype)


# --- variance scaling and its specializations -----------------------------------------

_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
_DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")
_MODE_TEXT = {
    "fan_in": "fan_in",
    "fan_out": "fan_out",
    "fan_avg": "(fan_in + fan_out) / 2",
    "fan_geo_avg": "sqrt(fan_in * fan_out)",
}


def _variance_scaling_plan(
    scheme: str, shape: ShapeLike, scale: float, mode: str, distribution: str, gain: float | None = None
) -> Plan:
    dims = check_shape(shape, scheme, min_dims=2)
    mode = check_choice(mode, "mode", _MODES, scheme)
    distribution = check_choice(distribution, "distribution", _DISTRIBUTIONS, scheme)
    fan_in, fan_out = _fans.fans(dims)
    n = {
        "fan_in": fan_in,
        "fan_out": fan_out,
        "fan_avg": (fan_in + fan_out) / 2.0,
        "fan_geo_avg": math.sqrt(fan_in * fan_out),
    }[mode]
    std = math.sqrt(scale / n)
    g = math.sqrt(scale) if gain is None else gain
    args = {"scale": scale} if gain is None else {"gain": gain}
    std_text = (
        f"std = sqrt({scale:g} / {_MODE_TEXT[mode]})" if gain is None else f"std = gain / sqrt({_MODE_TEXT[mode]})"
    )
    if distribution == "normal":
        formula = f"W ~ N(0, std^2), {std_text}"
        return Plan(
            scheme=scheme,
            kind="normal",
            shape=dims,
            formula=formula,
            mean=0.0,
            std=std,
            fan_in=fan_in,
            fan_out=fan_out,
            gain=g,
            args=args,
        )
    if distribution == "uniform":
        bound = math.sqrt(3.0) * std
        return Plan(
            scheme=scheme,
            kind="uniform",
            shape=dims,
            formula=f"W ~ U(-bound, bound), bound = sqrt(3) * std, {std_text}",
            mean=0.0,
            std=std,
            low=-bound,
            high=bound,
            fan_in=fan_in,
            fan_out=fan_out,
            gain=g,
            args=args,
        )
    parent = std / truncated_normal_moments(-2.0, 2.0)[1]
    return _truncated_plan(
        scheme,
        dims,
        0.0,
        parent,
        -2.0,
        2.0,
        f"W ~ N(0, s^2) truncated to [-2s, 2s], s = std / 0.8796, {std_text}",
        fan_in=fan_in,
        fan_out=fan_out,
        gain=g,
        args=args,
    )


def variance_scaling(
    shape: ShapeLike,
    rng: RNGLike,
    *,
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    dtype: Any = F64,
) -> np.ndarray:
    """The general scheme: entries with mean 0 and variance ``scale / n``.

    ``n`` is ``fan_in``, ``fan_out``, ``(fan_in + fan_out) / 2`` (``fan_avg``) or
    ``sqrt(fan_in * fan_out)`` (``fan_geo_avg``), with fans from
    :func:`initlab.initializers.fans` for a ``(fan_out, fan_in, *receptive)`` shape.
    ``distribution``:

    - ``normal``: ``N(0, scale / n)``;
    - ``uniform``: ``U(-sqrt(3 scale / n), sqrt(3 scale / n))``;
    - ``truncated_normal`` (the default, as in Keras and JAX): a normal truncated
      at two of its own stds, its std divided by 0.87962566 so that the values
      still have variance ``scale / n``.

    >>> w = variance_scaling((512, 256), 0, scale=2.0, distribution="normal")
    >>> plan(variance_scaling, (512, 256), scale=2.0, distribution="normal").std == math.sqrt(2 / 256)
    True
    >>> round(float(w.std()), 2)
    0.09
    """
    scale = check_float(scale, "scale", "variance_scaling", low=0.0)
    return draw(_variance_scaling_plan("variance_scaling", shape, scale, mode, distribution), rng, dtype)


def xavier_uniform(shape: ShapeLike, rng: RNGLike, *, gain: float = 1.0, dtype: Any = F64) -> np.ndarray:
    """Glorot & Bengio (2010): ``W ~ U(-a, a)``, ``a = gain * sqrt(6 / (fan_in + fan_out))``.

    Keeps the variance of activations and of gradients roughly equal across layers
    of a net with a unit-slope activation at 0 (tanh: use ``gain=5/3`` as torch
    recommends, or 1 as in the paper).  Same as ``torch.nn.init.xavier_uniform_``.

    >>> w = xavier_uniform((300, 500), 0)
    >>> bool(abs(w).max() <= math.sqrt(6 / 800))
    True
    """
    g = check_gain(gain, "xavier_uniform")
    return draw(_variance_scaling_plan("xavier_uniform", shape, g * g, "fan_avg", "uniform", g), rng, dtype)


def xavier_normal(shape: ShapeLike, rng: RNGLike, *, gain: float = 1.0, dtype: Any = F64) -> np.ndarray:
    """Glorot & Bengio (2010), normal form: ``W ~ N(0, std^2)``, ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Same as ``torch.nn.init.xavier_normal_``.

    >>> round(float(xavier_normal((400, 400), 0).std()) * 20, 1)  # std = sqrt(2/800) = 1/20
    1.0
    """
    g = check_gain(gain, "xavier_normal")
    return draw(_variance_scaling_plan("xavier_normal", shape, g * g, "fan_avg", "normal", g), rng, dtype)


def _kaiming_gain(scheme: str, a: Any, nonlinearity: Any, gain: Any) -> float:
    a = check_float(a, "a", scheme)
    nonlinearity = check_choice(nonlinearity, "nonlinearity", list(_fans.TORCH_GAINS), scheme)
    if gain is not None:
        if a != 0.0 or nonlinearity != "leaky_relu":
            raise InitlabValueError(
                f"The 'gain' argument of {scheme} replaces 'nonlinearity' and 'a': give one or the other. "
                f"Got gain={shown(gain)} with nonlinearity={nonlinearity!r}, a={a!r} instead."
            )
        return check_gain(gain, scheme)
    if nonlinearity == "leaky_relu":
        return _fans.gain("leaky_relu", a)
    if a != 0.0:
        raise InitlabValueError(
            f"The 'a' argument of {scheme} is the negative slope of leaky_relu and must be 0 for "
            f"nonlinearity={nonlinearity!r}. Got {a!r} instead."
        )
    return _fans.gain(nonlinearity)


def kaiming_normal(
    shape: ShapeLike,
    rng: RNGLike,
    *,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    gain: float | None = None,
    dtype: Any = F64,
) -> np.ndarray:
    """He et al. (2015): ``W ~ N(0, std^2)``, ``std = gain / sqrt(fan_mode)``.

    ``gain`` defaults to :func:`initlab.initializers.gain` of ``nonlinearity`` (with ``a``
    the negative slope of leaky_relu), so the default, leaky_relu with slope 0, is
    relu's ``sqrt(2)``: ``std = sqrt(2 / fan_in)``, the course's He initialization.
    Pass ``gain=`` directly instead of a nonlinearity if you have your own.
    ``mode='fan_out'`` preserves the backward pass's variance instead.  Same as
    ``torch.nn.init.kaiming_normal_``; also registered as ``he_normal``.

    >>> plan(kaiming_normal, (64, 32)).std == math.sqrt(2 / 32)
    True
    """
    g = _kaiming_gain("kaiming_normal", a, nonlinearity, gain)
    return draw(_variance_scaling_plan("kaiming_normal", shape, g * g, mode, "normal", g), rng, dtype)


def kaiming_uniform(
    shape: ShapeLike,
    rng: RNGLike,
    *,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    gain: float | None = None,
    dtype: Any = F64,
) -> np.ndarray:
    """He et al. (2015), uniform form: ``W ~ U(-b, b)``, ``b = gain * sqrt(3 / fan_mode)``.

    Arguments as :func:`kaiming_normal`.  Same as ``torch.nn.init.kaiming_uniform_``;
    also registered as ``he_uniform``.

    >>> plan(kaiming_uniform, (64, 48)).high == math.sqrt(2) * math.sqrt(3 / 48)
    True
    """
    g = _kaiming_gain("kaiming_uniform", a, nonlinearity, gain)
    return draw(_variance_scaling_plan("kaiming_uniform", shape, g * g, mode, "uniform", g), rng, dtype)


def lecun_normal(shape: ShapeLike, rng: RNGLike, *, dtype: Any = F64) -> np.ndarray:
    """LeCun et al. (1998): ``W ~ N(0, 1 / fan_in)``; with selu, Klambauer et al. (2017)'s choice.

    >>> plan(lecun_normal, (10, 100)).std
    0.1
    """
    return draw(_variance_scaling_plan("lecun_normal", shape, 1.0, "fan_in", "normal"), rng, dtype)


def lecun_uniform(shape: ShapeLike, rng: RNGLike, *, dtype: Any = F64) -> np.ndarray:
    """LeCun et al. (1998), uniform form: ``W ~ U(-sqrt(3 / fan_in), sqrt(3 / fan_in))``.

    >>> plan(lecun_uniform, (10, 300)).high
    0.1
    """
    return draw(_variance_scaling_plan("lecun_uniform", shape, 1.0, "fan_in", "uniform"), rng, dtype)


def torch_default(shape: ShapeLike, rng: RNGLike, *, dtype: Any = F64) -> np.ndarray:
    """What torch's ``nn.Linear`` and ``nn.ConvNd`` do on construction: ``W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

    torch writes it as ``kaiming_uniform_(a=sqrt(5))``, whose gain ``sqrt(1/3)``
    gives the bound ``1/sqrt(fan_in)``: a variance of ``1 / (3 fan_in)``, a third
    of LeCun's, so the signal shrinks with depth.  Here so its effect can be
    compared with the others.

    >>> plan(torch_default, (10, 25)).high
    0.2
    """
    dims = check_shape(shape, "torch_default", min_dims=2)
    fan_in, fan_out = _fans.fans(dims)
    bound = 1.0 / math.sqrt(fan_in)
    plan_ = Plan(
        scheme="torch_default",
        kind="uniform",
        shape=dims,
        formula="W ~ U(-bound, bound), bound = 1 / sqrt(fan_in)",
        mean=0.0,
        std=bound / math.sqrt(3.0),
        low=-bound,
        high=bound,
        fan_in=fan_in,
        fan_out=fan_out,
        gain=math.sqrt(1.0 / 3.0),
    )
    return draw(plan_, rng, dtype)


# --- aliases (plain assignments) --------------------------------------------------------

he_normal = kaiming_normal
he_uniform = kaiming_uniform
glorot_normal = xavier_normal
glorot_uniform = xavier_uniform
