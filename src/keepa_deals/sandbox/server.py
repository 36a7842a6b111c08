"""Serving the sandbox over real HTTP with uvicorn.

:class:`SandboxServer` runs it in a background thread on a free port (tests,
the demo); :func:`serve` runs it in the foreground (``keepa-deals sandbox``).
Either way the socket is bound before uvicorn starts, so the URL is known
at once, and the server keeps no access log (URLs carry keys).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from keepa_deals.sandbox.app import create_app
from keepa_deals.sandbox.sandbox import Sandbox


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only
    # then, and without it every response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(4096)  # connections wait in the backlog until uvicorn accepts them
    except OSError:
        sock.close()
        raise
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _config(app: Starlette, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_config=None,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        ws="none",
        server_header=False,
        timeout_graceful_shutdown=2,
        backlog=4096,
    )


class SandboxServer:
    """The sandbox on ``127.0.0.1`` and a free port, in a background thread.

    ::

        with SandboxServer(Sandbox(clock=FakeClock())) as server:
            httpx.get(f"{server.url}/token", params={"key": DEMO_KEY})
            server.sandbox.clock.advance(60_000)

    ``server.sandbox`` can be replaced while it runs: a test suite can share
    one server and give each test a fresh :class:`Sandbox`.
    """

    def __init__(
        self,
        sandbox: Sandbox | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout_s: float = 10.0,
    ) -> None:
        self._app = create_app(sandbox if sandbox is not None else Sandbox())
        self.host = host
        self.port = port
        self.startup_timeout_s = startup_timeout_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._url: str | None = None

    def __repr__(self) -> str:
        return f"SandboxServer({self._url or 'stopped'})"

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox being served."""
        sb: Sandbox = self._app.state.sandbox
        return sb

    @sandbox.setter
    def sandbox(self, sandbox: Sandbox) -> None:
        self._app.state.sandbox = sandbox

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        if self._url is None:
            raise RuntimeError("the sandbox server is not running")
        return self._url

    def start(self) -> SandboxServer:
        if self._server is not None:
            return self
        self._sock = _bind(self.host, self.port)
        self._url = _url(self._sock)
        self._server = uvicorn.Server(_config(self._app, "warning"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]},
            name=f"keepa-sandbox {self._url}", daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the sandbox server did not start")
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

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(
    sandbox: Sandbox,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[str], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve ``sandbox`` in the foreground until interrupted (SIGINT/SIGTERM)."""
    sock = _bind(host, port)
    try:
        if on_ready is not None:
            on_ready(_url(sock))
        uvicorn.Server(_config(create_app(sandbox), log_level)).run(sockets=[sock])
    finally:
        sock.close()
