"""One declaration of each experiment setting: its type, default, range or choices, and help.

An experiment's ``Config`` is a frozen dataclass whose fields are declared with
:func:`setting`::

    steps: int = setting(2000, "gradient-descent steps", low=1, high=MAX_STEPS)

That one declaration drives everything a setting needs: the checks made when a
``Config`` is built (wrong type, out of range, unknown choice, repeated items), the
parsing of ``--set KEY=TEXT`` (:func:`from_text`), the reproducing command
(:func:`command`) and, through :func:`declared`, anything that lists the settings
(sweep grids, the explorer's controls).  Checks that tie two settings together
(``max_depth >= layers``) live in the Config's ``check_together``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import shlex
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from .._validation import InitlabError, InitlabTypeError, InitlabValueError, closest
from ..spec import parse_value

__all__ = ["MAX_STEPS", "Setting", "Settings", "command", "declared", "from_text", "setting"]

MAX_STEPS = 1_000_000  # no experiment here needs more gradient steps; larger is a typo
_KEY = "initlab_setting"


@dataclass(frozen=True)
class Setting:
    """One declared setting of an experiment.

    ``type`` is ``int``, ``float``, ``str``, or ``tuple[int, ...]`` (``tuple[float, ...]``,
    ``tuple[str, ...]``): a non-empty list of distinct items.  Numbers lie in
    ``[low, high]`` (``low`` excluded when ``low_open``); strings are one of ``choices``.
    """

    name: str
    type: str
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    choices: tuple[str, ...] | None = None

    @property
    def item(self) -> str:
        """The type of one value: the item type of a tuple, else the type itself."""
        return self.type[len("tuple[") : -len(", ...]")] if self.is_tuple else self.type

    @property
    def is_tuple(self) -> bool:
        return self.type.startswith("tuple[")

    def accepted(self) -> str:
        """What the setting accepts, in words: ``an int >= 1 and <= 1000000``."""
        if self.choices is not None:
            one = "one of " + ", ".join(repr(c) for c in self.choices)
        else:
            one = {"int": "an int", "float": "a finite float", "str": "a string"}[self.item]
            bounds = []
            if self.low is not None:
                bounds.append(f"{'>' if self.low_open else '>='} {self._bound(self.low)}")
            if self.high is not None:
                bounds.append(f"<= {self._bound(self.high)}")
            one += (" " + " and ".join(bounds)) if bounds else ""
        if self.is_tuple:
            return f"a non-empty list of distinct values, each {one}"
        return one

    def _bound(self, x: float) -> str:
        return str(int(x)) if self.item == "int" else f"{x:g}"

    def _error(self, where: str, value: Any, kind: Any = InitlabValueError) -> Exception:
        shown = _short(value)
        err: Exception = kind(f"The {self.name!r} setting of {where} must be {self.accepted()}. Got {shown} instead.")
        return err

    def check(self, value: Any, where: str) -> Any:
        """``value`` checked and normalized (ints for int, floats for float, tuples for lists)."""
        if not self.is_tuple:
            return self._check_one(value, where, value)
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise self._error(where, value, InitlabTypeError)
        items = tuple(self._check_one(v, where, value) for v in value)
        if not items or len(set(items)) != len(items):
            raise self._error(where, value)
        return items

    def _check_one(self, value: Any, where: str, shown: Any) -> Any:
        v: Any = value
        if self.item == "str":
            if not isinstance(v, str):
                raise self._error(where, shown, InitlabTypeError)
            if self.choices is not None and v not in self.choices:
                near = closest(v, self.choices)
                hint = f" Did you mean {near!r}?" if near else ""
                raise InitlabValueError(f"{self._error(where, shown)}{hint}")
            return v
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise self._error(where, shown, InitlabTypeError)
        out: Any
        if self.item == "int":
            if isinstance(v, numbers.Integral):
                out = int(v)
            elif float(v).is_integer():  # 3.0 from arithmetic is 3; nan and inf are not
                out = int(float(v))
            else:
                raise self._error(where, shown, InitlabTypeError)
        else:
            try:
                out = float(v)
            except OverflowError:  # an int too large for a float
                raise self._error(where, shown) from None
            if not math.isfinite(out):
                raise self._error(where, shown)
        # compared as given: Python compares huge ints and floats exactly, without overflow
        if self.low is not None and (out < self.low or (self.low_open and out == self.low)):
            raise self._error(where, shown)
        if self.high is not None and out > self.high:
            raise self._error(where, shown)
        return out

    def text(self, value: Any) -> str:
        """``value`` as ``--set`` text that :func:`from_text` reads back to the same value."""
        items = value if self.is_tuple else (value,)
        return ",".join(repr(v) if isinstance(v, float) else str(v) for v in items)

    def parse(self, text: str, where: str) -> Any:
        """The value of ``--set NAME=text``: numbers and arithmetic as in specs, bare words as strings."""
        if self.item == "str":
            value: Any = text.strip()
            if self.is_tuple:
                value = tuple(p.strip() for p in value.split(",") if p.strip())
            try:
                return self.check(value, where)
            except InitlabError as e:  # what was typed, not the tuple it became
                raise type(e)(str(e).replace(f"Got {_short(value)} instead.", f"Got {_short(text)} instead.")) from None
        try:
            value = parse_value(text, self.name, where)
            if self.is_tuple and not isinstance(value, tuple):
                value = (value,)
            return self.check(value, where)
        except (InitlabError, RecursionError, MemoryError, OverflowError, ValueError):
            raise self._error(where, text) from None  # what was typed, not a 400-digit number


def _short(value: Any) -> str:
    """A value for an error message, never longer than a line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:40] + f"... ({len(text)} characters)"


