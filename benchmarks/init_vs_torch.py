"""Time each initlab scheme against its ``torch.nn.init`` counterpart, on this machine, in this process.

    python benchmarks/init_vs_torch.py [--repeats N] [--quick]

Every scheme draws float32.  torch fills a tensor allocated once beforehand (its in-place API);
initlab returns a new array, and its time includes that allocation.  The two are timed round-robin,
initlab first on even repeats and torch first on odd ones, so background load and cache effects hit
both; the table gives the median of each and ``torch / initlab`` (above 1: initlab is faster).
Nothing here asserts anything about speed.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import initlab

try:
    import torch
except ImportError:  # pragma: no cover - the benchmark needs torch
    sys.exit("init_vs_torch.py needs torch: pip install torch==2.13.0 (the CPU build)")

F32 = np.float32


@dataclass
class Case:
    name: str
    shape: tuple[int, ...]
    lab: Callable[[tuple[int, ...], np.random.Generator], np.ndarray]
    torch_fill: Callable[[Any], Any]
    note: str = ""


def cases(big: int, ortho: int, sparse: int) -> list[Case]:
    nn = torch.nn.init
    sq, ot, sp = (big, big), (ortho, ortho), (sparse, sparse)
    return [
        Case("normal", sq, lambda s, g: initlab.normal(s, g, dtype=F32), lambda t: nn.normal_(t)),
        Case(
            "uniform",
            sq,
            lambda s, g: initlab.uniform(s, g, low=-1.0, high=1.0, dtype=F32),
            lambda t: nn.uniform_(t, -1.0, 1.0),
        ),
        Case(
            "truncated_normal(bounds=(-2, 2))",
            sq,
            lambda s, g: initlab.truncated_normal(s, g, bounds=(-2.0, 2.0), dtype=F32),
            lambda t: nn.trunc_normal_(t, a=-2.0, b=2.0),
            "vs trunc_normal_(a=-2, b=2)",
        ),
        Case("xavier_uniform", sq, lambda s, g: initlab.xavier_uniform(s, g, dtype=F32), nn.xavier_uniform_),
        Case("xavier_normal", sq, lambda s, g: initlab.xavier_normal(s, g, dtype=F32), nn.xavier_normal_),
        Case(
            "kaiming_uniform",
            sq,
            lambda s, g: initlab.kaiming_uniform(s, g, nonlinearity="relu", dtype=F32),
            lambda t: nn.kaiming_uniform_(t, nonlinearity="relu"),
        ),
        Case(
            "kaiming_normal",
            sq,
            lambda s, g: initlab.kaiming_normal(s, g, nonlinearity="relu", dtype=F32),
            lambda t: nn.kaiming_normal_(t, nonlinearity="relu"),
        ),
        Case(
            "orthogonal",
            ot,
            lambda s, g: initlab.orthogonal(s, g, dtype=F32),
            nn.orthogonal_,
            "smaller shape: a QR; initlab's QR is float64, torch's float32",
        ),
        Case(
            "sparse(sparsity=0.1)",
            sp,
            lambda s, g: initlab.sparse(s, g, sparsity=0.1, dtype=F32),
            lambda t: nn.sparse_(t, sparsity=0.1),
            "smaller shape: torch's sparse_ loops over columns in Python",
        ),
        Case("eye", sq, lambda s, g: initlab.eye(s, dtype=F32), nn.eye_),
        Case("zeros", sq, lambda s, g: initlab.zeros(s, dtype=F32), nn.zeros_),
        Case(
            "torch_default",
            sq,
            lambda s, g: initlab.torch_default(s, g, dtype=F32),
            lambda t: nn.kaiming_uniform_(t, a=math.sqrt(5.0)),
            "vs kaiming_uniform_(a=sqrt(5)), what nn.Linear does",
        ),
    ]


def time_case(case: Case, repeats: int, gen: np.random.Generator) -> tuple[float, float]:
    """Median seconds of initlab's call and of torch's, timed round-robin."""
    target = torch.empty(case.shape, dtype=torch.float32)  # torch's pre-allocated tensor, filled in place

    def run_lab() -> float:
        start = time.perf_counter()
        out = case.lab(case.shape, gen)
        elapsed = time.perf_counter() - start
        assert out.shape == case.shape and out.dtype == F32
        return elapsed

    def run_torch() -> float:
        start = time.perf_counter()
        with torch.no_grad():
            case.torch_fill(target)
        return time.perf_counter() - start

    run_lab()  # warm-up, untimed: first-touch of memory, lazy imports, thread pools
    run_torch()
    lab_times: list[float] = []
    torch_times: list[float] = []
    for r in range(repeats):
        if r % 2 == 0:
            lab_times.append(run_lab())
            torch_times.append(run_torch())
        else:
            torch_times.append(run_torch())
            lab_times.append(run_lab())
    return statistics.median(lab_times), statistics.median(torch_times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=None, help="timed calls of each library per scheme (default 7)")
    parser.add_argument(
        "--quick", action="store_true", help="3 repeats and shapes 4 times smaller per side (a smoke run)"
    )
    parser.add_argument("--seed", type=int, default=0, help="numpy and torch seed (default 0)")
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (3 if args.quick else 7)
    if repeats < 1:
        parser.error(f"--repeats must be >= 1. Got {repeats} instead.")
    div = 4 if args.quick else 1
    big, ortho, sparse = 4096 // div, 2048 // div, 1024 // div

    torch.manual_seed(args.seed)
    gen = np.random.default_rng(args.seed)

    print("# initlab vs torch.nn.init")
    print()
    versions = f"initlab {initlab.__version__}, torch {torch.__version__}, numpy {np.__version__}"
    print(f"- {versions}, Python {platform.python_version()}")
    threads = f"torch.get_num_threads() = {torch.get_num_threads()}, os.cpu_count() = {os.cpu_count()}"
    print(f"- {threads}, {platform.machine()}")
    print(f"- float32; {repeats} timed calls each, round-robin (initlab/torch alternate who goes first); medians")
    quick = " (--quick: 4 times smaller per side than the default)" if args.quick else ""
    print(f"- shapes {big}x{big}, orthogonal {ortho}x{ortho}, sparse {sparse}x{sparse}{quick}")
    print("- sparse is smaller because torch's sparse_ runs a Python loop over the columns (a randperm each)")
    print("- torch fills a pre-allocated tensor in place; initlab's time includes allocating its output array")
    print("- ratio = torch time / initlab time: above 1 means initlab is faster")
    print()
    print("| scheme | shape | initlab (ms) | torch (ms) | torch / initlab | note |")
    print("|---|---|--:|--:|--:|---|")
    for case in cases(big, ortho, sparse):
        lab_s, torch_s = time_case(case, repeats, gen)
        shape = "x".join(map(str, case.shape))
        ratio = torch_s / lab_s if lab_s > 0 else math.inf
        print(
            f"| {case.name} | {shape} | {lab_s * 1e3:.2f} | {torch_s * 1e3:.2f} | {ratio:.2f} | {case.note} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
