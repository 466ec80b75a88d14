"""The spec syntax, the registry and the bias policies."""

from __future__ import annotations

import math

import numpy as np
import pytest

import initlab
from initlab import InitlabTypeError, InitlabValueError, get, get_bias
from initlab.initializers import INITIALIZERS, aliases, names
from initlab.spec import format_spec, parse_spec


@pytest.mark.parametrize(
    ("text", "name", "kwargs"),
    [
        ("he_normal", "he_normal", {}),
        ("  he_normal  ", "he_normal", {}),
        ("normal(std=0.01)", "normal", {"std": 0.01}),
        ("xavier_uniform(gain=5/3)", "xavier_uniform", {"gain": 5 / 3}),
        ("kaiming_normal(gain=sqrt(2))", "kaiming_normal", {"gain": math.sqrt(2)}),
        ("normal(mean=-1e-3, std=2**-4)", "normal", {"mean": -1e-3, "std": 0.0625}),
        ("uniform(low=-pi, high=e)", "uniform", {"low": -math.pi, "high": math.e}),
        (
            "kaiming_uniform(mode='fan_out', nonlinearity=\"relu\")",
            "kaiming_uniform",
            {"mode": "fan_out", "nonlinearity": "relu"},
        ),
        ("truncated_normal(sigmas=(-3, 3))", "truncated_normal", {"sigmas": (-3, 3)}),
        ("truncated_normal(bounds=[-inf, 0.5])", "truncated_normal", {"bounds": (-math.inf, 0.5)}),
        ("truncated_normal(match_std=True)", "truncated_normal", {"match_std": True}),
        ("normal(std=exp(log(0.5)))", "normal", {"std": pytest.approx(0.5)}),
    ],
)
def test_parse_spec(text: str, name: str, kwargs: dict) -> None:
    assert parse_spec(text) == (name, kwargs)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("__import__('os').system('true')", "must start with a scheme name"),
        ("normal(0.01)", "arguments are given by keyword"),
        ("normal(**{'std': 1})", r"\*\* is not allowed"),
        ("normal(std=", "does not parse"),
        ("normal(std=0.01, std=0.02)", "each argument given once; 'std' is given twice"),
        ("normal.std", "must start with a scheme name"),
        ("x" * 1001, "at most 1000 characters"),
    ],
)
def test_parse_spec_rejects_anything_but_safe_arithmetic(text: str, why: str) -> None:
    with pytest.raises(InitlabValueError, match=f"The 'spec' argument must be .*{why}"):
        parse_spec(text)


@pytest.mark.parametrize(
    ("text", "accepted", "got"),
    [
        ("normal(std=__import__('os'))", "a value built from numbers, strings, tuples", "\"__import__\\('os'\\)\""),
        ("normal(std=os.sep)", "a value built from numbers", "'os.sep'"),
        ("normal(std=abs(-1))", "a value built from numbers", "'abs\\(-1\\)'"),
        ("normal(std=(lambda: 1)())", "a value built from numbers", "'\\(lambda: 1\\)\\(\\)'"),
        ("normal(std=1/0)", "a number", "'1/0' instead: it divides by zero"),
        ("normal(std=9**9**9)", r"a number within the float range \(about 1.8e308\)", "'9\\*\\*9\\*\\*9'"),
        ("normal(std=sqrt(-1))", "a number", r"'sqrt\(-1\)' instead: sqrt fails there \(math domain error\)"),
        ("normal(std='a'*3)", "a number", "\"'a'\\*3\" instead: it does arithmetic on 'a'"),
        ("normal(std=(-8)**(1/3))", "a real number", r"'\(-8\)\*\*\(1/3\)' instead: it is the complex number"),
    ],
)
def test_a_bad_value_names_its_argument_and_the_scheme(text: str, accepted: str, got: str) -> None:
    with pytest.raises(InitlabValueError, match=f"^The 'std' argument of normal must be {accepted}.* Got {got}"):
        parse_spec(text)


def test_parse_spec_needs_a_string() -> None:
    with pytest.raises(InitlabValueError, match="a string"):
        parse_spec(3)  # type: ignore[arg-type]


