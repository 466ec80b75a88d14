"""The fans of a parameter of a ``torch.nn`` module, from the module's definition rather than the tensor's shape.

``torch.nn.init._calculate_fan_in_and_fan_out`` sees only a shape ``(a, b, *k)`` and
returns ``(b * r, a * r)`` with ``r = prod(k)``.  That is right for ``nn.Linear`` and
ungrouped convolutions only (pytorch/pytorch#23854):

- a grouped convolution (``groups = g``) stores ``(out, in / g, *k)``: one input
  channel feeds ``out / g`` output channels, so ``fan_out = out / g * r``; torch says
  ``out * r``;
- a transposed convolution stores ``(in, out / g, *k)``: torch reads it as
  ``(fan_out, fan_in)`` and swaps the two fans (and ignores groups);
- ``nn.MultiheadAttention`` packs q, k and v into one ``(3E, E)`` matrix, and the
  recurrent layers stack their gates into ``(G * H, ...)``: each block is its own
  ``(E, E)`` or ``(H, ...)`` linear map, but torch counts ``fan_out`` over all blocks;
- HF-style ``Conv1D`` (GPT-2) stores its weight ``(in, out)``, the dense layout of
  Keras, so the shape rule swaps the fans.

Definitions used here (He et al. 2015, section 2.2: ``fan_in`` is the number of
inputs that one output sums over, ``fan_out`` the number of outputs that one input
reaches, so that ``Var[y] = fan_in * Var[w] * E[x^2]`` forward and likewise with
``fan_out`` backward):

- convolution ``(out, in / g, *k)``: ``fan_in = in / g * r``, ``fan_out = out / g * r``;
- transposed convolution ``(in, out / g, *k)``: with stride 1 it is a convolution
  from ``in`` to ``out`` channels with the same kernel (Dumoulin & Visin 2016, "A
  guide to convolution arithmetic", section 4), so ``fan_in = in / g * r`` and
  ``fan_out = out / g * r``.  With stride ``s`` an output position sums over
  ``in / g * r / prod(s)`` terms on average; like every framework, the fans here do
  not divide by the stride, and the row's ``how`` says so.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .._validation import InitlabTypeError, InitlabValueError, shown

__all__ = ["Fans", "param_fans"]


class Fans(NamedTuple):
    """``fan_in`` and ``fan_out`` of a parameter (``None`` when it is not fan-scaled) and how they were computed."""

    fan_in: int | None
    fan_out: int | None
    how: str

    @property
    def fan_based(self) -> bool:
        """Whether the parameter is a weight whose scale is set by its fans."""
        return self.fan_in is not None


_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}
_NORMS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    *((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ()),
)


def _not_fan_based(why: str) -> Fans:
    return Fans(None, None, f"not fan-based: {why}")


def _dims(shape: torch.Size) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _conv(module: nn.modules.conv._ConvNd, weight: torch.Tensor) -> Fans:
    groups = int(module.groups)
    kernel = tuple(int(k) for k in weight.shape[2:])
    r = math.prod(kernel)
    stride = tuple(int(s) for s in module.stride)
    if isinstance(module, _TRANSPOSED):
        in_ch, out_per_group = int(weight.shape[0]), int(weight.shape[1])
        fan_in = in_ch // groups * r
        fan_out = out_per_group * r
        how = (
            f"transposed conv (in, out/groups, *k) = {_dims(weight.shape)}, groups={groups}: "
            f"fan_in = in/groups*prod(k) = {in_ch}/{groups}*{r}, fan_out = out/groups*prod(k) = {out_per_group}*{r}"
        )
        if math.prod(stride) > 1:
            how += f"; stride {stride} not divided out"
        return Fans(fan_in, fan_out, how)
    out_ch, in_per_group = int(weight.shape[0]), int(weight.shape[1])
    kind = "depthwise conv" if groups > 1 and in_per_group == 1 else "grouped conv" if groups > 1 else "conv"
    fan_in = in_per_group * r
    fan_out = out_ch // groups * r
    how = (
        f"{kind} (out, in/groups, *k) = {_dims(weight.shape)}, groups={groups}: "
        f"fan_in = in/groups*prod(k) = {in_per_group}*{r}, fan_out = out/groups*prod(k) = {out_ch}/{groups}*{r}"
    )
    return Fans(fan_in, fan_out, how)


def _recurrent(module: nn.RNNBase, name: str, weight: torch.Tensor) -> Fans:
    gates = _GATES.get(str(module.mode), 1)
    rows, cols = int(weight.shape[0]), int(weight.shape[1])
    if name.startswith("weight_hr"):  # LSTM projection (proj_size, hidden): a plain dense map
        return Fans(cols, rows, f"LSTM projection (proj, hidden) = {_dims(weight.shape)}: dense")
    which = "input-to-hidden" if name.startswith("weight_ih") else "hidden-to-hidden"
    label = {1: "RNN", 4: "LSTM", 3: "GRU"}[gates]
    if gates == 1:
        return Fans(cols, rows, f"{label} {which} (hidden, in) = {_dims(weight.shape)}: dense")
    return Fans(
        cols,
        rows // gates,
        f"{label} {which} ({gates} gates * hidden, in) = {_dims(weight.shape)}: "
        f"fans of one gate's ({rows // gates}, {cols}) block",
    )


def param_fans(module: nn.Module, name: str) -> Fans:
    """The fans of ``module``'s own parameter ``name`` and how they were computed.

    Raises :class:`~initlab.InitlabValueError` when the module has no such
    parameter of its own, or when initlab does not know the parameter's layout
    (a custom module: the reason names the module type); biases, norm scales and
    embeddings come back with ``fan_in = fan_out = None`` and the reason they are
    not fan-scaled.  The definitions and their sources are in the module docstring.

    >>> from torch import nn
    >>> param_fans(nn.Conv2d(16, 32, 3, groups=4), "weight")[:2]
    (36, 72)
    >>> param_fans(nn.ConvTranspose2d(16, 32, 4, groups=2), "weight")[:2]
    (128, 256)
    >>> param_fans(nn.MultiheadAttention(64, 4), "in_proj_weight")[:2]
    (64, 64)
    >>> param_fans(nn.Embedding(10, 4), "weight").how
    'not fan-based: an embedding is a lookup table (one row per token, no sum over inputs); torch draws N(0, 1)'
    """
    if not isinstance(module, nn.Module):
        raise InitlabTypeError(
            f"The 'module' argument of param_fans must be a torch.nn.Module. Got {shown(module)} instead."
        )
    own = dict(module.named_parameters(recurse=False))
    if name not in own:
        raise InitlabValueError(
            f"The 'name' argument of param_fans must be one of the module's own parameters {sorted(own)}. "
            f"Got {shown(name)} instead."
        )
    weight = own[name]
    kind = type(module).__name__
    if "bias" in name:
        return _not_fan_based("a bias is added after the weighted sum; it usually starts at 0")
    if isinstance(module, _NORMS):
        return _not_fan_based(f"the scale of a normalization layer ({kind}) starts at 1")
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return _not_fan_based(
            "an embedding is a lookup table (one row per token, no sum over inputs); torch draws N(0, 1)"
        )
    if isinstance(module, nn.PReLU):
        return _not_fan_based("PReLU's weight is the slope of the activation, not a weighted sum")
    if isinstance(module, nn.Linear) and name == "weight":  # out_proj of attention included
        return Fans(int(weight.shape[1]), int(weight.shape[0]), f"dense (out, in) = {_dims(weight.shape)}")
    if isinstance(module, (*_CONVS, *_TRANSPOSED)) and name == "weight":
        return _conv(module, weight)
    if isinstance(module, nn.MultiheadAttention):
        if name == "in_proj_weight":
            e = int(weight.shape[1])
            return Fans(e, e, f"packed q/k/v (3E, E) = {_dims(weight.shape)}: fans of one (E, E) = ({e}, {e}) block")
        if name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
            return Fans(
                int(weight.shape[1]),
                int(weight.shape[0]),
                f"{name[0]} projection (E, dim) = {_dims(weight.shape)}: dense",
            )
    if isinstance(module, nn.RNNBase) and name.startswith("weight_"):
        return _recurrent(module, name, weight)
    if kind == "Conv1D" and name == "weight" and weight.dim() == 2:
        return Fans(
            int(weight.shape[0]),
            int(weight.shape[1]),
            f"HF-style Conv1D stores (in, out) = {_dims(weight.shape)}, transposed from nn.Linear: dense",
        )
    raise InitlabValueError(
        f"param_fans does not know the layout of parameter {name!r} {_dims(weight.shape)} of a {kind}: "
        "only torch.nn's layers and HF-style Conv1D are understood."
    )
