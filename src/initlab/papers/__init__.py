"""The classic initialization papers, each re-run by one command: ``initlab reproduce NAME``.

Each module here has a ``PAPER`` (:class:`Paper`: authors, year, setup, the claim
reproduced, and what the default run scales down), a ``Config`` declared like an
experiment's (its class attribute ``FULL`` holds the settings of the paper's own size), and
``run(config) -> Result``.  The Result's first table, ``Paper vs ours``, puts the paper's
number beside ours (with the spread over seeds) and says whether it holds; its claims are
those findings.  Everything runs on initlab's own engine and theory.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from .._validation import InitlabValueError, check_choice
from ..experiments import from_text
from ._common import TABLE, Finding, Paper, paper_result, spread

__all__ = ["PAPERS", "TABLE", "Finding", "Paper", "get", "make_config", "paper_result", "spread"]

#: The reproductions, oldest paper first, the course notes last.
PAPERS = ("glorot2010", "saxe2014", "he2015", "mishkin2016", "schoenholz2017", "pennington2017", "cs231n")


def get(name: str) -> ModuleType:
    """The module of reproduction ``name`` (its ``PAPER``, ``Config`` and ``run``).

    >>> get("glorot2010").PAPER.year
    2010
    """
    name = check_choice(name, "name", list(PAPERS), "get")
    return importlib.import_module(f".{name}", __name__)


def make_config(name: str, settings: dict[str, str] | None = None, *, full: bool = False,
                seeds: int | None = None) -> Any:  # fmt: skip
    """The ``Config`` of reproduction ``name``: its scaled-down defaults, or with ``full`` the paper's own
    size; then ``seeds`` and ``settings`` (text, as ``--set`` takes it) on top.

    >>> make_config("glorot2010", {"seeds": "2"}).seeds
    2
    """
    module = get(name)
    base: dict[str, Any] = dict(module.Config.FULL) if full else {}
    if seeds is not None:
        if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
            raise InitlabValueError(f"The 'seeds' argument of make_config must be an int >= 1. Got {seeds!r} instead.")
        base["seeds"] = seeds
    return from_text(module.Config, settings or {}, base)
