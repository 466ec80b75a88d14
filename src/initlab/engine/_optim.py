"""Optimizers: plain gradient descent (the course's), momentum and Adam.

Each updates a parameter dict in place from a gradient dict (``dW1`` for ``W1``).
The learning rate is a float, or one per model for an ensemble (a sequence of
``M`` floats, broadcast over each model's slice), so a sweep over learning rates
is one batched computation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import InitlabValueError, check_choice, check_float

__all__ = ["OPTIMIZERS", "Adam", "GradientDescent", "Momentum", "Optimizer", "get_optimizer"]


def _check_lr(lr: Any, where: str) -> float | tuple[float, ...]:
    if isinstance(lr, (Sequence, np.ndarray)) and not isinstance(lr, (str, bytes)):
        values = tuple(check_float(v, "lr", where, low=0.0) for v in np.asarray(lr, dtype=float).ravel())
        if not values:
            raise InitlabValueError(f"The 'lr' argument of {where} must be a float or a non-empty list. Got {lr!r}.")
        return values
    return check_float(lr, "lr", where, low=0.0)


class Optimizer:
    """Base class: ``step(params, grads, xp)`` updates ``params`` in place."""

    name = "optimizer"

    def __init__(self, lr: float | Sequence[float]) -> None:
        self.lr = _check_lr(lr, self.name)
        self._lr_cache: dict[tuple[int, str], Any] = {}
        self.t = 0

    def _rate(self, value: Any, xp: Any) -> Any:
        """The learning rate shaped to broadcast against ``value``: a float, or ``(M, 1, 1)``."""
        if isinstance(self.lr, float):
            return self.lr
        if value.ndim != 3 or value.shape[0] != len(self.lr):
            raise InitlabValueError(
                f"The 'lr' argument of {self.name} has {len(self.lr)} entries (one per model) but the parameters "
                f"have shape {tuple(value.shape)}: an ensemble of that many models is needed."
            )
        key = (id(xp), str(value.dtype))
        if key not in self._lr_cache:
            rate = xp.asarray(self.lr, dtype=value.dtype)
            if hasattr(value, "device") and not isinstance(value, np.ndarray):
                rate = xp.asarray(rate, device=value.device)
            self._lr_cache[key] = xp.reshape(rate, (len(self.lr), 1, 1))
        return self._lr_cache[key]

    def step(self, params: dict[str, Any], grads: dict[str, Any], xp: Any = np) -> None:  # pragma: no cover
        raise NotImplementedError

    def rates(self, n_models: int, where: str = "train", arg: str = "lr") -> list[float]:
        """The learning rate of each of ``n_models`` models (checks that a list has one per model)."""
        if isinstance(self.lr, float):
            return [self.lr] * n_models
        if len(self.lr) != n_models:
            what = "a single model" if n_models == 1 else f"an ensemble of {n_models} models"
            raise InitlabValueError(
                f"The {arg!r} argument of {where} has {len(self.lr)} learning rates (one per model) but 'params' "
                f"hold {what}. Give one float, or one per model."
            )
        return list(self.lr)


class GradientDescent(Optimizer):
    """``theta = theta - lr * dtheta`` (the course's update).

    >>> p = {"W1": np.ones((1, 2))}
    >>> GradientDescent(0.5).step(p, {"dW1": np.ones((1, 2))})
    >>> p["W1"]
    array([[0.5, 0.5]])
    """

    name = "gd"

    def step(self, params: dict[str, Any], grads: dict[str, Any], xp: Any = np) -> None:
        self.t += 1
        for key, value in params.items():
            params[key] = value - self._rate(value, xp) * grads["d" + key]


class Momentum(Optimizer):
    """``v = beta v + (1 - beta) dtheta;  theta = theta - lr v`` (the course's C2W2 form)."""

    name = "momentum"

    def __init__(self, lr: float | Sequence[float], beta: float = 0.9) -> None:
        super().__init__(lr)
        self.beta = check_float(beta, "beta", "momentum", low=0.0, high=1.0, high_open=True)
        self.v: dict[str, Any] = {}

    def step(self, params: dict[str, Any], grads: dict[str, Any], xp: Any = np) -> None:
        self.t += 1
        for key, value in params.items():
            g = grads["d" + key]
            v = self.v.get(key)
            self.v[key] = v = (1.0 - self.beta) * g if v is None else self.beta * v + (1.0 - self.beta) * g
            params[key] = value - self._rate(value, xp) * v


class Adam(Optimizer):
    """Kingma & Ba (2015): first and second moment estimates with bias correction.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``theta -= lr * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - b1^t)``,
    ``v_hat = v / (1 - b2^t)``.
    """

    name = "adam"

    def __init__(
        self, lr: float | Sequence[float] = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        super().__init__(lr)
        self.beta1 = check_float(beta1, "beta1", "adam", low=0.0, high=1.0, high_open=True)
        self.beta2 = check_float(beta2, "beta2", "adam", low=0.0, high=1.0, high_open=True)
        self.eps = check_float(eps, "eps", "adam", low=0.0, low_open=True)
        self.m: dict[str, Any] = {}
        self.v: dict[str, Any] = {}

    def step(self, params: dict[str, Any], grads: dict[str, Any], xp: Any = np) -> None:
        self.t += 1
        c1 = 1.0 - self.beta1**self.t
        c2 = 1.0 - self.beta2**self.t
        for key, value in params.items():
            g = grads["d" + key]
            m = self.m.get(key)
            v = self.v.get(key)
            self.m[key] = m = (1.0 - self.beta1) * g if m is None else self.beta1 * m + (1.0 - self.beta1) * g
            self.v[key] = v = (1.0 - self.beta2) * g * g if v is None else self.beta2 * v + (1.0 - self.beta2) * g * g
            params[key] = value - self._rate(value, xp) * (m / c1) / (xp.sqrt(v / c2) + self.eps)


OPTIMIZERS: dict[str, type[Optimizer]] = {"gd": GradientDescent, "momentum": Momentum, "adam": Adam}


def get_optimizer(name: str | Optimizer, lr: float | Sequence[float] = 0.01, **kwargs: Any) -> Optimizer:
    """An optimizer by name (``gd``, ``momentum``, ``adam``) with its learning rate."""
    if isinstance(name, Optimizer):
        return name
    cls = OPTIMIZERS[check_choice(name, "optimizer", list(OPTIMIZERS))]
    return cls(lr, **kwargs)
