"""Checks of command-line input made before any work starts.

Everything here raises :class:`UsageError` (one line on stderr, exit code 2), and
speaks of the command line's own words: ``--save``, ``--set``, ``SCHEME``.  Whether a run
can be saved under ``--out`` is the results layer's check, :func:`initlab.results.check_target`,
called with the flag's name so that its message names it.
"""

from __future__ import annotations

import argparse
import ast
import errno
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .._validation import quoted

__all__ = [
    "MAX_DEPTH",
    "MAX_INT",
    "UsageError",
    "check_expression",
    "check_new_file",
    "int64",
    "reading",
]

#: The deepest nesting of a SCHEME or a --set value that is read (deeper input is refused, not parsed).
MAX_DEPTH = 100
#: Integers on the command line must fit in 64 bits: numpy refuses larger sizes and seeds anyway.
MAX_INT = 2**63 - 1


class UsageError(Exception):
    """Bad command-line input: reported on one line, exit code 2."""


def _digits(value: int) -> int:
    """Decimal digits of ``value`` without converting it to text (Python refuses to print huge ints)."""
    return max(1, math.floor(abs(value).bit_length() * math.log10(2)) + 1)


def int64(text: str) -> int:
    """An argparse type: an int that fits in 64 bits (argparse's own ``int`` takes 4300 digits)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {quoted(text)}") from None
    if abs(value) > MAX_INT:
        raise argparse.ArgumentTypeError(
            f"invalid int value: {quoted(text)} has {_digits(value)} digits; integers must be below 2**63"
        )
    return value


def check_expression(text: str, what: str) -> None:
    """Refuse an expression nested deeper than :data:`MAX_DEPTH` or holding an int beyond 64 bits.

    Text that is not a Python expression (a bare word, a typo) passes: the library reports it
    in its own words.  The walk is iterative, so no input can exhaust the interpreter's stack.
    """
    depth = 0
    for char in text:  # brackets first: Python's parser refuses more than 200 with a confusing message
        depth += (char in "([{") - (char in ")]}")
        if depth > MAX_DEPTH:
            raise UsageError(f"{what} may nest at most {MAX_DEPTH} levels of brackets. Got {quoted(text)}.")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError):  # not an expression, or an int literal Python refuses: the library says so
        return
    except (RecursionError, MemoryError):  # the parser itself gave up
        raise UsageError(f"{what} is nested too deeply to read. Got {quoted(text)}.") from None
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UsageError(
                f"{what} may nest at most {MAX_DEPTH} levels (brackets, signs, operators). Got {quoted(text)}."
            )
        if isinstance(node, ast.Constant) and type(node.value) is int and abs(node.value) > MAX_INT:
            raise UsageError(
                f"{what} holds an integer with {_digits(node.value)} digits; integers must be below 2**63 "
                f"(write large floats as 1e30). Got {quoted(text)}."
            )
        stack += [(child, depth + 1) for child in ast.iter_child_nodes(node)]


@contextmanager
def reading(what: str) -> Iterator[None]:
    """Within the block input is read and checked: failures of Python itself on it are bad input, not bugs."""
    try:
        yield
    except RecursionError:
        raise UsageError(f"{what} is nested too deeply to read.") from None
    except OverflowError as exc:
        raise UsageError(f"{what} holds a number too large to use ({exc}).") from None


def check_new_file(text: str, arg: str, where: str) -> Path:
    """The file named by ``--save``: not a folder, in an existing folder where initlab can write.

    The folder itself is checked by :func:`initlab.results.check_target`, as ``--out`` is.
    """
    flag = f"{where}: {arg}"
    if not text.strip():
        raise UsageError(f"{flag} must name a file. Got {text!r}.")
    if "\x00" in text:
        raise UsageError(f"{flag} must not hold a NUL character. Got {quoted(text, 80)}.")
    path = Path(text)
    try:  # first: the system refuses even to look up a name longer than it takes
        os.lstat(path)
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            longest = max(len(part) for part in path.parts)
            raise UsageError(
                f"{flag} has a name of {longest} characters, too long for the file system. Got {quoted(text, 80)}."
            ) from None
    if path.is_symlink() and not path.exists():
        raise UsageError(f"{flag} is a dangling symbolic link (to {os.readlink(path)!r}). Got {quoted(text, 80)}.")
    if path.is_dir():
        raise UsageError(f"{flag} must name a file; {text!r} is a folder.")
    if not path.parent.is_dir():
        raise UsageError(f"{flag} must name a file in an existing folder. Got {quoted(text, 80)}.")
    from ..results import check_target

    check_target(path.parent, arg=arg, where=where)
    return path
