"""Our own filters, in the order they cost tokens: feed (free), stats (1 token), offers.

Each stage has a ``check`` that returns ``None`` when a deal passes and a
short reason when it does not; a value the stage needs but does not have
fails the check (an unknown rank is not a good rank).  Every filter left
unset is off.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

Cents = Annotated[int, Field(ge=0)]
Rank = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
Percent = Annotated[float, Field(ge=0, le=100)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _not_below(other: str, v: int | None, info: ValidationInfo) -> int | None:
    low = info.data.get(other)
    if v is not None and low is not None and v < low:
        raise ValueError(f"must be ≥ {other} ({low})")
    return v


class FeedFilters(_Table):
    """Applied to each deal of a /deal page, before any token is spent on it."""

    min_price_cents: Cents | None = None
    max_price_cents: Cents | None = None
    min_percent_below: Percent | None = None
    min_sales_rank: Rank | None = None
    max_sales_rank: Rank | None = None
    #: Root categories a deal must be in (empty: any).
    categories: list[Annotated[int, Field(ge=0)]] = []
    exclude_categories: list[Annotated[int, Field(ge=0)]] = []
    #: Case-insensitive words or phrases that reject a deal when its title contains one.
    title_excludes: list[Annotated[str, Field(min_length=1)]] = []

    @field_validator("max_price_cents")
    @classmethod
    def _max_price(cls, v: int | None, info: ValidationInfo) -> int | None:
        return _not_below("min_price_cents", v, info)

    @field_validator("max_sales_rank")
    @classmethod
    def _max_rank(cls, v: int | None, info: ValidationInfo) -> int | None:
        return _not_below("min_sales_rank", v, info)

    def check(
        self,
        *,
        price_cents: int | None,
        percent_below: float | None,
        sales_rank: int | None,
        root_category: int | None,
        title: str | None,
    ) -> str | None:
        if price_cents is None:
            return "no current price"
        if self.min_price_cents is not None and price_cents < self.min_price_cents:
            return "price below min_price_cents"
        if self.max_price_cents is not None and price_cents > self.max_price_cents:
            return "price above max_price_cents"
        if self.min_percent_below is not None and (
            percent_below is None or percent_below < self.min_percent_below
        ):
            return "not enough below average"
        if self.min_sales_rank is not None or self.max_sales_rank is not None:
            if sales_rank is None:
                return "no sales rank"
            if self.min_sales_rank is not None and sales_rank < self.min_sales_rank:
                return "sales rank below min_sales_rank"
            if self.max_sales_rank is not None and sales_rank > self.max_sales_rank:
                return "sales rank above max_sales_rank"
        if self.categories and root_category not in self.categories:
            return "category not included"
        if root_category is not None and root_category in self.exclude_categories:
            return "category excluded"
        if self.title_excludes and title:
            lowered = title.casefold()
            for phrase in self.title_excludes:
                if phrase.casefold() in lowered:
                    return "title excluded"
        return None


class StatsFilters(_Table):
    """Applied after the cheap product check (``/product`` with stats, 1 token per ASIN)."""

    max_sales_rank: Rank | None = None
    min_rank_drops_30: Count | None = None
    min_rank_drops_90: Count | None = None
    max_used_offers: Count | None = None
    max_fba_offers: Count | None = None
    #: Reject products Amazon itself has in stock.
    reject_amazon_in_stock: bool = False

    def check(
        self,
        *,
        sales_rank: int | None,
        rank_drops_30: int | None,
        rank_drops_90: int | None,
        offers_used: int | None,
        offers_fba: int | None,
        amazon_in_stock: bool | None,
    ) -> str | None:
        if self.max_sales_rank is not None and (
            sales_rank is None or sales_rank > self.max_sales_rank
        ):
            return "sales rank above max_sales_rank"
        if self.min_rank_drops_30 is not None and (
            rank_drops_30 is None or rank_drops_30 < self.min_rank_drops_30
        ):
            return "too few rank drops in 30 days"
        if self.min_rank_drops_90 is not None and (
            rank_drops_90 is None or rank_drops_90 < self.min_rank_drops_90
        ):
            return "too few rank drops in 90 days"
        if self.max_used_offers is not None and (
            offers_used is None or offers_used > self.max_used_offers
        ):
            return "too many used offers"
        if self.max_fba_offers is not None and (
            offers_fba is None or offers_fba > self.max_fba_offers
        ):
            return "too many FBA offers"
        if self.reject_amazon_in_stock and amazon_in_stock is not False:
            return "Amazon in stock"
        return None


class OffersFilters(_Table):
    """The profit thresholds, applied last (after the live-offer check when it is on)."""

    #: Buy the live-offers call (6 tokens per 10 offers per ASIN) for the exact buy price.
    fetch_offers: bool = False
    #: How many offers to ask for when ``fetch_offers`` is on (Keepa: 20-100).
    offers: Annotated[int, Field(ge=20, le=100)] = 20
    min_profit_cents: int | None = None
    min_roi_percent: float | None = None
    min_margin_percent: float | None = None

    def check(
        self,
        *,
        profit_cents: int | None,
        roi_percent: float | None,
        margin_percent: float | None,
    ) -> str | None:
        if profit_cents is None:
            return "no profit estimate"
        if self.min_profit_cents is not None and profit_cents < self.min_profit_cents:
            return "profit below min_profit_cents"
        if self.min_roi_percent is not None and (
            roi_percent is None or roi_percent < self.min_roi_percent
        ):
            return "ROI below min_roi_percent"
        if self.min_margin_percent is not None and (
            margin_percent is None or margin_percent < self.min_margin_percent
        ):
            return "margin below min_margin_percent"
        return None


class Filters(_Table):
    feed: FeedFilters = FeedFilters()
    stats: StatsFilters = StatsFilters()
    offers: OffersFilters = OffersFilters()
