"""inspect(model): every parameter of a torch model with its fans, the activation that follows and target stds.

The activation that follows a layer decides its target std (He et al. 2015): a
weight followed by relu wants ``gain / sqrt(fan_in)`` with ``gain = sqrt(2)``.  It is
found, in this order of precedence:

1. ``activations=`` given by the caller (module path -> activation name);
2. the module's structure: a recurrent layer's own nonlinearity, ``linear1`` of a
   ``nn.Transformer*Layer`` (its ``activation``), the q/k/v projection of attention
   (``linear``: a softmax of dot products follows, not an elementwise activation);
3. with ``example``: the order in which modules actually run (forward hooks): the
   first activation module that runs after the layer, skipping normalization,
   dropout and identity modules, before the next layer with weights;
4. without ``example``: the same rule over the registration order of the modules.

Activations called as functions (``F.relu`` inside ``forward``) are invisible to
both orders; such layers read ``linear`` and the row's ``activation_from`` says
``none seen``: pass ``activations=`` for them.

Target stds for a weight with fans ``(n_in, n_out)`` followed by activation ``g``:
He ``gain(g) / sqrt(n_in)``, LeCun ``1 / sqrt(n_in)``, Xavier
``gain(g) * sqrt(2 / (n_in + n_out))``, with ``gain`` torch's table (relu sqrt(2),
tanh 5/3, ...) and, for gelu, silu and elu, the forward-variance gain of
:func:`initlab.initializers.gain`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import InitlabError, InitlabTypeError, InitlabValueError, shown
from ..engine import get_activation
from ..initializers import TORCH_GAINS, gain
from ._common import call
from ._fans import _NORMS, param_fans
from ._tables import Tabular, num, text_table

__all__ = ["Inspection", "ParamRow", "inspect"]

_ACTIVATIONS: dict[type[nn.Module], str] = {
    nn.ReLU: "relu",
    nn.ReLU6: "relu",
    nn.LeakyReLU: "leaky_relu",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.GELU: "gelu",
    nn.SiLU: "silu",
    nn.ELU: "elu",
    nn.SELU: "selu",
    nn.PReLU: "leaky_relu",
}
_PASS_THROUGH: tuple[type[nn.Module], ...] = (
    *_NORMS,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.Identity,
)
_FUNCTIONS = {"relu": "relu", "gelu": "gelu", "tanh": "tanh", "sigmoid": "sigmoid", "silu": "silu", "elu": "elu"}


@dataclass(frozen=True)
class ParamRow:
    """One parameter of a model.

    ``path`` is the parameter's name in ``model.named_parameters()``; ``module`` the
    path of the module that owns it; fans and target stds are ``None`` for
    parameters that are not fan-scaled (``how`` says why); ``std`` is the current
    std over all entries (``None`` for a single entry); ``tied`` the other names of
    the same tensor.
    """

    path: str
    module: str
    module_type: str
    param: str
    shape: tuple[int, ...]
    fan_in: int | None
    fan_out: int | None
    how: str
    activation: str | None
    activation_from: str | None
    std: float | None
    he_std: float | None
    lecun_std: float | None
    xavier_std: float | None
    tied: tuple[str, ...] = ()


@dataclass(frozen=True)
class Inspection(Tabular):
    """What :func:`inspect` found: ``params`` in ``order`` (execution or registration), what it did not understand."""

    model_type: str
    order: str
    params: tuple[ParamRow, ...]
    not_understood: tuple[tuple[str, str], ...] = field(default=())

    def rows(self) -> list[dict[str, Any]]:
        """One dict per parameter, for a table (``inspection.to_frame()`` with pandas)."""
        return [{**asdict(row), "shape": list(row.shape), "tied": list(row.tied)} for row in self.params]

    def to_dict(self) -> dict[str, Any]:
        """Everything, as plain JSON-ready values."""
        return {
            "model_type": self.model_type,
            "order": self.order,
            "rows": self.rows(),
            "not_understood": [{"path": p, "reason": why} for p, why in self.not_understood],
        }

    def plot(self) -> Any:
        """A matplotlib figure: each fan-scaled weight's current std against its He, LeCun and Xavier targets."""
        import matplotlib.pyplot as plt

        from ..results import PALETTE

        rows = [r for r in self.params if r.he_std is not None and r.std is not None]
        fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(rows) + 2), 3.6), layout="constrained")
        x = range(len(rows))
        ax.plot(x, [float(r.std or 0.0) for r in rows], "o-", color=PALETTE[0], label="current std")
        for i, (key, label) in enumerate((("he_std", "He"), ("lecun_std", "LeCun"), ("xavier_std", "Xavier"))):
            ax.plot(x, [float(getattr(r, key)) for r in rows], "_", markersize=14, color=PALETTE[i + 1], label=label)
        ax.set_xticks(list(x), [r.path for r in rows], rotation=60, ha="right", fontsize=7)
        ax.set_yscale("log")
        ax.set_ylabel("std of the weight")
        ax.set_title(f"{self.model_type}: weights against the targets for the activation that follows", fontsize=9)
        ax.legend(fontsize=7)
        return fig

    def __repr__(self) -> str:
        head = ("parameter", "type", "shape", "fan_in", "fan_out", "activation", "std", "he", "lecun", "xavier")
        body = [
            (
                r.path + (" (= " + ", ".join(r.tied) + ")" if r.tied else ""),
                r.module_type,
                "x".join(str(d) for d in r.shape),
                num(r.fan_in),
                num(r.fan_out),
                r.activation or "-",
                num(r.std),
                num(r.he_std),
                num(r.lecun_std),
                num(r.xavier_std),
            )
            for r in self.params
        ]
        lines = [f"Inspection of {self.model_type}: {len(self.params)} parameters in {self.order} order"]
        lines += text_table(head, body)
        if self.not_understood:
            lines.append("  not understood:")
            lines += [f"    {p}: {why}" for p, why in self.not_understood]
        return "\n".join(lines)


