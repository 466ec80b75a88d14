"""Time initlab's ``lsuv`` against the ``lsuv`` package's ``LSUVinit`` on the same models, and compare what they do.

    python benchmarks/torch_lsuv.py [--repeats N] [--batch N]

The ``lsuv`` package (0.3.0, MIT, by D. Mishkin, the paper's first author) is not a
dependency of initlab.  Install it for this benchmark only, without letting pip resolve its
bare ``torch`` requirement (which may pull a CUDA build of several GB)::

    pip install --no-deps lsuv==0.3.0

Without it, the benchmark times initlab alone and says so.

Every timed call starts from a freshly built model (same factory, same seed) on the same
digits batch; building it is not timed.  The two are timed round-robin (initlab first on even
repeats, the package first on odd ones); the table gives the medians and ``lsuv / initlab``
(above 1: initlab is faster).  Both run their defaults: target std 1, tolerance 0.1, at most
10 rescalings per layer, orthonormal pre-init.  Nothing here asserts anything about speed.

After the timings, each model's per-layer output std is measured once more here, independently
of both libraries, with normalization layers on the batch's statistics (as in training) and,
for the package's point of view, in eval mode (BN on its running statistics, which is how the
package measures).

Where the two differ (read in lsuv 0.3.0's source, and seen in the tables this prints):

- the package runs the model in eval mode, so BatchNorm normalizes with its running
  statistics (mean 0, variance 1 at the start), not the batch's: the layers after a BN are
  tuned for a signal that training does not see (on ``cnn_bn`` the final Linear ends near
  std 1 in eval mode and about 0.6 with BN on the batch, outside the tolerance); initlab
  measures with the norms on the batch's statistics (and dropout off);
- it rescales convolutions that feed a BN (the BN undoes it in training); initlab reports
  them and leaves them;
- it zeroes every bias at the orthonormal pre-init; initlab keeps them (the paper rescales
  weights only);
- it processes layers in registration order (``model.apply``), initlab in execution order;
  it keeps its state in a module-level dict (not reentrant) and draws from the global torch
  RNG; its hook keeps a shared module's last call, initlab its first;
- its std is torch's unbiased ``std()`` and its tolerance absolute (``|std - 1| > 0.1``, up
  to 11 rescalings); initlab's is the population std and a relative tolerance;
- lsuv 0.3.0 does include the first layer (its first hooked layer is layer 0).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import importlib.util
import io
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

try:
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - the benchmark needs torch
    sys.exit("torch_lsuv.py needs torch: pip install torch==2.13.0 (the CPU build)")

import initlab
from initlab.torch._lsuv import lsuv

try:
    from lsuv import lsuv_with_singlebatch  # type: ignore[import-not-found]
except ImportError:
    lsuv_with_singlebatch = None

_path = Path(__file__).resolve().parents[1] / "examples" / "torch_models.py"
_spec = importlib.util.spec_from_file_location("torch_models", _path)
assert _spec is not None and _spec.loader is not None
models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(models)

NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
LAYERS = (nn.Linear, nn.modules.conv._ConvNd, nn.MultiheadAttention)


def cases() -> list[tuple[str, Callable[[], nn.Module], str]]:
    return [
        ("mlp (10 x Linear(64) + tanh)", lambda: models.mlp(depth=10, activation="tanh"), "flat"),
        ("cnn_bn (3 x Conv-BN-ReLU)", models.cnn_bn, "image"),
        ("resnet (3 BasicBlocks)", models.resnet, "image"),
        ("transformer (2 encoder layers)", models.transformer, "sequence"),
    ]


def run_initlab(model: nn.Module, x: torch.Tensor) -> None:
    lsuv(model, x, generator=0)


def run_package(model: nn.Module, x: torch.Tensor) -> None:
    assert lsuv_with_singlebatch is not None
    torch.manual_seed(0)  # the package draws its orthonormal weights from the global RNG
    with contextlib.redirect_stdout(io.StringIO()):
        lsuv_with_singlebatch(model, x, verbose=False, device=torch.device("cpu"))


def timed(run: Callable[[nn.Module, torch.Tensor], None], build: Callable[[], nn.Module], x: torch.Tensor) -> float:
    model = build()
    start = time.perf_counter()
    run(model, x)
    return time.perf_counter() - start


def layer_stds(model: nn.Module, x: torch.Tensor, norms_on_batch: bool) -> dict[str, float]:
    """Each Linear / conv / attention module's first-call output std (population), measured here."""
    model = copy.deepcopy(model)
    model.eval()
    if norms_on_batch:
        for m in model.modules():
            if isinstance(m, NORMS):
                m.train()
    inner = {id(m.out_proj) for m in model.modules() if isinstance(m, nn.MultiheadAttention)}
    found: dict[str, float] = {}

    def hook(path: str) -> Any:
        def record(module: nn.Module, args: Any, out: Any) -> None:
            t = out[0] if isinstance(out, tuple) else out
            found.setdefault(path, float(t.detach().double().std(correction=0)))

        return record

    for path, m in model.named_modules():
        if isinstance(m, LAYERS) and id(m) not in inner:
            m.register_forward_hook(hook(path))
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            model(x)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed calls of each library per model (default 7)")
    parser.add_argument("--batch", type=int, default=256, help="digits per batch (default 256)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1. Got {args.repeats} instead.")
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be >= 1. Got {args.threads} instead.")
        torch.set_num_threads(args.threads)

    print("# initlab lsuv vs the lsuv package")
    print()
    versions = f"initlab {initlab.__version__}, torch {torch.__version__}"
    if lsuv_with_singlebatch is None:
        print("- the lsuv package is not installed: timing initlab only. Install it for this benchmark with")
        print("  `pip install --no-deps lsuv==0.3.0` (--no-deps: never let pip resolve its bare torch requirement)")
    else:
        from importlib.metadata import version

        versions += f", lsuv {version('lsuv')}"
    print(f"- {versions}, Python {platform.python_version()}")
    print(f"- torch.get_num_threads() = {torch.get_num_threads()}, os.cpu_count() = {os.cpu_count()}, CPU float32")
    print(f"- {args.batch} digits per batch; {args.repeats} timed calls each, round-robin; medians (and minima)")
    print("- each call starts from a freshly built model (not timed); ratio = lsuv / initlab (above 1: initlab faster)")
    print()
    print("| model | initlab (ms) | lsuv package (ms) | lsuv / initlab | minima: initlab / lsuv (ms) |")
    print("|---|--:|--:|--:|--:|")
    results: list[tuple[str, nn.Module, nn.Module | None, torch.Tensor, Any]] = []
    for name, build, kind in cases():
        x, _ = models.digits_batch(args.batch, kind=kind)
        timed(run_initlab, build, x)  # warm-up, untimed
        lab: list[float] = []
        pkg: list[float] = []
        if lsuv_with_singlebatch is not None:
            timed(run_package, build, x)
        for r in range(args.repeats):
            order = [(lab, run_initlab), (pkg, run_package)] if r % 2 == 0 else [(pkg, run_package), (lab, run_initlab)]
            for times, run in order:
                if run is run_package and lsuv_with_singlebatch is None:
                    continue
                times.append(timed(run, build, x))
        lab_ms = statistics.median(lab) * 1e3
        if pkg:
            pkg_ms = statistics.median(pkg) * 1e3
            minima = f"{min(lab) * 1e3:.1f} / {min(pkg) * 1e3:.1f}"
            print(f"| {name} | {lab_ms:.1f} | {pkg_ms:.1f} | {pkg_ms / lab_ms:.2f} | {minima} |", flush=True)
        else:
            print(f"| {name} | {lab_ms:.1f} | - | - | {min(lab) * 1e3:.1f} / - |", flush=True)
        ours = build()
        report = lsuv(ours, x, generator=0)
        theirs = None
        if lsuv_with_singlebatch is not None:
            theirs = build()
            run_package(theirs, x)
        results.append((name, ours, theirs, x, report))

    print()
    print("## Per-layer output std after each (measured here; target 1, tolerance 0.1)")
    print()
    print("BN on batch statistics is what training sees; eval (BN on running statistics) is how the package measures.")
    for name, ours, theirs, x, report in results:
        status = {layer.path: layer.status for layer in report.layers}
        a = layer_stds(ours, x, norms_on_batch=True)
        print()
        print(f"### {name}")
        print()
        if theirs is None:
            print("| layer | initlab: std (BN on batch) | initlab status |")
            print("|---|--:|---|")
            for path, s in a.items():
                print(f"| {path} | {s:.3f} | {status.get(path, '-')} |")
            continue
        b = layer_stds(theirs, x, norms_on_batch=True)
        c = layer_stds(theirs, x, norms_on_batch=False)
        print("| layer | initlab: std (BN on batch) | lsuv pkg: std (BN on batch) | lsuv pkg: std (eval) | initlab |")
        print("|---|--:|--:|--:|---|")
        for path in a:
            print(f"| {path} | {a[path]:.3f} | {b[path]:.3f} | {c[path]:.3f} | {status.get(path, '-')} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
