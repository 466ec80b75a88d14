"""Time initlab.torch's diagnose against the step it watches: a plain forward + backward + one SGD step.

    python benchmarks/torch_diagnose.py [--repeats N] [--quick]

For each model (the CNN with BatchNorm and the transformer of ``examples/torch_models.py`` on 64
scikit-learn digits, and a larger CNN on random 32x32 images), both ways are timed round-robin
(diagnose first on even repeats, the plain step first on odd ones), with torch on one thread and on
its default number of threads.  The plain step is what diagnose itself runs: ``grad = None``, forward,
cross-entropy, backward, ``torch.optim.SGD(lr=0.1).step()``; diagnose adds its hooks, the float64
copies of every recorded output (read in blocks of units), the statistics with the histograms
("statistics": mean, std, kurtosis, dead and saturated shares, in float64), the clone groups, and the
save and restore of parameters, gradients and buffers (the rest).  The table gives the medians,
``diagnose / plain`` (the goal is <= 1.5) and where diagnose's extra time goes (medians of the parts,
measured in separate runs).  Nothing here asserts anything about speed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import torch
    from torch import nn
except ImportError:  # pragma: no cover - the benchmark needs torch
    sys.exit("torch_diagnose.py needs torch: pip install torch==2.13.0 (the CPU build)")

import initlab
from initlab.torch import _diagnose

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "torch_models.py"


def _examples() -> Any:
    spec = importlib.util.spec_from_file_location("torch_models", EXAMPLES)
    if spec is None or spec.loader is None:
        sys.exit(f"cannot load {EXAMPLES}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _big_cnn() -> nn.Module:
    """Conv-BN-ReLU x 4 (32, 64, 64, 128 channels) on 32x32 images, pooled twice, then a linear head."""
    torch.manual_seed(0)

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    return nn.Sequential(
        *block(3, 32),
        *block(32, 64),
        nn.MaxPool2d(2),
        *block(64, 64),
        *block(64, 128),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, 10),
    )


def cases(quick: bool) -> list[tuple[str, nn.Module, torch.Tensor, torch.Tensor]]:
    models = _examples()
    out = []
    x, y = models.digits_batch(64, kind="image")
    out.append(("cnn_bn, digits (64, 1, 8, 8)", models.cnn_bn(), x, y))
    x, y = models.digits_batch(64, kind="sequence")
    out.append(("transformer, digits (64, 8, 8)", models.transformer(), x, y))
    n = 16 if quick else 64
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (n,), generator=gen)
    out.append((f"cnn 32-128 ch, random ({n}, 3, 32, 32)", _big_cnn(), x, y))
    return out


def plain_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    for p in model.parameters():
        p.grad = None
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()  # type: ignore[no-untyped-call]
    torch.optim.SGD(model.parameters(), lr=0.1).step()


def diagnose_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
    _diagnose.diagnose(model, x, nn.CrossEntropyLoss(), target=y)


@contextmanager
def timed_parts(totals: dict[str, float]) -> Any:
    """Wrap diagnose's inner functions so that each one's time adds up in ``totals``."""
    names = {"_measure": "statistics", "_clones": "clone groups"}
    saved = {name: getattr(_diagnose, name) for name in names}

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[names[name]] = totals.get(names[name], 0.0) + time.perf_counter() - start

        return inner

    for name, fn in saved.items():
        setattr(_diagnose, name, wrap(name, fn))
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(_diagnose, name, fn)


def measure(model: nn.Module, x: torch.Tensor, y: torch.Tensor, repeats: int) -> tuple[float, float, dict[str, float]]:
    plain_step(model, x, y)  # warm-up, untimed
    diagnose_step(model, x, y)
    plain: list[float] = []
    diag: list[float] = []
    for r in range(repeats):
        order = (diag, plain) if r % 2 == 0 else (plain, diag)
        for bucket in order:
            fn = diagnose_step if bucket is diag else plain_step
            start = time.perf_counter()
            fn(model, x, y)
            bucket.append(time.perf_counter() - start)
    parts: dict[str, list[float]] = {}
    for _ in range(max(3, repeats // 2)):
        totals: dict[str, float] = {}
        with timed_parts(totals):
            diagnose_step(model, x, y)
        for k, v in totals.items():
            parts.setdefault(k, []).append(v)
    return statistics.median(plain), statistics.median(diag), {k: statistics.median(v) for k, v in parts.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=None, help="timed calls of each per model (default 15)")
    parser.add_argument("--quick", action="store_true", help="3 repeats, a smaller batch for the big CNN (a smoke run)")
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 15)
    if repeats < 1:
        parser.error(f"--repeats must be >= 1. Got {repeats} instead.")
    default_threads = torch.get_num_threads()

    print("# initlab.torch.diagnose vs a plain forward + backward + SGD step")
    print()
    print(f"- initlab {initlab.__version__}, torch {torch.__version__}, Python {platform.python_version()}")
    print(f"- os.cpu_count() = {os.cpu_count()}, torch default threads = {default_threads}, {platform.machine()}")
    print(f"- float32 models, CPU; {repeats} timed calls of each, round-robin; medians")
    print("- ratio = diagnose / plain (goal <= 1.5); parts: medians of diagnose's inner work, separate runs")
    print()
    print("| model | threads | plain (ms) | diagnose (ms) | ratio | statistics (ms) | clone groups (ms) |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for name, model, x, y in cases(args.quick):
        for threads in dict.fromkeys((1, default_threads)):
            torch.set_num_threads(threads)
            plain_s, diag_s, parts = measure(model, x, y, repeats)
            cells = " | ".join(f"{parts.get(k, 0.0) * 1e3:.1f}" for k in ("statistics", "clone groups"))
            print(
                f"| {name} | {threads} | {plain_s * 1e3:.1f} | {diag_s * 1e3:.1f} | {diag_s / plain_s:.2f} | {cells} |",
                flush=True,
            )
    torch.set_num_threads(default_threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
