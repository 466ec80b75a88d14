"""Re-initialize a torch model: a plan first (what each tensor gets, and why), then apply it.

:func:`plan_reinit` decides, per parameter, the recipe from initlab's initializers
with the fans of :func:`~initlab.torch.param_fans` (right for grouped and transposed
convolutions, the packed q/k/v of attention, the gates of recurrent layers and
HF-style ``Conv1D``, where ``torch.nn.init`` reads the tensor's shape); the
returned :class:`ReinitPlan` shows it (``explain()``, a table, a figure) and
``apply(model)`` writes it.

How each parameter is chosen, first match wins:

1. ``rules``: ``(selector, value)`` pairs; a selector is a module class or a
   glob (``fnmatch``) on the parameter's path (``"*.out_proj.weight"``; any of a
   tied tensor's names matches).  A class rule sets the weights of the modules of
   that class (norm scales and embeddings included); their biases follow ``bias``
   unless the value is ``"keep"``, which keeps every parameter of those modules.
   A glob rule sets whatever it matches: a scheme for weights, a bias policy
   (or any initializer) for biases, or ``"keep"``.  A rule that matches nothing
   is an error (probably a typo).
2. ``recurrent``: ``{"hidden": spec, "input": spec, "forget_bias": value}`` for
   ``nn.RNN``/``nn.LSTM``/``nn.GRU``: each gate's block drawn as its own matrix
   (orthogonal recurrent weights, Saxe et al. 2014; forget-gate bias,
   Jozefowicz et al. 2015, put on ``bias_ih`` only so that the effective bias
   ``b_ih + b_hh`` of the forget gate is the value).
3. the defaults by kind of parameter: fan-scaled weights get ``scheme``; biases
   get ``bias``; normalization layers are reset (scale 1, shift 0); embeddings get
   ``N(0, 1)`` (torch's default, never fan-scaled; the ``padding_idx`` row is 0);
   anything else (PReLU slopes, parameters of custom modules) is kept, and
   ``explain()`` says why.

Schemes: ``"he"`` (``kaiming_normal``: ``N(0, 2 / fan_in)``, He et al. 2015),
``"xavier"`` (``xavier_uniform``, Glorot & Bengio 2010), ``"lecun"``
(``lecun_normal``, LeCun et al. 1998), ``"auto"`` (normal with
``std = gain / sqrt(fan_in)``, the gain of the activation that follows as
:func:`~initlab.torch.inspect` finds it: relu ``sqrt(2)`` (He), tanh ``5/3``,
linear and sigmoid 1 (LeCun), gelu, silu, elu their forward-variance gain),
``"torch"`` (the module's own ``reset_parameters()``, run on a copy with torch's
CPU generator seeded from the plan and restored after; ``bias="torch"`` does the
same for biases), or any initlab scheme name or spec (``"orthogonal"``,
``"normal(std=0.02)"``, ``"he_uniform"``...), an
:class:`~initlab.initializers.Initializer` or a callable ``f(shape, rng, *, dtype)``.
Fan-scaled recipes take initlab's fans, not the tensor's shape: the plan is made
for the shape ``(fan_out, fan_in)`` and drawn for the real one.  Structured
recipes (orthogonal, eye, dirac...) are drawn per block on the block's shape.

Randomness: the plan holds an int seed (a ``torch.Generator`` gives one 62-bit
integer drawn from it; None gives 0, and the plan's notes say so).  Each tensor
draws from its own numpy stream, ``SeedSequence(seed, spawn_key=(sha256 of its
path,))``, so a rule for one layer changes no other layer's draw and applying a
plan twice writes the same bits.  Drawn in float64 and cast to the parameter's
dtype and device (on a GPU too: the bits are those of the CPU draw).  A tensor
known under several names (tied embedding and decoder) is one entry, written
once, with its other names in ``tied``.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from .._validation import InitlabError, InitlabTypeError, InitlabValueError, closest, shown
from ..initializers import Initializer, Plan, draw, get, get_bias
from ..initializers import names as scheme_names
from ..spec import parse_spec
from ._fans import _NORMS, param_fans
from ._inspect import ParamRow, inspect
from ._tables import Tabular, num, text_table

__all__ = ["PlanEntry", "ReinitPlan", "plan_reinit", "reinit"]

#: The short scheme names of plan_reinit and the initlab spec each stands for ("auto" and "torch" are special).
SHORT_SCHEMES: dict[str, str] = {"he": "kaiming_normal", "xavier": "xavier_uniform", "lecun": "lecun_normal"}
_SPECIAL = ("auto", "torch")
_FAN_KINDS = ("normal", "uniform", "truncated_normal")
_GATE_COUNT = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
_RECURRENT_KEYS = ("hidden", "input", "forget_bias")

Selector = type[nn.Module] | str
Rule = tuple[Selector, str]


@dataclass(frozen=True)
class PlanEntry:
    """What one parameter gets.

    ``path`` is its name in ``model.named_parameters()`` (``tied``: its other
    names, written once); ``role`` is ``weight`` (fan-scaled), ``bias``, ``norm``,
    ``embedding`` or ``other``; ``spec`` the initializer or bias policy (or
    ``keep``, or ``torch`` for the module's own reset); ``source`` why it was
    chosen (which rule, which default); ``blocks`` the number of row blocks drawn
    as separate matrices (3 for packed q/k/v, the gate count of a recurrent
    weight); ``factors`` one multiplier per block from a depth-aware scheme
    (``factor_why`` says which); ``std`` the planned std of the entries after the
    factors (None when not known before drawing), ``bound`` the largest
    magnitude where the recipe has one; ``current_std`` the std before applying;
    ``fills`` rows ``[start, stop)`` set to a value after the draw (forget-gate
    bias, padding row).
    """

    path: str
    module: str
    module_type: str
    param: str
    shape: tuple[int, ...]
    role: str
    spec: str
    source: str
    kind: str
    formula: str
    fan_in: int | None = None
    fan_out: int | None = None
    fans_how: str = ""
    activation: str | None = None
    gain: float | None = None
    std: float | None = None
    bound: float | None = None
    current_std: float | None = None
    blocks: int = 1
    factors: tuple[float, ...] = (1.0,)
    factor_why: str = ""
    fills: tuple[tuple[int, int, float], ...] = ()
    tied: tuple[str, ...] = ()
    plans: tuple[Plan, ...] = field(default=(), repr=False, compare=False)
    init: Initializer | None = field(default=None, repr=False, compare=False)

    @property
    def keep(self) -> bool:
        """Whether the tensor is left as it is."""
        return self.kind == "keep"

    def scaled(self, factors: Sequence[float], why: str) -> PlanEntry:
        """This entry with its blocks multiplied by ``factors`` (one per block, or one for all), replacing any before.

        The factor multiplies a fresh draw, never the tensor's current values, so
        applying the plan twice gives the same weights.
        """
        fs = tuple(float(f) for f in factors)
        if len(fs) == 1:
            fs = fs * self.blocks
        if len(fs) != self.blocks:
            raise InitlabValueError(
                f"The 'factors' argument of PlanEntry.scaled must have one value or one per block ({self.blocks}) "
                f"for {self.path}. Got {len(fs)} values instead."
            )
        std: float | None
        if self.plans:
            std = _rms([p.std * f for p, f in zip(self.plans, fs, strict=True)])
        else:  # a bias policy (one block) keeps its planned std times the factor; a callable's is unknown
            std = None if self.std is None or len(set(fs)) > 1 else self.std * abs(fs[0])
        bound = None
        if self.plans and all(p.low is not None and p.high is not None for p in self.plans):
            bound = max(
                max(abs(p.low or 0.0), abs(p.high or 0.0)) * abs(f) for p, f in zip(self.plans, fs, strict=True)
            )
        return replace(self, factors=fs, factor_why=why, std=std, bound=bound)


def _rms(values: Sequence[float]) -> float:
    return math.sqrt(sum(v * v for v in values) / len(values))


@dataclass(frozen=True)
class ReinitPlan(Tabular):
    """What :func:`plan_reinit` decided for every parameter of a model; ``apply(model)`` writes it.

    ``seed`` is the int every tensor's stream is derived from; ``entries`` one
    :class:`PlanEntry` per tensor (tied tensors once); ``tied`` each tensor known
    under several names (first name, other names); ``notes`` what the plan
    cannot do or chose (e.g. the seed used when none was given).
    """

    model_type: str
    scheme: str
    seed: int
    entries: tuple[PlanEntry, ...]
    tied: tuple[tuple[str, tuple[str, ...]], ...] = ()
    notes: tuple[str, ...] = ()

    def __getitem__(self, path: str) -> PlanEntry:
        for e in self.entries:
            if e.path == path or path in e.tied:
                return e
        raise KeyError(path)

    # -- applying

    def apply(self, model: nn.Module) -> ReinitPlan:
        """Write the planned values into ``model``'s parameters in place (under ``torch.no_grad()``); returns self.

        Each tensor is drawn from its own stream (see the module docstring), in
        float64, then cast to the parameter's dtype and written on its device.
        Raises :class:`~initlab.InitlabValueError` when ``model`` lacks a planned
        parameter or has it with another shape (a plan for another model).
        """
        if not isinstance(model, nn.Module):
            raise InitlabTypeError(
                f"The 'model' argument of ReinitPlan.apply must be a torch.nn.Module. Got {shown(model)} instead."
            )
        params = dict(model.named_parameters(remove_duplicate=False))
        for e in self.entries:
            p = params.get(e.path)
            if p is None or (not e.keep and tuple(p.shape) != e.shape):
                got = "no such parameter" if p is None else f"shape {tuple(p.shape)}"
                raise InitlabValueError(
                    f"The 'model' argument of ReinitPlan.apply must be the model the plan was made for "
                    f"({self.model_type}): the plan has {e.path} of shape {e.shape}, the model has {got}."
                )
        with torch.no_grad():
            for e in self.entries:
                if e.keep:
                    continue
                p = params[e.path]
                p.copy_(self._values(e, model).to(dtype=p.dtype, device=p.device))
        return self

    def _values(self, e: PlanEntry, model: nn.Module) -> torch.Tensor:
        if e.kind == "torch":
            out = _torch_reset(model.get_submodule(e.module), e.param, _stream_seed(self.seed, e.path))
            if e.factors[0] != 1.0:
                out = out * e.factors[0]
        else:
            rng = _stream(self.seed, e.path)
            if e.role == "bias" and e.kind == "bias":
                policy = get_bias(e.spec)
                arr = policy(e.shape, rng, fan_in=e.fan_in or 1, dtype=np.float64)
                if e.factors[0] != 1.0:
                    arr = arr * e.factors[0]
            else:
                block = (e.shape[0] // e.blocks, *e.shape[1:]) if e.shape else e.shape
                if e.plans:
                    parts = [draw(pl, rng, np.float64) for pl in e.plans]
                else:  # a user's callable: drawn on the block's shape, fans from that shape
                    init = e.init if e.init is not None else get(e.spec)
                    parts = [np.asarray(init(block, rng, dtype=np.float64)) for _ in range(e.blocks)]
                parts = [
                    x.reshape(block) * f if f != 1.0 else x.reshape(block)
                    for x, f in zip(parts, e.factors, strict=True)
                ]
                arr = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
            out = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64).reshape(e.shape))
        for start, stop, value in e.fills:
            out[start:stop] = value
        return out

    # -- showing

    def explain(self) -> str:
        """Per tensor: the formula, the fans and how they were found, gain, std or bound, and why this recipe."""
        lines = [f"Re-initialization plan for {self.model_type} (scheme {self.scheme!r}, seed {self.seed}):"]
        for e in self.entries:
            name = e.path + (f" (also {', '.join(e.tied)})" if e.tied else "")
            lines.append(f"- {name} {e.module_type} {tuple(e.shape)}: {e.role}, {e.source}")
            if e.keep:
                lines.append(f"    kept as it is: {e.formula}")
                continue
            lines.append(f"    {e.spec}: {e.formula}")
            if e.fan_in is not None:
                lines.append(f"    fans: fan_in = {e.fan_in}, fan_out = {e.fan_out} ({e.fans_how})")
            if e.gain is not None:
                after = f", activation that follows: {e.activation}" if e.activation else ""
                lines.append(f"    gain = {e.gain:.6g}{after}")
            if e.blocks > 1:
                lines.append(
                    f"    drawn as {e.blocks} blocks of {(e.shape[0] // e.blocks, *e.shape[1:])}, each its own matrix"
                )
            scale = []
            if e.std is not None:
                scale.append(f"planned std = {e.std:.6g}" + (" (with the factor below)" if e.factor_why else ""))
            if e.bound is not None:
                scale.append(f"bound = {e.bound:.6g}")
            if e.current_std is not None:
                scale.append(f"now std = {e.current_std:.6g}")
            if scale:
                lines.append("    " + ", ".join(scale))
            if e.factor_why:
                fs = ", ".join(f"{f:.6g}" for f in e.factors)
                lines.append(f"    times [{fs}]: {e.factor_why}")
            for start, stop, value in e.fills:
                lines.append(f"    rows {start}:{stop} set to {value:g} after the draw")
        for note in self.notes:
            lines.append(f"note: {note}")
        return "\n".join(lines)

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per tensor (``plans`` left out; ``factors`` and ``fills`` as text)."""
        out = []
        for e in self.entries:
            d = {k: v for k, v in asdict(e).items() if k not in ("plans", "init")}
            d["shape"] = list(e.shape)
            d["tied"] = ", ".join(e.tied)
            d["factors"] = ", ".join(f"{f:.6g}" for f in e.factors)
            d["fills"] = "; ".join(f"{a}:{b}={v:g}" for a, b, v in e.fills)
            out.append(d)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything, as plain JSON-ready values."""
        return {
            "model_type": self.model_type,
            "scheme": self.scheme,
            "seed": self.seed,
            "rows": self.rows(),
            "tied": [{"path": p, "also": list(others)} for p, others in self.tied],
            "notes": list(self.notes),
        }

    def plot(self) -> Any:
        """A matplotlib figure: each tensor's std now and as planned, on a log scale."""
        import matplotlib.pyplot as plt

        from ..results import PALETTE

        def planned(e: PlanEntry) -> float | None:
            return e.current_std if e.keep else e.std

        # tensors with a spread now or planned (constant norm scales and zero biases have none to draw on a log axis)
        rows = [e for e in self.entries if (e.current_std or 0.0) > 0.0 or (planned(e) or 0.0) > 0.0]
        rows += [e for e in self.entries if e.role == "weight" and planned(e) == 0.0 and e not in rows]
        rows.sort(key=self.entries.index)
        fig, ax = plt.subplots(figsize=(max(5.0, 0.45 * len(rows) + 2), 3.6), layout="constrained")
        x = list(range(len(rows)))
        nan = float("nan")
        before = [e.current_std if e.current_std else nan for e in rows]
        after = [planned(e) or nan for e in rows]
        ax.plot(x, before, "o", color=PALETTE[0], label="now")
        ax.plot(x, after, "s", mfc="none", color=PALETTE[1], label="planned")
        zeros = [i for i, e in enumerate(rows) if planned(e) == 0.0]
        if zeros:  # a zero start (Fixup's last layers) has no place on a log axis: marked at the bottom
            positive = [v for v in (*before, *after) if v == v and v > 0.0]
            floor = min(positive) / 3.0 if positive else 1e-3
            ax.plot(zeros, [floor] * len(zeros), "v", color=PALETTE[2], label="planned 0")
        ax.set_xticks(x, [e.path for e in rows], rotation=60, ha="right", fontsize=7)
        ax.set_yscale("log")
        ax.set_xlabel("parameter")
        ax.set_ylabel("std of the tensor")
        ax.set_title(f"{self.model_type}: std per parameter, now and after the plan ({self.scheme})", fontsize=9)
        ax.legend(fontsize=7)
        return fig

    def __repr__(self) -> str:
        head = ("parameter", "role", "spec", "fan_in", "fan_out", "gain", "std now", "std planned", "why")
        body = [
            (
                e.path + (" (= " + ", ".join(e.tied) + ")" if e.tied else ""),
                e.role,
                e.spec,
                num(e.fan_in),
                num(e.fan_out),
                num(e.gain),
                num(e.current_std),
                "kept" if e.keep else num(e.std),
                e.source + (f"; x{num(min(e.factors))}" if e.factor_why else ""),
            )
            for e in self.entries
        ]
        lines = [
            f"ReinitPlan for {self.model_type}: {len(self.entries)} tensors, scheme {self.scheme!r}, seed {self.seed}"
        ]
        lines += text_table(head, body)
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# ---------------------------------------------------------------- streams


def _path_key(path: str) -> int:
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:8], "little")


