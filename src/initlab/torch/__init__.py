"""initlab for PyTorch models: the fans of every parameter and an inspection of how a model starts.

This is the only part of initlab that imports ``torch.nn``; ``import initlab`` never
imports torch.  Install the CPU build of PyTorch first (``pip install torch==2.13.0``).

- :func:`param_fans` gives the ``(fan_in, fan_out)`` of one parameter of one module
  and how they were computed, correct where ``torch.nn.init`` is not (grouped and
  transposed convolutions, pytorch/pytorch#23854; the packed q/k/v of
  ``nn.MultiheadAttention``; the stacked gates of recurrent layers; HF-style
  ``Conv1D``).
- :func:`inspect` lists every parameter of a model with its fans, the activation
  that follows it, its current std and the He / LeCun / Xavier target std.
"""

from __future__ import annotations

try:
    import torch as _torch  # noqa: F401  (absolute import: the PyTorch package, not this one)
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    from .._validation import InitlabError

    raise InitlabError(
        "initlab.torch needs PyTorch, which is not installed. "
        "Install the CPU build with `pip install torch==2.13.0` (a bare `pip install torch` "
        "may pull a CUDA build of several GB)."
    ) from exc

from ._fans import Fans, param_fans
from ._inspect import Inspection, ParamRow, inspect

__all__ = ["Fans", "Inspection", "ParamRow", "inspect", "param_fans"]
