"""The sweep report: one self-contained HTML page from a real journal, with its heat maps, counts, grid and command.

The journals here hold rows of real training runs (``run_task`` on the grid's cells), with a
model left unrun, a cell whose models all diverge (a huge learning rate on a linear net with
the squared error) and a cell recorded as failed, so that every kind of square is on the page.
"""

from __future__ import annotations

import base64
import html
import io
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from initlab import InitlabValueError
from initlab.sweep import load_grid, parse_grid
from initlab.sweep._executors import run_task
from initlab.sweep._journal import open_for_run
from initlab.sweep._report import build_report, write_report
from initlab.sweep._types import Row, Task

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "sweeps"

GRID = """\
# a small grid for the report's tests
experiment = "train"
seeds = 2

[settings]
dataset = "circles"
activation = "linear"
loss = "mse"
width = 4
steps = 40
record_every = 10

[axes]
depth = [1, 2]
lr = [0.01, 0.1, 100.0]

[report]
x = "lr"
y = "depth"
"""

THEORY_GRID = """\
experiment = "train"

[settings]
dataset = "circles"
activation = "tanh"
width = 8
steps = 20
record_every = 10
weights = "variance_scaling(scale={sigma_w2}, distribution='normal')"
biases = "normal(std=sqrt(0.05))"

[axes]
sigma_w2 = [1.0, 2.0, 3.0]
depth = [1, 3]

[report]
x = "sigma_w2"
y = "depth"
theory = { activation = "tanh", sigma_b2 = 0.05 }
"""

FAILED = "InitlabValueError: the model raised this on purpose"


def _run(out: Path, text: str, source: str, skip: Any = None, fail: Any = None) -> Any:
    """Journal real runs of the grid's cells into ``out``: ``skip(cell)`` leaves all but seed 0 unrun,
    ``fail(cell)`` records the cell's models as failed instead of running them."""
    grid = parse_grid(text, source)
    with open_for_run(out, grid, f"initlab sweep run {source}") as journal:
        for cell in grid.cells:
            if fail is not None and fail(cell):
                journal.record([Row(cell.key, s, "failed", error=f"{FAILED}\nand a second line") for s in grid.seeds])
                continue
            seeds = grid.seeds[:1] if skip is not None and skip(cell) else grid.seeds
            journal.record(run_task(Task(grid.experiment, "test", tuple((cell.key, s, cell.config) for s in seeds))))
    return grid


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "out"
    _run(out, GRID, "tiny.toml", skip=lambda c: c.axes == {"depth": 2, "lr": 0.01},
         fail=lambda c: c.axes == {"depth": 2, "lr": 0.1})  # fmt: skip
    return out


@pytest.fixture(scope="module")
def theory_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("theory") / "out"
    _run(out, THEORY_GRID, "theory.toml")
    return out


class _Links(HTMLParser):
    """Every src and href of a page, and its images' data."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: list[bytes] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.links.append(value)
                if tag == "img" and value.startswith("data:image/png;base64,"):
                    self.images.append(base64.b64decode(value.split(",", 1)[1]))


def _parse(page: str) -> _Links:
    parser = _Links()
    parser.feed(page)
    return parser


def _table(page: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is ``first``."""
    for row in re.findall(r"<tr>(.*?)</tr>", page, flags=re.S):
        cells = [html.unescape(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S)]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no table row starts with {first!r}")


def _orange_pixels(png: bytes) -> int:
    """Pixels of the theory curve's colour (PALETTE[1], #E69F00), which the viridis heat map never uses."""
    import matplotlib.image

    rgb = (matplotlib.image.imread(io.BytesIO(png))[..., :3] * 255).astype(int)
    return int(np.sum(np.all(np.abs(rgb - np.array([230, 159, 0])) <= 12, axis=-1)))


def test_the_report_is_one_self_contained_page(sweep: Path) -> None:
    path = write_report(sweep)
    assert path == sweep / "report.html" and path.is_file()
    assert not list(sweep.glob(".report.html.*"))  # the temporary file was moved into place
    page = path.read_text(encoding="utf-8")
    links = _parse(page)
    assert links.links and all(link.startswith("data:") for link in links.links), links.links
    assert not links.tags & {"script", "link", "iframe"}
    assert len(links.images) == 2  # the heat map and the loss curves
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in links.images)
    assert "train_accuracy over lr and depth" in page


def test_counts_grid_text_and_command_are_on_the_page(sweep: Path) -> None:
    page = write_report(sweep).read_text(encoding="utf-8")
    # 6 cells x 2 seeds: lr = 100 diverges (4), depth 2 / lr 0.1 failed (2), one model of depth 2 / lr 0.01 unrun
    assert _table(page, "all models") == ["all models", "12", "5", "4", "2", "1"]
    assert _table(page, "lr = 100") == ["lr = 100", "4", "0", "4", "0", "0"]
    text = html.unescape(page)
    assert GRID.strip() in text  # the grid's text, comment included, in its <pre>
    assert f"initlab sweep run tiny.toml --out {sweep}" in text
    assert FAILED in text and "and a second line" not in text  # a failed model's error, its first line only