def _stream(seed: int, path: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_path_key(path),)))


def _stream_seed(seed: int, path: str) -> int:
    return int(np.random.SeedSequence(seed, spawn_key=(_path_key(path),)).generate_state(1, np.uint64)[0] >> 1)


def _seed_of(generator: Any, where: str) -> tuple[int, str | None]:
    if generator is None:
        return 0, "no generator given: seed 0 (pass generator= for another draw)"
    if isinstance(generator, torch.Generator):
        # one draw from the caller's generator (advancing it, as any torch initializer would)
        seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())
        return seed, None
    if isinstance(generator, bool):
        raise InitlabTypeError(
            f"The 'generator' argument of {where} must be a torch.Generator, an int seed >= 0 or None. "
            f"Got {shown(generator)} instead."
        )
    if isinstance(generator, numbers.Integral):
        if int(generator) < 0:
            raise InitlabValueError(
                f"The 'generator' argument of {where} must be an int seed >= 0 or a torch.Generator. "
                f"Got {shown(generator)} instead."
            )
        return int(generator), None
    raise InitlabTypeError(
        f"The 'generator' argument of {where} must be a torch.Generator, an int seed >= 0 or None. "
        f"Got {shown(generator)} instead."
    )


def _torch_reset(module: nn.Module, name: str, seed: int) -> torch.Tensor:
    """``name`` as the module's own reset draws it, on a CPU copy, with torch's CPU generator seeded (then restored)."""
    clone = copy.deepcopy(module).to("cpu")
    reset = getattr(clone, "reset_parameters", None) or getattr(clone, "_reset_parameters", None)
    assert reset is not None  # checked when planning
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        reset()
    return dict(clone.named_parameters(recurse=False))[name].detach().to(torch.float64).clone()


