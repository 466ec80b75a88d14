"""The explorer's web application (Starlette): the page, its assets, a small JSON API and one WebSocket per run.

Routes:

- ``GET /?<settings>``: the page, when the query's setting texts make a valid ``train`` config;
  otherwise HTTP 400 with a small page that shows the one-line reason and a link to ``/``.
- ``GET /static/...``: the page's assets, shipped inside the package.
- ``GET /api/settings``: the declared ``train`` settings (with the explorer's limits) and the names the controls
  offer.
- ``GET /api/check?<settings>``: ``{"ok": true, "command", "python"}`` or 400 ``{"ok": false, "error"}``.
- ``GET /api/sessions``: the live sessions (id, step, playing, query).
- ``WS /ws?<settings>``: one :class:`~initlab.explorer._session.Session` per connection.  A bad query
  (or a full server) refuses the handshake; closing the socket stops the run and forgets it.

The WebSocket loop never ends on a bad message: it answers ``{"type": "error", "message"}``
and the run goes on unchanged.  Training and frames run in a worker thread, one per
session, so the event loop only moves messages.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._validation import InitlabError, InitlabValueError, check_int, closest, shown
from ._session import MAX_STEP_COUNT, SPEEDS, Session, check_texts, describe, explorer_settings

__all__ = ["FRAME_INTERVAL", "MAX_SESSIONS", "STATIC", "make_app"]

#: Worker threads computing for all sessions together (training chunks and frames; each session's work stays in
#: order).  The engine's small numpy calls hold the interpreter lock, so more threads only fight over it.
COMPUTE_THREADS = 1
#: The page's assets (index.html, app.js, style.css), shipped in the wheel.
STATIC = Path(__file__).parent / "static"
#: The most sessions (open sockets) one server keeps; a further handshake is refused.
MAX_SESSIONS = 64
#: Seconds between two frames of a playing session at least (25 frames per second at most).
FRAME_INTERVAL = 1 / 25
#: The default steps per frame while playing.
DEFAULT_SPEED = 10
#: The longest client message read (a "set" of every setting is well under 2 kB).
MAX_MESSAGE = 64_000

MESSAGE_TYPES = ("play", "pause", "step", "reset", "speed", "set")


def _texts(items: list[tuple[str, str]]) -> dict[str, str]:
    """Setting texts from a query's (key, value) pairs; a key given twice is an error."""
    texts: dict[str, str] = {}
    for key, value in items:
        if key in texts:
            raise InitlabValueError(f"Each setting may be given once in the URL. Got {key!r} twice.")
        texts[key] = value
    return texts


@dataclass
class _Live:
    """A session as the server holds it: the run, whether it plays, its speed, and its stop signal."""

    id: str
    session: Session
    playing: bool = False
    speed: int = DEFAULT_SPEED
    stop: threading.Event = field(default_factory=threading.Event)


class _Refused(Exception):
    """A client message that is not understood; its text is the one-line reply."""


def _dumps(message: Mapping[str, Any]) -> str:
    """Strict JSON (a NaN would make the browser's JSON.parse fail; the session sends None instead)."""
    return json.dumps(message, allow_nan=False, separators=(",", ":"))


def _error_page(message: str) -> str:
    text = html.escape(message)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>initlab explorer: bad settings</title>"
        "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem}"
        "p.error{color:#D55E00;font-weight:600}</style></head><body>"
        "<h1>initlab explorer</h1><p>These settings cannot make a run:</p>"
        f'<p class="error" id="error">{text}</p>'
        '<p><a href="/">Start again from the defaults</a></p></body></html>\n'
    )


