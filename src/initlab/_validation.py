"""Argument checks with one wording everywhere.

Every message names the argument, what is accepted and what was given::

    The 'std' argument of normal must be a float >= 0. Got -1.0 instead.

Unknown names list the valid ones and the closest match.  These helpers raise
:class:`InitlabError` subclasses of the matching builtin (``ValueError`` or
``TypeError``), so callers may catch either.
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "InitlabError",
    "InitlabTypeError",
    "InitlabValueError",
    "available_memory",
    "check_choice",
    "check_dtype",
    "check_float",
    "check_gain",
    "check_int",
    "check_memory",
    "check_shape",
    "closest",
    "format_bytes",
    "format_duration",
    "shown",
]


class InitlabError(Exception):
    """Base class of the errors initlab raises for bad input."""


class InitlabValueError(InitlabError, ValueError):
    """A value of the right type but outside what is accepted."""


class InitlabTypeError(InitlabError, TypeError):
    """A value of the wrong type."""


def _owner(where: str | None) -> str:
    return f" of {where}" if where else ""


def closest(name: str, valid: Iterable[str]) -> str | None:
    """The valid name most similar to ``name`` (or None when none is close)."""
    matches = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return matches[0] if matches else None


def check_choice(value: Any, arg: str, valid: Sequence[str], where: str | None = None) -> str:
    """Return ``value`` if it is one of ``valid``; otherwise list them and the closest."""
    if isinstance(value, str) and value in valid:
        return value
    listed = ", ".join(repr(v) for v in valid)
    hint = ""
    if isinstance(value, str):
        near = closest(value, valid)
        if near is not None:
            hint = f" Did you mean {near!r}?"
    raise InitlabValueError(
        f"The {arg!r} argument{_owner(where)} must be one of {listed}. Got {value!r} instead.{hint}"
    )


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


_MAX_BITS = 12000  # about 3600 digits, below the int-to-str limit of 4300


def shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, shortened to about ``limit`` characters (an int of 400 digits says how many it has).

    >>> shown(10**400)
    '1000000000...0000000000 (an int of 401 digits)'
    >>> shown((1, 2))
    '(1, 2)'
    """
    if type(value) is not bool and isinstance(value, numbers.Integral) and abs(int(value)).bit_length() > 200:
        bits = abs(int(value)).bit_length()
        if bits > _MAX_BITS:  # Python refuses to print ints of more than 4300 digits
            return f"an int of about {int(bits * math.log10(2))} digits"
        text = str(int(value))
        return f"{text[:10]}...{text[-10:]} (an int of {len(text.lstrip('-'))} digits)"
    try:
        text = repr(value)
    except Exception:  # a repr that fails or is too large to build (pathological objects)
        return f"an object of type {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def quoted(text: str, keep: int = 40) -> str:
    """``text`` quoted for an error message, cut to about ``keep`` characters (long input stays one short line).

    >>> quoted("he_normal")
    "'he_normal'"
    >>> quoted("1" + "0" * 400)
    "'1000000000000000000000000000000...0000000' (401 characters)"
    """
    if len(text) <= keep:
        return repr(text)
    return f"{text[: keep - 9] + '...' + text[-7:]!r} ({len(text)} characters)"


def check_float(
    value: Any,
    arg: str,
    where: str | None = None,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """Return ``value`` as a float after checking that it is a finite real in range.

    ``low``/``high`` are inclusive unless ``low_open``/``high_open``.  An int too large
    for a float (``10**400``) is refused like an infinite float.
    """
    parts = []
    if low is not None:
        parts.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        parts.append(f"{'<' if high_open else '<='} {high:g}")
    accepted = ("a float" if allow_inf else "a finite float") + (" " + " and ".join(parts) if parts else "")
    msg = f"The {arg!r} argument{_owner(where)} must be {accepted}. Got {shown(value)} instead."
    if not _is_real(value):
        raise InitlabTypeError(msg)
    try:
        out = float(value)
    except OverflowError:  # an int beyond the float range
        raise InitlabValueError(msg) from None
    if math.isnan(out) or (math.isinf(out) and not allow_inf):
        raise InitlabValueError(msg)
    if low is not None and (out < low or (low_open and out == low)):
        raise InitlabValueError(msg)
    if high is not None and (out > high or (high_open and out == high)):
        raise InitlabValueError(msg)
    return out


def check_gain(value: Any, where: str) -> float:
    """A gain: a finite float >= 0."""
    return check_float(value, "gain", where, low=0.0)


def check_int(
    value: Any, arg: str, where: str | None = None, *, low: int | None = None, high: int | None = None
) -> int:
    """Return ``value`` as an int after checking that it is an integer in ``[low, high]``.

    Floats with an integral value (``3.0``, as the spec syntax produces) are accepted.

    >>> check_int(10**400, "steps", "train", low=1, high=10**9)
    Traceback (most recent call last):
    ...
    initlab._validation.InitlabValueError: The 'steps' argument of train must be an int >= 1 and <= 1000000000. \
Got 1000000000...0000000000 (an int of 401 digits) instead.
    """
    parts = []
    if low is not None:
        parts.append(f">= {low}")
    if high is not None:
        parts.append(f"<= {high}")
    accepted = "an int" + (" " + " and ".join(parts) if parts else "")
    msg = f"The {arg!r} argument{_owner(where)} must be {accepted}. Got {shown(value)} instead."
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, float, np.floating)):
        raise InitlabTypeError(msg)
    if isinstance(value, numbers.Integral):
        out = int(value)  # exact, however large: no detour through float
    elif not float(value).is_integer():  # also rejects nan and inf
        raise InitlabTypeError(msg)
    else:
        out = int(value)
    if (low is not None and out < low) or (high is not None and out > high):
        raise InitlabValueError(msg)
    return out


