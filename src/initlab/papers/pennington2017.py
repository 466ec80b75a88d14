"""Pennington, Schoenholz & Ganguli (2017): dynamical isometry, orthogonal weights and the sigmoid's comeback.

The input-output Jacobian ``J = D_L W[L] ... D_1 W[1]`` (``D_l = diag(phi'(Z[l]))``) of a deep
random network at criticality (``chi_1 = 1``) has mean squared singular value ``m1 = 1`` at every
depth, but the spread of its squared singular values (the eigenvalues of ``J J^T``) grows as::

    sigma^2_{JJ^T} / m1^2 = L (mu_2 / mu_1^2 - 1 - s_1),   mu_k = E[phi'(sqrt(q*) z)^(2k)]

with ``s_1 = -1`` for Gaussian weights and ``0`` for orthogonal ones (see
:mod:`initlab.theory`'s ``jacobian_moments``).  relu has ``mu_2 / mu_1^2 = 2`` at every ``q*``:
its spread grows as ``2 L`` (Gaussian) or ``L`` (orthogonal); tanh's ``mu_2 / mu_1^2 - 1`` vanishes
as ``q* -> 0``, so orthogonal tanh at a small ``q*`` is nearly isometric at any depth (all
singular values near 1) while Gaussian tanh still spreads as ``L``.

Here: tanh at the critical point whose fixed point is ``q*`` (``tanh_q_star``, 1/64 by default:
``sigma_w2 = 1 / mu_1``, ``sigma_b2 = q* - sigma_w2 E[tanh(sqrt(q*) z)^2]``, from
:func:`initlab.theory.critical_point`) and relu at ``sigma_w2 = 2, sigma_b2 = 0``, each with
Gaussian and orthogonal weights, ``seeds`` nets of ``max(depths)`` hidden layers of ``width``
units; the Jacobian at each depth is that of the first layers of the same nets, at one input
whose pre-activations sit at ``q*``.

Tolerances (stated once, used by the findings):

- the normalized variance ``v = var / mean^2`` of one net's squared singular values, averaged
  over seeds, matches the prediction within ``(0.15 + L / N)`` times the prediction plus two
  standard errors of the seed mean (finite width ``N`` adds corrections of relative order
  ``L / N``; one net's ``v`` scatters by about 20 % at ``L = 32``, and more, relatively, where
  ``v`` is small: a shallow orthogonal tanh stack's ``v`` is a sample variance of ``L N`` slopes);
- a slope of ``v`` against depth (least squares through the origin, one per seed) matches the
  predicted per-layer variance within the same tolerance, taken at the deepest depth;
- the mean squared singular value ``m1`` is 1: the seed mean of ``ln m1`` is within ``0.05 + 3 sqrt(4 L
  / N) / sqrt(seeds)`` of 0.  One net's ``m1`` is a product of ``L`` layer gains, each a chi-square-like
  ratio of relative variance up to ``4 / N`` (relu with Gaussian weights: about ``N / 2`` active units),
  so ``ln m1`` scatters by up to ``sqrt(4 L / N)`` and ``m1`` itself is skewed (its mean over two or
  three nets is no steady number).  Off criticality the same check would see ``chi_1^L``: ``1.1^32 = 21``,
  ``ln = 3.0``;
- near isometry: orthogonal tanh's ``v`` at the deepest depth is below 10 % of Gaussian tanh's
  and below 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from .._validation import InitlabValueError
from ..experiments import Result, Settings, setting
from ..theory import critical_point, jacobian_moments, measured_spectra
from ._common import Finding, Paper, paper_result, spread

__all__ = ["PAPER", "Config", "run"]

PAPER = Paper(
    authors="Pennington, Schoenholz & Ganguli",
    year=2017,
    title="Resurrecting the sigmoid in deep learning through dynamical isometry: theory and practice",
    venue="NeurIPS",
    setup=(
        "Deep fully connected tanh and relu networks at criticality (chi_1 = 1), Gaussian or orthogonal "
        "weights; the spectrum of the input-output Jacobian J computed by free probability and measured "
        "on wide random networks (widths of order 1000) at depths up to 128, at inputs on the fixed point q*."
    ),
    claim=(
        "Orthogonal tanh networks at a small q* achieve dynamical isometry (the squared singular values of J "
        "stay near 1 at any depth), while Gaussian weights, and relu with either weights, spread them in "
        "proportion to depth: variance L (mu_2/mu_1^2 - 1 - s_1)."
    ),
    scaled=(
        "The default measures width 200 at depths 2, 8, 32 with 5 seeds (a few seconds); `initlab reproduce "
        "pennington2017 --full` runs width 1000 at depths 2, 8, 32, 128 with 3 seeds (about 8 minutes on two "
        "shared cores, 3.2 GB of memory). The spectra are measured at initialization only (the paper's "
        "training-speed experiments are not reproduced); the depths share the first layers of the same nets."
    ),
)

_CASES = (("tanh", "orthogonal"), ("tanh", "gaussian"), ("relu", "orthogonal"), ("relu", "gaussian"))
_MEMORY_CAP = 6e9  # bytes of float64 weights one (activation, weights) ensemble may hold


@dataclass(frozen=True)
class Config(Settings):
    """The spectra of ``J`` for tanh and relu, Gaussian and orthogonal weights, at criticality."""

    EXPERIMENT = "pennington2017"
    COMMAND = "reproduce"
    FULL: ClassVar[dict[str, Any]] = {"width": 1000, "depths": (2, 8, 32, 128), "seeds": 3}

    seeds: int = setting(5, "nets (seeds) per activation and weight ensemble", low=1, high=1000)
    width: int = setting(200, "units per hidden layer (N); the input has as many", low=2, high=4000)
    depths: tuple[int, ...] = setting((2, 8, 32), "depths L at which the spectrum of J is measured", low=1, high=1024)
    tanh_q_star: float = setting(
        1 / 64, "tanh's fixed point q* on the critical line (small: near isometry)", low=0.0, high=4.0, low_open=True
    )

    def check_together(self) -> None:
        need = 8.0 * self.seeds * self.width**2 * max(self.depths)
        if need > _MEMORY_CAP:
            raise InitlabValueError(
                f"The 'width', 'depths' and 'seeds' settings of {self.EXPERIMENT} need {need / 1e9:.1f} GB of weights "
                f"(8 bytes x seeds x width^2 x max depth); at most {_MEMORY_CAP / 1e9:.0f} GB is allowed. Got width "
                f"{self.width}, max depth {max(self.depths)}, seeds {self.seeds}."
            )
        try:
            critical_point("tanh", self.tanh_q_star)
        except InitlabValueError:
            raise InitlabValueError(
                f"The 'tanh_q_star' setting of {self.EXPERIMENT} must be a fixed point on tanh's critical line "
                f"(sigma_b2 >= 0). Got {self.tanh_q_star!r} instead."
            ) from None


def _se(values: np.ndarray) -> float:
    """The standard error of the mean over seeds (0 for one seed)."""
    return float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else 0.0


def _slopes(depths: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Least-squares slope through the origin of ``v`` (``(depths, seeds)``) against depth, one per seed."""
    return np.asarray((depths[:, None] * v).sum(axis=0) / float((depths**2).sum()))


