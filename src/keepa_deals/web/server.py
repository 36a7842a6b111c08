"""Serving the dashboard with uvicorn: in the foreground, or in a background thread.

::

    serve(settings)                                    # keepa-deals serve
    with WebServer(create_app(settings, engine=..., budget=...)) as web:
        web.url                                        # keepa-deals run --web, tests

Both bind the socket before uvicorn starts (so the URL is known at once and a port
in use fails here, clearly), keep no access log and refuse a non-loopback address
without an access token.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn

from keepa_deals.settings import Settings
from keepa_deals.web.access import check_bind


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP: asyncio then sets TCP_NODELAY on accepted sockets (no delayed-ACK stalls).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(app: Any, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app, log_config=None, log_level=log_level, access_log=False, lifespan="off",
        ws="none", server_header=False, timeout_graceful_shutdown=3,
    )


class WebServer:
    """The dashboard on ``host:port`` (0: a free port) in a daemon thread.

    For ``keepa-deals run --web``: build the app on the worker's engine and budget,
    ``start()`` it, run the worker in the main thread, ``stop()`` at the end.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 token: Any = None, startup_timeout_s: float = 10.0) -> None:
        check_bind(host, token if token is not None else _app_token(app))
        self.app = app
        self.host = host
        self.port = port
        self.startup_timeout_s = startup_timeout_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._url: str | None = None

    def __repr__(self) -> str:
        return f"WebServer({self._url or 'stopped'})"

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the dashboard is not running")
        return self._url

    def start(self) -> WebServer:
        if self._server is not None:
            return self
        self._sock = bind(self.host, self.port)
        self._url = url_of(self._sock)
        self._server = uvicorn.Server(_config(self.app, "warning"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]},
            name=f"keepa-deals web {self._url}", daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the dashboard did not start")
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

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _app_token(app: Any) -> Any:
    web = getattr(getattr(app, "state", None), "web", None)
    return None if web is None else web.settings.web_token


def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    app: Any = None,
    on_ready: Callable[[str], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve the dashboard in the foreground until interrupted (ConfigError before binding
    when the address needs a token that is not set)."""
    host = settings.web_host if host is None else host
    port = settings.web_port if port is None else port
    check_bind(host, settings.web_token)
    if app is None:
        from keepa_deals.web.app import create_app

        app = create_app(settings)
    sock = bind(host, port)
    try:
        if on_ready is not None:
            on_ready(url_of(sock))  # bound: connections wait in the backlog until uvicorn runs
        uvicorn.Server(_config(app, log_level)).run(sockets=[sock])
    finally:
        sock.close()
