"""The work of ``initlab doctor``: load a user's model, examine its start, fix it, examine it again, report.

The command line (:mod:`initlab.cli._doctor_cmd`) checks its output paths, then calls, in
this order, each step raising :class:`~initlab.InitlabError` (one line, exit code 2) on
bad input before anything is written:

1. :func:`load_factory` -- the factory named by ``--model path/to/file.py:factory``, from
   that file only (``importlib``; nothing else of the user's is imported);
2. :func:`build_model` -- call it with no arguments; it must return an ``nn.Module``;
3. :func:`load_weights` -- ``--weights``: a ``state_dict`` read with ``torch.load(weights_only=True)``,
   loaded strictly;
4. :func:`load_data` -- ``--data digits``, a ``.npy`` / ``.npz`` / ``.pt`` file, or
   standard-normal inputs, shaped as ``--input-shape``;
5. :func:`probe` -- one forward pass in eval mode without gradients (the model is left as
   found): an input the model rejects is an error here, not half-way through;
6. :func:`check_fix` -- ``--fix``: the plan is made (not applied) so that a bad scheme is
   refused now;

:func:`prepare_doctor` makes these checks and returns a :class:`DoctorCase`; its
:meth:`~DoctorCase.examine` does the work (inspect, diagnose, apply the fix, diagnose
again) and returns a :class:`DoctorReport`, whose :meth:`~DoctorReport.html` and
:meth:`~DoctorReport.to_dict` are the two files the command writes.

The loss: cross-entropy when the data has integer labels, one per example, and the model's
output is ``(N, C)`` with ``C`` above the largest label; otherwise the surrogate of
:func:`~initlab.torch._diagnose.diagnose` (``0.5 * mean(output ** 2)``, whose gradient still
measures the flow through the model).
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import math
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from torch import nn

from .._validation import InitlabError, InitlabTypeError, InitlabValueError, closest, quoted, shown
from .._version import __version__
from ..results import render_template
from ._inspect import Inspection, inspect
from ._tables import Tabular, num, text_table

__all__ = [
    "FIXES",
    "MAX_EXAMPLES",
    "Batch",
    "DoctorCase",
    "DoctorReport",
    "build_model",
    "check_fix",
    "load_data",
    "load_factory",
    "load_weights",
    "parse_input_shape",
    "prepare_doctor",
    "probe",
    "render_html",
    "verdict_change",
]

WHERE = "initlab doctor"
#: the named fixes; any other text is taken as an initlab scheme spec (``"orthogonal"``, ``"normal(std=0.02)"``)
FIXES = ("he", "xavier", "auto", "lsuv")
#: the most examples the doctor runs at once (a forward and a backward pass, with hooks, on one batch)
MAX_EXAMPLES = 100_000
#: how many pixels one scikit-learn digit has
_DIGIT_PIXELS = 64
#: the figures of a diagnosis shown in the report, in this order (Diagnosis.figures() keys), with captions
FIGURES = {
    "signal": "activation std and gradient norm by layer",
    "histograms": "activation histograms per layer",
    "shares": "dead and saturated shares",
    "clones": "clone map: distinct units per layer",
    "updates": "update / weight ratio after one SGD step",
}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300]}" if text else type(exc).__name__


# ------------------------------------------------------------------------------------ arguments


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``--input-shape`` as ints: ``"8,3,32,32"`` -> ``(8, 3, 32, 32)``; the first is the number of examples.

    >>> parse_input_shape("64, 1, 8, 8")
    (64, 1, 8, 8)
    """
    parts = [p.strip() for p in str(text).split(",")]
    accepted = "comma-separated positive integers, the number of examples first (e.g. 8,3,32,32)"
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise InitlabValueError(f"{WHERE}: --input-shape must be {accepted}. Got {quoted(text, 80)}.") from None
    if not dims or any(d < 1 for d in dims) or len(dims) > 8:
        raise InitlabValueError(f"{WHERE}: --input-shape must be 1 to 8 {accepted}. Got {quoted(text, 80)}.")
    if dims[0] > MAX_EXAMPLES or math.prod(dims) > 2**31:
        raise InitlabValueError(
            f"{WHERE}: --input-shape must have at most {MAX_EXAMPLES} examples and 2**31 values in all. "
            f"Got {quoted(text, 80)}."
        )
    return dims


