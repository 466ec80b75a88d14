"""He et al. (2015), Figs. 2-3: the loss of deep relu nets from Xavier's and He's init, per depth."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._figures import PALETTE
from .._result import Result
from . import seed_stat

__all__ = ["draw"]


INITS = ("xavier", "he")


def _depths(result: Result) -> list[int]:
    return sorted({int(r["depth"]) for r in result.rows})


def draw(result: Result, plt: Any) -> dict[str, Any]:
    """The epoch-mean training loss against steps, one panel per depth: seed median and band, ln 10 dashed."""
    depths = _depths(result)
    fig, axes = plt.subplots(1, len(depths), figsize=(5.2 * len(depths), 3.8), squeeze=False, sharey=True,
                             layout="constrained")  # fmt: skip
    for ax, depth in zip(axes[0], depths, strict=True):
        steps = result.arrays[f"depth{depth}/curve_steps"]
        for i, init in enumerate(INITS):
            curve = result.arrays[f"depth{depth}/{init}/curve"]  # (seeds, points)
            ax.fill_between(steps, seed_stat(np.nanmin, curve), seed_stat(np.nanmax, curve), color=PALETTE[i],
                            alpha=0.25, linewidth=0)  # fmt: skip
            ax.plot(steps, seed_stat(np.nanmedian, curve), color=PALETTE[i], label=f"{init} (median, band: seeds)")
        ax.axhline(math.log(10.0), color="grey", linestyle="--", linewidth=1, label="ln 10 (uniform guess)")
        ax.set_xlabel("mini-batch step")
        ax.set_title(f"{depth} relu hidden layers", fontsize=9)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("training loss (mean over the last epoch's mini-batches)")
    width = result.config.get("width")
    fig.suptitle(f"He et al. (2015), Figs. 2-3: relu MLPs of {width} units on digits, Xavier vs He init", fontsize=10)
    return {"he2015_loss": fig}
