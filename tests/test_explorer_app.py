"""The explorer's server: routes, the WebSocket protocol, sessions that stay apart, and ``initlab explore``.

The app is driven in-process by Starlette's TestClient (HTTP and WebSocket); the command runs
as a real process that prints its address, serves the page and stops on a signal.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from initlab.cli import main
from initlab.experiments import REGIMES, settings
from initlab.explorer import DEFAULT_HOST, DEFAULT_PORT, SPEEDS, STATIC, Session, make_app

with warnings.catch_warnings():  # starlette 1.x asks for httpx2 in its test client; httpx still works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(make_app()) as c:
        yield c


def _until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.02)


def _next(ws: Any, kind: str) -> dict[str, Any]:
    """The next message of type ``kind`` (frames of a playing session may come first)."""
    for _ in range(1000):
        message: dict[str, Any] = ws.receive_json()
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message")


def _opened(ws: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    config, frame = ws.receive_json(), ws.receive_json()
    assert config["type"] == "config" and frame["type"] == "frame" and frame["step"] == 0
    return config, frame


# --- HTTP -----------------------------------------------------------------------------------


def test_the_page_is_served_with_its_assets(client: TestClient) -> None:
    r = client.get("/?dataset=moons&weights=zero&seeds=4")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.text == (STATIC / "index.html").read_text(encoding="utf-8")
    for asset in sorted(p.name for p in STATIC.iterdir() if p.suffix in (".js", ".css")):
        assert client.get(f"/static/{asset}").status_code == 200, asset


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "width=0",
            "The &#x27;width&#x27; setting of the explorer must be an int &gt;= 1 and &lt;= 64. Got &#x27;0&#x27;",
        ),
        ("width=128", "setting of the explorer must be an int &gt;= 1 and &lt;= 64. Got &#x27;128&#x27; instead."),
        ("depth=9", "The &#x27;depth&#x27; setting of the explorer must be an int &gt;= 1 and &lt;= 8."),
        ("batch_size=32", "The explorer draws nets up to 8 x 64 and trains on the full batch"),
        ("widht=3", "Got an unknown setting &#x27;widht&#x27; instead. Did you mean &#x27;width&#x27;?"),
        ("width=3&width=4", "Each setting may be given once in the URL. Got &#x27;width&#x27; twice."),
        ("weights=%3Cscript%3E", "Got &#x27;&lt;script&gt;&#x27; instead"),  # shown, never run
    ],
)
def test_bad_settings_in_the_url_give_a_400_page_with_the_message(client: TestClient, query: str, message: str) -> None:
    r = client.get(f"/?{query}")
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert message in r.text and '<a href="/">' in r.text
    assert "Traceback" not in r.text and "<script>" not in r.text


def test_a_server_error_is_one_line_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import initlab.explorer._app as app_module

    def broken(texts: Any) -> None:
        raise RuntimeError("something broke\nsecond line")

    monkeypatch.setattr(app_module, "check_texts", broken)
    with TestClient(make_app(), raise_server_exceptions=False) as c:
        r = c.get("/?width=3")
    assert r.status_code == 500
    assert r.text == "initlab explorer: internal error (RuntimeError: something broke)."
    assert c.get("/no/such/page").text == "initlab explorer: Not Found"


def test_the_settings_api_lists_the_declared_settings_and_the_names_the_controls_offer(client: TestClient) -> None:
    doc = client.get("/api/settings").json()
    declared = settings("train")
    assert [s["name"] for s in doc["settings"]] == [s.name for s in declared]
    width = next(s for s in doc["settings"] if s["name"] == "width")
    assert (width["type"], width["default"], width["low"], width["high"]) == ("int", 8, 1, 64)
    assert doc["regimes"] == REGIMES and doc["speeds"] == list(SPEEDS)
    assert "he_normal" in doc["schemes"] and "zeros" in doc["bias_policies"]
    assert doc["datasets"][0] == "circles" and "relu" in doc["activations"] and "adam" in doc["optimizers"]


def test_check_gives_the_command_or_the_error(client: TestClient) -> None:
    ok = client.get("/api/check?weights=zero&seeds=2")
    assert ok.status_code == 200
    assert ok.json()["ok"] is True and ok.json()["command"] == "initlab run train --set weights=zero --set seeds=2"
    assert "train" in ok.json()["python"]
    bad = client.get("/api/check?lr=-1")
    assert bad.status_code == 400 and bad.json() == {
        "ok": False,
        "error": "The 'lr' setting of train must be a finite float > 0 and <= 100. Got '-1' instead.",
    }


# --- WebSocket --------------------------------------------------------------------------------


def test_play_streams_frames_at_most_25_a_second_and_pause_stops(client: TestClient) -> None:
    with client.websocket_connect("/ws?weights=zero") as ws:
        config, _ = _opened(ws)
        assert config["query"] == "weights=zero"
        ws.send_json({"type": "speed", "steps_per_frame": 5})
        ws.send_json({"type": "play"})
        started = time.monotonic()
        steps = [ws.receive_json()["step"] for _ in range(10)]
        elapsed = time.monotonic() - started
        assert steps == list(range(5, 55, 5))  # 5 steps between frames, none skipped
        assert elapsed >= 9 * (1 / 25) * 0.9  # 25 frames per second at most
        ws.send_json({"type": "pause"})
        last = _next(ws, "frame")
        while last["playing"]:
            last = _next(ws, "frame")
        ws.send_json({"type": "step", "count": 1})
        assert _next(ws, "frame")["step"] == last["step"] + 1  # nothing ran while paused


def test_a_message_is_read_even_when_every_frame_takes_longer_than_the_frame_interval(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a busy server (a large net, a loaded machine) makes each frame late; the pause must still be read
    import initlab.explorer._app as app_module

    monkeypatch.setattr(app_module, "FRAME_INTERVAL", 0.0)
    with client.websocket_connect("/ws") as ws:
        _opened(ws)
        ws.send_json({"type": "play"})
        for _ in range(3):
            _next(ws, "frame")
        ws.send_json({"type": "pause"})
        for _ in range(50):  # the frames already on their way, then the paused one
            if not _next(ws, "frame")["playing"]:
                break
        else:
            pytest.fail("the pause was not read: 50 frames later the run still played")


def test_a_bad_message_is_answered_and_the_session_goes_on(client: TestClient) -> None:
    bad = [
        ("not json", "A message must be a JSON object"),
        ("[1, 2]", "A message must be a JSON object"),
        (
            '{"type": "plya"}',
            "The 'type' of a message must be one of 'play', 'pause', 'step', 'reset', 'speed', "
            "'set'. Got 'plya' instead. Did you mean 'play'?",
        ),
        ('{"type": "step", "count": 0}', "The 'count' argument of the step message must be an int >= 1 and <= 1000."),
        ('{"type": "step", "count": "3"}', "The 'count' argument of the step message must be an int"),
        ('{"type": "speed", "steps_per_frame": 3}', "The 'steps_per_frame' of the speed message must be one of 1, 2"),
        ('{"type": "set", "settings": "width=3"}', "The 'settings' of the set message must be an object"),
        ('{"type": "set", "settings": {"width": "0"}}', "The 'width' setting of the explorer must be an int >= 1"),
        ('{"type": "set", "settings": {"width": 3}}', "The settings must map each setting's name to its text"),
    ]
    with client.websocket_connect("/ws?width=4") as ws:
        _opened(ws)
        ws.send_json({"type": "step", "count": 3})
        assert _next(ws, "frame")["step"] == 3
        for raw, message in bad:
            ws.send_text(raw)
            reply = ws.receive_json()
            assert reply["type"] == "error" and reply["message"].startswith(message), raw
            assert "\n" not in reply["message"]
        ws.send_bytes(b"\x00")
        assert ws.receive_json()["message"].startswith("A message must be JSON text")
        ws.send_json({"type": "step", "count": 2})
        frame = _next(ws, "frame")
        assert frame["step"] == 5 and frame["layers"][0][0]["units"] == 4  # the same run, two steps on


def test_set_sends_the_config_then_a_frame_of_the_fresh_run_and_reset_starts_again(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        _, first = _opened(ws)
        ws.send_json({"type": "step", "count": 10})
        _next(ws, "frame")
        ws.send_json({"type": "set", "settings": {"weights": "too small", "width": "5", "seed": "3"}})
        config, frame = ws.receive_json(), ws.receive_json()
        assert config["type"] == "config" and config["query"] == "width=5&weights=too%20small&seed=3"
        assert config["starts"][0]["weights"] == REGIMES["too small"] and config["layer_dims"] == [2, 5, 5, 1]
        assert frame["type"] == "frame" and frame["step"] == 0
        ws.send_json({"type": "step", "count": 4})
        _next(ws, "frame")
        ws.send_json({"type": "reset"})
        again, fresh = ws.receive_json(), ws.receive_json()
        assert again == config and fresh["step"] == 0 and fresh["cost"] == frame["cost"]
        assert fresh["cost"] != first["cost"]


def test_set_while_playing_starts_the_fresh_run_playing(client: TestClient) -> None:
    with client.websocket_connect("/ws") as ws:
        _opened(ws)
        ws.send_json({"type": "play"})
        assert _next(ws, "frame")["playing"] is True
        ws.send_json({"type": "set", "settings": {"width": "3"}})
        config = _next(ws, "config")
        assert config["layer_dims"] == [2, 3, 3, 1]
        first = ws.receive_json()
        assert first["type"] == "frame" and first["step"] == 0
        later = ws.receive_json()
        assert later["playing"] is True and later["step"] == 10
        ws.send_json({"type": "pause"})


def test_two_sockets_see_their_own_runs_and_a_closed_one_is_forgotten(client: TestClient) -> None:
    with client.websocket_connect("/ws?seed=1") as one, client.websocket_connect("/ws?seed=2&weights=zero") as two:
        _opened(one)
        _opened(two)
        live = client.get("/api/sessions").json()["sessions"]
        assert sorted(s["query"] for s in live) == ["seed=1", "weights=zero&seed=2"]
        one.send_json({"type": "step", "count": 7})
        two.send_json({"type": "step", "count": 3})
        a, b = _next(one, "frame"), _next(two, "frame")
        assert (a["step"], b["step"]) == (7, 3)
    for texts, steps, frame in (({"seed": "1"}, 7, a), ({"seed": "2", "weights": "zero"}, 3, b)):
        alone = Session(texts)  # the same run by itself: the other socket changed nothing in it
        alone.advance(steps)
        assert frame["cost"] == alone.frame()["cost"]
    assert a["cost"] != b["cost"]
    _until(lambda: client.get("/api/sessions").json() == {"sessions": []})


def test_closing_the_socket_stops_its_training_and_forgets_it(client: TestClient) -> None:
    app_sessions = client.app.state.sessions  # type: ignore[attr-defined]
    with client.websocket_connect("/ws?width=16&depth=4") as ws:
        _opened(ws)
        ws.send_json({"type": "speed", "steps_per_frame": 100})
        ws.send_json({"type": "play"})
        _next(ws, "frame")
        (live,) = app_sessions.values()
        assert client.get("/api/sessions").json()["sessions"][0]["playing"] is True
    _until(lambda: client.get("/api/sessions").json() == {"sessions": []})
    step = live.session.step
    time.sleep(0.3)
    assert live.session.step == step and live.stop.is_set()  # no step after the close


def test_a_bad_query_or_a_full_server_refuses_the_handshake(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    for query in ("width=0", "nope=1", "seed=1&seed=2"):
        with pytest.raises(WebSocketDisconnect), client.websocket_connect(f"/ws?{query}") as ws:
            ws.receive_json()
    import initlab.explorer._app as app_module

    monkeypatch.setattr(app_module, "MAX_SESSIONS", 1)
    with client.websocket_connect("/ws") as ws:
        _opened(ws)
        with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws") as other:
            other.receive_json()
    _until(lambda: client.get("/api/sessions").json() == {"sessions": []})


# --- initlab explore -----------------------------------------------------------------------------


def test_the_commands_defaults_are_the_explorers() -> None:
    from initlab.cli import _explore_cmd

    assert (_explore_cmd.DEFAULT_HOST, _explore_cmd.DEFAULT_PORT) == (DEFAULT_HOST, DEFAULT_PORT)


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["explore", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (
            ["--port", "70000"],
            "error: initlab explore: --port must be an int from 0 to 65535 (0 = any free port). Got 70000.\n",
        ),
        (
            ["--port", "-1"],
            "error: initlab explore: --port must be an int from 0 to 65535 (0 = any free port). Got -1.\n",
        ),
        (["--port", "http"], "error: initlab explore: argument --port: invalid int value: 'http'\n"),
        (
            ["--host", "no-such-host.invalid", "--port", "0"],
            "error: The --host of initlab explore must be a host "
            "name or address of this machine. Got 'no-such-host.invalid', which does not resolve",
        ),
        (["--host", ""], "error: The --host of initlab explore must be a host name or address. Got ''.\n"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(argv: list[str], line: str) -> None:
    code, out, err = _run(*argv, "--no-browser")
    assert code == 2 and out == ""
    assert err.startswith(line) and err.count("\n") == 1


def test_a_port_in_use_is_one_line_naming_port_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = _run("--port", str(port), "--no-browser")
    assert code == 2 and out == ""
    assert err == (f"error: The --port {port} of initlab explore is in use on 127.0.0.1 (another program, or another "
                   "initlab explore): choose another with --port, or --port 0 for any free port.\n")  # fmt: skip


@pytest.mark.parametrize(("sig", "name"), [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_a_real_server_prints_its_address_serves_and_stops_on_a_signal(sig: signal.Signals, name: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "initlab", "explore", "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "error::DeprecationWarning"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("initlab explorer: http://127.0.0.1:") and line.endswith("/\n"), line
        url = line.split(": ", 1)[1].strip()
        page = httpx.get(url, timeout=30)
        assert page.status_code == 200 and page.text == (STATIC / "index.html").read_text(encoding="utf-8")
        assert httpx.get(url + "?width=0", timeout=30).status_code == 400
        for _ in range(5):  # pages that leave while frames are on their way: no error in the server's log
            with connect(url.replace("http://", "ws://") + "ws?seeds=2", max_size=None, open_timeout=120) as ws:
                assert json.loads(ws.recv())["type"] == "config"
                ws.send('{"type": "play"}')
                while json.loads(ws.recv())["step"] < 20:
                    pass
                ws.send('{"type": "pause"}')
        _until(lambda: httpx.get(url + "api/sessions", timeout=30).json() == {"sessions": []})
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert out == "" and err == f"initlab explorer: stopped by {name}.\n"  # no traceback, no warning, no log
