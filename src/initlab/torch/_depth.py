"""Depth-aware starts for residual networks: GPT-2's residual scaling, Fixup, T-Fixup, ReZero / SkipInit.

A residual network adds each branch's output to the stream, ``x_{l+1} = x_l + F_l(x_l)``,
so with every branch initialized for unit variance the stream's variance grows with
the number of branches.  Each scheme here starts the branches small, by a factor
that depends on the depth.  Every scheme that changes weights is a
:class:`~initlab.torch._reinit.ReinitPlan` whose depth factors multiply a fresh draw
(the entry's ``factors``), never the tensor's current values: applying it twice gives
the same weights, and ``explain()`` shows each factor and why.

- :func:`gpt2_init`: GPT-2 (Radford et al. 2019, section 2.3: "scale the weights of
  residual layers at initialization by a factor of 1/sqrt(N)", N the number of
  residual layers) as nanoGPT writes it: every weight ``N(0, 0.02^2)``, the output
  projections of the residual branches ``N(0, (0.02 / sqrt(2 n_layer))^2)``
  (two residual branches, attention and MLP, per block).
- :func:`fixup_init`: Fixup (Zhang, Dauphin & Ma 2019): He initialization, the last
  layer of each residual branch and the classification layer at 0, the other
  layers of a branch with ``m`` layers scaled by ``L^(-1/(2m-2))`` for ``L`` branches.
- :func:`t_fixup_init`: T-Fixup (Huang, Perez, Ba & Volkovs 2020): Xavier for every
  weight, embeddings ``N(0, d^-1)`` (std ``d^-1/2``), then the value and output
  projections and the MLP weights scaled by ``0.67 N^(-1/4)`` in the encoder and by
  ``(9 N)^(-1/4)`` in the decoder (also the embeddings).
- :class:`ReZero` (Bachlechner et al. 2020) and :class:`SkipInit` (De & Smith 2020):
  ``x + alpha * branch(x)`` with ``alpha`` a learned scalar that starts at 0, and
  :func:`rezero` to wrap named branches of a model in place.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import nn

from .._validation import InitlabTypeError, InitlabValueError, check_float, shown
from ._fans import _NORMS
from ._reinit import PlanEntry, ReinitPlan, plan_reinit

__all__ = ["GPT2_RESIDUAL", "ReZero", "SkipInit", "fixup_init", "gpt2_init", "rezero", "t_fixup_init"]

#: The residual output projections of GPT-2-like models: attention's out_proj, the MLP's second layer, HF's c_proj.
GPT2_RESIDUAL: tuple[str, ...] = ("*.out_proj.weight", "*.linear2.weight", "*c_proj.weight")

_LAYERS = (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)


def _names(e: PlanEntry) -> tuple[str, ...]:
    return (e.path, *e.tied)


def _with(plan: ReinitPlan, changed: dict[str, PlanEntry], note: str | None = None) -> ReinitPlan:
    entries = tuple(changed.get(e.path, e) for e in plan.entries)
    return replace(plan, entries=entries, notes=(*plan.notes, *([note] if note else [])))


def _count_layers(model: nn.Module) -> int:
    return sum(isinstance(m, _LAYERS) for m in model.modules())


def _gpt2_scaled(
    model: nn.Module, plan: ReinitPlan, n_layer: int | None = None, residual: Sequence[str] = GPT2_RESIDUAL
) -> ReinitPlan:
    """``plan`` with the residual output projections multiplied by ``1 / sqrt(2 n_layer)``."""
    where = "gpt2_init"
    if n_layer is None:
        n_layer = _count_layers(model)
        if n_layer == 0:
            raise InitlabValueError(
                f"The 'n_layer' argument of {where} is needed for a {type(model).__name__}, which has no "
                "nn.TransformerEncoderLayer or nn.TransformerDecoderLayer to count. Got None."
            )
    if isinstance(n_layer, bool) or not isinstance(n_layer, int) or n_layer < 1:
        raise InitlabValueError(f"The 'n_layer' argument of {where} must be an int >= 1. Got {shown(n_layer)} instead.")
    if isinstance(residual, str) or not all(isinstance(g, str) for g in residual):
        raise InitlabTypeError(
            f"The 'residual' argument of {where} must be a tuple of globs on parameter paths. "
            f"Got {shown(residual)} instead."
        )
    factor = 1.0 / math.sqrt(2.0 * n_layer)
    why = f"GPT-2 residual scaling 1/sqrt(2 n_layer), n_layer = {n_layer} (Radford et al. 2019)"
    changed = {
        e.path: e.scaled([factor], why)
        for e in plan.entries
        if not e.keep and any(fnmatch.fnmatchcase(n, g) for n in _names(e) for g in residual)
    }
    if not changed:
        raise InitlabValueError(
            f"The 'residual' argument of {where} must match the output projections of the residual branches. "
            f"Got {tuple(residual)!r}, which matches no parameter of the {plan.model_type}."
        )
    return _with(plan, changed)


def gpt2_init(
    model: nn.Module,
    n_layer: int | None = None,
    *,
    residual: Sequence[str] = GPT2_RESIDUAL,
    std: float = 0.02,
    generator: torch.Generator | int | None = None,
    apply: bool = True,
) -> ReinitPlan:
    """GPT-2's start (Radford et al. 2019; nanoGPT's ``_init_weights`` and ``c_proj`` rule).

    Every fan-scaled weight and every embedding ``N(0, std^2)`` with ``std = 0.02``,
    biases 0, normalization layers reset; the weights matching ``residual``
    (default :data:`GPT2_RESIDUAL`) ``N(0, (std / sqrt(2 n_layer))^2)``.
    ``n_layer``: the number of transformer blocks; None counts the
    ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer`` modules.
    Returns the plan, applied to ``model`` unless ``apply=False``.

    >>> layer = nn.TransformerEncoderLayer(16, 2, 32)
    >>> net = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
    >>> plan = gpt2_init(net, generator=0)
    >>> round(plan["layers.0.linear2.weight"].std, 5), round(plan["layers.0.linear1.weight"].std, 5)
    (0.01, 0.02)
    """
    std = check_float(std, "std", "gpt2_init", low=0.0, low_open=True)
    spec = f"normal(std={std!r})"
    kinds: tuple[type[nn.Module], ...] = (nn.Embedding, nn.EmbeddingBag)
    rules: list[tuple[Any, str]] = [(k, spec) for k in kinds if any(isinstance(m, k) for m in model.modules())]
    plan = plan_reinit(model, spec, rules=rules, generator=generator)
    plan = _gpt2_scaled(model, plan, n_layer, residual)
    return plan.apply(model) if apply else plan


def _fixup_branches(model: nn.Module) -> list[list[str]]:
    """Blocks with children conv1, conv2 (and conv3): torchvision's BasicBlock and Bottleneck."""
    found = []
    for path, m in model.named_modules():
        children = dict(m.named_children())
        if "conv1" in children and "conv2" in children:
            names = [n for n in ("conv1", "conv2", "conv3") if n in children]
            found.append([f"{path}.{n}" if path else n for n in names])
    return found


