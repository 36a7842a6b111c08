"""What the ingestor should store, worked out from the sandbox's catalog, not from the ingestor.

The feed is the sandbox's own /deal logic; every number comes from the
catalog's product state (prices, averages, ranks, fees, offers); the filters
and the profit model are the query's and profit.py's, applied here directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keepa_deals.profit import ProfitEstimate, estimate_profit
from keepa_deals.query import DealQuery
from keepa_deals.sandbox import Sandbox
from keepa_deals.sandbox.catalog import ProductState
from keepa_deals.sandbox.deals import parse_selection, run_deals
from keepa_deals.sandbox.offers import all_offers

USED, SALES, COUNT_USED, COUNT_NEW, FBA, FBM = 2, 3, 12, 11, 34, 35


@dataclass(frozen=True)
class Expected:
    asin: str
    state: ProductState
    deal: dict[str, Any]
    estimate: ProfitEstimate
    buy: int


def feed(sandbox: Sandbox, query: DealQuery, now_ms: int) -> list[dict[str, Any]]:
    """Every deal /deal lists for the query now, all pages, in the sandbox's order."""
    out: list[dict[str, Any]] = []
    page = 0
    while True:
        q = parse_selection(query.selection_for_page(page))
        dr = run_deals(q, sandbox.catalog, now_ms)["deals"]["dr"]
        out.extend(dr)
        if len(dr) < 150:
            return out
        page += 1


def _sale_avgs(state: ProductState, query: DealQuery) -> dict[int, int | None]:
    a = state.spec.avgs[query.profit.sale_price_type]
    return {30: a[0], 90: a[1], 180: a[2], 365: a[3]}


def judge(sandbox: Sandbox, query: DealQuery, deal: dict[str, Any], now_ms: int
          ) -> Expected | str:
    """The expected stored deal, or why the deal is rejected."""
    state = sandbox.catalog.state(deal["asin"], now_ms)
    assert state is not None
    spec = state.spec
    price = state.current[USED] if state.current[USED] > 0 else None
    pct = deal["deltaPercent"][query.selection.date_range][USED]
    root = spec.root_category
    why = query.filters.feed.check(price_cents=price, percent_below=float(pct),
                                   sales_rank=state.current[SALES], root_category=root,
                                   title=spec.title)
    if why:
        return "feed: " + why
    why = query.filters.stats.check(
        sales_rank=state.current[SALES], rank_drops_30=spec.rank_drops[0],
        rank_drops_90=spec.rank_drops[1], offers_used=state.current[COUNT_USED],
        offers_fba=spec.normal[FBA], amazon_in_stock=spec.has_amazon)
    if why:
        return "stats: " + why
    buy = price
    if query.filters.offers.fetch_offers:
        found = all_offers(state, sandbox.catalog.config.seed)[: query.filters.offers.offers]
        used = [o.total for o in found if o.condition in (2, 3, 4, 5)]
        buy = min(used) if used else None
    est = estimate_profit(buy, _sale_avgs(state, query),
                          referral_fee_percent=float(spec.referral_fee_pct),
                          fba_fee_cents=spec.pick_and_pack_fee, settings=query.profit_settings())
    why = query.filters.offers.check(
        profit_cents=est.profit_cents if est else None,
        roi_percent=est.roi_percent if est else None,
        margin_percent=est.margin_percent if est else None)
    if why or est is None or buy is None:
        return f"profit: {why}"
    return Expected(deal["asin"], state, deal, est, buy)


def expected(sandbox: Sandbox, query: DealQuery, now_ms: int) -> dict[str, Expected]:
    out = {}
    for deal in feed(sandbox, query, now_ms):
        e = judge(sandbox, query, deal, now_ms)
        if isinstance(e, Expected):
            out[e.asin] = e
    return out


def check_row(row: Any, e: Expected, query: DealQuery) -> None:
    """A stored DealRecord agrees with the catalog, number by number."""
    spec, state = e.state.spec, e.state
    a = spec.avgs[USED]
    assert row.title == spec.title
    assert row.root_category == spec.root_category
    assert row.category_name == "Books"
    assert row.price_type == USED
    assert row.current_price_cents == e.buy
    assert row.price_includes_shipping is query.filters.offers.fetch_offers
    assert (row.avg30_cents, row.avg90_cents, row.avg180_cents, row.avg365_cents) == tuple(
        None if v < 0 else v for v in a)
    assert row.percent_below_avg == float(e.deal["deltaPercent"][query.selection.date_range][USED])
    assert row.sales_rank == state.current[SALES]
    assert (row.rank_drops_30, row.rank_drops_90, row.rank_drops_180, row.rank_drops_365) == \
        spec.rank_drops
    assert row.offers_used == state.current[COUNT_USED]
    assert row.offers_new == state.current[COUNT_NEW]
    assert (row.offers_fba, row.offers_fbm) == (spec.normal[FBA], spec.normal[FBM])
    assert row.amazon_in_stock is spec.has_amazon
    assert row.referral_fee_percent == float(spec.referral_fee_pct)
    assert row.fba_fee_cents == spec.pick_and_pack_fee
    assert row.est_sale_price_cents == e.estimate.sale_price_cents
    assert row.profit_cents == e.estimate.profit_cents
    assert row.roi_percent == e.estimate.roi_percent
    assert row.margin_percent == e.estimate.margin_percent
    assert row.keepa_last_update is not None
    assert row.keepa_last_update.timestamp() * 1000 == (e.deal["lastUpdate"] + 21_564_000) * 60_000
