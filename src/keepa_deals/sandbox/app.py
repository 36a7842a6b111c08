"""The sandbox as an ASGI application (Starlette).

``/token``, ``/deal`` and ``/query`` (GET with ``selection=``, or POST with
the JSON body), ``/product``, ``/bestsellers``, ``/seller``, ``/category``
and ``/search``, each with and without a trailing slash; the admin
endpoints under ``/_sandbox/``; anything else is a 404 envelope, a wrong
method a 405 envelope, an unexpected failure a 500 envelope.
"""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from keepa_deals.sandbox.admin import admin_routes
from keepa_deals.sandbox.sandbox import Sandbox
from keepa_deals.sandbox.service import keepa_error, keepa_request
from keepa_deals.sandbox.wire import ApiError

log = logging.getLogger(__name__)

_METHODS = {
    "token": ["GET"],
    "deal": ["GET", "POST"],
    "product": ["GET"],
    "query": ["GET", "POST"],
    "bestsellers": ["GET"],
    "seller": ["GET"],
    "category": ["GET"],
    "search": ["GET"],
}


def _sandbox(request: Request) -> Sandbox:
    sb: Sandbox = request.app.state.sandbox
    return sb


def create_sandbox_app(sandbox: Sandbox) -> Starlette:
    """An ASGI app serving ``sandbox`` (``app.state.sandbox``, which may be swapped)."""

    def endpoint(name: str):  # type: ignore[no-untyped-def]
        async def handle(request: Request) -> Response:
            return await keepa_request(_sandbox(request), name, request)

        return handle

    routes = []
    for name, methods in _METHODS.items():
        handler = endpoint(name)
        routes.append(Route(f"/{name}", handler, methods=methods))
        routes.append(Route(f"/{name}/", handler, methods=methods))
    routes += admin_routes()

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        name = request.url.path.strip("/").split("/")[0]
        if exc.status_code == 405:
            err = ApiError(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed here.")
            return await keepa_error(_sandbox(request), request, err, name if name in _METHODS else "other")
        err = ApiError(exc.status_code, "NOT_FOUND", "No such endpoint.")
        return await keepa_error(_sandbox(request), request, err)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("sandbox request failed: %s", type(exc).__name__, exc_info=exc)
        err = ApiError(500, "INTERNAL_SERVER_ERROR", "An unexpected error occurred.")
        return await keepa_error(_sandbox(request), request, err)

    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: server_error},
    )
    app.state.sandbox = sandbox
    return app
