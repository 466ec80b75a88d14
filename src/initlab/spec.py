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

from ._validation import InitlabValueError

__all__ = ["format_spec", "parse_spec"]

_MAX_LENGTH = 1000
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


def _fail(text: str, why: str) -> InitlabValueError:
    return InitlabValueError(
        "The 'spec' argument must be a scheme name, optionally with keyword arguments as in "
        f'"normal(std=0.01)" ({why}). Got {text!r} instead.'
    )


def _value(node: ast.AST, text: str) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(_value(item, text) for item in node.elts)
    if isinstance(node, ast.Name) and node.id in _NAMES:
        return _NAMES[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _number(node.operand, text)
        return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _number(node.left, text), _number(node.right, text)
        if isinstance(node.op, ast.Pow):  # in floats, so that 9**9**9 overflows instead of running for ever
            left, right = float(left), float(right)
        try:
            return _BINARY[type(node.op)](left, right)
        except (ZeroDivisionError, OverflowError, ValueError) as exc:
            raise _fail(text, f"its arithmetic failed: {exc}") from None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and len(node.args) == 1
        and not node.keywords
    ):
        try:
            return _FUNCTIONS[node.func.id](_number(node.args[0], text))
        except (ValueError, OverflowError) as exc:
            raise _fail(text, f"{node.func.id} failed: {exc}") from None
    raise _fail(text, f"values may use only {_ALLOWED}")


def _number(node: ast.AST, text: str) -> int | float:
    value = _value(node, text)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(text, f"arithmetic takes numbers only, not {value!r}")
    return value


def parse_spec(text: str) -> tuple[str, dict[str, Any]]:
    """Split a spec into its scheme name and keyword arguments, evaluating only safe arithmetic.

    >>> parse_spec("xavier_uniform(gain=5/3)")
    ('xavier_uniform', {'gain': 1.6666666666666667})
    >>> parse_spec("truncated_normal(sigmas=(-3, 3), std=sqrt(2)/10)")
    ('truncated_normal', {'sigmas': (-3, 3), 'std': 0.1414213562373095})
    """
    if not isinstance(text, str):
        raise _fail(repr(text), "a string")
    if len(text) > _MAX_LENGTH:
        raise _fail(text[:40] + "...", f"at most {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError):
        raise _fail(text, "it does not parse") from None
    if isinstance(tree, ast.Name):
        return tree.id, {}
    if not (isinstance(tree, ast.Call) and isinstance(tree.func, ast.Name)):
        raise _fail(text, "it must start with a scheme name")
    if tree.args:
        raise _fail(text, "arguments are given by keyword, as in normal(std=0.01)")
    kwargs: dict[str, Any] = {}
    for kw in tree.keywords:
        if kw.arg is None:
            raise _fail(text, "** is not allowed")
        kwargs[kw.arg] = _value(kw.value, text)
    return tree.func.id, kwargs


def format_spec(name: str, kwargs: dict[str, Any]) -> str:
    """The canonical text of a spec; ``parse_spec(format_spec(n, k)) == (n, k)``.

    >>> format_spec("normal", {"std": 0.01})
    'normal(std=0.01)'
    """
    if not kwargs:
        return name

    def text(v: Any) -> str:  # numpy scalars print as np.float64(...): write the plain number
        if isinstance(v, tuple):
            return "(" + ", ".join(text(x) for x in v) + ("," if len(v) == 1 else "") + ")"
        return repr(v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v)

    return f"{name}({', '.join(f'{k}={text(v)}' for k, v in kwargs.items())})"
