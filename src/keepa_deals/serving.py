"""Serving an ASGI app with uvicorn: in a background thread, or in the foreground.

One implementation for the sandbox Keepa server, the dashboard and the health
app.  The socket is bound before uvicorn starts, so the URL is known at once
and a port in use fails here, clearly; no access log is kept (URLs may carry
keys); connections wait in the listen backlog until uvicorn accepts them.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import uvicorn

BACKLOG = 4096


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0: a free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only
    # then, and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def uvicorn_config(app: Any, log_level: str = "warning") -> uvicorn.Config:
    return uvicorn.Config(
        app, log_config=None, log_level=log_level, access_log=False, lifespan="off",
        ws="none", server_header=False, timeout_graceful_shutdown=2, backlog=BACKLOG,
    )


def serve_foreground(app: Any, *, host: str, port: int,
                     on_ready: Callable[[str], None] | None = None,
                     log_level: str = "warning") -> None:
    """Serve ``app`` until interrupted (SIGINT/SIGTERM); ``on_ready`` gets the URL once bound."""
    sock = bind(host, port)
    try:
        if on_ready is not None:
            on_ready(url_of(sock))
        uvicorn.Server(uvicorn_config(app, log_level)).run(sockets=[sock])
    finally:
        sock.close()


class BackgroundServer:
    """``app`` on ``host:port`` in a daemon thread; a context manager."""

    #: names the thread and the start-up error
    what = "the server"

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 startup_timeout_s: float = 10.0) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.startup_timeout_s = startup_timeout_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._url: str | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._url or 'stopped'})"

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        if self._url is None:
            raise RuntimeError(f"{self.what} is not running")
        return self._url

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._sock = bind(self.host, self.port)
        self._url = url_of(self._sock)
        self._server = uvicorn.Server(uvicorn_config(self.app))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]},
            name=f"keepa-deals {self.what} {self._url}", daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.what} did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        server, thread, sock = self._server, self._thread, self._sock
        self._server = self._thread = self._sock = None
        self._url = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(10)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(5)
        if sock is not None:
            sock.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
