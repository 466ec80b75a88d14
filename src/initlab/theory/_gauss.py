"""Gaussian expectations of an activation: closed forms where they exist, Gauss-Hermite otherwise.

Everything mean-field theory needs is an expectation over a standard normal ``z``
(or a pair ``z1, z2``) of the activation ``phi`` and its derivative ``phi'``:

- ``E[f(z)] = (2 pi)^(-1/2) int f(x) exp(-x^2 / 2) dx ~= sum_i w_i f(x_i) / sqrt(2 pi)`` with
  the probabilists' Gauss-Hermite nodes ``x_i`` and weights ``w_i``
  (:func:`numpy.polynomial.hermite_e.hermegauss`); exact for polynomials of degree
  ``< 2 n``, spectrally accurate for smooth ``phi`` (tanh, sigmoid, sin...), only
  algebraically accurate across a kink (relu's correlation map: about 1.3e-3 at 100
  nodes, 4.4e-4 at 300), which is why the piecewise-linear activations use their closed
  forms by default.
  Smooth is not enough at large ``q``: ``tanh(sqrt(q) z)`` steepens into a step, and the
  relative error of tanh's ``E[phi^2]`` at 100 nodes (against 300) is 1.6e-11 at ``q = 1``,
  2.8e-5 at ``q = 5`` and 5.5e-3 at ``q = 20`` (at 250 nodes: 1.1e-8 at ``q = 5``); raise
  ``nodes`` (up to 300) for large variances;
- the pair ``u1 = sqrt(q) z1``, ``u2 = sqrt(q) (c z1 + sqrt(1 - c^2) z2)`` (variance ``q``,
  correlation ``c``) on the tensor grid of ``n x n`` nodes.

Closed forms (``method="auto"``) for the piecewise-linear ``phi(u) = relu(u) - a relu(-u)``:
linear (``a = 1``), relu (``a = 0``), leaky_relu (``a`` its negative slope).  With
``K(c) = q (sqrt(1 - c^2) + (pi - arccos c) c) / (2 pi)``, relu's arc-cosine kernel of degree 1
(Cho & Saul 2009), and ``t = arccos c``:

- ``E[phi(u)^2] = (1 + a^2) q / 2``, ``E[phi'(u)^2] = (1 + a^2) / 2``;
- ``E[phi(u1) phi(u2)] = (1 + a^2) K(c) - 2 a K(-c)`` (linear: ``q c``);
- ``E[phi'(u1) phi'(u2)] = ((1 + a^2) (pi - t) + 2 a t) / (2 pi)``.

An activation is a name of :data:`initlab.engine.ACTIVATIONS` (``phi'`` is the engine's
own derivative), an :class:`initlab.engine.Activation`, or a Python callable ``phi``
acting elementwise on a numpy array; a callable's derivative is the central difference
``phi'(x) ~= (phi(x + h) - phi(x - h)) / (2 h)`` with ``h = 1e-6``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from .._validation import InitlabTypeError, InitlabValueError, check_choice, check_int
from ..engine import Activation, get_activation

__all__ = ["METHODS", "Gaussian", "QuadratureWarning", "resolve"]

#: ``"auto"``: closed forms for linear, relu and leaky_relu, quadrature otherwise; ``"quadrature"``: always.
METHODS = ("auto", "quadrature")
_FD_STEP = 1e-6


#: Quadrature warns when ``sqrt(q) pi / sqrt(2 n)`` exceeds this (see :class:`QuadratureWarning`).
RESOLUTION_LIMIT = 0.5


class QuadratureWarning(UserWarning):
    """Gauss-Hermite quadrature is asked for a variance too large for its node count to resolve ``phi``.

    Near ``z = 0`` the ``n`` nodes are about ``pi / sqrt(2 n)`` apart, so a feature of
    ``phi`` of unit width in ``u = sqrt(q) z`` (tanh's bend, a kink's neighbourhood, sin's
    period) spans ``rho = sqrt(q) pi / sqrt(2 n)`` of that spacing.  Measured for tanh's
    ``E[phi^2]``: relative error 1e-8 at ``rho = 0.31``, 3e-5 at 0.5, 5e-3 at 1.0.  It warns
    above ``rho = 0.5``: raise ``nodes`` (up to 300) or keep the variance lower.
    """


@lru_cache(maxsize=16)
def _nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = hermegauss(n)
    return x, w / math.sqrt(2.0 * math.pi)  # weights of the standard normal: they sum to 1


@dataclass(frozen=True)
class Gaussian:
    """Gaussian expectations of one activation (see the module docstring)."""

    name: str
    phi: Callable[[np.ndarray], np.ndarray]
    dphi: Callable[[np.ndarray], np.ndarray]
    neg: float | None  # piecewise linear phi (z for z > 0, neg * z below): closed forms; None: quadrature
    nodes: int

    def check_resolution(self, q: np.ndarray) -> None:
        """Warn with :class:`QuadratureWarning` when quadrature cannot resolve ``phi`` at the largest ``q``."""
        if self.neg is not None:
            return
        top = float(np.max(q)) if np.size(q) else 0.0
        rho = math.sqrt(top) * math.pi / math.sqrt(2.0 * self.nodes) if math.isfinite(top) else math.inf
        if rho > RESOLUTION_LIMIT:
            warnings.warn(
                f"Gauss-Hermite quadrature with {self.nodes} nodes cannot resolve {self.name} at variance q = "
                f"{top:.4g} (sqrt(q) pi / sqrt(2 n) = {rho:.3g} > {RESOLUTION_LIMIT}): expect a relative error "
                "of 1e-4 or worse (tanh: 5e-3 at 1.0). Raise 'nodes' (up to 300) or keep the variance lower.",
                QuadratureWarning,
                stacklevel=4,
            )

    def mean(self, q: np.ndarray) -> np.ndarray:
        """``E[phi(sqrt(q) z)]`` for each entry of ``q`` (any shape): ``(1 - neg) sqrt(q / (2 pi))`` in closed form."""
        if self.neg is not None:
            return np.asarray((1.0 - self.neg) * np.sqrt(q / (2.0 * math.pi)), dtype=np.float64)
        self.check_resolution(q)
        x, w = _nodes(self.nodes)
        return np.asarray(self.phi(np.sqrt(q)[..., None] * x) @ w)

    def sq(self, q: np.ndarray) -> np.ndarray:
        """``E[phi(sqrt(q) z)^2]`` for each entry of ``q`` (any shape)."""
        if self.neg is not None:
            return np.asarray(q * (1.0 + self.neg**2) / 2.0, dtype=np.float64)
        self.check_resolution(q)
        x, w = _nodes(self.nodes)
        u = np.sqrt(q)[..., None] * x  # (*q.shape, n)
        return np.asarray(self.phi(u) ** 2 @ w)

    def dsq(self, q: np.ndarray) -> np.ndarray:
        """``E[phi'(sqrt(q) z)^2]``."""
        if self.neg is not None:
            return np.full_like(q, (1.0 + self.neg**2) / 2.0, dtype=np.float64)
        self.check_resolution(q)
        x, w = _nodes(self.nodes)
        u = np.sqrt(q)[..., None] * x
        return np.asarray(self.dphi(u) ** 2 @ w)

    def dsq_dq(self, q: np.ndarray) -> np.ndarray:
        """``d E[phi(sqrt(q) z)^2] / dq = E[phi(u) phi'(u) z] / sqrt(q)`` (``q`` > 0)."""
        if self.neg is not None:
            return np.full_like(q, (1.0 + self.neg**2) / 2.0, dtype=np.float64)
        x, w = _nodes(self.nodes)
        s = np.sqrt(q)[..., None]
        u = s * x
        return np.asarray((self.phi(u) * self.dphi(u) * x / s) @ w)

    def _pair(self, q: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        self.check_resolution(q)
        x, w = _nodes(self.nodes)
        z1, z2 = x[:, None], x[None, :]
        s, cc = np.sqrt(q)[..., None, None], c[..., None, None]
        u1 = s * z1
        u2 = s * (cc * z1 + np.sqrt(np.maximum(1.0 - cc * cc, 0.0)) * z2)  # (*shape, n, n)
        return u1, u2, w[:, None] * w[None, :]

    def cross(self, q: np.ndarray, c: np.ndarray) -> np.ndarray:
        """``E[phi(u1) phi(u2)]`` for pre-activations of variance ``q`` and correlation ``c`` (broadcast)."""
        q, c = np.broadcast_arrays(q, c)
        if self.neg is not None:  # phi(u) = relu(u) - a relu(-u)
            a = self.neg
            return np.asarray((1.0 + a * a) * _arccos_kernel(q, c) - 2.0 * a * _arccos_kernel(q, -c))
        u1, u2, ww = self._pair(q, c)
        return np.asarray((self.phi(u1) * self.phi(u2) * ww).sum(axis=(-2, -1)))

    def dcross(self, q: np.ndarray, c: np.ndarray) -> np.ndarray:
        """``E[phi'(u1) phi'(u2)]``."""
        q, c = np.broadcast_arrays(q, c)
        if self.neg is not None:  # P(same sign) = (pi - t) / pi, P(opposite signs) = t / pi, t = arccos c
            a, t = self.neg, np.arccos(c)
            return np.asarray(((1.0 + a * a) * (math.pi - t) + 2.0 * a * t) / (2.0 * math.pi) + 0.0 * q)
        u1, u2, ww = self._pair(q, c)
        return np.asarray((self.dphi(u1) * self.dphi(u2) * ww).sum(axis=(-2, -1)))


def _arccos_kernel(q: np.ndarray, c: np.ndarray) -> np.ndarray:
    """``E[relu(u1) relu(u2)] = q (sin t + (pi - t) cos t) / (2 pi)``, ``t = arccos c`` (Cho & Saul 2009)."""
    return np.asarray(q * (np.sqrt(np.maximum(1.0 - c * c, 0.0)) + (math.pi - np.arccos(c)) * c) / (2.0 * math.pi))


def _from_callable(phi: Callable[..., Any]) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[..., Any]]:
    name = getattr(phi, "__name__", "callable")

    def f(u: np.ndarray) -> np.ndarray:
        try:
            out = np.asarray(phi(u), dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InitlabTypeError(
                f"The 'activation' callable {name} must map a numpy array of floats elementwise to one of the same "
                f"shape (e.g. np.tanh, not math.tanh). Calling it on an array of shape {u.shape} raised: {exc}"
            ) from None
        if out.shape != u.shape:
            raise InitlabValueError(
                f"The 'activation' callable {name} must map a numpy array elementwise to one of the same shape. "
                f"Given shape {u.shape}, it returned shape {out.shape}."
            )
        return out

    def df(u: np.ndarray) -> np.ndarray:  # central difference, h = 1e-6
        return np.asarray((f(u + _FD_STEP) - f(u - _FD_STEP)) / (2.0 * _FD_STEP))

    return f, df


def resolve(activation: Any, where: str, *, method: str = "auto", nodes: int = 100) -> Gaussian:
    """The :class:`Gaussian` expectations of ``activation`` (a name, an Activation or a callable)."""
    check_choice(method, "method", METHODS, where)
    n = check_int(nodes, "nodes", where, low=2, high=300)  # numpy's hermegauss overflows near 400 nodes
    if isinstance(activation, (str, Activation)):
        act = get_activation(activation)

        def phi(u: np.ndarray) -> np.ndarray:
            return np.asarray(act.forward(np, u))

        def dphi(u: np.ndarray) -> np.ndarray:
            return np.asarray(act.derivative(np, u, act.forward(np, u)))

        neg = None
        if method == "auto" and (act.name in ("linear", "relu") or act.name.startswith("leaky_relu")):
            neg = -float(phi(np.array([-1.0]))[0])  # linear 1, relu 0, leaky_relu its slope
        return Gaussian(act.name, phi, dphi, neg, n)
    if callable(activation):
        f, df = _from_callable(activation)
        return Gaussian(getattr(activation, "__name__", "callable"), f, df, None, n)
    raise InitlabTypeError(
        f"The 'activation' argument of {where} must be an activation name (e.g. 'tanh'), an Activation or a "
        f"callable phi(z). Got {activation!r} instead."
    )
