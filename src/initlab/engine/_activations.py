"""Activation functions, each with its derivative written next to it.

An activation is applied elementwise: ``A = g(Z)``; backpropagation needs
``g'(Z)`` to turn ``dA`` into ``dZ = dA * g'(Z)``.  Every function takes the array
namespace ``xp`` first (``numpy``, or torch's through ``array-api-compat``), so the
same formulas run on every backend.  Derivatives receive both ``Z`` and ``A``
because some are cheapest from the output (tanh: ``1 - A^2``).

Saturation and dead units
-------------------------
``saturating`` activations (tanh, sigmoid) have flat ends where ``|g'(z)|`` is
tiny and gradients vanish (the lecture's warning about large weights); ``can_die``
activations (relu) output 0 with derivative 0 for every ``z < 0``, so a unit whose
pre-activation is negative on every example never learns again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import InitlabValueError, check_choice, check_float
from ..spec import parse_spec

__all__ = ["ACTIVATIONS", "SATURATION_FRACTION", "Activation", "get_activation", "stable_sigmoid"]

#: A tanh/sigmoid unit counts as saturated on an example where g'(z) < SATURATION_FRACTION * g'(0)
#: (for tanh: |a| > 0.99).  Shared by the training records and the diagnostics.
SATURATION_FRACTION = 0.02

_SELU_ALPHA = 1.6732632423543772848170429916717  # Klambauer et al. (2017)
_SELU_SCALE = 1.0507009873554804934193349852946
_GELU_C = math.sqrt(2.0 / math.pi)


@dataclass(frozen=True)
class Activation:
    """An elementwise activation ``g`` with its derivative ``g'``.

    ``forward(xp, Z) -> A`` and ``derivative(xp, Z, A) -> g'(Z)``; ``saturating``
    and ``can_die`` say which health checks apply (see the module docstring).
    """

    name: str
    forward: Callable[[Any, Any], Any]
    derivative: Callable[[Any, Any, Any], Any]
    saturating: bool = False
    can_die: bool = False

    def __call__(self, z: Any, xp: Any = np) -> Any:
        return self.forward(xp, z)

    @property
    def saturation_threshold(self) -> float:
        """``SATURATION_FRACTION * g'(0)``: where ``g'(z)`` falls below it, the unit is saturated."""
        zero = np.zeros(1)
        return SATURATION_FRACTION * float(self.derivative(np, zero, self.forward(np, zero))[0])

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


def stable_sigmoid(xp: Any, z: Any) -> Any:
    """1 / (1 + exp(-z)) for z >= 0 and exp(z) / (1 + exp(z)) for z < 0: never exp of a large positive number."""
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _linear(xp: Any, z: Any) -> Any:  # g(z) = z
    return z


def _d_linear(xp: Any, z: Any, a: Any) -> Any:  # g'(z) = 1
    return xp.ones_like(z)


def _sigmoid(xp: Any, z: Any) -> Any:  # g(z) = 1 / (1 + e^-z)
    return stable_sigmoid(xp, z)


def _d_sigmoid(xp: Any, z: Any, a: Any) -> Any:  # g'(z) = g(z) (1 - g(z))
    return a * (1.0 - a)


def _tanh(xp: Any, z: Any) -> Any:  # g(z) = tanh z
    return xp.tanh(z)


def _d_tanh(xp: Any, z: Any, a: Any) -> Any:  # g'(z) = 1 - tanh(z)^2
    return 1.0 - a * a


def _relu(xp: Any, z: Any) -> Any:  # g(z) = max(z, 0)
    return xp.where(z > 0, z, 0.0)


def _d_relu(xp: Any, z: Any, a: Any) -> Any:  # g'(z) = 1 if z > 0 else 0 (0 at the kink, as the course)
    return xp.astype(z > 0, z.dtype)


def _leaky_relu(slope: float) -> tuple[Callable[[Any, Any], Any], Callable[[Any, Any, Any], Any]]:
    def forward(xp: Any, z: Any) -> Any:  # g(z) = z if z > 0 else slope * z
        return xp.where(z > 0, z, z * slope)

    def derivative(xp: Any, z: Any, a: Any) -> Any:  # g'(z) = 1 if z > 0 else slope
        return xp.where(z > 0, xp.ones_like(z), xp.full_like(z, slope))

    return forward, derivative


def _elu(xp: Any, z: Any) -> Any:  # g(z) = z if z > 0 else e^z - 1
    return xp.where(z > 0, z, xp.expm1(xp.minimum(z, xp.zeros_like(z))))


def _d_elu(xp: Any, z: Any, a: Any) -> Any:  # g'(z) = 1 if z > 0 else e^z (= g(z) + 1)
    return xp.where(z > 0, 1.0, a + 1.0)


def _selu(xp: Any, z: Any) -> Any:  # g(z) = scale * (z if z > 0 else alpha (e^z - 1))
    return _SELU_SCALE * xp.where(z > 0, z, _SELU_ALPHA * xp.expm1(xp.minimum(z, xp.zeros_like(z))))


def _d_selu(xp: Any, z: Any, a: Any) -> Any:  # g'(z) = scale if z > 0 else g(z) + scale * alpha
    return xp.where(z > 0, _SELU_SCALE, a + _SELU_SCALE * _SELU_ALPHA)


def _silu(xp: Any, z: Any) -> Any:  # g(z) = z sigmoid(z)  (swish, Ramachandran et al. 2017)
    return z * stable_sigmoid(xp, z)


def _d_silu(xp: Any, z: Any, a: Any) -> Any:  # g'(z) = s (1 + z (1 - s)), s = sigmoid(z)
    s = stable_sigmoid(xp, z)
    return s * (1.0 + z * (1.0 - s))


def _gelu(xp: Any, z: Any) -> Any:  # g(z) = z/2 (1 + tanh(c (z + 0.044715 z^3))), c = sqrt(2/pi)
    return 0.5 * z * (1.0 + xp.tanh(_GELU_C * (z + 0.044715 * z * z * z)))


def _d_gelu(xp: Any, z: Any, a: Any) -> Any:  # g'(z) = (1 + t)/2 + z/2 (1 - t^2) c (1 + 3 * 0.044715 z^2)
    t = xp.tanh(_GELU_C * (z + 0.044715 * z * z * z))
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * _GELU_C * (1.0 + 3.0 * 0.044715 * z * z)


_lrelu_fwd, _lrelu_d = _leaky_relu(0.01)

#: The activations by name.  gelu is the tanh approximation (Hendrycks & Gimpel 2016;
#: torch's ``gelu(approximate='tanh')``), which needs no erf.
ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("linear", _linear, _d_linear),
        Activation("sigmoid", _sigmoid, _d_sigmoid, saturating=True),
        Activation("tanh", _tanh, _d_tanh, saturating=True),
        Activation("relu", _relu, _d_relu, can_die=True),
        Activation("leaky_relu", _lrelu_fwd, _lrelu_d),
        Activation("elu", _elu, _d_elu),
        Activation("selu", _selu, _d_selu),
        Activation("silu", _silu, _d_silu),
        Activation("gelu", _gelu, _d_gelu),
    )
}


def get_activation(spec: str | Activation) -> Activation:
    """An activation by name, or ``"leaky_relu(slope=0.2)"`` for another negative slope.

    >>> get_activation("tanh").name
    'tanh'
    >>> import numpy as np
    >>> get_activation("leaky_relu(slope=0.2)")(np.array([-1.0, 2.0]))
    array([-0.2,  2. ])
    """
    if isinstance(spec, Activation):
        return spec
    name, kwargs = parse_spec(spec, "get_activation") if isinstance(spec, str) else (spec, {})
    if name == "leaky_relu" and kwargs:
        if set(kwargs) != {"slope"}:
            raise InitlabValueError(
                f"The activation 'leaky_relu' takes the argument: slope. Got {sorted(kwargs)!r} instead."
            )
        slope = check_float(kwargs["slope"], "slope", "leaky_relu")
        forward, derivative = _leaky_relu(slope)
        return Activation(f"leaky_relu(slope={slope!r})", forward, derivative)
    if name not in ACTIVATIONS or kwargs:
        check_choice(name, "activation", list(ACTIVATIONS))
        raise InitlabValueError(f"The activation {name!r} takes no arguments. Got {kwargs!r} instead.")
    return ACTIVATIONS[name]
