"""Saxe et al. (2014): learning time of deep linear nets against depth, orthogonal vs scaled Gaussian init."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._figures import PALETTE, _colour
from .._result import Result
from . import seed_stat

__all__ = ["draw"]


INITS = ("orthogonal", "gaussian")
LABELS = {"orthogonal": "random orthogonal", "gaussian": "scaled Gaussian N(0, 1/N)"}


def _learning_time(result: Result, plt: Any) -> Any:
    depths = result.arrays["depths"]
    budget = float(result.arrays["budget"][0])
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    for i, init in enumerate(INITS):
        t = result.arrays[f"{init}/learning_time"]  # (seeds, depths)
        done = result.arrays[f"{init}/reached"] > 0
        shift = 1.0 + 0.04 * (i - 0.5)  # the two inits' dots side by side on the log axis
        for s in range(t.shape[0]):
            ax.plot((depths * shift)[done[s]], t[s][done[s]], "o", color=PALETTE[i], alpha=0.5, markersize=4)
            ax.plot((depths * shift)[~done[s]], t[s][~done[s]], "^", color=PALETTE[i], alpha=0.5, markersize=5,
                    markerfacecolor="none")  # fmt: skip
        ax.plot(depths, np.median(t, axis=0), "-", color=PALETTE[i], label=f"{LABELS[init]} (median over seeds)")
    ax.axhline(budget, color="grey", linestyle="--", linewidth=1, label="budget (open triangles: not reached)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("depth (weight layers)")
    ax.set_ylabel("learning time (steps to the criterion)")
    ax.legend(fontsize=7)
    crit = result.config.get("criterion")
    ax.set_title(f"Saxe et al. (2014): deep linear autoencoders on digits, loss < {crit} x E[x^2]", fontsize=9)
    return fig


def _curves(result: Result, plt: Any) -> Any:
    depths = [int(d) for d in result.arrays["depths"]]
    level = float(result.arrays["level"][0])
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True, layout="constrained")
    for ax, init in zip(axes, INITS, strict=True):
        for j, depth in enumerate(depths):
            curve = result.arrays[f"depth{depth}/{init}/curve"]
            ax.plot(result.arrays[f"depth{depth}/curve_steps"], seed_stat(np.nanmedian, curve), color=_colour(j),
                    label=f"depth {depth}")  # fmt: skip
        ax.axhline(level, color="grey", linestyle="--", linewidth=1, label="criterion")
        ax.set_yscale("log")
        ax.set_xlabel("mini-batch step")
        ax.set_title(LABELS[init], fontsize=9)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("training loss (median over seeds)")
    fig.suptitle("Saxe et al. (2014): reconstruction loss of deep linear nets, per depth", fontsize=10)
    return fig


def draw(result: Result, plt: Any) -> dict[str, Any]:
    """Learning time against depth (the paper's figure) and the loss curves behind it."""
    return {"saxe2014_learning_time": _learning_time(result, plt), "saxe2014_curves": _curves(result, plt)}
