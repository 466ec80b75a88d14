"""Mishkin & Matas (2016): the per-layer gain after LSUV, the output std before and after, and a training run."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._figures import PALETTE
from .._result import Result

__all__ = ["draw"]

TRAINED = ("lsuv", "he", "orthogonal")


def draw(result: Result, plt: Any) -> dict[str, Any]:
    """Gains and stds per layer (one line per activation, dots per seed); the training losses when there are any."""
    acts = [key.split("/")[0] for key in result.arrays if key.endswith("/gain")]
    cfg = result.config
    fig, (ax_gain, ax_std) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for i, act in enumerate(acts):
        gain = result.arrays[f"{act}/gain"]  # (seeds, L)
        layers = np.arange(1, gain.shape[1] + 1)
        ax_gain.plot(layers, gain.T, "o", color=PALETTE[i], alpha=0.3, markersize=3)
        ax_gain.plot(layers, gain.mean(axis=0), "-", color=PALETTE[i], label=f"{act}, after LSUV")
        for key, style, when in (("std_before", ":", "before (orthonormal)"), ("std_after", "-", "after LSUV")):
            std = result.arrays[f"{act}/{key}"]
            ax_std.plot(layers, np.exp(np.log(std).mean(axis=0)), style, marker=".", color=PALETTE[i],
                        label=f"{act}, {when}")  # fmt: skip
    ax_gain.axhline(math.sqrt(2), color=PALETTE[3], linestyle="--", label="sqrt(2) (He)")
    for i, act in enumerate(acts):
        pred = result.arrays.get(f"{act}/predicted_gain")
        if act != "relu" and pred is not None:
            ax_gain.axhline(float(pred[0]), color=PALETTE[i], linestyle="-.", linewidth=0.8,
                            label=f"{act}: 1/sqrt(E[{act}(z)^2]) = {float(pred[0]):.3g}")  # fmt: skip
    ax_gain.axhline(1.0, color=PALETTE[6], linestyle=":", label="1 (Xavier / LeCun)")
    ax_gain.set_xlabel("layer l (the last is the linear output layer)")
    ax_gain.set_ylabel("gain std(W[l]) * sqrt(fan_in)")
    ax_gain.set_title("the scale LSUV lands on (dots: seeds)", fontsize=9)
    ax_gain.legend(fontsize=7)
    ax_std.set_yscale("log")
    ax_std.set_xlabel("layer l")
    ax_std.set_ylabel("std of Z[l] on the LSUV batch (geometric mean over seeds)")
    ax_std.set_title("output std per layer, before and after LSUV", fontsize=9)
    ax_std.legend(fontsize=7)
    fig.suptitle(f"Mishkin & Matas (2016): LSUV on {cfg.get('layers')} hidden layers of {cfg.get('width')} units "
                 f"(digits, batch {cfg.get('batch')})", fontsize=10)  # fmt: skip
    figures = {"mishkin2016_lsuv": fig}
    if "train/loss" in result.arrays:
        loss = result.arrays["train/loss"]  # (starts, seeds, steps)
        fig2, ax = plt.subplots(figsize=(6, 4), layout="constrained")
        steps = np.arange(1, loss.shape[-1] + 1)
        for i, name in enumerate(TRAINED):
            with np.errstate(invalid="ignore"):
                ax.plot(steps, loss[i].T, color=PALETTE[i], alpha=0.25, linewidth=0.8)
                ax.plot(steps, np.nanmean(loss[i], axis=0), color=PALETTE[i], label=name)
        ax.set_yscale("log")
        ax.set_xlabel("SGD step (mini-batches)")
        ax.set_ylabel("training loss (softmax cross-entropy)")
        ax.set_title(f"Mishkin & Matas (2016): training {cfg.get('layers')} relu layers of "
                     f"{cfg.get('train_width')} units from each start", fontsize=9)  # fmt: skip
        ax.legend(fontsize=7)
        figures["mishkin2016_training"] = fig2
    return figures
