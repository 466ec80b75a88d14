"""lsuv(model, batch): layer-sequential unit-variance initialization (Mishkin & Matas 2016, Algorithm 1).

"All you need is a good init" (ICLR 2016): pre-initialize every layer with an
orthonormal matrix (Saxe et al. 2014), then, layer after layer in the order the
forward pass runs them, push one batch through the model and divide the layer's
weight by the std of its output until that std is close to the target::

    while |std(B_l) - target| > tol * target and iterations < max_iter:
        W_l <- W_l * target / std(B_l)

What this implementation decides, where the paper or the model leaves a choice:

- **Which layers.** ``nn.Linear``, every convolution and transposed convolution, and
  ``nn.MultiheadAttention`` as one unit.  Attention runs its q/k/v and output
  projections through ``F.multi_head_attention_forward``, so no hook sees the
  projections' own outputs; its output is ``out_proj(attention(...))``, and it is that
  output that is measured and ``out_proj.weight`` that is rescaled (the packed q/k/v
  blocks get the orthonormal pre-init only).  Recurrent layers, embeddings and other
  modules with weights are listed as ``skipped`` with the reason; normalization layers
  are left alone and not listed.
- **Orthonormal pre-init.**  Each weight viewed as ``(shape[0], prod(shape[1:]))``
  (a conv kernel ``(out, in/groups * k)``) gets orthonormal rows or columns, with
  gain 1; attention's packed ``(3E, E)`` in-projection gets one orthonormal block per
  q, k and v.  Drawn in float64 on the CPU from ``generator`` (a ``torch.Generator``
  or an int seed), so the same seed gives the same weights on any device.  Biases are
  kept as they are (the paper rescales weights only; the ``lsuv`` package zeroes
  them).
- **Weights only.**  The rescaling multiplies the weight, not the bias (the paper's
  choice): with a bias ``b`` the output ``c W x + b`` is not exactly proportional to
  ``c``, so the loop measures again after each step.  ``centre=True`` (for layers
  with a bias) first subtracts the output's mean per output unit (channel) from the
  bias, then scales the bias together with the weight, so that the output stays
  centred and its std is exactly proportional to the scale.
- **The statistic.**  The population std over every entry of the output (all units,
  examples and positions), computed in float64 with the engine's
  :func:`~initlab.engine.activation_std`.
- **Modes.**  Normalization layers run in training mode (they normalize with the
  batch's own statistics, as in the paper and as in training); every other module runs
  in eval mode (dropout off, so the measurement is deterministic).  Afterwards every
  module's ``training`` flag, every buffer (BN running statistics) and the attention
  fast-path setting are restored; no hook is left.  Everything runs under
  ``torch.no_grad()``.
- **Layers that feed a normalization layer.**  A layer whose output goes straight
  into BatchNorm / LayerNorm / GroupNorm (through dropout or identity modules at most)
  and whose scale the model's output does not see (doubling its weight leaves the
  model's output unchanged, checked on the batch) is not rescaled: the norm would undo
  it.  It is reported ``feeds a normalization layer (not rescaled)`` with its measured
  std; ``rescale_before_norm=True`` rescales it anyway.  A layer whose output also
  takes another path (the residual stream of a pre-LN transformer) is rescaled.
- **Shared modules.**  A module called more than once is processed at its first call;
  ``calls`` in the report says how many times it ran.  A weight tied to a layer
  processed before is skipped.
- **Failures.**  A layer whose output does not vary over the batch (zero std within
  every output unit: only its bias shows, and no weight scale changes that), or is not
  finite, is an :class:`~initlab.InitlabValueError` naming it; a target not reached in
  ``max_iter`` rescalings is an :class:`LSUVWarning` with the numbers, and the layer's
  status is ``not reached`` (``report.ok`` is then False).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import array_api_compat.torch as xp_torch
import torch
from torch import nn

from .._validation import InitlabError, InitlabTypeError, InitlabValueError, check_float, check_int, shown
from ..engine import activation_mean, activation_std
from ._common import call, resolve_device, to_device
from ._fans import _NORMS
from ._tables import Tabular, num, text_table

__all__ = ["LSUVLayer", "LSUVReport", "LSUVWarning", "lsuv"]

OK = "ok"
NOT_REACHED = "not reached"
FEEDS_NORM = "feeds a normalization layer (not rescaled)"
_PASS = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity)
_ZERO = 1e-8  # an output whose std within each unit is below _ZERO * target has zero variance


class LSUVWarning(UserWarning):
    """LSUV did not bring a layer's output std within the tolerance of the target."""