# ---------------------------------------------------------------- choosing


def _resolve_scheme(value: Any, arg: str, where: str) -> str | Initializer:
    """A valid scheme: a short name, auto, torch, or an Initializer for an initlab spec; errors name ``arg``."""
    if isinstance(value, Initializer):
        return value
    if callable(value) and not isinstance(value, type):  # f(shape, rng, *, dtype) -> ndarray, as initlab's own
        return get(value)
    if not isinstance(value, str):
        raise InitlabTypeError(
            f"The {arg!r} argument of {where} must be a scheme name or spec string. Got {shown(value)} instead."
        )
    text = value.strip()
    if text in SHORT_SCHEMES or text in _SPECIAL:
        return text
    try:
        return get(text)
    except InitlabError:
        valid = [*SHORT_SCHEMES, *_SPECIAL, *scheme_names()]
        head = text.split("(", 1)[0].strip()
        near = closest(head, valid)
        short = ", ".join(repr(v) for v in (*SHORT_SCHEMES, *_SPECIAL))
        hint = f" Did you mean {near!r}?" if near and near != head else ""
        raise InitlabValueError(
            f"The {arg!r} argument of {where} must be one of {short}, "
            f"or an initlab scheme name or spec such as 'normal(std=0.02)' (schemes: {', '.join(scheme_names())}). "
            f"Got {shown(value)} instead.{hint}"
        ) from None