def fixup_init(
    model: nn.Module,
    branches: Sequence[Sequence[str]] | None = None,
    *,
    output: str | None = None,
    generator: torch.Generator | int | None = None,
    apply: bool = True,
) -> ReinitPlan:
    """Fixup (Zhang, Dauphin & Ma 2019, "Fixup initialization: residual learning without normalization").

    ``branches``: for each residual branch, the module paths of its weight layers
    in order (``[["layer1.0.conv1", "layer1.0.conv2"], ...]``); None finds the
    blocks with ``conv1``, ``conv2`` (and ``conv3``) children, as torchvision's
    ``BasicBlock`` and ``Bottleneck``.  With ``L`` branches, a branch of ``m``
    layers gets: its last layer 0, its other layers He (``N(0, 2 / fan_in)``)
    times ``L^(-1/(2m-2))``.  ``output`` (default: the last ``nn.Linear``) is the
    classification layer, set to 0 (weight and bias).  Every other weight is He,
    biases 0, normalization layers reset.  Fixup's scalar multipliers (start 1)
    and scalar biases (start 0) are part of the architecture, not of the start:
    parameters with one entry named ``*scale*`` or ``*multiplier*`` are set to 1
    and those named ``*bias*`` to 0 when the model has them; initlab adds none.
    Returns the plan, applied unless ``apply=False``.
    """
    where = "fixup_init"
    if not isinstance(model, nn.Module):
        raise InitlabTypeError(
            f"The 'model' argument of {where} must be a torch.nn.Module. Got {shown(model)} instead."
        )
    modules = dict(model.named_modules())
    if branches is None:
        found = _fixup_branches(model)
        if not found:
            raise InitlabValueError(
                f"The 'branches' argument of {where} is needed for a {type(model).__name__}: no block with conv1 "
                "and conv2 children was found. Give the module paths of each residual branch's layers."
            )
    else:
        if isinstance(branches, str) or not all(
            isinstance(b, Sequence) and not isinstance(b, str) and b for b in branches
        ):
            raise InitlabTypeError(
                f"The 'branches' argument of {where} must be a list of non-empty lists of module paths. "
                f"Got {shown(branches)} instead."
            )
        found = [list(b) for b in branches]
    for branch in found:
        for path in branch:
            if path not in modules or not hasattr(modules[path], "weight"):
                raise InitlabValueError(
                    f"The 'branches' argument of {where} must name modules of the model that have a weight. "
                    f"Got {path!r} instead."
                )
    if output is None:
        linears = [p for p, m in modules.items() if isinstance(m, nn.Linear)]
        output = linears[-1] if linears else None
    elif output not in modules:
        raise InitlabValueError(
            f"The 'output' argument of {where} must be a module path of the model. Got {shown(output)} instead."
        )
    scalar_rules: list[tuple[Any, str]] = []
    for path, p in model.named_parameters():
        leaf = path.rsplit(".", 1)[-1]
        if p.numel() == 1 and ("scale" in leaf or "multiplier" in leaf):
            scalar_rules.append((path, "ones"))
        elif p.numel() == 1 and "bias" in leaf:
            scalar_rules.append((path, "zeros"))
    plan = plan_reinit(model, "he", rules=scalar_rules, generator=generator)
    n_branches = len(found)
    changed: dict[str, PlanEntry] = {}
    for branch in found:
        m = len(branch)
        factor = n_branches ** (-1.0 / (2 * m - 2)) if m > 1 else 0.0
        for i, path in enumerate(branch):
            e = plan[f"{path}.weight"]
            if i == m - 1:
                changed[e.path] = e.scaled([0.0], f"Fixup: last layer of a residual branch, 0 (L = {n_branches})")
            else:
                changed[e.path] = e.scaled(
                    [factor], f"Fixup: L^(-1/(2m-2)) with L = {n_branches} branches, m = {m} layers"
                )
    if output is not None:
        for name in ("weight", "bias"):
            key = f"{output}.{name}"
            try:
                e = plan[key]
            except KeyError:
                continue
            if not e.keep:
                changed[e.path] = e.scaled([0.0], "Fixup: the classification layer starts at 0")
    note = f"Fixup: {n_branches} residual branches; classification layer {output or 'none found'}"
    norms = sum(isinstance(m, _NORMS) for m in model.modules())
    if norms:
        note += f"; Fixup is meant for networks without normalization, this one has {norms} such layers (reset, kept)"
    planned = _with(plan, changed, note)
    return planned.apply(model) if apply else planned


