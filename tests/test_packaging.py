"""The package's promises: a light import, a public API, and both entry points."""

from __future__ import annotations

import subprocess
import sys

import initlab


def test_import_initlab_pulls_in_numpy_and_the_standard_library_only() -> None:
    code = (
        "import sys, initlab, initlab.cli;"
        "heavy = [m for m in ('torch', 'matplotlib', 'scipy', 'pandas', 'jax') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_public_api_is_explicit() -> None:
    for name in initlab.__all__:
        assert hasattr(initlab, name), name
    for module in (
        initlab.initializers,
        initlab.initializers.bias,
        initlab.engine,
        initlab.diagnostics,
        initlab.experiments,
        initlab.results,
        initlab.cli,
        initlab.spec,
        initlab.seeding,
        initlab.data,
    ):
        assert module.__all__
        for name in module.__all__:
            assert hasattr(module, name), (module.__name__, name)
    assert initlab.__version__ and initlab.__version__ != "0+unknown"


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "initlab", "init", "randn", "--shape", "2", "3", "--json"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and '"fan_in": 3' in result.stdout


def test_python_dash_m_bad_input_has_no_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "initlab", "init", "randn", "--shape", "0"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
