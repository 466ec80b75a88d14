"""diagnose(model, batch): is the start of any torch model healthy?  Per module call, with a verdict and its numbers.

One forward pass, one backward pass and one optimizer step on ``batch``, watched by
forward hooks, then everything undone.  Every number comes from the engine's
definitions (:mod:`initlab.engine`: ``activation_mean``, ``activation_std``,
``saturated_share``, ``dead_share``, ``gradient_norm``, ``update_ratio``,
``clone_groups``), in float64 numpy, read inside the hook (a layer's output is copied
there until its activation runs), so an in-place activation that later overwrites a
tensor does not change what was seen.

What is recorded: every call of a module that has its own parameters (Linear, Conv,
RNN, attention, embeddings, normalization layers) and of every activation module
(ReLU, Tanh, GELU, ...).  A module called twice gives two records (``call`` 0 and 1).

Units and examples.  A module's output (the first tensor when it returns a tuple) is
laid out as ``(units, examples)``, the engine's ``A[l]``:

- convolutions, and norms and activations applied to a conv's output:
  ``(N, C, *spatial)`` -> ``C`` units, ``N * prod(spatial)`` examples;
- everything else (Linear, RNN, attention, embeddings, transformer layers):
  ``(..., F)`` -> ``F`` units (the last axis), the product of the others examples.

The layer and its activation.  A weight layer's record (``role == "layer"``)
describes the layer as the engine does: ``A = g(Z)`` where ``Z`` is the layer's output
and ``g`` the activation that follows it, found as :func:`initlab.torch.inspect` does
(``activations=`` first, then the module's structure, then the first activation module
that runs after it, through normalization, dropout and identity modules, when it has
as many units).  Its activation statistics are those of that activation module's
output; where ``g`` is known but not a module (``F.relu`` inside a transformer layer),
``A`` is the engine's ``g`` applied to ``Z``.  Clone groups compare the units' rows of
``[W | b | A]`` (weights flattened per output unit, for Linear and convolutions) to
:data:`~initlab.engine.CLONE_TOL`; an activation module paired with a layer shares the
layer's groups; other modules compare their activations only (so an unpaired ReLU's dead
units, all 0, count as clones of each other).

Cost.  Each recorded output is read in blocks of units converted to float64 (about
1 MB at a time, so no temporary the size of the output is made): the engine's sums run
per unit and then over the units, so the mean, std, dead and saturated shares are bit for
bit those of the engine's functions on the whole matrix.  Two parts are capped so that large layers stay
cheap: clone groups compare at most :data:`CLONE_EXAMPLES` examples per unit (evenly
spaced; weights that differ still tell units apart), and histograms count at most
:data:`HISTOGRAM_SAMPLE` evenly spaced entries.  ``benchmarks/torch_diagnose.py``
measures the overhead over a plain training step.

Verdicts (same rules, order and thresholds as :func:`initlab.diagnostics.diagnose`,
first that applies): ``symmetric`` (fewer distinct units than units), ``dead``
(``dead >= DEAD_SHARE``), ``saturated`` (``saturated >= SATURATED_SHARE``),
``exploding`` / ``vanishing`` (activation std above ``EXPLODING_RATIO`` or below
``VANISHING_RATIO`` times the input's std), ``vanishing`` (a layer's gradient norm below
``VANISHING_RATIO`` times the largest layer's; layers only, not norms or activations), else
``healthy``.  The input's std is
that of the first floating-point tensor of ``batch``; for integer inputs (token ids)
it is the std of the first record's output (the embedding).

Kurtosis is the excess kurtosis ``E[(a - mu)^4] / sigma^4 - 3`` over all units and
examples (0 for a Gaussian; ``nan`` for a constant output).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import InitlabError, InitlabTypeError, InitlabValueError, check_choice, check_float, check_int, shown
from ..diagnostics import DEAD_SHARE, EXPLODING_RATIO, SATURATED_SHARE, VANISHING_RATIO
from ..engine import (
    CLONE_TOL,
    SATURATION_FRACTION,
    Activation,
    clone_groups,
    dead_share,
    get_activation,
    gradient_norm,
    saturated_share,
    update_ratio,
)
from ._common import call, resolve_device, to_device
from ._fans import _NORMS
from ._inspect import _PASS_THROUGH, _activation_of, _structural
from ._tables import Tabular, num, text_table

__all__ = ["CallRecord", "Diagnosis", "diagnose"]

_CONV_LIKE: tuple[type[nn.Module], ...] = (
    nn.modules.conv._ConvNd,
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.modules.instancenorm._InstanceNorm,
)
#: Histograms count at most this many entries of an output, evenly spaced (every entry of a smaller one).
HISTOGRAM_SAMPLE = 16_384
#: Clone groups compare units on at most this many examples, evenly spaced (every example of a smaller batch).
CLONE_EXAMPLES = 1024


@dataclass(frozen=True)
class CallRecord:
    """One call of one module: the statistics of its output, its weights' gradient and update, and a verdict.

    ``role`` is ``layer`` (a module with weights), ``norm`` (a normalization layer)
    or ``activation`` (an activation module).  ``activation`` is, for a layer, the
    activation that follows it (``linear`` when none), for an activation module its
    own.  ``shape`` is the module's output shape; ``units`` the number of units (see
    the module docstring).  ``act_*``, ``kurtosis``, ``saturated``, ``dead``,
    ``histogram`` and the clones describe ``A`` (for a layer: after its activation).
    ``grad_norm``, ``weight_norm`` and ``update_ratio`` are over the module's weights
    (its parameters other than biases, with those of children that never run as
    modules, such as attention's ``out_proj``); a module called twice has one gradient,
    shown on each call; NaN for modules without weights.  ``paired`` is the key of the
    activation call a layer was paired with, or of the layer an activation was paired with.
    """

    path: str
    call: int
    module_type: str
    role: str
    activation: str
    shape: tuple[int, ...]
    units: int
    act_mean: float
    act_std: float
    kurtosis: float
    saturated: float
    dead: float
    distinct_units: int
    clone_groups: tuple[tuple[int, ...], ...]
    grad_norm: float
    weight_norm: float
    update_ratio: float
    histogram: tuple[tuple[int, ...], tuple[float, ...]]
    verdict: str
    reasons: tuple[str, ...]
    paired: str | None = None
    key: str = ""
    predicted_std: float = math.nan

    def row(self) -> dict[str, Any]:
        """A flat, JSON-ready dict (histogram and clone groups left out: see :meth:`Diagnosis.to_dict`)."""
        return {
            "key": self.key,
            "path": self.path,
            "call": self.call,
            "module_type": self.module_type,
            "role": self.role,
            "activation": self.activation,
            "shape": list(self.shape),
            "units": self.units,
            "act_mean": _json(self.act_mean),
            "act_std": _json(self.act_std),
            "kurtosis": _json(self.kurtosis),
            "saturated": _json(self.saturated),
            "dead": _json(self.dead),
            "distinct_units": self.distinct_units,
            "grad_norm": _json(self.grad_norm),
            "weight_norm": _json(self.weight_norm),
            "update_ratio": _json(self.update_ratio),
            "verdict": self.verdict,
            "reasons": "; ".join(self.reasons),
            "paired": self.paired,
            "predicted_std": _json(self.predicted_std),
        }


def _json(x: float) -> float | None:
    """A float for JSON: NaN and infinities become None (``json.dumps`` would write invalid JSON)."""
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True)
class Diagnosis(Tabular):
    """What :func:`diagnose` found: one :class:`CallRecord` per module call, in execution order."""

    model_type: str
    mode: str
    loss: str
    optimizer: str
    input_std: float
    records: tuple[CallRecord, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def verdicts(self) -> dict[str, str]:
        """``{key: verdict}``: the key is the module's path (``(model)`` for the model itself), ``path#call`` for a
        module called more than once."""
        return {r.key: r.verdict for r in self.records}

    @property
    def unhealthy(self) -> tuple[CallRecord, ...]:
        """The records whose verdict is not ``healthy``."""
        return tuple(r for r in self.records if r.verdict != "healthy")

    @property
    def layers(self) -> tuple[CallRecord, ...]:
        """The records of modules with weights (``role == "layer"``), in execution order."""
        return tuple(r for r in self.records if r.role == "layer")

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per module call (``diagnosis.to_frame()`` with pandas)."""
        return [r.row() for r in self.records]

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready: the rows plus each call's histogram and clone groups."""
        return {
            "model_type": self.model_type,
            "mode": self.mode,
            "loss": self.loss,
            "optimizer": self.optimizer,
            "input_std": _json(self.input_std),
            "thresholds": {
                "vanishing_ratio": VANISHING_RATIO,
                "exploding_ratio": EXPLODING_RATIO,
                "dead_share": DEAD_SHARE,
                "saturated_share": SATURATED_SHARE,
                "saturation_fraction": SATURATION_FRACTION,
                "clone_tol": CLONE_TOL,
            },
            "notes": list(self.notes),
            "rows": self.rows(),
            "histograms": {
                r.key: {"counts": list(r.histogram[0]), "edges": [_json(e) for e in r.histogram[1]]}
                for r in self.records
            },
            "clone_groups": {r.key: [list(g) for g in r.clone_groups] for r in self.records},
        }

    # ------------------------------------------------------------------ figures

    def plot(self) -> Any:
        """The ``signal`` figure: activation std and gradient norm against depth (log scales), with mean-field
        theory's std (``predicted_std``) drawn over the measured one for a plain chain of Linear layers."""
        return self._signal()

    def figures(self) -> dict[str, Any]:
        """Every figure, by name: ``signal``, ``histograms``, ``shares``, ``clones``, ``updates``."""
        return {
            "signal": self._signal(),
            "histograms": self._histograms(),
            "shares": self._shares(),
            "clones": self._clones(),
            "updates": self._updates(),
        }

    def _axes(self, title: str, n: int) -> tuple[Any, Any]:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(max(5.0, 0.35 * n + 2), 3.6), layout="constrained")
        ax.set_title(f"{self.model_type}: {title}", fontsize=9)
        return fig, ax

    @staticmethod
    def _ticks(ax: Any, records: Iterable[CallRecord]) -> None:
        labels = [r.key for r in records]
        ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=7)

    def _signal(self) -> Any:
        from ..results import PALETTE

        recs = [r for r in self.records if r.role != "activation" or r.paired is None]
        fig, ax = self._axes("signal and gradient by depth", len(recs))
        x = np.arange(len(recs))
        std = np.array([r.act_std for r in recs], dtype=float)
        ax.plot(x, np.where(std > 0, std, np.nan), "o-", color=PALETTE[0], label="activation std")
        ax.axhline(self.input_std, color=PALETTE[6], lw=0.8, ls=":", label="input std")
        theory = np.array([r.predicted_std for r in recs], dtype=float)
        if np.isfinite(theory).any():
            ax.plot(x, theory, "-", color=PALETTE[2], lw=1.2, label="mean-field prediction")
        ax.set_yscale("log")
        ax.set_ylabel("activation std")
        ax.set_xlabel("module call, in execution order")
        self._ticks(ax, recs)
        twin = ax.twinx()
        grad = np.array([r.grad_norm for r in recs], dtype=float)
        twin.plot(x, np.where(grad > 0, grad, np.nan), "s--", color=PALETTE[1], label="gradient norm ||dW||")
        twin.set_yscale("log")
        twin.set_ylabel("gradient norm ||dW||")
        lines = ax.get_lines() + twin.get_lines()
        ax.legend(lines, [ln.get_label() for ln in lines], fontsize=7)
        return fig

    def _histograms(self) -> Any:
        import matplotlib.pyplot as plt

        from ..results import PALETTE

        recs = [r for r in self.records if r.role != "activation" or r.paired is None] or list(self.records)
        cols = min(4, max(1, len(recs)))
        nrows = max(1, math.ceil(len(recs) / cols))
        fig, axes = plt.subplots(nrows, cols, figsize=(2.6 * cols, 2.0 * nrows), layout="constrained", squeeze=False)
        for ax in axes.flat[len(recs) :]:
            ax.set_visible(False)
        for ax, r in zip(axes.flat, recs, strict=False):
            counts, edges = r.histogram
            if counts:
                ax.stairs(counts, edges, fill=True, color=PALETTE[0])
            ax.set_title(f"{r.key} ({r.activation})", fontsize=7)
            ax.tick_params(labelsize=6)
            ax.set_xlabel("activation", fontsize=6)
            ax.set_ylabel("count", fontsize=6)
        fig.suptitle(f"{self.model_type}: activation histograms", fontsize=9)
        return fig

    def _shares(self) -> Any:
        from ..results import PALETTE

        recs = [r for r in self.records if r.role != "activation" or r.paired is None]
        fig, ax = self._axes("dead and saturated shares", len(recs))
        x = np.arange(len(recs))
        ax.bar(x - 0.2, [0.0 if math.isnan(r.dead) else r.dead for r in recs], 0.4, color=PALETTE[3], label="dead")
        sat = [0.0 if math.isnan(r.saturated) else r.saturated for r in recs]
        ax.bar(x + 0.2, sat, 0.4, color=PALETTE[2], label="saturated")
        ax.axhline(DEAD_SHARE, color=PALETTE[6], lw=0.8, ls=":", label="verdict threshold")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("share")
        self._ticks(ax, recs)
        ax.legend(fontsize=7)
        return fig

    def _clones(self) -> Any:
        from ..results import PALETTE

        recs = [r for r in self.records if r.role != "activation" or r.paired is None]
        fig, ax = self._axes("clone map: distinct units / units", len(recs))
        x = np.arange(len(recs))
        share = [r.distinct_units / r.units if r.units else math.nan for r in recs]
        colours = [PALETTE[3] if s < 1 else PALETTE[2] for s in share]
        ax.bar(x, share, color=colours)
        for i, r in enumerate(recs):
            ax.annotate(f"{r.distinct_units}/{r.units}", (i, share[i]), ha="center", va="bottom", fontsize=6)
        ax.set_ylim(0, 1.15)
        ax.set_ylabel("distinct units / units")
        self._ticks(ax, recs)
        return fig

    def _updates(self) -> Any:
        from ..results import PALETTE

        recs = [r for r in self.records if math.isfinite(r.update_ratio)]
        fig, ax = self._axes(f"update / weight ratio after one step ({self.optimizer})", len(recs))
        ratio = [r.update_ratio for r in recs]
        ax.bar(np.arange(len(recs)), [v if v > 0 else np.nan for v in ratio], color=PALETTE[4])
        if recs and any(v > 0 for v in ratio):
            ax.set_yscale("log")
        ax.set_ylabel("||W_after - W_before|| / ||W_before||")
        self._ticks(ax, recs)
        return fig

    def __repr__(self) -> str:
        head = ("call", "type", "act", "units", "mean", "std", "kurt", "sat", "dead", "distinct", "||dW||", "upd",
                "verdict")  # fmt: skip
        body = [
            (
                r.key,
                r.module_type,
                r.activation,
                str(r.units),
                num(r.act_mean, 3),
                num(r.act_std, 3),
                num(r.kurtosis, 3),
                num(r.saturated, 2),
                num(r.dead, 2),
                str(r.distinct_units),
                num(r.grad_norm, 3),
                num(r.update_ratio, 3),
                r.verdict,
            )
            for r in self.records
        ]
        bad = self.unhealthy
        lines = [
            f"Diagnosis of {self.model_type} ({self.mode} mode, loss {self.loss}, one step of {self.optimizer}): "
            f"{len(self.records)} module calls, {len(bad)} not healthy; input std {num(self.input_std, 3)}"
        ]
        lines += text_table(head, body)
        for r in bad:
            lines.append(f"  {r.key}: " + "; ".join(r.reasons))
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------- the run


