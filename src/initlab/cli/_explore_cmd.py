"""``initlab explore``: serve the explorer page until Ctrl-C.

Once the server listens it prints one line, ``initlab explorer: http://HOST:PORT/``, on
stdout (flushed, so a script or a test can read the address; ``--port 0`` picks a free
port), then opens the page in the browser unless ``--no-browser``.  Ctrl-C and SIGTERM
stop it: stopping is how a server ends, so the exit code is 0, with one line on stderr
saying what stopped it.  A port in use or a bad ``--host`` is bad input: one line, exit 2.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from ._checks import UsageError, int64

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "add_parser", "explore"]

WHERE = "initlab explore"
#: the defaults of --host and --port: initlab.explorer's DEFAULT_HOST and DEFAULT_PORT, written out so that
#: building the parser imports no explorer code (a test checks that they agree)
DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8765


def add_parser(sub: Any) -> None:
    """The ``explore`` subcommand's arguments, on the subparsers object ``sub`` of the ``initlab`` parser."""
    e = sub.add_parser(
        "explore",
        help="the live explorer page: train a small net in the browser and watch its start decide",
        description="Serve the explorer on http://HOST:PORT/ (this machine only by default) and open it in the "
        "browser.  Every run's settings live in the page's URL.  Stop with Ctrl-C.",
    )
    e.add_argument("--port", type=int64, default=DEFAULT_PORT, metavar="N",
                   help=f"the port to serve on (default {DEFAULT_PORT}; 0 = any free port)")  # fmt: skip
    e.add_argument("--host", default=DEFAULT_HOST, metavar="H",
                   help=f"the address to serve on (default {DEFAULT_HOST}, this machine only)")  # fmt: skip
    e.add_argument("--no-browser", action="store_true", help="do not open the page in a browser")


def explore(args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    """Check --port, bind, print the address when listening, serve until a signal stops it."""
    from ..explorer import serve

    if not 0 <= args.port <= 65535:
        raise UsageError(f"{WHERE}: --port must be an int from 0 to 65535 (0 = any free port). Got {args.port}.")

    def ready(url: str) -> None:
        print(f"initlab explorer: {url}", file=out, flush=True)

    stopped_by = serve(args.host, args.port, open_browser=not args.no_browser, on_ready=ready)
    if stopped_by is not None:
        why = "Ctrl-C" if stopped_by == "SIGINT" else stopped_by
        print(f"initlab explorer: stopped by {why}.", file=err, flush=True)
