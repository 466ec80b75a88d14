"""Mean-field theory of signal propagation at initialization (numpy only).

How the pre-activation variance ``q^l`` and the correlation ``c^l`` of two inputs evolve
with depth in a wide random network with ``W[l] ~ N(0, sigma_w2 / n_{l-1})`` and
``b[l] ~ N(0, sigma_b2)``; where the order-to-chaos line lies (``chi_1 = 1``); how deep a
signal travels (``xi_q``, ``xi_c``).  Poole et al. (2016), Schoenholz et al. (2017).
The spectrum of the input-output Jacobian at that fixed point, and how far it is from
dynamical isometry (Pennington, Schoenholz & Ganguli 2017), predicted and measured on engine ensembles.
Closed forms for linear, relu and leaky_relu; Gauss-Hermite quadrature for every other activation.
"""

from __future__ import annotations

from ._gauss import METHODS, QuadratureWarning
from ._jacobian import (
    WEIGHTS,
    JacobianMoments,
    critical_point,
    jacobian_moments,
    measured_spectra,
    measured_spectrum,
)
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
    "WEIGHTS",
    "JacobianMoments",
    "PhaseDiagram",
    "Propagation",
    "QuadratureWarning",
    "c_star",
    "chi_1",
    "correlation_map",
    "critical_point",
    "critical_sigma_w2",
    "depth_scales",
    "jacobian_moments",
    "measured_spectra",
    "measured_spectrum",
    "phase_diagram",
    "predict_layers",
    "q_star",
    "variance_map",
]