@dataclass
class _Call:
    """What a hook saw of one module call (filled in stages; frozen into a CallRecord at the end)."""

    path: str
    module: nn.Module
    role: str
    call: int
    shape: tuple[int, ...] = ()
    units: int = 0
    conv_like: bool = False
    stats: dict[str, Any] = field(default_factory=dict)
    z: torch.Tensor | None = None  # a copy of a layer's output, units first, until it is paired or measured
    activation: str = "linear"
    act_known: bool = False  # activation fixed by the override or the module's structure
    paired: int | None = None  # index of the paired call


def _first_tensor(x: Any) -> torch.Tensor | None:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (tuple, list)):
        for item in x:
            found = _first_tensor(item)
            if found is not None:
                return found
    if isinstance(x, Mapping):
        for item in x.values():
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _rows(t: torch.Tensor, conv_like: bool) -> torch.Tensor:
    """``t`` with the units first: ``(C, N, *spatial)`` (a view) or ``(F, examples)``; no copy where it can."""
    a = t.detach()
    if a.dim() == 0:
        return a.reshape(1, 1)
    if a.dim() == 1:
        return a.reshape(-1, 1)
    if conv_like and a.dim() >= 3:
        return a.transpose(0, 1)
    return a.reshape(-1, a.shape[-1]).T