def _activation_of(module: nn.Module) -> str | None:
    for kind, name in _ACTIVATIONS.items():
        if isinstance(module, kind):
            return name
    return None


def _structural(module: nn.Module, name: str, parents: Mapping[str, nn.Module], path: str) -> str | None:
    """The activation a module's structure fixes, or None."""
    if isinstance(module, nn.RNNBase):
        return "relu" if module.mode == "RNN_RELU" else "tanh"
    if isinstance(module, nn.MultiheadAttention) and not name.startswith("out_proj"):
        return "linear"
    parent = parents.get(path)
    if isinstance(parent, (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)):
        if path.rsplit(".", 1)[-1] == "linear1":
            act = parent.activation
            if isinstance(act, nn.Module):
                return _activation_of(act) or "linear"
            return _FUNCTIONS.get(getattr(act, "__name__", ""), "linear")
        return "linear"
    return None


def _gain(activation: str, module: nn.Module | None) -> float:
    if activation in TORCH_GAINS:
        slope = None
        if isinstance(module, nn.PReLU):  # its slope is a parameter: the mean of its current values
            slope = float(module.weight.detach().double().mean())
        elif activation == "leaky_relu":
            slope = getattr(module, "negative_slope", None)
        return gain(activation, slope)
    act = get_activation(activation)
    return gain(lambda z: act.forward(np, z))


def _follows(order: list[tuple[str, nn.Module]]) -> dict[str, tuple[str, nn.Module | None]]:
    """For each module path with its own weights: the activation that runs next (name, module), or linear.

    A module that appears more than once (called twice) counts at its first appearance.
    """
    found: dict[str, tuple[str, nn.Module | None]] = {}
    for i, (path, module) in enumerate(order):
        if not any(True for _ in module.parameters(recurse=False)) or isinstance(module, _PASS_THROUGH):
            continue
        result: tuple[str, nn.Module | None] = ("linear", None)
        for _, later in order[i + 1 :]:
            act = _activation_of(later)
            if act is not None:
                result = (act, later)
                break
            if isinstance(later, _PASS_THROUGH) or not any(True for _ in later.parameters(recurse=False)):
                continue
            break
        found.setdefault(path, result)
    return found


