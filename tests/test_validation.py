"""The shared argument checks: memory, shapes, numbers."""

from __future__ import annotations

import numpy as np
import pytest

from initlab import _validation
from initlab._validation import (
    InitlabTypeError,
    InitlabValueError,
    available_memory,
    check_float,
    check_int,
    check_memory,
    check_shape,
    format_bytes,
    shown,
)


def test_available_memory_reads_memavailable(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16000000 kB\nMemFree:  100 kB\nMemAvailable:    2097152 kB\n")
    monkeypatch.setattr(_validation, "_MEMINFO", str(meminfo))
    assert available_memory() == 2 * 2**30


def test_available_memory_falls_back_to_sysconf(tmp_path, monkeypatch):
    monkeypatch.setattr(_validation, "_MEMINFO", str(tmp_path / "missing"))
    got = available_memory()
    assert got is not None and got > 0


def test_check_memory_names_what_and_both_sizes(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemAvailable:    1048576 kB\n")  # 1 GiB
    monkeypatch.setattr(_validation, "_MEMINFO", str(meminfo))
    with pytest.raises(
        InitlabValueError,
        match=r"^Not enough memory for the ensemble of 512 models: it needs 9\.4 GiB but only 1\.0 GiB is available now\.$",
    ):
        check_memory(int(9.4 * 2**30), "the ensemble of 512 models")
    check_memory(2**30, "exactly what is there")  # equal is fine
    with pytest.raises(InitlabValueError, match=r"half as much again: it needs 1\.5 GiB but only 1\.0 GiB"):
        check_memory(3 * 2**29, "half as much again")


def test_check_memory_on_this_machine():
    check_memory(1024, "a tiny array")
    with pytest.raises(
        InitlabValueError,
        match=r"^Not enough memory for the weights: it needs 4\.0 EiB but only .* is available now\.$",
    ):
        check_memory(2**62, "the weights")


def test_check_memory_is_silent_when_memory_is_unknown(monkeypatch):
    monkeypatch.setattr(_validation, "available_memory", lambda: None)
    check_memory(2**62, "anything")
    with pytest.raises(
        InitlabValueError, match=r"^Not enough memory for x: it needs 8\.0 EiB, more than numpy can address"
    ):
        check_memory(2**63, "x")


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (37 * 2**20, "37.0 MiB"), (int(9.4 * 2**30), "9.4 GiB")],
)
def test_format_bytes(nbytes, text):
    assert format_bytes(nbytes) == text


# --- numbers and shapes ------------------------------------------------------------------------


def test_check_float_refuses_an_int_beyond_the_float_range():
    with pytest.raises(
        InitlabValueError,
        match=r"^The 'lr' argument of train must be a finite float >= 0\. "
        r"Got 1000000000\.\.\.0000000000 \(an int of 401 digits\) instead\.$",
    ):
        check_float(10**400, "lr", "train", low=0.0)
    assert check_float(10**300, "lr", "train") == 1e300


def test_check_int_is_exact_for_huge_ints_and_has_an_upper_bound():
    assert check_int(10**30, "seed", "xor", low=0) == 10**30  # no detour through float
    with pytest.raises(InitlabValueError, match=r"^The 'steps' argument of depth must be an int >= 1 and <= 100000\. "):
        check_int(10**400, "steps", "depth", low=1, high=100_000)
    with pytest.raises(InitlabValueError, match=r"must be an int <= 5\. Got 6 instead\.$"):
        check_int(6, "n", "f", high=5)
    with pytest.raises(InitlabTypeError, match=r"must be an int >= 1\. Got inf instead\.$"):
        check_int(float("inf"), "n", "f", low=1)
    assert check_int(3.0, "n", "f") == 3


def test_shown_keeps_messages_short():
    assert shown(2**99999) == "an int of about 30102 digits"
    assert shown(-(10**400)) == "-100000000...0000000000 (an int of 401 digits)"
    assert shown("x" * 100) == "'" + "x" * 56 + "..."
    assert shown(0.5) == "0.5"


@pytest.mark.parametrize(
    ("shape", "error", "message"),
    [
        (
            (3, -1),
            InitlabValueError,
            r"^The 'shape' argument of f must be a sequence of ints >= 1 with at least 2 entries\. Got \(3, -1\)",
        ),
        ((3, 0), InitlabValueError, r"Got \(3, 0\) instead\.$"),
        ((3, True), InitlabTypeError, r"Got \(3, True\) instead\.$"),
        (3, InitlabTypeError, r"Got 3 instead\.$"),
        ((3,), InitlabValueError, r"must be a sequence of ints >= 1 with at least 2 entries\. Got \(3,\) instead\.$"),
        ((1,) * 65, InitlabValueError, r"^The 'shape' argument of f must have at most 64 entries \(numpy's limit\)\. "),
        ((2**32, 2**32), InitlabValueError, r"must describe at most 9223372036854775807 entries"),
        ((2**62, 2, 0), InitlabValueError, r"must be a sequence of ints >= 1"),
    ],
)
def test_check_shape_refuses_what_numpy_refuses(shape, error, message):
    with pytest.raises(error, match=message):
        check_shape(shape, "f", min_dims=2)


def test_check_shape_accepts_the_largest_shapes_numpy_accepts():
    assert check_shape((1,) * 64) == (1,) * 64
    assert check_shape((2**31, 2**31 - 1)) == (2**31, 2**31 - 1)  # 2**62 entries: numpy's index range holds it
    assert check_shape(np.array([2, 3])) == (2, 3)
    np.empty((1,) * 64)  # the limit quoted is numpy's own
    with pytest.raises(ValueError):
        np.empty((1,) * 65)
