"""The HTML pages: the deal list, a deal, the health page, the login form.

Server-rendered (they work without JavaScript: the filter form is a GET form, the sort
headers and the pager are links); ``static/app.js`` adds the detail drawer and draws
the charts.  The pages read through the same functions as the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from keepa_deals import __version__
from keepa_deals.web import api, charts, forms, history, listing, searches, series
from keepa_deals.web import health as health_mod
from keepa_deals.web.access import (
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    safe_next,
    session_value,
    token_matches,
)
from keepa_deals.web.context import WebContext
from keepa_deals.web.listing import SORTS, SortKey

router = APIRouter(include_in_schema=False)

#: Domain id → (currency symbol, minor units per major unit).
CURRENCIES: dict[int, tuple[str, int]] = {
    1: ("$", 100), 2: ("£", 100), 3: ("€", 100), 4: ("€", 100), 5: ("¥", 1), 6: ("C$", 100),
    8: ("€", 100), 9: ("€", 100), 10: ("₹", 100), 11: ("MX$", 100), 12: ("R$", 100),
}
#: Windows offered on the health page (hours).
WINDOWS = (6, 24, 24 * 7, 24 * 30)

COLUMNS: tuple[tuple[str, SortKey | None, str], ...] = (
    ("Deal", None, "title"),
    ("Price", SortKey.PRICE, "num"),
    ("% below avg", SortKey.BELOW_AVG, "num wide"),
    ("Profit", SortKey.PROFIT, "num"),
    ("ROI", SortKey.ROI, "num"),
    ("Margin", SortKey.MARGIN, "num wide"),
    ("Sales rank", SortKey.RANK, "num mid"),
    ("Drops 30 d", SortKey.DROPS_30, "num wide"),
    ("Drops 90 d", SortKey.DROPS_90, "num wide"),
    ("Last seen", SortKey.LAST_SEEN, "num wide"),
    # Risk signals, and the row's actions.
    ("Sales / mo", SortKey.SALES, "num mid"),
    ("Risks", None, "risks wide"),
    ("Price since", None, "num wide"),
    ("Act", None, "act"),
)


def money(cents: int | None, domain: int = 1) -> str:
    if cents is None:
        return "–"
    symbol, minor = CURRENCIES.get(domain, ("$", 100))
    sign = "−" if cents < 0 else ""
    amount = abs(cents) / minor
    return f"{sign}{symbol}{amount:,.0f}" if minor == 1 else f"{sign}{symbol}{amount:,.2f}"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} %" if abs(value) >= 100 else f"{value:,.1f} %"


def cents(value: int | None, domain: int = 1) -> str:
    """Money to the cent, always (the profit's breakdown)."""
    if value is None:
        return "–"
    symbol, minor = CURRENCIES.get(domain, ("$", 100))
    sign = "−" if value < 0 else ""
    if minor == 1:
        return f"{sign}{symbol}{abs(value):,}"
    return f"{sign}{symbol}{abs(value) // 100:,}.{abs(value) % 100:02d}"


def percent2(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f} %"


def number(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def when(value: datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "never"
    seconds = (now - value).total_seconds()
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit} ago"
    return f"{seconds:.0f} s ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


ENV = Environment(
    loader=PackageLoader("keepa_deals.web", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(money=money, percent=percent, number=number, when=when, duration=duration,
                   cents=cents, percent2=percent2)
ENV.globals.update(version=__version__, ago=ago)


def render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    values.setdefault("signed_in", _has_token(request))
    html = ENV.get_template(template).render(request=request, **values)
    return HTMLResponse(html, status_code=status)


def _has_token(request: Request) -> bool:
    return request.app.state.web.settings.web_token is not None


#: The filter form's category list is re-read at most this often.
CATEGORIES_TTL_S = 60.0


def _categories(ctx: WebContext) -> list[Any]:
    with ctx.read() as conn:
        return listing.categories(conn, ctx.definition, ctx.now())


@router.get("/", response_class=HTMLResponse)
def deals_page(request: Request) -> HTMLResponse:
    ctx = api.context(request)
    form = forms.parse(dict(request.query_params))
    cats = ctx.cached("categories", CATEGORIES_TTL_S, lambda: _categories(ctx))
    if form.request is None:
        return render(request, "deals.html", 422, form=form, page=None, categories=cats,
                      columns=COLUMNS, sort_links={}, forms=forms)
    page = api.deal_page(ctx, form.request)
    sort_links = {key: forms.sort_link(form.values, form.request, key) for key in SORTS}
    return render(request, "deals.html", form=form, page=page, categories=cats, columns=COLUMNS,
                  sort_links=sort_links, forms=forms, now=ctx.now(),
                  searches=searches.panel(ctx, form))


@router.get("/deals/{asin}", response_class=HTMLResponse)
def deal_page(request: Request, asin: str) -> HTMLResponse:
    ctx = api.context(request)
    domain_raw = request.query_params.get("domain", "")
    partial = request.query_params.get("partial") == "1"
    domain = int(domain_raw) if domain_raw.isdigit() and 1 <= int(domain_raw) <= 12 else None
    valid = len(asin) == 10 and asin.isascii() and asin.isalnum()
    row = None
    if valid:
        with ctx.read() as conn:
            row = listing.find_deal(conn, asin.upper(), domain)
    template = "deal_partial.html" if partial else "deal.html"
    if row is None:
        return render(request, template, 404, deal=None, asin=asin.upper()[:10])
    deal = api.deal_detail(ctx, row)
    with ctx.read() as conn:
        past = history.page_values(conn, deal, ctx.now())
    return render(request, template, deal=deal, now=ctx.now(), **past)


@router.get("/health", response_class=HTMLResponse)
def health_page(request: Request) -> HTMLResponse:
    ctx = api.context(request)
    raw = request.query_params.get("hours", "24")
    hours = int(raw) if raw.isdigit() and int(raw) in WINDOWS else 24
    snap, error = ctx.snapshot()
    report = health_mod.health(ctx, (snap, error))
    now = ctx.now()
    with ctx.read() as conn:
        window = series.Window.last(now, hours)
        tokens = series.token_series(conn, window, floor=ctx.settings.budget_floor,
                                     snapshot=snap, now=now)
        deals = series.deal_series(conn, window, current=report.deals.count)
    return render(request, "health.html", health=report, hours=hours, windows=WINDOWS,
                  token_json=tokens.model_dump(mode="json"),
                  deal_json=deals.model_dump(mode="json"), now=now,
                  health_status=charts.status(report),
                  token_verdict=charts.token_trend(tokens, report.tokens.projected),
                  deal_verdict=charts.deal_trend(deals, hours))


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    if not _has_token(request):
        return RedirectResponse("/", status_code=303)
    return render(request, "login.html", next=safe_next(request.query_params.get("next")),
                  error=None, signed_in=False)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    token = request.app.state.web.settings.web_token
    if token is None:
        return RedirectResponse("/", status_code=303)
    body = (await request.body())[:4096].decode("utf-8", "replace")
    fields = {k: v[0] for k, v in parse_qs(body).items()}
    target = safe_next(fields.get("next"))
    if not token_matches(token, fields.get("token", "")):
        return render(request, "login.html", 401, next=target, signed_in=False,
                      error="That is not the access token.")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE, session_value(token), max_age=SESSION_MAX_AGE_S, httponly=True,
        samesite="strict", secure=request.url.scheme == "https", path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
