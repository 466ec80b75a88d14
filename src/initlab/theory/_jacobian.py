"""The spectrum of a deep random network's input-output Jacobian (Pennington, Schoenholz & Ganguli 2017).

A stack of ``L`` hidden layers of width ``N``, ``W[l] = sqrt(sigma_w2) * (Gaussian / sqrt(N)
or orthogonal)``, ``b[l] ~ N(0, sigma_b2)``, fed an input whose pre-activations sit at the
fixed point ``q*`` of the variance map, has the Jacobian ``J = D_L W[L] ... D_1 W[1]`` with
``D_l = diag(phi'(Z[l]))`` (the engine's :func:`~initlab.engine.input_output_jacobian`).  In
the wide limit the entries of ``D_l^2`` are ``phi'(sqrt(q*) z)^2``, ``z ~ N(0, 1)``, with moments
``mu_k = E[phi'(sqrt(q*) z)^(2k)]``, and free probability gives the first two moments of the
eigenvalues of ``J J^T`` (the squared singular values of ``J``):

- mean: ``m1 = chi_1^L``, ``chi_1 = sigma_w2 mu_1`` (1 on the order-to-chaos line);
- variance: ``sigma^2_{JJ^T} = m1^2 L (mu_2 / mu_1^2 - 1 - s_1)``.

Why: S-transforms multiply under free products, and a spectrum with moments ``m1, m2`` has
``S(z) = (1 / m1) (1 - v z + O(z^2))`` with ``v = m2 / m1^2 - 1``; so the ``v`` of the
layers' factors add.  Each layer brings ``D_l^2`` (``v = mu_2 / mu_1^2 - 1``) and ``W W^T``
(``v = -s_1``: ``s_1 = -1`` for Gaussian weights, Marchenko-Pastur with ratio 1; ``s_1 = 0``
for orthogonal ones, whose ``W W^T`` is a multiple of the identity).  Linear nets: Gaussian
``L``, orthogonal 0 (exact isometry); relu (``mu_2 / mu_1^2 = 2``): Gaussian ``2 L``,
orthogonal ``L``, never isometric; tanh: ``mu_2 / mu_1^2 - 1 -> 0`` as ``q* -> 0``, so
orthogonal tanh nears isometry at every depth while Gaussian tanh's variance still grows as ``L``.

Finite width adds corrections of relative order ``L / N``; the measured spectrum of one net
also fluctuates about the mean, more at large variance (relu), since its upper edge is
set by a few singular values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import InitlabValueError, check_choice, check_float, check_int
from ..engine import MLP, init_ensemble, jacobian_by_depth
from ._gauss import Gaussian, _nodes, resolve
from ._meanfield import q_star

__all__ = ["WEIGHTS", "JacobianMoments", "critical_point", "jacobian_moments", "measured_spectra", "measured_spectrum"]

#: The weight ensembles the theory covers, with their S-transform's first coefficient ``s_1``.
WEIGHTS = {"gaussian": -1.0, "orthogonal": 0.0}


@dataclass(frozen=True)
class JacobianMoments:
    """:func:`jacobian_moments`'s prediction for the eigenvalues of ``J J^T`` of a depth-``L`` stack."""

    activation: str
    weights: str
    depth: int
    sigma_w2: float
    sigma_b2: float
    q_star: float  # the pre-activations' fixed-point variance
    mu1: float  # E[phi'(sqrt(q*) z)^2]
    mu2: float  # E[phi'(sqrt(q*) z)^4]
    s1: float  # the first coefficient of W W^T's S-transform: -1 Gaussian, 0 orthogonal
    chi_1: float  # sigma_w2 mu1: one layer's mean squared singular value
    mean_sq_singular_value: float  # chi_1^L
    spectrum_variance: float  # m1^2 L (mu2 / mu1^2 - 1 - s1)

    @property
    def per_layer_variance(self) -> float:
        """``mu_2 / mu_1^2 - 1 - s_1``: the variance each layer adds at criticality."""
        return self.mu2 / self.mu1**2 - 1.0 - self.s1


def _slope_moments(g: Gaussian, q: float) -> tuple[float, float]:
    """``(mu_1, mu_2) = (E[phi'(u)^2], E[phi'(u)^4])``, ``u ~ N(0, q)``: closed forms for piecewise-linear phi."""
    if g.neg is not None:  # phi'^2 is 1 or a^2, each with probability 1/2
        a2 = g.neg**2
        return (1.0 + a2) / 2.0, (1.0 + a2 * a2) / 2.0
    g.check_resolution(np.asarray(q))
    x, w = _nodes(g.nodes)
    d2 = g.dphi(math.sqrt(q) * x) ** 2
    return float(d2 @ w), float(d2 * d2 @ w)


