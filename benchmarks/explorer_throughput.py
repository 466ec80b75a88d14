"""Explorer throughput: steps and frames per second each session of ``initlab explore`` gets, for the default net.

One real server process (``python -m initlab explore --no-browser --port 0``) on this machine.  Sessions are
WebSocket clients (the ``websockets`` library) that send what the page sends (``speed``, then ``play``) and
count the frames they receive and the steps those frames report, over a common window of ``--seconds``
after a second of warm-up.  Cases: 1 and 20 sessions, each at the page's default speed (10 steps per frame)
and at speed 100.  Then one real headless Chromium page plays at the default speed: its frames received per
second (``document.body.dataset.frames``), the frames it draws per second (its requestAnimationFrame
callbacks, counted) and steps per second (``dataset.step``), while nothing else runs.
The server's own work per frame is timed in this process without the web (``Session.advance`` + ``frame`` +
JSON, one thread): frames per second that one core could serve.
The reference is the raw engine on the same net in this process, one BLAS thread, as the server runs it:
``train()`` called in a loop 10 steps at a time (a frame's worth at the default speed), 1 step at a time,
and one long call.  The clients run in this process and share the machine's cores with the server (so does
a browser).

The issue's goal: at least 20 updates (frames) a second per session for the default net on 2 cores.

Usage:
  python benchmarks/explorer_throughput.py                     # everything, 10 s per case
  python benchmarks/explorer_throughput.py --seconds 5 --no-browser
  python benchmarks/explorer_throughput.py --screenshot docs/explorer.png   # also the README's screenshot
  python benchmarks/explorer_throughput.py --screenshot-only                 # only docs/explorer.png
Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# the README's picture: zero weights (A, blue) against He (B, orange) on circles, paused after about 600 steps
# (5 steps a frame), before plain gd's first brief cost spike on this run (step 832)
SCREENSHOT_QUERY = "weights=zero&compare=he_normal"
SCREENSHOT_SPEED = "5"
SCREENSHOT_STEPS = 600


# --- the server --------------------------------------------------------------------------------------------


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "initlab", "explore", "--no-browser", "--port", "0"],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.fullmatch(r"initlab explorer: (http://[^/]+/)\n", line)
    if not match:
        proc.kill()
        raise SystemExit(f"the server did not start: it printed {line!r}")
    return proc, match.group(1)


def stop_server(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def live_sessions(base: str) -> int:
    with urllib.request.urlopen(base + "api/sessions", timeout=10) as response:
        return len(json.load(response)["sessions"])


def wait_no_sessions(base: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while live_sessions(base) and time.monotonic() < deadline:
        time.sleep(0.05)


# --- WebSocket sessions ------------------------------------------------------------------------------------


Frames = list[tuple[float, int]]


async def session(url: str, speed: int, start: asyncio.Event, stop: asyncio.Event, out: Frames) -> None:
    """One session: connect, wait for ``start``, play at ``speed``; (time, step) of each frame until ``stop``."""
    from websockets.asyncio.client import connect

    async with connect(url, max_size=None) as ws:
        while json.loads(await ws.recv())["type"] != "frame":  # the config, then the frame of step 0
            pass
        await start.wait()
        await ws.send(json.dumps({"type": "speed", "steps_per_frame": speed}))
        await ws.send(json.dumps({"type": "play"}))
        while not stop.is_set():
            try:
                message = await asyncio.wait_for(ws.recv(), timeout=0.5)
            except asyncio.TimeoutError:
                continue
            data = json.loads(message)
            if data["type"] == "frame":
                out.append((time.perf_counter(), int(data["step"])))
            elif data["type"] == "error":
                raise RuntimeError(data["message"])


def rates(frames: Frames, t0: float, t1: float) -> tuple[float, float]:
    """Frames per second and steps per second within [t0, t1]."""
    inside = [(t, step) for t, step in frames if t0 <= t <= t1]
    if len(inside) < 2:
        return 0.0, 0.0
    (ta, sa), (tb, sb) = inside[0], inside[-1]
    return (len(inside) - 1) / (tb - ta), (sb - sa) / (tb - ta)


async def sessions_case(base: str, n: int, speed: int, seconds: float, warmup: float = 1.0) -> dict[str, float]:
    url = base.replace("http://", "ws://") + "ws"
    start, stop = asyncio.Event(), asyncio.Event()
    frames: list[Frames] = [[] for _ in range(n)]
    tasks = [asyncio.create_task(session(url, speed, start, stop, frames[k])) for k in range(n)]
    while live_sessions(base) < n:  # every session connected and sent its first frame
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    start.set()
    t0 = time.perf_counter() + warmup
    await asyncio.sleep(warmup + seconds)
    t1 = time.perf_counter()
    stop.set()
    await asyncio.gather(*tasks)
    per = [rates(f, t0, t1) for f in frames]
    fps, sps = [p[0] for p in per], [p[1] for p in per]
    return {"fps": statistics.mean(fps), "fps_min": min(fps), "sps": statistics.mean(sps), "sps_min": min(sps)}


# --- one real page -----------------------------------------------------------------------------------------


def chromium() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver is None:
        return None
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1800", "--hide-scrollbars"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def wait_until(driver: Any, condition: Any, timeout: float = 60) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition)


# counts the animation-frame callbacks that run (the page draws in requestAnimationFrame, the latest frame only)
COUNT_DRAWS = """window.__draws = 0; const raf = window.requestAnimationFrame.bind(window);
    window.requestAnimationFrame = (cb) => raf((t) => { window.__draws += 1; cb(t); });"""


def page_case(driver: Any, base: str, seconds: float, warmup: float = 1.0) -> dict[str, float]:
    from selenium.webdriver.common.by import By

    driver.get(base)
    wait_until(driver, lambda d: d.execute_script("return document.body.dataset.step") == "0")
    driver.execute_script(COUNT_DRAWS)
    driver.find_element(By.CSS_SELECTOR, "#play").click()
    read = "return [performance.now(), +document.body.dataset.frames, +document.body.dataset.step, window.__draws]"
    wait_until(driver, lambda d: int(d.execute_script("return +document.body.dataset.step")) > 0)
    time.sleep(warmup)
    t0, f0, s0, d0 = driver.execute_script(read)
    time.sleep(seconds)
    t1, f1, s1, d1 = driver.execute_script(read)
    driver.find_element(By.CSS_SELECTOR, "#play").click()
    elapsed = (t1 - t0) / 1000
    return {"fps": (f1 - f0) / elapsed, "sps": (s1 - s0) / elapsed, "drawn": (d1 - d0) / elapsed}


def screenshot(driver: Any, base: str, path: Path) -> None:
    """The README's picture: zero against He, paused after at least SCREENSHOT_STEPS steps."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    driver.get(base + "?" + SCREENSHOT_QUERY)
    wait_until(driver, lambda d: d.execute_script("return document.body.dataset.step") == "0")
    Select(driver.find_element(By.CSS_SELECTOR, "#speed")).select_by_value(SCREENSHOT_SPEED)
    driver.find_element(By.CSS_SELECTOR, "#play").click()
    wait_until(driver, lambda d: int(d.execute_script("return +document.body.dataset.step")) >= SCREENSHOT_STEPS)
    driver.find_element(By.CSS_SELECTOR, "#play").click()
    wait_until(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#status").text == "paused")
    wait_until(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#step").text == d.execute_script(
        "return document.body.dataset.step"))  # fmt: skip
    driver.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    # from the top of the page to the end of the network drawings: controls, cost, boundaries, clone groups
    width, bottom = driver.execute_script(
        "const r = document.querySelector('#network-A').closest('section').getBoundingClientRect();"
        "return [document.documentElement.clientWidth, Math.ceil(r.bottom + window.scrollY) + 16]"
    )
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True,
                                  "clip": {"x": 0, "y": 0, "width": width, "height": bottom, "scale": 1}})  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(base64.b64decode(shot["data"]))


