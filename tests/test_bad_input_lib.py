"""Bad input to the initializers, the spec syntax and the datasets: one clean error naming the argument.

Each case is a call a user might make and the error it must give: the argument, the
function the user called, what is accepted and what was given.  Never a numpy or Python
error (OverflowError, RecursionError, MemoryError), never an array of inf.
"""

from __future__ import annotations

import numpy as np
import pytest

import initlab
from initlab import _validation, data, initializers
from initlab._validation import InitlabTypeError, InitlabValueError
from initlab.spec import format_spec, parse_spec, parse_value

# --- weights that would not be finite in the requested dtype ------------------------------------

F16_MAX = r"6\.55e\+04"
F32_MAX = r"3\.403e\+38"
F64_MAX = r"1\.798e\+308"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: initlab.normal((3, 3), 0, std=1e5, dtype="float16"),
            rf"^The 'std' argument of normal must keep the weights finite in float16, whose largest value is {F16_MAX}; "
            r"here the weights' std would be 1e\+05\. Got std=100000\.0 with dtype=float16 instead\.$",
        ),
        (
            lambda: initlab.randn((3, 3), 0, scale=1e39, dtype="float32"),
            rf"^The 'scale' argument of randn must keep the weights finite in float32, whose largest value is {F32_MAX};",
        ),
        (
            lambda: initlab.constant((2, 2), value=1e300, dtype="float32"),
            r"^The 'value' argument of constant must keep the weights finite in float32.* Got value=1e\+300",
        ),
        (
            lambda: initlab.uniform((2, 2), 0, low=-1e308, high=1e308),
            rf"^The 'low' and 'high' arguments of uniform must keep the weights finite in float64, whose largest "
            rf"value is {F64_MAX}; here the weights' std would be inf\. Got low=-1e\+308, high=1e\+308",
        ),
        (
            lambda: initlab.uniform((2, 2), 0, low=-1e300, high=1.0, dtype="float32"),
            r"^The 'low' argument of uniform must keep the weights finite in float32.* Got low=-1e\+300 with",
        ),
        (
            lambda: initlab.truncated_normal((2, 2), 0, std=1e5, dtype="float16"),
            r"^The 'std' argument of truncated_normal must keep the weights finite in float16",
        ),
        (
            lambda: initlab.xavier_uniform((3, 3), 0, gain=1e300),
            r"^The 'gain' argument of xavier_uniform must keep the weights finite in float64.* Got gain=1e\+300",
        ),
        (
            lambda: initlab.kaiming_normal((3, 3), 0, gain=1e40, dtype="float32"),
            r"^The 'gain' argument of kaiming_normal must keep the weights finite in float32",
        ),
        (
            lambda: initlab.variance_scaling((3, 3), 0, scale=1e300, dtype="float32"),
            r"^The 'scale' argument of variance_scaling must keep the weights finite in float32.* Got scale=1e\+300",
        ),
        (
            lambda: initlab.orthogonal((3, 3), 0, gain=1e5, dtype="float16"),
            r"^The 'gain' argument of orthogonal must keep the weights finite in float16, .* lower bound would be -1e\+05",
        ),
        (
            lambda: initlab.eye((3, 3), gain=1e5, dtype="float16"),
            r"^The 'gain' argument of eye must keep the weights finite in float16",
        ),
        (
            lambda: initlab.dirac((3, 3, 3), gain=1e5, dtype="float16"),
            r"^The 'gain' argument of dirac must keep the weights finite in float16",
        ),
        (
            lambda: initlab.delta_orthogonal((3, 3, 3), 0, gain=1e5, dtype="float16"),
            r"^The 'gain' argument of delta_orthogonal must keep the weights finite in float16",
        ),
        (
            lambda: initlab.sparse((4, 4), 0, sparsity=0.5, std=1e5, dtype="float16"),
            r"^The 'std' argument of sparse must keep the weights finite in float16",
        ),
    ],
)
def test_weights_beyond_the_dtype_are_refused_before_drawing(call, message):
    with pytest.raises(InitlabValueError, match=message):
        call()