def t_fixup_init(
    model: nn.Module,
    *,
    generator: torch.Generator | int | None = None,
    apply: bool = True,
) -> ReinitPlan:
    """T-Fixup (Huang, Perez, Ba & Volkovs 2020, "Improving transformer optimization through better initialization").

    For ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer`` blocks
    (``N_e`` encoder and ``N_d`` decoder blocks), as the paper's Algorithm 1 and the
    authors' code (layer6ai-labs/T-Fixup) state it:

    1. every weight Xavier uniform (the packed q/k/v as three ``(E, E)`` matrices),
       biases 0; embeddings ``N(0, d^-1)`` (std ``d^-1/2``, ``d`` their width);
    2. in each decoder block, the value and output projections of both attentions
       and the two MLP weights times ``(9 N_d)^(-1/4)``, and the embeddings too;
    3. in each encoder block, the value and output projections and the MLP weights
       times ``0.67 N_e^(-1/4)``.

    For an encoder-only model, the paper gives no rule for the embeddings; here
    they are scaled by ``(9 N_e)^(-1/4)`` (the decoder's rule with ``N_e``).  T-Fixup
    also removes layer normalization; the layers of ``model`` are kept (reset to
    scale 1, shift 0) and the plan's notes say how many there are.  (The authors'
    fairseq code multiplies ``v_proj`` by a further ``sqrt(2)`` because fairseq
    draws q, k, v with Xavier gain ``1/sqrt(2)``; here v is drawn with gain 1, so
    the product is the same.)

    >>> net = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32), 4, enable_nested_tensor=False)
    >>> plan = t_fixup_init(net, generator=0)
    >>> [round(f, 4) for f in plan["layers.0.self_attn.in_proj_weight"].factors]
    [1.0, 1.0, 0.4738]
    """
    where = "t_fixup_init"
    if not isinstance(model, nn.Module):
        raise InitlabTypeError(
            f"The 'model' argument of {where} must be a torch.nn.Module. Got {shown(model)} instead."
        )
    enc = [(p, m) for p, m in model.named_modules() if isinstance(m, nn.TransformerEncoderLayer)]
    dec = [(p, m) for p, m in model.named_modules() if isinstance(m, nn.TransformerDecoderLayer)]
    if not enc and not dec:
        raise InitlabValueError(
            f"The 'model' argument of {where} must contain nn.TransformerEncoderLayer or nn.TransformerDecoderLayer "
            f"blocks. Got a {type(model).__name__} with none."
        )
    embeds = [(p, m) for p, m in model.named_modules() if isinstance(m, nn.Embedding)]
    rules: list[tuple[Any, str]] = [(f"{p}.weight", f"normal(std={m.embedding_dim**-0.5!r})") for p, m in embeds]
    plan = plan_reinit(model, "xavier", rules=rules, generator=generator)
    changed: dict[str, PlanEntry] = {}

    def scale(prefix: str, attn: Sequence[str], factor: float, why: str) -> None:
        names = [f"{prefix}.linear1.weight", f"{prefix}.linear2.weight"]
        for a in attn:
            names.append(f"{prefix}.{a}.out_proj.weight")
            names.append(f"{prefix}.{a}.v_proj_weight")
        for name in names:
            try:
                e = plan[name]
            except KeyError:
                continue
            changed[e.path] = e.scaled([factor], why)
        for a in attn:
            try:
                e = plan[f"{prefix}.{a}.in_proj_weight"]
            except KeyError:
                continue
            changed[e.path] = e.scaled([1.0, 1.0, factor], why + " (the v block of the packed q/k/v)")

    n_e, n_d = len(enc), len(dec)
    for p, _ in enc:
        scale(p, ["self_attn"], 0.67 * n_e ** (-0.25), f"T-Fixup encoder: 0.67 N^(-1/4), N = {n_e}")
    for p, _ in dec:
        scale(p, ["self_attn", "multihead_attn"], (9 * n_d) ** (-0.25), f"T-Fixup decoder: (9N)^(-1/4), N = {n_d}")
    n_embed = n_d if dec else n_e
    for p, _ in embeds:
        e = plan[f"{p}.weight"]
        changed[e.path] = e.scaled(
            [(9 * n_embed) ** (-0.25)],
            f"T-Fixup embeddings: (9N)^(-1/4), N = {n_embed} {'decoder' if dec else 'encoder'} blocks",
        )
    norms = sum(isinstance(m, nn.LayerNorm) for m in model.modules())
    note = f"T-Fixup assumes no layer normalization; this model has {norms} LayerNorm modules (reset, not removed)"
    planned = _with(plan, changed, note if norms else None)
    return planned.apply(model) if apply else planned


