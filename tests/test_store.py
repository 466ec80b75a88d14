"""Run folders: whole or not at all under kill -9 at any point of a save, two writers at once, resume, damage.

The kill test runs each save in a child process that SIGKILLs itself at the k-th
file-system step (an open for writing, a mkdir, a rename, a swap, a delete), for
every k until the save completes, and checks after each kill that the run folder is
the old run, whole, or the new run, whole, and that the next save and the report work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from initlab import InitlabValueError
from initlab.results import Result, check_target, finished, load, save, write_report

SRC = str(Path(__file__).resolve().parents[1] / "src")


def small_result(tag: str, *, name: str = "symmetry", scale: float = 1.0) -> Result:
    """A run of ``name`` (symmetry's or course's figures) whose numbers, and so figures, depend on ``tag``."""
    rows: list[dict[str, Any]] = []
    for model, (width, init) in enumerate([(2, "constant 0"), (4, "constant 0"), (2, "randn"), (4, "randn")]):
        base = {"model": model, "width": width, "init": init, "seed": 0, "layer": 1}
        for step in (0, 50, 99):
            distinct = 1 if init != "randn" else width
            rows.append({**base, "step": step, "metric": "distinct_units", "value": distinct})
            rows.append({**base, "step": step, "metric": "loss", "value": scale * (0.7 - 0.002 * step * model)})
        rows.append({**base, "step": 99, "metric": "diverged_at", "value": -1})
        rows.append({**base, "step": 99, "metric": "last_finite_loss", "value": scale * 0.5})
    return Result(
        name,
        {"tag": tag, "widths": (2, 4), "lr": 1.2},
        rows,
        {"width2_loss": np.full((3, 2), scale), "nested/name": np.arange(4.0)},
        claims={"equal weights stay clones": True, "a claim that fails": False},
        answer=f"answer of run {tag}",
        question="Do equal weights stay equal?",
        tables={"units": [{"width": 2, "distinct": 1.0}, {"width": 4, "distinct": float("nan")}]},
        command=f"initlab run symmetry --set 'tag={tag}'",
    )


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith(".") and p.name != ".initlab.lock")


def test_save_then_load_gives_the_result_back(tmp_path: Path) -> None:
    result = small_result("a")
    result.rows.append({"model": 9, "step": 0, "layer": 0, "metric": "flag", "value": 1.5, "ok": True})
    folder = save(result, tmp_path)
    back = load(folder)
    assert folder == tmp_path / "symmetry"
    assert back.rows == result.rows  # types included: widths stay ints, the flag a bool, the missing 'ok' missing
    assert back.config == {"tag": "a", "widths": [2, 4], "lr": 1.2}
    assert (back.claims, back.answer, back.question, back.command) == (
        result.claims, result.answer, result.question, result.command)  # fmt: skip
    assert back.tables["units"][0] == {"width": 2, "distinct": 1.0} and back.tables["units"][1]["distinct"] == "nan"
    assert set(back.arrays) == {"width2_loss", "nested/name"}
    np.testing.assert_array_equal(back.arrays["nested/name"], np.arange(4.0))
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(["answer.txt", "arrays.npz", "config.json", "rows.csv", "symmetry.png", "symmetry.svg",
                            "symmetry_loss.png", "symmetry_loss.svg"])  # fmt: skip
    assert leftovers(tmp_path) == []


def test_save_without_figures_writes_data_only(tmp_path: Path) -> None:
    folder = save(small_result("a"), tmp_path, figures=False)
    assert sorted(p.suffix for p in folder.iterdir()) == [".csv", ".json", ".npz", ".txt"]


# ------------------------------------------------------------------------------------------- kill at every point

DRIVER = textwrap.dedent(
    """
    import builtins, io, json, os, shutil, signal, sys
    sys.path[:0] = [sys.argv[2], sys.argv[3]]
    from test_store import leftovers, small_result
    from initlab import InitlabValueError
    from initlab.results import _figures, _store, load, save, write_report

    out = sys.argv[1]
    new = small_result("new", name="course", scale=2.0)
    drawn = _figures.figures(new)  # drawn once here; each save below writes them at its own kill points
    _figures.figures = lambda result: drawn

    def killed_save(kill_at):
        sys.stdout.flush()
        pid = os.fork()
        if pid:
            return os.waitpid(pid, 0)[1]
        count = [0]

        def step(name):
            if count[0] == kill_at:
                os.write(1, (name + " ").encode())
                os.kill(os.getpid(), signal.SIGKILL)
            count[0] += 1

        def wrap(owner, attr, writes_only=False):
            real = getattr(owner, attr)
            def patched(*args, **kwargs):
                mode = args[1] if len(args) > 1 else kwargs.get("mode", "r")
                if not writes_only or (isinstance(mode, str) and set(mode) & set("wax+")):
                    step(attr)
                return real(*args, **kwargs)
            setattr(owner, attr, patched)

        wrap(builtins, "open", writes_only=True)
        io.open = builtins.open
        for attr in ("rename", "replace", "mkdir", "open"):
            wrap(os, attr)
        wrap(shutil, "rmtree")
        wrap(_store, "_exchange")
        save(new, out)
        os._exit(0)

    k = 0
    while True:
        save(small_result("old", name="course"), out, figures=False)
        status = killed_save(k)
        record = {"k": k, "killed": os.WIFSIGNALED(status), "status": status}
        try:
            run = load(os.path.join(out, "course"))
            record.update(tag=run.config["tag"], answer=run.answer,
                          files=sorted(os.listdir(os.path.join(out, "course"))))
        except InitlabValueError as exc:
            record["error"] = str(exc)
        if record["killed"]:
            record["report"] = os.path.exists(write_report(out, order=["course"]))
            save(small_result("next", name="course"), out, figures=False)
            record["next"] = load(os.path.join(out, "course")).answer
            record["leftovers"] = leftovers(__import__("pathlib").Path(out))
        print(json.dumps(record), flush=True)
        if not record["killed"]:
            break
        k += 1
    """
)


def test_a_save_killed_at_any_point_leaves_the_old_run_or_the_new_run_whole(tmp_path: Path) -> None:
    driver = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path), SRC, str(Path(__file__).parent)],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert driver.returncode == 0, driver.stderr
    lines = driver.stdout.splitlines()
    records = [json.loads(line[line.index("{") :]) for line in lines]
    steps = [line[: line.index("{")].strip() for line in lines[:-1]]  # the step each save was killed at
    *kills, done = records
    assert not done["killed"] and done["status"] == 0 and done["tag"] == "new"
    assert len(kills) >= 12, steps  # the lock, the working folder, every file written, the swap, the delete
    figures = ["course_cost.png", "course_cost.svg"]
    for record, step in zip(kills, steps, strict=True):
        assert record["killed"] and "error" not in record, (step, record)  # load read the folder whole
        assert record["tag"] in ("old", "new") and record["answer"] == f"answer of run {record['tag']}"
        assert (set(figures) <= set(record["files"])) == (record["tag"] == "new")  # figures arrive with their data
        assert record["report"] and record["next"] == "answer of run next" and record["leftovers"] == []
    tags = [r["tag"] for r in kills]
    assert tags == sorted(tags, key=["old", "new"].index) and "old" in tags and "new" in tags, steps
    assert steps[tags.index("new") - 1] == "_exchange" and "rmtree" in steps[tags.index("new") :]


def test_leftovers_of_a_killed_save_are_removed_but_a_save_in_progress_is_left_alone(tmp_path: Path) -> None:
    import fcntl

    save(small_result("a"), tmp_path)
    dead = tmp_path / ".symmetry.initlab-tmp-0123456789abcdef"
    alive = tmp_path / ".symmetry.initlab-tmp-fedcba9876543210"
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "rows.csv").write_text("half")
    fd = os.open(alive, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as the saver that made it does, until it finishes or dies
        save(small_result("b"), tmp_path)
        assert not dead.exists() and alive.exists()
        assert write_report(tmp_path, order=["symmetry"]).exists()
        assert [p.name for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")] == ["symmetry"]
    finally:
        os.close(fd)
    save(small_result("c"), tmp_path)
    assert leftovers(tmp_path) == []


def test_a_run_set_aside_by_the_two_rename_swap_is_put_back_when_its_place_is_empty(tmp_path: Path) -> None:
    save(small_result("a"), tmp_path)
    aside = tmp_path / ".symmetry.initlab-old-0123456789abcdef"
    os.rename(tmp_path / "symmetry", aside)  # killed between the two renames, where renameat2 is missing
    save(small_result("b"), tmp_path / "elsewhere")  # a save elsewhere does not touch this folder
    assert aside.exists()
    from initlab.results import _store

    with _store._locked(tmp_path, shared=False):
        _store._clean(tmp_path)
    assert load(tmp_path / "symmetry").config["tag"] == "a" and leftovers(tmp_path) == []


def test_the_two_rename_swap_gives_the_same_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from initlab.results import _store

    monkeypatch.setattr(_store, "_exchange", lambda a, b: False)  # a system without renameat2
    save(small_result("a"), tmp_path)
    save(small_result("b"), tmp_path)
    assert load(tmp_path / "symmetry").config["tag"] == "b" and leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------------ two writers

WRITER = textwrap.dedent(
    """
    import os, sys, time
    sys.path[:0] = [sys.argv[4], sys.argv[5]]
    from test_store import small_result
    from initlab.results import save

    out, tag, gate = sys.argv[1], sys.argv[2], sys.argv[3]
    result = small_result(tag, name="course", scale=float(tag[1:]) + 1)
    open(gate + "." + tag, "w").close()
    while not os.path.exists(gate):
        time.sleep(0.001)
    save(result, out)
    """
)


def test_writers_saving_at_the_same_moment_never_mix_their_runs(tmp_path: Path) -> None:
    tags = [f"w{i}" for i in range(3)]
    reference = {}
    for tag in tags:  # what each run alone writes
        folder = save(small_result(tag, name="course", scale=float(tag[1:]) + 1), tmp_path / "alone" / tag)
        reference[tag] = {p.name: p.read_bytes() for p in folder.iterdir() if p.suffix in (".png", ".svg")}
    assert len({ref["course_cost.png"] for ref in reference.values()}) == len(tags)  # the figures tell them apart
    winners = []
    for attempt in range(3):
        out, gate = tmp_path / f"out{attempt}", tmp_path / f"go{attempt}"
        args = [str(out), "", str(gate), SRC, str(Path(__file__).parent)]
        writers = []
        for tag in tags:
            args[1] = tag
            writers.append(subprocess.Popen([sys.executable, "-c", WRITER, *args], stderr=subprocess.PIPE, text=True))
        deadline = time.monotonic() + 120
        while not all(Path(f"{gate}.{tag}").exists() for tag in tags) and time.monotonic() < deadline:
            time.sleep(0.01)
        gate.touch()  # all start saving at once
        for w in writers:
            _, stderr = w.communicate(timeout=120)
            assert w.returncode == 0, stderr
        run = load(out / "course")
        tag = run.config["tag"]
        assert run.answer == f"answer of run {tag}"
        assert run.rows[1]["value"] == pytest.approx((float(tag[1:]) + 1) * 0.7)
        figures = {p.name: p.read_bytes() for p in (out / "course").iterdir() if p.suffix in (".png", ".svg")}
        assert figures == reference[tag]  # every figure from the run whose config is there
        assert leftovers(out) == []
        winners.append(tag)
    assert set(winners) <= set(tags)


# ------------------------------------------------------------------------------------------------------ resume


def test_finished_says_whether_a_whole_run_with_that_config_is_there(tmp_path: Path) -> None:
    result = small_result("a")
    assert not finished(tmp_path, "symmetry", result.config)
    save(result, tmp_path)
    assert finished(tmp_path, "symmetry", {"tag": "a", "widths": (2, 4), "lr": 1.2})  # tuples saved as lists
    assert not finished(tmp_path, "symmetry", {**result.config, "lr": 0.5})
    assert not finished(tmp_path, "scale", result.config)
    png = tmp_path / "symmetry" / "symmetry.png"
    png.write_bytes(png.read_bytes()[:-20])  # killed while writing, by an older initlab
    assert not finished(tmp_path, "symmetry", result.config)


def test_a_tour_resumed_after_a_kill_skips_the_experiments_already_saved(tmp_path: Path) -> None:
    calls = []

    def tour(names: list[str]) -> None:  # what `initlab tour` does with finished()
        for name in names:
            config = {"tag": name, "widths": (2, 4)}
            if not finished(tmp_path, name, config):
                calls.append(name)
                result = small_result(name)
                result.name, result.config = name, config
                save(result, tmp_path, figures=False)

    tour(["symmetry", "depth"])
    tour(["symmetry", "depth", "course"])
    assert calls == ["symmetry", "depth", "course"]


# ------------------------------------------------------------------------------------------ never delete others'


@pytest.mark.parametrize("kind", ["file", "user folder", "symlink", "foreign run"])
def test_save_refuses_to_replace_what_it_did_not_write(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "symmetry"
    if kind == "file":
        target.write_text("my notes")
    elif kind == "user folder":
        target.mkdir()
        (target / "notes.txt").write_text("mine")
    elif kind == "symlink":
        (tmp_path / "elsewhere").mkdir()
        target.symlink_to(tmp_path / "elsewhere")
    else:
        save(small_result("a"), tmp_path)
        (target / "mine.txt").write_text("added by a person")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(InitlabValueError) as info:
        save(small_result("b"), tmp_path)
    message = str(info.value)
    assert "\n" not in message and f"{str(target)!r}" in message and "not an initlab run folder" in message
    assert "The 'out' argument of save" in message and "--out" not in message
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # nothing deleted, nothing left behind


@pytest.mark.parametrize("bad", ["", "file", "dangling"])
def test_save_names_its_out_argument_when_out_is_unusable(tmp_path: Path, bad: str) -> None:
    out: str | Path = ""
    if bad == "file":
        out = tmp_path / "f"
        out.write_text("x")
    elif bad == "dangling":
        out = tmp_path / "link"
        out.symlink_to(tmp_path / "nowhere")
    with pytest.raises(InitlabValueError, match=r"^The 'out' argument of save must be a folder\. Got "):
        save(small_result("a"), out)


# ------------------------------------------------------------------------------------------------------ damage


def test_load_names_the_damaged_file(tmp_path: Path) -> None:
    folder = save(small_result("a"), tmp_path)
    (folder / "config.json").write_text(json.dumps({"experiment": "symmetry", "config": [], "claims": {},
                                                    "answer": ""}))  # fmt: skip
    with pytest.raises(InitlabValueError, match=r"config\.json' must hold 'config' as an object; it holds list"):
        load(folder)
    (folder / "config.json").unlink()
    with pytest.raises(InitlabValueError, match=r"must hold rows\.csv, config\.json.*; it lacks config\.json\.$"):
        load(folder)


@pytest.mark.parametrize("name", ["", "../escape", ".hidden", "a/b"])
def test_save_refuses_a_result_name_that_is_not_a_plain_folder_name(tmp_path: Path, name: str) -> None:
    result = small_result("a")
    result.name = name
    with pytest.raises(InitlabValueError, match=r"^The 'result' argument of save must have a name that is a plain"):
        save(result, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_save_probes_out_by_writing_so_proc_is_refused_even_for_root(tmp_path: Path) -> None:
    # os.access says yes to root on /proc; making a folder there fails for everyone, before any figure is drawn
    with pytest.raises(
        InitlabValueError, match=r"^The 'out' argument of save must be a place initlab can write; '/proc'"
    ):
        save(small_result("a"), "/proc/initlab-out")


def test_check_target_is_the_rule_save_applies_in_the_callers_words(tmp_path: Path) -> None:
    other = save(small_result("a", name="depth"), tmp_path, figures=False)
    other.rename(tmp_path / "symmetry")  # a whole run folder, but of another experiment
    for call, words in [(lambda: save(small_result("b"), tmp_path), "The 'out' argument of save holds"),
                        (lambda: check_target(tmp_path, "symmetry"), "The 'out' argument of save holds"),
                        (lambda: check_target(tmp_path, "symmetry", arg="--out", where="initlab run"),
                         "initlab run: --out holds")]:  # fmt: skip
        with pytest.raises(InitlabValueError) as info:
            call()
        message = str(info.value)
        assert message.startswith(words), message
        assert "has a config.json that is not that of an initlab run of 'symmetry'" in message
    assert (
        check_target(tmp_path, "depth") == tmp_path
        and check_target(tmp_path / "new" / "sub") == tmp_path / "new" / "sub"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [".initlab.lock", "symmetry"]  # the probes left nothing