#: Rows of an output are read CHUNK entries at a time (float64, about 1 MB): the temporaries stay in the caches.
CHUNK = 1 << 17


def _chunks(rows: torch.Tensor) -> Iterator[tuple[int, np.ndarray]]:
    """``(first unit, block)``: float64 C-ordered numpy copies of consecutive units of ``rows``, as (k, examples)."""
    units = int(rows.shape[0])
    examples = max(1, math.prod(int(d) for d in rows.shape[1:]))
    k = max(1, CHUNK // examples)
    if rows.device.type == "cpu" and rows.dtype in (torch.float32, torch.float64, torch.float16):
        view = rows.numpy()  # numpy reads the strided view itself: one thread, no torch thread pool per small block
        for i in range(0, units, k):
            yield i, np.array(view[i : i + k], dtype=np.float64).reshape(-1, examples)
        return
    for i in range(0, units, k):
        part = rows[i : i + k]
        buf = torch.empty(tuple(part.shape), dtype=torch.float64)
        buf.copy_(part)  # from the GPU, or from a dtype numpy lacks (bfloat16)
        yield i, buf.reshape(buf.shape[0], -1).numpy()


def _measure(
    rows: torch.Tensor,
    z_rows: torch.Tensor | None,
    act: Activation | None,
    bins: int,
    apply: Activation | None = None,
) -> dict[str, Any]:
    """The engine's statistics of ``A`` (units, examples), read in blocks of units.

    ``rows`` is ``A`` (units first, :func:`_rows`), or ``Z`` when ``apply`` is given
    (then ``A = apply(Z)`` block by block); ``z_rows`` the pre-activation for the
    saturated share.  The results are bit for bit those of the engine's functions on the
    whole ``(units, examples)`` float64 matrix: its sums run per unit (row) and then over
    the row sums, so summing the same rows block by block and then their sums gives the
    same numbers (checked in the tests); dead and saturated shares are counts.  Also
    returns ``cols``: ``A`` at CLONE_EXAMPLES evenly spaced examples, and the histogram
    of HISTOGRAM_SAMPLE evenly spaced entries.
    """
    units = int(rows.shape[0])
    m = max(1, math.prod(int(d) for d in rows.shape[1:]))
    n = units * m
    col_step = -(-m // CLONE_EXAMPLES)
    hist_step = max(1, -(-n // HISTOGRAM_SAMPLE))
    add = np.add.reduce
    row_sums, samples, cols = [], [], []
    dead = saturated = 0.0
    blocks: list[tuple[int, np.ndarray]] = []
    keep = apply is not None or n <= 4 * CHUNK  # small outputs: keep the blocks for the second pass
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # non-finite values are data
        z_blocks = _chunks(z_rows) if z_rows is not None and act is not None and act.saturating else None
        for i, block in _chunks(rows):
            k = block.shape[0]
            Z = block
            if apply is not None:
                block = apply.forward(np, Z)
            elif z_blocks is not None:
                Z = next(z_blocks)[1]
            row_sums.append(add(block, axis=-1))
            if act is not None:
                if act.saturating and (apply is not None or z_blocks is not None):
                    saturated += round(float(saturated_share(np, act, Z, block)) * k * m)
                if act.can_die:
                    dead += round(float(dead_share(np, act, block)) * k)
            flat = block.reshape(-1)
            samples.append(flat[(-(i * m)) % hist_step :: hist_step])
            cols.append(block[:, ::col_step])
            if keep:
                blocks.append((i, block))
        mean = add(np.concatenate(row_sums)) / n  # activation_mean: sum2(A) / (n_l m)
        sums2, sums4 = [], []
        for _, block in blocks if keep else _chunks(rows):
            d = block - mean
            np.multiply(d, d, out=d)
            sums2.append(add(d, axis=-1))
            np.multiply(d, d, out=d)
            sums4.append(add(d, axis=-1))
        var = add(np.concatenate(sums2)) / n
        std = float(np.sqrt(var))  # activation_std: sqrt(sum2((A - mean)^2) / (n_l m))
        m4 = add(np.concatenate(sums4)) / n
        kurtosis = float(m4 / (var * var) - 3.0) if var > 0 and math.isfinite(var) else math.nan
    can_saturate = act is not None and act.saturating and (apply is not None or z_rows is not None)
    return {
        "act_mean": float(mean),
        "act_std": std,
        "kurtosis": kurtosis,
        "saturated": saturated / n if can_saturate else math.nan,
        "dead": dead / units if act is not None and act.can_die else math.nan,
        "histogram": _histogram(np.concatenate(samples), bins),
        "cols": np.concatenate(cols, axis=0),
    }


def _histogram(sample: np.ndarray, bins: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Counts and edges of the finite entries of ``sample`` over their range (as numpy.histogram)."""
    finite = sample if np.isfinite(sample).all() else sample[np.isfinite(sample)]
    if finite.size == 0:
        return (), ()
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    index = ((finite - lo) * (bins / (hi - lo))).astype(np.intp)
    np.clip(index, 0, bins - 1, out=index)  # the largest value goes in the last bin, as in numpy.histogram
    counts = np.bincount(index, minlength=bins)
    edges = np.linspace(lo, hi, bins + 1)
    return tuple(int(c) for c in counts), tuple(float(e) for e in edges)


def _unit_rows(module: nn.Module, units: int) -> np.ndarray | None:
    """Each output unit's own incoming weights and bias, one row per unit, for Linear and convolutions."""
    if not isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)) or isinstance(
        module, nn.modules.conv._ConvTransposeNd
    ):
        return None
    w = module.weight.detach()
    if w.shape[0] != units:
        return None
    rows = [w.reshape(units, -1)]
    b = getattr(module, "bias", None)
    if isinstance(b, torch.Tensor):
        rows.append(b.detach().reshape(units, 1))
    out: np.ndarray = np.concatenate([r.to("cpu", torch.float64).numpy() for r in rows], axis=1)
    return out


def _clones(weights: np.ndarray | None, A: np.ndarray) -> list[list[int]]:
    """Clone groups of the units' rows ``[weights | A]`` (``A``: the measured examples, ``cols`` of _measure)."""
    features = A if weights is None else np.concatenate([weights, A], axis=1)
    with np.errstate(over="ignore", invalid="ignore"):
        return clone_groups(features, CLONE_TOL)


def _engine_activation(name: str) -> Activation | None:
    try:
        return get_activation(name)
    except InitlabError:
        return None


def _weights_of(module: nn.Module, ran: set[int]) -> list[tuple[str, nn.Parameter]]:
    """A module's weights: own parameters other than biases, and those of children that never ran as modules."""
    found = [(n, p) for n, p in module.named_parameters(recurse=False) if "bias" not in n]
    for name, child in module.named_modules():
        if name and id(child) not in ran:
            found += [(f"{name}.{n}", p) for n, p in child.named_parameters(recurse=False) if "bias" not in n]
    return found


def _norm(tensors: Iterable[torch.Tensor]) -> float:
    """The engine's Frobenius norm of several tensors together (each as a matrix of rows: ``(d0, -1)``)."""
    norms = []
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite values are data
        for t in tensors:
            m = t.detach().to("cpu", torch.float64).reshape(t.shape[0] if t.dim() else 1, -1).numpy()
            norms.append(float(gradient_norm(np, m)))
    if not norms:
        return math.nan
    return norms[0] if len(norms) == 1 else math.hypot(*norms)  # hypot: no overflow from squaring


def _ratio(deltas: list[torch.Tensor], before: list[torch.Tensor]) -> float:
    """The engine's update_ratio ``||dW|| / ||W||`` (one tensor), or the same over several together."""
    if not deltas:
        return math.nan
    if len(deltas) == 1:
        d = deltas[0].detach().to("cpu", torch.float64)
        w = before[0].detach().to("cpu", torch.float64)
        rows = d.shape[0] if d.dim() else 1
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            return float(update_ratio(np, d.reshape(rows, -1).numpy(), w.reshape(rows, -1).numpy()))
    top, bottom = _norm(deltas), _norm(before)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(top) / np.float64(bottom))


def _verdict(rec: dict[str, Any], role: str, input_std: float, max_grad: float) -> tuple[str, list[str]]:
    """The engine's rules (initlab.diagnostics.diagnose), in its order and words, on one call's numbers."""
    reasons = []
    units, distinct = rec["units"], rec["distinct_units"]
    if units > 1 and distinct < units:
        reasons.append(f"symmetric: {distinct} distinct of {units} units (clone tolerance {CLONE_TOL:g})")
    if not math.isnan(rec["dead"]) and rec["dead"] >= DEAD_SHARE:
        reasons.append(f"dead: {rec['dead']:.0%} of units are 0 on every example (threshold {DEAD_SHARE:.0%})")
    if not math.isnan(rec["saturated"]) and rec["saturated"] >= SATURATED_SHARE:
        reasons.append(
            f"saturated: {rec['saturated']:.0%} of units x examples have g'(z) < {SATURATION_FRACTION} g'(0)"
        )
    std, grad = rec["act_std"], rec["grad_norm"]
    ratio = std / input_std if input_std > 0 else math.nan
    if ratio > EXPLODING_RATIO or not math.isfinite(std):
        reasons.append(f"exploding: activation std {std:.3g} is {ratio:.3g} x the input's")
    elif ratio < VANISHING_RATIO:
        reasons.append(f"vanishing: activation std {std:.3g} is {ratio:.3g} x the input's")
    elif role == "layer" and max_grad > 0 and grad < VANISHING_RATIO * max_grad:
        reasons.append(f"vanishing: ||dW|| {grad:.3g} is {grad / max_grad:.3g} x the largest layer's")
    verdict = reasons[0].split(":")[0] if reasons else "healthy"
    return verdict, reasons


def _mean_field(kept: list[_Call], calls: list[_Call], batch: Any) -> dict[int, float]:
    """Mean-field theory's std of each call's ``A``, for a plain chain of ``nn.Linear`` layers and activations.

    Layer by layer, from the input's mean square ``m = mean(x^2)``: ``q = sigma_w2 m + sigma_b2`` with the
    layer's own ``sigma_w2 = fan_in mean(W^2)`` and ``sigma_b2 = mean(b^2)``, then the activation's moments at
    ``q`` (:func:`initlab.theory.predict_layers`, one layer at a time, so each layer may have its own
    activation), and ``m = E[phi(sqrt(q) z)^2]`` for the next layer.  Any other module (a convolution, a norm,
    a residual model seen as calls out of order), a layer called twice, an input that is not one floating-point
    tensor, or an activation the theory does not know: no prediction (an empty dict)."""
    from ..theory import QuadratureWarning, predict_layers

    if not isinstance(batch, torch.Tensor) or not batch.is_floating_point() or batch.numel() == 0:
        return {}
    with torch.no_grad():
        m = float((batch.detach().double() ** 2).mean())
    out: dict[int, float] = {}
    layer: _Call | None = None
    for c in kept:
        if c.role == "layer":
            if not isinstance(c.module, nn.Linear) or c.call > 0:
                return {}
            with torch.no_grad():
                w = c.module.weight.detach().double()
                sw = float((w**2).mean()) * w.shape[1]
                sb = 0.0 if c.module.bias is None else float((c.module.bias.detach().double() ** 2).mean())
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", QuadratureWarning)
                    p = predict_layers(c.activation, sw, sb, 1, m)
            except InitlabError:
                return {}
            out[id(c)], m, layer = float(p.act_std[0]), float(p.act_sq[0]), c
        elif c.role == "activation" and layer is not None and c.paired is not None and calls[c.paired] is layer:
            out[id(c)] = out[id(layer)]
        else:
            return {}
    return out


def _input_std(batch: Any) -> float:
    items = batch if isinstance(batch, tuple) else tuple(batch.values()) if isinstance(batch, Mapping) else (batch,)
    for item in items:
        if isinstance(item, torch.Tensor) and item.is_floating_point() and item.numel() > 0:
            return float(_measure(_rows(item, False), None, None, 1)["act_std"])
    return math.nan


def _surrogate(output: Any) -> torch.Tensor:
    out = _first_tensor(output)
    if out is None or not out.is_floating_point():
        raise InitlabValueError(
            "diagnose without 'loss_fn' needs a model whose output is (or starts with) a floating-point tensor. "
            f"Got an output of type {type(output).__name__} instead; pass loss_fn."
        )
    return 0.5 * out.pow(2).mean()


def diagnose(
    model: nn.Module,
    batch: Any,
    loss_fn: Callable[..., torch.Tensor] | None = None,
    *,
    target: Any = None,
    activations: Mapping[str, str] | None = None,
    lr: float = 0.1,
    optimizer: Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer] | None = None,
    device: torch.device | str | None = None,
    histogram_bins: int = 40,
    mode: str = "train",
) -> Diagnosis:
    """Run ``batch`` through ``model`` once forward, once backward and one optimizer step; report every module call.

    ``batch``: the model's input, a tensor, a tuple of positional inputs or a dict of
    keyword inputs.  The loss is ``loss_fn(output, target)`` when ``target`` is given,
    ``loss_fn(output)`` when not, and without ``loss_fn`` the surrogate
    ``0.5 * mean(output ** 2)`` over the output's first tensor (its gradient is the
    output itself divided by its size, so the gradient flow through the model is still
    measured).  ``activations`` maps module paths to the activation that follows them,
    for activations called as functions (see :func:`initlab.torch.inspect`).

    The update ratio is ``||W_after - W_before|| / ||W_before||`` per module after one
    step of ``optimizer(params)`` (a factory, e.g. ``lambda p: torch.optim.Adam(p, 1e-3)``)
    or of ``torch.optim.SGD(params, lr)`` by default.

    ``mode``: ``"train"`` (default: the start of training as it happens, with batch
    statistics in BatchNorm and dropout active) or ``"eval"`` (running statistics, no
    dropout).  ``device``: where ``batch`` and ``target`` are moved (default: the device
    of the model's first parameter); the model is never moved.

    The model is left exactly as found, also when it raises: parameters and buffers
    bit-identical (BatchNorm's running statistics and ``num_batches_tracked``
    included), each parameter's ``.grad`` the same object as before (``None`` stays
    ``None``), every module's train/eval mode, no hooks, the attention fast-path
    setting and the global torch random state (dropout draws from a forked one).

    See the module docstring for what is recorded, the units of each output and the
    verdict rules.

    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.zero_(), net[0].bias.zero_()
    >>> found = diagnose(net, torch.randn(32, 4))
    >>> found.verdicts["0"], found.records[0].distinct_units
    ('symmetric', 1)
    """
    if not isinstance(model, nn.Module):
        raise InitlabTypeError(
            f"The 'model' argument of diagnose must be a torch.nn.Module. Got {shown(model)} instead."
        )
    if loss_fn is not None and not callable(loss_fn):
        raise InitlabTypeError(
            f"The 'loss_fn' argument of diagnose must be a callable (output[, target]) -> loss or None. "
            f"Got {shown(loss_fn)} instead."
        )
    if target is not None and loss_fn is None:
        raise InitlabValueError(
            "The 'target' argument of diagnose needs a 'loss_fn' to compare the output with. "
            "Got a target and no loss_fn."
        )
    if optimizer is not None and not callable(optimizer):
        raise InitlabTypeError(
            "The 'optimizer' argument of diagnose must be a callable params -> torch.optim.Optimizer or None. "
            f"Got {shown(optimizer)} instead."
        )
    lr = check_float(lr, "lr", "diagnose", low=0.0, low_open=True)
    bins = check_int(histogram_bins, "histogram_bins", "diagnose", low=1, high=10_000)
    mode = check_choice(mode, "mode", ["train", "eval"], "diagnose")
    if isinstance(batch, (list, Mapping)) and not isinstance(batch, Mapping):
        batch = tuple(batch)
    if _first_tensor(batch) is None:
        raise InitlabTypeError(
            "The 'batch' argument of diagnose must be a tensor, a tuple of positional inputs or a dict of keyword "
            f"inputs with at least one tensor. Got {shown(batch)} instead."
        )
    lazy = [n for n, p in model.named_parameters() if isinstance(p, nn.parameter.UninitializedParameter)]
    if lazy:
        raise InitlabValueError(
            f"The 'model' argument of diagnose has uninitialized lazy parameters ({', '.join(lazy)}); running it "
            "would create them and change the model. Call the model once before diagnose."
        )
    overrides = dict(activations or {})
    modules = dict(model.named_modules())
    for path, name in overrides.items():
        if path not in modules:
            raise InitlabValueError(
                "The 'activations' argument of diagnose must map module paths of the model to activation names. "
                f"Got the path {path!r}, which is not a module of the model."
            )
        if not isinstance(name, str) or _engine_activation(name) is None:
            raise InitlabValueError(
                "The 'activations' argument of diagnose must map to linear, relu, leaky_relu, tanh, sigmoid, gelu, "
                f"silu, elu or selu. Got {shown(name)} for {path!r} instead."
            )
    params = list(model.parameters())
    dev = resolve_device(model, device, "diagnose")
    batch = to_device(batch, dev)
    target = to_device(target, dev)

    names: dict[int, str] = {}
    for path, m in model.named_modules(remove_duplicate=False):
        names.setdefault(id(m), path)
    parents = {f"{p}.{c}" if p else c: m for p, m in model.named_modules() for c, _ in m.named_children()}

    calls: list[_Call] = []
    counts: dict[int, int] = {}
    ran: set[int] = set()
    input_std = _input_std(batch)

    def role_of(module: nn.Module) -> str | None:
        if _activation_of(module) is not None:
            return "activation"
        if isinstance(module, _NORMS):
            return "norm"
        if isinstance(module, _PASS_THROUGH):
            return "pass"
        if any(True for _ in module.parameters(recurse=False)):
            return "layer"
        return None

    roles = {id(m): r for m in model.modules() if (r := role_of(m)) is not None}

    def pre_hook(module: nn.Module, args: Any) -> None:
        ran.add(id(module))
        n = counts.get(id(module), 0)
        counts[id(module)] = n + 1
        calls.append(_Call(names[id(module)], module, roles[id(module)], n))
        stack.append(len(calls) - 1)

    stack: list[int] = []

    def hook(module: nn.Module, args: Any, output: Any) -> None:
        index = stack.pop()
        c = calls[index]
        if c.role == "pass":
            return
        out = _first_tensor(output)
        if out is None or not out.is_floating_point():
            c.role = "pass"  # nothing to measure (an output without a floating-point tensor)
            return
        c.shape = tuple(int(d) for d in out.shape)
        previous = _previous(index)
        # channels are the units of a conv's output, and of what follows it with as many axes (pooled or not)
        after_conv = previous is not None and calls[previous].conv_like and len(calls[previous].shape) == len(c.shape)
        c.conv_like = isinstance(module, _CONV_LIKE) or (c.role in ("activation", "norm") and after_conv)
        rows = _rows(out, c.conv_like)
        c.units = int(rows.shape[0])
        if c.role == "activation":
            name = _activation_of(module) or "linear"
            c.activation = name
            act = _engine_activation(name)
            z_in = _first_tensor(args) if act is not None and act.saturating else None
            z_rows = None if z_in is None or z_in.shape != out.shape else _rows(z_in, c.conv_like)
            c.stats = _measure(rows, z_rows, act, bins)
            cols = c.stats.pop("cols")
            layer = _pair_for(index)
            if layer is None:
                c.stats["clones"] = _clones(None, cols)
                return
            lc = calls[layer]
            lc.paired, c.paired = index, layer
            lc.activation = name
            lc.stats = dict(c.stats)
            # the layer's units with their own weights: tells clones from units that merely look alike (dead ones)
            lc.stats["clones"] = c.stats["clones"] = _clones(_unit_rows(lc.module, lc.units), cols)
            lc.z = None
            return
        c.z = _rows(out.detach().clone(), c.conv_like)  # measured when paired, or at the end; safe from in-place ops
        if c.role == "layer":
            path = c.path
            first = next((n for n, _ in module.named_parameters(recurse=False)), "weight")
            if path in overrides:
                c.activation, c.act_known = overrides[path], True
            elif (structural := _structural(module, first, parents, path)) is not None:
                c.activation, c.act_known = structural, True

    def _previous(index: int) -> int | None:
        for j in range(index - 1, -1, -1):
            if calls[j].role != "pass" and calls[j].shape:
                return j
        return None

    def _pair_for(index: int) -> int | None:
        """The layer an activation call follows: the last call before it, through norms and pass-throughs."""
        for j in range(index - 1, -1, -1):
            cj = calls[j]
            if cj.role in ("pass", "norm"):
                continue
            ok = cj.role == "layer" and cj.paired is None and cj.z is not None and cj.units == calls[index].units
            return j if ok and not cj.act_known else None  # an override or the module's structure decides alone
        return None

    hooked = [m for m in model.modules() if id(m) in roles]
    before = {id(m): m.training for m in model.modules()}
    hooks_before = {id(m): (dict(m._forward_hooks), dict(m._forward_pre_hooks)) for m in model.modules()}
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    saved = [(p, p.detach().clone(), p.grad) for p in params]
    fastpath = torch.backends.mha.get_fastpath_enabled()
    handles: list[Any] = []
    devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    weights: dict[int, list[tuple[str, nn.Parameter]]] = {}
    grads: dict[int, float] = {}
    norms: dict[int, float] = {}
    updates: dict[int, float] = {}
    loss_name = "0.5 * mean(output^2) (surrogate)" if loss_fn is None else _describe(loss_fn)
    opt_name = f"SGD(lr={lr:g})" if optimizer is None else "the given optimizer"
    try:
        with torch.random.fork_rng(devices=devices):
            for p in params:
                p.grad = None
            torch.backends.mha.set_fastpath_enabled(False)
            model.train(mode == "train")
            for m in hooked:
                handles.append(m.register_forward_pre_hook(pre_hook))
                handles.append(m.register_forward_hook(hook))
            with torch.enable_grad():
                try:
                    output = call(model, batch)
                except InitlabError:
                    raise
                except Exception as exc:
                    raise InitlabValueError(
                        "The 'batch' argument of diagnose must be an input the model accepts. "
                        f"Running the model on it failed with {exc!r}."
                    ) from exc
                for h in handles:
                    h.remove()
                handles.clear()
                loss = _loss(loss_fn, output, target)
                trainable = [p for p in params if p.requires_grad]
                if loss.requires_grad:
                    loss.backward()  # type: ignore[no-untyped-call]
            ran_ids = ran
            for c in calls:
                if c.role in ("layer", "norm") and id(c.module) not in weights:
                    w = _weights_of(c.module, ran_ids)
                    weights[id(c.module)] = w
                    g = [p.grad for _, p in w if p.grad is not None]
                    grads[id(c.module)] = _norm(g) if g and len(g) == len(w) else math.nan
                    norms[id(c.module)] = _norm(p for _, p in w)
            if trainable and any(p.grad is not None for p in trainable):
                before_step = {id(p): p.detach().clone() for ws in weights.values() for _, p in ws}
                opt = torch.optim.SGD(trainable, lr=lr) if optimizer is None else optimizer(trainable)
                if not isinstance(opt, torch.optim.Optimizer):
                    raise InitlabTypeError(
                        "The 'optimizer' argument of diagnose must return a torch.optim.Optimizer when called with the "
                        f"parameters. Got {shown(opt)} instead."
                    )
                opt.step()
                for key, ws in weights.items():
                    live = [(p, before_step[id(p)]) for _, p in ws if p.grad is not None]
                    if live and len(live) == len(ws):
                        updates[key] = _ratio([p.detach() - b for p, b in live], [b for _, b in live])
    finally:
        for h in handles:
            h.remove()
        torch.backends.mha.set_fastpath_enabled(fastpath)
        with torch.no_grad():
            for p, value, grad in saved:
                p.copy_(value)
                p.grad = grad
            for b, value in buffers:
                b.copy_(value)
        for m in model.modules():
            m.training = before.get(id(m), m.training)
            forward_hooks, pre_hooks = hooks_before.get(id(m), ({}, {}))
            if dict(m._forward_hooks) != forward_hooks or dict(m._forward_pre_hooks) != pre_hooks:  # pragma: no cover
                raise InitlabError(f"diagnose left a hook on {names.get(id(m), '?')}; please report this")

    # layers and norms that no activation module followed: their own output, through a known functional activation
    for c in calls:
        if c.role in ("layer", "norm") and c.z is not None:
            act = _engine_activation(c.activation) if c.role == "layer" else None
            if c.role == "layer" and act is not None and c.act_known and c.activation != "linear":
                if _recurrent(c.module):  # the output is already h = g(...); its pre-activation stays inside
                    stats = _measure(c.z, None, act, bins)
                else:
                    stats = _measure(c.z, None, act, bins, apply=act)
            else:
                stats = _measure(c.z, None, None, bins)
                if c.role == "layer" and not c.act_known:
                    c.activation = "linear"
            own = _unit_rows(c.module, c.units) if c.role == "layer" else _norm_rows(c.module, c.units)
            stats["clones"] = _clones(own, stats.pop("cols"))
            c.stats = stats
            c.z = None

    kept = [c for c in calls if c.role != "pass" and c.stats]
    if math.isnan(input_std) and kept:
        input_std = float(kept[0].stats["act_std"])
    totals: dict[str, int] = {}
    for c in kept:
        totals[c.path] = totals.get(c.path, 0) + 1
    layer_grads = [grads.get(id(c.module), math.nan) for c in kept if c.role == "layer"]
    max_grad = max((g for g in layer_grads if math.isfinite(g)), default=0.0)
    keys = {id(c): (c.path or "(model)") + ("" if totals[c.path] == 1 else f"#{c.call}") for c in kept}
    records = []
    for c in kept:
        s = c.stats
        groups = s["clones"]
        numbers = {
            "units": c.units,
            "distinct_units": len(groups),
            "dead": s["dead"],
            "saturated": s["saturated"],
            "act_std": s["act_std"],
            "grad_norm": grads.get(id(c.module), math.nan),
        }
        verdict, reasons = _verdict(numbers, c.role, input_std, max_grad)
        records.append(
            CallRecord(
                path=c.path,
                call=c.call,
                module_type=type(c.module).__name__,
                role=c.role,
                activation=c.activation,
                shape=c.shape,
                units=c.units,
                act_mean=s["act_mean"],
                act_std=s["act_std"],
                kurtosis=s["kurtosis"],
                saturated=s["saturated"],
                dead=s["dead"],
                distinct_units=len(groups),
                clone_groups=tuple(tuple(g) for g in groups if len(g) > 1),
                grad_norm=numbers["grad_norm"],
                weight_norm=norms.get(id(c.module), math.nan),
                update_ratio=updates.get(id(c.module), math.nan),
                histogram=s["histogram"],
                verdict=verdict,
                reasons=tuple(reasons),
                paired=None if c.paired is None else keys.get(id(calls[c.paired])),
                key=keys[id(c)],
            )
        )
    predicted = _mean_field(kept, calls, batch)
    records = [replace(r, predicted_std=predicted.get(id(c), math.nan)) for r, c in zip(records, kept, strict=True)]
    notes = []
    if any(totals[p] > 1 for p in totals):
        notes.append("a module called more than once has one gradient (the sum over its calls), shown on each call")
    return Diagnosis(type(model).__name__, mode, loss_name, opt_name, input_std, tuple(records), tuple(notes))


def _recurrent(module: nn.Module) -> bool:
    return isinstance(module, nn.RNNBase)


def _norm_rows(module: nn.Module, units: int) -> np.ndarray | None:
    """A normalization layer's per-channel scale and shift, one row per unit, where it has them."""
    rows = []
    for name in ("weight", "bias"):
        t = getattr(module, name, None)
        if isinstance(t, torch.Tensor) and t.dim() == 1 and t.shape[0] == units:
            rows.append(t.detach().to("cpu", torch.float64).reshape(units, 1).numpy())
    return np.concatenate(rows, axis=1) if rows else None


def _describe(loss_fn: Callable[..., Any]) -> str:
    if isinstance(loss_fn, nn.Module):
        return type(loss_fn).__name__
    return getattr(loss_fn, "__name__", type(loss_fn).__name__)


def _loss(loss_fn: Callable[..., Any] | None, output: Any, target: Any) -> torch.Tensor:
    if loss_fn is None:
        return _surrogate(output)
    try:
        loss = loss_fn(output) if target is None else loss_fn(output, target)
    except InitlabError:
        raise
    except Exception as exc:
        call = "loss_fn(output)" if target is None else "loss_fn(output, target)"
        raise InitlabValueError(
            f"The 'loss_fn' argument of diagnose must accept the model's output; {call} failed with {exc!r}."
        ) from exc
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or not loss.is_floating_point():
        raise InitlabValueError(
            "The 'loss_fn' argument of diagnose must return a floating-point tensor with one element. "
            f"Got {shown(loss)} instead."
        )
    return loss.reshape(())