def test_format_spec_round_trips() -> None:
    for name, kwargs in [("normal", {"std": 0.01}), ("he_normal", {}), ("truncated_normal", {"sigmas": (-3.0, 3.0)})]:
        assert parse_spec(format_spec(name, kwargs)) == (name, kwargs)


def test_get_binds_and_calls() -> None:
    init = get("normal(std=0.01)")
    assert init.name == "normal" and init.kwargs == {"std": 0.01}
    assert init.spec == "normal(std=0.01)"
    assert get(init.spec) == init
    w = init((3, 4), np.random.RandomState(3))
    assert np.array_equal(w, np.random.RandomState(3).randn(3, 4) * 0.01)
    assert init.plan((3, 4)).std == 0.01
    assert get(init) is init
    assert repr(init) == "Initializer('normal(std=0.01)')"


def test_get_xavier_with_arithmetic_gain_matches_direct_call() -> None:
    a = get("xavier_uniform(gain=5/3)")((20, 30), 7)
    b = initlab.xavier_uniform((20, 30), 7, gain=5 / 3)
    assert np.array_equal(a, b)


def test_get_wraps_a_callable() -> None:
    def mine(shape, rng, *, dtype=np.float64):
        return np.full(shape, 0.5, dtype=dtype)

    init = get(mine)
    assert init.name == "mine"
    assert init((2, 2)).sum() == 2.0
    assert init.plan((2, 2)) is None
    # a callable that uses the rng is not plannable, and plan() says so instead of failing
    assert initlab.plan(lambda shape, rng, dtype=np.float64: rng.standard_normal(shape), (2, 2)) is None


def test_aliases_are_the_same_functions() -> None:
    expected = {
        "he_normal": "kaiming_normal",
        "he_uniform": "kaiming_uniform",
        "glorot_normal": "xavier_normal",
        "glorot_uniform": "xavier_uniform",
        "identity": "eye",
    }
    assert aliases() == expected
    for alias, canonical in expected.items():
        assert INITIALIZERS[alias] is INITIALIZERS[canonical]
    assert "he_normal" not in names(include_aliases=False)
    assert set(names()) == set(INITIALIZERS)


def test_every_scheme_the_issue_names_is_registered() -> None:
    required = {
        "zeros", "ones", "constant", "normal", "uniform", "randn", "truncated_normal", "variance_scaling",
        "xavier_uniform", "xavier_normal", "glorot_uniform", "glorot_normal", "kaiming_uniform", "kaiming_normal",
        "he_uniform", "he_normal", "lecun_uniform", "lecun_normal", "orthogonal", "eye", "identity", "dirac",
        "delta_orthogonal", "sparse", "torch_default",
    }  # fmt: skip
    assert required <= set(names())


def test_unknown_name_lists_valid_ones_and_the_closest() -> None:
    with pytest.raises(
        InitlabValueError,
        match=r"^The 'spec' argument of get must name an initializer: .*he_normal.* Got 'he_normall' instead\. "
        r"Did you mean 'he_normal'\?$",
    ):
        get("he_normall")
    with pytest.raises(InitlabValueError, match="Got 'qwertyuiop' instead.$"):
        get("qwertyuiop")


def test_unknown_argument_lists_valid_ones_and_the_closest() -> None:
    with pytest.raises(
        InitlabValueError,
        match=r"^The arguments of the initializer kaiming_normal must be among: a, mode, nonlinearity, gain\. "
        r"Got 'nonlinarity' instead\. Did you mean 'nonlinearity'\?$",
    ):
        get("kaiming_normal(nonlinarity='relu')")
    with pytest.raises(
        InitlabValueError, match="^The initializer lecun_normal takes no arguments. Got 'gain' instead.$"
    ):
        get("lecun_normal(gain=2)")
    with pytest.raises(InitlabValueError, match="must be among: mean, std. Got 'dtype' instead"):
        get("normal(dtype='float32')")


def test_missing_required_argument() -> None:
    with pytest.raises(
        InitlabValueError,
        match=r"^The 'sparsity' argument of the initializer sparse is required \(as in sparse\(sparsity=...\)\)\. "
        "Got none instead.$",
    ):
        get("sparse")
    assert get("sparse(sparsity=0.5)")((4, 3), 0).shape == (4, 3)


