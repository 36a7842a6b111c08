"""The ``[selection]`` table: what we ask Keepa's /deal for, under Keepa's own names.

Every key is checked before a token is spent: integers are integers, exactly
one price type, ranges are ``[min, max]``.  ``isRangeEnabled`` and
``isFilterEnabled`` are not written by hand: ``to_wire`` sets them when a
range or a filter is present.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

#: Keepa's deal price types (csv indices that can be deal-relevant).
DEAL_PRICE_TYPES: frozenset[int] = frozenset(
    {0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 18, 19, 20, 21, 22, 32, 33}
)
#: Locales /deal serves (1 com … 11 com.mx; 7 is retired, Brazil has no deals).
DEAL_DOMAINS: frozenset[int] = frozenset({1, 2, 3, 4, 5, 6, 8, 9, 10, 11})
#: Every locale Keepa serves (12, Brazil, has products but no deal feed).
ALL_DOMAINS: frozenset[int] = DEAL_DOMAINS | {12}
MAX_CATEGORIES = 500
#: Keepa pages through at most 10 000 deals, 150 per page.
MAX_PAGES = 67

Range = Annotated[list[int], Field(min_length=2, max_length=2)]
Category = Annotated[int, Field(ge=0)]
Keyword = Annotated[str, Field(min_length=1)]

_RANGES = ("current_range", "delta_range", "delta_percent_range", "delta_last_range",
           "sales_rank_range")


class Selection(BaseModel):
    """A /deal selection; field names in the file are Keepa's (``domainId``, ``priceTypes``…)."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, alias_generator=to_camel, populate_by_name=False
    )

    domain_id: int
    price_types: list[int]
    date_range: Literal[0, 1, 2, 3] = 1
    sort_type: Literal[1, 2, -2, 3, -3, 4, -4] = 1

    current_range: Range | None = None
    delta_range: Range | None = None
    delta_percent_range: Range | None = None
    delta_last_range: Range | None = None
    sales_rank_range: Range | None = None

    include_categories: Annotated[list[Category], Field(max_length=MAX_CATEGORIES)] | None = None
    exclude_categories: Annotated[list[Category], Field(max_length=MAX_CATEGORIES)] | None = None
    min_rating: Annotated[int, Field(ge=-1, le=50)] | None = None
    has_reviews: bool | None = None
    filter_erotic: bool | None = None
    single_variation: bool | None = None
    is_lowest: bool | None = None
    is_lowest90: bool | None = None
    is_lowest_offer: bool | None = None
    is_highest: bool | None = None
    is_out_of_stock: bool | None = None
    is_back_in_stock: bool | None = None
    is_risers: bool | None = None
    is_prime_exclusive: bool | None = None
    must_have_amazon_offer: bool | None = None
    must_not_have_amazon_offer: bool | None = None
    warehouse_conditions: list[Annotated[int, Field(ge=1, le=5)]] | None = None
    title_search: Annotated[str, Field(min_length=1)] | None = None
    brand: list[Keyword] | None = None
    manufacturer: list[Keyword] | None = None
    product_group: list[Keyword] | None = None
    author: list[Keyword] | None = None
    binding: list[Keyword] | None = None
    format: list[Keyword] | None = None
    languages: list[Keyword] | None = None

    @field_validator("domain_id")
    @classmethod
    def _domain(cls, v: int) -> int:
        if v not in ALL_DOMAINS:
            raise ValueError(f"must be a Keepa locale, one of {sorted(ALL_DOMAINS)}")
        return v

    @field_validator("price_types")
    @classmethod
    def _price_type(cls, v: list[int]) -> list[int]:
        if len(v) != 1:
            raise ValueError(f"exactly one price type is allowed, got {v}")
        if v[0] not in DEAL_PRICE_TYPES:
            raise ValueError(f"{v[0]} is not a deal price type (one of {sorted(DEAL_PRICE_TYPES)})")
        return v

    @field_validator(*_RANGES)
    @classmethod
    def _range(cls, v: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if v is None:
            return v
        lo, hi = v
        if info.field_name == "sales_rank_range" and hi == -1:
            if lo < 0:
                raise ValueError("the minimum must be ≥ 0")
            return v
        if info.field_name == "delta_percent_range" and not 0 <= lo <= hi <= 100:
            raise ValueError("must be [min, max] with 0 ≤ min ≤ max ≤ 100")
        if lo > hi:
            raise ValueError(f"min {lo} is above max {hi}")
        return v

    @field_validator("must_not_have_amazon_offer")
    @classmethod
    def _amazon_offer(cls, v: bool | None, info: ValidationInfo) -> bool | None:
        if v and info.data.get("must_have_amazon_offer"):
            raise ValueError("cannot be true together with mustHaveAmazonOffer")
        return v

    @property
    def price_type(self) -> int:
        return self.price_types[0]

    def to_wire(self, page: int = 0) -> dict[str, Any]:
        """The JSON object Keepa's /deal reads, for ``page`` (0-based)."""
        if type(page) is not int or not 0 <= page < MAX_PAGES:
            raise ValueError(f"page must be 0-{MAX_PAGES - 1}, got {page!r}")
        wire = self.model_dump(by_alias=True, exclude_none=True)
        wire["page"] = page
        if any(getattr(self, name) is not None for name in _RANGES):
            wire["isRangeEnabled"] = True
        filters = set(wire) - {"page", "domainId", "priceTypes", "dateRange", "sortType",
                               "isRangeEnabled", *(to_camel(n) for n in _RANGES)}
        if filters:
            wire["isFilterEnabled"] = True
        return wire