def _check_bias_spec(value: Any, arg: str, where: str) -> str:
    if not isinstance(value, str):
        raise InitlabTypeError(
            f"The {arg!r} argument of {where} must be 'zeros', 'keep' or a bias policy spec such as "
            f"'constant(value=0.01)'. Got {shown(value)} instead."
        )
    if value in ("keep", "torch"):
        return value
    try:
        get_bias(value)
    except InitlabError:
        raise InitlabValueError(
            f"The {arg!r} argument of {where} must be 'zeros', 'keep', 'torch' or a bias policy spec "
            "(zeros, constant(value=...), normal(std=...), uniform(low=..., high=...), torch_default). "
            f"Got {shown(value)} instead."
        ) from None
    return value


def _check_rules(rules: Any, where: str) -> list[Rule]:
    if rules is None:
        return []
    if isinstance(rules, (str, bytes)) or not isinstance(rules, Sequence):
        raise InitlabTypeError(
            f"The 'rules' argument of {where} must be a list of (selector, scheme) pairs. Got {shown(rules)} instead."
        )
    out: list[Rule] = []
    for i, rule in enumerate(rules):
        if not isinstance(rule, (tuple, list)) or len(rule) != 2:
            raise InitlabTypeError(
                f"The 'rules' argument of {where} must hold (selector, scheme) pairs. Got {shown(rule)} at {i} instead."
            )
        sel, value = rule
        ok_type = isinstance(sel, type) and issubclass(sel, nn.Module)
        if not ok_type and not isinstance(sel, str):
            raise InitlabTypeError(
                f"The 'rules' argument of {where} must have a module class or a glob on parameter paths as "
                f"selector. Got {shown(sel)} in rule {i} instead."
            )
        if not isinstance(value, str):
            raise InitlabTypeError(
                f"The 'rules' argument of {where} must give a scheme, bias policy or 'keep' as text. "
                f"Got {shown(value)} in rule {i} instead."
            )
        if value != "keep":
            try:
                _resolve_scheme(value, "rules", where)
            except InitlabValueError:
                try:
                    get_bias(value)  # a bias policy, for a rule on biases
                except InitlabError:
                    _resolve_scheme(value, "rules", where)  # raise the scheme's error, which lists the schemes
        out.append((sel, value))
    return out