def _parse(raw: str | None) -> dict[str, Any]:
    """A client message, checked: its type and the argument that type takes."""
    if raw is None:
        raise _Refused('A message must be JSON text such as {"type": "play"}. Got a binary message instead.')
    if len(raw) > MAX_MESSAGE:
        raise _Refused(f"A message must be at most {MAX_MESSAGE} characters. Got {len(raw)}.")
    try:
        message = json.loads(raw)
    except ValueError:
        raise _Refused(
            f'A message must be a JSON object such as {{"type": "play"}}. Got {shown(raw)} instead.'
        ) from None
    if not isinstance(message, dict):
        raise _Refused(f'A message must be a JSON object such as {{"type": "play"}}. Got {shown(message)} instead.')
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        near = closest(kind, MESSAGE_TYPES) if isinstance(kind, str) else None
        hint = f" Did you mean {near!r}?" if near else ""
        raise _Refused(f"The 'type' of a message must be one of {', '.join(map(repr, MESSAGE_TYPES))}. "
                       f"Got {shown(kind)} instead.{hint}")  # fmt: skip
    try:
        if kind == "step":
            message["count"] = check_int(message.get("count", 1), "count", "the step message", low=1,
                                         high=MAX_STEP_COUNT)  # fmt: skip
        elif kind == "speed":
            k = message.get("steps_per_frame")
            if isinstance(k, bool) or k not in SPEEDS:
                raise _Refused(f"The 'steps_per_frame' of the speed message must be one of "
                               f"{', '.join(map(str, SPEEDS))}. Got {shown(k)} instead.")  # fmt: skip
        elif kind == "set" and not isinstance(message.get("settings"), dict):
            raise _Refused(f"The 'settings' of the set message must be an object of setting: text. "
                           f"Got {shown(message.get('settings'))} instead.")  # fmt: skip
    except InitlabError as e:
        raise _Refused(str(e)) from None
    return message


