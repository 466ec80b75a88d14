"""Sweep throughput: initlab's engine against the peers of ../shared/bench/peers_sweep.py, in one process.

The workloads, the peers (torch eager, torch.func, torch bmm, JAX jit+vmap(+scan), numpy) and
the timing harness are the shared script's: this file adds initlab's approaches to its table
and runs it, so every approach is timed round-robin on the same machine and its first losses
are checked against the same float64 reference.

initlab approaches (all through the public ``initlab.engine.train``):
  initlab_numpy   the reference engine (``backend="numpy"``): M single models stepped in lockstep
  initlab_numba   the fused CPU kernel (``backend="numba"``; what ``backend=None`` picks for these runs)
  *+diag          the same, recording every per-layer statistic at every step

Usage:
  python benchmarks/sweep_throughput.py                       # default, tiny, deep
  python benchmarks/sweep_throughput.py --cases tiny --repeats 3
  python benchmarks/sweep_throughput.py --peers /path/to/peers_sweep.py
Any other argument is passed to the shared script (see its --help).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from initlab.engine import MLP, train

# torch loads GNU OpenMP, after which numba would pick its OpenMP layer and OpenBLAS would warn (harmlessly,
# BLAS is held to one thread) at every call; this script calls from one thread, so the simple layer serves.
os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

DEFAULT_PEERS = Path(__file__).resolve().parents[2] / "shared" / "bench" / "peers_sweep.py"
DEFAULT_APPROACHES = "b_torch_eager,c3_bmm_explicit,d_np_batched,e2_jax_scan,initlab_numpy,initlab_numba"


def load_peers(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("peers_sweep", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the peers script at {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["peers_sweep"] = module
    spec.loader.exec_module(module)
    return module


def make_approaches(peers: Any) -> list[type]:
    class InitlabApproach(peers.Approach):
        """M models of the case trained by initlab's train(), as one ensemble."""

        name = "initlab_numpy"
        backend: str | None = "numpy"
        framework = "numpy"

        def __init__(self, case, params0, X, y, dtype, device, diag=False):  # type: ignore[no-untyped-def]
            super().__init__(case, params0, X, y, dtype, device, diag)
            layers, act, _ = case
            self.net = MLP.make(layers, act, "bce")
            self.params = {}
            for l in range(1, len(layers)):
                self.params[f"W{l}"] = np.stack([p[l - 1][0] for p in params0]).astype(dtype)
                self.params[f"b{l}"] = np.stack([p[l - 1][1] for p in params0])[:, :, None].astype(dtype)
            self.X = np.ascontiguousarray(X.T, dtype=dtype)  # (n_x, m)
            self.Y = y.reshape(1, -1).astype(dtype)

        def run(self, k):  # type: ignore[no-untyped-def]
            h = train(self.net, self.params, self.X, self.Y, steps=k, lr=peers.LR,
                      record_every=1 if self.diag else 0, backend=self.backend)  # fmt: skip
            if self.diag:
                self.last_diag = h.stats["act_std"]
            return h.loss[-1]

        def step(self):  # type: ignore[no-untyped-def]
            return self.run(1)

    class InitlabNumba(InitlabApproach):
        name = "initlab_numba"
        backend = "numba"

    return [InitlabApproach, InitlabNumba]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peers", type=Path, default=DEFAULT_PEERS, help="path of peers_sweep.py")
    ap.add_argument("--approaches", default=DEFAULT_APPROACHES)
    ap.add_argument("--no-diag", action="store_true", help="skip the +diag variants")
    args, rest = ap.parse_known_args()
    peers = load_peers(args.peers)
    for cls in make_approaches(peers):
        peers.APPROACHES[cls.name] = cls
        peers.DIAG_CAPABLE.add(cls.name)
    sys.argv = [sys.argv[0], "--approaches", args.approaches, *([] if args.no_diag else ["--diag"]), *rest]
    peers.main()


if __name__ == "__main__":
    main()
