"""Contract tests that every registered initializer must pass.

The table is every registered name x a set of shapes x float32/float64.  A scheme
either accepts a shape, and then must give an array of that shape and dtype, finite,
reproducible from its seed, or rejects it by design, and then must raise an
``InitlabValueError`` that names the 'shape' argument.  Which shapes are rejected
is written down here, independently of the library.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import initlab
from initlab.initializers import INITIALIZERS, Plan, draw

SHAPES: dict[str, tuple[int, ...]] = {
    "tall": (64, 16),
    "wide": (16, 64),
    "conv1d": (8, 4, 3),
    "conv2d": (8, 4, 3, 3),
    "conv3d": (4, 2, 3, 3, 3),
}
DTYPES = [np.float32, np.float64]

# Every name this file knows about, by what it does.  A new registered name must be
# added here (test_every_registered_name_is_classified) so its shape rules are stated.
DETERMINISTIC = {"constant", "zeros", "ones", "eye", "identity", "dirac"}
RANDOM = {
    "normal",
    "randn",
    "uniform",
    "truncated_normal",
    "variance_scaling",
    "xavier_uniform",
    "xavier_normal",
    "glorot_uniform",
    "glorot_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "torch_default",
    "orthogonal",
    "delta_orthogonal",
    "sparse",
}
# arguments a scheme cannot be called without
REQUIRED_KWARGS: dict[str, dict[str, Any]] = {"sparse": {"sparsity": 0.25}}

NAMES = sorted(INITIALIZERS)


def accepts(name: str, shape: tuple[int, ...]) -> bool:
    """Whether scheme ``name`` is meant to accept ``shape`` (stated by hand from the docs)."""
    canonical = INITIALIZERS[name].__name__
    if canonical in ("eye", "sparse"):
        return len(shape) == 2
    if canonical == "dirac":
        return 3 <= len(shape) <= 5
    if canonical == "delta_orthogonal":
        return 3 <= len(shape) <= 5 and shape[0] >= shape[1]
    return True


def call(name: str, shape: tuple[int, ...], rng: Any, **kw: Any) -> np.ndarray:
    return INITIALIZERS[name](shape, rng, **REQUIRED_KWARGS.get(name, {}), **kw)


ACCEPTED = [pytest.param(n, s, id=f"{n}-{k}") for n in NAMES for k, s in SHAPES.items() if accepts(n, s)]
REJECTED = [pytest.param(n, s, id=f"{n}-{k}") for n in NAMES for k, s in SHAPES.items() if not accepts(n, s)]
# rejections that the shape table above does not reach
EXTRA_REJECTED = [
    pytest.param("delta_orthogonal", (4, 8, 3), id="delta_orthogonal-out<in"),
    pytest.param("delta_orthogonal", (8, 4, 3, 3, 3, 3), id="delta_orthogonal-6d"),
    pytest.param("dirac", (8,), id="dirac-1d"),
    pytest.param("dirac", (8, 4, 1, 1, 1, 1), id="dirac-6d"),
    pytest.param("eye", (8,), id="eye-1d"),
    pytest.param("identity", (8,), id="identity-1d"),
    pytest.param("sparse", (8,), id="sparse-1d"),
]


def test_every_registered_name_is_classified():
    unknown = set(INITIALIZERS) - DETERMINISTIC - RANDOM
    assert not unknown, f"add these schemes to the contract table: {sorted(unknown)}"
    assert not DETERMINISTIC & RANDOM


def test_table_has_both_kinds_of_combination():
    assert len(ACCEPTED) > len(REJECTED) > 0
    rejected_names = {p.values[0] for p in REJECTED}
    assert {"eye", "identity", "sparse", "dirac", "delta_orthogonal"} <= rejected_names


@pytest.mark.parametrize(("alias", "canonical"), [
    ("he_normal", "kaiming_normal"),
    ("he_uniform", "kaiming_uniform"),
    ("glorot_normal", "xavier_normal"),
    ("glorot_uniform", "xavier_uniform"),
    ("identity", "eye"),
])  # fmt: skip
def test_aliases_are_the_same_function(alias, canonical):
    assert INITIALIZERS[alias] is INITIALIZERS[canonical]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(("name", "shape"), ACCEPTED)
def test_shape_dtype_and_finite(name, shape, dtype):
    w = call(name, shape, 0, dtype=dtype)
    assert type(w) is np.ndarray
    assert w.shape == shape
    assert w.dtype == np.dtype(dtype)
    assert np.isfinite(w).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(("name", "shape"), ACCEPTED)
def test_same_int_seed_same_bits(name, shape, dtype):
    a = call(name, shape, 1234, dtype=dtype)
    b = call(name, shape, 1234, dtype=dtype)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(("name", "shape"), ACCEPTED)
def test_different_seed_different_values(name, shape):
    a = call(name, shape, 1)
    b = call(name, shape, 2)
    if name in DETERMINISTIC:
        assert np.array_equal(a, b)
    else:
        assert not np.array_equal(a, b)


@pytest.mark.parametrize(("name", "shape"), [p for p in ACCEPTED if p.values[0] in RANDOM])
def test_generator_is_advanced_not_reseeded(name, shape):
    gen = np.random.default_rng(5)
    first = call(name, shape, gen)
    second = call(name, shape, gen)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("seed", [0, 2024])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize(("name", "shape"), ACCEPTED)
def test_int_seed_equals_default_rng(name, shape, dtype, seed):
    from_int = call(name, shape, seed, dtype=dtype)
    from_gen = call(name, shape, np.random.default_rng(seed), dtype=dtype)
    assert from_int.tobytes() == from_gen.tobytes()


@pytest.mark.parametrize(("name", "shape"), ACCEPTED)
def test_global_numpy_state_untouched(name, shape):
    before = np.random.get_state()
    call(name, shape, 3)
    call(name, shape, np.random.default_rng(3))
    after = np.random.get_state()
    assert before[0] == after[0]
    assert np.array_equal(before[1], after[1])
    assert before[2:] == after[2:]


@pytest.mark.parametrize(("name", "shape"), REJECTED + EXTRA_REJECTED)
def test_rejected_shape_names_the_shape_argument(name, shape):
    pattern = r"'shape' argument .*" + re.escape(repr(shape))
    with pytest.raises(initlab.InitlabValueError, match=pattern):
        call(name, shape, 0)
    with pytest.raises(initlab.InitlabValueError, match=pattern):  # plan validates as a real call does
        initlab.plan(INITIALIZERS[name], shape, **REQUIRED_KWARGS.get(name, {}))


# --- plans -------------------------------------------------------------------------------


def fans_by_hand(shape: tuple[int, ...]) -> tuple[int, int]:
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


@pytest.mark.parametrize(("name", "shape"), ACCEPTED)
def test_plan_describes_the_call(name, shape):
    fn = INITIALIZERS[name]
    p = initlab.plan(fn, shape, **REQUIRED_KWARGS.get(name, {}))
    assert isinstance(p, Plan)
    assert p.shape == shape
    assert isinstance(p.formula, str) and p.formula
    assert math.isfinite(p.mean) and math.isfinite(p.std) and p.std >= 0
    if p.fan_in is not None:
        assert (p.fan_in, p.fan_out) == fans_by_hand(shape)
    for dtype in DTYPES:
        expected = call(name, shape, 0, dtype=dtype)
        assert draw(p, 0, dtype).tobytes() == expected.tobytes()
        assert draw(p, np.random.default_rng(0), dtype).tobytes() == expected.tobytes()


@pytest.mark.parametrize(("name", "shape"), ACCEPTED)
def test_plan_bounds_hold_for_the_draw(name, shape):
    p = initlab.plan(INITIALIZERS[name], shape, **REQUIRED_KWARGS.get(name, {}))
    w = call(name, shape, 11)
    if p.low is not None:
        assert w.min() >= p.low
    if p.high is not None:
        assert w.max() <= p.high


def test_plan_of_a_foreign_callable_is_none():
    def mine(shape, rng, *, dtype=np.float64):
        return np.zeros(shape, dtype=dtype)

    assert initlab.plan(mine, (2, 3)) is None


@pytest.mark.parametrize("name", ["normal", "xavier_uniform", "eye"])
def test_plan_validates_dtype_like_a_call(name):
    with pytest.raises(initlab.InitlabTypeError, match="'dtype' argument"):
        call(name, (4, 3), 0, dtype=np.int32)
    with pytest.raises(initlab.InitlabTypeError, match="'dtype' argument"):
        initlab.plan(INITIALIZERS[name], (4, 3), dtype=np.int32)


# --- the course's legacy RandomState draws -------------------------------------------------------

LEGACY: list[tuple[str, Callable[..., np.ndarray]]] = [
    ("normal", lambda shape, rs: initlab.normal(shape, rs, std=0.01)),
    ("randn", lambda shape, rs: initlab.randn(shape, rs)),
    ("get-normal", lambda shape, rs: initlab.get("normal(std=0.01)")(shape, rs)),
    ("get-randn", lambda shape, rs: initlab.get("randn")(shape, rs)),
]


@pytest.mark.parametrize("shape", [(4, 2), (2, 2), (1, 7), (5, 3)])
@pytest.mark.parametrize(("label", "init"), LEGACY, ids=[label for label, _ in LEGACY])
def test_legacy_randomstate_matches_course_randn(label, init, shape):
    expected = np.random.RandomState(3).randn(*shape) * 0.01
    got = init(shape, np.random.RandomState(3))
    assert got.dtype == np.float64
    assert np.array_equal(got, expected)


@pytest.mark.parametrize(("label", "init"), LEGACY, ids=[label for label, _ in LEGACY])
def test_legacy_successive_layers_from_one_randomstate(label, init):
    layer_dims = [2, 4, 1]
    reference = np.random.RandomState(3)
    mine = np.random.RandomState(3)
    for layer in range(1, len(layer_dims)):
        shape = (layer_dims[layer], layer_dims[layer - 1])
        expected = reference.randn(*shape) * 0.01
        got = init(shape, mine)
        assert got.shape == shape
        assert np.array_equal(got, expected), f"layer {layer}"
    # both generators are at the same point of the stream afterwards
    assert reference.randn() == mine.randn()


def test_legacy_matches_global_seed_and_leaves_global_state():
    saved = np.random.get_state()
    try:
        np.random.seed(3)
        expected = np.random.randn(4, 2) * 0.01
        after_course = np.random.get_state()
        got = initlab.randn((4, 2), np.random.RandomState(3))
        assert np.array_equal(got, expected)
        now = np.random.get_state()
        assert np.array_equal(now[1], after_course[1]) and now[2] == after_course[2]
    finally:
        np.random.set_state(saved)


def test_legacy_known_values():
    # the course's first layer with np.random.seed(3), as printed in its notebooks
    w = initlab.randn((2, 2), np.random.RandomState(3))
    assert np.allclose(w, [[0.01788628, 0.0043651], [0.00096497, -0.01863493]], atol=5e-9)