def setting(
    default: Any,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    choices: Sequence[str] | None = None,
) -> Any:
    """Declare a ``Config`` field: its default, its help (one line) and what it accepts."""
    meta = {"help": help, "low": low, "high": high, "low_open": low_open,
            "choices": None if choices is None else tuple(choices)}  # fmt: skip
    return dataclasses.field(default=default, metadata={_KEY: meta})


def _type_name(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        return f"tuple[{typing.get_args(hint)[0].__name__}, ...]"
    return str(hint.__name__)


def declared(cls: type) -> tuple[Setting, ...]:
    """The declared settings of a ``Config`` class, in declaration order."""
    return _declared(cls)


@functools.cache  # a class's declarations never change; every Config built checks them (a grid builds thousands)
def _declared(cls: type) -> tuple[Setting, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        meta = f.metadata.get(_KEY)
        if meta is None:
            raise TypeError(f"{cls.__qualname__}.{f.name} is not declared with setting(...)")  # a programming error
        out.append(Setting(name=f.name, type=_type_name(hints[f.name]), default=f.default, **meta))
    return tuple(out)


class Settings:
    """Base of every experiment's ``Config``: checks each declared setting when the config is built.

    A subclass sets ``EXPERIMENT`` (the name errors speak of) and may override
    :meth:`check_together` for the checks that tie settings together.  ``COMMAND`` is the
    ``initlab`` command that runs it (``run`` for an experiment, ``reproduce`` for a paper).
    """

    EXPERIMENT: ClassVar[str] = "experiment"
    COMMAND: ClassVar[str] = "run"

    def __post_init__(self) -> None:
        for s in declared(type(self)):
            object.__setattr__(self, s.name, s.check(getattr(self, s.name), self.EXPERIMENT))
        self.check_together()

    def check_together(self) -> None:
        """Checks between settings; raise :class:`InitlabValueError` naming them."""


def from_text(cls: type, texts: dict[str, str], base: dict[str, Any] | None = None) -> Any:
    """A ``cls`` from ``--set`` texts (name -> text) on top of ``base`` values."""
    where = getattr(cls, "EXPERIMENT", cls.__name__)
    by_name = {s.name: s for s in declared(cls)}
    values = dict(base or {})
    for key, text in texts.items():
        if key not in by_name:
            near = closest(key, by_name)
            hint = f" Did you mean {near!r}?" if near else ""
            raise InitlabValueError(
                f"The settings of {where} are: {', '.join(by_name)}. Got an unknown setting {key!r} instead.{hint}"
            )
        values[key] = by_name[key].parse(text, where)
    return cls(**values)


def command(config: Any) -> str:
    """The command line that reproduces ``config``: only the settings that differ from the defaults."""
    parts = ["initlab", type(config).COMMAND, type(config).EXPERIMENT]
    for s in declared(type(config)):
        value = getattr(config, s.name)
        if value != s.default:
            parts += ["--set", shlex.quote(f"{s.name}={s.text(value)}")]
    return " ".join(parts)
