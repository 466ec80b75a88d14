"""Pennington, Schoenholz & Ganguli (2017): the singular values of J per depth, and their spread against depth.

Drawn from the arrays alone: ``{activation}/{weights}/depth{L}/singular_values`` (seeds x width),
``{activation}/{weights}/normalized_variance`` (depths x seeds) and ``.../predicted_variance``
(depths), with ``depths``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._figures import PALETTE
from .._result import Result

__all__ = ["draw"]

_CASES = (("tanh", "orthogonal"), ("tanh", "gaussian"), ("relu", "orthogonal"), ("relu", "gaussian"))
_LINES = ("-", (0, (5, 3)), "-", "-")  # Gaussian tanh's line (L) lies on orthogonal relu's (L): dashed over it
_MARKERS = ("o", "s", "^", "D")
_FLOOR = 1e-3  # the smallest singular value drawn


def _setting(result: Result) -> str:
    cfg = result.config
    return f"width {cfg.get('width')}, {cfg.get('seeds')} seeds, tanh q* = {float(cfg.get('tanh_q_star', 0.0)):.4g}"


def draw(result: Result, plt: Any) -> dict[str, Any]:
    """``pennington2017_spectra``: the density of J's singular values, one panel per (activation, weights), one line per
    depth; ``pennington2017_variance``: var/mean^2 of the squared singular values against depth, measured (dots, seed
    mean with its spread) and predicted (lines)."""
    arrays = result.arrays
    depths = [int(d) for d in np.asarray(arrays["depths"]).ravel()]
    figs: dict[str, Any] = {}

    fig, axes = plt.subplots(2, 2, figsize=(9.5, 6.5))
    fig.subplots_adjust(hspace=0.4, wspace=0.28, top=0.9)
    for ax, (act, w) in zip(axes.ravel(), _CASES, strict=True):
        values = [np.ravel(arrays[f"{act}/{w}/depth{d}/singular_values"]) for d in depths]
        every = np.concatenate(values)
        positive = every[every > 0]
        # the panel's own range, on log bins; relu's dead units put exact zeros (about half) and products of
        # many layers put values near 1e-100 in the spectrum: those below _FLOOR are counted in the panel
        lo = max(float(np.percentile(positive, 0.5)), _FLOOR) if positive.size else 0.5
        hi = float(positive.max()) if positive.size else 2.0
        bins = np.geomspace(min(lo, 0.9), max(hi, 1.1), 45)
        below = []
        for i, (d, s) in enumerate(zip(depths, values, strict=True)):
            inside = s[(s >= bins[0]) & (s <= bins[-1])]
            weights = np.full(inside.size, 1.0 / max(s.size, 1))  # shares of all singular values
            share, edges = np.histogram(inside, bins=bins, weights=weights)
            log_width = np.log(edges[1:] / edges[:-1])
            ax.plot(np.sqrt(edges[:-1] * edges[1:]), share / log_width, color=PALETTE[i % len(PALETTE)],
                    label=f"L = {d}")  # fmt: skip
            low = float(np.mean(s < bins[0])) if s.size else 0.0
            if low >= 0.005:
                below.append(f"L = {d}: {low:.0%}")
        if below:
            ax.text(0.98, 0.97, f"below {bins[0]:.2g}:\n" + "\n".join(below), transform=ax.transAxes, ha="right",
                    va="top", fontsize=7)  # fmt: skip
        ax.axvline(1.0, color="#000000", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_title(f"{act}, {w} weights")
        ax.set_xlabel("singular value of J")
        ax.set_ylabel("density per unit of ln(singular value)")
        ax.legend(loc="upper left", fontsize=7)
    fig.suptitle(f"Pennington et al. (2017): singular values of the input-output Jacobian ({_setting(result)})")
    figs["pennington2017_spectra"] = fig

    fig, ax = plt.subplots(figsize=(7, 4.6))
    xs = np.asarray(depths, dtype=np.float64)
    for i, (act, w) in enumerate(_CASES):
        colour = PALETTE[i % len(PALETTE)]
        v = np.asarray(arrays[f"{act}/{w}/normalized_variance"])  # (depths, seeds)
        pred = np.asarray(arrays[f"{act}/{w}/predicted_variance"])
        sd = v.std(axis=1, ddof=1) if v.shape[1] > 1 else np.zeros(len(xs))
        ax.plot(xs, pred, color=colour, lw=1.5, ls=_LINES[i], label=f"{act}, {w}: predicted")
        ax.errorbar(xs, v.mean(axis=1), yerr=sd, fmt=_MARKERS[i], color=colour, ms=5, capsize=3,
                    label=f"{act}, {w}: measured (seed mean, sd)")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(xs, [str(d) for d in depths])
    ax.minorticks_off()
    ax.set_xlabel("depth L (hidden layers)")
    ax.set_ylabel("variance / mean^2 of the squared singular values")
    ax.set_title(f"Pennington et al. (2017): spread of J's spectrum against depth ({_setting(result)})", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    figs["pennington2017_variance"] = fig
    return figs