def test_diverged_failed_and_missing_squares_are_marked(sweep: Path) -> None:
    page = html.unescape(write_report(sweep).read_text(encoding="utf-8"))
    depth1 = _table(page, "depth = 1")
    assert depth1[3] == "div" and all(0.0 <= float(v) <= 1.0 for v in depth1[1:3])  # lr 0.01 and 0.1 trained
    depth2 = _table(page, "depth = 2")
    assert depth2[2:] == ["fail", "div"]
    value, seen = depth2[1].split(" ")
    assert seen == "1/2" and 0.0 <= float(value) <= 1.0  # one of two models has a result
    # the diverged squares are listed with the median step where the loss stopped being finite
    for depth in (1, 2):
        found = re.search(rf"lr = 100, depth = {depth}: 2 of 2 models diverged, median step (\d+)", page)
        assert found is not None and 0 < int(found.group(1)) <= 40


def test_the_heat_map_value_is_the_mean_over_the_done_seeds(sweep: Path, tmp_path: Path) -> None:
    from initlab.sweep._journal import open_journal

    with open_journal(sweep) as view:
        grid, cells, rows = view.grid(), view.cells(), view.rows()
    key = next(c.key for c in cells if c.axes == {"depth": 1, "lr": 0.1})
    accs = [r.metrics["train_accuracy"] for r in rows if r.cell == key]
    assert len(accs) == 2
    page = html.unescape(build_report(grid, rows, out=tmp_path))
    assert _table(page, "depth = 1")[2] == f"{np.mean(accs):.2f}"
    # another metric: final_loss, three significant digits
    page = html.unescape(build_report(grid, rows, out=tmp_path, metric="final_loss"))
    losses = [r.metrics["final_loss"] for r in rows if r.cell == key]
    assert _table(page, "depth = 1")[2] == f"{np.mean(losses):.3g}"


def test_theory_overlay_is_drawn_when_asked(theory_sweep: Path) -> None:
    page = write_report(theory_sweep).read_text(encoding="utf-8")
    assert "critical sigma_w2 = 1.761 of tanh at sigma_b2 = 0.05" in page
    assert "L = 6 xi_c" in page
    heat_map = _parse(page).images[0]
    assert _orange_pixels(heat_map) > 200  # the 6 xi_c curve is drawn


def test_theory_overlay_is_absent_otherwise(theory_sweep: Path, sweep: Path) -> None:
    # the same sweep drawn over other axes: no overlay, and the page says why
    page = html.unescape(write_report(theory_sweep, x="depth", y="sigma_w2").read_text(encoding="utf-8"))
    assert "The theory overlay is drawn over x = sigma_w2 and y = depth" in page
    assert "xi_c" not in page and "critical sigma_w2" not in page
    assert _orange_pixels(_parse(page).images[0]) < 20
    # a grid without [report].theory
    page = write_report(sweep).read_text(encoding="utf-8")
    assert "xi_c" not in page and "critical sigma_w2" not in page
    assert _orange_pixels(_parse(page).images[0]) < 20


def test_one_axis_gives_a_line(tmp_path: Path) -> None:
    text = 'experiment = "train"\n[settings]\ndataset = "circles"\nsteps = 10\n[axes]\nwidth = [2, 4, 8]\n'
    _run(tmp_path / "out", text, "line.toml")
    page = html.unescape(write_report(tmp_path / "out").read_text(encoding="utf-8"))
    assert "train_accuracy against width" in page
    row = _table(page, "train_accuracy")
    assert len(row) == 4 and all(0.0 <= float(v) <= 1.0 for v in row[1:])


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"x": "dept"}, ["'x' argument", "'depth', 'lr'", "Got 'dept'", "Did you mean 'depth'?"]),
        ({"y": "width"}, ["'y' argument", "'depth', 'lr'", "Got 'width'"]),
        ({"metric": "accuracy"}, ["'metric' argument", "'train_accuracy'", "'final_loss'", "Got 'accuracy'"]),
        ({"x": "lr", "y": "lr"}, ["'x' and 'y'", "two different axes", "Got 'lr' for both"]),
    ],
)
def test_bad_arguments_are_one_line_errors_and_write_nothing(sweep: Path, kwargs: dict[str, str],
                                                             words: list[str]) -> None:  # fmt: skip
    (sweep / "report.html").unlink(missing_ok=True)
    with pytest.raises(InitlabValueError) as err:
        write_report(sweep, **kwargs)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message, message
    assert not (sweep / "report.html").exists()


def test_a_folder_without_a_journal_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InitlabValueError, match="must hold a sweep's journal.sqlite"):
        write_report(tmp_path)