def test_the_last_guard_catches_draws_that_overflow():
    # std = 3e4 fits float16 (max 65504), but a draw beyond 2.2 sigma does not: some of 10,000 do
    with pytest.raises(
        InitlabValueError,
        match=r"^The 'std' argument of normal must keep the weights finite in float16.*; here \d+ of the 10000 "
        r"weights drawn came out infinite or NaN\. Got std=30000\.0 with dtype=float16 instead\.$",
    ):
        initlab.normal((100, 100), 0, std=3e4, dtype="float16")
    # neither argument is beyond float64, their sum is: both are named
    with pytest.raises(InitlabValueError, match=r"^The 'mean' and 'std' arguments of normal .* came out infinite"):
        initlab.normal((10, 10), 0, mean=1e308, std=1e308)


def test_in_range_weights_still_draw_in_every_dtype():
    # the negative control: just inside the range, nothing is refused and nothing is inf
    w = initlab.normal((100, 100), 0, std=1e3, dtype="float16")
    assert w.dtype == np.float16 and np.isfinite(w).all()
    assert np.isfinite(initlab.uniform((5, 5), 0, low=-1e300, high=1e300)).all()
    assert np.isfinite(initlab.xavier_uniform((3, 3), 0, gain=1e30, dtype="float32")).all()


def test_plan_refuses_what_the_call_would_refuse():
    with pytest.raises(InitlabValueError, match="'std' argument of normal must keep the weights finite in float16"):
        initlab.plan(initlab.normal, (3, 3), std=1e5, dtype="float16")


def test_an_alias_called_through_get_is_named_as_called():
    with pytest.raises(InitlabValueError, match=r"^The 'gain' argument of he_normal must be a finite float >= 0\."):
        initlab.get("he_normal(gain=-1)")((2, 2), 0)
    with pytest.raises(InitlabValueError, match=r"^The 'gain' argument of glorot_uniform must keep the weights finite"):
        initlab.get("glorot_uniform(gain=1e300)")((3, 3), 0)
    with pytest.raises(InitlabValueError, match=r"^The 'gain' argument of he_uniform must be a finite float"):
        initlab.get("he_uniform(gain=-1)").plan((2, 2))


# --- memory ------------------------------------------------------------------------------------------


def test_weights_larger_than_free_memory_are_refused_before_drawing(monkeypatch):
    monkeypatch.setattr(_validation, "available_memory", lambda: 2**20)
    with pytest.raises(
        InitlabValueError,
        match=r"^Not enough memory for the weights of normal of shape \(3000, 3000\) \(9000000 entries\): "
        r"it needs 68\.7 MiB but only 1\.0 MiB is available now\.$",
    ):
        initlab.normal((3000, 3000), 0)
    assert initlab.normal((30, 30), 0).shape == (30, 30)  # small arrays are not checked


def test_datasets_larger_than_free_memory_are_refused(monkeypatch):
    with pytest.raises(
        InitlabValueError, match=r"^Not enough memory for the xor dataset of .*\(an int of 401 digits\)"
    ):
        data.xor(n_per_corner=10**400)
    monkeypatch.setattr(_validation, "available_memory", lambda: 2**20)
    with pytest.raises(InitlabValueError, match=r"^Not enough memory for the blobs dataset of 200000 points"):
        data.blobs(n_per_class=100_000)


# --- shapes numpy refuses ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "error", "message"),
    [
        (
            (-1, 3),
            InitlabValueError,
            r"^The 'shape' argument of normal must be a sequence of ints >= 1\. Got \(-1, 3\)",
        ),
        ((0, 3), InitlabValueError, r"must be a sequence of ints >= 1\. Got \(0, 3\) instead\.$"),
        ((2.5, 3), InitlabTypeError, r"must be a sequence of ints >= 1\. Got \(2\.5, 3\) instead\.$"),
        ("33", InitlabTypeError, r"must be a sequence of ints >= 1\. Got '33' instead\.$"),
        (
            (1,) * 65,
            InitlabValueError,
            r"^The 'shape' argument of normal must have at most 64 entries \(numpy's limit\)",
        ),
        ((2**40, 2**40), InitlabValueError, r"must describe at most 9223372036854775807 entries \(numpy's index range"),
        ((10**400,), InitlabValueError, r"must describe at most 9223372036854775807 entries"),
    ],
)
def test_shapes_numpy_refuses(shape, error, message):
    with pytest.raises(error, match=message):
        initlab.normal(shape, 0)


