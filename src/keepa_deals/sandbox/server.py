"""Serving the sandbox over real HTTP with uvicorn.

:class:`SandboxServer` runs it in a background thread on a free port (tests,
the demo); :func:`serve` runs it in the foreground (``keepa-deals sandbox``).
Either way the socket is bound before uvicorn starts, so the URL is known
at once, and the server keeps no access log (URLs carry keys).
"""

from __future__ import annotations

from collections.abc import Callable

from keepa_deals.sandbox.app import create_sandbox_app
from keepa_deals.sandbox.sandbox import Sandbox
from keepa_deals.serving import BackgroundServer, serve_foreground


class SandboxServer(BackgroundServer):
    """The sandbox on ``127.0.0.1`` and a free port, in a background thread.

    ::

        with SandboxServer(Sandbox(clock=FakeClock())) as server:
            httpx.get(f"{server.url}/token", params={"key": DEMO_KEY})
            server.sandbox.clock.advance(60_000)

    ``server.sandbox`` can be replaced while it runs: a test suite can share
    one server and give each test a fresh :class:`Sandbox`.
    """

    what = "the sandbox server"

    def __init__(
        self,
        sandbox: Sandbox | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout_s: float = 10.0,
    ) -> None:
        super().__init__(create_sandbox_app(sandbox if sandbox is not None else Sandbox()),
                         host=host, port=port, startup_timeout_s=startup_timeout_s)

    @property
    def sandbox(self) -> Sandbox:
        """The sandbox being served."""
        sb: Sandbox = self.app.state.sandbox
        return sb

    @sandbox.setter
    def sandbox(self, sandbox: Sandbox) -> None:
        self.app.state.sandbox = sandbox


def serve(
    sandbox: Sandbox,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    on_ready: Callable[[str], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Serve ``sandbox`` in the foreground until interrupted (SIGINT/SIGTERM)."""
    serve_foreground(create_sandbox_app(sandbox), host=host, port=port, on_ready=on_ready,
                     log_level=log_level)
