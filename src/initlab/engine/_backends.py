"""Backends: the engine's math runs on numpy (the reference) or on torch tensors (CPU or CUDA).

The engine never names a library: it calls the array namespace ``xp`` of its
arrays (the Python array API).  numpy arrays use numpy itself; torch tensors use
the namespace ``array-api-compat`` provides, imported only when torch is used.
``import initlab`` imports neither torch nor array-api-compat.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import InitlabValueError, check_choice

__all__ = ["BACKENDS", "namespace", "to_backend", "to_numpy"]

BACKENDS = ("numpy", "torch")


def namespace(x: Any) -> Any:
    """The array namespace of ``x``: numpy for numpy arrays, array-api-compat's torch namespace for tensors."""
    if isinstance(x, (np.ndarray, np.generic)):
        return np
    try:
        from array_api_compat import array_namespace
    except ImportError as exc:  # pragma: no cover - only without the torch extra
        raise InitlabValueError(
            "Arrays other than numpy need the 'array-api-compat' package: pip install 'initlab[torch]'. "
            f"Got {type(x).__name__}."
        ) from exc
    return array_namespace(x)


def to_numpy(x: Any) -> np.ndarray:
    """A numpy copy of an array or tensor of any backend (CUDA tensors are moved to the host)."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach"):
        return np.asarray(x.detach().cpu().numpy())
    return np.asarray(x)


def to_backend(tree: Any, backend: str = "numpy", device: str | None = None) -> Any:
    """Move a dict or list of arrays (or one array) to ``backend`` (``numpy`` or ``torch``) and ``device``.

    dtypes are kept (float64 stays float64).  ``device`` is a torch device name such
    as ``"cpu"`` or ``"cuda"``; numpy takes none.
    """
    backend = check_choice(backend, "backend", BACKENDS, "to_backend")
    if isinstance(tree, dict):
        return {k: to_backend(v, backend, device) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(to_backend(v, backend, device) for v in tree)
    if backend == "numpy":
        if device not in (None, "cpu"):
            raise InitlabValueError(f"The 'device' argument of to_backend must be None for numpy. Got {device!r}.")
        return to_numpy(tree)
    import torch

    return torch.as_tensor(to_numpy(tree) if not isinstance(tree, torch.Tensor) else tree, device=device)