def test_get_rejects_non_specs() -> None:
    with pytest.raises(InitlabTypeError, match="'spec' argument of get must be a scheme name.* Got 3"):
        get(3)  # type: ignore[arg-type]


def test_bad_values_are_caught_when_called() -> None:
    init = get("normal(std=-1)")
    with pytest.raises(InitlabValueError, match="The 'std' argument of normal must be a finite float >= 0. Got -1"):
        init((2, 2), 0)


def test_register_adds_a_scheme_and_refuses_to_replace() -> None:
    def half(shape, rng=None, *, dtype=np.float64):
        return np.full(shape, 0.5, dtype=dtype)

    initlab.register("test_half_scheme", half)
    try:
        assert get("test_half_scheme")((1, 2)).tolist() == [[0.5, 0.5]]
        with pytest.raises(InitlabValueError, match="must be a new name"):
            initlab.register("test_half_scheme", half)
    finally:
        del INITIALIZERS["test_half_scheme"]
    with pytest.raises(InitlabValueError, match="must be a Python identifier"):
        initlab.register("not a name", half)
    with pytest.raises(InitlabTypeError, match="must be callable"):
        initlab.register("fine_name", 3)  # type: ignore[arg-type]


# --- bias policies ---------------------------------------------------------------------


def test_bias_policies() -> None:
    assert np.array_equal(get_bias("zeros")((3, 1), None, fan_in=4), np.zeros((3, 1)))
    assert np.array_equal(get_bias("constant(value=0.1)")((3, 1), fan_in=4), np.full((3, 1), 0.1))
    b = get_bias("normal(std=0.5)")((4, 1), np.random.RandomState(1), fan_in=4)
    assert np.array_equal(b, np.random.RandomState(1).randn(4, 1) * 0.5)
    u = get_bias("uniform(low=-0.2, high=0.3)")((1000, 1), 0, fan_in=4)
    assert u.min() >= -0.2 and u.max() <= 0.3 and u.min() < -0.19 and u.max() > 0.29
    t = get_bias("torch_default")((5000, 1), 0, fan_in=25, dtype=np.float32)
    assert t.dtype == np.float32 and t.shape == (5000, 1)
    assert np.abs(t).max() <= np.float32(0.2) and np.abs(t).max() > 0.199


def test_bias_policy_errors() -> None:
    with pytest.raises(
        InitlabValueError, match=r"^The 'spec' argument of get_bias must name a bias policy: .* Did you mean 'zeros'\?"
    ):
        get_bias("zero")
    with pytest.raises(InitlabValueError, match="bias policy normal must be among: mean, std. Got 'sigma'"):
        get_bias("normal(sigma=1)")
    with pytest.raises(InitlabValueError, match="The 'fan_in' argument of the torch_default bias must be an int >= 1"):
        get_bias("torch_default")((3, 1), 0, fan_in=0)
    with pytest.raises(InitlabTypeError, match="'spec' argument of get_bias must be a string"):
        get_bias(None)  # type: ignore[arg-type]


def test_the_registry_table_and_the_face_agree() -> None:
    import inspect

    import initlab
    from initlab import initializers

    # every built-in name in the table is the face's function of that name (aliases included) ...
    for name in initializers.SCHEMES:
        assert initializers.INITIALIZERS[name] is getattr(initializers, name), name
    # ... and every weight scheme the face exports, f(shape, rng, *, ..., dtype), is in the table
    exported = {
        name
        for name in initializers.__all__
        if inspect.isfunction(f := getattr(initializers, name))
        and list(inspect.signature(f).parameters)[:2] == ["shape", "rng"]
        and "dtype" in inspect.signature(f).parameters
    }
    assert exported == set(initializers.SCHEMES)
    # the top level re-exports the same objects: fans is the function, not a module
    assert initlab.fans is initializers.fans and initlab.fans((4, 3)) == (3, 4)
    assert initlab.get is initializers.get and initlab.Plan is initializers.Plan
