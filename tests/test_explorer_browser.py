"""The explorer in a real browser: Debian's headless Chromium, driven by Selenium through chromedriver.

One real server (``python -m initlab explore --no-browser --port 0``) serves the whole module and is
stopped with Ctrl-C (SIGINT) at the end, which must exit 0 within 10 s.  One browser serves every test;
each test starts from a single blank window and no live session on the server.  Every number the tests
read from the page is checked against the engine run in this process for the same settings (``train.build`` +
``make_optimizer`` + ``train(backend="numpy")``, then the loss of the current parameters), never against
numbers read from the server.  Waits are on the page's own state (``document.body.dataset.step``, the
status text, the URL), never fixed sleeps.

Each test leaves a screenshot of its window (at its end, pass or fail) in ``$INITLAB_ARTIFACTS``
(default ``build/explorer-screenshots/``).  Without chromium or chromedriver the tests skip, unless the
environment variable ``CI`` is set: CI installs both, so there a missing browser is a failure.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from initlab.engine import distinct_units, forward, layer_stats
from initlab.engine import train as engine_train
from initlab.experiments import make_config, train
from initlab.explorer._session import check_texts

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("INITLAB_ARTIFACTS") or ROOT / "build" / "explorer-screenshots")
LN2 = math.log(2)

# The default run (circles, 2 x 8 relu, He normal, gd with lr 0.1, seed 0) in the engine: cost 0.690 at step 0,
# 0.389 at 500, 0.127 at 1000, first below 0.08 at step 1411, 0.0746 at 1500, 0.0578 at 2000, with brief spikes
# (1.07 at step 832, 1.09 at 948, 1.48 at 1131, 3.36 at 2152), so the test never asks for a low cost at a step it
# does not choose.  The page, playing at 100 steps a frame, must come to show a cost below HE_BOUND.
HE_BOUND = 0.08


# --- the engine, in this process -------------------------------------------------------------------------


def engine_after(query: dict[str, str], steps: int) -> dict[str, Any]:
    """What the page must show after ``steps`` updates of the run ``query`` (setting name -> text).

    Returns ``cost`` (per model), ``first`` (start label -> its model 0) and ``layers``
    ((label, l) -> {units, distinct, w_std, act_std} of the start's model 0).
    """
    cfg = make_config("train", query)
    built = train.build(cfg)
    net, params = built.net, built.params
    if steps:
        engine_train(net, params, built.X, built.Y, steps=steps, optimizer=train.make_optimizer(cfg),
                     record_every=0, backend="numpy")  # fmt: skip
    ZL, caches = forward(net, params, built.X)
    cost = np.asarray(net.loss.value(np, ZL, built.Y), dtype=np.float64).reshape(-1)
    stats = layer_stats(net, params, caches, None)
    first = {start.label: start.models[0] for start in built.starts}
    layers = {}
    for label, k in first.items():
        for l in range(1, net.n_layers + 1):
            W, b, A = params[f"W{l}"][k], params[f"b{l}"][k], caches[l - 1][2][k]
            layers[label, l] = {
                "units": W.shape[0],
                "distinct": int(distinct_units(W, b, A)),
                "w_std": float(np.std(W)),
                "act_std": float(stats["act_std"][k, l - 1]),
            }
    return {"cost": cost, "first": first, "layers": layers, "L": net.n_layers}


def to_precision(x: float, p: int) -> str:
    """JavaScript's ``x.toPrecision(p)`` for a finite ``x`` (how the page writes its numbers)."""
    if x == 0:
        return "0" if p == 1 else "0." + "0" * (p - 1)
    mantissa, exponent = f"{x:.{p - 1}e}".split("e")
    e = int(exponent)
    if e < -6 or e >= p:
        return f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"
    return f"{x:.{p - 1 - e}f}"


def test_to_precision_writes_what_the_browser_writes(browser: Any) -> None:
    rng = np.random.default_rng(0)
    values = [math.log(2), 0.5, 123456.7, 1234567.0, 1.5e-7, 0.000001234, 0.0, -2.5, 0.99995, 9.99995e-7]
    values += list(rng.standard_normal(100) * 10.0 ** rng.integers(-9, 9, 100))
    for p in (4, 6):
        shown = js(browser, "return arguments[0].map(x => x.toPrecision(arguments[1]))", values, p)
        assert [to_precision(x, p) for x in values] == shown


def message_for(query: dict[str, str]) -> str:
    """The one-line message the settings ``query`` are refused with (the server's words, computed here)."""
    try:
        check_texts(query)  # the train settings within the explorer's own limits
    except (ValueError, TypeError) as e:
        return str(e)
    raise AssertionError(f"{query} is accepted")


# --- the server ------------------------------------------------------------------------------------------


def _first_line(stream: Any, timeout: float) -> str:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return ""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of a real ``initlab explore`` process; stopped with SIGINT afterwards (exit 0 within 10 s)."""
    log = tmp_path_factory.mktemp("explorer") / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "initlab", "explore", "--no-browser", "--port", "0"],
                                stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT)  # fmt: skip
    try:
        line = _first_line(proc.stdout, timeout=60)
        match = re.fullmatch(r"initlab explorer: (http://127\.0\.0\.1:\d+/)\n", line)
        assert match, f"the server printed {line!r}; stderr: {log.read_text()[-2000:]}"
        yield match.group(1)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        assert proc.stdout is not None
        rest = proc.stdout.read()
        proc.stdout.close()
        stderr = log.read_text()
    assert code == 0, f"initlab explore after Ctrl-C: exit {code}; stderr: {stderr[-2000:]}"
    assert "Traceback" not in stderr, stderr[-2000:]
    assert rest == "", f"more than one line on stdout: {rest!r}"


def get_json(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path.lstrip("/"), timeout=10) as response:
        return json.load(response)


def live_sessions(base: str) -> list[dict[str, Any]]:
    return list(get_json(base, "/api/sessions")["sessions"])


# --- the browser -----------------------------------------------------------------------------------------


def _required(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        why = f"{program} is not installed (Debian: apt-get install chromium chromium-driver)"
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI is set, where the browser tests must run")
        pytest.skip(why)
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module, with the console log readable (never downloads a driver)."""
    chromium, chromedriver = _required("chromium"), _required("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1800",
                "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    for old in ARTIFACTS.glob("test_*.png"):  # this run's screenshots only
        old.unlink()
    try:
        yield driver
    finally:
        driver.quit()


def _screenshot(driver: Any, name: str) -> None:
    from selenium.common.exceptions import WebDriverException

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    try:  # the whole page, not only the window
        width, height = js(driver, "const e = document.documentElement; return [e.scrollWidth, e.scrollHeight]")
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True,
                                      "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})  # fmt: skip
        path.write_bytes(base64.b64decode(shot["data"]))
    except WebDriverException:  # a window without a page: what the window shows
        driver.save_screenshot(str(path))


@pytest.fixture
def page(browser: Any, server: str, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The browser on one blank window with no live session on the server; screenshot at the end."""
    _one_blank_window(browser)
    wait(browser, "the sessions of the previous test to end", lambda _: live_sessions(server) == [])
    browser.get_log("browser")  # start with an empty console log
    failed_before = request.session.testsfailed
    yield browser
    failed = request.session.testsfailed > failed_before
    try:
        _screenshot(browser, request.node.name + ("-FAILED" if failed else ""))
    finally:
        _one_blank_window(browser)


def _one_blank_window(driver: Any) -> None:
    """Close every window (which ends their sessions) but a new blank one."""
    old = driver.window_handles
    driver.switch_to.new_window("window")
    fresh = driver.current_window_handle
    for handle in old:
        driver.switch_to.window(handle)
        driver.close()
    driver.switch_to.window(fresh)


def wait(driver: Any, what: str, condition: Callable[[Any], Any], timeout: float = 30) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition, message=f"waiting for {what}")


def js(driver: Any, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def step_of(driver: Any) -> int:
    return int(js(driver, "return document.body.dataset.step ?? '-1'"))


def text(driver: Any, selector: str) -> str:
    return str(js(driver, "const e = document.querySelector(arguments[0]); return e ? e.textContent.trim() : null",
                  selector))  # fmt: skip


def open_page(driver: Any, base: str, query: str = "") -> None:
    """Load ``/?query`` and wait for the first frame (step 0) and a paused run."""
    driver.get(base + ("?" + query if query else ""))
    wait(driver, "the first frame", lambda d: step_of(d) == 0 and text(d, "#status") == "paused")


def click(driver: Any, selector: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, selector).click()


def type_into(driver: Any, selector: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.CSS_SELECTOR, selector)
    box.clear()
    box.send_keys(value)


def choose(driver: Any, selector: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    Select(driver.find_element(By.CSS_SELECTOR, selector)).select_by_value(value)


def value_of(driver: Any, selector: str) -> str:
    return str(js(driver, "return document.querySelector(arguments[0]).value", selector))


def play_until(driver: Any, what: str, condition: Callable[[Any], Any], timeout: float = 60) -> None:
    """Press play, wait for ``condition`` on the page, press pause and wait for the paused state."""
    click(driver, "#play")
    wait(driver, what, condition, timeout)
    click(driver, "#play")
    wait(driver, "the paused state", lambda d: text(d, "#status") == "paused" and text(d, "#play") == "Play")
    # the button shows "paused" at once; frames sent before the server read the pause may still arrive
    wait(driver, "a frame sent after the pause", lambda d: js(d, "return document.body.dataset.playing") == "false")
    wait(driver, "the readouts of the last frame", lambda d: text(d, "#step") == str(step_of(d)))


def shown_cost(driver: Any, start: str = "A") -> float:
    try:
        return float(text(driver, f"#cost-{start}"))
    except ValueError:  # a dash before the first frame
        return math.inf


# a canvas is drawn when it differs from a blank one of its size
DRAWN = """const c = document.querySelector(arguments[0]), blank = document.createElement('canvas');
    blank.width = c.width; blank.height = c.height; return c.width > 0 && c.toDataURL() !== blank.toDataURL()"""
# keep a canvas's pixels for CHANGED_SHARE; return its data URL
KEEP_PIXELS = """const c = document.querySelector(arguments[0]);
    window.__kept = c.getContext('2d').getImageData(0, 0, c.width, c.height).data.slice(); return c.toDataURL()"""
# the share of a canvas's pixels whose colour differs from the kept ones
CHANGED_SHARE = """const c = document.querySelector(arguments[0]);
    const now = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, old = window.__kept;
    let n = 0;
    for (let i = 0; i < now.length; i += 4) if (now[i] !== old[i] || now[i+1] !== old[i+1] || now[i+2] !== old[i+2]) n++;
    return n / (now.length / 4)"""

# the right edge of each element, or of the box that scrolls it sideways (a wide table in its own scroller)
RIGHT_EDGES = """return arguments[0].map(s => {
    let e = document.querySelector(s);
    for (let p = e.parentElement; p; p = p.parentElement)
      if (['auto', 'scroll'].includes(getComputedStyle(p).overflowX)) { e = p; break; }
    return Math.round(e.getBoundingClientRect().right); })"""


def console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def layer_cell(driver: Any, start: str, layer: int, cell: str) -> str:
    return text(driver, f'#layers tr[data-start="{start}"][data-layer="{layer}"] td.{cell}')


def query_of(url_or_search: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url_or_search).query, keep_blank_values=True))


def seed_of(session: dict[str, Any]) -> str:
    """The seed of a session listed by /api/sessions (its query leaves out the default seed, 0)."""
    return query_of("?" + session["query"]).get("seed", "0")


# --- the tests -------------------------------------------------------------------------------------------


def test_page_loads_without_console_errors(page: Any, server: str) -> None:
    open_page(page, server)
    assert text(page, "#step") == "0"
    assert value_of(page, "#dataset") == "circles"
    assert js(page, "return document.querySelector('#error').hidden") is True
    wait(page, "a drawn boundary", lambda d: js(d, "return document.querySelector('#boundary-A').width") > 0)
    assert console_errors(page) == []


def test_zero_weights_keep_one_distinct_unit_per_layer_and_cost_ln2(page: Any, server: str) -> None:
    open_page(page, server)
    choose(page, "#weights-choice", "zero")
    assert value_of(page, "#weights") == "zero"
    click(page, "#apply")
    wait(page, "the zero run in the URL", lambda d: query_of(d.current_url).get("weights") == "zero")
    wait(page, "the zero run's first frame", lambda d: step_of(d) == 0)
    play_until(page, "200 steps", lambda d: step_of(d) >= 200)
    depth = train.Config().depth
    assert [layer_cell(page, "A", l, "distinct") for l in range(1, depth + 1)] == ["1"] * depth
    assert text(page, "#cost-A") == to_precision(LN2, 6) == "0.693147"
    assert console_errors(page) == []


def test_he_cost_falls_and_the_boundary_changes(page: Any, server: str) -> None:
    open_page(page, server)
    assert value_of(page, "#weights") == train.Config().weights
    wait(page, "the boundary drawn", lambda d: js(d, DRAWN, "#boundary-A"))
    before = js(page, KEEP_PIXELS, "#boundary-A")
    choose(page, "#speed", "100")
    play_until(page, f"a cost below {HE_BOUND}", lambda d: shown_cost(d) < HE_BOUND)
    step = step_of(page)
    assert text(page, "#cost-A") == to_precision(engine_after({}, step)["cost"][0], 6), f"at step {step}"
    wait(page, "the boundary redrawn", lambda d: js(d, "return document.querySelector(arguments[0]).toDataURL()",
                                                    "#boundary-A") != before)  # fmt: skip
    changed = js(page, CHANGED_SHARE, "#boundary-A")
    assert changed > 0.05, f"only {changed:.1%} of the boundary's pixels changed"
    assert console_errors(page) == []


def test_url_round_trip(page: Any, server: str) -> None:
    wanted = {"dataset": "moons", "depth": "3", "width": "6", "activation": "tanh", "weights": "xavier_normal",
              "compare": "normal(std=0.5)", "lr": "0.05", "seed": "3", "seeds": "4"}  # fmt: skip
    query = urllib.parse.urlencode(wanted)
    open_page(page, server, query)
    for name in ("dataset", "depth", "width", "activation", "weights", "compare", "lr", "seed", "seeds"):
        assert value_of(page, f"#{name}") == wanted[name], name
    assert value_of(page, "#weights-choice") == "xavier_normal"
    assert query_of(js(page, "return location.search")) == wanted
    link = js(page, "return document.querySelector('#share-link').href")
    assert link == page.current_url and query_of(link) == wanted
    assert urllib.parse.urlsplit(link).path == "/"

    type_into(page, "#width", "5\n")  # Enter in a box applies, as the Apply button does
    wait(page, "the URL to follow the change", lambda d: query_of(d.current_url).get("width") == "5")
    assert query_of(page.current_url) == {**wanted, "width": "5"}
    assert query_of(js(page, "return document.querySelector('#share-link').href")) == {**wanted, "width": "5"}
    wait(page, "the new run's layers", lambda d: layer_cell(d, "A", 1, "units") == "5")
    assert console_errors(page) == []


@pytest.mark.parametrize("bad", [{"width": "0"}, {"width": "128"}, {"weights": "normal(std=-1)"}, {"widht": "4"}])
def test_a_bad_url_gives_400_with_the_message(page: Any, server: str, bad: dict[str, str]) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server + "?" + urllib.parse.urlencode(bad), timeout=10)
    with refused.value as response:
        assert response.code == 400
        assert message_for(bad) in html.unescape(response.read().decode())
    page.get(server + "?" + urllib.parse.urlencode(bad))
    assert message_for(bad) in js(page, "return document.body.innerText")
    assert js(page, "return [...document.querySelectorAll('a')].some(a => a.getAttribute('href') === '/')")


def test_one_step_shows_the_engines_numbers(page: Any, server: str) -> None:
    settings = {"compare": "xavier_uniform", "seed": "5", "seeds": "2"}
    open_page(page, server, urllib.parse.urlencode(settings))
    click(page, "#step-once")
    wait(page, "step 1 drawn", lambda d: step_of(d) == 1 and text(d, "#step") == "1")
    want = engine_after(settings, 1)
    for label, k in want["first"].items():
        assert text(page, f"#cost-{label}") == to_precision(want["cost"][k], 6), label
        for l in range(1, want["L"] + 1):
            layer = want["layers"][label, l]
            shown = {cell: layer_cell(page, label, l, cell) for cell in ("units", "distinct", "w-std", "act-std")}
            assert shown == {"units": str(layer["units"]), "distinct": str(layer["distinct"]),
                             "w-std": to_precision(layer["w_std"], 4), "act-std": to_precision(layer["act_std"], 4)}, \
                (label, l)  # fmt: skip
    assert console_errors(page) == []


def test_twenty_sessions_see_their_own_runs_and_a_closed_tab_stops(page: Any, server: str) -> None:
    weights = ("he_normal", "xavier_uniform", "too small", "he_uniform", "lecun_normal")
    runs = {str(k): {"weights": weights[k % len(weights)], "seed": str(k)} for k in range(20)}
    page.get(server + "?" + urllib.parse.urlencode(runs["0"]))
    for run in list(runs.values())[1:]:  # 19 more windows, loading side by side
        js(page, "window.open(arguments[0], '_blank', 'popup,width=1300,height=1800')",
           server + "?" + urllib.parse.urlencode(run))  # fmt: skip
    window = {}  # seed -> window handle
    for handle in page.window_handles:
        page.switch_to.window(handle)
        wait(page, "the first frame", lambda d: step_of(d) == 0 and text(d, "#status") == "paused")
        window[query_of(page.current_url).get("seed", "0")] = handle
    assert sorted(window) == sorted(runs)
    live = live_sessions(server)
    assert len(live) == 20 and len({s["id"] for s in live}) == 20
    assert sorted(seed_of(s) for s in live) == sorted(runs)

    for seed in runs:  # one step each, all at once ...
        page.switch_to.window(window[seed])
        click(page, "#step-once")
    for seed, run in runs.items():  # ... and every window shows its own run's numbers
        page.switch_to.window(window[seed])
        wait(page, "step 1 drawn", lambda d: step_of(d) == 1 and text(d, "#step") == "1")
        want = engine_after(run, 1)
        assert text(page, "#cost-A") == to_precision(want["cost"][0], 6), run
        assert layer_cell(page, "A", 1, "w-std") == to_precision(want["layers"]["A", 1]["w_std"], 4), run
    assert {s["step"] for s in live_sessions(server)} == {1}

    for seed in ("7", "3", "12"):
        page.switch_to.window(window[seed])
        click(page, "#play")
        wait(page, "playing", lambda d: text(d, "#status") == "playing" and step_of(d) > 1)
    page.switch_to.window(window["7"])
    page.close()
    page.switch_to.window(window["0"])

    def seeds_playing() -> dict[str, int]:
        return {seed_of(s): s["step"] for s in live_sessions(server) if s["playing"]}

    wait(page, "the closed window's session to end", lambda _: len(live_sessions(server)) == 19)
    assert "7" not in {seed_of(s) for s in live_sessions(server)}
    before = seeds_playing()
    assert set(before) == {"3", "12"}
    wait(page, "the other playing sessions to go on",
         lambda _: all(seeds_playing()[seed] > step + 50 for seed, step in before.items()))  # fmt: skip
    assert len(live_sessions(server)) == 19


def test_keyboard_alone_reaches_and_presses_play(page: Any, server: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    open_page(page, server)
    focused = "const e = document.activeElement; return e ? e.id : null"
    for _ in range(80):  # Tab through the page until the play button has the focus
        ActionChains(page).send_keys(Keys.TAB).perform()
        if js(page, focused) == "play":
            break
    assert js(page, focused) == "play"
    ring = js(page, "const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.boxShadow]")
    assert ring[0] != "none" or ring[1] != "none", f"no visible focus on the play button: {ring}"
    ActionChains(page).send_keys(Keys.ENTER).perform()
    wait(page, "playing", lambda d: text(d, "#status") == "playing" and step_of(d) > 0)
    ActionChains(page).send_keys(Keys.SPACE).perform()
    wait(page, "paused", lambda d: text(d, "#status") == "paused")


def test_phone_width_has_one_column_and_no_sideways_scroll(page: Any, server: str) -> None:
    page.set_window_size(390, 1800)
    open_page(page, server, "compare=zero")
    width = js(page, "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], f"the page is {width[0]} px wide in a {width[1]} px window"
    right = js(page, RIGHT_EDGES, ["#controls", "#cost-chart", "#boundary-A", "#boundary-B", "#network-A", "#layers"])
    assert max(right) <= width[1], f"right edges {right} beyond {width[1]} px"


def test_leaving_the_page_ends_its_session(page: Any, server: str) -> None:
    open_page(page, server, "seed=1")
    click(page, "#play")
    wait(page, "playing", lambda d: text(d, "#status") == "playing" and step_of(d) > 0)
    assert [s["query"] for s in live_sessions(server)] == ["seed=1"]
    page.get("about:blank")  # a page kept in the back/forward cache must not keep its run
    wait(page, "the session to end", lambda _: live_sessions(server) == [], timeout=10)


def test_a_bad_spec_shows_the_servers_message_and_the_run_goes_on(page: Any, server: str) -> None:
    open_page(page, server)
    click(page, "#play")
    wait(page, "playing", lambda d: text(d, "#status") == "playing" and step_of(d) > 0)
    bad = "normal(std=-1)"
    type_into(page, "#weights", bad)
    click(page, "#apply")
    wait(page, "the error shown", lambda d: js(d, "return !document.querySelector('#error').hidden"))
    assert text(page, "#error") == message_for({"weights": bad})
    at_error = step_of(page)
    wait(page, "the run to go on", lambda d: step_of(d) > at_error + 50)
    assert text(page, "#status") == "playing"
    assert "weights" not in query_of(page.current_url)
    assert console_errors(page) == []