@dataclass(frozen=True)
class LSUVLayer:
    """One layer of an LSUV run.

    ``order`` is the position of the layer's first call in the forward pass (``None``
    when it never ran); ``calls`` how many times it ran on the batch;
    ``iterations`` the number of rescalings; ``std_before`` the output std after the
    orthonormal pre-init (and the rescaling of the layers before it), ``std_after``
    and ``mean_after`` after the last rescaling; ``scale`` the product of the factors
    applied to the weight; ``centred`` whether the bias was shifted; ``status`` one of
    ``ok``, ``not reached``, ``feeds a normalization layer (not rescaled)`` or
    ``skipped: <why>``.
    """

    path: str
    module_type: str
    order: int | None
    calls: int
    iterations: int
    std_before: float | None
    std_after: float | None
    mean_after: float | None
    scale: float
    centred: bool
    status: str

    @property
    def processed(self) -> bool:
        """Whether LSUV rescaled this layer (status ``ok`` or ``not reached``)."""
        return self.status in (OK, NOT_REACHED)


@dataclass(frozen=True)
class LSUVReport(Tabular):
    """What :func:`lsuv` did, one :class:`LSUVLayer` per layer in execution order (layers that never ran last)."""

    model_type: str
    target_std: float
    tol: float
    max_iter: int
    centre: bool
    orthogonal: bool
    seed: int | None
    layers: tuple[LSUVLayer, ...]

    @property
    def ok(self) -> bool:
        """True when every rescaled layer ended within ``tol * target_std`` of the target."""
        return all(layer.status != NOT_REACHED for layer in self.layers)

    def rows(self) -> list[dict[str, Any]]:
        """One dict per layer (``report.to_frame()`` with pandas)."""
        return [asdict(layer) for layer in self.layers]

    def to_dict(self) -> dict[str, Any]:
        """Everything, as plain JSON-ready values (NaN stds become None)."""

        def clean(row: dict[str, Any]) -> dict[str, Any]:
            return {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in row.items()}

        return {
            "model_type": self.model_type,
            "target_std": self.target_std,
            "tol": self.tol,
            "max_iter": self.max_iter,
            "centre": self.centre,
            "orthogonal": self.orthogonal,
            "seed": self.seed,
            "ok": self.ok,
            "rows": [clean(r) for r in self.rows()],
        }

    def plot(self) -> Any:
        """A matplotlib figure: each measured layer's output std before and after LSUV, with the tolerance band."""
        import matplotlib.pyplot as plt

        from ..results import PALETTE

        shown_layers = [layer for layer in self.layers if layer.std_before is not None]
        fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(shown_layers) + 2), 3.6), layout="constrained")
        x = list(range(len(shown_layers)))
        lo, hi = self.target_std * (1 - self.tol), self.target_std * (1 + self.tol)
        ax.axhspan(lo, hi, color=PALETTE[2], alpha=0.2, label=f"target {self.target_std:g} +- {self.tol:g}")
        before = [float(layer.std_before or 0.0) for layer in shown_layers]
        after = [float(layer.std_after or 0.0) for layer in shown_layers]
        ax.plot(x, before, "o--", color=PALETTE[1], label="before")
        ax.plot(x, after, "s-", color=PALETTE[0], label="after")
        for i, layer in enumerate(shown_layers):
            if not layer.processed:
                ax.annotate("not rescaled", (i, layer.std_after or 0.0), fontsize=6, rotation=90, va="bottom")
        ax.set_xticks(x, [layer.path or "(model)" for layer in shown_layers], rotation=60, ha="right", fontsize=7)
        ax.set_yscale("log")
        ax.set_xlabel("layer (execution order)")
        ax.set_ylabel("std of the layer's output")
        ax.set_title(f"LSUV on {self.model_type}", fontsize=9)
        ax.legend(fontsize=7)
        return fig

    def __repr__(self) -> str:
        head = ("#", "layer", "type", "calls", "iters", "std before", "std after", "mean after", "scale", "status")
        body = [
            (
                num(layer.order),
                layer.path or "(model)",
                layer.module_type,
                str(layer.calls),
                str(layer.iterations),
                num(layer.std_before),
                num(layer.std_after),
                num(layer.mean_after),
                num(layer.scale),
                layer.status,
            )
            for layer in self.layers
        ]
        verdict = "all rescaled layers within tolerance" if self.ok else "some layers did not reach the target"
        lines = [
            f"LSUV of {self.model_type}: target std {self.target_std:g}, tol {self.tol:g}, "
            f"max_iter {self.max_iter}, centre {self.centre}, orthogonal {self.orthogonal}, seed {self.seed}: "
            + verdict
        ]
        return "\n".join(lines + text_table(head, body))


