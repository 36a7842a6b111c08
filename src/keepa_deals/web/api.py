"""The JSON API under /api (read-only; its schema is at /api/openapi.json).

Every parameter is validated before the database is asked anything: a bad value, an
unknown parameter or an impossible range (``max_price_cents`` below ``min_price_cents``)
is a 422 that names the parameter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Row

from keepa_deals.store.links import amazon_url, buy_url, keepa_url
from keepa_deals.store.runs import RunOutcome
from keepa_deals.web import health as health_mod
from keepa_deals.web import decide, listing, models, series
from keepa_deals.web.context import WebContext

router = APIRouter(prefix="/api")

ASIN_PATTERN = r"^[0-9A-Za-z]{10}$"
#: Nothing is older than Keepa's time origin.
KEEPA_EPOCH = datetime(2011, 1, 1, tzinfo=UTC)


class NoParams(BaseModel):
    """An endpoint without parameters still refuses unknown ones (a typo is an error)."""

    model_config = ConfigDict(extra="forbid")


def context(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.web
    return ctx


def deal_item(row: Row[Any]) -> models.DealItem:
    m = row._mapping
    return models.DealItem(**_item_fields(m))


def _item_fields(m: Any) -> dict[str, Any]:
    return dict(
        asin=m["asin"], domain_id=m["domain_id"], query_name=m["query_name"], title=m["title"],
        image_url=m["image_url"], root_category=m["root_category"],
        category_name=m["category_name"], price_cents=m["current_price_cents"],
        price_includes_shipping=m["price_includes_shipping"], avg90_cents=m["avg90_cents"],
        percent_below_avg=m["percent_below_avg"], sales_rank=m["sales_rank"],
        rank_drops_30=m["rank_drops_30"], rank_drops_90=m["rank_drops_90"],
        offers_used=m["offers_used"], est_sale_price_cents=m["est_sale_price_cents"],
        profit_cents=m["profit_cents"], roi_percent=m["roi_percent"],
        margin_percent=m["margin_percent"], first_seen=m["first_seen"],
        last_seen_in_feed=m["last_seen_in_feed"], last_refreshed=m["last_refreshed"],
        currency=m["currency"], seller_id=m["seller_id"], seller_trust=m["seller_trust"],
        amazon_url=amazon_url(m["asin"], m["domain_id"]),
        keepa_url=keepa_url(m["asin"], m["domain_id"]),
        amazon_in_stock=m["amazon_in_stock"], offers_new=m["offers_new"],
        offers_fba=m["offers_fba"], offer_condition=decide.condition_name(m["offer_condition"]),
        sales_per_month=m["sales_per_month"], sales_estimated=decide.sales_estimated(m),
        price_changed_at=m["price_changed_at"],
        buy_url=buy_url(m["asin"], m["domain_id"], m["price_type"]),
    )


def deal_detail(ctx: WebContext, row: Row[Any]) -> models.DealDetail:
    m = row._mapping
    reasons = ctx.definition.explain(row, ctx.now())
    parts = decide.breakdown(m)
    return models.DealDetail(
        **_item_fields(m),
        price_type=m["price_type"], avg30_cents=m["avg30_cents"],
        avg180_cents=m["avg180_cents"], avg365_cents=m["avg365_cents"],
        rank_drops_180=m["rank_drops_180"], rank_drops_365=m["rank_drops_365"],
        offers_fbm=m["offers_fbm"], monthly_sold=m["monthly_sold"],
        referral_fee_percent=m["referral_fee_percent"],
        fba_fee_cents=m["fba_fee_cents"], keepa_last_update=m["keepa_last_update"],
        updated_at=m["updated_at"], current=not reasons, not_current_because=reasons,
        breakdown=None if parts is None else models.ProfitBreakdown(**parts),
        breakdown_missing=decide.NO_BREAKDOWN if parts is None else None,
    )


def deal_page(ctx: WebContext, request: listing.ListRequest) -> models.DealList:
    now = ctx.now()
    with ctx.read() as conn:
        found = listing.list_deals(conn, ctx.definition, now, request)
    items = [deal_item(r) for r in found.rows]
    end = request.offset + len(items)
    # Past the count's limit, the rows seen so far are a better lower bound.
    total = found.total if found.total_exact or not items else max(found.total, end)
    return models.DealList(
        items=items, total=total, total_exact=found.total_exact,
        limit=request.limit, offset=request.offset, next_offset=end if found.more else None,
        sort=request.sort.value, order=request.effective_order.value,
        filters=request.filters().active(), as_of=now,
    )


@router.get("/deals", response_model=models.DealList, summary="The current deals, a page")
def get_deals(request: Request, q: Annotated[listing.ListRequest, Query()]) -> models.DealList:
    """Current deals (by the one definition of a deal), filtered, sorted and paged.

    ``total`` counts the matches up to 1,000; past that ``total_exact`` is false and
    ``next_offset`` says whether another page follows.
    """
    return deal_page(context(request), q)


class NewDealsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: datetime = Field(description="Count the deals first seen after this time.")


@router.get("/deals/new", response_model=models.NewDeals,
            summary="How many deals arrived since a time (the list's notice polls it)")
def get_new_deals(request: Request, q: Annotated[NewDealsQuery, Query()]) -> models.NewDeals:
    """Current deals first seen after ``since``: one range of the ``first_seen`` index."""
    ctx = context(request)
    now = ctx.now()
    since = q.since if q.since.tzinfo is not None else q.since.replace(tzinfo=UTC)
    since = min(max(since, KEEPA_EPOCH), now)  # a far-off time asks for nothing more
    with ctx.read() as conn:
        count = listing.count_new(conn, ctx.definition, now, since)
    return models.NewDeals(since=since, count=count, as_of=now)


class DetailQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: Annotated[int, Field(ge=1, le=12)] | None = Field(
        None, description="Keepa domain id (default: the lowest storing this ASIN)."
    )


@router.get(
    "/deals/{asin}", response_model=models.DealDetail, summary="One deal, every field",
    responses={404: {"description": "No deal with this ASIN is stored."}},
)
def get_deal(
    request: Request,
    asin: Annotated[str, Path(pattern=ASIN_PATTERN, description="The ASIN (10 characters).")],
    q: Annotated[DetailQuery, Query()],
) -> models.DealDetail:
    """Every stored field of one deal, with links to Amazon and Keepa, and whether it
    counts as a deal now (and if not, why)."""
    ctx = context(request)
    with ctx.read() as conn:
        row = listing.find_deal(conn, asin.upper(), q.domain)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no deal with ASIN {asin.upper()} is stored")
    return deal_detail(ctx, row)


@router.get("/categories", response_model=list[models.Category],
            summary="Root categories of the current deals")
def get_categories(request: Request, _: Annotated[NoParams, Query()]) -> list[models.Category]:
    ctx = context(request)
    with ctx.read() as conn:
        rows = listing.categories(conn, ctx.definition, ctx.now())
    return [models.Category(root_category=r.root_category, name=r.name, deals=r.deals)
            for r in rows]


@router.get("/health", response_model=models.Health, summary="The budget, the deals, the runs")
def get_health(request: Request, _: Annotated[NoParams, Query()]) -> models.Health:
    """The token budget now, the deal count and its trend, the last runs and the alerts."""
    return health_mod.health(context(request))


class WindowQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hours: Annotated[float, Field(gt=0, le=24 * 90, allow_inf_nan=False)] = Field(
        24.0, description="How far back the series goes."
    )


@router.get("/series/tokens", response_model=models.TokenSeries,
            summary="The token balance over time")
def get_token_series(request: Request, q: Annotated[WindowQuery, Query()]) -> models.TokenSeries:
    """The balance recorded after each run (with the lowest and highest of each point's
    interval), the floor, the bucket cap, and the periods spent waiting for tokens."""
    ctx = context(request)
    snap, _ = ctx.snapshot()
    now = ctx.now()
    with ctx.read() as conn:
        return series.token_series(conn, series.Window.last(now, q.hours),
                                   floor=ctx.settings.budget_floor, snapshot=snap, now=now)


@router.get("/series/deals", response_model=models.DealSeries,
            summary="The deal count over time, with each run's changes")
def get_deal_series(request: Request, q: Annotated[WindowQuery, Query()]) -> models.DealSeries:
    ctx = context(request)
    now = ctx.now()
    with ctx.read() as conn:
        current = ctx.definition.count(conn, now)
        return series.deal_series(conn, series.Window.last(now, q.hours), current=current)


class RunsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: Annotated[int, Field(ge=1, le=200)] = 20
    offset: Annotated[int, Field(ge=0, le=listing.MAX_OFFSET)] = 0
    query: Annotated[str, Field(pattern=listing.QUERY_NAME)] | None = None
    outcome: RunOutcome | None = None


@router.get("/runs", response_model=models.RunList, summary="Ingest runs, newest first")
def get_runs(request: Request, q: Annotated[RunsQuery, Query()]) -> models.RunList:
    ctx = context(request)
    with ctx.read() as conn:
        items = health_mod.list_runs(
            conn, limit=q.limit, offset=q.offset, query=q.query,
            outcome=None if q.outcome is None else q.outcome.value,
        )
    return models.RunList(items=items, limit=q.limit, offset=q.offset)
