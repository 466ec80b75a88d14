"""Is this start healthy?  Symmetry (cloned units), saturation, dead units, signal and gradient flow.

Everything works on the parameters of one model or of an ensemble (a leading model
axis ``M``) and on data ``X`` (examples as columns).  Tolerances and thresholds are
module constants, named in every report, so a verdict can be traced to its numbers.

Clones
------
Units ``i`` and ``j`` of layer ``l`` are clones when their incoming weights and bias
(row ``i`` of ``[W[l] | b[l]]``) and their activations on the data (row ``i`` of
``A[l]``) agree to within ``CLONE_TOL`` times the largest magnitude among them.
Clones compute the same function; under gradient descent they receive the same
update, so they stay clones (the lecture's proof by induction).  A layer of ``n``
units in ``k`` clone groups acts as ``k`` units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engine import (
    CLONE_TOL,
    MLP,
    SATURATION_FRACTION,
    Params,
    activation_mean,
    activation_std,
    backward,
    clone_groups,
    dead_share,
    forward,
    gradient_norm,
    mean_slope,
    numerical_rank,
    saturated_share,
    update_ratio,
)

__all__ = ["DEAD_SHARE", "EXPLODING_RATIO", "SATURATED_SHARE", "VANISHING_RATIO", "LayerReport", "cosine_similarity",
           "diagnose"]  # fmt: skip

#: Verdict "saturated" from this share of units x examples on.
SATURATED_SHARE = 0.5
#: Verdict "dead" from this share of relu units that are 0 on every example on.
DEAD_SHARE = 0.5
#: Verdict "vanishing" when a layer's activation std falls below this fraction of the input's std...
VANISHING_RATIO = 1e-2
#: ... "exploding" when it grows above this multiple of it.
EXPLODING_RATIO = 1e2


def cosine_similarity(a: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of the rows of ``a`` (units x examples); NaN for an all-zero unit."""
    a = np.asarray(a, dtype=np.float64)
    norms = np.linalg.norm(a, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = a / norms[:, None]
    out: np.ndarray = np.clip(unit @ unit.T, -1.0, 1.0)
    return out


@dataclass
class LayerReport:
    """The health of one layer of one model, and the numbers behind its verdict."""

    layer: int
    units: int
    activation: str
    distinct_units: int
    clone_groups: list[list[int]]
    rank: int
    rank_tol: float
    mean_abs_cosine: float
    act_mean: float
    act_std: float
    z_std: float
    saturated: float
    dgz_mean: float
    dead: float
    grad_norm: float
    grad_ratio: float
    verdict: str
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dict(self.__dict__)


def _verdict(r: LayerReport, input_std: float, max_grad: float) -> tuple[str, list[str]]:
    reasons = []
    if r.units > 1 and r.distinct_units < r.units:
        reasons.append(f"symmetric: {r.distinct_units} distinct of {r.units} units (clone tolerance {CLONE_TOL:g})")
    if not math.isnan(r.dead) and r.dead >= DEAD_SHARE:
        reasons.append(f"dead: {r.dead:.0%} of units are 0 on every example (threshold {DEAD_SHARE:.0%})")
    if not math.isnan(r.saturated) and r.saturated >= SATURATED_SHARE:
        reasons.append(f"saturated: {r.saturated:.0%} of units x examples have g'(z) < {SATURATION_FRACTION} g'(0)")
    ratio = r.act_std / input_std if input_std > 0 else math.nan
    if ratio > EXPLODING_RATIO or not math.isfinite(r.act_std):
        reasons.append(f"exploding: activation std {r.act_std:.3g} is {ratio:.3g} x the input's")
    elif ratio < VANISHING_RATIO:
        reasons.append(f"vanishing: activation std {r.act_std:.3g} is {ratio:.3g} x the input's")
    elif max_grad > 0 and r.grad_norm < VANISHING_RATIO * max_grad:
        reasons.append(f"vanishing: ||dW|| {r.grad_norm:.3g} is {r.grad_norm / max_grad:.3g} x the largest layer's")
    verdict = reasons[0].split(":")[0] if reasons else "healthy"
    return verdict, reasons


def _one_model(net: MLP, params: Params, X: np.ndarray, Y: np.ndarray | None) -> list[LayerReport]:
    ZL, caches = forward(net, params, X)
    grads = backward(net, params, caches, net.loss.grad(np, ZL, Y)) if Y is not None else None
    input_std = float(activation_std(np, X))
    reports = []
    for l in range(1, net.n_layers):  # hidden layers: the output is the loss's
        w, b = params[f"W{l}"], params[f"b{l}"]
        _, Z, A = caches[l - 1]
        g = net.hidden[l - 1]
        groups = clone_groups(np.concatenate([w, b, A], axis=1))
        cos = cosine_similarity(A)
        off = cos[~np.eye(len(cos), dtype=bool)]
        rank, rank_tol = numerical_rank(w)
        dw = None if grads is None else grads[f"dW{l}"]
        reports.append(
            LayerReport(
                layer=l,
                units=w.shape[0],
                activation=g.name,
                distinct_units=len(groups),
                clone_groups=[grp for grp in groups if len(grp) > 1],
                rank=rank,
                rank_tol=rank_tol,
                mean_abs_cosine=float(np.nanmean(np.abs(off))) if off.size and not np.isnan(off).all() else math.nan,
                act_mean=float(activation_mean(np, A)),
                act_std=float(activation_std(np, A)),
                z_std=float(activation_std(np, Z)),
                saturated=float(saturated_share(np, g, Z, A)),
                dgz_mean=float(mean_slope(np, g, Z, A)),
                dead=float(dead_share(np, g, A)),
                grad_norm=math.nan if dw is None else float(gradient_norm(np, dw)),
                grad_ratio=math.nan if dw is None else float(update_ratio(np, dw, w)),
                verdict="",
            )
        )
    max_grad = max((r.grad_norm for r in reports if math.isfinite(r.grad_norm)), default=0.0)
    for r in reports:
        r.verdict, r.reasons = _verdict(r, input_std, max_grad)
    return reports


def diagnose(net: MLP, params: Params, X: Any, Y: Any = None) -> list[list[LayerReport]]:
    """One report per hidden layer, for each model: ``result[k][l - 1]`` is model k's layer l.

    With ``Y`` the gradients of the loss enter the report (``grad_norm``, ``grad_ratio``
    and the vanishing-gradient rule); without it they are NaN.  Verdicts, first rule
    that applies: ``symmetric``, ``dead``, ``saturated``, ``exploding``,
    ``vanishing``, else ``healthy``; ``reasons`` lists every rule that applied with its
    numbers.

    >>> from initlab.engine import init_params
    >>> net = MLP.make([2, 4, 1], "tanh")
    >>> import warnings; warnings.simplefilter("ignore")
    >>> p = init_params(net.layer_dims, weights="zeros", rng=0)
    >>> r = diagnose(net, p, np.random.default_rng(0).standard_normal((2, 10)))[0][0]
    >>> r.verdict, r.distinct_units, r.rank
    ('symmetric', 1, 0)
    """
    X = np.asarray(X, dtype=np.float64)
    Y = None if Y is None else np.asarray(Y, dtype=np.float64)
    if params["W1"].ndim == 2:
        return [_one_model(net, params, X, Y)]
    return [_one_model(net, {k: v[m] for k, v in params.items()}, X, Y) for m in range(params["W1"].shape[0])]