def run(config: Config | None = None) -> Result:
    """Measure and predict the spectra of ``J``; compare with the paper's claims (see the module docstring)."""
    cfg = config or Config()
    points = {"tanh": critical_point("tanh", cfg.tanh_q_star), "relu": (2.0, 0.0)}
    depths = np.asarray(sorted(cfg.depths), dtype=np.float64)
    seeds = list(range(cfg.seeds))
    N = cfg.width
    rows: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {"depths": depths}
    v_meas: dict[tuple[str, str], np.ndarray] = {}  # (depths, seeds): var / mean^2
    m1_meas: dict[tuple[str, str], np.ndarray] = {}
    v_pred: dict[tuple[str, str], np.ndarray] = {}
    per_layer: dict[tuple[str, str], float] = {}
    for i, (act, w) in enumerate(_CASES):
        sw, sb = points[act]
        spectra = measured_spectra(act, sw, sb, list(cfg.depths), N, weights=w, seeds=seeds)
        preds = [jacobian_moments(act, sw, sb, int(d), weights=w) for d in depths]
        per_layer[act, w] = preds[0].per_layer_variance
        v_pred[act, w] = np.array([p.spectrum_variance / p.mean_sq_singular_value**2 for p in preds])
        m1s, vs = [], []
        for j, d in enumerate(int(x) for x in depths):
            s = spectra[d]  # (seeds, N) squared singular values, descending
            m1, var = s.mean(axis=1), s.var(axis=1)
            v = var / m1**2
            m1s.append(m1)
            vs.append(v)
            arrays[f"{act}/{w}/depth{d}/singular_values"] = np.sqrt(s)
            for k in seeds:
                base = {"model": i * cfg.seeds + k, "step": 0, "layer": d, "activation": act, "weights": w,
                        "depth": d, "seed": k, "width": N, "sigma_w2": sw, "sigma_b2": sb}  # fmt: skip
                values = {
                    "mean_sq_singular_value": (float(m1[k]), preds[j].mean_sq_singular_value),
                    "spectrum_variance": (float(var[k]), preds[j].spectrum_variance),
                    "normalized_variance": (float(v[k]), float(v_pred[act, w][j])),
                    "max_singular_value": (float(math.sqrt(s[k, 0])), None),
                    "min_singular_value": (float(math.sqrt(max(s[k, -1], 0.0))), None),
                }
                for metric, (value, predicted) in values.items():
                    row = {**base, "metric": metric, "value": value}
                    if predicted is not None:
                        row["predicted"] = float(predicted)
                    rows.append(row)
        m1_meas[act, w], v_meas[act, w] = np.array(m1s), np.array(vs)
        arrays[f"{act}/{w}/normalized_variance"] = v_meas[act, w]
        arrays[f"{act}/{w}/predicted_variance"] = v_pred[act, w]
        arrays[f"{act}/{w}/mean_sq_singular_value"] = m1_meas[act, w]
    findings, table = _findings(cfg, depths, v_meas, m1_meas, v_pred, per_layer)
    return paper_result("pennington2017", cfg, PAPER, findings, rows, arrays, _answer(cfg, depths, v_meas, v_pred),
                        tables={"Spectrum variance by depth": table})  # fmt: skip


