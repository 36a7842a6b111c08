"""create_app: the dashboard as one ASGI app (FastAPI), to serve or to mount.

::

    app = create_app(settings)                                  # opens its own engine, budget
    app = create_app(settings, engine=store.engine, budget=mgr) # shares the worker's
    uvicorn.run(app)            # or keepa_deals.web.server.WebServer(app).start()

Passed-in parts are not closed by the app; parts it opened are closed when
:func:`close_app` is called (``keepa-deals serve`` does).
"""

from __future__ import annotations

import enum
import logging
from importlib import resources
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from keepa_deals import __version__
from keepa_deals.clock import SYSTEM_CLOCK, Clock
from keepa_deals.deals_view import DealDefinition
from keepa_deals.errors import KeepaDealsError
from keepa_deals.settings import Settings
from keepa_deals.store.engine import engine_from_settings
from keepa_deals.store.errors import SchemaNotCurrent, StoreError
from keepa_deals.web import api, pages, searches
from keepa_deals.web.access import AccessMiddleware
from keepa_deals.web.alerts import AlertSource, CachedAlerts, doctor_source
from keepa_deals.web.context import WebContext

if TYPE_CHECKING:
    from keepa_deals.budget.manager import TokenManager

log = logging.getLogger(__name__)

class _Default(enum.Enum):
    """The argument was not given: open the default one."""

    OPEN = "open"


DEFAULT = _Default.OPEN

#: The page may load its own scripts, styles and Amazon's product images; nothing else.
CSP = ("default-src 'self'; img-src 'self' data: https://m.media-amazon.com "
       "https://images-na.ssl-images-amazon.com; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    budget: TokenManager | None | _Default = DEFAULT,
    clock: Clock | None = None,
    definition: DealDefinition | None = None,
    alerts: AlertSource | None | _Default = DEFAULT,
) -> FastAPI:
    """The dashboard for ``settings``.

    ``engine``: the deal store's (default: a new one from the settings).  ``budget``: a
    TokenManager to read snapshots from (default: ``open_budget(settings)``; None: no
    budget).  ``clock``: for tests.  ``definition``: what counts as a deal (default: from
    the settings).  ``alerts``: an alert source (default: the doctor's checks; None:
    none).  Nothing is opened until this is called, and nothing is written but the
    saved searches and alerts (``/api/searches``, web/searches.py).
    """
    clock = clock or SYSTEM_CLOCK
    owns_engine = engine is None
    if engine is None:
        engine = engine_from_settings(settings)
    owns_budget = budget is DEFAULT
    budget_error = None
    if isinstance(budget, _Default):
        budget, budget_error = _open_budget(settings, clock)
    if isinstance(alerts, _Default):
        source = doctor_source(settings, engine, budget, clock)
        alerts = CachedAlerts(source, clock) if source is not None else None
    ctx = WebContext(
        settings=settings, engine=engine, clock=clock,
        definition=definition or DealDefinition.from_settings(settings), budget=budget,
        budget_error=budget_error, alerts=alerts, owns_engine=owns_engine,
        owns_budget=owns_budget,
    )
    app = FastAPI(
        title="keepa-deals dashboard",
        version=__version__,
        description="The deal store and the token budget (read-only), and saved searches.",
        openapi_url="/api/openapi.json",
        docs_url=None,  # Swagger UI loads from a CDN; the machine may have no internet
        redoc_url=None,
    )
    app.state.web = ctx
    app.include_router(api.router)
    app.include_router(searches.router)  # saved searches and alerts (docs/alerts.md)
    app.include_router(pages.router)
    static = resources.files("keepa_deals.web") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    _install_handlers(app)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.setdefault("content-security-policy", CSP)
        response.headers.setdefault("x-content-type-options", "nosniff")
        response.headers.setdefault("referrer-policy", "no-referrer")
        response.headers.setdefault("x-frame-options", "DENY")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("cache-control", "no-store")
        return response

    app.add_middleware(AccessMiddleware, token=settings.web_token)
    return app


def close_app(app: FastAPI) -> None:
    """Close what :func:`create_app` opened (not what was passed in)."""
    ctx: WebContext = app.state.web
    ctx.close()


def _open_budget(settings: Settings, clock: Clock) -> tuple[TokenManager | None, str | None]:
    from keepa_deals.budget import open_budget

    try:
        return open_budget(settings, clock=None if clock is SYSTEM_CLOCK else clock), None
    except KeepaDealsError as exc:
        log.warning("dashboard: cannot open the token budget: %s", exc)
        return None, str(exc)


def _wants_html(request: Request) -> bool:
    """Pages answer errors with a page, the API with JSON."""
    return not request.url.path.startswith("/api")


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [_clean(e) for e in exc.errors()]
        message = "; ".join(_describe(e) for e in errors)
        return JSONResponse({"detail": errors, "message": message}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_html(request):
            return _error_page(request, exc.status_code, str(exc.detail))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(StoreError)
    async def _store(request: Request, exc: StoreError) -> Response:
        # The database is down, busy past its timeout, or at another schema: the
        # dashboard cannot answer, and says why (503, not a crash).
        if not isinstance(exc, SchemaNotCurrent):
            log.warning("dashboard: %s", exc)
        if _wants_html(request):
            return _error_page(request, 503, str(exc))
        return JSONResponse({"detail": str(exc)}, status_code=503)


def _error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    return pages.render(request, "error.html", status, code=status, detail=detail)


def _clean(error: Any) -> dict[str, Any]:
    """A validation error as JSON (pydantic's context may hold an exception object)."""
    out = {k: v for k, v in dict(error).items() if k in ("type", "loc", "msg", "input")}
    if isinstance(out.get("input"), dict | bytes):  # the whole query, or a body not JSON
        out.pop("input")
    return out


def _describe(error: dict[str, Any]) -> str:
    loc = [str(p) for p in error.get("loc", ())]
    if loc and loc[0] in ("query", "path", "body"):
        loc = loc[1:]
    msg = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") == "extra_forbidden":
        return f"{'.'.join(loc)}: unknown parameter"
    return f"{'.'.join(loc)}: {msg}" if loc else msg