def _check_recurrent(recurrent: Any, where: str) -> dict[str, Any]:
    if recurrent is None:
        return {}
    if not isinstance(recurrent, Mapping):
        raise InitlabTypeError(
            f"The 'recurrent' argument of {where} must be a dict with keys among {', '.join(_RECURRENT_KEYS)}. "
            f"Got {shown(recurrent)} instead."
        )
    for key in recurrent:
        if key not in _RECURRENT_KEYS:
            raise InitlabValueError(
                f"The 'recurrent' argument of {where} must have keys among {', '.join(_RECURRENT_KEYS)}. "
                f"Got {key!r} instead."
            )
    out = dict(recurrent)
    for key in ("hidden", "input"):
        if key in out:
            _resolve_scheme(out[key], "recurrent", where)
    if "forget_bias" in out:
        fb = out["forget_bias"]
        if isinstance(fb, bool) or not isinstance(fb, numbers.Real) or not math.isfinite(float(fb)):
            raise InitlabValueError(
                f"The 'recurrent' argument of {where} must give 'forget_bias' as a finite number. "
                f"Got {shown(fb)} instead."
            )
    return out


def _matches(sel: Selector, module: nn.Module, names: Sequence[str]) -> bool:
    if isinstance(sel, str):
        return any(fnmatch.fnmatchcase(n, sel) for n in names)
    return isinstance(module, sel)


def _role(row: ParamRow, module: nn.Module) -> str:
    if row.fan_in is not None:
        return "weight"
    if "bias" in row.param:
        return "bias"
    if isinstance(module, _NORMS):
        return "norm"
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return "embedding"
    return "other"


def _blocks(module: nn.Module, name: str) -> int:
    if isinstance(module, nn.MultiheadAttention) and name == "in_proj_weight":
        return 3
    if isinstance(module, nn.RNNBase) and (name.startswith("weight_ih") or name.startswith("weight_hh")):
        return _GATE_COUNT.get(str(module.mode), 1)
    return 1


def _auto_gain(row: ParamRow) -> float:
    assert row.he_std is not None and row.fan_in is not None
    return row.he_std * math.sqrt(row.fan_in)


def _weight_plans(
    init: Initializer, block: tuple[int, ...], blocks: int, fans: tuple[int | None, int | None]
) -> tuple[Plan, ...]:
    """One plan per block: fan-scaled recipes computed with initlab's fans, structured ones on the block's shape."""
    planned = init.plan(block)
    if planned is None:
        return ()
    fan_in, fan_out = fans
    if planned.kind in _FAN_KINDS and planned.fan_in is not None and fan_in is not None and fan_out is not None:
        surrogate = init.plan((fan_out, fan_in))  # the shape whose shape-fans are the module's fans
        assert surrogate is not None
        planned = replace(surrogate, shape=block)
    return (planned,) * blocks