# --- specs -----------------------------------------------------------------------------------------------


def test_duplicate_keywords_in_a_spec():
    with pytest.raises(
        InitlabValueError,
        match=r"^The 'spec' argument of get must be .*\(each argument given once; 'std' is given twice\)\. "
        r"Got 'normal\(std=0\.01, std=0\.02\)' instead\.$",
    ):
        initlab.get("normal(std=0.01, std=0.02)")
    with pytest.raises(InitlabValueError, match="'spec' argument of get_bias must be .*'value' is given twice"):
        initlab.get_bias("constant(value=1, value=1)")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("normal(std=" + "(" * 5000 + "1" + ")" * 5000 + ")", r"\(at most 1000 characters, here 10013\)"),
        ("normal(std=" + "(" * 300 + "1" + ")" * 300 + ")", r"\(it does not parse\)"),
        ("normal(std=" + "-" * 900 + "1)", r"^The 'std' argument of normal must be a value nested at most 32 levels"),
        ("normal(std=" + "+".join(["1"] * 400) + ")", r"^The 'std' argument of normal must be a value nested at most"),
        (
            "normal(std=" + "sqrt(" * 100 + "4" + ")" * 100 + ")",
            r"^The 'std' argument of normal must be a value nested",
        ),
        ("truncated_normal(sigmas=" + "(1, " * 40 + "1" + ")" * 40 + ")", "'sigmas' argument of truncated_normal"),
    ],
)
def test_deeply_nested_specs_give_a_clean_error(spec, message):
    with pytest.raises(InitlabValueError, match=message):
        initlab.get(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "normal(std=1" + "0" * 400 + ")",
            r"^The 'std' argument of normal must be a number within the float range \(about 1\.8e308\)\. "
            r"Got 1000000000\.\.\.0000000000 \(an int of 401 digits\) instead\.$",
        ),
        ("normal(std=10**10**10)", r"^The 'std' argument of normal must be a number within the float range"),
        ("normal(std=2**99999)", r"^The 'std' argument of normal must be a number within the float range"),
        ("normal(mean=-9" + "9" * 350 + ")", r"^The 'mean' argument of normal must be a number within the float range"),
        ("normal(std=" + "9" * 200 + "*" + "9" * 200 + ")", r"^The 'std' argument .* \(an int of 400 digits\)"),
    ],
)
def test_huge_numbers_in_a_spec_name_their_argument(spec, message):
    with pytest.raises(InitlabValueError, match=message):
        initlab.get(spec)


def test_parse_value_names_the_callers_argument():
    assert parse_value("2 * 3", "steps", "depth") == 6
    with pytest.raises(InitlabValueError, match=r"^The 'steps' argument of depth must be a number within the float"):
        parse_value("1" + "0" * 400, "steps", "depth")
    with pytest.raises(InitlabValueError, match=r"^The 'steps' argument of depth must be a value nested at most 32"):
        parse_value("-" * 500 + "1", "steps", "depth")
    with pytest.raises(InitlabValueError, match=r"^The 'lr' argument of course must be a value built from .*\(it does"):
        parse_value("1e", "lr", "course")
    with pytest.raises(InitlabValueError, match=r"^The 'lr' argument of course must be a string\. Got 3 instead\.$"):
        parse_value(3, "lr", "course")  # type: ignore[arg-type]


def test_format_spec_refuses_what_would_not_parse_back():
    with pytest.raises(
        InitlabValueError, match=r"^The 'name' argument of format_spec must be an identifier\. Got 'a b'"
    ):
        format_spec("a b", {})
    with pytest.raises(InitlabValueError, match=r"^The 'kwargs' argument of format_spec must be a dict keyed by"):
        format_spec("normal", {"s d": 1})


