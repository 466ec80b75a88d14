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

from ..engine import MLP, SATURATION_FRACTION, Params, forward, loss_and_grads

__all__ = [
    "CLONE_TOL",
    "DEAD_SHARE",
    "EXPLODING_RATIO",
    "SATURATED_SHARE",
    "SATURATION_FRACTION",
    "VANISHING_RATIO",
    "LayerReport",
    "clone_groups",
    "cosine_similarity",
    "diagnose",
    "distinct_units",
    "numerical_rank",
]

#: Two units are clones when their weights, bias and activations agree to this, relative to the layer's scale.
CLONE_TOL = 1e-6
#: Verdict "saturated" from this share of units x examples on.
SATURATED_SHARE = 0.5
#: Verdict "dead" from this share of relu units that are 0 on every example on.
DEAD_SHARE = 0.5
#: Verdict "vanishing" when a layer's activation std falls below this fraction of the input's std...
VANISHING_RATIO = 1e-2
#: ... "exploding" when it grows above this multiple of it.
EXPLODING_RATIO = 1e2


def _scale(*arrays: np.ndarray) -> float:
    return max([1e-300] + [float(np.max(np.abs(a))) for a in arrays if a.size])


def clone_groups(features: np.ndarray, tol: float = CLONE_TOL) -> list[list[int]]:
    """Group the rows of ``features`` (one row per unit) that agree to ``tol`` times the largest entry.

    Rows are compared exactly by ``max |row_i - row_j|``; groups are the connected
    pieces of that relation, in order of their first unit.

    >>> clone_groups(np.array([[1.0, 2.0], [3.0, 4.0], [1.0, 2.0]]))
    [[0, 2], [1]]
    """
    f = np.asarray(features, dtype=np.float64)
    n = f.shape[0]
    limit = tol * _scale(f)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Sort the units along a fixed direction d: rows within `limit` of each other (max norm) project within
    # limit * sum|d|, so only neighbours in that order need the exact comparison.  (d only affects speed.)
    d = np.random.default_rng(0).standard_normal(f.shape[1])
    proj = f @ d
    order = np.argsort(proj, kind="stable")
    proj = proj[order]
    bound = limit * float(np.abs(d).sum())
    for a in range(n):
        b = a + 1
        while b < n and proj[b] - proj[a] <= bound:
            i, j = int(order[a]), int(order[b])
            if root(i) != root(j) and float(np.max(np.abs(f[i] - f[j]))) <= limit:
                parent[root(j)] = root(i)
            b += 1
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: g[0])


def distinct_units(w: np.ndarray, b: np.ndarray, a: np.ndarray, tol: float = CLONE_TOL) -> np.ndarray:
    """The number of distinct units of a layer, per model: clone groups of ``[W | b | A]`` rows.

    ``w`` is ``(n_l, n_{l-1})``, ``b`` ``(n_l, 1)``, ``a`` the activations ``(n_l, m)``, each
    with an optional leading model axis; returns an int array ``(M,)`` (``()`` for one model).

    >>> distinct_units(np.zeros((3, 2)), np.zeros((3, 1)), np.ones((3, 5))).tolist()
    1
    """
    rows = np.concatenate([w, b, a], axis=-1)
    if rows.ndim == 2:
        return np.asarray(len(clone_groups(rows, tol)))
    return np.asarray([len(clone_groups(r, tol)) for r in rows])


def numerical_rank(w: np.ndarray) -> tuple[int, float]:
    """The rank of ``w`` and the tolerance used: singular values above ``max(shape) * eps * s_max``.

    >>> numerical_rank(np.ones((3, 4)))[0]
    1
    """
    s = np.linalg.svd(np.asarray(w, dtype=np.float64), compute_uv=False)
    tol = float(max(w.shape) * np.finfo(np.float64).eps * (s[0] if s.size else 0.0))
    return int(np.sum(s > tol)), tol


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
    _, caches = forward(net, params, X)
    grads = loss_and_grads(net, params, X, Y)[1] if Y is not None else None
    input_std = float(np.std(X))
    reports = []
    for l in range(1, net.n_layers):  # hidden layers: the output is the loss's
        w, b = params[f"W{l}"], params[f"b{l}"]
        _, Z, A = caches[l - 1]
        g = net.hidden[l - 1]
        dgz = g.derivative(np, Z, A)
        saturated = float(np.mean(dgz < g.saturation_threshold)) if g.saturating else math.nan
        dead = float(np.mean(~np.any(A != 0, axis=1))) if g.can_die else math.nan
        groups = clone_groups(np.concatenate([w, b, A], axis=1))
        cos = cosine_similarity(A)
        off = cos[~np.eye(len(cos), dtype=bool)]
        rank, rank_tol = numerical_rank(w)
        gn = float(np.linalg.norm(grads[f"dW{l}"])) if grads is not None else math.nan
        wn = float(np.linalg.norm(w))
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
                act_mean=float(np.mean(A)),
                act_std=float(np.std(A)),
                z_std=float(np.std(Z)),
                saturated=saturated,
                dgz_mean=float(np.mean(dgz)),
                dead=dead,
                grad_norm=gn,
                grad_ratio=gn / wn if wn > 0 else math.inf,
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
