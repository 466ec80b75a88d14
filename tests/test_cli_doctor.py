"""``initlab doctor``, run in-process on the real models of examples/torch_models.py and on bad input."""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch_models  # noqa: E402  (examples/, on sys.path through conftest.py)

pytest.importorskip("sklearn")
from torch import nn  # noqa: E402

from initlab.cli import main  # noqa: E402

pytestmark = pytest.mark.torch

MODELS = Path(__file__).resolve().parents[1] / "examples" / "torch_models.py"

TINY = """
import torch
from torch import nn


def tiny():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))


def zero():
    net = tiny()
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.zero_()
    return net


def boom():
    raise RuntimeError("no GPU found\\nsecond line")


def bye():
    raise SystemExit(3)


def not_a_model():
    return 42


def warns():
    import warnings

    warnings.warn("this model is experimental", UserWarning)
    return tiny()


def warns_then_boom():
    import warnings

    warnings.warn("this model is experimental", UserWarning)
    return boom()


def bn():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


value = 7
calls = []


def grows():
    calls.append(1)
    return nn.Sequential(nn.Linear(4, 4 + len(calls)), nn.Tanh(), nn.Linear(4 + len(calls), 3))
"""


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["doctor", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def quick_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """The figures of report.html take seconds; tests about other things write a stub page instead."""
    from initlab.torch import _doctor

    monkeypatch.setattr(_doctor, "render_html", lambda report: "<!doctype html><p>stub</p>")


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny.py"
    path.write_text(TINY)
    return path


@pytest.fixture(scope="module")
def mlp_he(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, str, Path]:
    """The 20-layer ReLU MLP with torch's default init, on 64 digits, fixed with He.

    Its eleven figures are made but not drawn to PNG (drawing them takes most of the run's
    time); the cnn_bn test draws them all.
    """
    from initlab.torch import _doctor

    def undrawn(fig: object) -> str:
        import matplotlib.pyplot as plt

        plt.close(fig)  # type: ignore[arg-type]
        return "iVBORw0KGgo="  # the PNG signature, base64

    out = tmp_path_factory.mktemp("mlp") / "report"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_doctor, "_png", undrawn)
        code, stdout, stderr = run("--model", f"{MODELS}:mlp", "--input-shape", "64,64", "--data", "digits",
                                   "--fix", "he", "--out", str(out))  # fmt: skip
    return code, stdout, stderr, out


# ------------------------------------------------------------------------------------ the real models


def test_mlp_default_init_is_unhealthy_and_he_heals_it(mlp_he: tuple[int, str, str, Path]) -> None:
    code, stdout, stderr, out = mlp_he
    assert code == 0, stderr
    doc = json.loads((out / "doctor.json").read_text())
    assert doc["loss"].startswith("cross-entropy") and doc["fix"] == "he" and doc["input_shape"] == [64, 64]
    before, after = doc["verdicts"]["before"], doc["verdicts"]["after"]
    assert sum(before.values()) == sum(after.values()) == 41  # 21 Linear + 20 ReLU calls
    assert before.get("healthy", 0) < 41 and before.get("vanishing", 0) >= 5  # torch's default: the signal fades
    assert after == {"healthy": 41}
    rows = {r["key"]: r for r in doc["rows"]}
    # the signal at the last hidden ReLU: far below the input's std before, about its size after He
    assert rows["39"]["act_std_before"] < 0.1 < 0.3 < rows["39"]["act_std_after"]
    # He's std for every hidden Linear (fan_in 64): sqrt(2 / 64)
    stds = {r["path"]: r["std"] for r in doc["fix_report"]["rows"]}
    assert stds["2.weight"] == pytest.approx(math.sqrt(2 / 64), rel=1e-6)
    assert stds["2.bias"] == 0
    # stdout: the tables, what the fix changes, and the verdict counts before -> after
    assert "what --fix he changes:" in stdout and "kaiming_normal" in stdout
    for title in ("parameters (execution order):", "diagnosis before the fix:", "diagnosis after --fix he:"):
        assert title in stdout.splitlines()
    lines = stdout.splitlines()
    after = lines[lines.index("diagnosis after --fix he:") + 2 :]
    assert after[0].split()[:2] == ["0", "Linear"] and after[40].split()[:2] == ["40", "Linear"]
    assert all(line.split()[-1] == "healthy" for line in after[:41])
    counts = re.search(r"verdicts \(before -> after\): (.*)", stdout)
    assert counts is not None and "healthy " in counts.group(1) and "-> 41" in counts.group(1)
    assert f"report: {out / 'report.html'}" in stdout


