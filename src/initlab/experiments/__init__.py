"""The lecture's claims as experiments: each module has a ``Config`` dataclass and ``run(config) -> Result``.

Experiments compute; figures, reports and files are made elsewhere from the
:class:`~initlab.results.Result` (a tidy table, arrays, claims checked on
the numbers, and the answer in words).  Every experiment trains many seeds at once
as one ensemble.
"""

from __future__ import annotations

import contextlib
import dataclasses
from types import ModuleType
from typing import Any

from .._validation import InitlabValueError, check_choice, closest
from ..results import Result
from ..spec import parse_spec
from . import bias_vs_weights, course, depth, scale, symmetry

__all__ = ["EXPERIMENTS", "PRESETS", "REGIMES", "Result", "bias_vs_weights", "course", "depth", "make_config", "scale",
           "symmetry"]  # fmt: skip

#: name -> module with ``Config`` and ``run``, in the lecture's order
EXPERIMENTS: dict[str, ModuleType] = {
    "symmetry": symmetry,
    "bias-vs-weights": bias_vs_weights,
    "scale": scale,
    "depth": depth,
    "course": course,
}

#: The learner's four regimes of the lecture, as weight specs for its one-hidden-layer tanh/sigmoid net:
#: zeros never break the symmetry, too small learns slowly but safely, too large saturates.
REGIMES = {
    "zero": "zeros",
    "too small": "randn(scale=0.0001)",
    "appropriate": "randn(scale=0.01)",
    "too large": "randn(scale=100)",
}

#: Named settings: preset -> (experiment, settings as on the command line).
PRESETS = {
    "regimes": ("scale", {"scales": "0, 0.0001, 0.01, 100", "small": "0.01", "large": "100"}),
}


def _coerce(text: str, kind: str, key: str, name: str) -> Any:
    """A setting's value from text: numbers and arithmetic as in specs, bare words as strings, tuples."""
    try:
        value: Any = parse_spec(f"setting(value=({text}))")[1]["value"]
    except InitlabValueError:
        value = text  # bare words, e.g. dataset=circles or activations=tanh,relu
    base = kind.split("[")[0]
    if base == "tuple":
        inner = kind[len("tuple[") :].split(",")[0].strip()
        if isinstance(value, str):
            items: tuple[Any, ...] = tuple(p.strip() for p in value.split(",") if p.strip())
        else:
            items = value if isinstance(value, tuple) else (value,)
        return tuple(_check(v, inner, key, name, text) for v in items)
    return _check(value, base, key, name, text)


def _check(value: Any, base: str, key: str, name: str, text: str) -> Any:
    if base == "float" and isinstance(value, str):
        with contextlib.suppress(ValueError):  # "1e-3" inside a tuple arrives as text
            value = float(value)
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
    }.get(base, True)
    if not ok:
        raise InitlabValueError(f"The setting {key!r} of {name} must be a {base}. Got {text!r} instead.")
    return float(value) if base == "float" else value


def make_config(
    name: str, settings: dict[str, str] | None = None, seeds: int | None = None, preset: str | None = None
) -> Any:
    """The ``Config`` of experiment ``name`` with a ``preset`` and then ``settings`` (text, as on the command
    line) applied.  ``seeds`` sets how many seeds each start is run with.

    >>> make_config("symmetry", {"widths": "2, 8", "dataset": "circles"}).widths
    (2, 8)
    >>> make_config("scale", preset="regimes").scales
    (0.0, 0.0001, 0.01, 100.0)
    """
    name = check_choice(name, "experiment", list(EXPERIMENTS))
    if preset is not None:
        preset = check_choice(preset, "preset", list(PRESETS))
        if PRESETS[preset][0] != name:
            raise InitlabValueError(
                f"The preset {preset!r} is for the experiment {PRESETS[preset][0]!r}. Got the experiment {name!r}."
            )
        settings = {**PRESETS[preset][1], **(settings or {})}
    module = EXPERIMENTS[name]
    fields = {f.name: str(f.type) for f in dataclasses.fields(module.Config)}
    values: dict[str, Any] = {}
    for key, text in (settings or {}).items():
        if key not in fields:
            near = closest(key, fields)
            hint = f" Did you mean {near!r}?" if near else ""
            raise InitlabValueError(
                f"The settings of {name} are: {', '.join(fields)}. Got an unknown setting {key!r} instead.{hint}"
            )
        values[key] = _coerce(text, fields[key], key, name)
    if seeds is not None:
        if seeds < 1:
            raise InitlabValueError(f"The '--seeds' argument must be an int >= 1. Got {seeds!r} instead.")
        first = module.Config().seeds
        values["seeds"] = tuple(range(first[0], first[0] + seeds)) if isinstance(first, tuple) else seeds
    return module.Config(**values).validated()
