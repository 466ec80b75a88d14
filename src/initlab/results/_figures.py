"""Figures from experiment results (matplotlib, imported here only).

``figures(result)`` returns ``{name: Figure}`` for one :class:`Result`; ``save_figures``
writes each as PNG and SVG.  Every figure is drawn from the result's rows and arrays,
so it can be rebuilt from a saved run.  Colours come from the Okabe-Ito palette (told
apart with any colour vision); every axis is labelled; a model whose loss became
non-finite is drawn as a cross at the step it diverged and its last finite loss (at
the top edge when it had none), from the rows ``diverged_at`` and ``last_finite_loss``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ._result import Result

__all__ = ["PALETTE", "figures", "save_figures"]

#: Okabe & Ito (2008), "Color universal design": distinguishable with every common colour-vision deficiency.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
_STYLES = ("-", "--", "-.", ":")


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no screen
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def _style(plt: Any) -> Iterator[None]:
    from cycler import cycler

    rc = {
        "axes.prop_cycle": cycler(color=PALETTE),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.25,
        "font.size": 9,
        "legend.frameon": False,
        "svg.hashsalt": "initlab",  # the same figure gives the same SVG bytes
    }
    # Diverged runs put losses near 1e300 on log axes, where matplotlib's transforms overflow
    # (numpy floating-point warnings); the drawing is still right, so they are not reported.
    with plt.rc_context(rc), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        yield


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _series(
    result: Result, metric: str, by: tuple[str, ...], *, x: str = "step"
) -> dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]]:
    """Mean of ``metric`` over the models still finite, per ``x``, grouped by the columns ``by``: key -> (xs, means)."""
    acc: dict[tuple[Any, ...], dict[Any, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in result.rows:
        if r["metric"] == metric and all(c in r for c in by):
            acc[tuple(r[c] for c in by)][r[x]].append(float(r["value"]))
    return {k: (np.array(sorted(v)), np.array([_mean(v[s]) for s in sorted(v)])) for k, v in acc.items()}


def _mark_diverged(ax: Any, result: Result, colour: str, **where: Any) -> int:
    """Cross at (step, last finite loss) for each diverged model matching ``where``; returns how many."""
    from matplotlib.transforms import blended_transform_factory

    top = blended_transform_factory(ax.transData, ax.transAxes)
    n = 0
    for d in result.diverged():
        if all(str(d.get(k)) == str(v) for k, v in where.items()):
            y = d["last_finite_loss"]
            if np.isfinite(y) and (ax.get_yscale() != "log" or y > 0):
                ax.plot([d["diverged_at"]], [y], "x", color=colour, ms=9, mew=2.2, zorder=5)
            else:
                ax.plot([d["diverged_at"]], [0.97], "x", color=colour, ms=9, mew=2.2, zorder=5, transform=top)
            ax.axvline(d["diverged_at"], color=colour, ls=":", lw=1)
            n += 1
    return n


def _divergence_note(ax: Any, n: int) -> None:
    if n:
        ax.text(0.99, 0.99, f"x = diverged ({n})", transform=ax.transAxes, ha="right", va="top", color="#D55E00")


def _label_ends(ax: Any, lines: list[tuple[np.ndarray, np.ndarray, str, str]]) -> None:
    """Label each line at its last finite point (direct labels instead of a legend), nudged apart vertically.

    Call it after the axes' scales and limits are set.
    """
    ends = []
    for xs, ys, text, colour in lines:
        ok = np.isfinite(ys)
        if ok.any():
            i = np.flatnonzero(ok)[-1]
            ends.append((ax.transData.transform((xs[i], ys[i]))[1], xs[i], ys[i], text, colour))
    ends.sort(key=lambda e: e[0])
    gap = 11 * ax.figure.dpi / 72  # one line of 9-point text, in pixels
    placed: list[float] = []
    clusters: list[list[int]] = []
    for i, (y, *_) in enumerate(ends):
        if placed and placed[-1] + gap > y:
            placed.append(placed[-1] + gap)
            clusters[-1].append(i)
        else:
            placed.append(y)
            clusters.append([i])
    for members in clusters:  # centre each pushed-apart group of labels on the points it labels
        shift = np.mean([ends[i][0] for i in members]) - np.mean([placed[i] for i in members])
        for i in members:
            placed[i] += shift
    for (y, x, value, text, colour), at in zip(ends, placed, strict=True):
        dy = (at - y) * 72 / ax.figure.dpi
        ax.annotate(text, (x, value), xytext=(5, dy), textcoords="offset points", va="center", color=colour)


def _loss_panel(ax: Any, result: Result, by: tuple[str, ...], fixed: dict[str, Any], colour_of: Any) -> None:
    """Loss over steps, one line per group of ``by`` within ``fixed``; diverged models marked."""
    n = 0
    for key, (steps, values) in sorted(_series(result, "loss", (*fixed, *by)).items(), key=lambda kv: str(kv[0])):
        if tuple(map(str, key[: len(fixed)])) != tuple(map(str, fixed.values())):
            continue
        group = dict(zip(by, key[len(fixed) :], strict=True))
        label, colour, style = colour_of(group)
        ax.plot(steps, values, color=colour, ls=style, label=label)
        n += _mark_diverged(ax, result, colour, **fixed, **group)
    _divergence_note(ax, n)


# ---------------------------------------------------------------------------------------------------- per experiment


def _symmetry(result: Result, plt: Any) -> dict[str, Any]:
    inits = sorted({r["init"] for r in result.rows if "init" in r}, key=str)
    widths = sorted({r["width"] for r in result.rows if "width" in r})
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    final: dict[Any, dict[Any, list[float]]] = defaultdict(lambda: defaultdict(list))
    last_step = max((r["step"] for r in result.rows if r["metric"] == "distinct_units"), default=0)
    for r in result.rows:
        if r["metric"] == "distinct_units" and r["step"] == last_step:
            final[r["init"]][r["width"]].append(float(r["value"]))
    ends = []
    if widths:
        ax.plot(widths, widths, color="#999999", lw=1, ls=":", zorder=0)
        ends.append((np.array(widths, float), np.array(widths, float), "(all units distinct)", "#777777"))
    for i, init in enumerate(inits):
        xs = np.array(sorted(final[init]), float)
        ys = np.array([_mean(final[init][w]) for w in sorted(final[init])])
        ax.plot(xs, ys, marker="o", color=_colour(i), ls=_STYLES[i % 4])
        ends.append((xs, ys, str(init), _colour(i)))
    ax.set(xscale="log", yscale="log", xlabel="hidden units (width)", title="Does training break the symmetry?",
           ylabel=f"distinct hidden units at step {last_step}")  # fmt: skip
    if widths:
        from matplotlib.ticker import NullFormatter, NullLocator

        ticks = sorted({1, *widths})
        ax.set_xticks(widths, [str(w) for w in widths])
        ax.set_yticks(ticks, [str(w) for w in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_minor_locator(NullLocator())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlim(widths[0] / 1.3, widths[-1] * 3.5)  # room for the labels on the right
        ax.set_ylim(1 / 1.3, widths[-1] * 1.6)
    _label_ends(ax, ends)
    fig.tight_layout()
    out = {"symmetry": fig}
    width_colour = {w: _colour(j) for j, w in enumerate(widths)}
    cols = min(len(inits), 4)
    rows = -(-len(inits) // cols) if inits else 1
    fig2, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.0 * rows + 0.5), squeeze=False, sharey=True)
    for i, init in enumerate(inits):
        ax = axes.flat[i]
        _loss_panel(ax, result, ("width",), {"init": init},
                    lambda g: (f"width {g['width']}", width_colour.get(g["width"], "#000"), "-"))  # fmt: skip
        ax.set(xlabel="step", ylabel="loss" if i % cols == 0 else "", title=str(init), yscale="log")
    for ax in list(axes.flat)[len(inits) :]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], color=width_colour[w], label=f"width {w}") for w in widths]
    fig2.suptitle("Loss over training, one panel per start")
    fig2.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), bbox_to_anchor=(0.5, -0.01))
    fig2.tight_layout(rect=(0, 0.08, 1, 1))
    out["symmetry_loss"] = fig2
    return out


def _bias_vs_weights(result: Result, plt: Any) -> dict[str, Any]:
    acts = sorted({r["activation"] for r in result.rows if "activation" in r})
    inits = sorted({r["init"] for r in result.rows if "init" in r}, key=str)
    style = {init: (_colour(i), _STYLES[i % 4]) for i, init in enumerate(inits)}
    fig, axes = plt.subplots(2, len(acts), figsize=(4.4 * len(acts), 7), squeeze=False)
    for j, act in enumerate(acts):
        ax = axes[0, j]
        for (a, init), (steps, values) in sorted(_series(result, "sv_ratio_W1", ("activation", "init")).items()):
            if a == act:
                ax.plot(steps, values, color=style[init][0], ls=style[init][1])
        ax.set(xlabel="step", ylabel="W[1]: smallest / largest singular value", title=act)
        _loss_panel(axes[1, j], result, ("init",), {"activation": act}, lambda g: (g["init"], *style[g["init"]]))
        axes[1, j].set(xlabel="step", ylabel="loss", yscale="log")
    handles = [plt.Line2D([], [], color=c, ls=s, label=init) for init, (c, s) in style.items()]
    ncol = min(len(handles), max(2, 2 * len(acts)))
    fig.legend(handles=handles, loc="lower center", ncol=ncol, bbox_to_anchor=(0.5, -0.01))
    fig.tight_layout(rect=(0, 0.04 * -(-len(handles) // ncol), 1, 1))
    return {"bias_vs_weights": fig}


def _scale(result: Result, plt: Any) -> dict[str, Any]:
    acts = sorted({r["activation"] for r in result.rows if "activation" in r})
    scales = sorted({r["scale"] for r in result.rows if "scale" in r})
    fig, axes = plt.subplots(1, 2 + len(acts), figsize=(3.9 * (2 + len(acts)), 3.9), squeeze=False)
    axes = axes[0]
    ends: dict[str, list[tuple[np.ndarray, np.ndarray, str, str]]] = {"saturated": [], "dgz_mean": []}
    for i, act in enumerate(acts):
        for ax, metric in ((axes[0], "saturated"), (axes[1], "dgz_mean")):
            got: dict[float, list[float]] = defaultdict(list)
            for r in result.rows:
                if r["metric"] == metric and r.get("activation") == act and r["step"] == 0 and r["scale"] > 0:
                    got[r["scale"]].append(float(r["value"]))
            xs = np.array(sorted(got))
            ys = np.array([_mean(got[x]) for x in xs])
            ax.plot(xs, ys, marker="o", color=_colour(i), ls=_STYLES[i % 4])
            ends[metric].append((xs, ys, act, _colour(i)))
    axes[0].set(xscale="log", xlabel="c in W = c * randn", ylabel="share of units saturated at the start",
                title="Large weights saturate")  # fmt: skip
    axes[1].set(xscale="log", xlabel="c in W = c * randn", ylabel="mean g'(z) at the start", title="...and flatten")
    for ax, metric in ((axes[0], "saturated"), (axes[1], "dgz_mean")):
        ax.margins(x=0.25)
        _label_ends(ax, ends[metric])
    scale_colour = {c: _colour(k) for k, c in enumerate(scales)}
    for i, act in enumerate(acts):
        ax = axes[2 + i]
        _loss_panel(ax, result, ("scale",), {"activation": act},
                    lambda g: (f"c = {g['scale']:g}", scale_colour.get(g["scale"], "#000"), "-"))  # fmt: skip
        ax.set(yscale="log", xlabel="step", ylabel="loss", title=f"Loss, {act}")
    handles = [plt.Line2D([], [], color=scale_colour[c], label=f"c = {c:g}") for c in scales]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), bbox_to_anchor=(0.5, -0.01))
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return {"scale": fig}


def _depth(result: Result, plt: Any) -> dict[str, Any]:
    acts = sorted({k.split("/")[0] for k in result.arrays if k.endswith("/std_by_depth")})
    schemes = sorted({k.split("/")[1] for k in result.arrays if k.endswith("/std_by_depth")})
    style = {s: (_colour(i), _STYLES[i % 4]) for i, s in enumerate(schemes)}
    handles = [plt.Line2D([], [], color=c, ls=ls, label=s) for s, (c, ls) in style.items()]
    out = {}
    fig, axes = plt.subplots(1, len(acts), figsize=(4.5 * len(acts), 4), squeeze=False)
    predicted = any(k.endswith("/predicted_std_by_depth") for k in result.arrays)
    for j, act in enumerate(acts):
        ax = axes[0, j]
        for scheme in schemes:
            stds = result.arrays.get(f"{act}/{scheme}/std_by_depth")
            theory = result.arrays.get(f"{act}/{scheme}/predicted_std_by_depth")
            if stds is not None:
                x = np.arange(1, stds.shape[1] + 1)
                with np.errstate(divide="ignore", invalid="ignore"):
                    if theory is None:
                        ax.plot(x, stds.mean(axis=0), color=style[scheme][0], ls=style[scheme][1])
                    else:  # the theory as the line, the measurement as dots on it
                        ax.plot(x, theory, color=style[scheme][0], ls=style[scheme][1], lw=1.2)
                        ax.plot(x, stds.mean(axis=0), color=style[scheme][0], ls="none", marker="o", ms=2.5)
        ax.set(yscale="log", xlabel="layer", ylabel="activation std at init", title=act)
    if predicted:
        handles += [plt.Line2D([], [], color="0.3", lw=1.2, label="mean-field theory"),
                    plt.Line2D([], [], color="0.3", ls="none", marker="o", ms=2.5, label="measured")]  # fmt: skip
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), bbox_to_anchor=(0.5, -0.01))
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    out["depth_std"] = fig
    fig3, axes3 = plt.subplots(1, len(acts), figsize=(4.5 * len(acts), 4), squeeze=False)
    for j, act in enumerate(acts):
        for (a, init), (layers, norms) in sorted(
            _series(result, "grad_norm", ("activation", "init"), x="layer").items()
        ):
            if a == act and init in style:
                axes3[0, j].plot(layers, norms, marker=".", color=style[init][0], ls=style[init][1])
        axes3[0, j].set(yscale="log", xlabel="layer", ylabel="||dW[l]|| at init", title=f"{act}: gradient norms")
    fig3.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), bbox_to_anchor=(0.5, -0.01))
    fig3.tight_layout(rect=(0, 0.08, 1, 1))
    out["depth_grad_norms"] = fig3
    trained = [a for a in acts if f"{a}/train_loss" in result.arrays]
    if trained:
        fig5, axes5 = plt.subplots(1, len(trained), figsize=(4.5 * len(trained), 4), squeeze=False)
        for j, act in enumerate(trained):
            ax = axes5[0, j]
            loss = result.arrays[f"{act}/train_loss"]  # (steps, models)
            model_init = {r["model"]: r["init"] for r in result.rows
                          if r.get("activation") == act and r["metric"] in ("diverged_at", "final_loss")}  # fmt: skip
            n = 0
            for scheme in schemes:
                cols = [m for m, s in model_init.items() if s == scheme and m < loss.shape[1]]
                if cols:
                    with np.errstate(invalid="ignore", over="ignore"):
                        part = np.where(np.isfinite(loss[:, cols]), loss[:, cols], np.nan)
                        mean = np.array([_mean(list(row)) for row in part])
                    ax.plot(np.arange(len(mean)), mean, color=style[scheme][0], ls=style[scheme][1])
                    n += _mark_diverged(ax, result, style[scheme][0], activation=act, init=scheme)
            _divergence_note(ax, n)
            ax.set(yscale="log", xlabel="step", ylabel="training loss", title=f"{act}: training the deep net")
        fig5.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), bbox_to_anchor=(0.5, -0.01))
        fig5.tight_layout(rect=(0, 0.08, 1, 1))
        out["depth_training"] = fig5
    hists = {k: v for k, v in result.arrays.items() if k.startswith("tanh/") and k.endswith("/histogram")}
    if hists:
        fig2, axes2 = plt.subplots(1, len(hists), figsize=(3.2 * len(hists), 3.6), squeeze=False)
        centres = np.linspace(-2.95, 2.95, 60)
        for j, (key, h) in enumerate(sorted(hists.items())):
            for k, layer in enumerate(range(0, h.shape[0], max(1, h.shape[0] // 5))):
                axes2[0, j].plot(
                    centres, h[layer] / max(h[layer].sum(), 1), color=_colour(k), label=f"layer {layer + 1}"
                )
            axes2[0, j].set(title=f"tanh, {key.split('/')[1]}", xlabel="activation", ylabel="share of units",
                            xlim=(-1.1, 1.1))  # fmt: skip
        axes2[0, -1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig2.tight_layout()
        out["depth_histograms"] = fig2
    grads = {k: v for k, v in result.arrays.items() if k.endswith("/grad_histogram")}
    if grads:
        act = sorted({k.split("/")[0] for k in grads})[0]
        mine = {k: v for k, v in sorted(grads.items()) if k.startswith(act + "/")}
        fig4, axes4 = plt.subplots(1, len(mine), figsize=(3.2 * len(mine), 3.6), squeeze=False)
        centres = np.linspace(-15.75, 3.75, 40)
        for j, (key, h) in enumerate(mine.items()):
            for k, layer in enumerate(range(0, h.shape[0], max(1, h.shape[0] // 5))):
                axes4[0, j].plot(
                    centres, h[layer] / max(h[layer].sum(), 1), color=_colour(k), label=f"layer {layer + 1}"
                )
            axes4[0, j].set(title=f"{act}, {key.split('/')[1]}", xlabel="log10 |dW| at init", ylabel="share of weights")
        axes4[0, -1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig4.tight_layout()
        out["depth_grad_histograms"] = fig4
    return out


def _course(result: Result, plt: Any) -> dict[str, Any]:
    inits = list(result.config.get("inits", sorted({r["init"] for r in result.rows if "init" in r})))
    seeds = list(result.config.get("seeds", sorted({r["seed"] for r in result.rows if "seed" in r})))
    first = seeds[0] if seeds else None
    fig, ax = plt.subplots(figsize=(6.5, 4))
    n = 0
    for (init, seed), (steps, values) in sorted(_series(result, "loss", ("init", "seed")).items(), key=str):
        i = inits.index(init) if init in inits else len(inits)
        ax.plot(steps, values, color=_colour(i), alpha=1.0 if seed == first else 0.35)
        n += _mark_diverged(ax, result, _colour(i), init=init, seed=seed)
    _divergence_note(ax, n)
    ax.set(yscale="log", xlabel="step", ylabel="loss", title="C2W1 cost curves")
    label = f" (seed {first} solid, others faint)" if len(seeds) > 1 else ""
    handles = [plt.Line2D([], [], color=_colour(i), label=f"{init}{label if i == 0 else ''}")
               for i, init in enumerate(inits)]  # fmt: skip
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    out = {"course_cost": fig}
    if "grid_logits" in result.arrays and inits and seeds:
        fig2, axes = plt.subplots(1, len(inits), figsize=(4 * len(inits), 3.8), squeeze=False)
        gx, gy, logits = result.arrays["grid_x"], result.arrays["grid_y"], result.arrays["grid_logits"]
        for j, init in enumerate(inits):
            k = j * len(seeds)  # the first seed of this init (the course's 3)
            axes[0, j].contourf(gx, gy, (logits[k] > 0).astype(float), levels=[-0.5, 0.5, 1.5],
                                colors=["#56B4E9", "#E69F00"], alpha=0.45)  # fmt: skip
            if "X_train" in result.arrays:
                X, Y = result.arrays["X_train"], result.arrays["Y_train"][0]
                colours = np.where(Y > 0.5, "#D55E00", "#0072B2")
                axes[0, j].scatter(X[0], X[1], c=colours, s=8, edgecolors="k", linewidths=0.3)
            accuracy = _test_accuracy(result, init, first)
            shown = "" if accuracy is None else f": test accuracy {accuracy:.2f}"
            axes[0, j].set(title=f"{init}, seed {first}{shown}", xlabel="x1", ylabel="x2")
        fig2.tight_layout()
        out["course_boundaries"] = fig2
    return out


def _test_accuracy(result: Result, init: str, seed: Any) -> float | None:
    found = [r["value"] for r in result.rows if r["metric"] == "test_accuracy" and r.get("init") == init
             and r.get("seed") == seed]  # fmt: skip
    return float(found[0]) if found else None


_DRAW = {"symmetry": _symmetry, "bias-vs-weights": _bias_vs_weights, "scale": _scale, "depth": _depth,
         "course": _course}  # fmt: skip


def figures(result: Result) -> dict[str, Any]:
    """The figures of one result, by name (none for an experiment this module does not know)."""
    from . import _paper_figures

    draw = _DRAW.get(result.name)
    if draw is None and result.name not in _paper_figures.NAMES:
        return {}
    plt = _plt()
    with _style(plt):
        return draw(result, plt) if draw is not None else (_paper_figures.draw(result, plt) or {})


def save_figures(result: Result, folder: str | Path) -> list[Path]:
    """Write every figure of ``result`` as PNG and SVG into ``folder``; returns the PNG paths."""
    plt = _plt()
    paths = []
    with _style(plt):
        for name, fig in figures(result).items():
            png = Path(folder) / f"{name}.png"
            fig.savefig(png, dpi=110, bbox_inches="tight")
            fig.savefig(png.with_suffix(".svg"), bbox_inches="tight", metadata={"Date": None})  # same bytes each time
            plt.close(fig)
            paths.append(png)
    return paths
