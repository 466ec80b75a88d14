"""``initlab list``, ``run``, ``tour`` and ``report``: the experiments, their results and the HTML report.

Every input is checked before the work starts (the settings, ``--out``, the memory the run
needs); results are saved whole or not at all by :func:`initlab.results.save`, and a tour
skips the experiments it finished before with the same settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from .._validation import InitlabError, check_memory, closest, quoted
from ._checks import UsageError, check_expression, reading
from ._terminal import print_table, progress, say

__all__ = ["MAX_SEEDS", "experiments_list", "report", "run", "tour", "tour_configs"]

#: The most seeds ``--seeds`` takes (the seeds are listed in the config before any other check).
MAX_SEEDS = 100_000


@contextmanager
def _warnings_as_lines(err: TextIO) -> Iterator[None]:
    """A library warning during a run is one line on stderr (``warning: ...``), not Python's two-line format."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")

        def show(message: Warning | str, *_: Any, **__: Any) -> None:
            print(f"warning: {str(message).splitlines()[0] if str(message) else 'a warning'}", file=err, flush=True)

        warnings.showwarning = show
        yield


def _settings(pairs: list[str], where: str = "initlab run") -> dict[str, str]:
    """``--set KEY=VALUE`` pairs as text, each value checked for depth and size before the library reads it."""
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{where}: --set must be KEY=VALUE. Got {quoted(pair)} instead.")
        check_expression(value.strip(), f"{where}: --set {key.strip()[:40]}")
        settings[key.strip()] = value.strip()
    return settings


def _check_memory(name: str, config: Any) -> None:
    """Refuse, before it starts, a run that would need more memory than is available now."""
    from ..experiments import peak_bytes

    check_memory(peak_bytes(name, config), f"the experiment {name} with these settings")


#: The titles of the report's two parts: the experiments, then the paper reproductions.
LECTURE_PART, PAPERS_PART = "The lecture's claims", "The classic papers, re-run"


def _write_report(folder: Path) -> Path:
    """DIR/report.html: the experiments in the lecture's order, then the papers (a run of any other is an error)."""
    from ..experiments import EXPERIMENTS
    from ..papers import PAPERS
    from ..results import write_report

    return Path(write_report(folder, parts=[(LECTURE_PART, list(EXPERIMENTS)), (PAPERS_PART, list(PAPERS))]))


