"""Glorot & Bengio (2010), Figs. 6-7: per-layer activations and back-propagated gradients at initialization."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._figures import PALETTE, _colour
from .._result import Result

__all__ = ["draw"]

INITS = ("standard", "normalized")
FACTOR = {"standard": 1.0 / 3.0, "normalized": 1.0}


def _histograms(result: Result, plt: Any, key: str, bins_key: str, xlabel: str, what: str) -> Any:
    bins = result.arrays[bins_key]
    centres = (bins[:-1] + bins[1:]) / 2
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True, layout="constrained")
    for ax, init in zip(axes, INITS, strict=True):
        hist = result.arrays[f"{init}/{key}"]  # (L, bins)
        for l, h in enumerate(hist, start=1):
            ax.plot(centres, h, color=_colour(l - 1), label=f"layer {l}")
        ax.set_xlabel(xlabel)
        ax.set_title(f"{init} init", fontsize=9)
    axes[0].set_ylabel("share of units x examples")
    axes[0].legend(fontsize=7)
    width = result.config.get("width")
    fig.suptitle(f"Glorot & Bengio (2010): {what} at initialization, tanh, {width} units per layer", fontsize=10)
    return fig


def _variances(result: Result, plt: Any) -> Any:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
    titles = ("activations Var[A[l]]", "back-propagated gradients Var[dZ[l]]", "weight gradients Var[dW[l]]")
    for ax, key, title in zip(axes, ("act_var", "bp_var", "wg_var"), titles, strict=True):
        for i, init in enumerate(INITS):
            v = result.arrays[f"{init}/{key}"]  # (seeds, layers)
            layers = np.arange(1, v.shape[1] + 1)
            ax.plot(layers, v.T, "o", color=PALETTE[i], alpha=0.4, markersize=3)
            ax.plot(layers, np.exp(np.log(v).mean(axis=0)), "-", color=PALETTE[i], label=f"{init} (measured)")
            if key == "act_var":
                ax.plot(layers, result.arrays[f"{init}/act_var_theory"], ":", color=PALETTE[i],
                        label=f"{init} (mean-field)")  # fmt: skip
            elif key == "bp_var":  # the paper's factor per layer down, anchored at the top hidden layer
                top = float(np.exp(np.log(v[:, -1]).mean()))
                ax.plot(layers, top * FACTOR[init] ** (layers[-1] - layers), "--", color=PALETTE[i],
                        label=f"{init} (paper: x{FACTOR[init]:.3g} per layer)")  # fmt: skip
        ax.set_yscale("log")
        ax.set_xticks(np.arange(1, result.arrays[f"standard/{key}"].shape[1] + 1))
        ax.set_xlabel("layer l")
        ax.set_ylabel("variance over units x examples")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6)
    fig.suptitle("Glorot & Bengio (2010): per-layer variances at initialization (dots: seeds)", fontsize=10)
    return fig


def draw(result: Result, plt: Any) -> dict[str, Any]:
    """The activation and gradient histograms per layer (Figs. 6-7) and the per-layer variances."""
    acts = _histograms(result, plt, "act_hist", "act_bins", "activation value (tanh)", "activation histograms")
    grads = _histograms(result, plt, "bp_hist", "grad_bins", "dZ[l] / std of dZ at the top hidden layer",
                        "back-propagated gradient histograms")  # fmt: skip
    variances = _variances(result, plt)
    return {"glorot2010_activations": acts, "glorot2010_gradients": grads, "glorot2010_variances": variances}
