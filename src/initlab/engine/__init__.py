"""The engine: a fully connected network in the course's notation, trained on numpy, torch or a fused CPU kernel.

Shapes: ``X`` is ``(n_0, m)``, ``W[l]`` is ``(n_l, n_{l-1})``, ``b[l]`` is ``(n_l, 1)``;
an ensemble of ``M`` models adds a leading axis to every parameter.  Every health
statistic the engine records is defined once, in :data:`METRICS` (``_metrics``).

What is guaranteed about ensembles (details in :func:`train`):

- numpy (``backend="numpy"``, the reference): model ``k`` of an ensemble is model ``k``
  alone, bit for bit (losses, parameters, records), for every activation, loss,
  optimizer, dtype, memory layout and mini-batch setting, given a BLAS that returns the same bits for the
  same call on operands of the same shape and layout;
- numba (the fused kernel): the same, for the kernel's own numbers; they agree with
  numpy's to about 1e-10 in float64 and 1e-5 in float32, not bit for bit;
- torch: the ensemble is one batched computation; model ``k`` agrees with model ``k``
  alone and with numpy to rounding (about 1e-10 in float64), not bit for bit.
"""

from __future__ import annotations

from ._activations import ACTIVATIONS, SATURATION_FRACTION, Activation, get_activation
from ._backends import BACKENDS, namespace, to_backend, to_numpy
from ._jacobian import input_output_jacobian, jacobian_by_depth, layer_jacobians
from ._losses import LOSSES, Loss, course_cost, get_loss
from ._lsuv import LSUVReport, LSUVWarning, lsuv
from ._metrics import (
    CLONE_TOL,
    METRICS,
    Metric,
    activation_mean,
    activation_std,
    clone_groups,
    dead_share,
    distinct_units,
    gradient_norm,
    layer_stats,
    mean_slope,
    numerical_rank,
    saturated_share,
    update_ratio,
)
from ._mlp import (
    MLP,
    Cache,
    Params,
    accuracy,
    accuracy_from_logits,
    backward,
    forward,
    gradient_check,
    loss_and_grads,
    predict,
)
from ._optim import OPTIMIZERS, Adam, GradientDescent, HeavyBall, Momentum, Nesterov, Optimizer, get_optimizer
from ._params import SymmetryWarning, init_ensemble, init_params
from ._training import History, StepInfo, reporting_progress, train

__all__ = [
    "ACTIVATIONS",
    "BACKENDS",
    "CLONE_TOL",
    "LOSSES",
    "METRICS",
    "MLP",
    "OPTIMIZERS",
    "SATURATION_FRACTION",
    "Activation",
    "Adam",
    "Cache",
    "GradientDescent",
    "HeavyBall",
    "History",
    "LSUVReport",
    "LSUVWarning",
    "Loss",
    "Metric",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "Params",
    "StepInfo",
    "SymmetryWarning",
    "accuracy",
    "accuracy_from_logits",
    "activation_mean",
    "activation_std",
    "backward",
    "clone_groups",
    "course_cost",
    "dead_share",
    "distinct_units",
    "forward",
    "get_activation",
    "get_loss",
    "get_optimizer",
    "gradient_check",
    "gradient_norm",
    "init_ensemble",
    "init_params",
    "input_output_jacobian",
    "jacobian_by_depth",
    "layer_jacobians",
    "layer_stats",
    "loss_and_grads",
    "lsuv",
    "mean_slope",
    "namespace",
    "numerical_rank",
    "predict",
    "reporting_progress",
    "saturated_share",
    "to_backend",
    "to_numpy",
    "train",
    "update_ratio",
]