def _text(value: Any) -> str:
    """A setting's value as ``--set`` takes it: tuples as ``a,b``, floats in their shortest form."""
    if isinstance(value, tuple):
        return ",".join(_text(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def _accepted(setting: Any) -> str:
    if setting.choices:
        return ", ".join(setting.choices)
    if setting.item == "str":  # free text that the experiment checks (an initializer spec): its help says what
        return "see the help"
    if setting.low is None and setting.high is None:
        return "any"
    low = "-inf" if setting.low is None else _number(setting.low)
    high = "inf" if setting.high is None else _number(setting.high)
    return f"{'(' if setting.low_open else '['}{low}, {high}{')' if setting.high is None else ']'}"


def _settings_table(name: str, out: TextIO, declared: Any = None, command: str = "run") -> None:
    """The declared settings of experiment ``name`` (or ``declared``, a Config class's): what ``--set`` takes,
    with defaults and ranges."""
    from ..experiments import declared as declared_of
    from ..experiments import settings

    found = settings(name) if declared is None else declared_of(declared)
    rows = [(s.name, s.type, _text(s.default), _accepted(s), s.help) for s in found]
    print_table(out, rows, ("setting", "type", "default", "accepted", "what it is"),
                title=f"initlab {command} {name}")  # fmt: skip


def experiments_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    """The experiments with their questions, then the presets and the learner's regimes;
    with NAME, that experiment's settings."""
    from ..experiments import EXPERIMENTS, PRESETS, REGIMES

    if args.name is not None:
        _settings_table(args.name, out)
        return
    rows = [(name, (m.__doc__ or "").strip().splitlines()[0].replace("``", "")) for name, m in EXPERIMENTS.items()]
    print_table(out, rows, ("experiment", "what it shows"))
    print("", file=out)
    presets = []
    for preset, (name, settings) in PRESETS.items():
        shown = " ".join(f"--set '{k}={v}'" for k, v in settings.items())
        presets.append((preset, f"initlab run {name} --preset {preset}", f"= {shown}"))
    print_table(out, presets, ("preset", "command", "settings"))
    print("the learner's regimes: " + ", ".join(f"{k} = {v}" for k, v in REGIMES.items()), file=out)
    print("the settings of an experiment: initlab list NAME", file=out)


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    """Check the settings, --out and the memory; run; save data and figures at once; print claims and answer."""
    from .. import results
    from ..experiments import EXPERIMENTS, make_config

    if args.name not in EXPERIMENTS:
        near = closest(args.name, EXPERIMENTS)
        raise UsageError(
            f"initlab run: NAME must be one of {', '.join(EXPERIMENTS)}. Got {quoted(args.name)}."
            + (f" Did you mean {near!r}?" if near else "")
        )
    if args.seeds is not None and not 1 <= args.seeds <= MAX_SEEDS:
        raise UsageError(f"initlab run: --seeds must be an int from 1 to {MAX_SEEDS}. Got {args.seeds}.")
    settings = _settings(args.set)
    with reading("initlab run: --set"):
        config = make_config(args.name, settings, args.seeds, args.preset)
    name = args.name
    folder = None if args.out is None else results.check_target(args.out, name, arg="--out", where="initlab run")
    _check_memory(name, config)
    with _warnings_as_lines(err), progress(err, name):
        result = EXPERIMENTS[name].run(config)
    saved = None if folder is None else results.save(result, folder, figures=True)  # data and figures, at once
    if args.json:
        doc = {"experiment": result.name, "claims": result.claims, "answer": result.answer,
               "out": None if saved is None else str(saved)}  # fmt: skip
        print(json.dumps(doc, indent=2), file=out)
        return
    for claim, held in result.claims.items():
        print(f"[{'x' if held else ' '}] {claim}", file=out)
    print(f"\n{result.answer}", file=out)
    if saved is not None:
        print(f"\nresults: {saved}", file=out)


def tour_configs(papers: bool = True) -> dict[str, Any]:
    """The tour's runs, each with its default settings: the lecture's experiments in its order, then (with
    ``papers``) the paper reproductions, scaled down."""
    from .. import papers as _papers
    from ..experiments import LECTURE, make_config

    configs = {name: make_config(name) for name in LECTURE}
    if papers:
        configs.update({name: _papers.make_config(name) for name in _papers.PAPERS})
    return configs


def _runner(name: str) -> Any:
    """The ``run`` of experiment or reproduction ``name``."""
    from .. import papers
    from ..experiments import EXPERIMENTS

    return EXPERIMENTS[name].run if name in EXPERIMENTS else papers.get(name).run


def tour(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    """Every experiment and reproduction on its defaults, saved under --out; runs finished there with the same
    settings are skipped, so a tour that was stopped resumes.  Then the report."""
    from .. import results
    from ..experiments import EXPERIMENTS

    configs = tour_configs(papers=not args.no_papers)
    for name in configs:  # every run folder the tour may replace, before any work
        results.check_target(args.out, name, arg="--out", where="initlab tour")
    folder = Path(args.out)
    for name, config in configs.items():
        if name in EXPERIMENTS:
            _check_memory(name, config)
    summary: dict[str, dict[str, Any]] = {}
    n = len(configs)
    for i, (name, config) in enumerate(configs.items(), start=1):
        if results.finished(folder, name, dataclasses.asdict(config)):
            say(err, f"[{i}/{n}] {name}: already finished in {str(folder)!r} with the same settings; skipped")
            result = results.load(folder / name)
            skipped = True
        else:
            if err.isatty():
                say(err, f"[{i}/{n}] {name}")
            with _warnings_as_lines(err), progress(err, name):
                result = _runner(name)(config)
            results.save(result, folder, figures=True)
            skipped = False
        summary[name] = {"claims": result.claims, "answer": result.answer, "skipped": skipped}
    report_path = _write_report(folder)
    if args.json:
        print(json.dumps({"report": str(report_path), "experiments": summary}, indent=2), file=out)
        return
    rows = []
    for name, s in summary.items():
        held = sum(s["claims"].values())
        rows.append((name, f"{held}/{len(s['claims'])} claims hold", "(saved before)" if s["skipped"] else ""))
    print_table(out, rows, ("experiment", "claims", ""))
    print(f"\nreport: {report_path}", file=out)


#: What a damaged results folder can raise while it is read, besides initlab's own errors.
_DAMAGE = (OSError, ValueError, EOFError, zipfile.BadZipFile)


def report(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    """report.html from the results saved in DIR; a folder it cannot read whole is one line, exit 2."""
    folder = Path(args.folder)
    if not args.folder.strip() or not folder.is_dir():
        raise UsageError(f"initlab report: DIR must be a folder of saved results. Got {quoted(args.folder, 80)}.")
    from ..results import check_target

    check_target(args.folder, arg="DIR", where="initlab report")
    try:
        path = _write_report(folder)
    except InitlabError:
        raise
    except _DAMAGE as exc:  # the results module names the file when it can; this is the net under it
        raise UsageError(f"initlab report: could not read the results in {args.folder!r} ({exc}).") from None
    print(f"report: {path}", file=out)