def test_parse_spec_names_the_function_called():
    with pytest.raises(InitlabValueError, match=r"^The 'spec' argument of explain must be a scheme name"):
        parse_spec("normal(", "explain")
    with pytest.raises(InitlabValueError, match=r"^The 'spec' argument must be a scheme name"):
        parse_spec("normal(")


# --- every public entry point names the function the user called -------------------------------------------


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: initlab.get("normal(std=-1)")((2, 2), 0), InitlabValueError, "^The 'std' argument of normal must be"),
        (lambda: initlab.get(3), InitlabTypeError, r"^The 'spec' argument of get must be .* Got 3 instead\.$"),
        (lambda: initlab.get("nrmal"), InitlabValueError, r"^The 'spec' argument of get must name an initializer"),
        (lambda: initlab.explain("nrmal", (3, 3)), InitlabValueError, "^The 'spec' argument of explain must name an"),
        (lambda: initlab.explain(3, (3, 3)), InitlabTypeError, "^The 'spec' argument of explain must be a scheme"),
        (lambda: initlab.explain("normal(std=2, std=1)", (3,)), InitlabValueError, "^The 'spec' argument of explain"),
        (lambda: initlab.explain("normal", (0,)), InitlabValueError, "^The 'shape' argument of explain must be"),
        (lambda: initlab.explain("normal", (3,), seed=-1), InitlabValueError, "^The 'seed' argument of explain must"),
        (lambda: initlab.get_bias("zero"), InitlabValueError, "^The 'spec' argument of get_bias must name a bias"),
        (
            lambda: initlab.plan("normal", (3, 3)),  # type: ignore[arg-type]
            InitlabTypeError,
            r"^The 'initializer' argument of plan must be an initializer function .* Got 'normal' instead\.$",
        ),
        (
            lambda: initlab.fans((3, 3), groups=10**400),
            InitlabValueError,
            r"^The 'groups' argument of fans must divide shape\[0\] = 3\. Got 1000000000\.\.\.0000000000 \(an int",
        ),
        (
            lambda: initlab.gain("leaky_relu", 10**400),
            InitlabValueError,
            r"^The 'param' argument of gain must be a finite float\. Got 1000000000\.\.\.0000000000 \(an int of 401",
        ),
        (lambda: initlab.register("a b", initlab.normal), InitlabValueError, "^The 'name' argument of register"),
        (lambda: initlab.as_rng(-1), InitlabValueError, "^The 'rng' argument must be"),
        (lambda: initlab.normal((2, 2), -1), InitlabValueError, "^The 'rng' argument of normal must be"),
        (lambda: initlab.normal((2, 2), 0, dtype="int8"), InitlabTypeError, "^The 'dtype' argument of normal must be"),
        (lambda: data.load("xr"), InitlabValueError, r"^The 'name' argument of load must be one of .*'xor'\?$"),
        (
            lambda: data.load("xor", n=3),
            InitlabValueError,
            r"^The arguments of load\('xor'\) must be among: n_per_corner, noise, seed, test_fraction\. Got 'n' instead",
        ),
        (
            lambda: data.xor(n_per_corner=0),
            InitlabValueError,
            r"^The 'n_per_corner' argument of xor must be an int >= 1",
        ),
        (
            lambda: data.blobs(n_features=0),
            InitlabValueError,
            r"^The 'n_features' argument of blobs must be an int >= 1",
        ),
        (lambda: data.spirals(seed=2.5), InitlabTypeError, r"^The 'seed' argument of spirals must be an int >= 0"),
        (
            lambda: initializers.orthogonality_error([1.0, 2.0]),
            InitlabValueError,
            r"^The 'w' argument of orthogonality_error must be a non-empty array of numbers with at least 2 axes\.",
        ),
        (
            lambda: initializers.truncated_normal_moments(2.0, 1.0),
            InitlabValueError,
            r"^The 'a' and 'b' arguments of truncated_normal_moments must satisfy a < b\. Got a=2\.0, b=1\.0 instead\.$",
        ),
        (lambda: initlab.Initializer("x", 3), InitlabTypeError, "^The 'fn' argument of Initializer must be callable"),
        (lambda: initializers.draw(3, 0, "float32"), InitlabTypeError, "^The 'p' argument of draw must be a Plan"),
        (lambda: initializers.centre_tap((3,)), InitlabValueError, "^The 'shape' argument of centre_tap must be"),
    ],
)
def test_errors_name_the_function_called(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- any bad value of any argument of any scheme: an initlab error, never numpy's or Python's -------------

_BAD_VALUES = [None, "x", float("nan"), float("inf"), -float("inf"), -1e308, 1e308, 10**400, -(10**400), (1, 2), True]
_SHAPES = {"dirac": (4, 4, 3), "delta_orthogonal": (4, 4, 3)}
_REQUIRED = {"sparse": {"sparsity": 0.5}}


def _cases():
    import inspect

    for name in initializers.SCHEMES:
        fn = initializers.INITIALIZERS[name]
        params = [p for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY]
        for p in params:
            for bad in _BAD_VALUES:
                yield pytest.param(name, p.name, bad, id=f"{name}-{p.name}-{shown_id(bad)}")


def shown_id(value):
    return _validation.shown(value, 20)


@pytest.mark.parametrize(("name", "arg", "bad"), list(_cases()))
def test_any_bad_argument_gives_an_initlab_error_or_finite_weights(name, arg, bad):
    fn = initializers.INITIALIZERS[name]
    kwargs = {**_REQUIRED.get(name, {}), arg: bad}
    for dtype in ["float16", "float32", "float64"] if arg != "dtype" else [bad]:
        if arg != "dtype":
            kwargs["dtype"] = dtype
        try:
            w = fn(_SHAPES.get(name, (4, 3)), 0, **kwargs)
        except initlab.InitlabError as exc:
            assert f" of {name}" in str(exc) or f" of {fn.__name__}" in str(exc), str(exc)
        else:
            assert np.isfinite(w).all()


_BAD_SHAPES = [(0, 3), (-1, 3), (2**40, 2**40), (1,) * 65, "33", None, 3, (3.0, 3), (10**400, 3)]
_BAD_RNGS = [-1, "x", 1.5, object(), np.random]


@pytest.mark.parametrize("name", initializers.SCHEMES)
def test_any_bad_shape_or_rng_gives_an_initlab_error(name, monkeypatch):
    monkeypatch.setattr(_validation, "available_memory", lambda: 2**30)
    fn = initializers.INITIALIZERS[name]
    kwargs = _REQUIRED.get(name, {})
    for shape in _BAD_SHAPES:
        with pytest.raises(initlab.InitlabError, match=f"The 'shape' argument of {fn.__name__} |memory"):
            fn(shape, 0, **kwargs)
    for rng in _BAD_RNGS:
        with pytest.raises(initlab.InitlabError, match=f"^The 'rng' argument of {fn.__name__} must be"):
            fn(_SHAPES.get(name, (4, 3)), rng, **kwargs)


def test_random_spec_text_gives_an_initializer_or_an_initlab_error():
    # 3000 strings built from the spec syntax's own pieces, seeded: whatever they are, get() either
    # returns an Initializer or raises InitlabError (never SyntaxError, OverflowError, RecursionError...)
    pieces = ["normal(", "std=", "mean=", "(", ")", ",", "1", "0", "9", ".", "e", "-", "+", "*", "**", "/",
              "sqrt", "log", "exp", "pi", "inf", "'", "x", " ", "1e308", "10**400", "=", "std=std"]  # fmt: skip
    rng = np.random.default_rng(7)
    outcomes = {"initializer": 0, "error": 0}
    for i in range(3000):
        text = "".join(rng.choice(pieces, size=int(rng.integers(1, 40))))
        if i % 2:  # half inside a value, where the arithmetic is evaluated
            text = f"normal(std={text})"
        try:
            init = initlab.get(text)
        except initlab.InitlabError:
            outcomes["error"] += 1
        else:
            assert isinstance(init, initlab.Initializer)
            outcomes["initializer"] += 1
    assert outcomes["error"] > 0 and outcomes["initializer"] > 0