# ----------------------------------------------------------------------------------------- helpers


class _Stop(Exception):
    """Raised by a hook to stop the forward pass once the layer was measured."""


def _generator(generator: Any) -> tuple[torch.Generator, int | None]:
    if isinstance(generator, torch.Generator):
        if generator.device.type != "cpu":
            raise InitlabValueError(
                "The 'generator' argument of lsuv must be a CPU torch.Generator or an int seed (weights are drawn "
                f"on the CPU so that a seed gives the same weights on every device). Got one on {generator.device}."
            )
        return generator, None
    if generator is None:
        seed = int(torch.Generator().seed()) % 2**63
    else:
        seed = check_int(generator, "generator", "lsuv", low=0, high=2**63 - 1)
    return torch.Generator().manual_seed(seed), seed


def _orthonormal(weight: torch.Tensor, gen: torch.Generator, blocks: int = 1) -> None:
    """Fill ``weight`` in place: ``blocks`` row blocks, each ``(rows, prod(rest))`` with orthonormal rows or columns."""
    rows = weight.shape[0] // blocks
    cols = weight.numel() // weight.shape[0]
    parts = []
    for _ in range(blocks):
        a = torch.randn(max(rows, cols), min(rows, cols), generator=gen, dtype=torch.float64)
        q, r = torch.linalg.qr(a)  # (max, min), orthonormal columns
        q = q * torch.sign(torch.diagonal(r))  # Haar-distributed (Mezzadri 2007)
        parts.append(q.T if rows < cols else q)  # (rows, cols)
    weight.copy_(torch.cat(parts).reshape(weight.shape).to(weight.dtype))


def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    return None


def _all_tensors(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, Mapping):
        return [t for v in out.values() for t in _all_tensors(v)]
    if isinstance(out, (tuple, list)):
        return [t for v in out for t in _all_tensors(v)]
    return []


def _skip_reason(module: nn.Module) -> str | None:
    """Why a module with its own parameters is not rescaled, or None when it is (or is a norm: not listed)."""
    if isinstance(module, nn.RNNBase):
        return (
            "skipped: a recurrent layer's output is not proportional to its weights (gates, recurrence); "
            "use reinit's orthogonal recurrent weights"
        )
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return "skipped: an embedding is a lookup table, not a fan-scaled layer"
    return "skipped: lsuv rescales Linear, convolution and MultiheadAttention layers only"


def _weight(module: nn.Module) -> torch.Tensor:
    """The weight that LSUV rescales (attention: its output projection's)."""
    if isinstance(module, nn.MultiheadAttention):
        return module.out_proj.weight
    w = module.weight
    assert isinstance(w, torch.Tensor)
    return w


