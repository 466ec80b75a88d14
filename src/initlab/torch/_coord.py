"""coord_check(factory, widths, batch): do a model's coordinates stay the same size as it gets wider?

The coordinate check of muP (Yang et al. 2022, "Tensor Programs V: Tuning Large Neural
Networks via Zero-Shot Hyperparameter Transfer", and the ``mup`` package): build the
model at several widths, train each a few steps on one batch with the same optimizer
and learning rate, and record, for every layer and step, the mean absolute coordinate
of the layer's output ``l1 = mean(|h|)``.  In a parametrization that transfers across
width (muP), every curve of ``l1`` against width is flat; in the standard
parametrization (PyTorch's default init with one learning rate for all layers) the
output layer's coordinates grow with width after the first update (with SGD or Adam,
``Delta W h`` sums ``width`` correlated terms), which is why the best learning rate
shrinks as models get wider.

What is recorded.  For each width and seed, the model is built by ``factory(width)``
under ``torch.manual_seed`` of that seed (the caller's global RNG is left as it was),
put in training mode, then ``steps`` optimizer steps are taken on ``batch``.  A forward
pass before each step and one after the last give ``step = 0`` (the initialization) to
``step = steps``.  Layers are the modules with their own parameters, in the order the
forward pass first calls them; a module called several times is recorded at its first
call.

The slope.  For each layer and step, the least-squares slope of ``log2(l1)`` (the mean
over seeds) against ``log2(width)``: 0 when the coordinates do not depend on width, 1
when they grow like the width, 0.5 like its square root.  The verdict uses
:data:`STABLE_SLOPE`: ``stable`` when ``|slope| <= STABLE_SLOPE``, ``grows with width``
above, ``shrinks with width`` below ``-STABLE_SLOPE``.  A layer's verdict is that of
the step after the first update (``step >= 1``) whose slope is largest in magnitude:
the blow-up of the standard parametrization shows most at the first step and can
fade as the loss falls.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import (
    InitlabError,
    InitlabTypeError,
    InitlabValueError,
    check_choice,
    check_float,
    check_int,
    shown,
)
from ._common import call, resolve_device, to_device
from ._lsuv import _first_tensor
from ._tables import Tabular, num, text_table

__all__ = ["STABLE_SLOPE", "CoordCheck", "CoordRecord", "coord_check"]

#: |slope of log2(l1) against log2(width)| up to which a layer's coordinates count as stable.  A slope of 0.25
#: means a 2x larger l1 for a 16x wider model (32 -> 512): well beyond the seed noise of a few widths, well
#: below the slope ~1 of the standard parametrization's output layer after one update.
STABLE_SLOPE = 0.25


@dataclass(frozen=True)
class CoordRecord:
    """One layer's mean absolute output coordinate ``l1 = mean(|h|)`` at one width, seed and step."""

    width: int
    seed: int
    step: int
    layer: str
    module_type: str
    l1: float


