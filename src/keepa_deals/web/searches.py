"""Saved searches and alerts on the dashboard: ``GET/POST/DELETE /api/searches``.

A saved search is a name and a filter in the deal page's grammar
(:func:`keepa_deals.web.forms.parse_query`, page parameters refused), stored in the
deal store; with destinations (Apprise URLs) it is a deal alert, announced by
``keepa-deals run`` or the Celery ``keepa_deals.alerts`` task (docs/alerts.md).  The
presets are built in and cannot be deleted.  Destinations are secrets: the API
answers them masked, and never quotes one back in an error.

These are the dashboard's only writes.  They take a JSON body (``Content-Type:
application/json``), which a form on another site cannot send, and go through the
same access rules as every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_

from keepa_deals.store.alerting import SEARCH_NAME, AlertBook, SearchRecord, parse_quiet
from keepa_deals.store.destinations import masked, problem
from keepa_deals.store.errors import StoreError
from keepa_deals.store.store import DealStore
from keepa_deals.web.context import WebContext
from keepa_deals.web.forms import FilterError, ParsedForm, parse_query, to_query

router = APIRouter(prefix="/api")


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    filter_text: str
    hint: str


#: One-click starting points (the grammar of the filter form).
PRESETS: tuple[Preset, ...] = (
    Preset("Quick flips", "min_profit=5&min_roi=50&min_drops_30=4", "sells often, pays well"),
    Preset("High ROI", "min_roi=100", "doubles the money"),
    Preset("Best sellers", "max_rank=100000", "sales rank under 100,000"),
    Preset("Under $10", "max_price=10&min_profit=5", "cheap to buy"),
)


class SearchOut(BaseModel):
    name: str
    filter: str = Field(description="In the deal page's grammar (money in units).")
    url: str = Field(description="The deal page with this filter.")
    preset: bool
    alert: bool
    to: list[str] = Field(description="Destinations, masked.")
    digest_s: int | None
    quiet_hours: str | None
    created_at: datetime | None


class AlertIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Annotated[list[Annotated[str, Field(max_length=2000)]],
                  Field(min_length=1, max_length=10)]
    digest_s: Annotated[int, Field(ge=60, le=7 * 86400)] | None = None
    quiet_hours: Annotated[str, Field(max_length=11)] | None = None


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=SEARCH_NAME.pattern)]
    filter: Annotated[str, Field(max_length=2000)] = ""
    alert: AlertIn | None = None


def _ctx(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.web
    return ctx


def _book(ctx: WebContext) -> AlertBook:
    return AlertBook(DealStore(ctx.engine, clock=ctx.clock))


def _out(r: SearchRecord) -> SearchOut:
    return SearchOut(name=r.name, filter=r.filter_text, url="/?" + r.filter_text, preset=False,
                     alert=r.is_alert, to=[masked(u) for u in r.destinations],
                     digest_s=r.digest_s, quiet_hours=r.quiet_hours, created_at=r.created_at)


def _preset(p: Preset) -> SearchOut:
    return SearchOut(name=p.name, filter=p.filter_text, url="/?" + p.filter_text, preset=True,
                     alert=False, to=[], digest_s=None, quiet_hours=None, created_at=None)


def all_searches(ctx: WebContext) -> list[SearchOut]:
    """The presets, then the saved searches by name."""
    return [*(_preset(p) for p in PRESETS), *(_out(r) for r in _book(ctx).searches())]


@router.get("/searches", response_model=list[SearchOut], tags=["searches"])
def list_searches(request: Request) -> list[SearchOut]:
    """The presets and the saved searches (alerts among them, destinations masked)."""
    return all_searches(_ctx(request))


def _unprocessable(message: str) -> HTTPException:
    return HTTPException(422, detail=message)


@router.post("/searches", response_model=SearchOut, status_code=201, tags=["searches"],
             responses={415: {"description": "The body is not JSON."}})
def save_search(request: Request, body: SearchIn) -> SearchOut:
    """Save (or replace) a search; with ``alert``, new deals matching it are announced."""
    ctx = _ctx(request)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise HTTPException(415, detail="send the search as JSON (application/json)")
    if any(p.name.lower() == body.name.strip().lower() for p in PRESETS):
        raise _unprocessable(f"name: {body.name!r} is a preset's name")
    try:
        parsed = parse_query(body.filter, page_params=False)
    except FilterError as exc:
        raise _unprocessable("filter: " + "; ".join(exc.errors)) from None
    text = to_query(parsed)
    destinations: list[str] | None = None
    baseline = None
    alert = body.alert
    if alert is not None:
        for i, url in enumerate(alert.to, 1):
            why = problem(url)
            if why:
                raise _unprocessable(f"alert.to[{i}] ({masked(url)}): {why}")
        if alert.quiet_hours:
            try:
                parse_quiet(alert.quiet_hours)
            except ValueError as exc:
                raise _unprocessable(f"alert.quiet_hours: {exc}") from None
        destinations = [u.strip() for u in alert.to]
        baseline = and_(ctx.definition.where(ctx.now()), parsed.filters().clause())
    try:
        record = _book(ctx).save_search(
            body.name, text, destinations=destinations,
            digest_s=alert.digest_s if alert else None,
            quiet_hours=alert.quiet_hours if alert else None, baseline=baseline)
    except StoreError as exc:
        if "search name" in str(exc) or "saved meanwhile" in str(exc):
            raise _unprocessable(f"name: {exc}") from None
        raise
    return _out(record)


@router.delete("/searches/{name}", status_code=204, tags=["searches"],
               responses={404: {"description": "No saved search has this name."}})
def delete_search(request: Request,
                  name: Annotated[str, Path(max_length=64)]) -> None:
    """Delete a saved search (and its alert: its unsent messages are dropped)."""
    if not _book(_ctx(request)).delete_search(name):
        raise HTTPException(404, detail=f"no saved search named {name!r}")


def panel(ctx: WebContext, form: ParsedForm) -> dict[str, Any]:
    """What the deal page's search bar shows: the chips and the current filter."""
    current = to_query(form.request) if form.request is not None else None
    try:
        chips = all_searches(ctx)
    except StoreError:
        chips = [_preset(p) for p in PRESETS]
    return {"chips": chips, "current": current}


__all__ = ["PRESETS", "Preset", "SearchOut", "all_searches", "panel", "router"]