def _bias(module: nn.Module) -> torch.Tensor | None:
    b = module.out_proj.bias if isinstance(module, nn.MultiheadAttention) else getattr(module, "bias", None)
    return b if isinstance(b, torch.Tensor) else None


def _unit_axis(module: nn.Module, out: torch.Tensor) -> int:
    """The axis of the output units: channels (1) for convolutions, the last axis otherwise."""
    return 1 if isinstance(module, nn.modules.conv._ConvNd) and out.dim() > 1 else out.dim() - 1


def _stats(out: torch.Tensor) -> tuple[float, float]:
    flat = out.detach().to(torch.float64).reshape(1, -1)  # (units, examples) = (1, all entries)
    return float(activation_std(xp_torch, flat)), float(activation_mean(xp_torch, flat))


# ----------------------------------------------------------------------------------------- lsuv


def lsuv(
    model: nn.Module,
    batch: Any,
    *,
    target_std: float = 1.0,
    tol: float = 0.1,
    max_iter: int = 10,
    centre: bool = False,
    orthogonal: bool = True,
    rescale_before_norm: bool = False,
    generator: torch.Generator | int | None = None,
    device: torch.device | str | None = None,
) -> LSUVReport:
    """Layer-sequential unit-variance initialization of ``model`` on ``batch``, in place (Mishkin & Matas 2016).

    Args:
        model: any ``nn.Module``; its weights are changed in place (modes, buffers and
            hooks are left as found).
        batch: one input of the model: a tensor (e.g. ``(N, 64)`` or ``(N, C, H, W)``), a
            tuple of positional inputs or a dict of keyword inputs.  Moved to ``device``.
        target_std: the output std each layer is brought to (> 0; default 1.0).
        tol: relative tolerance: done when ``|std - target_std| <= tol * target_std``
            (default 0.1, the paper's ``Tol_var``).
        max_iter: the most rescalings per layer (>= 1; default 10, the paper's ``T_max``).
        centre: also shift each layer's bias so that its output has zero mean per unit.
        orthogonal: start from orthonormal weights (Saxe et al. 2014; default True).
        rescale_before_norm: rescale layers that feed a normalization layer too.
        generator: a CPU ``torch.Generator`` or an int seed for the orthonormal
            weights; None draws a fresh seed, kept in the report's ``seed``.
        device: where to run; None: the model's own device.  Given, the model is moved
            there (``model.to(device)``) and the batch too.

    Returns:
        An :class:`LSUVReport`, one :class:`LSUVLayer` per layer in execution order.

    Raises:
        InitlabValueError: a layer's output has zero variance or is not finite on the
            batch (the error names the layer), or the model rejects the batch.

    See the module docstring for every choice made.

    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 4))
    >>> x = torch.randn(128, 16, generator=torch.Generator().manual_seed(0))
    >>> report = lsuv(model, x, generator=0)
    >>> report.ok, [round(layer.std_after, 1) for layer in report.layers]
    (True, [1.0, 1.0])
    """
    if not isinstance(model, nn.Module):
        raise InitlabTypeError(f"The 'model' argument of lsuv must be a torch.nn.Module. Got {shown(model)} instead.")
    target = check_float(target_std, "target_std", "lsuv", low=0.0, low_open=True)
    tol = check_float(tol, "tol", "lsuv", low=0.0, low_open=True)
    max_iter = check_int(max_iter, "max_iter", "lsuv", low=1, high=10_000)
    for name, flag in (("centre", centre), ("orthogonal", orthogonal), ("rescale_before_norm", rescale_before_norm)):
        if not isinstance(flag, bool):
            raise InitlabTypeError(f"The {name!r} argument of lsuv must be True or False. Got {shown(flag)} instead.")
    gen, seed = _generator(generator)
    lazy = [n for n, p in model.named_parameters() if isinstance(p, nn.parameter.UninitializedParameter)]
    if lazy:
        raise InitlabValueError(
            f"The 'model' argument of lsuv has uninitialized lazy parameters ({', '.join(lazy)}). "
            "Call the model once before lsuv."
        )
    dev = resolve_device(model, device, "lsuv")
    if device is not None:
        model.to(dev)
    batch = to_device(batch, dev)

    names: dict[int, str] = {}
    for path, m in model.named_modules(remove_duplicate=False):
        names.setdefault(id(m), path)
    inner = {id(m.out_proj) for m in model.modules() if isinstance(m, nn.MultiheadAttention)}
    layers = [
        m
        for m in dict.fromkeys(model.modules())
        if id(m) not in inner and not isinstance(m, _NORMS) and any(True for _ in m.parameters(recurse=False))
    ]
    layers += [m for m in dict.fromkeys(model.modules()) if isinstance(m, nn.MultiheadAttention) and m not in layers]
    rescalable = {
        id(m)
        for m in layers
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd, nn.MultiheadAttention))
        and not nn.utils.parametrize.is_parametrized(m)
    }

    modes = [(m, m.training) for m in model.modules()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        torch.backends.mha.set_fastpath_enabled(False)
        model.eval()
        for m in model.modules():
            if isinstance(m, _NORMS):
                m.train()  # normalize with the batch's statistics
        with torch.no_grad():
            if orthogonal:
                done: set[int] = set()
                for m in layers:
                    if id(m) in rescalable:
                        _pre_init(m, gen, done)
            order, calls, candidates, outputs = _survey(model, batch, layers, names)
            records = _process(
                model, batch, layers, names, order, calls, candidates, rescalable, [outputs],
                _Goal(target, tol, max_iter, centre, rescale_before_norm),
            )  # fmt: skip
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for m, mode in modes:
            m.training = mode
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
    records.sort(key=lambda r: (r.order is None, r.order or 0))
    return LSUVReport(type(model).__name__, target, tol, max_iter, centre, orthogonal, seed, tuple(records))


def _pre_init(module: nn.Module, gen: torch.Generator, done: set[int]) -> None:
    """Orthonormal weights for a rescalable layer; each tensor once (tied weights)."""
    if isinstance(module, nn.MultiheadAttention):
        tensors: list[tuple[torch.Tensor, int]] = []
        packed: Any = module.in_proj_weight  # None when kdim or vdim differ from embed_dim
        if packed is not None:
            tensors.append((packed, 3))  # (3E, E): q, k and v blocks
        else:
            tensors += [(w, 1) for w in (module.q_proj_weight, module.k_proj_weight, module.v_proj_weight)]
        tensors.append((module.out_proj.weight, 1))
    else:
        tensors = [(_weight(module), 1)]
    for w, blocks in tensors:
        if id(w) not in done:
            done.add(id(w))
            _orthonormal(w, gen, blocks)


def _survey(
    model: nn.Module, batch: Any, layers: list[nn.Module], names: dict[int, str]
) -> tuple[dict[int, int], dict[int, int], set[int], list[torch.Tensor]]:
    """One full forward pass: first-call positions, numbers of calls, the layers feeding a norm, the outputs.

    A layer is a candidate for "feeds a normalization layer" when a norm's input is
    the very tensor the layer returned, unmodified (same object, same version: no
    in-place op in between; dropout in eval mode and identity return their input).
    """
    order: dict[int, int] = {}
    calls: dict[int, int] = {}
    produced: dict[int, tuple[torch.Tensor, int, int]] = {}  # id(tensor) -> (tensor kept alive, version, layer id)
    candidates: set[int] = set()
    watched = {id(m) for m in layers}

    def pre(module: nn.Module, args: Any) -> None:
        if id(module) in watched:
            order.setdefault(id(module), len(order))
            calls[id(module)] = calls.get(id(module), 0) + 1
        elif isinstance(module, _NORMS) and args and isinstance(args[0], torch.Tensor):
            seen = produced.get(id(args[0]))
            if seen is not None and seen[0] is args[0] and seen[1] == args[0]._version:
                candidates.add(seen[2])

    def post(module: nn.Module, args: Any, out: Any) -> None:
        t = _first_tensor(out)
        if id(module) in watched and t is not None and calls.get(id(module)) == 1:
            produced[id(t)] = (t, t._version, id(module))

    handles = [m.register_forward_pre_hook(pre) for m in model.modules()]
    handles += [m.register_forward_hook(post) for m in model.modules() if id(m) in watched]
    try:
        outputs = [t.detach().clone() for t in _all_tensors(call(model, batch))]
    except InitlabError:
        raise
    except Exception as exc:
        raise InitlabValueError(
            f"The 'batch' argument of lsuv must be an input the model accepts. Running the model on it failed "
            f"with {exc!r}."
        ) from exc
    finally:
        for h in handles:
            h.remove()
    return order, calls, candidates, outputs


def _measure(model: nn.Module, batch: Any, module: nn.Module) -> torch.Tensor | None:
    """The output of ``module``'s first call on ``batch`` (the forward pass stops there)."""
    seen: list[torch.Tensor] = []

    def hook(m: nn.Module, args: Any, out: Any) -> None:
        t = _first_tensor(out)
        if t is not None:
            seen.append(t.detach().clone())
        raise _Stop

    handle = module.register_forward_hook(hook)
    try:
        call(model, batch)
    except _Stop:
        pass
    finally:
        handle.remove()
    return seen[0] if seen else None


def _scale_invariant(model: nn.Module, batch: Any, module: nn.Module, baseline: list[list[torch.Tensor]]) -> bool:
    """Whether doubling the layer's weight leaves the model's outputs unchanged on the batch (a norm absorbs it).

    ``baseline`` holds the model's outputs with the current weights when they are known
    (emptied whenever a weight changes), which saves one forward pass.
    """
    w = _weight(module)
    saved = w.detach().clone()
    if not baseline:
        baseline.append([t.detach().clone() for t in _all_tensors(call(model, batch))])
    before = baseline[0]
    w.mul_(2.0)
    try:
        after = [t.detach() for t in _all_tensors(call(model, batch))]
    finally:
        w.copy_(saved)
    return len(before) == len(after) and all(
        a.shape == b.shape and torch.allclose(a.double(), b.double(), rtol=1e-3, atol=1e-3 * float(b.abs().max()))
        for a, b in zip(after, before, strict=True)
        if a.is_floating_point()
    )


@dataclass(frozen=True)
class _Goal:
    """What each layer is rescaled towards, and how: the settings of one :func:`lsuv` call."""

    target: float
    tol: float
    max_iter: int
    centre: bool
    rescale_before_norm: bool

    def reached(self, std: float) -> bool:
        """Whether an output std is within the tolerance of the target."""
        return abs(std - self.target) <= self.tol * self.target


def _process(
    model: nn.Module,
    batch: Any,
    layers: list[nn.Module],
    names: dict[int, str],
    order: dict[int, int],
    calls: dict[int, int],
    candidates: set[int],
    rescalable: set[int],
    baseline: list[list[torch.Tensor]],
    goal: _Goal,
) -> list[LSUVLayer]:
    records: list[LSUVLayer] = []
    rescaled: dict[int, str] = {}  # id(weight) -> path of the layer that rescaled it
    for m in sorted(layers, key=lambda m: order.get(id(m), len(order))):
        path = names[id(m)]
        numbers: dict[str, Any] = {"iterations": 0, "std_before": None, "std_after": None, "mean_after": None}
        numbers |= {"scale": 1.0, "centred": False}
        if id(m) not in rescalable:
            reason = _skip_reason(m) if not nn.utils.parametrize.is_parametrized(m) else None
            status = reason or "skipped: its weight is parametrized (torch.nn.utils.parametrize)"
        elif calls.get(id(m), 0) == 0:
            status = "skipped: it never ran in the forward pass on this batch"
        elif id(_weight(m)) in rescaled:
            status = f"skipped: its weight is tied to {rescaled[id(_weight(m))]}, rescaled there"
        else:
            status = _rescale(model, batch, m, path, numbers, candidates, baseline, goal)
            if status in (OK, NOT_REACHED):
                rescaled[id(_weight(m))] = path
        records.append(LSUVLayer(path, type(m).__name__, order.get(id(m)), calls.get(id(m), 0), status=status,
                                 **numbers))  # fmt: skip
    return records


def _rescale(
    model: nn.Module,
    batch: Any,
    m: nn.Module,
    path: str,
    numbers: dict[str, Any],
    candidates: set[int],
    baseline: list[list[torch.Tensor]],
    goal: _Goal,
) -> str:
    """Algorithm 1 on one layer; fills ``numbers`` and returns the layer's status."""
    kind, w = type(m).__name__, _weight(m)
    target, tol, max_iter = goal.target, goal.tol, goal.max_iter
    out = _measure(model, batch, m)
    if out is None:
        return "skipped: its output is not a tensor"
    std, mean = _stats(out)
    _check_variance(m, path, out, std, target)
    if id(m) in candidates and not goal.rescale_before_norm and _scale_invariant(model, batch, m, baseline):
        numbers.update(std_before=std, std_after=std, mean_after=mean)
        return FEEDS_NORM
    baseline.clear()  # the weights change from here on
    bias = _bias(m) if goal.centre else None
    std_before, scale, iterations = std, 1.0, 0
    if bias is not None:  # zero mean per unit, then weight and bias scale together: the output stays centred
        axis = _unit_axis(m, out)
        bias.sub_(out.mean(dim=[d for d in range(out.dim()) if d != axis]).to(bias.dtype))  # (units,)
        found = _measure(model, batch, m)
        assert found is not None
        std, mean = _stats(found)
        _check_variance(m, path, found, std, target)
    while not goal.reached(std) and iterations < max_iter:
        factor = target / std
        w.mul_(factor)
        if bias is not None:
            bias.mul_(factor)
        scale *= factor
        iterations += 1
        found = _measure(model, batch, m)
        assert found is not None
        std, mean = _stats(found)
        _check_variance(m, path, found, std, target)
    reached = goal.reached(std)
    if not reached:
        warnings.warn(
            f"lsuv: the output std of {path or '(model)'} ({kind}) is {std:.4g} after {iterations} rescalings "
            f"(max_iter={max_iter}); the target is {target:g} +- {tol * target:.3g} (tol={tol:g}). A bias "
            "that dominates the output (try centre=True) or a layer whose output does not scale with its "
            "weight can cause this.",
            LSUVWarning,
            stacklevel=4,
        )
    numbers.update(iterations=iterations, std_before=std_before, std_after=std, mean_after=mean, scale=scale,
                   centred=bias is not None)  # fmt: skip
    return OK if reached else NOT_REACHED


def _check_variance(m: nn.Module, path: str, out: torch.Tensor, std: float, target: float) -> None:
    """Refuse a non-finite output, and one that does not vary over the batch (no weight scale changes its std)."""
    where, kind = path or "(the model itself)", type(m).__name__
    if not math.isfinite(std):
        raise InitlabValueError(
            f"lsuv cannot rescale layer {where} ({kind}): its output on the batch is not finite (std {std}). "
            "Check the batch and the layers before it."
        )
    o = out.detach().to(torch.float64)
    axis = _unit_axis(m, o)
    dims = [d for d in range(o.dim()) if d != axis]
    within = float((o - o.mean(dim=dims, keepdim=True)).std(correction=0)) if dims else 0.0
    if within < _ZERO * target:
        raise InitlabValueError(
            f"lsuv cannot rescale layer {where} ({kind}): its output has zero variance over the batch (std "
            f"{within:.3g} within each unit; {std:.3g} overall, from the bias), so no weight scale reaches the "
            "target. Its input does not vary: a dead ReLU upstream (a large negative bias), zero weights before "
            "it, a constant batch or a batch of one example."
        )