# --- the raw engine ----------------------------------------------------------------------------------------


def engine_case(per_call: int, seconds: float) -> float:
    """Steps per second of ``train()`` on the default explorer run, ``per_call`` steps per call, one BLAS thread."""
    from threadpoolctl import threadpool_limits

    from initlab.engine import train
    from initlab.experiments import train as experiment

    cfg = experiment.Config()
    built = experiment.build(cfg)
    optimizer = experiment.make_optimizer(cfg)
    with threadpool_limits(limits=1):
        train(built.net, built.params, built.X, built.Y, steps=per_call, optimizer=optimizer, record_every=0)
        done, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            train(built.net, built.params, built.X, built.Y, steps=per_call, optimizer=optimizer, record_every=0,
                  backend="numpy")  # fmt: skip
            done += per_call
        return done / (time.perf_counter() - start)


def session_case(speed: int, seconds: float) -> tuple[float, float]:
    """Steps and frames per second of the server's own work for one session, in this process, one thread:
    ``Session.advance(speed)``, ``frame()`` and the frame's JSON, in a loop (no web server, no client)."""
    from threadpoolctl import threadpool_limits

    from initlab.explorer import Session

    session = Session({})
    with threadpool_limits(limits=1):
        json.dumps(session.frame(True))
        frames, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            session.advance(speed)
            json.dumps(session.frame(True))
            frames += 1
        elapsed = time.perf_counter() - start
    return frames * speed / elapsed, frames / elapsed


