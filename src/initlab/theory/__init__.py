"""Mean-field theory of signal propagation at initialization (numpy only).

How the pre-activation variance ``q^l`` and the correlation ``c^l`` of two inputs evolve
with depth in a wide random network with ``W[l] ~ N(0, sigma_w2 / n_{l-1})`` and
``b[l] ~ N(0, sigma_b2)``; where the order-to-chaos line lies (``chi_1 = 1``); how deep a
signal travels (``xi_q``, ``xi_c``).  Poole et al. (2016), Schoenholz et al. (2017).
Closed forms for linear, relu and leaky_relu; Gauss-Hermite quadrature for every other activation.
"""

from __future__ import annotations

from ._gauss import METHODS, QuadratureWarning
from ._meanfield import (
    PhaseDiagram,
    Propagation,
    c_star,
    chi_1,
    correlation_map,
    critical_sigma_w2,
    depth_scales,
    phase_diagram,
    predict_layers,
    q_star,
    variance_map,
)

__all__ = [
    "METHODS",
    "PhaseDiagram",
    "Propagation",
    "QuadratureWarning",
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
