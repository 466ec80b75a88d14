"""A small, safe syntax for naming a scheme with its arguments, as text.

::

    he_normal
    normal(std=0.01)
    xavier_uniform(gain=5/3)
    kaiming_normal(nonlinearity='relu', mode='fan_out')
    truncated_normal(std=0.02, sigmas=(-3, 3))
    uniform(low=-sqrt(6)/10, high=sqrt(6)/10)

The text is parsed with :mod:`ast` and only these are evaluated: numbers, strings,
True/False/None, tuples, ``+ - * / **``, ``sqrt``, ``exp``, ``log`` and the names
``pi``, ``e`` and ``inf``.  Nothing else is run: no attribute access, no other
calls, no other names.  Arguments are given by keyword.
"""

from __future__ import annotations

import ast
import math
import operator
from typing import Any

from ._validation import InitlabValueError, shown

__all__ = ["format_spec", "parse_spec", "parse_value"]

_MAX_LENGTH = 1000
_MAX_DEPTH = 32  # nesting of operators, calls and tuples in one value
_MAX_NUMBER = 2**1024  # ints beyond the float range are refused before any arithmetic on them
_FUNCTIONS = {"sqrt": math.sqrt, "exp": math.exp, "log": math.log}
_NAMES = {"pi": math.pi, "e": math.e, "inf": math.inf}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_ALLOWED = "numbers, strings, tuples, + - * / **, sqrt, exp, log, pi, e and inf"


def _owner(where: str | None) -> str:
    return f" of {where}" if where else ""


def _fail(text: str, why: str, where: str | None) -> InitlabValueError:
    return InitlabValueError(
        f"The 'spec' argument{_owner(where)} must be a scheme name, optionally with keyword arguments as in "
        f'"normal(std=0.01)" ({why}). Got {shown(text)} instead.'
    )


