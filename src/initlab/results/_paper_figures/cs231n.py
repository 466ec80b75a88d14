"""The CS231n weight-initialization demo: per-layer activation std and histograms for the five starts."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._figures import PALETTE, _colour
from .._result import Result

__all__ = ["draw"]


def _cases(result: Result) -> list[str]:
    return [key[: -len("/std")] for key in result.arrays if key.endswith("/std")]


def draw(result: Result, plt: Any) -> dict[str, Any]:
    """The std profile per case (measured per seed, the theory's line, the lecture's digits), and histograms."""
    cases = _cases(result)
    fig, axes = plt.subplots(2, len(cases), figsize=(3.2 * len(cases), 6.4), layout="constrained", squeeze=False)
    for j, case in enumerate(cases):
        std = result.arrays[f"{case}/std"]  # (seeds, layers)
        layers = np.arange(1, std.shape[1] + 1)
        ax = axes[0, j]
        ax.plot(layers, std.T, "o", color=PALETTE[0], alpha=0.35, markersize=3)
        ax.plot(layers, std.mean(axis=0), "-", color=PALETTE[0], label="ours (dots: seeds)")
        ax.plot(layers, result.arrays[f"{case}/theory_std"], "--", color=PALETTE[3], label="theory")
        lecture = result.arrays[f"{case}/lecture_std"]
        if np.isfinite(lecture).any():
            ax.plot(layers, lecture, "x", color=PALETTE[6], label="lecture (from memory)")
        if case.startswith("tanh 0.01"):
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        ax.set_xlabel("layer")
        ax.set_ylabel("activation std")
        ax.set_title(case, fontsize=9)
        ax.legend(fontsize=6)
        act = "tanh" if case.startswith("tanh") else "relu"
        bins = result.arrays[f"{act}/bins"]
        centres = (bins[:-1] + bins[1:]) / 2
        hist = result.arrays[f"{case}/hist"]  # (layers, bins)
        ax = axes[1, j]
        for l, h in enumerate(hist):
            ax.plot(centres, h, color=_colour(l % 8), alpha=0.8, linewidth=1, label=f"layer {l + 1}")
        ax.set_xlabel("activation value (clipped to the bins)")
        ax.set_ylabel("share of units x examples")
        if j == 0:
            ax.legend(fontsize=5, ncol=2)
    cfg = result.config
    fig.suptitle(
        f"CS231n (2016) initialization demo: {cfg.get('layers')} layers of {cfg.get('features')} units, "
        f"X = randn({cfg.get('examples')}, {cfg.get('features')}), zero biases",
        fontsize=10,
    )
    return {"cs231n_layers": fig}