def _findings(
    cfg: Config,
    depths: np.ndarray,
    v_meas: dict[tuple[str, str], np.ndarray],
    m1_meas: dict[tuple[str, str], np.ndarray],
    v_pred: dict[tuple[str, str], np.ndarray],
    per_layer: dict[tuple[str, str], float],
) -> tuple[list[Finding], list[dict[str, Any]]]:
    N, top = cfg.width, float(depths[-1])
    tol_top = 0.15 + top / N
    findings: list[Finding] = []

    ot, gt = v_meas["tanh", "orthogonal"][-1], v_meas["tanh", "gaussian"][-1]
    near = bool(ot.mean() < 0.1 * gt.mean() and ot.mean() < 1.0)
    findings.append(Finding(
        "orthogonal tanh at a small q*: the normalized spectrum variance of J J^T at the deepest depth stays below "
        "1 and below 10% of Gaussian tanh's (near dynamical isometry)",
        f"L (mu_2/mu_1^2 - 1) = {v_pred['tanh', 'orthogonal'][-1]:.3g} vs Gaussian's "
        f"{v_pred['tanh', 'gaussian'][-1]:.3g} at L = {top:g}: near isometry at any depth",
        f"{spread(ot)} vs Gaussian {spread(gt)}",
        near,
    ))  # fmt: skip
    labels = {
        ("tanh", "gaussian"): "Gaussian tanh: the spectrum variance grows linearly with depth, slope mu_2/mu_1^2 "
        "(about 1 at a small q*)",
        ("relu", "gaussian"): "Gaussian relu: the spectrum variance grows linearly with depth, slope 2",
        ("relu", "orthogonal"): "orthogonal relu: the spectrum variance still grows linearly with depth, slope 1 "
        "(relu cannot reach isometry)",
    }
    for case, quantity in labels.items():
        slopes = _slopes(depths, v_meas[case])
        pred = per_layer[case]
        ok = bool(abs(slopes.mean() - pred) <= tol_top * pred + 2.0 * _se(slopes))
        findings.append(Finding(
            quantity + " (per-seed least-squares slope of var/mean^2 against L, within (0.15 + L_max/N) x "
            "predicted + 2 standard errors)",
            f"{pred:.3g} per layer", f"{spread(slopes)} per layer", ok,
        ))  # fmt: skip

    table: list[dict[str, Any]] = []
    misses: list[tuple[float, float, str]] = []  # (|ratio - 1|, ratio, where)
    for case in _CASES:
        for j, d in enumerate(depths):
            meas, pred = v_meas[case][j], float(v_pred[case][j])
            ratio = float(meas.mean() / pred) if pred > 0 else math.nan
            ok = bool(abs(meas.mean() - pred) <= (0.15 + d / N) * pred + 2.0 * _se(meas))
            miss = abs(ratio - 1.0) if math.isfinite(ratio) else math.inf
            misses.append((miss, ratio, f"{case[0]}/{case[1]}, L = {d:g}"))
            table.append({"activation": case[0], "weights": case[1], "depth": int(d),
                          "predicted": round(pred, 4), "measured": spread(meas), "ratio": round(ratio, 3),
                          "holds": "yes" if ok else "no"})  # fmt: skip
    worst = max(misses)
    findings.append(Finding(
        "the normalized spectrum variance of J J^T matches L (mu_2/mu_1^2 - 1 - s_1) at every activation, weights "
        "and depth (seed mean within (0.15 + L/N) x predicted + 2 standard errors)",
        "sigma^2_JJT = L (mu_2/mu_1^2 - 1 - s_1), s_1 = -1 Gaussian, 0 orthogonal (at m1 = 1)",
        f"{len(table)} cells, worst ratio measured/predicted {worst[1]:.3f} ({worst[2]})",
        all(row["holds"] == "yes" for row in table),
    ))  # fmt: skip
    unit, parts = True, []
    for case in _CASES:
        m1 = m1_meas[case][-1]
        tol = 0.05 + 3.0 * math.sqrt(4.0 * top / N) / math.sqrt(m1.size)
        unit = unit and bool(abs(np.log(m1).mean()) <= tol)
        parts.append(f"{case[0]}/{case[1]} ln m1 {spread(np.log(m1), 2)}")
    findings.append(Finding(
        "at criticality the mean squared singular value of J is 1 at the deepest depth, for both activations and "
        "weights (seed mean of ln m1 within 0.05 + 3 sqrt(4 L/N) / sqrt(seeds) of 0)",
        "m1 = chi_1^L = 1 (ln m1 = 0) at every depth",
        "; ".join(parts),
        unit,
    ))  # fmt: skip
    return findings, table


