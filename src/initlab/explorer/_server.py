"""Serving the explorer: uvicorn on a socket bound here, BLAS held to one thread, Ctrl-C and SIGTERM a clean stop.

The socket is bound before uvicorn starts, so a port in use or a host that does not resolve
is an :class:`~initlab.InitlabValueError` (naming ``--port`` / ``--host``) rather than uvicorn's
log line and ``sys.exit``, and ``port=0`` is resolved to the free port the system chose
before anyone is told the address.
"""

from __future__ import annotations

import contextlib
import errno
import signal
import socket
import threading
import webbrowser
from collections.abc import Callable, Iterator
from typing import Any

from .._validation import InitlabValueError, check_int, shown

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "bind", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: Seconds a stop waits for the open pages' sockets to close before it closes them itself.
GRACEFUL_SECONDS = 3


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (``port=0``: any free port), not yet listening."""
    port = check_int(port, "port", "serve", low=0, high=65535)
    if not isinstance(host, str) or not host.strip():
        raise InitlabValueError(f"The --host of initlab explore must be a host name or address. Got {shown(host)}.")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]  # fmt: skip
    except (socket.gaierror, UnicodeError) as e:
        raise InitlabValueError(f"The --host of initlab explore must be a host name or address of this machine. "
                                f"Got {shown(host)}, which does not resolve ({e}).") from None  # fmt: skip
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart right after a stop may reuse it
        sock.bind(address)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise InitlabValueError(f"The --port {port} of initlab explore is in use on {host} (another program, or "
                                    "another initlab explore): choose another with --port, or --port 0 for any free "
                                    "port.") from None  # fmt: skip
        if e.errno in (errno.EACCES, errno.EPERM):
            raise InitlabValueError(f"The --port {port} of initlab explore needs privileges here: choose a port "
                                    "above 1023 with --port, or --port 0 for any free port.") from None  # fmt: skip
        raise InitlabValueError(f"The --host {host} of initlab explore cannot be served here ({e.strerror}): "
                                "use 127.0.0.1 or an address of this machine.") from None  # fmt: skip
    sock.set_inheritable(True)
    return sock


def _url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    return f"http://{shown_host}:{port}/"


@contextlib.contextmanager
def _blas_one_thread() -> Iterator[None]:
    """BLAS held to one thread for the server's lifetime: many small nets share few cores."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _warm_up() -> None:
    """Build (and forget) the default run once, so that its imports and data are loaded before a page asks."""
    from ._session import Session

    with contextlib.suppress(Exception):  # a page asking for the same run will say what is wrong
        Session()


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    open_browser: bool = True,
    on_ready: Callable[[str], None] | None = None,
) -> str | None:
    """Serve the explorer on ``host:port`` until Ctrl-C or SIGTERM; returns the name of the signal that stopped it.

    ``on_ready(url)`` is called once the server listens (``port=0`` shows the port chosen);
    then the page opens in the default browser unless ``open_browser`` is False.  A port in
    use or a bad host raises :class:`~initlab.InitlabValueError` before anything starts.
    """
    import uvicorn

    from ._app import make_app

    sock = bind(host, port)
    url = _url(host, sock)
    stopped_by: list[str] = []

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                # the first run imports the data generators (scikit-learn: seconds on a busy machine): do it now,
                # beside the server, rather than in the first page's handshake
                threading.Thread(target=_warm_up, name="initlab-explorer-warm-up", daemon=True).start()
                if on_ready is not None:
                    on_ready(url)
                if open_browser:  # in a thread: some browsers' launchers block until the window opens
                    threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises the signal after its shutdown; a stopped explorer has nothing left to report
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self._stop) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        def _stop(self, sig: int, frame: Any) -> None:
            stopped_by.append(signal.Signals(sig).name)
            self.handle_exit(sig, frame)

    # websockets-sansio: uvicorn's WebSocket implementation that raises no DeprecationWarning; no per-message
    # deflate: the page is local, and compressing each frame cost the event loop about 0.6 ms
    config = uvicorn.Config(make_app(), ws="websockets-sansio", ws_per_message_deflate=False, lifespan="off",
                            log_level="warning", access_log=False,
                            timeout_graceful_shutdown=GRACEFUL_SECONDS)  # fmt: skip
    try:
        with _blas_one_thread():
            Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return stopped_by[0] if stopped_by else None