def test_mlp_report_html_is_self_contained(mlp_he: tuple[int, str, str, Path]) -> None:
    _, _, _, out = mlp_he
    page = (out / "report.html").read_text()
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    # 1 overview + 5 figures before + 5 after, all inlined
    assert page.count('src="data:image/png;base64,') == 11
    for caption in ("activation histograms per layer", "dead and saturated shares", "clone map", "update / weight"):
        assert caption in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere
    assert sorted(p.name for p in out.iterdir()) == ["doctor.json", "report.html"]  # no temporary file left


def test_cnn_bn_json_save_and_reload(tmp_path: Path) -> None:
    out, weights = tmp_path / "out", tmp_path / "fixed.pt"
    code, stdout, stderr = run("--model", f"{MODELS}:cnn_bn", "--input-shape", "32,1,8,8", "--data", "digits",
                               "--fix", "he", "--seed", "3", "--save", str(weights), "--out", str(out), "--json")  # fmt: skip
    assert code == 0, stderr
    doc = json.loads(stdout)  # --json: the JSON on stdout instead of the tables
    assert doc["files"]["weights"] == str(weights)
    assert doc == {**json.loads((out / "doctor.json").read_text()), "files": doc["files"]}
    assert doc["model_type"] == "Sequential" and doc["data"] == "32 scikit-learn digits (seed 3)"
    assert set(doc["verdicts"]["after"]) <= {"healthy", "dead"} and doc["after"] is not None
    # the saved state_dict: He for the first conv (fan_in = 1 * 3 * 3), BN reset, loads into a fresh model
    state = torch.load(weights, weights_only=True)
    assert float(state["0.weight"].std()) == pytest.approx(math.sqrt(2 / 9), rel=0.25)
    assert torch.equal(state["1.weight"], torch.ones(16)) and torch.equal(state["1.running_mean"], torch.zeros(16))
    fresh = nn.Sequential(*[m for m in torch_models.cnn_bn()])
    fresh.load_state_dict(state, strict=True)


# ------------------------------------------------------------------------------------ data and loss


@pytest.mark.usefixtures("quick_report")
def test_without_data_the_surrogate_loss_is_said_and_weights_are_read(tiny_file: Path, tmp_path: Path) -> None:
    state = _examples_tiny(tiny_file).state_dict()
    state["0.weight"] = state["0.weight"] * 3.0
    weights = tmp_path / "w.pt"
    torch.save(state, weights)
    code, stdout, stderr = run("--model", f"{tiny_file}:tiny", "--input-shape", "16,4", "--weights", str(weights),
                               "--out", str(tmp_path / "o"))  # fmt: skip
    assert code == 0, stderr
    assert "loss: the surrogate 0.5 * mean(output ** 2) (no labels)" in stdout
    assert "standard-normal inputs of shape (16, 4) (seed 0)" in stdout
    assert re.search(r"verdicts: \w+ \d+", stdout) and "->" not in stdout.split("verdicts")[-1]
    doc = json.loads((tmp_path / "o" / "doctor.json").read_text())
    params = {r["path"]: r for r in doc["inspection"]["rows"]}
    assert params["0.weight"]["std"] == pytest.approx(float(state["0.weight"].std()), rel=1e-5)
    assert doc["after"] is None and doc["fix"] is None and doc["fix_report"] is None


def _examples_tiny(path: Path) -> nn.Module:
    namespace: dict[str, object] = {}
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    model = namespace["tiny"]()  # type: ignore[operator]
    assert isinstance(model, nn.Module)
    return model