def _split_model_arg(text: str) -> tuple[Path, str]:
    path, sep, name = str(text).rpartition(":")
    if not sep or not path or not name.isidentifier():
        raise InitlabValueError(
            f"{WHERE}: --model must be PATH.py:FACTORY, a Python file and the name of a function in it that takes "
            f"no arguments and returns a torch.nn.Module. Got {quoted(text, 80)}."
        )
    return Path(path), name


@contextlib.contextmanager
def _user_code(what: str) -> Iterator[None]:
    """Within the block the user's code runs: whatever it raises (even ``sys.exit``) is one line, exit 2."""
    try:
        yield
    except (KeyboardInterrupt, MemoryError):
        raise
    except InitlabError:
        raise
    except (Exception, SystemExit) as exc:
        raise InitlabValueError(f"{WHERE}: {what} raised {_one_line(exc)}") from None


def load_factory(model_arg: str) -> Callable[[], Any]:
    """The factory named by ``--model PATH.py:FACTORY``, loaded from that file only.

    The file runs as a module of its own (named after the file, prefixed ``initlab_doctor_``);
    it is registered in ``sys.modules`` while it runs (so dataclasses and pickling in it work)
    and taken out again afterwards.
    """
    path, name = _split_model_arg(model_arg)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise InitlabValueError(f"{WHERE}: --model must name a Python file. Got {quoted(str(path), 80)}, which {what}.")
    module_name = f"initlab_doctor_{abs(hash(str(path.resolve()))):x}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InitlabValueError(
            f"{WHERE}: --model must name a Python file (.py). Got {quoted(str(path), 80)}, which Python cannot import."
        )
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        with _user_code(f"--model: running {quoted(str(path), 80)}"):
            spec.loader.exec_module(module)
    finally:
        sys.modules.pop(module_name, None)
    factory = getattr(module, name, None)
    if factory is None:
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_"))
        near = closest(name, found)
        hint = f" Did you mean {near!r}?" if near else ""
        listed = ", ".join(found[:20]) + (" ..." if len(found) > 20 else "") if found else "none"
        raise InitlabValueError(
            f"{WHERE}: --model names no {name!r} in {quoted(str(path), 80)} "
            f"(its functions and classes: {listed}).{hint}"
        )
    if not callable(factory):
        raise InitlabTypeError(
            f"{WHERE}: --model must name a function of {quoted(str(path), 80)}. "
            f"Got {name!r}, which is {shown(factory)}."
        )
    return factory  # type: ignore[no-any-return]


def build_model(factory: Callable[[], Any], model_arg: str) -> nn.Module:
    """``factory()``: anything it raises, or a result that is not an ``nn.Module``, is one line (exit 2)."""
    with _user_code(f"--model: {model_arg}()"):
        model = factory()
    if not isinstance(model, nn.Module):
        raise InitlabTypeError(
            f"{WHERE}: --model: {model_arg}() must return a torch.nn.Module. Got {shown(model)} instead."
        )
    lazy = [n for n, p in model.named_parameters() if isinstance(p, nn.parameter.UninitializedParameter)]
    if lazy:
        raise InitlabValueError(
            f"{WHERE}: --model: {model_arg}() returned a model with uninitialized lazy parameters "
            f"({', '.join(lazy[:5])}); run it once on an example inside the factory."
        )
    return model


