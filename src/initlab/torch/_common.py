"""What the parts of the adapter share about running a model: its inputs, their device, one call."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from .._validation import InitlabValueError, shown

__all__ = ["call", "resolve_device", "to_device"]


def resolve_device(model: nn.Module, device: Any, where: str) -> torch.device:
    """``device`` as a torch device, or (None) the device of the model's first parameter (CPU without any)."""
    if device is None:
        first = next(iter(model.parameters()), None)
        return first.device if first is not None else torch.device("cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise InitlabValueError(
            f"The 'device' argument of {where} must be None or a torch device such as 'cpu' or 'cuda:0'. "
            f"Got {shown(device)} instead."
        ) from exc


def to_device(x: Any, device: torch.device) -> Any:
    """``x``'s tensors (a tensor, or tuples, lists and dicts of them) detached and on ``device``; the rest as is.

    Detached, so that a backward pass never writes a ``.grad`` into the caller's input.
    """
    if isinstance(x, torch.Tensor):
        return x.detach().to(device)
    if isinstance(x, tuple):
        return tuple(to_device(v, device) for v in x)
    if isinstance(x, list):
        return [to_device(v, device) for v in x]
    if isinstance(x, Mapping):
        return {k: to_device(v, device) for k, v in x.items()}
    return x


def call(model: nn.Module, batch: Any) -> Any:
    """``model`` on ``batch``: a tuple is positional inputs, a mapping keyword inputs, anything else one input."""
    if isinstance(batch, tuple):
        return model(*batch)
    if isinstance(batch, Mapping):
        return model(**batch)
    return model(batch)
