"""The shared argument checks: memory, shapes, numbers."""

from __future__ import annotations

import pytest

from initlab import _validation
from initlab._validation import InitlabValueError, available_memory, check_memory, format_bytes


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
        match=r"^Not enough memory for the weights: it needs 8\.0 EiB but only .* is available now\.$",
    ):
        check_memory(2**63, "the weights")


def test_check_memory_is_silent_when_memory_is_unknown(monkeypatch):
    monkeypatch.setattr(_validation, "available_memory", lambda: None)
    check_memory(2**63, "anything")


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (37 * 2**20, "37.0 MiB"), (int(9.4 * 2**30), "9.4 GiB")],
)
def test_format_bytes(nbytes, text):
    assert format_bytes(nbytes) == text