def jacobian_moments(
    activation: Any,
    sigma_w2: float,
    sigma_b2: float,
    depth: int,
    *,
    weights: str = "gaussian",
    method: str = "auto",
    nodes: int = 100,
) -> JacobianMoments:
    """The mean and variance of the squared singular values of a depth-``L`` stack's Jacobian, wide limit.

    ``m1 = (sigma_w2 mu_1)^L`` and ``sigma^2 = m1^2 L (mu_2 / mu_1^2 - 1 - s_1)`` with
    ``mu_k = E[phi'(sqrt(q*) z)^(2k)]`` at the fixed point ``q*`` and ``s_1`` = -1 for
    ``weights="gaussian"``, 0 for ``"orthogonal"`` (Pennington, Schoenholz & Ganguli 2017,
    see the module docstring).  ``W[l]`` is ``(N, N)`` with ``N Var(W_ij) = sigma_w2``.

    >>> jacobian_moments("linear", 1.0, 0.0, 10).spectrum_variance
    10.0
    >>> jacobian_moments("linear", 1.0, 0.0, 10, weights="orthogonal").spectrum_variance
    0.0
    >>> m = jacobian_moments("relu", 2.0, 0.0, 10, weights="orthogonal")
    >>> m.mean_sq_singular_value, m.spectrum_variance
    (1.0, 10.0)
    """
    where = "jacobian_moments"
    w = check_choice(weights, "weights", list(WEIGHTS), where)
    L = check_int(depth, "depth", where, low=1)
    g = resolve(activation, where, method=method, nodes=nodes)
    sw = check_float(sigma_w2, "sigma_w2", where, low=0.0, low_open=True)
    sb = check_float(sigma_b2, "sigma_b2", where, low=0.0)
    q = q_star(activation, sw, sb, method=method, nodes=nodes)
    mu1, mu2 = _slope_moments(g, q)
    s1 = WEIGHTS[w]
    chi = sw * mu1
    with np.errstate(over="ignore"):
        m1 = float(np.float64(chi) ** L)
    var = m1 * m1 * L * (mu2 / mu1**2 - 1.0 - s1) if mu1 > 0.0 else math.nan
    return JacobianMoments(g.name, w, L, sw, sb, q, mu1, mu2, s1, chi, m1, var)


def critical_point(activation: Any, q_star: float, *, method: str = "auto", nodes: int = 100) -> tuple[float, float]:
    """``(sigma_w2, sigma_b2)`` on the order-to-chaos line whose fixed point is ``q*``.

    On the line ``chi_1 = sigma_w2 E[phi'(sqrt(q*) z)^2] = 1``, and ``q*`` is a fixed point of
    the variance map, so ``sigma_w2 = 1 / E[phi'(sqrt(q*) z)^2]`` and ``sigma_b2 = q* -
    sigma_w2 E[phi(sqrt(q*) z)^2]`` (Pennington et al. 2017 pick points on the line by ``q*``).
    An InitlabValueError when that ``sigma_b2`` is negative (no critical point has that ``q*``).
    relu: ``(2, 0)`` for every ``q*``; tanh's ``q*`` grows with ``sigma_b2`` from 0.

    >>> critical_point("relu", 1.0)
    (2.0, 0.0)
    >>> [round(v, 4) for v in critical_point("tanh", 0.25)]
    [1.394, 0.0081]
    >>> round(q_star("tanh", *critical_point("tanh", 0.25)), 10)
    0.25
    """
    where = "critical_point"
    g = resolve(activation, where, method=method, nodes=nodes)
    q = check_float(q_star, "q_star", where, low=0.0, low_open=True)
    mu1, _ = _slope_moments(g, q)
    if not mu1 > 0.0:
        raise InitlabValueError(f"{where}: phi' of {g.name} vanishes at q* = {q!r}: no sigma_w2 makes chi_1 = 1.")
    sw = 1.0 / mu1
    sb = q - sw * float(g.sq(np.asarray(q)))
    if sb < -1e-12 * q:
        raise InitlabValueError(
            f"The 'q_star' argument of {where} must be a fixed point some sigma_b2 >= 0 reaches on the critical "
            f"line of {g.name}. Got {q!r}, which needs sigma_b2 = {sb:.3g}."
        )
    return sw, max(sb, 0.0)


def _specs(weights: str, sw: float, sb: float, width: int) -> tuple[str, str]:
    w = f"normal(std={math.sqrt(sw / width)!r})" if weights == "gaussian" else f"orthogonal(gain={math.sqrt(sw)!r})"
    b = "zeros" if sb == 0.0 else f"normal(std={math.sqrt(sb)!r})"
    return w, b


