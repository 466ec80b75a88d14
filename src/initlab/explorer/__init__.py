"""The explorer: a live web page where a learner watches the start of a network decide its training.

``initlab explore`` serves it (:func:`serve`, Starlette on uvicorn); each browser tab gets its
own :class:`Session`, one run of the ``train`` experiment trained on the engine's numpy path,
streamed to the page as ``config`` and ``frame`` messages over a WebSocket.  The page itself
(``static/``: index.html, app.js, style.css) ships inside the package: no CDN, no build step.

Web libraries are imported only when the server is made (:func:`make_app`, :func:`serve`), so
``import initlab.explorer`` stays light.
"""

from __future__ import annotations

from ._app import FRAME_INTERVAL, MAX_SESSIONS, STATIC, make_app
from ._server import DEFAULT_HOST, DEFAULT_PORT, bind, serve
from ._session import MAX_STEP_COUNT, SPEEDS, Session, check_texts, describe, setting_texts

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "FRAME_INTERVAL",
    "MAX_SESSIONS",
    "MAX_STEP_COUNT",
    "SPEEDS",
    "STATIC",
    "Session",
    "bind",
    "check_texts",
    "describe",
    "make_app",
    "serve",
    "setting_texts",
]
