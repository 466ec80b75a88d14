"""Schoenholz et al. (2017): the accuracy heat map over (sigma_w2, depth) with the curves xi_c and 6 xi_c."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._figures import PALETTE
from .._result import Result

__all__ = ["draw"]


def _edges(centres: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges midway between the centres (geometric midpoints with ``log``), extended at both ends."""
    x = np.log(centres) if log else np.asarray(centres, dtype=np.float64)
    if x.size == 1:
        mids = np.array([x[0] - 0.5, x[0] + 0.5])
    else:
        inner = (x[:-1] + x[1:]) / 2
        mids = np.concatenate([[x[0] - (inner[0] - x[0])], inner, [x[-1] + (x[-1] - inner[-1])]])
    return np.exp(mids) if log else mids


def _heat_map(result: Result, plt: Any, key: str, what: str) -> Any:
    a = result.arrays
    sws, depths = a["sigma_w2s"], a["depths"]
    order = np.argsort(sws)
    acc = a[key].mean(axis=2)[order]  # (sigma_w2, depth): mean over seeds
    sws = sws[order]
    factor = float(a["factor"][0])
    fig, ax = plt.subplots(figsize=(7.5, 5.2), layout="constrained")
    x_edges = _edges(sws, log=False)  # each grid value's cell reaches midway to its neighbours
    y_edges = _edges(depths, log=True)
    mesh = ax.pcolormesh(x_edges, y_edges, acc.T, cmap="viridis", vmin=0.0, vmax=1.0, shading="flat")
    fig.colorbar(mesh, ax=ax, label=f"{what} (mean over seeds)")
    for i in range(sws.size):
        for j in range(depths.size):
            v = acc[i, j]
            ax.text(sws[i], depths[j], f"{v:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if v > 0.6 else "white")  # fmt: skip
    csw, cxi = a["curve/sigma_w2"], a["curve/xi_c"]
    inside = (csw >= x_edges[0]) & (csw <= x_edges[-1])
    top = y_edges[-1]
    for mult, style, colour in ((factor, "-", PALETTE[1]), (1.0, "--", PALETTE[0])):
        depth = np.clip(mult * cxi[inside], y_edges[0], top)
        ax.plot(csw[inside], depth, style, color=colour, linewidth=2, label=f"L = {mult:g} xi_c (mean-field theory)")
    crit = float(a["critical_sigma_w2"][0])
    if x_edges[0] <= crit <= x_edges[-1]:
        ax.axvline(crit, color=PALETTE[2], linestyle=":",
                   label=f"critical sigma_w2 = {crit:.3g}")  # fmt: skip
    ax.set_yscale("log")
    ax.set_ylim(y_edges[0], top)
    ax.set_xlim(x_edges[0], x_edges[-1])
    ax.set_xticks(sws, [f"{s:g}" for s in sws], fontsize=7)
    ax.set_yticks(depths, [f"{d:g}" for d in depths])
    ax.minorticks_off()
    ax.set_xlabel("sigma_w2 (W ~ N(0, sigma_w2 / fan_in))")
    ax.set_ylabel("depth L (hidden layers, log scale)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3, frameon=False)
    cfg = result.config
    ax.set_title(
        f"Schoenholz et al. (2017): {what} after {cfg.get('steps')} SGD steps, tanh, width {cfg.get('width')}, "
        f"sigma_b2 = {cfg.get('sigma_b2')}, digits",
        fontsize=9,
    )
    return fig


def draw(result: Result, plt: Any) -> dict[str, Any]:
    """The train and test accuracy heat maps over (sigma_w2, depth) under the curves xi_c and 6 xi_c."""
    return {
        "schoenholz2017_train_accuracy": _heat_map(result, plt, "train_acc", "train accuracy"),
        "schoenholz2017_test_accuracy": _heat_map(result, plt, "test_acc", "test accuracy"),
    }