@pytest.mark.parametrize("name", ["schoenholz.toml", "lecture_schemes.toml", "width.toml"])
def test_every_example_grid_parses_and_validates(name: str) -> None:
    grid = load_grid(EXAMPLES / name)
    assert grid.cells and grid.experiment == "train"
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert text.startswith("#") and f"initlab sweep run examples/sweeps/{name}" in text  # the header says how to run it
    assert re.search(r"Time here: about \d+ (seconds|minutes?)", text)  # and how long it takes


def test_the_schoenholz_example_draws_the_theory() -> None:
    grid = load_grid(EXAMPLES / "schoenholz.toml")
    assert grid.report["theory"] == {"activation": "tanh", "sigma_b2": 0.05}
    assert (grid.report["x"], grid.report["y"]) == ("sigma_w2", "depth")
    assert max(c.axes["depth"] for c in grid.cells) <= 48


def test_a_whole_run_experiment_shows_its_claims(tmp_path: Path) -> None:
    text = 'experiment = "scale"\n[settings]\nsteps = 50\n[axes]\nlarge = [10.0, 100.0]\nsmall = [0.01, 0.1]\n'
    _run(tmp_path / "out", text, "scale.toml")
    page = write_report(tmp_path / "out").read_text(encoding="utf-8")
    assert "all_claims_hold over large and small" in page  # the default metric of an experiment run whole
    assert len(_parse(page).images) == 1  # no loss curves: a whole run has none
    assert _table(page, "all models") == ["all models", "4", "4", "0", "0", "0"]
    squares = [_table(html.unescape(page), f"small = {s}")[1:] for s in ("0.01", "0.1")]
    assert all(v in ("0.00", "1.00") for row in squares for v in row)  # one run per cell: holds or not
    page = html.unescape(write_report(tmp_path / "out", metric="claims_held").read_text(encoding="utf-8"))
    held = [float(v) for s in ("0.01", "0.1") for v in _table(page, f"small = {s}")[1:]]
    assert all(v == int(v) and 0 <= v <= 5 for v in held)


def test_more_than_twelve_panels_are_averaged(tmp_path: Path) -> None:
    # 2 x 2 squares under 13 values of a third axis: one heat map, averaged over it, and the page says so
    text = 'experiment = "train"\n[axes]\ndepth = [1, 2]\nwidth = [2, 4]\nlr = {linspace = [0.1, 1.3, 13]}\n'
    grid = parse_grid(text, "many.toml")
    rows = [Row(c.key, 0, "done", {"train_accuracy": 0.5 if c.axes["lr"] < 0.7 else 1.0}) for c in grid.cells]
    page = html.unescape(build_report(grid, rows, out=tmp_path))
    assert "More than 12 combinations of the other axes: the heat map averages over them." in page
    assert len(_parse(page).images) == 1
    # the mean over the 13 learning rates: 6 of them below 0.7 (0.1 ... 0.6) at 0.5, 7 at 1.0
    assert _table(page, "width = 2")[1:] == [f"{(6 * 0.5 + 7 * 1.0) / 13:.2f}"] * 2
    # with 12 values or fewer: one panel per value, no note
    few = parse_grid(text.replace("13]", "3]"), "few.toml")
    page = html.unescape(build_report(few, [Row(c.key, 0, "done", {"train_accuracy": 1.0}) for c in few.cells]))
    assert "averages over them" not in page and page.count("<caption>lr = ") == 3


def test_an_axis_zipped_with_x_splits_no_panel(tmp_path: Path) -> None:
    text = 'experiment = "train"\n[axes]\ndepth = [1, 2]\n[[zip]]\nlr = [0.1, 0.2]\nwidth = [2, 4]\n'
    grid = parse_grid(text, "zip.toml")
    rows = [Row(c.key, 0, "done", {"train_accuracy": c.axes["width"] / 4}) for c in grid.cells]
    page = html.unescape(build_report(grid, rows, out=tmp_path, x="lr", y="depth"))
    assert "<caption>" not in page  # width follows from lr: one heat map, not one per width
    assert _table(page, "depth = 1")[1:] == ["0.50", "1.00"]
    # the same grid drawn over width and depth: lr is the partner now
    page = html.unescape(build_report(grid, rows, out=tmp_path, x="width", y="depth"))
    assert "<caption>" not in page and _table(page, "depth = 2")[1:] == ["0.50", "1.00"]


def test_a_report_metric_the_results_lack_is_an_error(sweep: Path, tmp_path: Path) -> None:
    from initlab.sweep._journal import open_journal

    with open_journal(sweep) as view:
        rows = view.rows()
    grid = parse_grid(GRID.replace('y = "depth"', 'y = "depth"\nmetric = "train_acc"'), "tiny.toml")
    with pytest.raises(
        InitlabValueError, match=r"The \[report\] metric of tiny.toml must be one of .*'train_accuracy'"
    ):
        build_report(grid, rows, out=tmp_path)
    assert "train_accuracy over lr and depth" in build_report(grid, rows, out=tmp_path, metric="train_accuracy")
