"""Figures from experiment results (matplotlib, imported here only).

``figures(result)`` returns ``{name: Figure}`` for one :class:`~initlab.experiments.Result`;
``save_figures`` writes each as PNG and SVG.  Every figure is drawn from the
result's rows and arrays, so it can be rebuilt from a saved run.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ._result import Result

__all__ = ["figures", "save_figures"]


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    return plt


def _series(
    result: Result, metric: str, by: tuple[str, ...], *, by_layer: bool = False
) -> dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]]:
    """Mean value per step (or per layer) of ``metric`` grouped by the columns ``by``: key -> (xs, means)."""
    acc: dict[tuple[Any, ...], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    x = "layer" if by_layer else "step"
    for r in result.rows:
        if r["metric"] == metric:
            acc[tuple(r[c] for c in by)][int(r[x])].append(float(r["value"]))
    return {k: (np.array(sorted(v)), np.array([np.mean(v[s]) for s in sorted(v)])) for k, v in acc.items()}


def _symmetry(result: Result, plt: Any) -> dict[str, Any]:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for (width, init), (steps, values) in sorted(_series(result, "distinct_units", ("width", "init")).items()):
        ax1.plot(steps, values, marker=".", label=f"width {width}, {init}")
    ax1.set(xlabel="step", ylabel="distinct hidden units", title="Distinct units over training", yscale="log")
    for (width, init), (steps, values) in sorted(_series(result, "loss", ("width", "init")).items()):
        ax2.plot(steps, values, label=f"width {width}, {init}")
    ax2.set(xlabel="step", ylabel="loss", title="Loss")
    ax1.legend(fontsize=7)
    fig.tight_layout()
    return {"symmetry": fig}


def _bias_vs_weights(result: Result, plt: Any) -> dict[str, Any]:
    acts = sorted({r["activation"] for r in result.rows})
    fig, axes = plt.subplots(2, len(acts), figsize=(4.2 * len(acts), 7), squeeze=False)
    for j, act in enumerate(acts):
        for metric, ax, label in (("sv_ratio_W1", axes[0, j], "W[1] smallest / largest singular value"),
                                  ("loss", axes[1, j], "loss")):  # fmt: skip
            for (a, init), (steps, values) in sorted(_series(result, metric, ("activation", "init")).items()):
                if a == act:
                    ax.plot(steps, values, label=init)
            ax.set(xlabel="step", ylabel=label, title=act)
        axes[0, j].legend(fontsize=7)
    fig.tight_layout()
    return {"bias_vs_weights": fig}


def _scale(result: Result, plt: Any) -> dict[str, Any]:
    acts = sorted({r["activation"] for r in result.rows})
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for act in acts:
        for ax, metric in ((axes[0], "saturated"), (axes[1], "dgz_mean")):
            pts = sorted(
                (r["scale"], r["value"])
                for r in result.rows
                if r["metric"] == metric and r["activation"] == act and r["step"] == 0 and r["scale"] > 0
            )
            xs = sorted({p[0] for p in pts})
            ax.plot(xs, [np.mean([v for c, v in pts if c == x]) for x in xs], marker="o", label=act)  # fmt: skip
        for (a, init), (steps, values) in sorted(_series(result, "loss", ("activation", "init")).items()):
            if a == act:
                axes[2].plot(steps, values, label=f"{act}, {init}")
    axes[0].set(xscale="log", xlabel="c in W = c * randn", ylabel="share saturated at the start", title="Saturation")
    axes[1].set(xscale="log", xlabel="c", ylabel="mean g'(z) at the start", title="Slope")
    axes[2].set(yscale="log", xlabel="step", ylabel="loss", title="Loss curves")
    axes[0].legend()
    axes[2].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return {"scale": fig}


def _depth(result: Result, plt: Any) -> dict[str, Any]:
    acts = sorted({k.split("/")[0] for k in result.arrays if k.endswith("std_by_depth")})
    fig, axes = plt.subplots(1, len(acts), figsize=(4.5 * len(acts), 4), squeeze=False)
    for j, act in enumerate(acts):
        ax = axes[0, j]
        for key, stds in sorted(result.arrays.items()):
            if key.startswith(act + "/") and key.endswith("std_by_depth"):
                with np.errstate(divide="ignore"):
                    ax.plot(np.arange(1, stds.shape[1] + 1), stds.mean(axis=0), label=key.split("/")[1])
        ax.set(yscale="log", xlabel="layer", ylabel="activation std at init", title=act)
        ax.legend(fontsize=7)
    fig.tight_layout()
    out = {"depth_std": fig}
    fig3, axes3 = plt.subplots(1, len(acts), figsize=(4.5 * len(acts), 4), squeeze=False)
    for j, act in enumerate(acts):
        for (a, init), (layers, norms) in sorted(
            _series(result, "grad_norm", ("activation", "init"), by_layer=True).items()
        ):
            if a == act:
                axes3[0, j].plot(layers, norms, marker=".", label=init)
        axes3[0, j].set(yscale="log", xlabel="layer", ylabel="||dW[l]|| at init", title=f"{act}: gradient norms")
        axes3[0, j].legend(fontsize=7)
    fig3.tight_layout()
    out["depth_grad_norms"] = fig3
    hists = {k: v for k, v in result.arrays.items() if k.startswith("tanh/") and k.endswith("/histogram")}
    if hists:
        fig2, axes2 = plt.subplots(1, len(hists), figsize=(3.2 * len(hists), 3.6), squeeze=False)
        centres = np.linspace(-2.95, 2.95, 60)
        for j, (key, h) in enumerate(sorted(hists.items())):
            for layer in range(0, h.shape[0], max(1, h.shape[0] // 5)):
                axes2[0, j].plot(centres, h[layer] / max(h[layer].sum(), 1), label=f"layer {layer + 1}")
            axes2[0, j].set(title=f"tanh, {key.split('/')[1]}", xlabel="activation", xlim=(-1.1, 1.1))
        axes2[0, 0].legend(fontsize=6)
        fig2.tight_layout()
        out["depth_histograms"] = fig2
    grads = {k: v for k, v in result.arrays.items() if k.endswith("/grad_histogram")}
    if grads:
        act = sorted({k.split("/")[0] for k in grads})[0]
        mine = {k: v for k, v in sorted(grads.items()) if k.startswith(act + "/")}
        fig4, axes4 = plt.subplots(1, len(mine), figsize=(3.2 * len(mine), 3.6), squeeze=False)
        centres = np.linspace(-15.75, 3.75, 40)
        for j, (key, h) in enumerate(mine.items()):
            for layer in range(0, h.shape[0], max(1, h.shape[0] // 5)):
                axes4[0, j].plot(centres, h[layer] / max(h[layer].sum(), 1), label=f"layer {layer + 1}")
            axes4[0, j].set(title=f"{act}, {key.split('/')[1]}", xlabel="log10 |dW| at init")
        axes4[0, 0].legend(fontsize=6)
        fig4.tight_layout()
        out["depth_grad_histograms"] = fig4
    return out


def _course(result: Result, plt: Any) -> dict[str, Any]:
    fig, ax = plt.subplots(figsize=(6, 4))
    for (init, seed), (steps, values) in sorted(_series(result, "loss", ("init", "seed")).items()):
        ax.plot(steps, values, label=f"{init}, seed {seed}", alpha=1.0 if seed == 3 else 0.4)
    ax.set(yscale="log", xlabel="step", ylabel="loss", title="C2W1 cost curves")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    out = {"course_cost": fig}
    if "grid_logits" in result.arrays:
        inits = result.config["inits"]
        seeds = result.config["seeds"]
        fig2, axes = plt.subplots(1, len(inits), figsize=(4 * len(inits), 3.8), squeeze=False)
        gx, gy, logits = result.arrays["grid_x"], result.arrays["grid_y"], result.arrays["grid_logits"]
        for j, init in enumerate(inits):
            k = list(inits).index(init) * len(seeds)  # the first seed of this init (the course's 3)
            axes[0, j].contourf(gx, gy, (logits[k] > 0).astype(float), levels=[-0.5, 0.5, 1.5], cmap="coolwarm",
                                alpha=0.5)  # fmt: skip
            if "X_train" in result.arrays:
                X, Y = result.arrays["X_train"], result.arrays["Y_train"][0]
                axes[0, j].scatter(X[0], X[1], c=Y, cmap="coolwarm", s=8, edgecolors="k", linewidths=0.3)
            axes[0, j].set(title=f"{init}, seed {seeds[0]}: test accuracy {_test_accuracy(result, init):.2f}")
        fig2.tight_layout()
        out["course_boundaries"] = fig2
    return out


def _test_accuracy(result: Result, init: str) -> float:
    first = result.config["seeds"][0]
    return float(next(r["value"] for r in result.rows if r["metric"] == "test_accuracy" and r["init"] == init
                and r["seed"] == first))  # fmt: skip


_DRAW = {"symmetry": _symmetry, "bias-vs-weights": _bias_vs_weights, "scale": _scale, "depth": _depth,
         "course": _course}  # fmt: skip


def figures(result: Result) -> dict[str, Any]:
    """The figures of one result, by name."""
    return _DRAW[result.name](result, _plt())


def save_figures(result: Result, folder: str | Path) -> list[Path]:
    """Write every figure of ``result`` as PNG and SVG into ``folder``; returns the PNG paths."""
    plt = _plt()
    paths = []
    for name, fig in figures(result).items():
        png = Path(folder) / f"{name}.png"
        fig.savefig(png, dpi=110)
        fig.savefig(png.with_suffix(".svg"))
        plt.close(fig)
        paths.append(png)
    return paths
