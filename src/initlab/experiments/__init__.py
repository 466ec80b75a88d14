"""The lecture's claims as experiments: each module has a ``Config`` dataclass and ``run(config) -> Result``.

Each ``Config`` declares its settings once (type, default, range or choices, help);
:func:`settings` lists them, :func:`make_config` builds a config from ``--set`` text,
:func:`command` gives the command line that reproduces a config, and :func:`peak_bytes`
estimates a run's peak memory before it starts.

Experiments compute; figures, reports and files are made elsewhere from the
:class:`~initlab.results.Result` (a tidy table, arrays, claims checked on
the numbers, and the answer in words).  Every experiment trains many seeds at once
as one ensemble.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from .._validation import InitlabTypeError, InitlabValueError, check_choice
from ..results import Result
from . import bias_vs_weights, course, depth, scale, symmetry, train
from ._settings import MAX_STEPS, Setting, Settings, declared, from_text, setting
from ._settings import command as _command

__all__ = ["EXPERIMENTS", "LECTURE", "MAX_STEPS", "PRESETS", "REGIMES", "Result", "Setting", "Settings",
           "bias_vs_weights", "command", "course", "declared", "depth", "from_text", "make_config", "peak_bytes",
           "scale", "setting", "settings", "symmetry", "train"]  # fmt: skip

#: name -> module with ``Config`` and ``run``: the lecture's experiments in its order, then ``train`` (any dataset,
#: net and start; the explorer's runs)
EXPERIMENTS: dict[str, ModuleType] = {
    "symmetry": symmetry,
    "bias-vs-weights": bias_vs_weights,
    "scale": scale,
    "depth": depth,
    "course": course,
    "train": train,
}
#: The experiments that each answer a claim of the lecture, in its order: what ``initlab tour`` runs
LECTURE = ("symmetry", "bias-vs-weights", "scale", "depth", "course")

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


def settings(name: str) -> tuple[Setting, ...]:
    """The declared settings of experiment ``name``: name, type, default, range or choices, and help.

    >>> [(s.name, s.type, s.default) for s in settings("course")][:2]
    [('inits', 'tuple[str, ...]', ('zeros', 'large', 'he')), ('seeds', 'tuple[int, ...]', (3, 4, 5, 6))]
    """
    name = check_choice(name, "name", list(EXPERIMENTS), "settings")
    return declared(EXPERIMENTS[name].Config)


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
    name = check_choice(name, "name", list(EXPERIMENTS), "make_config")
    if preset is not None:
        preset = check_choice(preset, "preset", list(PRESETS), "make_config")
        if PRESETS[preset][0] != name:
            raise InitlabValueError(
                f"The preset {preset!r} is for the experiment {PRESETS[preset][0]!r}. Got the experiment {name!r}."
            )
        settings = {**PRESETS[preset][1], **(settings or {})}
    module = EXPERIMENTS[name]
    base: dict[str, Any] = {}
    if seeds is not None:
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise InitlabValueError(f"The 'seeds' argument of make_config must be an int >= 1. Got {seeds!r} instead.")
        first = module.Config().seeds
        base["seeds"] = tuple(range(first[0], first[0] + seeds)) if isinstance(first, tuple) else seeds
    return from_text(module.Config, settings or {}, base)


def peak_bytes(name: str, config: Any = None) -> int:
    """An estimate of the peak memory (bytes) that running experiment ``name`` with ``config`` (a ``Config``,
    or None for the defaults) takes beyond what the process holds before it starts.

    The ensembles train in chunks of bounded size, so beyond a few seeds only the results kept
    (the tidy rows and arrays) grow with the seeds:

    >>> small, large = (peak_bytes("depth", make_config("depth", seeds=n)) for n in (16, 256))
    >>> bool(large - small < 16 * (small - peak_bytes("depth", make_config("depth", seeds=1))))
    True
    """
    name = check_choice(name, "name", list(EXPERIMENTS), "peak_bytes")
    module = EXPERIMENTS[name]
    if config is None:
        config = module.Config()
    if not isinstance(config, module.Config):
        raise InitlabTypeError(
            f"The 'config' argument of peak_bytes must be a {name} Config. Got {type(config).__name__} instead."
        )
    return int(module.peak_bytes(config))


def command(config: Any) -> str:
    """The command line that reproduces ``config`` (only the settings that differ from the defaults).

    >>> command(make_config("symmetry", {"widths": "2,8", "lr": "0.5"}))
    'initlab run symmetry --set widths=2,8 --set lr=0.5'
    """
    return _command(config)