class ReZero(nn.Module):
    """``x + alpha * branch(x)`` with a learned scalar ``alpha`` that starts at 0 (Bachlechner et al. 2020).

    At the start the block is the identity, whatever ``branch`` computes; the
    gradient reaching ``alpha`` is ``<dL/dy, branch(x)>``, so the branch is opened
    as training needs it.  ``branch`` maps ``x`` to a tensor of ``x``'s shape; it is
    the residual branch only (not a block that already adds its input).
    ``alpha`` lives on ``branch``'s device.

    >>> block = ReZero(nn.Linear(4, 4))
    >>> x = torch.randn(2, 4)
    >>> bool(torch.equal(block(x), x))
    True
    """

    def __init__(self, branch: nn.Module, alpha: float = 0.0) -> None:
        super().__init__()
        if not isinstance(branch, nn.Module):
            raise InitlabTypeError(
                f"The 'branch' argument of {type(self).__name__} must be a torch.nn.Module. "
                f"Got {shown(branch)} instead."
            )
        self.branch = branch
        ref = next(branch.parameters(), None)
        self.alpha = nn.Parameter(torch.full((), float(alpha), device=None if ref is None else ref.device))

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        out: torch.Tensor = x + self.alpha * self.branch(x, *args, **kwargs)
        return out


