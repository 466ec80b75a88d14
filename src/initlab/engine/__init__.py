"""The engine: a fully connected network in the course's notation, trained on numpy, torch or a fused CPU kernel.

Shapes: ``X`` is ``(n_0, m)``, ``W[l]`` is ``(n_l, n_{l-1})``, ``b[l]`` is ``(n_l, 1)``;
an ensemble of ``M`` models adds a leading axis to every parameter.  Every health
statistic the engine records is defined once, in :data:`METRICS`.
"""

from __future__ import annotations

from ._activations import ACTIVATIONS, SATURATION_FRACTION, Activation, get_activation
from ._backends import BACKENDS, namespace, to_backend, to_numpy
from ._losses import LOSSES, Loss, course_cost, get_loss
from ._metrics import METRICS, layer_stats
from ._mlp import MLP, Cache, Params, accuracy, backward, forward, gradient_check, loss_and_grads, predict
from ._optim import OPTIMIZERS, Adam, GradientDescent, Momentum, Optimizer, get_optimizer
from ._params import SymmetryWarning, init_ensemble, init_params
from ._training import History, StepInfo, reporting_progress, train

__all__ = [
    "ACTIVATIONS",
    "BACKENDS",
    "LOSSES",
    "METRICS",
    "MLP",
    "OPTIMIZERS",
    "SATURATION_FRACTION",
    "Activation",
    "Adam",
    "Cache",
    "GradientDescent",
    "History",
    "Loss",
    "Momentum",
    "Optimizer",
    "Params",
    "StepInfo",
    "SymmetryWarning",
    "accuracy",
    "backward",
    "course_cost",
    "forward",
    "get_activation",
    "get_loss",
    "get_optimizer",
    "gradient_check",
    "init_ensemble",
    "init_params",
    "layer_stats",
    "loss_and_grads",
    "namespace",
    "predict",
    "reporting_progress",
    "to_backend",
    "to_numpy",
    "train",
]