def _device(text: str) -> torch.device:
    """``--device`` as a torch device that exists here."""
    try:
        dev = torch.device(text)
    except (RuntimeError, TypeError, ValueError):
        raise InitlabValueError(
            f"{WHERE}: --device must be a torch device such as cpu, cuda or cuda:1. Got {quoted(text, 40)}."
        ) from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (dev.index or 0) >= count:
            raise InitlabValueError(
                f"{WHERE}: --device {text} is not available here ({count} CUDA device{'s' * (count != 1)} found)."
            )
    return dev


def _dtype_device(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype, p.device
    return torch.get_default_dtype(), torch.device("cpu")


def load_weights(path: str, model: nn.Module) -> None:
    """``--weights``: a ``state_dict`` read with ``torch.load(weights_only=True)``, loaded with ``strict=True``."""
    file = Path(path)
    if not file.is_file():
        what = "is a folder" if file.is_dir() else "does not exist"
        raise InitlabValueError(f"{WHERE}: --weights must name a file. Got {quoted(path, 80)}, which {what}.")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:
        raise InitlabValueError(
            f"{WHERE}: --weights must be a state_dict saved with torch.save; {quoted(path, 80)} could not be read "
            f"safely ({_one_line(exc)})."
        ) from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InitlabValueError(
            f"{WHERE}: --weights must hold a state_dict (a dict of names to tensors). Got {shown(state)} "
            f"in {quoted(path, 80)}."
        )
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, TypeError) as exc:
        detail = " ".join(str(exc).split())[:300]
        raise InitlabValueError(
            f"{WHERE}: --weights {quoted(path, 80)} does not match the model of --model ({detail})."
        ) from None


# ------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class Batch:
    """The doctor's batch: inputs ``x`` of ``--input-shape``, labels ``y`` (int64, (N,)) or None, and where from."""

    x: torch.Tensor
    y: torch.Tensor | None
    source: str


