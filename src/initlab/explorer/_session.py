"""One explorer run: a ``train`` config, its built ensemble, and the messages the page draws.

A :class:`Session` owns everything of one run (the network, the parameters, the data and
the optimizer with its state); two sessions never share an array, so the numbers of a
session depend on its config only.  It trains with the engine's :func:`~initlab.engine.train`
alone (``backend="numpy"``, the reference path), a chunk of steps at a time; chunks of any
sizes give the same bits as one long call, because the optimizer instance carries its state
from call to call.  Every number of a frame is computed by the engine's functions
(``forward``, ``backward``, ``layer_stats``, ``clone_groups`` as ``distinct_units`` counts them)
and the train experiment's ``accuracy_of`` on the current parameters.

No web code lives here: the messages are plain dicts ready for JSON (NaN and infinities are
``None``), so all of it is tested without a server.
"""

from __future__ import annotations

import base64
import dataclasses
import math
import threading
import time
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import numpy as np

from .. import initializers
from .._validation import InitlabTypeError, InitlabValueError, check_int, shown
from ..engine import (
    MLP,
    SymmetryWarning,
    backward,
    clone_groups,
    forward,
    layer_stats,
    train,
)
from ..experiments import Setting, command, make_config, settings
from ..experiments import train as experiment

__all__ = ["BOUNDARY_GRID", "EXPLORER_LIMITS", "HIST_BINS", "MAX_LOSS_POINTS", "MAX_STEP_COUNT", "SHOWN_UNITS",
           "SPEEDS", "Session", "check_texts", "describe", "explorer_settings", "setting_texts"]  # fmt: skip

#: Steps per frame the page may choose while playing.
SPEEDS = (1, 2, 5, 10, 20, 50, 100)
#: The most steps one "step" message may ask for.
MAX_STEP_COUNT = 1000
#: Units (and incoming columns) of a layer whose weights a frame carries: the drawing shows no more.
SHOWN_UNITS = 16
#: The decision boundary is sampled on a BOUNDARY_GRID x BOUNDARY_GRID grid over the data's box.
BOUNDARY_GRID = 64
#: Bins of the per-layer activation histograms.
HIST_BINS = 20
#: The most cost-curve points one frame carries (more new steps are subsampled, the last one always kept).
MAX_LOSS_POINTS = 200
#: A training chunk is split into engine calls of about this many seconds, so that a stop request
#: (a closed tab) is seen quickly even on the largest nets.
CHUNK_SECONDS = 0.05

EXPERIMENT = "train"
#: The explorer's own upper limits on train settings (``initlab run train`` and sweeps take more): a net the page
#: can draw and step live, trained on the full batch (chunks of steps would restart a mini-batch order).  The
#: controls offer no more, and a URL or message that asks for more is refused with the setting's one-line error.
EXPLORER_LIMITS: dict[str, int] = {"depth": 8, "width": 64, "batch_size": 0}


def explorer_settings() -> tuple[Setting, ...]:
    """The declared train settings with the explorer's limits (:data:`EXPLORER_LIMITS`) as their upper bounds.

    >>> {s.name: s.high for s in explorer_settings() if s.name in EXPLORER_LIMITS}
    {'depth': 8, 'width': 64, 'batch_size': 0}
    """
    return tuple(dataclasses.replace(s, high=EXPLORER_LIMITS[s.name]) if s.name in EXPLORER_LIMITS else s
                 for s in settings(EXPERIMENT))  # fmt: skip


def _check_limits(texts: Mapping[str, str]) -> None:
    """Refuse a setting text beyond the explorer's limits, in the declared setting's words."""
    for s in explorer_settings():
        if s.name in EXPLORER_LIMITS and s.name in texts:
            try:
                s.parse(texts[s.name], "the explorer")
            except (InitlabTypeError, InitlabValueError) as e:
                raise type(e)(f"{e} The explorer draws nets up to {EXPLORER_LIMITS['depth']} x "
                              f"{EXPLORER_LIMITS['width']} and trains on the full batch; initlab run train takes "
                              "more.") from None  # fmt: skip


def _finite(x: float) -> float | None:
    """A float for JSON: None for NaN and the infinities."""
    return float(x) if math.isfinite(x) else None


def _round4(a: np.ndarray) -> list[Any]:
    """Nested lists of ``a`` rounded to 4 significant digits (None where not finite)."""
    flat = [None if not math.isfinite(v) else float(f"{v:.4g}") for v in np.asarray(a, dtype=np.float64).ravel()]
    rows, cols = a.shape
    return [flat[i * cols : (i + 1) * cols] for i in range(rows)]


