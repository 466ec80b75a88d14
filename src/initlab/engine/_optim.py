"""Optimizers: plain gradient descent (the course's), the course's averaged momentum, the papers' heavy-ball and
Nesterov momentum, and Adam.

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

__all__ = ["OPTIMIZERS", "Adam", "GradientDescent", "HeavyBall", "Momentum", "Nesterov", "Optimizer", "get_optimizer"]


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


class HeavyBall(Optimizer):
    """Classical (heavy-ball) momentum, Polyak (1964) in the form of Sutskever et al. (2013), eq. 1-2::

        v     = mu v - lr dtheta        (v = 0 before the first step)
        theta = theta + v

    This is ``torch.optim.SGD(lr=lr, momentum=mu)`` (``dampening=0``, ``nesterov=False``),
    whose buffer ``buf = mu buf + dtheta`` is ``-v / lr`` while ``lr`` stays constant: the two
    agree to rounding, and the first step (``theta - lr dtheta``) is the same bits.  Unlike the
    course's :class:`Momentum` the gradient is not scaled by ``1 - mu``, so the papers'
    learning rates carry over unchanged.  ``v`` has each parameter's shape (with the model
    axis for an ensemble); ``lr`` may be one per model.

    >>> p = {"W1": np.zeros((1, 2))}
    >>> opt = HeavyBall(0.5, momentum=0.5)
    >>> opt.step(p, {"dW1": np.ones((1, 2))}); opt.step(p, {"dW1": np.ones((1, 2))})
    >>> p["W1"]  # v = -0.5, then 0.5 * -0.5 - 0.5 = -0.75
    array([[-1.25, -1.25]])
    """

    name = "heavy_ball"

    def __init__(self, lr: float | Sequence[float], momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = check_float(momentum, "momentum", self.name, low=0.0, high=1.0, high_open=True)
        self.v: dict[str, Any] = {}

    def _velocity(self, key: str, value: Any, g: Any, xp: Any) -> Any:
        """``v = mu v - lr g`` for parameter ``key`` (``-lr g`` at the first step), kept for the next step."""
        v = self.v.get(key)
        rate = self._rate(value, xp)
        self.v[key] = v = -(rate * g) if v is None else self.momentum * v - rate * g
        return v

    def step(self, params: dict[str, Any], grads: dict[str, Any], xp: Any = np) -> None:
        self.t += 1
        for key, value in params.items():
            params[key] = value + self._velocity(key, value, grads["d" + key], xp)


class Nesterov(HeavyBall):
    """Nesterov's accelerated gradient in torch's form (``torch.optim.SGD(lr, momentum=mu, nesterov=True)``)::

        v     = mu v - lr dtheta        (v = 0 before the first step)
        theta = theta + mu v - lr dtheta

    With torch's buffer ``buf = mu buf + dtheta = -v / lr`` this is torch's
    ``theta -= lr (dtheta + mu buf)``: the gradient is taken at ``theta`` and the step looks
    ahead along the new velocity (Sutskever et al. 2013, sec. 3, rewritten at the
    look-ahead point, as in Bengio et al. 2013).  Shapes and per-model ``lr`` as
    :class:`HeavyBall`.

    >>> p = {"W1": np.zeros((1, 2))}
    >>> opt = Nesterov(0.5, momentum=0.5)
    >>> opt.step(p, {"dW1": np.ones((1, 2))})
    >>> p["W1"]  # v = -0.5; 0.5 * -0.5 - 0.5 = -0.75
    array([[-0.75, -0.75]])
    """

    name = "nesterov"

    def step(self, params: dict[str, Any], grads: dict[str, Any], xp: Any = np) -> None:
        self.t += 1
        for key, value in params.items():
            g = grads["d" + key]
            v = self._velocity(key, value, g, xp)
            params[key] = value + (self.momentum * v - self._rate(value, xp) * g)


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


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "gd": GradientDescent,
    "momentum": Momentum,
    "adam": Adam,
    "heavy_ball": HeavyBall,
    "nesterov": Nesterov,
}


def get_optimizer(name: str | Optimizer, lr: float | Sequence[float] = 0.01, **kwargs: Any) -> Optimizer:
    """An optimizer by name (``gd``, ``momentum``, ``adam``, ``heavy_ball``, ``nesterov``) with its learning rate.

    ``kwargs`` go to the class: ``beta`` for ``momentum``; ``beta1``, ``beta2``, ``eps`` for
    ``adam``; ``momentum`` (``mu``, 0.9 when left out) for ``heavy_ball`` and ``nesterov``.

    >>> get_optimizer("nesterov", 0.1, momentum=0.99).momentum
    0.99
    """
    if isinstance(name, Optimizer):
        return name
    cls = OPTIMIZERS[check_choice(name, "optimizer", list(OPTIMIZERS))]
    return cls(lr, **kwargs)
