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

from collections.abc import Callable
from typing import Any

from keepa_deals.serving import BackgroundServer, serve_foreground
from keepa_deals.settings import Settings
from keepa_deals.web.access import check_bind


class WebServer(BackgroundServer):
    """The dashboard on ``host:port`` (0: a free port) in a daemon thread.

    For ``keepa-deals run --web``: build the app on the worker's engine and budget,
    ``start()`` it, run the worker in the main thread, ``stop()`` at the end.
    """

    what = "the dashboard"

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0,
                 token: Any = None, startup_timeout_s: float = 10.0) -> None:
        check_bind(host, token if token is not None else _app_token(app))
        super().__init__(app, host=host, port=port, startup_timeout_s=startup_timeout_s)


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
    serve_foreground(app, host=host, port=port, on_ready=on_ready, log_level=log_level)