def _max_dims() -> int:
    """The most axes a numpy array may have: 64 from numpy 2 on, 32 before."""
    return 64 if int(np.__version__.split(".")[0]) >= 2 else 32


_MAX_SIZE = int(np.iinfo(np.intp).max)


def check_shape(shape: Any, where: str | None = None, *, min_dims: int = 0, arg: str = "shape") -> tuple[int, ...]:
    """Return ``shape`` as a tuple of ints >= 1 with at least ``min_dims`` entries, one numpy can allocate.

    Refused with a message that names ``arg``: entries that are not ints or below 1, more axes
    than numpy allows (64), and a number of entries beyond numpy's index type (``np.intp``).
    Whether the array fits in memory is :func:`check_memory`'s question.
    """
    accepted = "a sequence of ints >= 1" + (f" with at least {min_dims} entries" if min_dims else "")
    msg = f"The {arg!r} argument{_owner(where)} must be {accepted}. Got {shown(shape)} instead."
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Iterable):
        raise InitlabTypeError(msg)
    try:
        dims = tuple(shape)
    except Exception:  # an iterable that fails part way
        raise InitlabTypeError(msg) from None
    if any(isinstance(d, bool) or not isinstance(d, numbers.Integral) for d in dims):
        raise InitlabTypeError(msg)
    if any(int(d) < 1 for d in dims) or len(dims) < min_dims:
        raise InitlabValueError(msg)
    if len(dims) > _max_dims():
        raise InitlabValueError(
            f"The {arg!r} argument{_owner(where)} must have at most {_max_dims()} entries (numpy's limit). "
            f"Got {len(dims)} entries instead."
        )
    out = tuple(int(d) for d in dims)
    size = 1
    for d in out:
        size *= d
        if size > _MAX_SIZE:
            raise InitlabValueError(
                f"The {arg!r} argument{_owner(where)} must describe at most {_MAX_SIZE} entries "
                f"(numpy's index range, 2**63 - 1). Got {shown(shape)} instead."
            )
    return out


_FLOAT_DTYPES = ("float16", "float32", "float64")


def check_dtype(dtype: Any, where: str | None = None, *, arg: str = "dtype") -> np.dtype[Any]:
    """Return ``dtype`` as a numpy float dtype (float16, float32 or float64); errors name ``arg``."""
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = ""
    if name not in _FLOAT_DTYPES:
        listed = ", ".join(_FLOAT_DTYPES)
        raise InitlabTypeError(f"The {arg!r} argument{_owner(where)} must be one of {listed}. Got {dtype!r} instead.")
    out: np.dtype[Any] = np.dtype(name)
    return out


def format_duration(seconds: float) -> str:
    """``seconds`` in words: ``'40 s'``, ``'3 min 20 s'``, ``'2 h 5 min'``.

    >>> format_duration(0.4), format_duration(200), format_duration(7500)
    ('under 1 s', '3 min 20 s', '2 h 5 min')
    """
    if seconds < 1:
        return "under 1 s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def format_bytes(nbytes: float) -> str:
    """``nbytes`` in human units: ``'512 B'``, ``'3.0 KiB'``, ``'1.5 MiB'``, ``'9.4 GiB'``.

    >>> format_bytes(3 * 2**30 / 2)
    '1.5 GiB'
    >>> format_bytes(100)
    '100 B'
    """
    if nbytes < 1024:
        return f"{int(nbytes)} B"
    if nbytes >= 2**70:  # also ints beyond the float range
        return "more than 1024 EiB"
    for unit in ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB"):
        nbytes /= 1024
        if nbytes < 1024 or unit == "EiB":
            break
    return f"{nbytes:.1f} {unit}"


_MEMINFO = "/proc/meminfo"


def available_memory() -> int | None:
    """Bytes of memory available now (``MemAvailable`` of ``/proc/meminfo``), or None when unknown.

    Falls back to the free physical pages (``os.sysconf``) where ``/proc/meminfo`` is missing.
    """
    try:
        with open(_MEMINFO, encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the unit is kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return None


def check_memory(nbytes: int, what: str) -> None:
    """Raise :class:`InitlabValueError` when ``nbytes`` exceed the memory available now.

    ``what`` names what would be allocated (``"the ensemble of 512 models"``); the message gives
    the size needed and the size available.  When the available memory is unknown, only sizes
    beyond what numpy can address (2**63 - 1 bytes) are refused.
    """
    if nbytes > _MAX_SIZE:
        raise InitlabValueError(
            f"Not enough memory for {what}: it needs {format_bytes(nbytes)}, more than numpy can address "
            f"({format_bytes(_MAX_SIZE)})."
        )
    available = available_memory()
    if available is not None and nbytes > available:
        raise InitlabValueError(
            f"Not enough memory for {what}: it needs {format_bytes(nbytes)} "
            f"but only {format_bytes(available)} is available now."
        )