def _histogram(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of the finite entries of ``a`` in HIST_BINS equal bins from their min to their max, and the edges.

    ``np.histogram(values, HIST_BINS)`` exactly (the same edges, the last bin closed, the same correction of
    values that rounding puts in a neighbouring bin), without its general machinery: that costs a quarter of
    a millisecond per call, and a frame draws one histogram per start and layer.
    """
    values = a[np.isfinite(a)]
    if not values.size:
        return np.zeros(HIST_BINS, dtype=np.int64), np.linspace(0.0, 1.0, HIST_BINS + 1)
    lo, hi = float(values.min()), float(values.max())
    if lo == hi:  # one value: a bin of width 1 around it, as numpy does
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, HIST_BINS + 1)
    index = np.minimum(((values - lo) * (HIST_BINS / (hi - lo))).astype(np.intp), HIST_BINS - 1)
    index[values < edges[index]] -= 1  # rounding put these one bin too high
    index[(values >= edges[index + 1]) & (index != HIST_BINS - 1)] += 1  # ... or one too low
    return np.bincount(index, minlength=HIST_BINS), edges


def setting_texts(cfg: Any) -> dict[str, str]:
    """The text of every setting of ``cfg`` (what ``--set`` and the URL take), in declaration order."""
    return {s.name: s.text(getattr(cfg, s.name)) for s in settings(EXPERIMENT)}


def _query(cfg: Any) -> str:
    """The URL query of ``cfg``: the settings that differ from their defaults, in declaration order."""
    pairs = [(s.name, s.text(getattr(cfg, s.name))) for s in settings(EXPERIMENT) if getattr(cfg, s.name) != s.default]
    return urlencode(pairs, quote_via=quote)


def _config(texts: Mapping[str, str]) -> Any:
    """A ``train`` config from setting texts (missing settings take their defaults)."""
    if not isinstance(texts, Mapping):
        raise InitlabTypeError(f"The settings must be an object of setting: text. Got {shown(texts)} instead.")
    for key, text in texts.items():
        if not isinstance(key, str) or not isinstance(text, str):
            raise InitlabTypeError(
                f"The settings must map each setting's name to its text (a string). Got {shown(key)}: {shown(text)}."
            )
        if len(text) > 1000:
            raise InitlabValueError(f"The {key!r} setting's text must be at most 1000 characters. Got {len(text)}.")
    _check_limits(texts)
    return make_config(EXPERIMENT, dict(texts))


def check_texts(texts: Mapping[str, str]) -> None:
    """Raise the named error of the first bad setting text (unknown names included); build nothing."""
    _config(texts)


def describe(texts: Mapping[str, str]) -> tuple[str, str]:
    """The ``initlab run`` command and the Python lines that reproduce the run of ``texts``."""
    cfg = _config(texts)
    return command(cfg), experiment.python_call(cfg)


class Session:
    """One run of the ``train`` experiment, stepped a chunk at a time.

    ``Session(texts)`` builds the run of the setting texts ``texts`` (name -> text as in a
    URL query or ``--set``; missing settings take their defaults) and raises the named
    :class:`~initlab.InitlabError` of the first bad setting.  After ``advance(k)``, the
    parameters are those of ``build(cfg)`` trained by one ``train(..., steps=t,
    optimizer=make_optimizer(cfg), backend="numpy")`` call, ``t`` the steps done so far.
    """

    def __init__(self, texts: Mapping[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._load(_config(texts or {}))

    def _load(self, cfg: Any) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SymmetryWarning)  # a zero start is what the page is there to show
            built = experiment.build(cfg)
        self.cfg = cfg
        self.built = built
        self.net: MLP = built.net
        self.params: dict[str, np.ndarray] = built.params
        self.X = np.array(built.X, order="C")  # this run's own copies: sessions share no array
        self.Y = np.array(built.Y, order="C")
        self.optimizer = experiment.make_optimizer(cfg)
        self.step = 0
        self.n_models = int(self.params["W1"].shape[0])
        self.diverged = np.full(self.n_models, -1, dtype=np.int64)
        self._pending_steps: list[np.ndarray] = []
        self._pending_losses: list[np.ndarray] = []
        self._seconds_per_step = 0.0
        self._box = self._data_box()

    # --- changing the run --------------------------------------------------------------------

    def apply(self, texts: Mapping[str, str]) -> None:
        """A fresh run of the setting texts ``texts``; on a bad setting the error is raised and the run is kept."""
        cfg = _config(texts)
        with self._lock:
            self._load(cfg)

    def reset(self) -> None:
        """The same config from step 0 (the same seeds: the same start, bit for bit)."""
        with self._lock:
            self._load(self.cfg)

    def advance(self, count: int, stop: threading.Event | None = None) -> int:
        """Train ``count`` more steps (fewer when ``stop`` is set meanwhile); returns the steps done.

        The steps run as engine calls of about ``CHUNK_SECONDS`` each, ``stop`` checked between them.
        """
        count = check_int(count, "count", "advance", low=0)
        done = 0
        with self._lock:
            while done < count and not (stop is not None and stop.is_set()):
                piece = count - done
                if self._seconds_per_step > 0:
                    piece = max(1, min(piece, int(CHUNK_SECONDS / self._seconds_per_step)))
                started = time.perf_counter()
                history = train(self.net, self.params, self.X, self.Y, steps=piece, optimizer=self.optimizer,
                                record_every=0, backend="numpy")  # fmt: skip
                self._seconds_per_step = (time.perf_counter() - started) / piece
                steps = np.arange(self.step, self.step + piece)
                fresh = (self.diverged < 0) & (history.diverged_at >= 0)
                self.diverged[fresh] = history.diverged_at[fresh] + self.step
                self._pending_steps.append(steps)
                self._pending_losses.append(history.loss)
                self.step += piece
                done += piece
        return done

    # --- messages ----------------------------------------------------------------------------

    def query(self) -> str:
        """The URL query of this run: the settings that differ from the defaults."""
        return _query(self.cfg)

    def _data_box(self) -> list[float] | None:
        """``[xmin, xmax, ymin, ymax]`` around the train points with a 10% margin (2-D data only)."""
        X = self.built.data.X_train
        if X.shape[0] != 2:
            return None
        lo, hi = X.min(axis=1), X.max(axis=1)
        pad = 0.1 * np.maximum(hi - lo, 1e-9)
        return [float(f"{v:.4g}") for v in (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])]

    def config_message(self) -> dict[str, Any]:
        """The ``config`` message: settings, the reproducing command and Python, the starts, data and plans."""
        cfg, built, data = self.cfg, self.built, self.built.data
        dims = list(self.net.layer_dims)
        points = None
        if self._box is not None:
            labels = data.Y_train[0] if data.n_y == 1 else np.argmax(data.Y_train, axis=0)
            points = [[float(f"{x1:.4g}"), float(f"{x2:.4g}"), int(y)]
                      for x1, x2, y in zip(data.X_train[0], data.X_train[1], labels, strict=True)]  # fmt: skip
        plans = []
        for start in built.starts:
            k = start.models[0]
            layers = []
            for l in range(1, len(dims)):
                shape = (dims[l], dims[l - 1])
                plan = initializers.get(start.weights).plan(shape)
                W = self.params[f"W{l}"][k]
                layers.append({
                    "layer": l,
                    "formula": None if plan is None else plan.formula,
                    "fan_in": None if plan is None else plan.fan_in,
                    "fan_out": None if plan is None else plan.fan_out,
                    "std": None if plan is None else _finite(plan.std),
                    "realized_std": _finite(float(np.std(W))),
                })  # fmt: skip
            plans.append(layers)
        return {
            "type": "config",
            "settings": setting_texts(cfg),
            "query": self.query(),
            "command": command(cfg),
            "python": experiment.python_call(cfg),
            "starts": [
                {"label": s.label, "weights": s.weights, "biases": s.biases, "models": list(s.models)}
                for s in built.starts
            ],
            "seeds": [int(s) for s in built.seeds],
            "layer_dims": dims,
            "loss": self.net.loss.name,
            "dataset": {
                "name": data.name,
                "n_x": data.n_x,
                "classes": 2 if data.n_y == 1 else data.n_y,
                "points": points,
                "box": self._box,
            },
            "plans": plans,
        }

    def _take_losses(self) -> dict[str, Any]:
        """The cost-curve points since the last frame (at most MAX_LOSS_POINTS, the last always kept)."""
        if not self._pending_steps:
            return {"steps": [], "values": []}
        steps = np.concatenate(self._pending_steps)
        losses = np.concatenate(self._pending_losses)
        self._pending_steps, self._pending_losses = [], []
        if steps.size > MAX_LOSS_POINTS:
            keep = np.unique(np.linspace(0, steps.size - 1, MAX_LOSS_POINTS).round().astype(int))
            steps, losses = steps[keep], losses[keep]
        return {"steps": steps.tolist(), "values": [[_finite(v) for v in row] for row in losses.tolist()]}

    def _boundary(self) -> dict[str, Any] | None:
        """p(class 1) of model 0 of each start on a grid over the data's box, as base64 bytes."""
        if self._box is None:
            return None
        n = BOUNDARY_GRID
        x0, x1, y0, y1 = self._box
        gx, gy = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))  # row i at y = y0 + i (y1 - y0) / (n-1)
        grid = np.ascontiguousarray(np.stack([gx.ravel(), gy.ravel()]))  # (2, n*n), row-major from (x0, y0)
        probs = []
        for start in self.built.starts:
            k = start.models[0]
            one = {key: value[k] for key, value in self.params.items()}
            ZL, _ = forward(self.net, one, grid)
            A = self.net.loss.output(np, ZL)
            p = A[0] if A.shape[0] == 1 else A[1]
            p = np.nan_to_num(p, nan=0.5, posinf=1.0, neginf=0.0)
            raw = np.clip(np.rint(255 * p), 0, 255).astype(np.uint8)
            probs.append(base64.b64encode(raw.tobytes()).decode("ascii"))
        return {"n": n, "box": self._box, "probs": probs}

    def frame(self, playing: bool = False) -> dict[str, Any]:
        """The ``frame`` message of the current parameters (and the cost-curve points since the last frame)."""
        with self._lock, np.errstate(all="ignore"):  # a diverged run is data: NaN shows as null
            return self._frame(playing)

    def _frame(self, playing: bool) -> dict[str, Any]:
        net, params, L = self.net, self.params, self.net.n_layers
        ZL, caches = forward(net, params, self.X)
        cost = net.loss.value(np, ZL, self.Y)  # the engine's loss of the current params, one per model
        grads = backward(net, params, caches, net.loss.grad(np, ZL, self.Y))
        stats = layer_stats(net, params, caches, grads)
        acc = experiment.accuracy_of(net, ZL, self.Y)  # the logits above: no second forward pass
        outputs = [caches[l - 1][2] if l < L else net.loss.output(np, ZL) for l in range(1, L + 1)]
        # the clone groups of every model and layer: [W | b | A] rows, as distinct_units groups them
        groups = [[clone_groups(np.concatenate([params[f"W{l}"][k], params[f"b{l}"][k], outputs[l - 1][k]], axis=1))
                   for l in range(1, L + 1)] for k in range(self.n_models)]  # fmt: skip
        distinct = np.array([[len(g) for g in per_model] for per_model in groups])  # (M, L)
        layers = []
        for start in self.built.starts:
            k = start.models[0]
            layers.append([self._layer(l, k, grads, stats, outputs[l - 1][k], groups[k][l - 1])
                           for l in range(1, L + 1)])  # fmt: skip
        return {
            "type": "frame",
            "step": self.step,
            "playing": bool(playing),
            "loss": self._take_losses(),
            "cost": [_finite(c) for c in np.asarray(cost, dtype=np.float64).tolist()],
            "accuracy": [_finite(a) for a in np.asarray(acc, dtype=np.float64).tolist()],
            "diverged": [int(d) for d in self.diverged],
            "boundary": self._boundary(),
            "layers": layers,
            "spread": {
                "distinct": distinct.astype(int).tolist(),
                "cost": [_finite(c) for c in np.asarray(cost, dtype=np.float64).tolist()],
            },
        }

    def _layer(self, l: int, k: int, grads: dict[str, np.ndarray], stats: dict[str, np.ndarray], A: np.ndarray,
               groups: list[list[int]]) -> dict[str, Any]:  # fmt: skip
        """One layer of model ``k`` in a frame: shown weights and gradients, metrics, clones, histogram."""
        W, dW = self.params[f"W{l}"][k], grads[f"dW{l}"][k]
        units = W.shape[0]
        rows, cols = min(units, SHOWN_UNITS), min(W.shape[1], SHOWN_UNITS)
        index = [0] * units
        for g, members in enumerate(groups):
            for unit in members:
                index[unit] = g
        counts, edges = _histogram(A)
        out: dict[str, Any] = {"layer": l, "units": units, "shown": rows, "W": _round4(W[:rows, :cols]),
                               "dW": _round4(dW[:rows, :cols])}  # fmt: skip
        for name in ("act_mean", "act_std", "saturated", "dead"):
            out[name] = _finite(float(stats[name][k, l - 1]))
        out["w_std"] = _finite(float(np.std(W)))
        out["distinct"] = len(groups)
        out["groups"] = index
        out["hist"] = {"edges": [_finite(float(e)) for e in edges], "counts": [int(c) for c in counts]}
        return out
