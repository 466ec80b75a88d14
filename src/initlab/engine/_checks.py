"""What :func:`initlab.engine.train` checks before its first step: data, labels and parameters against the net.

Every message names ``train``, the argument, what it expects and what it got, in the
course's shapes (``X`` is ``(n_0, m)``, examples as columns).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import InitlabTypeError, InitlabValueError
from ._backends import to_numpy
from ._mlp import MLP

__all__ = ["check_data", "check_params"]


def _shape(a: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in a.shape)


def _is_array(a: Any) -> bool:
    return hasattr(a, "shape") and hasattr(a, "dtype")


def _first_bad(bad: np.ndarray) -> str:
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    return f"{int(bad.sum())} of {bad.size} entries (the first at {list(idx)})"


def check_params(net: MLP, params: Any) -> int:
    """Check ``params`` against ``net``; return the number of models (1 without a model axis).

    ``W{l}`` must be ``(n_l, n_{l-1})`` and ``b{l}`` ``(n_l, 1)``, all with a leading model
    axis of the same length or all without one; no key missing, none extra.
    """
    if not isinstance(params, dict):
        raise InitlabTypeError(
            f"The 'params' argument of train must be a dict {{'W1': ..., 'b1': ..., ...}}. Got {type(params).__name__}."
        )
    L = net.n_layers
    expected = {f"{p}{l}": (net.layer_dims[l], net.layer_dims[l - 1] if p == "W" else 1) for l in range(1, L + 1)
                for p in ("W", "b")}  # fmt: skip
    missing = [k for k in expected if k not in params]
    extra = [k for k in params if k not in expected]
    if missing or extra:
        said = []
        if missing:
            said.append(f"lacks {missing}")
        if extra:
            said.append(f"has keys the net does not: {extra}")
        raise InitlabValueError(
            f"The 'params' argument of train must hold {list(expected)} for layer_dims {list(net.layer_dims)}. "
            f"It {' and '.join(said)}."
        )
    models: dict[str, int | None] = {}
    for key, shape in expected.items():
        value = params[key]
        if not _is_array(value):
            raise InitlabTypeError(
                f"The 'params' argument of train must hold arrays. Got {type(value).__name__} for {key!r}."
            )
        got = _shape(value)
        if got[-2:] != shape or len(got) not in (2, 3):
            raise InitlabValueError(
                f"The 'params' argument of train must hold {key!r} of shape {shape} (or (M, {shape[0]}, {shape[1]}) "
                f"for an ensemble of M models) for layer_dims {list(net.layer_dims)}. Got shape {got} instead."
            )
        dtype = np.dtype(to_numpy(value[(0,) * len(got)]).dtype) if value.size else None
        if dtype is not None and dtype.kind != "f":
            raise InitlabTypeError(f"The 'params' argument of train must hold float arrays. Got {dtype} for {key!r}.")
        models[key] = got[0] if len(got) == 3 else None
    counts = set(models.values())
    if len(counts) > 1:
        listed = ", ".join(f"{k}: {'no model axis' if v is None else f'{v} models'}" for k, v in models.items())
        raise InitlabValueError(
            "The 'params' argument of train must hold one model or the same number of models in every array. "
            f"Got {listed}."
        )
    n = counts.pop()
    if n == 0:
        raise InitlabValueError("The 'params' argument of train must hold at least one model. Got 0 models.")
    return 1 if n is None else n


def check_data(net: MLP, X: Any, Y: Any) -> tuple[Any, Any]:
    """Check ``X`` ``(n_0, m)`` and ``Y`` ``(n_L, m)``: shapes, at least one example, finite, valid labels.

    Lists become float64 numpy arrays; arrays are returned as they are.
    """
    checked = []
    for arg, value in (("X", X), ("Y", Y)):
        if not _is_array(value):
            try:
                value = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise InitlabTypeError(
                    f"The {arg!r} argument of train must be an array of numbers. Got {type(value).__name__}: {exc}."
                ) from None
        checked.append(value)
    X, Y = checked
    n0, nL = net.layer_dims[0], net.layer_dims[-1]
    if len(_shape(X)) != 2 or _shape(X)[0] != n0:
        hint = " (examples are columns: transpose it?)" if len(_shape(X)) == 2 and _shape(X)[1] == n0 else ""
        raise InitlabValueError(
            f"The 'X' argument of train must have shape (n_0, m) = ({n0}, m) for layer_dims {list(net.layer_dims)}. "
            f"Got shape {_shape(X)} instead{hint}."
        )
    m = _shape(X)[1]
    if m == 0:
        raise InitlabValueError("The 'X' argument of train must hold at least one example (column). Got 0.")
    if _shape(Y) != (nL, m):
        raise InitlabValueError(
            f"The 'Y' argument of train must have shape (n_L, m) = ({nL}, {m}) for layer_dims "
            f"{list(net.layer_dims)} and X of shape {_shape(X)}. Got shape {_shape(Y)} instead."
        )
    for arg, value in (("X", X), ("Y", Y)):
        a = to_numpy(value)
        if a.dtype.kind not in "fiub":
            raise InitlabTypeError(f"The {arg!r} argument of train must hold numbers. Got dtype {a.dtype}.")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise InitlabValueError(
                f"The {arg!r} argument of train must be finite. Got NaN or infinity in {_first_bad(~np.isfinite(a))}."
            )
    y = to_numpy(Y)
    if net.loss.name in ("bce", "softmax_ce"):
        bad = (y != 0) & (y != 1)
        if bad.any():
            raise InitlabValueError(
                f"The 'Y' argument of train must hold labels 0 or 1 for the loss {net.loss.name!r}. "
                f"Got {y[tuple(np.argwhere(bad)[0])].item()!r} in {_first_bad(bad)}."
            )
    if net.loss.name == "softmax_ce":
        sums = y.sum(axis=0)
        if not (sums == 1).all():
            col = int(np.flatnonzero(sums != 1)[0])
            raise InitlabValueError(
                "The 'Y' argument of train must be one-hot for the loss 'softmax_ce': each column (example) one 1 "
                f"among {nL} classes. Got a column with {int(sums[col])} ones (example {col})."
            )
    return X, Y