def _entry_for(
    row: ParamRow,
    module: nn.Module,
    value: str | Initializer,
    source: str,
    role: str,
    where: str,
) -> PlanEntry:
    """The entry drawing ``value`` (a scheme, a bias policy, keep or torch) into the parameter of ``row``."""
    shape = row.shape
    base: dict[str, Any] = {
        "path": row.path,
        "module": row.module,
        "module_type": row.module_type,
        "param": row.param,
        "shape": shape,
        "role": role,
        "source": source,
        "fan_in": row.fan_in,
        "fan_out": row.fan_out,
        "fans_how": row.how if row.fan_in is not None else "",
        "current_std": row.std,
        "tied": row.tied,
    }
    if value == "keep":
        return PlanEntry(spec="keep", kind="keep", formula="left as it is", **base)
    if value == "torch":
        if not (hasattr(module, "reset_parameters") or hasattr(module, "_reset_parameters")):
            return PlanEntry(
                spec="keep",
                kind="keep",
                formula=f"{row.module_type} has no reset_parameters(): torch's default is unknown here",
                **base,
            )
        return PlanEntry(
            spec="torch",
            kind="torch",
            formula=f"{row.module_type}.reset_parameters() on a copy, torch's CPU generator seeded from the plan",
            **base,
        )
    if role == "bias" and isinstance(value, str) and value not in SHORT_SCHEMES and value not in _SPECIAL:
        try:
            get_bias(value)
            is_bias_policy = True
        except InitlabError:
            is_bias_policy = False
        if is_bias_policy:
            fan_in = _weight_fan_in(module, row.param)
            std, formula = _bias_std(value, fan_in)
            base["fan_in"], base["fan_out"] = fan_in, None
            base["fans_how"] = "the fan_in of the layer's weight (used by torch_default)" if fan_in else ""
            return PlanEntry(spec=value, kind="bias", formula=formula, std=std, **base)
    activation = None
    if value == "auto":
        if row.he_std is None:
            raise InitlabValueError(
                f"The 'scheme' argument of {where} 'auto' needs fans and an activation; {row.path} has none "
                f"({row.how}). Give it a rule."
            )
        g = _auto_gain(row)
        init = Initializer("kaiming_normal", get("kaiming_normal").fn, {"gain": g})
        activation = row.activation
        spec = f"auto: kaiming_normal(gain={g:.6g})"
    else:
        init = get(SHORT_SCHEMES[value]) if isinstance(value, str) and value in SHORT_SCHEMES else _as_init(value)
        spec = init.spec if not (isinstance(value, str) and value in SHORT_SCHEMES) else f"{value}: {init.spec}"
        activation = row.activation
    blocks = _blocks(module, row.param)
    if not shape or shape[0] % blocks:
        blocks = 1
    block = (shape[0] // blocks, *shape[1:]) if shape else shape
    try:
        plans = _weight_plans(init, block, blocks, (row.fan_in, row.fan_out))
    except InitlabError as exc:
        arg = "rules" if source.startswith("rule") else "recurrent" if source.startswith("recurrent") else "scheme"
        raise InitlabValueError(
            f"The {arg!r} argument of {where} gives {spec!r} to {row.path} of shape {shape}, which it cannot "
            f"initialize: {exc}"
        ) from None
    if not plans:
        return PlanEntry(
            spec=spec,
            kind="custom",
            formula="a user's callable, fans from the block's shape",
            init=init,
            blocks=blocks,
            factors=(1.0,) * blocks,
            **base,
        )
    p0 = plans[0]
    if row.fan_in is None and p0.fan_in is not None:
        base["fan_in"], base["fan_out"] = p0.fan_in, p0.fan_out
        base["fans_how"] = "from the tensor's shape: initlab does not fan-scale this parameter by default"
    bound = None
    if p0.low is not None and p0.high is not None:
        bound = max(abs(p0.low), abs(p0.high))
    return PlanEntry(
        spec=spec,
        kind=p0.kind,
        formula=_formula(p0),
        activation=activation,
        gain=p0.gain,
        std=p0.std,
        bound=bound,
        blocks=blocks,
        factors=(1.0,) * blocks,
        plans=plans,
        **base,
    )


def _bias_std(spec: str, fan_in: int | None) -> tuple[float | None, str]:
    """The std of the bias a policy draws, and its formula."""
    name, kw = parse_spec(spec, "plan_reinit")
    if name in ("zeros", "constant"):
        return 0.0, f"b = {float(kw.get('value', 0.0)):g}"
    if name == "normal":
        std = float(kw.get("std", 0.01))
        return std, f"b ~ N({float(kw.get('mean', 0.0)):g}, std^2), std = {std:g}"
    if name == "uniform":
        low, high = float(kw.get("low", -0.01)), float(kw.get("high", 0.01))
        return (high - low) / math.sqrt(12.0), f"b ~ U({low:g}, {high:g})"
    if name == "torch_default" and fan_in:
        bound = 1.0 / math.sqrt(fan_in)
        return bound / math.sqrt(3.0), f"b ~ U(-bound, bound), bound = 1 / sqrt(fan_in) = 1/sqrt({fan_in})"
    return None, f"bias policy {spec}"


def _as_init(value: str | Initializer) -> Initializer:
    return value if isinstance(value, Initializer) else get(value)


def _formula(p: Plan) -> str:
    """The plan's formula with its numbers: ``..., std = gain / sqrt(fan_in) = 1.41421 / sqrt(576) = 0.0589256``."""
    text = p.formula
    if p.kind not in _FAN_KINDS:
        return text
    head, sep, expr = text.rpartition("std = ")
    if p.fan_in is not None and p.fan_out is not None and sep and "fan_" in expr:
        numbers = {"gain": f"{p.gain:.6g}" if p.gain is not None else "gain", "fan_in": str(p.fan_in)}
        numbers["fan_out"] = str(p.fan_out)
        filled = re.sub(r"\b(gain|fan_in|fan_out)\b", lambda m: numbers[m.group(1)], expr)
        text = f"{head}{sep}{expr} = {filled} = {p.std:.6g}"
    else:
        text += f" (std = {p.std:.6g})"
    if p.kind == "uniform" and p.high is not None:
        text += f", bound = {p.high:.6g}"
    return text


def _weight_fan_in(module: nn.Module, bias_name: str) -> int | None:
    """The fan_in of the weight a bias belongs to (bias_ih_l0 -> weight_ih_l0, in_proj_bias -> in_proj_weight)."""
    own = dict(module.named_parameters(recurse=False))
    for candidate in (bias_name.replace("bias", "weight"), "weight"):
        if candidate in own and not isinstance(own[candidate], nn.parameter.UninitializedParameter):
            try:
                return param_fans(module, candidate).fan_in
            except InitlabError:
                return None
    return None


def plan_reinit(
    model: nn.Module,
    scheme: str | Initializer = "auto",
    *,
    rules: Sequence[Rule] | None = None,
    bias: str = "zeros",
    recurrent: Mapping[str, Any] | None = None,
    example: Any = None,
    activations: Mapping[str, str] | None = None,
    generator: torch.Generator | int | None = None,
    depth: str | None = None,
) -> ReinitPlan:
    """The plan to re-initialize every parameter of ``model`` (nothing is written: see :meth:`ReinitPlan.apply`).

    ``scheme``: the recipe for every fan-scaled weight: ``"auto"`` (default),
    ``"he"``, ``"xavier"``, ``"lecun"``, ``"torch"``, or an initlab scheme name or
    spec; see the module docstring for what each means and how ``rules``,
    ``recurrent`` and the defaults for biases, norms and embeddings apply.
    ``bias``: ``"zeros"`` (default), ``"keep"``, ``"torch"`` or a bias policy spec
    (``"constant(value=0.01)"``).  ``example`` and ``activations`` are passed to
    :func:`~initlab.torch.inspect` to find the activation after each layer (for
    ``"auto"`` and for ``explain()``).  ``generator``: a ``torch.Generator`` (one
    62-bit integer is drawn from it, and becomes the plan's seed), an int seed, or
    None for seed 0 (reproducible; the plan's notes say so).  ``depth``:
    ``"gpt2"`` scales the residual output projections by ``1 / sqrt(2 n_layer)``
    (see :func:`initlab.torch._depth.gpt2_init`).

    >>> from torch import nn
    >>> plan = plan_reinit(nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4)), "auto", generator=1)
    >>> [(e.path, round(e.std, 4)) for e in plan.entries if e.role == "weight"]
    [('0.weight', 0.3536), ('2.weight', 0.1768)]
    """
    where = "plan_reinit"
    if not isinstance(model, nn.Module):
        raise InitlabTypeError(
            f"The 'model' argument of {where} must be a torch.nn.Module. Got {shown(model)} instead."
        )
    chosen = _resolve_scheme(scheme, "scheme", where)
    scheme_text = chosen.spec if isinstance(chosen, Initializer) else chosen
    bias = _check_bias_spec(bias, "bias", where)
    rule_list = _check_rules(rules, where)
    rec = _check_recurrent(recurrent, where)
    if depth is not None and depth != "gpt2":
        raise InitlabValueError(
            f"The 'depth' argument of {where} must be None or 'gpt2' (Fixup and T-Fixup are their own functions: "
            f"fixup_init, t_fixup_init). Got {shown(depth)} instead."
        )
    seed, seed_note = _seed_of(generator, where)
    try:
        found = inspect(model, example, activations=activations)
    except InitlabError as exc:  # its messages name inspect; the user called plan_reinit
        raise type(exc)(str(exc).replace(" of inspect", f" of {where}")) from exc.__cause__
    used = [False] * len(rule_list)
    entries: list[PlanEntry] = []
    notes = [seed_note] if seed_note else []
    for row in found.params:
        module = model.get_submodule(row.module)
        role = _role(row, module)
        names = (row.path, *row.tied)
        value: str | Initializer | None = None
        source = ""
        for i, (sel, val) in enumerate(rule_list):
            if _matches(sel, module, names):
                used[i] = True
                if isinstance(sel, type) and role == "bias" and val != "keep":
                    continue  # a rule by module class sets the weights; its biases follow 'bias' (or a glob rule)
                value, source = val, f"rule {i} ({getattr(sel, '__name__', sel)} -> {val})"
                break
        fills: tuple[tuple[int, int, float], ...] = ()
        if value is None and not row.shape:
            value, source = "keep", "an uninitialized lazy parameter"
        elif value is None and isinstance(module, nn.RNNBase):
            if role == "weight" and row.param.startswith("weight_hh") and "hidden" in rec:
                value, source = rec["hidden"], "recurrent['hidden']"
            elif role == "weight" and row.param.startswith("weight_ih") and "input" in rec:
                value, source = rec["input"], "recurrent['input']"
        if value is None:
            if role == "weight":
                value, source = chosen, f"scheme {scheme_text!r}"
            elif role == "bias" and isinstance(module, _NORMS) and bias != "keep":
                value, source = "zeros", "normalization shift reset to 0"
            elif role == "bias":
                value, source = bias, f"bias policy {bias!r}"
            elif role == "norm":
                value, source = "ones", "normalization scale reset to 1"
            elif role == "embedding":
                value, source = "normal", "embedding default N(0, 1), as torch (not fan-scaled)"
            else:
                value, source = "keep", f"not re-initialized: {row.how}"
        if role == "bias" and "forget_bias" in rec and isinstance(module, nn.LSTM) and row.param.startswith("bias_ih"):
            h = row.shape[0] // 4
            fills = ((h, 2 * h, float(rec["forget_bias"])),)
            source += f"; forget gate (rows {h}:{2 * h}, gate order i, f, g, o) = {float(rec['forget_bias']):g}"
        parent = model.get_submodule(row.module.rpartition(".")[0]) if "." in row.module else model
        if value == "torch" and role == "bias" and isinstance(parent, nn.MultiheadAttention):
            value, source = "zeros", source + " (torch's MultiheadAttention starts out_proj.bias at 0)"
        entry = _entry_for(row, module, value, source, role, where)
        padding = getattr(module, "padding_idx", None) if role == "embedding" else None
        if isinstance(padding, int) and entry.kind != "keep":
            pad = padding % row.shape[0]
            fills = (*fills, (pad, pad + 1, 0.0))
        if fills and entry.kind != "keep":
            entry = replace(entry, fills=fills)
        entries.append(entry)
    unused = [f"{i} ({getattr(rule_list[i][0], '__name__', rule_list[i][0])!s})" for i, u in enumerate(used) if not u]
    if unused:
        raise InitlabValueError(
            f"The 'rules' argument of {where} has rules that match no parameter of the {found.model_type}: "
            f"rule {', '.join(unused)}. Selectors are module classes or globs on parameter paths such as "
            f"{entries[0].path if entries else 'layer.weight'!r}."
        )
    tied = tuple((e.path, e.tied) for e in entries if e.tied)
    recurrent_modules = [m for m in model.modules() if isinstance(m, nn.RNNBase)]
    if rec and not recurrent_modules:
        notes.append(f"'recurrent' has no effect: the {found.model_type} has no nn.RNN, nn.LSTM or nn.GRU")
    elif "forget_bias" in rec:
        missed = [
            e.path
            for e in entries
            if e.param.startswith("bias_ih") and isinstance(model.get_submodule(e.module), nn.LSTM) and not e.fills
        ]
        if not any(isinstance(m, nn.LSTM) for m in recurrent_modules):
            notes.append("'forget_bias' has no effect: only nn.LSTM has a forget gate")
        elif missed:
            notes.append(f"'forget_bias' not written to {', '.join(missed)}: those biases are kept")
    if found.order == "registration" and chosen == "auto":
        notes.append(
            "'auto' read the activations in registration order (no example given); pass example= to follow "
            "the order the modules run in"
        )
    plan = ReinitPlan(found.model_type, scheme_text, seed, tuple(entries), tied, tuple(notes))
    if depth == "gpt2":
        from ._depth import _gpt2_scaled

        plan = _gpt2_scaled(model, plan)
    return plan


def reinit(model: nn.Module, scheme: str | Initializer = "auto", **kwargs: Any) -> ReinitPlan:
    """``plan_reinit(model, scheme, **kwargs).apply(model)``: re-initialize in place and return the applied plan.

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
    >>> plan = reinit(net, "xavier", generator=0)
    >>> bool(net[0].weight.abs().max() <= (6 / 128) ** 0.5), bool((net[0].bias == 0).all())
    (True, True)
    """
    return plan_reinit(model, scheme, **kwargs).apply(model)
