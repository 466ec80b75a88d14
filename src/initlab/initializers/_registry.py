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
from .._validation import InitlabError, InitlabTypeError, InitlabValueError, closest, shown
from ..spec import format_spec, parse_spec
from . import _bias
from . import _schemes as _init
from ._plans import Plan, plan

__all__ = [
    "BIASES",
    "INITIALIZERS",
    "SCHEMES",
    "Initializer",
    "aliases",
    "get",
    "get_bias",
    "names",
    "register",
    "resolve",
]

#: The built-in weight schemes by name; an alias maps to the same function as its canonical name.
_BUILT_IN: dict[str, Callable[..., np.ndarray]] = {
    "zeros": _init.zeros,
    "ones": _init.ones,
    "constant": _init.constant,
    "normal": _init.normal,
    "uniform": _init.uniform,
    "randn": _init.randn,
    "truncated_normal": _init.truncated_normal,
    "variance_scaling": _init.variance_scaling,
    "xavier_normal": _init.xavier_normal,
    "xavier_uniform": _init.xavier_uniform,
    "glorot_normal": _init.glorot_normal,
    "glorot_uniform": _init.glorot_uniform,
    "kaiming_normal": _init.kaiming_normal,
    "kaiming_uniform": _init.kaiming_uniform,
    "he_normal": _init.he_normal,
    "he_uniform": _init.he_uniform,
    "lecun_normal": _init.lecun_normal,
    "lecun_uniform": _init.lecun_uniform,
    "orthogonal": _init.orthogonal,
    "eye": _init.eye,
    "identity": _init.identity,
    "dirac": _init.dirac,
    "delta_orthogonal": _init.delta_orthogonal,
    "sparse": _init.sparse,
    "torch_default": _init.torch_default,
}

#: The built-in weight schemes' names (aliases included), in the order of the table above.
SCHEMES: tuple[str, ...] = tuple(_BUILT_IN)

#: Every initializer by name: the built-in ones and those added by :func:`register`.
INITIALIZERS: dict[str, Callable[..., np.ndarray]] = dict(_BUILT_IN)

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
    listed = ", ".join(valid)
    for key in kwargs:
        if key not in valid:
            near = closest(key, valid)
            hint = f" Did you mean {near!r}?" if near else ""
            if not valid:
                raise InitlabValueError(f"The {kind} {name} takes no arguments. Got {key!r} instead.")
            raise InitlabValueError(
                f"The arguments of the {kind} {name} must be among: {listed}. Got {key!r} instead.{hint}"
            )
    missing = [k for k, p in valid.items() if p.default is inspect.Parameter.empty and k not in kwargs]
    if missing:
        raise InitlabValueError(
            f"The {missing[0]!r} argument of the {kind} {name} is required (as in {name}({missing[0]}=...)). "
            "Got none instead."
        )


def _renamed(exc: InitlabError, canonical: str, alias: str) -> InitlabError:
    """``exc`` naming the alias the user called (he_normal) where it named the canonical scheme (kaiming_normal)."""
    return type(exc)(
        str(exc).replace(f" of {canonical} ", f" of {alias} ").replace(f" of {canonical}.", f" of {alias}.")
    )


class Initializer:
    """An initializer with its arguments bound: call it as ``init(shape, rng, dtype=...)``."""

    def __init__(self, name: str, fn: Callable[..., np.ndarray], kwargs: dict[str, Any] | None = None) -> None:
        if not isinstance(name, str):
            raise InitlabTypeError(f"The 'name' argument of Initializer must be a string. Got {shown(name)} instead.")
        if not callable(fn):
            raise InitlabTypeError(f"The 'fn' argument of Initializer must be callable. Got {shown(fn)} instead.")
        if kwargs is not None and not isinstance(kwargs, dict):
            raise InitlabTypeError(f"The 'kwargs' argument of Initializer must be a dict. Got {shown(kwargs)} instead.")
        self.name = name
        self.fn = fn
        self.kwargs = dict(kwargs or {})
        _bind("initializer", name, fn, self.kwargs)

    @property
    def spec(self) -> str:
        """The canonical spec text (``get(init.spec)`` rebuilds it)."""
        return format_spec(self.name, self.kwargs)

    def _initlab_alias(self) -> str | None:
        """The canonical name when this is an alias of one of initlab's schemes (he_normal -> kaiming_normal)."""
        canonical = getattr(self.fn, "__name__", self.name)
        is_ours = getattr(self.fn, "__module__", "").startswith("initlab.")
        return canonical if is_ours and canonical != self.name else None

    def __call__(self, shape: ShapeLike, rng: RNGLike | None = None, *, dtype: Any = np.float64) -> np.ndarray:
        try:
            return self.fn(shape, rng, dtype=dtype, **self.kwargs)
        except InitlabError as exc:
            canonical = self._initlab_alias()
            if canonical is None:
                raise
            raise _renamed(exc, canonical, self.name) from None

    def plan(self, shape: ShapeLike) -> Plan | None:
        """What a call on ``shape`` would draw (see :func:`initlab.initializers.plan`); None for a user's callable."""
        if not getattr(self.fn, "__module__", "").startswith("initlab."):
            return None
        try:
            return plan(self.fn, shape, **self.kwargs)
        except InitlabError as exc:
            canonical = self._initlab_alias()
            if canonical is None:
                raise
            raise _renamed(exc, canonical, self.name) from None

    def __repr__(self) -> str:
        return f"Initializer({self.spec!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Initializer) and (self.fn, self.kwargs) == (other.fn, other.kwargs)

    def __hash__(self) -> int:
        return hash(self.spec)