class _Value:
    """Evaluates one argument's value: the safe arithmetic, bounded in depth and in magnitude."""

    def __init__(self, text: str, arg: str, where: str | None) -> None:
        self.text, self.arg, self.where = text, arg, where

    def fail(self, accepted: str, got: str | None = None, why: str = "") -> InitlabValueError:
        got = shown(self.text) if got is None else got
        owner, why = _owner(self.where), f": {why}" if why else ""
        return InitlabValueError(f"The {self.arg!r} argument{owner} must be {accepted}. Got {got} instead{why}.")

    def bounded(self, value: Any) -> Any:
        if isinstance(value, complex):
            raise self.fail("a real number", why=f"it is the complex number {value!r}")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _MAX_NUMBER:
            raise self.fail("a number within the float range (about 1.8e308)", shown(value))
        return value

    def value(self, node: ast.AST, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise self.fail(f"a value nested at most {_MAX_DEPTH} levels deep")
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
            return self.bounded(node.value)
        if isinstance(node, (ast.Tuple, ast.List)):
            return tuple(self.value(item, depth + 1) for item in node.elts)
        if isinstance(node, ast.Name) and node.id in _NAMES:
            return _NAMES[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.number(node.operand, depth + 1)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = self.number(node.left, depth + 1), self.number(node.right, depth + 1)
            if isinstance(node.op, ast.Pow):  # in floats, so that 9**9**9 overflows instead of running for ever
                left, right = float(left), float(right)
            try:
                result = _BINARY[type(node.op)](left, right)
            except ZeroDivisionError:
                raise self.fail("a number", why="it divides by zero") from None
            except (OverflowError, ValueError):
                raise self.fail("a number within the float range (about 1.8e308)") from None
            return self.bounded(result)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and len(node.args) == 1
            and not node.keywords
        ):
            fn, x = node.func.id, self.number(node.args[0], depth + 1)
            try:
                return _FUNCTIONS[fn](x)
            except (ValueError, OverflowError) as exc:
                raise self.fail("a number", why=f"{fn} fails there ({exc})") from None
        raise self.fail(f"a value built from {_ALLOWED}")

    def number(self, node: ast.AST, depth: int) -> int | float:
        value = self.value(node, depth)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail("a number", why=f"it does arithmetic on {shown(value)}")
        return value


def _parse(text: str, why_not: Any) -> ast.expr:
    """The expression tree of ``text``, or the error ``why_not(reason)`` (never RecursionError or MemoryError)."""
    if len(text) > _MAX_LENGTH:
        raise why_not(f"at most {_MAX_LENGTH} characters, here {len(text)}")
    try:
        return ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise why_not("it does not parse") from None


def parse_value(text: str, arg: str, where: str | None = None) -> Any:
    """Evaluate one value written in the spec syntax (``"5/3"``, ``"sqrt(2)/10"``, ``"(-3, 3)"``).

    Errors name ``arg`` and ``where`` (the argument and the function the user called).

    >>> parse_value("2 * sqrt(6) / 10", "std", "depth")
    0.4898979485566356
    >>> parse_value("1" + "0" * 400, "steps", "depth")
    Traceback (most recent call last):
    ...
    initlab._validation.InitlabValueError: The 'steps' argument of depth must be a number within the float range \
(about 1.8e308). Got 1000000000...0000000000 (an int of 401 digits) instead.
    """
    evaluator = _Value(text, arg, where)
    if not isinstance(text, str):
        raise evaluator.fail("a string", shown(text))
    return evaluator.value(_parse(text, lambda why: evaluator.fail(f"a value built from {_ALLOWED} ({why})")))


def parse_spec(text: str, where: str | None = None) -> tuple[str, dict[str, Any]]:
    """Split a spec into its scheme name and keyword arguments, evaluating only safe arithmetic.

    ``where`` is the function the user called (``get``, ``explain``...), named in errors.
    Each argument may be given once; values are bounded (at most 1000 characters, nested at
    most 32 levels, numbers within the float range) so that no text makes this fail other than
    with :class:`~initlab.InitlabValueError`.

    >>> parse_spec("xavier_uniform(gain=5/3)")
    ('xavier_uniform', {'gain': 1.6666666666666667})
    >>> parse_spec("truncated_normal(sigmas=(-3, 3), std=sqrt(2)/10)")
    ('truncated_normal', {'sigmas': (-3, 3), 'std': 0.1414213562373095})
    >>> parse_spec("normal(std=0.01, std=0.02)", "get")
    Traceback (most recent call last):
    ...
    initlab._validation.InitlabValueError: The 'spec' argument of get must be a scheme name, optionally with \
keyword arguments as in "normal(std=0.01)" (each argument given once; 'std' is given twice). \
Got 'normal(std=0.01, std=0.02)' instead.
    """
    if not isinstance(text, str):
        raise _fail(repr(text), "a string", where)

    def why_not(reason: str) -> InitlabValueError:
        return _fail(text, reason, where)

    tree = _parse(text, why_not)
    if isinstance(tree, ast.Name):
        return tree.id, {}
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name)):
        raise why_not("it must start with a scheme name")
    if tree.args:
        raise why_not("arguments are given by keyword, as in normal(std=0.01)")
    name = tree.func.id
    kwargs: dict[str, Any] = {}
    for kw in tree.keywords:
        if kw.arg is None:
            raise why_not("** is not allowed")
        if kw.arg in kwargs:
            raise why_not(f"each argument given once; {kw.arg!r} is given twice")
        segment = ast.get_source_segment(text.strip(), kw.value) or text
        kwargs[kw.arg] = _Value(segment, kw.arg, name).value(kw.value)
    return name, kwargs


def format_spec(name: str, kwargs: dict[str, Any]) -> str:
    """The canonical text of a spec; ``parse_spec(format_spec(n, k)) == (n, k)``.

    >>> format_spec("normal", {"std": 0.01})
    'normal(std=0.01)'
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise InitlabValueError(f"The 'name' argument of format_spec must be an identifier. Got {shown(name)} instead.")
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) and k.isidentifier() for k in kwargs):
        raise InitlabValueError(
            f"The 'kwargs' argument of format_spec must be a dict keyed by identifiers. Got {shown(kwargs)} instead."
        )
    if not kwargs:
        return name

    def text(v: Any) -> str:  # numpy scalars print as np.float64(...): write the plain number
        if isinstance(v, tuple):
            return "(" + ", ".join(text(x) for x in v) + ("," if len(v) == 1 else "") + ")"
        return repr(v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v)

    return f"{name}({', '.join(f'{k}={text(v)}' for k, v in kwargs.items())})"