def measured_spectra(
    activation: Any,
    sigma_w2: float,
    sigma_b2: float,
    depths: Sequence[int],
    width: int,
    *,
    weights: str = "gaussian",
    seeds: Sequence[int] = (0, 1, 2),
    input_seed: int = 0,
) -> dict[int, np.ndarray]:
    """The squared singular values of ``J``, measured on an engine ensemble: ``{depth: (M, width)}``, descending.

    One ensemble of ``M = len(seeds)`` stacks of ``max(depths)`` hidden layers of ``width``
    units (float64), weights ``"normal(std=sqrt(sigma_w2 / width))"`` or
    ``"orthogonal(gain=sqrt(sigma_w2))"``, biases ``"normal(std=sqrt(sigma_b2))"``; one shared
    input ``x`` of ``width`` Gaussian entries (from ``default_rng([input_seed, 1])``, a stream
    apart from every model's ``default_rng(seed)``) scaled to ``||x||^2 / width = (q* - sigma_b2) /
    sigma_w2``, so the first layer's pre-activations already have variance ``q*``.  The
    Jacobian at a depth is that of the stack's first layers
    (:func:`~initlab.engine.jacobian_by_depth`), so the depths share their nets.  Compare
    with :func:`jacobian_moments`: the mean of a row is ``m1``, its variance ``sigma^2``.

    BLAS is held to one thread: the work is many QR factorizations and products of
    moderate matrices, one per model and layer, and on shared cores BLAS threads that wait
    for each other made such calls several times slower.

    >>> s = measured_spectra("linear", 1.0, 0.0, [3], 50, weights="orthogonal", seeds=[0])[3]
    >>> s.shape, bool(np.allclose(s, 1.0))
    ((1, 50), True)
    """
    where = "measured_spectra"
    w = check_choice(weights, "weights", list(WEIGHTS), where)
    n = check_int(width, "width", where, low=1)
    sw = check_float(sigma_w2, "sigma_w2", where, low=0.0, low_open=True)
    sb = check_float(sigma_b2, "sigma_b2", where, low=0.0)
    if isinstance(depths, (str, bytes)) or not isinstance(depths, Sequence) or not depths:
        raise InitlabValueError(
            f"The 'depths' argument of {where} must be a non-empty list of ints >= 1. Got {depths!r} instead."
        )
    ds = sorted({check_int(d, "depths", where, low=1) for d in depths})
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds:
        raise InitlabValueError(f"The 'seeds' argument of {where} must be a non-empty list of ints. Got {seeds!r}.")
    q = q_star(activation, sw, sb)
    from threadpoolctl import threadpool_limits  # imported here: initlab's import stays light

    with threadpool_limits(1, user_api="blas"):
        return _measure(activation, w, sw, sb, q, ds, n, list(seeds), input_seed, where)


def _measure(
    activation: Any,
    w: str,
    sw: float,
    sb: float,
    q: float,
    ds: list[int],
    n: int,
    seeds: list[int],
    input_seed: int,
    where: str,
) -> dict[int, np.ndarray]:
    """:func:`measured_spectra`'s work, once its arguments are checked."""
    net = MLP.make([n] * (ds[-1] + 1) + [1], activation, "mse")
    w_spec, b_spec = _specs(w, sw, sb, n)
    params = init_ensemble(net.layer_dims, seeds=seeds, weights=w_spec, biases=b_spec, dtype=np.float64)
    # the input's own stream: default_rng(k) is model k's, whose first draws are W[1]'s; x drawn from it would
    # line up with a row of that model's first weight matrix
    x = np.random.default_rng([check_int(input_seed, "input_seed", where, low=0), 1]).standard_normal(n)
    x *= math.sqrt(max(q - sb, 0.0) / sw * n) / float(np.linalg.norm(x))
    out = {}
    for d, J in jacobian_by_depth(net, params, x, ds).items():
        out[d] = np.linalg.svd(J, compute_uv=False) ** 2  # (M, width), descending
    return out


def measured_spectrum(
    activation: Any,
    sigma_w2: float,
    sigma_b2: float,
    depth: int,
    width: int,
    *,
    weights: str = "gaussian",
    seeds: Sequence[int] = (0, 1, 2),
    input_seed: int = 0,
) -> np.ndarray:
    """:func:`measured_spectra` at one depth: the squared singular values of ``J``, ``(M, width)``.

    >>> s = measured_spectrum("relu", 2.0, 0.0, 4, 100, weights="gaussian", seeds=[0, 1])
    >>> s.shape, bool(0.7 < s.mean() < 1.3)
    ((2, 100), True)
    """
    return measured_spectra(
        activation, sigma_w2, sigma_b2, [depth], width, weights=weights, seeds=seeds, input_seed=input_seed
    )[check_int(depth, "depth", "measured_spectrum", low=1)]
