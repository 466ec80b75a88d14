"""initlab: see, check and choose how a neural network starts.

The core imports numpy and the standard library only.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("initlab")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without installing
    __version__ = "0+unknown"

from . import bias, distributions, fans, init, plans, registry, seeding, spec, structured
from ._validation import InitlabError, InitlabTypeError, InitlabValueError
from .explain import Explanation, explain, orthogonality_error
from .fans import fans as compute_fans
from .fans import gain
from .init import (
    Plan,
    constant,
    delta_orthogonal,
    dirac,
    eye,
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    identity,
    kaiming_normal,
    kaiming_uniform,
    lecun_normal,
    lecun_uniform,
    normal,
    ones,
    orthogonal,
    plan,
    randn,
    sparse,
    torch_default,
    truncated_normal,
    uniform,
    variance_scaling,
    xavier_normal,
    xavier_uniform,
    zeros,
)
from .registry import Initializer, get, get_bias, names, register
from .seeding import as_rng

__all__ = [
    "Explanation",
    "Initializer",
    "InitlabError",
    "InitlabTypeError",
    "InitlabValueError",
    "Plan",
    "__version__",
    "as_rng",
    "bias",
    "compute_fans",
    "constant",
    "delta_orthogonal",
    "dirac",
    "distributions",
    "explain",
    "eye",
    "fans",
    "gain",
    "get",
    "get_bias",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "identity",
    "init",
    "kaiming_normal",
    "kaiming_uniform",
    "lecun_normal",
    "lecun_uniform",
    "names",
    "normal",
    "ones",
    "orthogonal",
    "orthogonality_error",
    "plan",
    "plans",
    "randn",
    "register",
    "registry",
    "seeding",
    "sparse",
    "spec",
    "structured",
    "torch_default",
    "truncated_normal",
    "uniform",
    "variance_scaling",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]