def _run(model: nn.Module, example: Any) -> list[tuple[str, nn.Module]]:
    """Run ``example`` through ``model`` in eval mode without gradients; the modules in the order they ran.

    Leaves the model as it found it: every module's ``training`` flag, every buffer's
    values, no hooks, and the attention fast-path setting (switched off here so that
    the layers inside a transformer run as modules and are seen; torch also skips
    the fused path of a ``TransformerEncoderLayer`` that has hooks).
    """
    names: dict[int, str] = {}
    for path, m in model.named_modules(remove_duplicate=False):
        names.setdefault(id(m), path)  # a module registered twice goes by its first name, as in the rows
    modes = [(m, m.training) for m in model.modules()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    ran: list[tuple[str, nn.Module]] = []  # every call, so that a ReLU used twice is seen twice
    seen: set[int] = set()

    def hook(module: nn.Module, args: Any) -> None:
        seen.add(id(module))
        ran.append((names[id(module)], module))

    handles = [m.register_forward_pre_hook(hook) for m in model.modules()]
    fastpath = torch.backends.mha.get_fastpath_enabled()
    try:
        torch.backends.mha.set_fastpath_enabled(False)
        model.eval()
        with torch.no_grad():
            call(model, example)
    except InitlabError:
        raise
    except Exception as exc:
        raise InitlabValueError(
            "The 'example' argument of inspect must be an input the model accepts. "
            f"Running the model on it failed with {exc!r}."
        ) from exc
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.training = mode
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
    # modules with weights that never ran as modules (out_proj of attention is used through its parent):
    # right after their parent
    for path, module in model.named_modules():
        if id(module) in seen or not any(True for _ in module.parameters(recurse=False)):
            continue
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        at = next((i for i, (p, _) in enumerate(ran) if p == parent), len(ran) - 1)
        ran.insert(at + 1, (path, module))
        seen.add(id(module))
    return ran


def inspect(model: nn.Module, example: Any = None, *, activations: Mapping[str, str] | None = None) -> Inspection:
    """One row per parameter of ``model``: fans and how, the activation that follows, current and target std.

    ``example``: an input (a tensor, a tuple of positional inputs or a dict of
    keyword inputs) to run once, in eval mode and without gradients, to see the
    execution order; the model is left exactly as found (modes, buffers, no hooks).
    Without it the registration order is used, and the result says so
    (``order``).  ``activations`` overrides the activation after a module (path ->
    name among linear, relu, leaky_relu, tanh, sigmoid, gelu, silu, elu, selu).  Tied
    parameters appear once, with their other names in ``tied``.  See the module
    docstring for how activations are found and what the targets are.

    >>> from torch import nn
    >>> _ = torch.manual_seed(0)
    >>> found = inspect(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
    >>> [(r.path, r.fan_in, r.activation) for r in found.params if r.fan_in]
    [('0.weight', 4, 'relu'), ('2.weight', 8, 'linear')]
    """
    if not isinstance(model, nn.Module):
        raise InitlabTypeError(
            f"The 'model' argument of inspect must be a torch.nn.Module. Got {shown(model)} instead."
        )
    overrides = dict(activations or {})
    if example is not None:
        lazy = [n for n, p in model.named_parameters() if isinstance(p, nn.parameter.UninitializedParameter)]
        if lazy:
            raise InitlabValueError(
                f"The 'model' argument of inspect has uninitialized lazy parameters ({', '.join(lazy)}); running "
                "'example' would create them and change the model. Call the model once before inspect."
            )
    modules = dict(model.named_modules())
    for path, act in overrides.items():
        if path not in modules:
            raise InitlabValueError(
                f"The 'activations' argument of inspect must map module paths of the model to activation names. "
                f"Got the path {path!r}, which is not a module of the model."
            )
        if act not in TORCH_GAINS and act not in ("gelu", "silu", "elu"):
            raise InitlabValueError(
                "The 'activations' argument of inspect must map to linear, relu, leaky_relu, tanh, sigmoid, "
                f"gelu, silu, elu or selu. Got {act!r} for {path!r} instead."
            )
    parents = {f"{p}.{child}" if p else child: m for p, m in model.named_modules() for child, _ in m.named_children()}
    if example is not None:
        order_name, order = "execution", _run(model, example)
    else:
        order_name, order = "registration", list(modules.items())
    follows = _follows(order)

    owners: dict[int, list[tuple[str, str, str]]] = {}  # id(param) -> [(full name, module path, own name)]
    tensors: dict[int, torch.Tensor] = {}
    for mpath, module in model.named_modules(remove_duplicate=False):
        for pname, p in module.named_parameters(recurse=False):
            full = f"{mpath}.{pname}" if mpath else pname
            tensors[id(p)] = p
            entries = owners.setdefault(id(p), [])
            if full not in (e[0] for e in entries):
                entries.append((full, mpath, pname))

    rows: list[ParamRow] = []
    unknown: list[tuple[str, str]] = []
    for pid, entries in owners.items():
        full, mpath, pname = entries[0]
        module = model.get_submodule(mpath)
        p = tensors[pid]
        uninitialized = isinstance(p, nn.parameter.UninitializedParameter)  # no shape until the model runs once
        if uninitialized:
            fan_in, fan_out, how = (
                None,
                None,
                "an uninitialized lazy parameter: it has no shape until the model runs once",
            )
            unknown.append((full, how))
        else:
            try:
                fan_in, fan_out, how = param_fans(module, pname)
            except InitlabValueError as exc:
                fan_in, fan_out, how = None, None, str(exc)
                unknown.append((full, how))
        activation: str | None = None
        source: str | None = None
        act_module: nn.Module | None = None
        if fan_in is not None:
            if mpath in overrides:
                activation, source = overrides[mpath], "override"
            elif (structural := _structural(module, pname, parents, mpath)) is not None:
                activation, source = structural, "module structure"
            else:
                activation, act_module = follows.get(mpath, ("linear", None))
                source = f"{order_name} order" if act_module is not None else f"none seen in {order_name} order"
        std = float(p.detach().to(torch.float64).std()) if not uninitialized and p.numel() > 1 else None
        he = lecun = xavier = None
        if fan_in is not None and fan_out is not None and activation is not None:
            g = _gain(activation, act_module)
            he, lecun, xavier = g / math.sqrt(fan_in), 1.0 / math.sqrt(fan_in), g * math.sqrt(2.0 / (fan_in + fan_out))
        rows.append(
            ParamRow(
                path=full,
                module=mpath,
                module_type=type(module).__name__,
                param=pname,
                shape=() if uninitialized else tuple(int(d) for d in p.shape),
                fan_in=fan_in,
                fan_out=fan_out,
                how=how,
                activation=activation,
                activation_from=source,
                std=std,
                he_std=he,
                lecun_std=lecun,
                xavier_std=xavier,
                tied=() if uninitialized else tuple(e[0] for e in entries[1:]),
            )
        )
    position = {path: i for i, path in enumerate(dict.fromkeys(path for path, _ in order))}  # first appearance
    rows.sort(key=lambda r: position.get(r.module, len(position)))  # stable: a module's own order kept
    return Inspection(type(model).__name__, order_name, tuple(rows), tuple(unknown))
