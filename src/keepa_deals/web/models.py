"""The JSON the API answers with (these models are its OpenAPI schema).

Money is whole cents (``int``), percentages are percent (``50.0`` = 50 %), times are
ISO 8601 UTC.  Nothing here carries a secret: the Keepa key is not a field of any model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class DealItem(_Out):
    """A deal as the list shows it."""

    asin: str
    domain_id: int
    query_name: str
    title: str | None
    image_url: str | None
    root_category: int | None
    category_name: str | None
    price_cents: int | None = Field(description="What it costs now (the query's price type).")
    price_includes_shipping: bool
    avg90_cents: int | None
    percent_below_avg: float | None
    sales_rank: int | None
    rank_drops_30: int | None
    rank_drops_90: int | None
    offers_used: int | None
    est_sale_price_cents: int | None
    profit_cents: int | None
    roi_percent: float | None
    margin_percent: float | None
    first_seen: datetime
    last_seen_in_feed: datetime | None
    last_refreshed: datetime | None
    currency: str | None = Field(None, description="ISO 4217 code of the deal's prices.")
    seller_id: str | None = Field(None, description="The buy box's (or lowest offer's) seller.")
    seller_trust: float | None = Field(None, description="That seller's trust score, 0-100.")
    amazon_url: str
    keepa_url: str
    # --- risk signals and the buy link --------------------------------------------------
    amazon_in_stock: bool | None = Field(description="Amazon itself offers it now.")
    offers_new: int | None
    offers_fba: int | None
    offer_condition: str | None = Field(
        description="Condition of the cheapest offer (when the query buys offers).")
    sales_per_month: int | None = Field(
        description="Keepa's monthlySold, else an estimate from the 30-day rank drops.")
    sales_estimated: bool | None = Field(
        description="True when sales_per_month is the estimate from rank drops.")
    price_changed_at: datetime | None = Field(description="When the price last changed.")
    buy_url: str = Field(description="Amazon's offer listing for the deal's condition.")


class ProfitBreakdown(_Out):
    """The profit's parts, all cents: sale − fees − cost is the profit, exactly."""

    buy_price_cents: int = Field(description="The item (shipping apart when known).")
    buy_shipping_cents: int | None = Field(
        description="The offer's shipping (None: unknown, or part of the buy price).")
    shipping_included: bool
    prep_cents: int
    inbound_shipping_cents: int
    cost_cents: int = Field(description="All-in: buy price, shipping, prep, inbound.")
    sale_price_cents: int
    sale_price_basis: str | None = Field(description="e.g. '90-day used average'.")
    referral_fee_percent: float | None
    referral_fee_cents: int
    closing_fee_cents: int
    fba_fee_cents: int
    fees_cents: int
    profit_cents: int
    roi_percent: float
    margin_percent: float


class NewDeals(_Out):
    """How many current deals were first seen after ``since`` (the live list's notice)."""

    since: datetime
    count: int = Field(description="Counted up to 1,000.")
    as_of: datetime


class DealList(_Out):
    items: list[DealItem]
    total: int = Field(description="How many deals match (a lower bound when not total_exact).")
    total_exact: bool
    limit: int
    offset: int
    next_offset: int | None
    sort: str
    order: str
    filters: dict[str, Any]
    as_of: datetime


class DealDetail(DealItem):
    """Every stored field of one deal, and whether it counts as a deal now."""

    price_type: int | None
    avg30_cents: int | None
    avg180_cents: int | None
    avg365_cents: int | None
    rank_drops_180: int | None
    rank_drops_365: int | None
    offers_fbm: int | None
    monthly_sold: int | None
    referral_fee_percent: float | None
    fba_fee_cents: int | None
    keepa_last_update: datetime | None
    updated_at: datetime
    current: bool = Field(description="Whether it counts as a deal now (the one definition).")
    not_current_because: list[str]
    breakdown: ProfitBreakdown | None
    breakdown_missing: str | None = Field(description="Why there is no breakdown.")


class Category(_Out):
    root_category: int
    name: str | None
    deals: int


class RunItem(_Out):
    id: int
    query_name: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str
    version: str | None
    tokens_spent: int
    pages: int
    deals_added: int
    deals_updated: int
    deals_rejected: int
    deals_removed: int
    retry_after_s: float | None
    error: str | None


class RunList(_Out):
    items: list[RunItem]
    limit: int
    offset: int


class Alert(_Out):
    level: str = Field(description="fail or warn")
    name: str
    summary: str
    fix: str = ""


class Tokens(_Out):
    """The token budget now (see docs/budget.md); every number is tokens."""

    available: bool = Field(description="Whether the budget could be read.")
    error: str | None = None
    store: str
    state: str | None = Field(default=None, description="ready, low, recharging or unknown.")
    why: str | None = None
    known: bool | None = None
    problems: list[str] = []
    projected: int | None = None
    spendable: int | None = Field(default=None, description="Projected, less what leases hold.")
    anchor_tokens: int | None = None
    anchor_age_s: float | None = None
    refill_rate: int | None = None
    cap: int | None = None
    floor: int
    next_refill_in_ms: int | None = None
    leases: int = 0
    recharge: dict[str, int] | None = None
    last_sync_age_s: float | None = None


class Trend(_Out):
    hours: float
    then: int | None = Field(description="The count recorded about this many hours ago.")
    at: datetime | None
    change: int | None


class DealCount(_Out):
    count: int = Field(description="Current deals, by the one definition.")
    by_query: dict[str, int]
    trend: list[Trend]
    definition: dict[str, Any]


class Health(_Out):
    now: datetime
    version: str
    tokens: Tokens
    deals: DealCount
    last_runs: list[RunItem]
    last_ok_run: RunItem | None
    alerts: list[Alert]
    alerts_source: str = Field(description="Where the alerts come from (doctor, or why none).")


class TokenPoint(_Out):
    at: datetime
    balance: int | None
    low: int | None = Field(description="The lowest balance in this point's interval.")
    high: int | None
    refill_rate: int | None
    run_start: bool = Field(default=False, description="An estimate of the balance when a run "
                            "started: the balance after it, plus what it spent, less the "
                            "refill meanwhile (so the chart shows the balance through a run).")


class Period(_Out):
    """A time the ingestor stood down to wait for tokens, or the budget's recharge mode."""

    start: datetime
    end: datetime
    ongoing: bool
    source: str = Field(description="run (a run waiting for tokens) or budget (recharge mode).")


class TokenSeries(_Out):
    start: datetime
    end: datetime
    points: list[TokenPoint]
    floor: int
    cap: int | None
    recharge_periods: list[Period]


class CountPoint(_Out):
    at: datetime
    count: int


class RunChange(_Out):
    id: int
    query_name: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str
    added: int
    removed: int
    updated: int


class DealSeries(_Out):
    start: datetime
    end: datetime
    points: list[CountPoint]
    runs: list[RunChange]
    current: int = Field(description="Current deals now, by the one definition.")