def make_app() -> Any:
    """A fresh Starlette application with its own session registry."""
    import anyio
    from starlette import websockets
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
    from starlette.routing import Mount, Route, WebSocketRoute
    from starlette.staticfiles import StaticFiles
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from .. import initializers
    from ..engine import OPTIMIZERS
    from ..experiments import REGIMES

    sessions: dict[str, _Live] = {}
    shared: dict[str, Any] = {}
    # a send after the page left raises one of these (starlette before 1.0 raised a plain RuntimeError)
    gone = (WebSocketDisconnect, getattr(websockets, "WebSocketDisconnected", RuntimeError))

    async def page(request: Request) -> Response:
        try:
            texts = _texts(request.query_params.multi_items())
            if texts:
                await anyio.to_thread.run_sync(check_texts, texts)
        except InitlabError as e:
            return HTMLResponse(_error_page(str(e)), status_code=400)
        index = STATIC / "index.html"
        if not index.is_file():
            return PlainTextResponse("initlab explorer: the page's index.html is missing from the package.", 500)
        return HTMLResponse(index.read_text(encoding="utf-8"), headers={"Cache-Control": "no-cache"})

    def _setting(s: Any) -> dict[str, Any]:
        def number(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else x

        return {"name": s.name, "type": s.type, "default": s.default, "help": s.help, "low": number(s.low),
                "high": number(s.high), "low_open": s.low_open,
                "choices": None if s.choices is None else list(s.choices)}  # fmt: skip

    async def api_settings(request: Request) -> Response:
        declared = explorer_settings()  # the train settings, with the explorer's smaller limits
        by_name = {s.name: s for s in declared}
        return JSONResponse({
            "settings": [_setting(s) for s in declared],
            "regimes": dict(REGIMES),
            "schemes": initializers.names(),
            "bias_policies": list(initializers.BIASES),
            "activations": list(by_name["activation"].choices or ()),
            "datasets": list(by_name["dataset"].choices or ()),
            "optimizers": list(OPTIMIZERS),
            "speeds": list(SPEEDS),
        })  # fmt: skip

    async def api_check(request: Request) -> Response:
        try:
            texts = _texts(request.query_params.multi_items())
            command, python = await anyio.to_thread.run_sync(describe, texts)
        except InitlabError as e:
            return JSONResponse({"ok": False, "error": str(e)}, status_code=400)
        return JSONResponse({"ok": True, "command": command, "python": python})

    async def api_sessions(request: Request) -> Response:
        rows = [{"id": live.id, "step": live.session.step, "playing": live.playing, "query": live.session.query()}
                for live in list(sessions.values())]  # fmt: skip
        return JSONResponse({"sessions": rows})

    async def socket(websocket: WebSocket) -> None:
        try:
            texts = _texts(websocket.query_params.multi_items())
            if len(sessions) >= MAX_SESSIONS:
                raise InitlabValueError(f"The explorer serves at most {MAX_SESSIONS} sessions at once.")
            session = await anyio.to_thread.run_sync(Session, texts)
        except InitlabError:
            await websocket.close(code=1008)  # before accept: the handshake is refused (HTTP 403)
            return
        await websocket.accept()
        live = _Live(uuid.uuid4().hex[:12], session)
        sessions[live.id] = live
        if "compute" not in shared:  # made here: a limiter belongs to the running event loop
            shared["compute"] = anyio.CapacityLimiter(COMPUTE_THREADS)
        limiter = shared["compute"]
        send, receive = anyio.create_memory_object_stream[str | None](256)  # the client's messages, in order

        async def work(fn: Any, *args: Any) -> Any:
            return await anyio.to_thread.run_sync(fn, *args, limiter=limiter)

        async def frame() -> None:
            await websocket.send_text(_dumps(await work(live.session.frame, live.playing)))

        async def config() -> None:
            await websocket.send_text(_dumps(await work(live.session.config_message)))

        async def handle(message: dict[str, Any]) -> None:
            kind = message["type"]
            if kind == "play":
                live.playing = True
            elif kind == "pause":
                live.playing = False
                await frame()  # the page learns at once that it stopped
            elif kind == "speed":
                live.speed = int(message["steps_per_frame"])
            elif kind == "step":
                live.playing = False
                await work(live.session.advance, message["count"], live.stop)
                await frame()
            elif kind == "reset":
                await work(live.session.reset)
                await config()
                await frame()
            elif kind == "set":
                await work(live.session.apply, message["settings"])
                await config()
                await frame()

        async def reply(raw: str | None) -> None:
            """Handle one client message; anything wrong with it is an error message, never the end of the loop."""
            try:
                await handle(_parse(raw))
            except (_Refused, InitlabError) as e:
                await websocket.send_text(_dumps({"type": "error", "message": str(e)}))
            except gone:
                raise
            except Exception as e:  # a bug must not end the session: say it, keep the run
                line = (str(e).strip().splitlines() or [""])[0][:200]
                await websocket.send_text(_dumps({"type": "error", "message":
                                                  f"internal error ({type(e).__name__}: {line})"}))  # fmt: skip

        async def drive() -> None:
            with contextlib.suppress(*gone):  # the page left while a message was on its way: the receiver ends it
                await play()

        async def play() -> None:
            await config()
            await frame()
            next_frame = 0.0
            while True:
                waiting, raw = True, None
                if live.playing:
                    try:  # a message already waiting is read first: when frames take longer than
                        raw = receive.receive_nowait()  # FRAME_INTERVAL, a zero timeout would cancel every receive
                        waiting = False
                    except anyio.WouldBlock:
                        with anyio.move_on_after(max(0.0, next_frame - time.monotonic())):
                            raw = await receive.receive()
                            waiting = False
                else:
                    raw = await receive.receive()
                    waiting = False
                if not waiting:
                    await reply(raw)
                    continue
                started = time.monotonic()
                await work(live.session.advance, live.speed, live.stop)
                await frame()
                next_frame = started + FRAME_INTERVAL

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(drive)
                try:
                    while True:
                        raw = await websocket.receive()
                        if raw["type"] == "websocket.disconnect":
                            break
                        await send.send(raw.get("text"))
                finally:
                    live.stop.set()  # the worker thread returns after its current engine call
                    group.cancel_scope.cancel()
        finally:
            sessions.pop(live.id, None)
            send.close()
            receive.close()

    async def server_error(request: Request, exc: Exception) -> Response:
        line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return PlainTextResponse(f"initlab explorer: internal error ({type(exc).__name__}: {line[:200]}).", 500)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse(f"initlab explorer: {exc.detail}", exc.status_code)

    routes = [
        Route("/", page),
        Route("/api/settings", api_settings),
        Route("/api/check", api_check),
        Route("/api/sessions", api_sessions),
        WebSocketRoute("/ws", socket),
        Mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={Exception: server_error, HTTPException: http_error})
    app.state.sessions = sessions
    return app