class SkipInit(ReZero):
    """SkipInit (De & Smith 2020, "Batch normalization biases residual blocks towards the identity function").

    The same ``x + alpha * branch(x)`` with ``alpha = 0`` at the start, meant for
    residual networks without normalization layers (where it replaces batch norm's
    effect of down-weighting the branches).
    """


def rezero(model: nn.Module, branches: Sequence[str], *, skipinit: bool = False) -> nn.Module:
    """Wrap each named residual branch of ``model`` in :class:`ReZero` (or :class:`SkipInit`) in place; returns model.

    ``branches``: module paths of modules whose output is *added* to their input by
    the model's forward (the branch itself, e.g. the MLP of a pre-norm block whose
    forward does ``x = x + self.mlp(x)``).  Limitation: the wrapped module then
    computes ``x + alpha * branch(x)`` itself, so a model whose forward already adds
    ``x`` would add it twice.  Use it for models built from branches (``nn.Sequential``
    of blocks whose residual addition lives in the wrapper); otherwise put
    :class:`ReZero` in your model's definition.

    >>> net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    >>> _ = rezero(net, ["1"])
    >>> type(net[1]).__name__
    'ReZero'
    """
    if isinstance(branches, str) or not all(isinstance(b, str) for b in branches):
        raise InitlabTypeError(
            f"The 'branches' argument of rezero must be a list of module paths. Got {shown(branches)} instead."
        )
    modules = dict(model.named_modules())
    for path in branches:
        if path not in modules or path == "":
            raise InitlabValueError(
                f"The 'branches' argument of rezero must name submodules of the model. Got {path!r} instead."
            )
    wrapper = SkipInit if skipinit else ReZero
    for path in branches:
        parent_path, _, name = path.rpartition(".")
        parent = model.get_submodule(parent_path) if parent_path else model
        setattr(parent, name, wrapper(getattr(parent, name)))
    return model
