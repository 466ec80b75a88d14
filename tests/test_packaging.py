"""The package's promises: a light import, a public API, and both entry points."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import initlab


def test_import_initlab_pulls_in_numpy_and_the_standard_library_only() -> None:
    code = (
        "import sys, initlab, initlab.cli;"
        "heavy = [m for m in ('torch', 'matplotlib', 'scipy', 'pandas', 'jax', 'numba', 'sklearn', 'jinja2', 'rich', 'threadpoolctl', 'starlette', 'uvicorn', 'websockets') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_public_api_is_explicit() -> None:
    for name in initlab.__all__:
        assert hasattr(initlab, name), name
    faces = ("initializers", "engine", "diagnostics", "experiments", "results", "cli", "spec", "seeding", "data")
    modules = [importlib.import_module(f"initlab.{face}") for face in faces]
    for module in [*modules, initlab.initializers.bias]:
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


# The layers, lowest first: a module may import its own subpackage and the layers below it, never above.
LAYERS = {
    "": 0,  # _validation, _typing, _version, seeding, spec, data
    "initializers": 1,
    "engine": 2,
    "diagnostics": 3,
    "results": 3,
    "theory": 3,
    "experiments": 4,
    "torch": 5,
    "explorer": 5,  # beside torch, never importing it
    "papers": 5,  # the reproductions: on experiments, theory and the engine, never torch
    "sweep": 6,  # grids, journal, executors, the sweep report: on experiments and papers
    "cli": 7,
}


def _imports(path: Path, package: str) -> list[str]:
    """The initlab modules that the file at ``path`` (in subpackage ``package``) imports, as dotted paths."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if (node.module or "").startswith("initlab"):
                    found.append((node.module or "").removeprefix("initlab").lstrip("."))
                continue
            base = package.split(".") if package else []
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            target = ".".join([*base, *([node.module] if node.module else [])])
            if node.module:
                found.append(target)
            else:  # from . import a, b
                found += [".".join([*base, alias.name]).strip(".") for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name.removeprefix("initlab").lstrip(".") for a in node.names if a.name.startswith("initlab")]
    return found


def test_imports_point_downward_through_the_faces() -> None:
    root = Path(initlab.__file__).parent
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        package = ".".join(rel.parts[:-1])
        if rel.parts == ("__init__.py",) or rel.parts == ("__main__.py",):
            continue  # the package face re-exports from every layer; __main__ is the command line
        own = rel.parts[0] if len(rel.parts) > 1 else ""
        for target in _imports(path, package):
            first = target.split(".")[0]
            layer = first if first in LAYERS else ""
            if layer == own:
                continue
            if LAYERS[layer] >= LAYERS[own] and own != "":
                bad.append(f"{rel} imports {target} (layer {layer or 'base'} is not below {own})")
            elif own == "" and layer != "":
                bad.append(f"{rel} imports {target} (a base module imports no layer)")
            elif layer and any(part.startswith("_") for part in target.split(".")[1:]):
                bad.append(f"{rel} imports {target} (another layer's private module: use its face)")
    assert bad == []