# --- the table ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per case (default 10)")
    parser.add_argument("--no-browser", action="store_true", help="skip the real page")
    parser.add_argument("--screenshot", type=Path, help="also save the README's screenshot there")
    parser.add_argument("--screenshot-only", action="store_true", help="only the screenshot, no timing")
    args = parser.parse_args()

    from initlab.experiments import train as experiment

    cfg = experiment.Config()
    net = "x".join(str(cfg.width) for _ in range(cfg.depth))
    print(f"default run: {cfg.dataset}, {cfg.depth} hidden layers of {cfg.width} ({net}), {cfg.activation}, "
          f"{cfg.weights}, lr {cfg.lr}, {cfg.seeds} model per start")  # fmt: skip
    print(f"{os.cpu_count()} cores; 1-minute load average before: {os.getloadavg()[0]:.1f}")
    rows: list[tuple[str, str, str, str]] = []
    proc, base = start_server()
    if args.screenshot_only:
        driver = chromium()
        try:
            screenshot(driver, base, args.screenshot or ROOT / "docs" / "explorer.png")
        finally:
            driver.quit()
            stop_server(proc)
        return
    try:
        for n in (1, 20):
            for speed in (10, 100):
                wait_no_sessions(base)
                r = asyncio.run(sessions_case(base, n, speed, args.seconds))
                sps, fps = f"{r['sps']:9.0f} (min {r['sps_min']:.0f})", f"{r['fps']:6.1f} (min {r['fps_min']:.1f})"
                rows.append((f"{n} websocket session{'s' * (n > 1)}", f"{speed}", sps, fps))
                print(*rows[-1], sep=" | ", flush=True)
        driver = None if args.no_browser else chromium()
        if driver is not None:
            try:
                wait_no_sessions(base)
                r = page_case(driver, base, args.seconds)
                rows.append(("1 chromium page: frames received", "10", f"{r['sps']:9.0f}", f"{r['fps']:6.1f}"))
                rows.append(("1 chromium page: frames drawn", "10", "", f"{r['drawn']:6.1f}"))
                print(*rows[-2], sep=" | ", flush=True)
                if args.screenshot:
                    wait_no_sessions(base)
                    screenshot(driver, base, args.screenshot)
                    print(f"screenshot: {args.screenshot}")
            finally:
                driver.quit()
    finally:
        stop_server(proc)
    for speed in (10, 100):
        sps, fps = session_case(speed, min(args.seconds, 5.0))
        rows.append(("server work alone (Session, 1 thread)", f"{speed}", f"{sps:9.0f}", f"{fps:6.1f}"))
    for per_call in (10, 1, 2000):
        sps = engine_case(per_call, min(args.seconds, 5.0))
        rows.append((f"engine train(), {per_call} steps per call", "-", f"{sps:9.0f}", "-"))
    print(f"1-minute load average after: {os.getloadavg()[0]:.1f}")
    head = ("case", "steps/frame", "steps/s per session", "frames/s per session")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    print()
    for r in [head, tuple("-" * w for w in widths), *rows]:
        print(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
