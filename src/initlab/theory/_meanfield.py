"""Mean-field signal propagation through a deep random network (Poole et al. 2016; Schoenholz et al. 2017).

A network of width ``n -> infinity`` with ``W[l]_ij ~ N(0, sigma_w2 / n_{l-1})`` and
``b[l]_i ~ N(0, sigma_b2)`` (the engine's shapes: ``W[l]`` is ``(n_l, n_{l-1})``,
``Z[l] = W[l] @ phi(Z[l-1]) + b[l]``) carries, layer to layer,

- the pre-activation variance ``q^l = E[Z[l]_i^2]`` through the variance map
  ``q^{l+1} = V(q^l) = sigma_w2 E[phi(sqrt(q^l) z)^2] + sigma_b2``;
- the correlation ``c^l`` of two inputs' pre-activations through the correlation map
  ``c^{l+1} = (sigma_w2 E[phi(u1) phi(u2)] + sigma_b2) / q^{l+1}``, with ``u1 = sqrt(q^l) z1``,
  ``u2 = sqrt(q^l) (c^l z1 + sqrt(1 - (c^l)^2) z2)``.

At the fixed point ``q*``, ``chi_1 = sigma_w2 E[phi'(sqrt(q*) z)^2]`` splits ordered
(``chi_1 < 1``: inputs collapse onto one, gradients vanish) from chaotic (``chi_1 > 1``:
nearby inputs decorrelate, gradients explode); ``chi_1 = 1`` is the edge of chaos.
Deviations from the fixed points decay as ``exp(-l / xi)`` with the depth scales
``xi_q = -1 / ln(chi_q)``, ``chi_q = V'(q*)``, and ``xi_c = -1 / ln(chi_c)``,
``chi_c = sigma_w2 E[phi'(u1) phi'(u2)]`` at ``(q*, c*)``, the slope of the correlation map
at ``c*``.  The expectations are in :mod:`initlab.theory._gauss` (closed forms for linear,
relu and leaky_relu, Gauss-Hermite quadrature otherwise).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import InitlabValueError, check_float, check_int
from ._gauss import Gaussian, QuadratureWarning, resolve

__all__ = [
    "PhaseDiagram",
    "Propagation",
    "c_star",
    "chi_1",
    "correlation_map",
    "critical_sigma_w2",
    "depth_scales",
    "phase_diagram",
    "predict_layers",
    "q_star",
    "variance_map",
]

_MAX_ITER = 20_000
_TOL = 1e-13
_Q_CAP = 1e150  # a variance beyond this counts as diverged
_Q_FLOOR = 1e-12  # maps at q* = 0 (sigma_b2 = 0, ordered) are taken at this limit


def _sigmas(sigma_w2: Any, sigma_b2: Any, where: str) -> tuple[float, float]:
    return (
        check_float(sigma_w2, "sigma_w2", where, low=0.0),
        check_float(sigma_b2, "sigma_b2", where, low=0.0),
    )


def _q_array(q: Any, where: str, arg: str = "q") -> np.ndarray:
    try:
        arr = np.asarray(q, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.array(np.nan)
    if arr.dtype == object or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise InitlabValueError(f"The {arg!r} argument of {where} must be finite floats >= 0. Got {q!r} instead.")
    return arr


def variance_map(
    q: Any, activation: Any, sigma_w2: float, sigma_b2: float, *, method: str = "auto", nodes: int = 100
) -> np.ndarray:
    """The variance map ``V(q) = sigma_w2 E[phi(sqrt(q) z)^2] + sigma_b2``, ``z ~ N(0, 1)``, elementwise.

    ``q`` (any shape, entries >= 0) is the pre-activation variance of a layer; the result,
    of the same shape, is the next layer's (Poole et al. 2016, eq. 3).  relu and linear use
    their closed forms (``sigma_w2 q / 2 + sigma_b2``, ``sigma_w2 q + sigma_b2``; leaky_relu with
    slope ``a``: ``sigma_w2 (1 + a^2) q / 2 + sigma_b2``) unless
    ``method="quadrature"``; other activations use ``nodes``-point Gauss-Hermite quadrature.

    >>> variance_map([1.0, 2.0], "relu", 2.0, 0.1)
    array([1.1, 2.1])
    >>> round(float(variance_map(1.0, "tanh", 1.0, 0.0)), 6)
    0.394294
    """
    g = resolve(activation, "variance_map", method=method, nodes=nodes)
    sw, sb = _sigmas(sigma_w2, sigma_b2, "variance_map")
    return _V(g, _q_array(q, "variance_map"), sw, sb)


def _V(g: Gaussian, q: np.ndarray, sw: float, sb: float) -> np.ndarray:
    return sw * g.sq(q) + sb


def _fixed_point(f: Callable[[float], float], x: float, floor: float, max_iter: int = _MAX_ITER) -> float | None:
    """Iterate ``x <- f(x)``; stop once the geometric tail ``dx r / (1 - r)`` (Aitken) is below 1e-13 of
    ``max(|limit|, floor)`` and return that limit.  None when it has not settled in ``max_iter`` steps;
    inf when an iterate leaves ``[-1e150, 1e150]``."""
    dx_prev = 0.0
    for _ in range(max_iter):
        nxt = f(x)
        if not math.isfinite(nxt) or abs(nxt) > _Q_CAP:
            return math.inf
        dx = nxt - x
        if dx == 0.0:
            return nxt
        r = dx / dx_prev if dx_prev != 0.0 else -1.0
        if 0.0 <= r < 1.0:
            rest = dx * r / (1.0 - r)
            if abs(rest) <= _TOL * max(abs(nxt + rest), floor):
                return nxt + rest
        x, dx_prev = nxt, dx
    return None


def _diverges(g: Gaussian, sw: float, sb: float, where: str) -> InitlabValueError:
    return InitlabValueError(
        f"{where}: the variance map of {g.name} with sigma_w2={sw!r}, sigma_b2={sb!r} has no finite "
        "stable fixed point: q^l grows without bound (relu does for sigma_w2 > 2, and for sigma_w2 = 2 "
        "when sigma_b2 > 0)."
    )


def _q_star(g: Gaussian, sw: float, sb: float, where: str) -> float:
    if g.neg is not None:  # V(q) = a q + sb: q* = sb / (1 - a)
        a = sw * (1.0 + g.neg**2) / 2.0
        if a < 1.0:
            return sb / (1.0 - a)
        if a == 1.0 and sb == 0.0:
            return 1.0  # every q is a fixed point: the start, q = 1, stays
        raise _diverges(g, sw, sb, where)
    with warnings.catch_warnings():  # the path may pass large q; only the fixed point's resolution matters
        warnings.simplefilter("ignore", QuadratureWarning)
        q = _fixed_point(lambda x: float(_V(g, np.asarray(x), sw, sb)), 1.0, 1e-12)
    if q is None:
        raise InitlabValueError(
            f"{where}: the variance map of {g.name} with sigma_w2={sw!r}, sigma_b2={sb!r} did not settle in "
            f"{_MAX_ITER} iterations from q = 1: a marginal point (chi = 1, e.g. tanh at sigma_w2 = 1, "
            "sigma_b2 = 0), where q^l drifts algebraically."
        )
    if not math.isfinite(q):
        raise _diverges(g, sw, sb, where)
    g.check_resolution(np.asarray(q))
    return max(q, 0.0)


def q_star(activation: Any, sigma_w2: float, sigma_b2: float, *, method: str = "auto", nodes: int = 100) -> float:
    """The fixed point ``q* = V(q*)`` reached by iterating the variance map from ``q = 1``.

    Raises :class:`~initlab.InitlabValueError` when there is no finite one (relu with
    ``sigma_w2 > 2``, or ``= 2`` with ``sigma_b2 > 0``, grows geometrically or linearly) or
    when the iteration has not settled after 20,000 steps (a marginal point).

    >>> q_star("relu", 1.0, 0.5)  # sigma_b2 / (1 - sigma_w2 / 2)
    1.0
    >>> round(q_star("tanh", 1.76, 0.05), 4)
    0.5695
    """
    g = resolve(activation, "q_star", method=method, nodes=nodes)
    sw, sb = _sigmas(sigma_w2, sigma_b2, "q_star")
    return _q_star(g, sw, sb, "q_star")


def _chi_1(g: Gaussian, sw: float, q: float) -> float:
    return sw * float(g.dsq(np.asarray(max(q, _Q_FLOOR))))


def chi_1(activation: Any, sigma_w2: float, sigma_b2: float, *, method: str = "auto", nodes: int = 100) -> float:
    """``chi_1 = sigma_w2 E[phi'(sqrt(q*) z)^2]``: the mean squared singular value of a layer's Jacobian.

    ``< 1`` ordered (gradients vanish with depth), ``> 1`` chaotic (they explode), ``= 1``
    critical (Poole et al. 2016; Schoenholz et al. 2017).  relu: ``sigma_w2 / 2``.

    >>> chi_1("relu", 1.5, 0.1)
    0.75
    """
    g = resolve(activation, "chi_1", method=method, nodes=nodes)
    sw, sb = _sigmas(sigma_w2, sigma_b2, "chi_1")
    return _chi_1(g, sw, _q_star(g, sw, sb, "chi_1"))


def _check_c(c: Any, where: str) -> np.ndarray:
    try:
        arr = np.asarray(c, dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.array(np.nan)
    if arr.dtype == object or not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > 1.0):
        raise InitlabValueError(f"The 'c' argument of {where} must be floats in [-1, 1]. Got {c!r} instead.")
    return arr


def _C(g: Gaussian, q: float, c: np.ndarray, sw: float, sb: float) -> np.ndarray:
    """``(sigma_w2 E[phi(u1) phi(u2)] + sigma_b2) / V(q)``: the next layer's correlation."""
    qe = max(q, _Q_FLOOR)
    nxt = float(_V(g, np.asarray(qe), sw, sb))
    if nxt == 0.0:  # sigma_w2 = sigma_b2 = 0: every pre-activation is 0, no correlation
        return np.full(np.shape(c), np.nan)
    return np.clip((sw * g.cross(np.asarray(qe), c) + sb) / nxt, -1.0, 1.0)


def correlation_map(
    c: Any, activation: Any, sigma_w2: float, sigma_b2: float, *, method: str = "auto", nodes: int = 100
) -> np.ndarray:
    """The correlation map at the fixed point: ``c -> (sigma_w2 E[phi(u1) phi(u2)] + sigma_b2) / q*``.

    ``u1 = sqrt(q*) z1``, ``u2 = sqrt(q*) (c z1 + sqrt(1 - c^2) z2)`` with independent
    standard normals ``z1, z2``; ``c`` (any shape, in [-1, 1]) is the correlation of two
    inputs' pre-activations in a layer, the result that of the next (Poole et al. 2016,
    eq. 5).  relu uses the arc-cosine kernel (Cho & Saul 2009), linear ``sigma_w2 c +
    sigma_b2 / q*``; others a ``nodes x nodes`` Gauss-Hermite grid.  When ``q* = 0``
    (``sigma_b2 = 0``, ordered) the map is taken at ``q = 1e-12``, its limit.

    >>> correlation_map([0.0, 1.0], "relu", 2.0 * 0.9, 0.0).round(6)
    array([0.31831, 1.     ])
    """
    g = resolve(activation, "correlation_map", method=method, nodes=nodes)
    sw, sb = _sigmas(sigma_w2, sigma_b2, "correlation_map")
    cc = _check_c(c, "correlation_map")
    q = _q_star(g, sw, sb, "correlation_map")
    return _C(g, q, cc, sw, sb)


def _c_star(g: Gaussian, q: float, sw: float, sb: float) -> float:
    """Iterate the correlation map from ``c = 0`` (30 steps at most), then finish with Newton's method on
    ``h(c) = C(c) - c`` (its slope is known), kept inside a bracket ``h(x) > 0 >= h(hi)`` by bisection:
    near the order-to-chaos line plain iteration crawls at rate ``chi_c``."""
    if g.neg is not None and (sb > 0.0 or g.neg != 1.0):
        # below the line with a bias, c = 1 is the stable fixed point; without one (q* = 0) the map is
        # ((1 + a^2) K(c) - 2 a K(-c)) / ((1 + a^2) q / 2): convex, 1 at c = 1 with slope 1, so c* = 1 there too
        # (marginally) unless a = 1 (linear: every c is fixed and the iteration keeps its start, 0)
        return 1.0
    qe = max(q, _Q_FLOOR)
    q_next = float(_V(g, np.asarray(qe), sw, sb))

    def cmap(x: float) -> float:
        return float(_C(g, q, np.asarray(x), sw, sb))

    c = _fixed_point(cmap, 0.0, 1.0, max_iter=30)
    if c is not None:
        return min(max(c, -1.0), 1.0) if math.isfinite(c) else math.nan
    x = 0.0
    for _ in range(30):  # from c = 0 the iterates rise towards c*, so h(x) = C(x) - x > 0 below c*
        x = cmap(x)
    hi = 1.0  # h(hi) <= 0 once a step lands above c*; bisection between x and hi from then on
    for _ in range(200):
        slope = sw * qe * float(g.dcross(np.asarray(qe), np.asarray(x))) / q_next
        h = cmap(x) - x
        nxt = x - h / (slope - 1.0) if slope < 1.0 else 0.5 * (x + hi)
        if not x < nxt < hi:
            nxt = 0.5 * (x + hi)
        if abs(nxt - x) <= 1e-14 or hi - x <= 1e-14:
            return min(nxt, 1.0)
        if cmap(nxt) - nxt > 0.0:
            x = nxt
        else:
            hi = nxt
    return math.nan  # a marginal point: the correlation drifts algebraically


def c_star(activation: Any, sigma_w2: float, sigma_b2: float, *, method: str = "auto", nodes: int = 100) -> float:
    """The stable fixed point ``c*`` of :func:`correlation_map`, iterated from ``c = 0``.

    ``c* = 1`` in the ordered phase (every input ends up with the same representation),
    ``c* < 1`` in the chaotic one.  At a marginal point the iteration's 20,000th value is
    returned.

    >>> round(c_star("relu", 1.0, 0.1), 12)
    1.0
    >>> round(c_star("tanh", 3.0, 0.05), 4)
    0.2993
    """
    g = resolve(activation, "c_star", method=method, nodes=nodes)
    sw, sb = _sigmas(sigma_w2, sigma_b2, "c_star")
    return _c_star(g, _q_star(g, sw, sb, "c_star"), sw, sb)


def _xi(chi: float) -> float:
    if chi <= 0.0:
        return 0.0
    if chi >= 1.0 - 1e-12:  # marginal (a stable fixed point has chi <= 1; above is rounding)
        return math.inf
    return -1.0 / math.log(chi)


def depth_scales(
    activation: Any, sigma_w2: float, sigma_b2: float, *, method: str = "auto", nodes: int = 100
) -> tuple[float, float]:
    """``(xi_q, xi_c)``: the depths over which ``q^l -> q*`` and ``c^l -> c*`` (Schoenholz et al. 2017).

    ``xi_q = -1 / ln(chi_q)`` with ``chi_q = V'(q*) = sigma_w2 E[phi(u) phi'(u) z] / sqrt(q*)``,
    ``xi_c = -1 / ln(chi_c)`` with ``chi_c = sigma_w2 E[phi'(u1) phi'(u2)]`` at ``(q*, c*)``;
    ``xi_c`` diverges (``inf``) at the edge of chaos.  relu: ``chi_q = chi_c = sigma_w2 / 2``.

    >>> [round(x, 4) for x in depth_scales("relu", 1.0, 0.1)]
    [1.4427, 1.4427]
    """
    g = resolve(activation, "depth_scales", method=method, nodes=nodes)
    sw, sb = _sigmas(sigma_w2, sigma_b2, "depth_scales")
    q = _q_star(g, sw, sb, "depth_scales")
    chi_q = sw * float(g.dsq_dq(np.asarray(max(q, _Q_FLOOR))))
    return _xi(chi_q), _xi(_chi_c(g, q, sw, sb))


def _chi_c(g: Gaussian, q: float, sw: float, sb: float) -> float:
    """The slope of the correlation map at c*: ``sigma_w2 q E[phi'(u1) phi'(u2)] / V(q)`` (= the paper's
    ``sigma_w2 E[phi'(u1) phi'(u2)]`` at ``q = q*``; at ``q* = 0`` its limit, taken at ``q = 1e-12``)."""
    qe = max(q, _Q_FLOOR)
    nxt = float(_V(g, np.asarray(qe), sw, sb))
    if nxt == 0.0:  # sigma_w2 = sigma_b2 = 0: no signal, no correlation
        return math.nan
    c = _c_star(g, q, sw, sb)
    if math.isnan(c):
        return 1.0
    return sw * qe * float(g.dcross(np.asarray(qe), np.asarray(c))) / nxt


def critical_sigma_w2(sigma_b2: float, activation: Any, *, method: str = "auto", nodes: int = 100) -> float:
    """The ``sigma_w2`` on the order-to-chaos line, where ``chi_1 = 1`` (Poole et al. 2016, Fig. 2).

    Walks the curve of fixed points, parametrized by ``q*``: ``sigma_w2(q*) = (q* - sigma_b2)
    / E[phi(sqrt(q*) z)^2]``, and bisects ``chi_1(q*) = 1`` on it from ``q* = sigma_b2`` up
    (the first crossing), to a relative 1e-15 in ``q*``; this avoids iterating the variance
    map, which slows down without bound near the line.  relu: 2, linear: 1, leaky_relu
    ``2 / (1 + a^2)``, for every ``sigma_b2``; tanh: 1 at ``sigma_b2 = 0`` (to 1e-11: the
    limit ``q* -> 0``), 1.7610 at 0.05.  The first crossing is the line only where ``q*`` is
    unique: silu and gelu at ``sigma_b2 = 0`` give 4 (= 1 / phi'(0)^2, the stable ``q* = 0``)
    though their variance also blows up from large inputs above ``sigma_w2 ~ 2``.

    >>> critical_sigma_w2(0.0, "relu")
    2.0
    >>> round(critical_sigma_w2(0.05, "tanh"), 4)
    1.761
    """
    g = resolve(activation, "critical_sigma_w2", method=method, nodes=nodes)
    sb = check_float(sigma_b2, "sigma_b2", "critical_sigma_w2", low=0.0)
    if g.neg is not None:  # chi_1 = sigma_w2 (1 + a^2) / 2 whatever q*
        return 2.0 / (1.0 + g.neg**2)

    def sw_of(q: float) -> float:  # the sigma_w2 whose fixed point is q: (q - sigma_b2) / E[phi(sqrt(q) z)^2]
        return (q - sb) / float(g.sq(np.asarray(q)))

    def excess(q: float) -> float:  # chi_1 - 1 along the curve of fixed points
        return sw_of(q) * float(g.dsq(np.asarray(q))) - 1.0

    with warnings.catch_warnings():  # the walk may pass large q; only the crossing's resolution matters
        warnings.simplefilter("ignore", QuadratureWarning)
        q = _crossing(sw_of, excess, sb, g.name)
    g.check_resolution(np.asarray(q))
    return sw_of(q)


def _crossing(sw_of: Callable[[float], float], excess: Callable[[float], float], sb: float, name: str) -> float:
    """The first ``q*`` from ``sigma_b2`` up where ``excess`` (chi_1 - 1 along the fixed points) turns >= 0."""
    lo = sb + _Q_FLOOR * max(sb, 1.0)
    if excess(lo) >= 0.0:  # the line meets q* = 0 (tanh at sigma_b2 = 0): its limit there
        return lo
    hi = 2.0 * lo + 1.0
    while excess(hi) < 0.0:
        lo, hi = hi, 2.0 * hi
        if hi > 1e12:
            raise InitlabValueError(
                f"critical_sigma_w2: chi_1 of {name} stays below 1 along its fixed points up to q* = 1e12 at "
                f"sigma_b2={sb!r} (sigma_w2 = {sw_of(hi):.12g} there): no transition at a finite q*."
            )
    while hi - lo > 1e-15 * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if excess(mid) >= 0.0 else (mid, hi)
    return 0.5 * (lo + hi)


@dataclass(frozen=True)
class PhaseDiagram:
    """:func:`phase_diagram`'s arrays, each ``(len(sigma_w2), len(sigma_b2))``; NaN where ``q*`` is not finite."""

    sigma_w2: np.ndarray
    sigma_b2: np.ndarray
    chi_1: np.ndarray
    q_star: np.ndarray
    xi_c: np.ndarray


def _grid(values: Any, arg: str) -> np.ndarray:
    arr = _q_array(values, "phase_diagram", arg)
    if arr.ndim != 1 or arr.size == 0:
        raise InitlabValueError(
            f"The {arg!r} argument of phase_diagram must be a non-empty 1-D list of floats >= 0. Got {values!r}."
        )
    return arr


def phase_diagram(
    sigma_w2_grid: Sequence[float] | np.ndarray,
    sigma_b2_grid: Sequence[float] | np.ndarray,
    activation: Any,
    *,
    method: str = "auto",
    nodes: int = 100,
) -> PhaseDiagram:
    """``chi_1``, ``q*`` and ``xi_c`` at every ``(sigma_w2, sigma_b2)`` of a grid (Poole et al. 2016, Fig. 2).

    Row ``i``, column ``j`` is ``(sigma_w2_grid[i], sigma_b2_grid[j])``.  A point without a
    finite fixed point (relu with ``sigma_w2 > 2``) or with a marginal one is NaN, kept, not dropped.

    >>> d = phase_diagram([1.0, 3.0], [0.0, 0.1], "relu")
    >>> d.chi_1
    array([[0.5, 0.5],
           [nan, nan]])
    >>> d.xi_c  # relu at sigma_b2 = 0: q* = 0 and c^l -> 1 only algebraically
    array([[       inf, 1.44269504],
           [       nan,        nan]])
    """
    g = resolve(activation, "phase_diagram", method=method, nodes=nodes)
    sws, sbs = _grid(sigma_w2_grid, "sigma_w2_grid"), _grid(sigma_b2_grid, "sigma_b2_grid")
    shape = (sws.size, sbs.size)
    chi, qs, xi = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    for i, sw in enumerate(sws.tolist()):
        for j, sb in enumerate(sbs.tolist()):
            try:
                q = _q_star(g, sw, sb, "phase_diagram")
            except InitlabValueError:
                continue
            qs[i, j], chi[i, j] = q, _chi_1(g, sw, q)
            xi[i, j] = _xi(_chi_c(g, q, sw, sb))
    return PhaseDiagram(sws, sbs, chi, qs, xi)


@dataclass(frozen=True)
class Propagation:
    """:func:`predict_layers`'s per-layer values, entry ``l-1`` for layer ``l``.

    ``q`` is the pre-activation variance ``q^l``; ``c`` the correlation of two inputs (None
    without ``c0``); ``act_mean`` and ``act_sq`` are ``E[phi(sqrt(q^l) z)]`` and
    ``E[phi(sqrt(q^l) z)^2]``, the moments of the layer's activations ``A[l]``.
    """

    q: np.ndarray  # (depth,)
    c: np.ndarray | None  # (depth,)
    act_mean: np.ndarray  # (depth,)
    act_sq: np.ndarray  # (depth,)

    @property
    def act_std(self) -> np.ndarray:
        """The predicted std of ``A[l]`` over units and examples: ``sqrt(E[phi^2] - E[phi]^2)``, as
        :func:`initlab.engine.activation_std` measures it on a wide layer."""
        with np.errstate(invalid="ignore", over="ignore"):
            return np.asarray(np.sqrt(np.maximum(self.act_sq - self.act_mean**2, 0.0)))


def _sigma_w2s(sigma_w2: Any, depth: int, where: str) -> np.ndarray:
    """``sigma_w2`` as one value per layer: a float for every layer, or a sequence of ``depth`` floats."""
    if isinstance(sigma_w2, (list, tuple, np.ndarray)):
        values = [check_float(v, "sigma_w2", where, low=0.0) for v in np.asarray(sigma_w2, dtype=object).ravel()]
        if len(values) != depth:
            raise InitlabValueError(
                f"The 'sigma_w2' argument of {where} must be a float >= 0 or one per layer ({depth} values). "
                f"Got {len(values)} values instead."
            )
        return np.asarray(values, dtype=np.float64)
    return np.full(depth, check_float(sigma_w2, "sigma_w2", where, low=0.0))


def predict_layers(
    activation: Any,
    sigma_w2: float | Sequence[float],
    sigma_b2: float,
    depth: int,
    q0: float,
    c0: float | None = None,
    *,
    method: str = "auto",
    nodes: int = 100,
) -> Propagation:
    """The predicted pre-activation variance ``q^l`` (and correlation ``c^l``) of layers ``l = 1..depth``,
    and the moments of their activations.

    ``q0 = ||x||^2 / n_0`` is the input's mean square (the input is not passed through
    ``phi``): ``q^1 = sigma_w2 q0 + sigma_b2``, then ``q^{l+1} = V(q^l)``.  With ``c0``, the
    correlation of two inputs of the same mean square ``q0``: ``c^1 = (sigma_w2 q0 c0 +
    sigma_b2) / q^1``, then ``c^{l+1} = (sigma_w2 E[phi(u1) phi(u2)] + sigma_b2) / q^{l+1}``
    at ``(q^l, c^l)``.  To be drawn against ``mean(Z[l]**2)`` measured on a wide random
    network (``Z[l]`` is ``(n_l, m)``; the output layer ``L`` is linear and counts too), and
    ``Propagation.act_std`` against the std of ``A[l]``.

    ``sigma_w2`` is one value for every layer or a sequence of ``depth`` values, layer ``l``'s
    ``n_{l-1} Var(W[l]_ij)``: a scheme's first layer often differs from the others (Xavier on
    a 30-feature input to 500 units has ``2 * 30 / 530``, then 1).

    >>> predict_layers("relu", 2.0, 0.0, 3, 1.0).q
    array([2., 2., 2.])
    >>> predict_layers("linear", 0.5, 0.0, 2, 1.0, c0=0.5).c
    array([0.5, 0.5])
    >>> predict_layers("relu", [1.0, 2.0], 0.0, 2, 1.0).act_std.round(3)  # sqrt(q (1/2 - 1/(2 pi)))
    array([0.584, 0.584])

    Against 8 seeded tanh nets of width 400 at Schoenholz et al.'s critical point:

    >>> from initlab.engine import MLP, forward, init_ensemble
    >>> n = 400
    >>> params = init_ensemble([n] * 4, seeds=list(range(8)), weights="normal(std=sqrt(1.76 / 400))",
    ...                        biases="normal(std=sqrt(0.05))")
    >>> X = np.random.default_rng(0).standard_normal((n, 50))  # q0 ~ 1
    >>> _, caches = forward(MLP.make([n] * 4, "tanh", "mse"), params, X)
    >>> [round(float((Z**2).mean()), 2) for _, Z, _ in caches]  # measured q^1, q^2, q^3
    [1.8, 0.94, 0.72]
    >>> predict_layers("tanh", 1.76, 0.05, 3, float((X**2).mean())).q.round(2)
    array([1.8 , 0.93, 0.72])
    """
    g = resolve(activation, "predict_layers", method=method, nodes=nodes)
    n = check_int(depth, "depth", "predict_layers", low=1, high=100_000)
    sws = _sigma_w2s(sigma_w2, n, "predict_layers")
    sb = check_float(sigma_b2, "sigma_b2", "predict_layers", low=0.0)
    q_in = check_float(q0, "q0", "predict_layers", low=0.0)
    c_in = None if c0 is None else check_float(c0, "c0", "predict_layers", low=-1.0, high=1.0)
    with np.errstate(over="ignore", invalid="ignore"):  # a variance that overflows is inf: data, not an error
        return _propagate(g, sws, sb, q_in, c_in)


def _propagate(g: Gaussian, sws: np.ndarray, sb: float, q_in: float, c_in: float | None) -> Propagation:
    n = len(sws)
    qs = np.empty(n)
    qs[0] = sws[0] * q_in + sb
    for l in range(1, n):
        qs[l] = float(_V(g, qs[l - 1 : l], float(sws[l]), sb)[0])
    finite = np.where(np.isfinite(qs), qs, 0.0)  # an infinite variance has no moments to take: NaN below
    mean, sq = g.mean(finite), g.sq(finite)
    mean[~np.isfinite(qs)], sq[~np.isfinite(qs)] = np.nan, np.nan
    if c_in is None:
        return Propagation(qs, None, mean, sq)
    cs = np.empty(n)
    cs[0] = (sws[0] * q_in * c_in + sb) / qs[0] if qs[0] > 0 else np.nan  # no signal, no correlation
    for l in range(1, n):
        if qs[l] > 0 and math.isfinite(qs[l]):
            cross = float(g.cross(np.asarray(qs[l - 1]), np.asarray(cs[l - 1])))
            cs[l] = min(max((float(sws[l]) * cross + sb) / qs[l], -1.0), 1.0)
        else:
            cs[l] = np.nan
    return Propagation(qs, cs, mean, sq)