def _lookup(kind: str, table: dict[str, Callable[..., np.ndarray]], name: str, where: str) -> Callable[..., np.ndarray]:
    if name in table:
        return table[name]
    near = closest(name, table)
    hint = f" Did you mean {near!r}?" if near else ""
    raise InitlabValueError(
        f"The 'spec' argument of {where} must name a{'n' if kind[0] in 'aeiou' else ''} {kind}: "
        f"{', '.join(sorted(table))}. Got {name!r} instead.{hint}"
    )


def get(spec: str | Callable[..., np.ndarray] | Initializer) -> Initializer:
    """The initializer for a name, a spec such as ``"normal(std=0.01)"``, or a callable.

    Unknown names and arguments raise an error that lists the valid ones and the
    closest match.  A callable ``f(shape, rng, *, dtype)`` is wrapped as it is.
    The values of the arguments are checked when the initializer is called (or
    planned), with errors that name the scheme:

    >>> get("normal(std=-1)")((2, 2), 0)
    Traceback (most recent call last):
    ...
    initlab._validation.InitlabValueError: The 'std' argument of normal must be a finite float >= 0. Got -1 instead.
    """
    return resolve(spec, "get")


def resolve(spec: Any, where: str) -> Initializer:
    """:func:`get` for the function ``where`` that the user called (named in errors)."""
    if isinstance(spec, Initializer):
        return spec
    if callable(spec):
        return Initializer(getattr(spec, "__name__", "custom"), spec)
    if not isinstance(spec, str):
        raise InitlabTypeError(
            f"The 'spec' argument of {where} must be a scheme name, a spec string or a callable. "
            f"Got {shown(spec)} instead."
        )
    name, kwargs = parse_spec(spec, where)
    return Initializer(name, _lookup("initializer", INITIALIZERS, name, where), kwargs)


def get_bias(spec: str) -> Callable[..., np.ndarray]:
    """The bias policy for a name or spec (``"zeros"``, ``"normal(std=0.1)"``, ``"torch_default"``).

    Returns ``f(shape, rng, *, fan_in, dtype)`` drawing a bias of ``shape`` (the
    course's ``(n_l, 1)``) for a layer with ``fan_in`` inputs.

    >>> get_bias("constant(value=0.1)")((2, 1), None, fan_in=3)
    array([[0.1],
           [0.1]])
    """
    if not isinstance(spec, str):
        raise InitlabTypeError(f"The 'spec' argument of get_bias must be a string. Got {shown(spec)} instead.")
    name, kwargs = parse_spec(spec, "get_bias")
    fn = _lookup("bias policy", BIASES, name, "get_bias")
    _bind("bias policy", name, fn, kwargs)

    def policy(shape: ShapeLike, rng: RNGLike | None = None, *, fan_in: int, dtype: Any = np.float64) -> np.ndarray:
        return fn(shape, rng, fan_in=fan_in, dtype=dtype, **kwargs)

    policy.__name__ = name
    policy.__qualname__ = format_spec(name, kwargs)
    return policy


def register(name: str, fn: Callable[..., np.ndarray]) -> None:
    """Add an initializer ``fn(shape, rng, *, dtype, ...)`` under ``name`` (refuses to replace one)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise InitlabValueError(
            f"The 'name' argument of register must be a Python identifier. Got {shown(name)} instead."
        )
    if name in INITIALIZERS:
        raise InitlabValueError(
            f"The 'name' argument of register must be a new name. Got {name!r}, already registered."
        )
    if not callable(fn):
        raise InitlabTypeError(f"The 'fn' argument of register must be callable. Got {shown(fn)} instead.")
    INITIALIZERS[name] = fn
