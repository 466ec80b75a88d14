"""Checks of command-line input made before any work starts.

Everything here raises :class:`UsageError` (one line on stderr, exit code 2), and
speaks of the command line's own words: ``--out``, ``--save``, ``--set``, ``SCHEME``.
"""

from __future__ import annotations

import argparse
import ast
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "MAX_DEPTH",
    "MAX_INT",
    "UsageError",
    "check_expression",
    "check_new_file",
    "check_out_folder",
    "int64",
    "quote",
    "reading",
]

#: The deepest nesting of a SCHEME or a --set value that is read (deeper input is refused, not parsed).
MAX_DEPTH = 100
#: Integers on the command line must fit in 64 bits: numpy refuses larger sizes and seeds anyway.
MAX_INT = 2**63 - 1


class UsageError(Exception):
    """Bad command-line input: reported on one line, exit code 2."""


def quote(text: str, keep: int = 40) -> str:
    """``text`` quoted for an error message, cut to about ``keep`` characters (long input, one short line).

    >>> quote("he_normal")
    "'he_normal'"
    >>> quote("1" + "0" * 400)
    "'1000000000000000000000000000000...0000000' (401 characters)"
    """
    if len(text) <= keep:
        return repr(text)
    return f"{text[: keep - 9] + '...' + text[-7:]!r} ({len(text)} characters)"


def _digits(value: int) -> int:
    """Decimal digits of ``value`` without converting it to text (Python refuses to print huge ints)."""
    return max(1, math.floor(abs(value).bit_length() * math.log10(2)) + 1)


def int64(text: str) -> int:
    """An argparse type: an int that fits in 64 bits (argparse's own ``int`` takes 4300 digits)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {quote(text)}") from None
    if abs(value) > MAX_INT:
        raise argparse.ArgumentTypeError(
            f"invalid int value: {quote(text)} has {_digits(value)} digits; integers must be below 2**63"
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
            raise UsageError(f"{what} may nest at most {MAX_DEPTH} levels of brackets. Got {quote(text)}.")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError):  # not an expression, or an int literal Python refuses: the library says so
        return
    except (RecursionError, MemoryError):  # the parser itself gave up
        raise UsageError(f"{what} is nested too deeply to read. Got {quote(text)}.") from None
    stack: list[tuple[ast.AST, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise UsageError(
                f"{what} may nest at most {MAX_DEPTH} levels (brackets, signs, operators). Got {quote(text)}."
            )
        if isinstance(node, ast.Constant) and type(node.value) is int and abs(node.value) > MAX_INT:
            raise UsageError(
                f"{what} holds an integer with {_digits(node.value)} digits; integers must be below 2**63 "
                f"(write large floats as 1e30). Got {quote(text)}."
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


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _existing_ancestor(path: Path, flag: str, text: str) -> Path:
    """The nearest existing folder at or above ``path``; dangling links and files on the way are refused."""
    for p in (path, *path.parents):
        if p.is_symlink() and not p.exists():
            raise UsageError(f"{flag} goes through a dangling symbolic link {str(p)!r} (to {os.readlink(p)!r}). "
                             f"Got {quote(text, 80)}.")  # fmt: skip
        if p.exists():
            if not p.is_dir():
                raise UsageError(f"{flag} must be a folder or lie in one; {str(p)!r} is a file. Got {quote(text, 80)}.")
            return p
    return Path(".")


def _check_names(path: Path, flag: str, text: str) -> None:
    """Every name on the path fits the file system (``NAME_MAX``, 255 bytes almost everywhere).

    Checked first: the operating system refuses even to look up a longer name.
    """
    if "\x00" in text:
        raise UsageError(f"{flag} must not hold a NUL character. Got {quote(text, 80)}.")
    limit = _name_max(Path(path.anchor or "."))
    for part in path.parts:
        if len(os.fsencode(part)) > limit:
            raise UsageError(
                f"{flag} has a name of {len(part)} characters; the file system takes at most {limit}. "
                f"Got {quote(text, 80)}."
            )


def _probe(folder: Path, flag: str, text: str) -> None:
    """Create and remove an empty folder in ``folder``: the one sure test that initlab may write there."""
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".initlab-probe-", dir=folder))
    except OSError as exc:
        raise UsageError(
            f"{flag} must be a place initlab can write; {str(folder)!r} is not ({exc.strerror}). Got {quote(text, 80)}."
        ) from None


def check_out_folder(text: str, flag: str, inside: tuple[str, ...] = ()) -> Path:
    """The folder named by ``--out``: it exists or can be created, and initlab can write in it.

    ``inside`` are the subfolders the command will replace (an experiment's name): each must be missing or
    a folder holding only what initlab saves (its data files and figures), never a user's own files.
    """
    if not text.strip():
        raise UsageError(f"{flag} must name a folder. Got {text!r}.")
    path = Path(text)
    _check_names(path, flag, text)
    if len(os.fsencode(os.path.abspath(text))) >= 4096:
        raise UsageError(f"{flag} is a path of {len(text)} characters; at most 4095 are possible. Got {quote(text)}.")
    base = _existing_ancestor(path, flag, text)
    for name in inside:
        sub = path / name
        if sub.is_symlink() or (sub.exists() and not sub.is_dir()):
            raise UsageError(f"{flag} holds {str(sub)!r}, which is not a folder initlab wrote; move it away first.")
        if sub.is_dir():
            from ..results import FILES

            foreign = sorted(p.name for p in sub.iterdir() if p.name not in FILES and p.suffix not in (".png", ".svg"))
            if foreign:
                raise UsageError(
                    f"{flag} holds {str(sub)!r}, which holds {', '.join(map(repr, foreign[:3]))}"
                    f"{' and more' if len(foreign) > 3 else ''}, not written by initlab; initlab replaces that "
                    "folder whole, so move it away first."
                )
    _probe(base, flag, text)
    return path


def check_new_file(text: str, flag: str) -> Path:
    """The file named by ``--save``: in an existing folder where initlab can write, and not a folder itself."""
    if not text.strip():
        raise UsageError(f"{flag} must name a file. Got {text!r}.")
    path = Path(text)
    folder = path.parent
    _check_names(path, flag, text)
    if path.is_symlink() and not path.exists():
        raise UsageError(f"{flag} is a dangling symbolic link (to {os.readlink(path)!r}). Got {quote(text, 80)}.")
    if path.is_dir():
        raise UsageError(f"{flag} must name a file; {text!r} is a folder.")
    if not folder.is_dir():
        raise UsageError(f"{flag} must name a file in an existing folder. Got {quote(text, 80)}.")
    _probe(folder, flag, text)
    return path