def _digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` scikit-learn digits, shuffled by ``seed``, standardized as :func:`initlab.data.digits` does."""
    from ..data import digits

    d = digits(seed=seed, test_fraction=0.0)
    return d.X_train[:, :n].T, d.Y_train[:, :n].argmax(axis=0)  # (n, 64), (n,)


def _as_labels(y: Any, n: int, file: str) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(y)) if not isinstance(y, torch.Tensor) else y
    if t.dim() != 1 or t.shape[0] < n or t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise InitlabValueError(
            f"{WHERE}: --data: the labels y in {quoted(file, 80)} must be a 1-D integer array with at least {n} "
            f"entries (--input-shape asks for {n} examples). Got {t.dtype} of shape {tuple(t.shape)}."
        )
    t = t[:n].to(torch.int64)
    if n and int(t.min()) < 0:
        raise InitlabValueError(f"{WHERE}: --data: the labels y in {quoted(file, 80)} must be >= 0.")
    return t


def _read_file(path: Path, text: str) -> tuple[Any, Any]:
    """(inputs, labels or None) from a .npy, .npz or .pt file."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.load(path, allow_pickle=False), None
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "x" not in z.files:
                raise InitlabValueError(
                    f"{WHERE}: --data: a .npz file must hold an array named x (and optionally y). "
                    f"Got {quoted(text, 80)} with {', '.join(z.files) or 'no arrays'}."
                )
            return z["x"], (z["y"] if "y" in z.files else None)
    if suffix == ".pt":
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(obj, torch.Tensor):
            return obj, None
        if isinstance(obj, Mapping) and "x" in obj:
            return obj["x"], obj.get("y")
        if isinstance(obj, (tuple, list)) and len(obj) in (1, 2):
            return obj[0], (obj[1] if len(obj) == 2 else None)
        raise InitlabValueError(
            f"{WHERE}: --data: a .pt file must hold a tensor, a dict with x (and optionally y) or a pair (x, y). "
            f"Got {shown(obj)} in {quoted(text, 80)}."
        )
    raise InitlabValueError(f"{WHERE}: --data must be digits or a .npy, .npz or .pt file. Got {quoted(text, 80)}.")


def load_data(data: str | None, shape: tuple[int, ...], seed: int, model: nn.Module) -> Batch:
    """The batch of ``--data`` shaped as ``--input-shape``, in the dtype and on the device of the model's parameters.

    - ``None``: standard-normal inputs from ``torch.Generator().manual_seed(seed)``, no labels;
    - ``"digits"``: the first ``N`` of scikit-learn's 1,797 digits shuffled by ``seed``,
      standardized per pixel (:func:`initlab.data.digits`); each example's 64 pixels reshaped
      to ``shape[1:]`` (64, 1x8x8, 8x8...), with their labels;
    - a ``.npy`` file (inputs), a ``.npz`` file (arrays ``x`` and optional ``y``), or a ``.pt`` file
      (``torch.load(weights_only=True)``: a tensor, a dict with ``x`` and optional ``y``, or a pair):
      the first ``N`` examples, each reshaped to ``shape[1:]`` when it has that many values.
    """
    dtype, device = _dtype_device(model)
    n, per_example = shape[0], math.prod(shape[1:])
    if data is None:
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(shape, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)
        return Batch(x, None, f"standard-normal inputs of shape {shape} (seed {seed})")
    if data == "digits":
        if per_example != _DIGIT_PIXELS or n > 1797:
            raise InitlabValueError(
                f"{WHERE}: --data digits gives at most 1797 examples of 64 pixels; --input-shape must be N,64, "
                f"N,1,8,8 or N,8,8 (64 values per example, N <= 1797). Got {','.join(map(str, shape))}."
            )
        pixels, labels = _digits(n, seed)
        x = torch.from_numpy(np.ascontiguousarray(pixels).reshape(shape)).to(dtype=dtype, device=device)
        return Batch(x, torch.from_numpy(labels.astype(np.int64)).to(device), f"{n} scikit-learn digits (seed {seed})")
    path = Path(data)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise InitlabValueError(
            f"{WHERE}: --data must be digits or a .npy, .npz or .pt file. Got {quoted(data, 80)}, which {what}."
        )
    try:
        raw_x, raw_y = _read_file(path, data)
    except InitlabError:
        raise
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as exc:  # numpy, zipfile and torch each fail in their own way on a damaged file
        raise InitlabValueError(f"{WHERE}: --data {quoted(data, 80)} could not be read ({_one_line(exc)}).") from None
    t = raw_x if isinstance(raw_x, torch.Tensor) else None
    if t is None:
        arr = np.asarray(raw_x)
        if arr.dtype.kind not in "biuf":
            raise InitlabValueError(
                f"{WHERE}: --data: the inputs in {quoted(data, 80)} must be numbers. Got an array of {arr.dtype}."
            )
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if t.dim() < 1 or t.shape[0] < n or math.prod(t.shape[1:]) != per_example:
        raise InitlabValueError(
            f"{WHERE}: --data: the inputs in {quoted(data, 80)} have shape {tuple(t.shape)}; --input-shape "
            f"{','.join(map(str, shape))} needs at least {n} examples of {per_example} values each."
        )
    x = t[:n].reshape(shape)
    x = x.to(dtype=dtype, device=device) if x.is_floating_point() else x.to(device)
    y = None if raw_y is None else _as_labels(raw_y, n, data).to(device)
    return Batch(x, y, f"the first {n} examples of {data}" + (" with labels" if y is not None else ""))


# ------------------------------------------------------------------------------------ the model's run


def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, Mapping):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        for item in out:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def probe(model: nn.Module, batch: Batch, shape_text: str) -> torch.Tensor:
    """One forward pass in train mode (as the diagnosis runs it) without gradients; returns the output's first tensor.

    The model is left as found: buffers (BatchNorm's running statistics) are put back bit
    for bit, every module's train/eval mode restored, and dropout draws from a forked RNG.
    An input the model rejects (a wrong shape, a batch of one for BatchNorm in train mode)
    is one line, exit code 2.
    """
    modes = [(m, m.training) for m in model.modules()]
    buffers = [(b, b.clone()) for b in model.buffers()]
    dev = batch.x.device
    devices = [dev.index or 0] if dev.type == "cuda" else []  # the CUDA generator that dropout would draw from
    model.train()
    try:
        what = f"the model, run on inputs of --input-shape {shape_text},"
        with torch.random.fork_rng(devices=devices), torch.no_grad(), _user_code(what):
            out = model(batch.x)
    finally:
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
        for m, mode in modes:
            m.training = mode
    first = _first_tensor(out)
    if first is None or not first.is_floating_point():
        raise InitlabValueError(
            f"{WHERE}: the model must return a floating-point tensor (or a tuple, list or dict holding one). "
            f"Got {shown(out)}."
        )
    return first


def choose_loss(
    output: torch.Tensor, batch: Batch
) -> tuple[Callable[[Any, torch.Tensor], torch.Tensor] | None, torch.Tensor | None, str]:
    """(loss_fn, target, what it is): cross-entropy when the labels fit an (N, C) output, else the surrogate."""
    y = batch.y
    if y is not None and output.dim() == 2 and output.shape[0] == y.shape[0] and output.shape[1] > int(y.max()):

        def cross_entropy(out: Any, target: torch.Tensor) -> torch.Tensor:
            first = _first_tensor(out)
            assert first is not None
            return nn.functional.cross_entropy(first, target)

        return cross_entropy, y, f"cross-entropy on the labels ({output.shape[1]} classes)"
    why = "no labels" if y is None else f"the output {tuple(output.shape)} is not (N, C) with C above the largest label"
    return None, None, f"the surrogate 0.5 * mean(output ** 2) ({why})"


# ------------------------------------------------------------------------------------ the fix


def check_fix(fix: str | None, model: nn.Module, batch: Batch, seed: int) -> Any:
    """The plan of ``--fix`` (made, not applied), so that a bad scheme is refused before any work.

    ``he``, ``xavier``, ``auto`` or an initlab scheme spec: a :class:`~initlab.torch._reinit.ReinitPlan`
    seeded by ``seed``; ``lsuv``: None (LSUV plans as it goes); no fix: None.
    """
    if fix is None:
        return None
    if not fix.strip():
        raise InitlabValueError(f"{WHERE}: --fix must be {', '.join(FIXES)} or an initlab scheme spec. Got ''.")
    if fix == "lsuv":
        _lsuv_function()
        return None
    from ._reinit import plan_reinit

    try:
        return plan_reinit(model, fix, example=batch.x, generator=seed)
    except InitlabError as exc:
        raise InitlabValueError(
            f"{WHERE}: --fix must be {', '.join(FIXES)} or an initlab scheme spec (see 'initlab schemes'). "
            f"Got {quoted(fix, 80)}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None


def _lsuv_function() -> Callable[..., Any]:
    try:
        module = importlib.import_module("initlab.torch._lsuv")
    except ImportError:
        raise InitlabError(f"{WHERE}: --fix lsuv is not available in this version of initlab.") from None
    lsuv: Callable[..., Any] = module.lsuv
    return lsuv


# ------------------------------------------------------------------------------------ the report


def _counts(diagnosis: Any) -> dict[str, int]:
    return dict(Counter(r.verdict for r in diagnosis.records))


def _finite(value: Any) -> Any:
    """JSON-ready: non-finite floats become None (JSON has no NaN), containers recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


@dataclass(frozen=True)
class DoctorReport(Tabular):
    """What ``initlab doctor`` found: the inspection, the diagnosis before and after the fix, and the fix's report."""

    model: str
    model_type: str
    input_shape: tuple[int, ...]
    data: str
    loss: str
    seed: int
    fix: str | None
    inspection: Inspection
    before: Any  # Diagnosis
    after: Any = None  # Diagnosis after the fix, None without --fix
    fix_report: Any = None  # ReinitPlan or LSUVReport
    notes: tuple[str, ...] = field(default=())

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Verdict counts: ``{"before": {...}, "after": {...}}`` (``after`` empty without a fix)."""
        return {"before": _counts(self.before), "after": {} if self.after is None else _counts(self.after)}

    def verdict_line(self) -> str:
        """The verdict counts, before -> after the fix: ``healthy 3 -> 41, vanishing 38 -> 0``."""
        return verdict_change(self.counts)

    def html(self) -> str:
        """report.html: one self-contained page, see :func:`render_html`."""
        return render_html(self)

    def fix_text(self) -> str:
        """What the fix changes, in words: the plan's ``explain()``, or the LSUV report's table."""
        if self.fix_report is None:
            return ""
        explain = getattr(self.fix_report, "explain", None)
        return str(explain()) if callable(explain) else repr(self.fix_report)

    def rows(self) -> list[dict[str, Any]]:
        """One row per module call: the verdict, activation std and gradient norm before and after the fix."""
        after = {} if self.after is None else {r.key: r for r in self.after.records}
        out = []
        for r in self.before.records:
            a = after.get(r.key)
            out.append(
                {
                    "key": r.key,
                    "module_type": r.module_type,
                    "role": r.role,
                    "verdict_before": r.verdict,
                    "verdict_after": None if a is None else a.verdict,
                    "act_std_before": _finite(float(r.act_std)),
                    "act_std_after": None if a is None else _finite(float(a.act_std)),
                    "grad_norm_before": _finite(float(r.grad_norm)),
                    "grad_norm_after": None if a is None else _finite(float(a.grad_norm)),
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (``json.dumps(..., allow_nan=False)`` works): the doctor.json of the command."""
        doc: dict[str, Any] = _finite(
            {
                "initlab_version": __version__,
                "model": self.model,
                "model_type": self.model_type,
                "input_shape": list(self.input_shape),
                "data": self.data,
                "loss": self.loss,
                "seed": self.seed,
                "fix": self.fix,
                "verdicts": self.counts,
                "notes": list(self.notes),
                "rows": self.rows(),
                "inspection": self.inspection.to_dict(),
                "before": self.before.to_dict(),
                "fix_report": None if self.fix_report is None else self.fix_report.to_dict(),
                "after": None if self.after is None else self.after.to_dict(),
            }
        )
        return doc

    def plot(self) -> Any:
        """A matplotlib figure: the activation std of every module call before and after the fix (log scale)."""
        import matplotlib.pyplot as plt

        from ..results import PALETTE

        rows = self.rows()
        fig, ax = plt.subplots(figsize=(max(5.0, 0.3 * len(rows) + 2), 3.6), layout="constrained")
        x = list(range(len(rows)))
        before = [np.nan if r["act_std_before"] is None else r["act_std_before"] for r in rows]
        ax.plot(x, before, "o-", color=PALETTE[0], label="before", markersize=3)
        if self.after is not None:
            after = [np.nan if r["act_std_after"] is None else r["act_std_after"] for r in rows]
            ax.plot(x, after, "s-", color=PALETTE[1], label=f"after --fix {self.fix}", markersize=3)
        ax.set_xticks(x, [r["key"] for r in rows], rotation=60, ha="right", fontsize=7)
        ax.set_yscale("log")
        ax.set_xlabel("module call, in execution order")
        ax.set_ylabel("activation std")
        ax.set_title(f"{self.model_type}: the signal before and after the fix", fontsize=9)
        ax.legend(fontsize=7)
        return fig

    def __repr__(self) -> str:
        head = ("module call", "type", "before", "after", "std before", "std after", "grad before", "grad after")
        body = [
            (
                r["key"],
                r["module_type"],
                r["verdict_before"],
                r["verdict_after"] or "-",
                num(r["act_std_before"]),
                num(r["act_std_after"]),
                num(r["grad_norm_before"]),
                num(r["grad_norm_after"]),
            )
            for r in self.rows()
        ]
        lines = [f"initlab doctor on {self.model} ({self.model_type}), {self.data}; loss: {self.loss}"]
        lines += text_table(head, body)
        lines.append("verdicts: " + self.verdict_line())
        return "\n".join(lines)


def verdict_change(counts: Mapping[str, Mapping[str, int]]) -> str:
    """``healthy 3 -> 41, vanishing 38 -> 0``: the verdict counts before -> after (before only without a fix).

    >>> verdict_change({"before": {"healthy": 3, "vanishing": 38}, "after": {"healthy": 41}})
    'healthy 3 -> 41, vanishing 38 -> 0'
    """
    before, after = counts["before"], counts.get("after") or {}
    order = ["healthy", "vanishing", "exploding", "saturated", "dead", "symmetric"]
    names = [v for v in order if v in before or v in after] + sorted((set(before) | set(after)) - set(order))
    if not after:
        return ", ".join(f"{v} {before.get(v, 0)}" for v in names)
    return ", ".join(f"{v} {before.get(v, 0)} -> {after.get(v, 0)}" for v in names)


@dataclass
class DoctorCase:
    """A model ready to be examined: loaded, run once on its batch, with the plan of its fix (nothing written yet).

    Made by :func:`prepare_doctor`; :meth:`examine` does the work, :meth:`save_weights` and
    :meth:`check_weights` write and check the ``--save`` file.
    """

    model_arg: str
    input_shape: tuple[int, ...]
    seed: int
    fix: str | None
    factory: Callable[[], Any]
    model: nn.Module
    batch: Batch
    plan: Any = None  # the ReinitPlan of --fix (None for lsuv and without a fix)

    def examine(self) -> DoctorReport:
        """Inspect the model, diagnose it, apply the fix (the plan, or LSUV), diagnose again.

        The fix changes the model in place (so that :meth:`save_weights` saves the fixed
        model); the diagnoses leave it as they found it.
        """
        from ._diagnose import diagnose

        model, batch = self.model, self.batch
        output = probe(model, batch, ",".join(map(str, self.input_shape)))
        loss_fn, target, loss = choose_loss(output, batch)
        inspection = inspect(model, batch.x)
        before = diagnose(model, batch.x, loss_fn, target=target)
        after = fix_report = None
        notes: list[str] = []
        if self.fix == "lsuv":
            fix_report = _lsuv_function()(model, batch.x, generator=self.seed)
        elif self.fix is not None:
            fix_report = self.plan.apply(model)
        if self.fix is not None:
            after = diagnose(model, batch.x, loss_fn, target=target)
        if not bool(torch.isfinite(output).all()):
            notes.append("the model's output holds NaN or inf before the fix")
        if inspection.not_understood:
            notes.append(f"{len(inspection.not_understood)} parameters not understood by inspect (see the inspection)")
        return DoctorReport(
            model=self.model_arg,
            model_type=type(model).__name__,
            input_shape=self.input_shape,
            data=batch.source,
            loss=loss,
            seed=self.seed,
            fix=self.fix,
            inspection=inspection,
            before=before,
            after=after,
            fix_report=fix_report,
            notes=tuple(notes),
        )

    def save_weights(self, fh: BinaryIO) -> None:
        """The model's ``state_dict`` (after the fix, once :meth:`examine` ran) to ``fh``, with ``torch.save``."""
        torch.save(self.model.state_dict(), fh)

    def check_weights(self, path: str | Path) -> None:
        """The file ``path`` loads with ``torch.load(weights_only=True)`` into a fresh ``factory()`` model, strictly."""
        state = torch.load(path, map_location="cpu", weights_only=True)
        fresh = build_model(self.factory, self.model_arg)
        try:
            fresh.load_state_dict(state, strict=True)
        except (RuntimeError, ValueError) as exc:
            raise InitlabError(
                f"{WHERE}: --save: the saved weights do not load into a fresh {self.model_arg}() model, so nothing "
                f"was saved (does the factory build the same model on every call?): {' '.join(str(exc).split())[:200]}"
            ) from None


def prepare_doctor(
    model: str,
    input_shape: str,
    *,
    data: str | None = None,
    fix: str | None = None,
    seed: int = 0,
    weights: str | None = None,
    device: str | None = None,
) -> DoctorCase:
    """Every check of ``initlab doctor``, in order, before any work: the arguments are the command's flags.

    Loads the factory of ``model`` (``"path/to/file.py:factory"``), builds the model, loads
    ``weights``, makes the batch of ``data`` shaped as ``input_shape`` (``"8,3,32,32"``), runs
    the model once on it and makes the plan of ``fix``.  ``device`` (``"cpu"``, ``"cuda"``,
    ``"cuda:1"``...): where the model is moved after its weights are loaded; None keeps it
    where the factory put it.  The batch is made on the model's device.  Each failure raises
    :class:`~initlab.InitlabError` naming the flag.
    """
    shape = parse_input_shape(input_shape)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InitlabValueError(f"{WHERE}: --seed must be an integer from 0 to 2**63 - 1. Got {shown(seed)}.")
    factory = load_factory(model)
    net = build_model(factory, model)
    if weights is not None:
        load_weights(weights, net)
    if device is not None:
        net.to(_device(device))
    batch = load_data(data, shape, seed, net)
    probe(net, batch, input_shape)
    plan = check_fix(fix, net, batch, seed)
    return DoctorCase(model, shape, seed, fix, factory, net, batch, plan)


# ------------------------------------------------------------------------------------ report.html


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=90)
    finally:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return num(value, 3)
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return "x".join(map(str, value))
    return str(value)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> dict[str, Any]:
    return {"columns": columns, "rows": [[_cell(r.get(c)) for c in columns] for r in rows]}


def render_html(report: DoctorReport) -> str:
    """report.html: one self-contained page (figures as base64 PNG), from the jinja2 template, autoescaped."""
    figures = []  # each figure is drawn to PNG and closed (in a notebook, none is shown)
    before = report.before.figures()
    after = {} if report.after is None else report.after.figures()
    for name, caption in FIGURES.items():
        figures.append({"name": name, "caption": caption, "before": _png(before.pop(name)),
                        "after": _png(after.pop(name)) if name in after else None})  # fmt: skip
    for fig in (*before.values(), *after.values()):  # any figure beyond the five: closed, not shown
        _png(fig)
    figures.insert(0, {"name": "overview", "caption": "activation std before and after the fix",
                       "before": _png(report.plot()), "after": None})  # fmt: skip
    inspection_columns = ["path", "module_type", "shape", "fan_in", "fan_out", "activation", "std", "he_std",
                          "xavier_std"]  # fmt: skip
    diag_columns = ["key", "module_type", "verdict", "act_std", "grad_norm", "dead", "saturated", "distinct_units",
                    "units", "update_ratio", "reasons"]  # fmt: skip
    fix_rows = report.fix_report.rows() if report.fix_report is not None else []
    return render_template(
        "initlab.torch",
        "doctor.html.j2",
        r=report,
        verdicts=verdict_change(report.counts),
        summary=_table(report.rows(), list(report.rows()[0]) if report.rows() else []),
        inspection=_table(report.inspection.rows(), inspection_columns),
        not_understood=list(report.inspection.not_understood),
        before=_table(report.before.rows(), diag_columns),
        after=None if report.after is None else _table(report.after.rows(), diag_columns),
        fix_text=report.fix_text(),
        fix_table=_table(fix_rows, list(fix_rows[0])) if fix_rows else None,
        figures=figures,
    )
