"""Names for initializers and bias policies, and :func:`get` to look one up from a spec.

>>> init = get("xavier_uniform(gain=5/3)")
>>> init
Initializer('xavier_uniform(gain=1.6666666666666667)')
>>> init((3, 2), 0).shape
(3, 2)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from .._typing import RNGLike, ShapeLike
from .._validation import InitlabTypeError, InitlabValueError, closest
from ..spec import format_spec, parse_spec
from . import _bias
from . import _schemes as _init

__all__ = ["BIASES", "INITIALIZERS", "Initializer", "aliases", "get", "get_bias", "names", "register"]

#: Every initializer by name; aliases map to the same function as their canonical name.
INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    name: getattr(_init, name) for name in _init.__all__ if name not in ("Plan", "plan")
}

#: Bias policies by name (see :mod:`initlab.initializers.bias`).
BIASES: dict[str, Callable[..., np.ndarray]] = {name: getattr(_bias, name) for name in _bias.POLICIES}


def names(*, include_aliases: bool = True) -> list[str]:
    """The registered initializer names, sorted.

    >>> "he_normal" in names(), "he_normal" in names(include_aliases=False)
    (True, False)
    """
    return sorted(n for n, f in INITIALIZERS.items() if include_aliases or f.__name__ == n)


def aliases() -> dict[str, str]:
    """Alias -> canonical name (``he_normal`` -> ``kaiming_normal``...)."""
    return {n: f.__name__ for n, f in sorted(INITIALIZERS.items()) if f.__name__ != n}


def _arguments(fn: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The keyword-only arguments of an initializer a spec may set (``dtype`` is the caller's)."""
    params = inspect.signature(fn).parameters
    return {
        n: p for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY and n not in ("dtype", "fan_in")
    }


def _bind(kind: str, name: str, fn: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    valid = _arguments(fn)
    listed = ", ".join(valid) if valid else "none"
    for key in kwargs:
        if key not in valid:
            near = closest(key, valid)
            hint = f" Did you mean {near!r}?" if near else ""
            raise InitlabValueError(
                f"The {kind} {name!r} takes the arguments: {listed}. Got an unknown argument {key!r} instead.{hint}"
            )
    missing = [k for k, p in valid.items() if p.default is inspect.Parameter.empty and k not in kwargs]
    if missing:
        raise InitlabValueError(
            f"The {kind} {name!r} needs the argument {missing[0]!r} (as in {name}({missing[0]}=...)). Got none instead."
        )


class Initializer:
    """An initializer with its arguments bound: call it as ``init(shape, rng, dtype=...)``."""

    def __init__(self, name: str, fn: Callable[..., np.ndarray], kwargs: dict[str, Any] | None = None) -> None:
        self.name = name
        self.fn = fn
        self.kwargs = dict(kwargs or {})
        _bind("initializer", name, fn, self.kwargs)

    @property
    def spec(self) -> str:
        """The canonical spec text (``get(init.spec)`` rebuilds it)."""
        return format_spec(self.name, self.kwargs)

    def __call__(self, shape: ShapeLike, rng: RNGLike | None = None, *, dtype: Any = np.float64) -> np.ndarray:
        return self.fn(shape, rng, dtype=dtype, **self.kwargs)

    def plan(self, shape: ShapeLike) -> _init.Plan | None:
        """What a call on ``shape`` would draw (see :func:`initlab.initializers.plan`); None for a user's callable."""
        if not getattr(self.fn, "__module__", "").startswith("initlab."):
            return None
        return _init.plan(self.fn, shape, **self.kwargs)

    def __repr__(self) -> str:
        return f"Initializer({self.spec!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Initializer) and (self.fn, self.kwargs) == (other.fn, other.kwargs)

    def __hash__(self) -> int:
        return hash(self.spec)


def _lookup(kind: str, table: dict[str, Callable[..., np.ndarray]], name: str) -> Callable[..., np.ndarray]:
    if name in table:
        return table[name]
    near = closest(name, table)
    hint = f" Did you mean {near!r}?" if near else ""
    raise InitlabValueError(f"The {kind} name must be one of {', '.join(sorted(table))}. Got {name!r} instead.{hint}")


def get(spec: str | Callable[..., np.ndarray] | Initializer) -> Initializer:
    """The initializer for a name, a spec such as ``"normal(std=0.01)"``, or a callable.

    Unknown names and arguments raise an error that lists the valid ones and the
    closest match.  A callable ``f(shape, rng, *, dtype)`` is wrapped as it is.
    """
    if isinstance(spec, Initializer):
        return spec
    if callable(spec):
        return Initializer(getattr(spec, "__name__", "custom"), spec)
    if not isinstance(spec, str):
        raise InitlabTypeError(
            f"The 'spec' argument of get must be a scheme name, a spec string or a callable. Got {spec!r} instead."
        )
    name, kwargs = parse_spec(spec)
    return Initializer(name, _lookup("initializer", INITIALIZERS, name), kwargs)


def get_bias(spec: str) -> Callable[..., np.ndarray]:
    """The bias policy for a name or spec (``"zeros"``, ``"normal(std=0.1)"``, ``"torch_default"``).

    Returns ``f(shape, rng, *, fan_in, dtype)`` drawing a bias of ``shape`` (the
    course's ``(n_l, 1)``) for a layer with ``fan_in`` inputs.

    >>> get_bias("constant(value=0.1)")((2, 1), None, fan_in=3)
    array([[0.1],
           [0.1]])
    """
    if not isinstance(spec, str):
        raise InitlabTypeError(f"The 'spec' argument of get_bias must be a string. Got {spec!r} instead.")
    name, kwargs = parse_spec(spec)
    fn = _lookup("bias policy", BIASES, name)
    _bind("bias policy", name, fn, kwargs)

    def policy(shape: ShapeLike, rng: RNGLike | None = None, *, fan_in: int, dtype: Any = np.float64) -> np.ndarray:
        return fn(shape, rng, fan_in=fan_in, dtype=dtype, **kwargs)

    policy.__name__ = name
    policy.__qualname__ = format_spec(name, kwargs)
    return policy


def register(name: str, fn: Callable[..., np.ndarray]) -> None:
    """Add an initializer ``fn(shape, rng, *, dtype, ...)`` under ``name`` (refuses to replace one)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise InitlabValueError(f"The 'name' argument of register must be a Python identifier. Got {name!r} instead.")
    if name in INITIALIZERS:
        raise InitlabValueError(
            f"The 'name' argument of register must be a new name. Got {name!r}, already registered."
        )
    if not callable(fn):
        raise InitlabTypeError(f"The 'fn' argument of register must be callable. Got {fn!r} instead.")
    INITIALIZERS[name] = fn