@pytest.mark.usefixtures("quick_report")
def test_npz_labels_give_cross_entropy_and_a_zero_layer_is_symmetric(tiny_file: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = tmp_path / "batch.npz"
    np.savez(data, x=rng.standard_normal((40, 4)).astype(np.float32), y=rng.integers(0, 3, 40))
    code, stdout, stderr = run("--model", f"{tiny_file}:zero", "--input-shape", "32,4", "--data", str(data),
                               "--fix", "xavier", "--out", str(tmp_path / "o"), "--json")  # fmt: skip
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert doc["loss"] == "cross-entropy on the labels (3 classes)"
    assert doc["data"] == f"the first 32 examples of {data} with labels"
    rows = {r["key"]: r for r in doc["before"]["rows"]}
    assert rows["0"]["verdict"] == "symmetric" and rows["0"]["distinct_units"] == 1
    assert {r["key"]: r for r in doc["after"]["rows"]}["0"]["distinct_units"] == 8


@pytest.mark.usefixtures("quick_report")
def test_lsuv_fix_and_pt_data(tiny_file: Path, tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(1)
    data = tmp_path / "batch.pt"
    torch.save({"x": 5 * torch.randn(64, 2, 2, generator=g), "y": torch.randint(0, 3, (64,), generator=g)}, data)
    code, stdout, stderr = run("--model", f"{tiny_file}:tiny", "--input-shape", "64,4", "--data", str(data),
                               "--fix", "lsuv", "--out", str(tmp_path / "o"), "--json")  # fmt: skip
    assert code == 0, stderr
    doc = json.loads(stdout)
    assert doc["fix"] == "lsuv" and doc["loss"].startswith("cross-entropy")
    assert doc["fix_report"] is not None and doc["fix_report"]["rows"]
    # LSUV brought the output of both Linear layers to std 1 within its tolerance of 0.1
    rows = {r["path"]: r for r in doc["fix_report"]["rows"]}
    assert set(rows) == {"0", "2"} and all(r["status"] == "ok" for r in rows.values())
    assert all(abs(r["std_after"] - 1) <= 0.1 for r in rows.values())
    assert rows["0"]["std_before"] > 1.5  # the inputs' std is 5: far from the target before


@pytest.mark.usefixtures("quick_report")
def test_warnings_are_lines_on_stderr_and_a_failure_stays_one_line(tiny_file: Path, tmp_path: Path) -> None:
    code, _, stderr = run("--model", f"{tiny_file}:warns", "--input-shape", "4,4", "--out", str(tmp_path / "o"))
    assert code == 0 and stderr == "warning: this model is experimental\n"
    err = bad(tmp_path, "--model", f"{tiny_file}:warns_then_boom", "--input-shape", "4,4")
    assert "raised RuntimeError: no GPU found" in err and "warning" not in err


@pytest.mark.usefixtures("quick_report")
def test_damaged_npz_and_non_deterministic_factory(tiny_file: Path, tmp_path: Path) -> None:
    data = tmp_path / "nox.npz"
    np.savez(data, inputs=np.zeros((4, 4)))
    err = bad(tmp_path, "--model", f"{tiny_file}:tiny", "--input-shape", "4,4", "--data", str(data))
    assert "must hold an array named x" in err and "inputs" in err
    weights = tmp_path / "w.pt"
    err = bad(tmp_path, "--model", f"{tiny_file}:grows", "--input-shape", "4,4", "--save", str(weights))
    assert "do not load into a fresh" in err and not weights.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["nox.npz"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.usefixtures("quick_report")
def test_on_cuda_the_same_verdicts_and_saved_weights_load_on_cpu(tiny_file: Path, tmp_path: Path) -> None:
    found = {}
    for device in ("cpu", "cuda"):
        weights = tmp_path / f"{device}.pt"
        code, stdout, stderr = run("--model", f"{tiny_file}:zero", "--input-shape", "32,4", "--fix", "he",
                                   "--device", device, "--save", str(weights), "--out", str(tmp_path / device),
                                   "--json")  # fmt: skip
        assert code == 0, stderr
        found[device] = json.loads(stdout)
        assert all(t.device.type == "cpu" for t in torch.load(weights, weights_only=True).values())
    assert found["cpu"]["verdicts"] == found["cuda"]["verdicts"]
    cpu, cuda = ({r["key"]: r for r in found[d]["after"]["rows"]} for d in ("cpu", "cuda"))
    for key, row in cpu.items():
        assert cuda[key]["act_std"] == pytest.approx(row["act_std"], rel=1e-4)


def test_bad_device(tmp_path: Path, tiny_file: Path) -> None:
    err = bad(tmp_path, "--model", f"{tiny_file}:tiny", "--input-shape", "4,4", "--device", "tpu9")
    assert "--device must be a torch device" in err
    if not torch.cuda.is_available():
        err = bad(tmp_path, "--model", f"{tiny_file}:tiny", "--input-shape", "4,4", "--device", "cuda")
        assert "--device cuda is not available here (0 CUDA devices found)" in err


# ------------------------------------------------------------------------------------ bad input: exit 2, one line, nothing written


def bad(tmp_path: Path, *argv: str) -> str:
    """Run with --out tmp_path/out; check exit 2, one line 'error: ...' on stderr, nothing on stdout or in --out."""
    out = tmp_path / "out"
    code, stdout, stderr = run(*argv, "--out", str(out))
    assert code == 2, stderr
    assert stdout == ""
    assert stderr.startswith("error: initlab doctor") and stderr.count("\n") == 1, stderr
    assert not out.exists()
    return stderr


def test_missing_file(tmp_path: Path) -> None:
    err = bad(tmp_path, "--model", str(tmp_path / "nope.py") + ":f", "--input-shape", "4,4")
    assert "--model must name a Python file" in err and "does not exist" in err


def test_model_argument_without_factory(tmp_path: Path, tiny_file: Path) -> None:
    err = bad(tmp_path, "--model", str(tiny_file), "--input-shape", "4,4")
    assert "--model must be PATH.py:FACTORY" in err


def test_missing_factory_names_the_close_one(tmp_path: Path, tiny_file: Path) -> None:
    err = bad(tmp_path, "--model", f"{tiny_file}:tinny", "--input-shape", "4,4")
    assert "names no 'tinny'" in err and "Did you mean 'tiny'?" in err


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        ("boom", "tiny() raised RuntimeError: no GPU found"),
        ("bye", "raised SystemExit: 3"),
        ("not_a_model", "must return a torch.nn.Module. Got 42 instead"),
        ("value", "must name a function"),
    ],
)
def test_factory_that_raises_or_returns_no_module(tmp_path: Path, tiny_file: Path, factory: str, expected: str) -> None:
    err = bad(tmp_path, "--model", f"{tiny_file}:{factory}", "--input-shape", "4,4")
    assert expected.replace("tiny()", f"{factory}()") in err


def test_model_file_that_does_not_import(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    err = bad(tmp_path, "--model", f"{broken}:f", "--input-shape", "4,4")
    assert "raised SyntaxError" in err


def test_input_shape_the_model_rejects(tmp_path: Path, tiny_file: Path) -> None:
    err = bad(tmp_path, "--model", f"{MODELS}:mlp", "--input-shape", "8,32")
    assert "run on inputs of --input-shape 8,32, raised RuntimeError" in err
    # BatchNorm in train mode (as the diagnosis runs it) refuses a batch of one
    err = bad(tmp_path, "--model", f"{tiny_file}:bn", "--input-shape", "1,4")
    assert "raised ValueError: Expected more than 1 value per channel when training" in err


def test_probe_leaves_the_model_as_found() -> None:
    from initlab.torch._doctor import Batch, probe

    net = torch_models.cnn_bn().eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    out = probe(net, Batch(torch.randn(8, 1, 8, 8), None, "noise"), "8,1,8,8")
    assert out.shape == (8, 10) and not net.training and not any(m.training for m in net.modules())
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


@pytest.mark.parametrize("shape", ["8,x", "", "0,4", "-1,4", "4,,4"])
def test_bad_input_shape_text(tmp_path: Path, tiny_file: Path, shape: str) -> None:
    err = bad(tmp_path, "--model", f"{tiny_file}:tiny", f"--input-shape={shape}")
    assert "--input-shape must be" in err


def test_bad_fix(tmp_path: Path, tiny_file: Path) -> None:
    err = bad(tmp_path, "--model", f"{tiny_file}:tiny", "--input-shape", "4,4", "--fix", "hee_normal")
    assert "--fix must be he, xavier, auto, lsuv or an initlab scheme spec" in err and "'hee_normal'" in err


def test_save_to_an_existing_file(tmp_path: Path, tiny_file: Path) -> None:
    target = tmp_path / "w.pt"
    target.write_bytes(b"keep me")
    err = bad(tmp_path, "--model", f"{tiny_file}:tiny", "--input-shape", "4,4", "--save", str(target))
    assert "--save must name a new file" in err
    assert target.read_bytes() == b"keep me"


def test_digits_in_a_shape_of_other_than_64_values(tmp_path: Path, tiny_file: Path) -> None:
    err = bad(tmp_path, "--model", f"{tiny_file}:tiny", "--input-shape", "4,4", "--data", "digits")
    assert "--data digits gives at most 1797 examples of 64 pixels" in err


def test_unreadable_data(tmp_path: Path, tiny_file: Path) -> None:
    damaged = tmp_path / "x.npy"
    damaged.write_bytes(b"not an array")
    err = bad(tmp_path, "--model", f"{tiny_file}:tiny", "--input-shape", "4,4", "--data", str(damaged))
    assert "could not be read" in err
    err = bad(tmp_path, "--model", f"{tiny_file}:tiny", "--input-shape", "4,4", "--data", str(tmp_path / "y.npy"))
    assert "does not exist" in err
    few = tmp_path / "few.npy"
    np.save(few, np.zeros((2, 4), np.float32))
    err = bad(tmp_path, "--model", f"{tiny_file}:tiny", "--input-shape", "4,4", "--data", str(few))
    assert "needs at least 4 examples of 4 values each" in err


def test_weights_that_do_not_match(tmp_path: Path, tiny_file: Path) -> None:
    other = tmp_path / "other.pt"
    torch.save(nn.Linear(3, 3).state_dict(), other)
    err = bad(tmp_path, "--model", f"{tiny_file}:tiny", "--input-shape", "4,4", "--weights", str(other))
    assert "does not match the model" in err
    pickled = tmp_path / "module.pt"
    torch.save(nn.Linear(4, 8), pickled)  # a whole module, not a state_dict: weights_only refuses to unpickle it
    err = bad(tmp_path, "--model", f"{tiny_file}:tiny", "--input-shape", "4,4", "--weights", str(pickled))
    assert "could not be read safely" in err


@pytest.mark.usefixtures("quick_report")
def test_ctrl_c_while_writing_leaves_nothing(tmp_path: Path, tiny_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from initlab.cli import _doctor_cmd

    def interrupted(self: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_doctor_cmd._Writes, "commit", interrupted)
    out, weights = tmp_path / "new" / "out", tmp_path / "w.pt"
    code, _, stderr = run("--model", f"{tiny_file}:tiny", "--input-shape", "4,4", "--save", str(weights),
                               "--out", str(out))  # fmt: skip
    assert code == 130 and stderr.startswith("interrupted: initlab doctor") and "nothing was written" in stderr
    assert not (tmp_path / "new").exists() and list(tmp_path.iterdir()) == []


STALLING = """
import sys, time
import initlab.cli._doctor_cmd as cmd
import initlab.torch._doctor as doctor
from initlab.cli import main_entry

doctor.render_html = lambda report: "<!doctype html><p>stub</p>"

def stalled(self):
    print("STALLED commit", file=sys.stderr, flush=True)
    while True:
        time.sleep(0.05)

cmd._Writes.commit = stalled
sys.argv = ["initlab", "doctor", *sys.argv[1:]]
main_entry()
"""


@pytest.mark.slow  # about 10 s each (a fresh interpreter imports torch); the in-process Ctrl-C test covers the path
@pytest.mark.parametrize("signum", [2, 15])  # SIGINT (Ctrl-C), SIGTERM (kill)
def test_a_real_process_stopped_while_writing_leaves_nothing(tiny_file: Path, tmp_path: Path, signum: int) -> None:
    import os
    import subprocess
    import sys

    script = tmp_path / "stall.py"
    script.write_text(STALLING)
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(script), "--model", f"{tiny_file}:tiny", "--input-shape", "8,4", "--save", "w.pt",
         "--out", "new/out"],
        cwd=work, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line == "STALLED commit\n", line + proc.stderr.read()
    assert sorted(p.name for p in (work / "new" / "out").iterdir())[0].startswith(".")  # only temporary files
    os.kill(proc.pid, signum)
    _, rest = proc.communicate(timeout=60)
    assert proc.returncode == (130 if signum == 2 else 143)
    assert rest.count("\n") == 1 and "nothing was written" in rest
    assert list(work.iterdir()) == []  # no weights, no folder, no temporary file


def test_doctor_report_in_a_notebook(tiny_file: Path) -> None:
    """The report object: rows, to_dict (strict JSON), to_frame, a readable repr, a labelled figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from initlab.torch._doctor import DoctorReport, prepare_doctor

    case = prepare_doctor(f"{tiny_file}:zero", "32,4", fix="he", seed=2)
    assert case.input_shape == (32, 4) and case.plan is not None and case.batch.y is None
    report = case.examine()
    assert isinstance(report, DoctorReport)
    rows = report.rows()
    assert [r["key"] for r in rows] == ["0", "1", "2"]
    assert rows[0]["verdict_before"] == "symmetric" and rows[0]["verdict_after"] == "healthy"
    assert report.counts["before"]["symmetric"] >= 1 and report.counts["after"] == {"healthy": 3}
    doc = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert doc["seed"] == 2 and doc["fix_report"]["seed"] == 2 and doc["rows"] == rows
    assert report.to_frame().shape == (3, 9)
    text = repr(report)
    assert text.splitlines()[0].startswith(f"initlab doctor on {tiny_file}:zero (Sequential)")
    assert text.splitlines()[-1] == "verdicts: healthy 0 -> 3, vanishing 1 -> 0, symmetric 2 -> 0"
    fig = report.plot()
    ax = fig.axes[0]
    assert ax.get_ylabel() == "activation std" and ax.get_xlabel() and len(ax.lines) == 2
    plt.close(fig)
