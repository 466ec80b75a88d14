"""initlab for any PyTorch model: inspect, diagnose, re-initialize, LSUV, depth-aware schemes, the doctor.

This is the only part of initlab that imports ``torch.nn``; ``import initlab`` never
imports torch.  Install the CPU build of PyTorch first (``pip install torch==2.13.0``).

- :func:`param_fans` and :func:`inspect`: the fans of every parameter from its layer's
  definition (right where ``torch.nn.init`` is not: grouped and transposed convolutions,
  packed q/k/v, recurrent gates, HF-style ``Conv1D``), the activation that follows, the
  current std against the He / LeCun / Xavier targets;
- :func:`plan_reinit` and :func:`reinit`: a re-initialization plan (rules by type or name,
  bias and recurrent policies, seeded, ``explain()``), then applied; the depth-aware
  schemes :func:`gpt2_init`, :func:`fixup_init`, :func:`t_fixup_init`, :class:`ReZero`,
  :class:`SkipInit`; :func:`coord_check` across widths;
- :func:`diagnose`: per module call, the engine's health metrics and a verdict, the
  model left exactly as found; :func:`lsuv` (Mishkin & Matas 2016);
- :func:`prepare_doctor`: the work of ``initlab doctor``.

Every result has a table ``repr``, ``rows()``, ``to_frame()``, ``to_dict()`` and ``plot()``.
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

from ._coord import STABLE_SLOPE, CoordCheck, CoordRecord, coord_check
from ._depth import GPT2_RESIDUAL, ReZero, SkipInit, fixup_init, gpt2_init, rezero, t_fixup_init
from ._diagnose import CallRecord, Diagnosis, diagnose
from ._doctor import DoctorCase, DoctorReport, prepare_doctor
from ._fans import Fans, param_fans
from ._inspect import Inspection, ParamRow, inspect
from ._lsuv import LSUVLayer, LSUVReport, LSUVWarning, lsuv
from ._reinit import PlanEntry, ReinitPlan, plan_reinit, reinit

__all__ = [
    "GPT2_RESIDUAL",
    "STABLE_SLOPE",
    "CallRecord",
    "CoordCheck",
    "CoordRecord",
    "Diagnosis",
    "DoctorCase",
    "DoctorReport",
    "Fans",
    "Inspection",
    "LSUVLayer",
    "LSUVReport",
    "LSUVWarning",
    "ParamRow",
    "PlanEntry",
    "ReZero",
    "ReinitPlan",
    "SkipInit",
    "coord_check",
    "diagnose",
    "fixup_init",
    "gpt2_init",
    "inspect",
    "lsuv",
    "param_fans",
    "plan_reinit",
    "prepare_doctor",
    "reinit",
    "rezero",
    "t_fixup_init",
]