@dataclass(frozen=True)
class CoordCheck(Tabular):
    """What :func:`coord_check` measured: ``records`` (width x seed x step x layer), ``layers`` in execution order."""

    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    steps: int
    optimizer: str
    lr: float
    layers: tuple[str, ...]
    records: tuple[CoordRecord, ...]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per record (``check.to_frame()`` with pandas); a non-finite l1 is kept as a float."""
        return [asdict(r) for r in self.records]

    def to_dict(self) -> dict[str, Any]:
        """Everything, as plain JSON-ready values (a non-finite l1 or slope becomes None)."""

        def clean(x: Any) -> Any:
            return None if isinstance(x, float) and not math.isfinite(x) else x

        return {
            "widths": list(self.widths),
            "seeds": list(self.seeds),
            "steps": self.steps,
            "optimizer": self.optimizer,
            "lr": self.lr,
            "stable_slope": STABLE_SLOPE,
            "layers": list(self.layers),
            "rows": [{k: clean(v) for k, v in r.items()} for r in self.rows()],
            "slopes": [{k: clean(v) for k, v in r.items()} for r in self.slopes()],
            "verdicts": self.verdicts,
        }

    def l1(self, layer: str, step: int) -> list[float]:
        """The mean over seeds of ``l1`` for ``layer`` at ``step``, one value per width (in ``widths`` order)."""
        out = []
        for w in self.widths:
            vals = [r.l1 for r in self.records if r.width == w and r.step == step and r.layer == layer]
            out.append(float(np.mean(vals)) if vals else math.nan)
        return out

    def slopes(self) -> list[dict[str, Any]]:
        """Per layer and step: the slope of ``log2(l1)`` against ``log2(width)`` and its verdict (module docstring)."""
        x = np.log2(np.asarray(self.widths, dtype=np.float64))
        found = []
        for layer in self.layers:
            for step in range(self.steps + 1):
                y = np.asarray(self.l1(layer, step))
                ok = np.isfinite(y) & (y > 0)
                slope = math.nan
                if ok.sum() >= 2:
                    slope = float(np.polyfit(x[ok], np.log2(y[ok]), 1)[0])
                found.append({"layer": layer, "step": step, "slope": slope, "verdict": _verdict(slope)})
        return found

    @property
    def verdicts(self) -> dict[str, str]:
        """Layer -> verdict of its steepest slope after the first update (``step >= 1``; module docstring)."""
        found: dict[str, tuple[float, str]] = {}
        for r in self.slopes():
            if r["step"] == 0:
                continue
            size = abs(r["slope"]) if math.isfinite(r["slope"]) else math.inf
            if r["layer"] not in found or size > found[r["layer"]][0]:
                found[r["layer"]] = (size, r["verdict"])
        return {layer: verdict for layer, (_, verdict) in found.items()}

    def plot(self) -> Any:
        """A matplotlib figure like the ``mup`` package's: one panel per step, l1 against width, a line per layer."""
        import matplotlib.pyplot as plt

        from ..results import PALETTE

        n = self.steps + 1
        fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), layout="constrained", sharey=True, squeeze=False)
        styles = ("-", "--", ":", "-.")
        for step, ax in enumerate(axes[0]):
            for i, layer in enumerate(self.layers):
                ax.plot(
                    self.widths,
                    self.l1(layer, step),
                    marker="o",
                    markersize=3,
                    color=PALETTE[i % len(PALETTE)],
                    linestyle=styles[(i // len(PALETTE)) % len(styles)],
                    label=layer or "(model)",
                )
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xlabel("width")
            ax.set_title("initialization" if step == 0 else f"after step {step}", fontsize=9)
        axes[0][0].set_ylabel("mean |coordinate| of the layer's output")
        axes[0][-1].legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        fig.suptitle(f"coordinate check: {self.optimizer}, lr {self.lr:g}, {_seeds_text(len(self.seeds))}", fontsize=9)
        return fig

    def __repr__(self) -> str:
        slopes, verdicts = self.slopes(), self.verdicts
        head = ("layer", *(f"slope step {s}" for s in range(self.steps + 1)), "verdict")
        body = []
        for layer in self.layers:
            mine = [r for r in slopes if r["layer"] == layer]
            body.append((layer or "(model)", *(num(r["slope"], 3) for r in mine), verdicts[layer]))
        lines = [
            f"Coordinate check over widths {list(self.widths)}: {self.optimizer}, lr {self.lr:g}, {self.steps} steps, "
            f"{_seeds_text(len(self.seeds))}; slope of log2 mean|h| against log2 width "
            f"(stable: |slope| <= {STABLE_SLOPE})"
        ]
        return "\n".join(lines + text_table(head, body))


def _seeds_text(n: int) -> str:
    return f"{n} seed" if n == 1 else f"{n} seeds"


def _verdict(slope: float) -> str:
    if math.isnan(slope):
        return "unknown (non-finite coordinates)"
    if slope > STABLE_SLOPE:
        return "grows with width"
    if slope < -STABLE_SLOPE:
        return "shrinks with width"
    return "stable"


def _seeds(generator: Any, count: int) -> tuple[int, ...]:
    if isinstance(generator, torch.Generator):
        return tuple(int(s) for s in torch.randint(0, 2**62, (count,), generator=generator))
    if generator is None:
        base = int(torch.Generator().seed()) % 2**62
    else:
        base = check_int(generator, "generator", "coord_check", low=0, high=2**62)
    return tuple(base + i for i in range(count))


def _optimizer(optimizer: Any, lr: float) -> tuple[str, Callable[[Any], torch.optim.Optimizer]]:
    if callable(optimizer):
        return getattr(optimizer, "__name__", type(optimizer).__name__), lambda params: optimizer(params, lr)
    name = check_choice(optimizer, "optimizer", ("sgd", "adam"), "coord_check")
    if name == "sgd":
        return name, lambda params: torch.optim.SGD(params, lr=lr)
    return name, lambda params: torch.optim.Adam(params, lr=lr)


def _loss(output: Any, target: Any, loss_fn: Callable[..., Any] | None) -> Any:
    out = _first_tensor(output)
    if loss_fn is not None:
        return loss_fn(output) if target is None else loss_fn(output, target)
    if out is None:
        raise InitlabValueError(
            "coord_check needs a 'loss_fn' for a model whose output is not a tensor or a tuple starting with one."
        )
    if target is None:
        return out.square().mean()
    if not target.is_floating_point():
        return nn.functional.cross_entropy(out, target)
    return nn.functional.mse_loss(out, target)


def coord_check(
    factory: Callable[[int], nn.Module],
    widths: Sequence[int],
    batch: Any,
    *,
    target: Any = None,
    loss_fn: Callable[..., Any] | None = None,
    steps: int = 3,
    lr: float = 0.01,
    optimizer: str | Callable[[Any, float], torch.optim.Optimizer] = "sgd",
    seeds: int = 2,
    generator: torch.Generator | int | None = None,
    device: torch.device | str | None = None,
) -> CoordCheck:
    """A muP-style coordinate check (Yang et al. 2022): each layer's ``mean(|h|)`` against width, per training step.

    Args:
        factory: ``factory(width) -> nn.Module``, the same architecture at each width.
        widths: at least two distinct widths (ints >= 1), e.g. ``[32, 64, 128, 256, 512]``.
        batch: the model's input: a tensor (e.g. ``(N, 64)``), a tuple of positional
            inputs or a dict of keyword inputs.  Moved to ``device``.
        target: what the loss compares the output with: class indices ``(N,)`` give a
            cross-entropy, a float tensor the mean squared error.  None (and no
            ``loss_fn``): the loss is ``mean(output ** 2)``.
        loss_fn: ``loss_fn(output, target)`` (``loss_fn(output)`` without target), a scalar.
        steps: optimizer steps per model (>= 1); records at steps ``0..steps``.
        lr: the learning rate, the same at every width (> 0).
        optimizer: ``"sgd"``, ``"adam"``, or ``optimizer(params, lr) -> torch.optim.Optimizer``.
        seeds: models per width (>= 1); their ``l1`` is averaged for the slopes.
        generator: an int seed (seeds ``generator, generator + 1, ...``) or a
            ``torch.Generator`` to draw them from; None draws fresh ones, kept in
            the result's ``seeds``.
        device: where to build and train; None: where ``factory`` puts the model.

    Returns:
        A :class:`CoordCheck`: ``rows()`` (width, seed, step, layer, module_type, l1),
        ``slopes()``, ``verdicts`` and ``plot()``.

    >>> from torch import nn
    >>> x = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    >>> check = coord_check(lambda w: nn.Sequential(nn.Linear(16, w), nn.ReLU(), nn.Linear(w, 1)),
    ...                     [16, 64, 256], x, steps=1, generator=0)
    >>> check.verdicts["0"]  # the first layer: fan_in 16 at every width
    'stable'
    """
    if not callable(factory):
        raise InitlabTypeError(
            f"The 'factory' argument of coord_check must be a callable factory(width) -> nn.Module. "
            f"Got {shown(factory)} instead."
        )
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence) or not widths:
        raise InitlabTypeError(
            f"The 'widths' argument of coord_check must be a non-empty sequence of ints >= 1. Got {shown(widths)}."
        )
    given: list[Any] = list(widths)  # checked one by one: the annotation is not a guarantee
    for w in given:
        if isinstance(w, bool) or not isinstance(w, numbers.Integral) or w < 1:
            raise InitlabValueError(
                f"The 'widths' argument of coord_check must hold ints >= 1. Got {shown(w)} in {shown(widths)}."
            )
    ws = tuple(sorted({int(w) for w in widths}))
    if len(ws) < 2:
        raise InitlabValueError(
            f"The 'widths' argument of coord_check must hold at least two distinct widths (a slope needs two "
            f"points). Got {shown(widths)}."
        )
    steps = check_int(steps, "steps", "coord_check", low=1, high=10_000)
    lr = check_float(lr, "lr", "coord_check", low=0.0, low_open=True)
    n_seeds = check_int(seeds, "seeds", "coord_check", low=1, high=1000)
    if loss_fn is not None and not callable(loss_fn):
        raise InitlabTypeError(f"The 'loss_fn' argument of coord_check must be callable. Got {shown(loss_fn)}.")
    if target is not None and not isinstance(target, torch.Tensor):
        raise InitlabTypeError(f"The 'target' argument of coord_check must be a tensor. Got {shown(target)}.")
    opt_name, make_opt = _optimizer(optimizer, lr)
    seed_list = _seeds(generator, n_seeds)
    dev = None if device is None else resolve_device(nn.Module(), device, "coord_check")

    records: list[CoordRecord] = []
    layer_order: dict[str, None] = {}
    for width in ws:
        for seed in seed_list:
            model = _build(factory, width, seed, dev)
            model_dev = next((p.device for p in model.parameters()), dev or torch.device("cpu"))
            found = _train(model, to_device(batch, model_dev), to_device(target, model_dev), loss_fn, steps,
                           make_opt, width)  # fmt: skip
            for step, layer, kind, l1 in found:
                layer_order.setdefault(layer, None)
                records.append(CoordRecord(width, seed, step, layer, kind, l1))
    return CoordCheck(ws, seed_list, steps, opt_name, lr, tuple(layer_order), tuple(records))


def _build(factory: Callable[[int], nn.Module], width: int, seed: int, dev: torch.device | None) -> nn.Module:
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = factory(width)
    except InitlabError:
        raise
    except Exception as exc:
        raise InitlabValueError(
            f"The 'factory' argument of coord_check must build a model for every width; factory({width}) raised "
            f"{exc!r}."
        ) from exc
    if not isinstance(model, nn.Module):
        raise InitlabTypeError(
            f"The 'factory' argument of coord_check must return a torch.nn.Module; factory({width}) returned "
            f"{shown(model)}."
        )
    if dev is not None:
        model.to(dev)
    return model


def _train(
    model: nn.Module,
    batch: Any,
    target: Any,
    loss_fn: Callable[..., Any] | None,
    steps: int,
    make_opt: Callable[[Any], torch.optim.Optimizer],
    width: int,
) -> list[tuple[int, str, str, float]]:
    """Train ``steps`` steps; (step, layer path, module type, l1) for each forward pass."""
    names: dict[int, str] = {}
    for path, m in model.named_modules(remove_duplicate=False):
        names.setdefault(id(m), path)
    watched = [m for m in dict.fromkeys(model.modules()) if any(True for _ in m.parameters(recurse=False))]
    current: dict[int, float] = {}
    order: list[int] = []

    def hook(module: nn.Module, args: Any, out: Any) -> None:
        t = _first_tensor(out)
        if t is not None and id(module) not in current:
            current[id(module)] = float(t.detach().abs().to(torch.float64).mean())
            order.append(id(module))

    handles = [m.register_forward_hook(hook) for m in watched]
    by_id = {id(m): m for m in watched}
    found: list[tuple[int, str, str, float]] = []
    model.train()
    opt = make_opt(model.parameters())
    try:
        for step in range(steps + 1):
            current.clear()
            order.clear()
            try:
                output = call(model, batch)
            except Exception as exc:
                raise InitlabValueError(
                    f"The 'batch' argument of coord_check must be an input the model accepts; the model of width "
                    f"{width} failed on it with {exc!r}."
                ) from exc
            found += [(step, names[i], type(by_id[i]).__name__, current[i]) for i in order]
            if step == steps:
                break
            opt.zero_grad()
            loss = _loss(output, target, loss_fn)
            if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
                raise InitlabValueError(
                    f"The 'loss_fn' argument of coord_check must return a scalar tensor. Got {shown(loss)}."
                )
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
    finally:
        for h in handles:
            h.remove()
    return found