def _answer(
    cfg: Config,
    depths: np.ndarray,
    v_meas: dict[tuple[str, str], np.ndarray],
    v_pred: dict[tuple[str, str], np.ndarray],
) -> str:
    top = int(depths[-1])
    ot, gt = v_meas["tanh", "orthogonal"][-1].mean(), v_meas["tanh", "gaussian"][-1].mean()
    ro, rg = v_meas["relu", "orthogonal"][-1].mean(), v_meas["relu", "gaussian"][-1].mean()
    return (
        "Pennington, Schoenholz & Ganguli (2017) predicted that at criticality the spread of J's squared singular "
        "values grows as L (mu_2/mu_1^2 - 1 - s_1): almost not at all for orthogonal tanh at a small q*, as L for "
        f"Gaussian tanh, as 2L and L for Gaussian and orthogonal relu. At depth {top} and width {cfg.width} we "
        f"measured normalized variances {ot:.3g} (orthogonal tanh, q* = {cfg.tanh_q_star:.4g}; predicted "
        f"{v_pred['tanh', 'orthogonal'][-1]:.3g}), {gt:.3g} (Gaussian tanh; {v_pred['tanh', 'gaussian'][-1]:.3g}), "
        f"{ro:.3g} and {rg:.3g} (orthogonal and Gaussian relu; {v_pred['relu', 'orthogonal'][-1]:.3g} and "
        f"{v_pred['relu', 'gaussian'][-1]:.3g}). Orthogonal tanh stays close to isometry while relu spreads with "
        "either weights, as the paper found."
    )
