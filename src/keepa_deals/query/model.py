"""DealQuery: one deal query file, validated (see docs/query.md for every field)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from keepa_deals.marketplaces import BY_CODE, MARKETPLACES
from keepa_deals.profit import DEFAULT_SETTINGS, ProfitSettings
from keepa_deals.query.selection import DEAL_DOMAINS, MAX_PAGES, Selection
from keepa_deals.query.sources import FeedSpec, SourceSpec
from keepa_deals.query.stages import Filters

Window = Literal[30, 90, 180, 365]
_D = DEFAULT_SETTINGS


class MarketplaceFees(BaseModel):
    """``[profit.marketplace.<CODE>]``: fee defaults for one marketplace, replacing the
    ``[profit]`` table's own when the query's ``domainId`` is that marketplace."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    default_referral_percent: Annotated[float, Field(ge=0, le=100)] | None = None
    default_fba_fee_cents: Annotated[int, Field(ge=0)] | None = None
    closing_fee_cents: Annotated[int, Field(ge=0)] | None = None
    prep_cents: Annotated[int, Field(ge=0)] | None = None
    inbound_shipping_cents: Annotated[int, Field(ge=0)] | None = None


class ProfitConfig(BaseModel):
    """The ``[profit]`` table: the settings of the profit model (keepa_deals.profit)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    sale_price_type: Annotated[int, Field(ge=0, le=35)] = _D.sale_price_type
    sale_price_window: Window = 90
    sale_price_fallbacks: list[Window] = list(_D.sale_price_fallbacks)  # type: ignore[arg-type]
    default_referral_percent: Annotated[float, Field(ge=0, le=100)] = _D.default_referral_percent
    default_fba_fee_cents: Annotated[int, Field(ge=0)] = _D.default_fba_fee_cents
    closing_fee_cents: Annotated[int, Field(ge=0)] = _D.closing_fee_cents
    prep_cents: Annotated[int, Field(ge=0)] = _D.prep_cents
    inbound_shipping_cents: Annotated[int, Field(ge=0)] = _D.inbound_shipping_cents
    #: Per-marketplace fee defaults by code (US, GB, DE, FR, JP, CA, IT, ES, IN, MX, BR).
    marketplace: dict[str, MarketplaceFees] = {}

    @field_validator("marketplace")
    @classmethod
    def _codes(cls, v: dict[str, MarketplaceFees]) -> dict[str, MarketplaceFees]:
        unknown = sorted(set(v) - set(BY_CODE))
        if unknown:
            raise ValueError(f"unknown marketplace {', '.join(unknown)} "
                             f"(one of {', '.join(BY_CODE)})")
        return v

    @field_validator("sale_price_fallbacks")
    @classmethod
    def _fallbacks(cls, v: list[int], info: ValidationInfo) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError("lists a window twice")
        if info.data.get("sale_price_window") in v:
            raise ValueError("repeats sale_price_window")
        return v

    def settings(self, domain_id: int | None = None) -> ProfitSettings:
        """The model's settings, with the fee defaults of ``domain_id``'s marketplace."""
        market = MARKETPLACES.get(domain_id) if domain_id is not None else None
        fees = self.marketplace.get(market.code) if market is not None else None

        def pick(name: str) -> Any:
            own = getattr(fees, name) if fees is not None else None
            return own if own is not None else getattr(self, name)

        return ProfitSettings(
            sale_price_type=self.sale_price_type,
            sale_price_window=self.sale_price_window,
            sale_price_fallbacks=tuple(self.sale_price_fallbacks),
            default_referral_percent=float(pick("default_referral_percent")),
            default_fba_fee_cents=pick("default_fba_fee_cents"),
            closing_fee_cents=pick("closing_fee_cents"),
            prep_cents=pick("prep_cents"),
            inbound_shipping_cents=pick("inbound_shipping_cents"),
        )


class RunConfig(BaseModel):
    """The ``[run]`` table: limits on one ingest run."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: At most this many /deal pages (5 tokens each) per run.
    max_pages: Annotated[int, Field(ge=1, le=MAX_PAGES)] = 3


class DealQuery(BaseModel):
    """A named deal query: Keepa's selection, our filters, the profit model, run limits."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    #: Names the query in the database, the locks and the metrics.
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    description: str = ""
    selection: Selection
    filters: Filters = Filters()
    profit: ProfitConfig = ProfitConfig()
    run: RunConfig = RunConfig()
    #: Where candidates come from (docs/query.md); the deal feed when not given.
    sources: Annotated[list[SourceSpec], Field(min_length=1, max_length=20)] = [FeedSpec()]

    @field_validator("sources")
    @classmethod
    def _one_feed(cls, v: list[Any]) -> list[Any]:
        if sum(1 for s in v if isinstance(s, FeedSpec)) > 1:
            raise ValueError("names the deal feed twice")
        return v

    @model_validator(mode="after")
    def _feed_domain(self) -> DealQuery:
        if self.reads_feed and self.selection.domain_id not in DEAL_DOMAINS:
            raise ValueError(f"selection.domainId {self.selection.domain_id}: /deal serves no "
                             "deal feed there; use another source (finder, bestsellers, list)")
        return self

    @property
    def reads_feed(self) -> bool:
        return any(isinstance(s, FeedSpec) for s in self.sources)

    @property
    def domain_id(self) -> int:
        return self.selection.domain_id

    @property
    def price_type(self) -> int:
        return self.selection.price_type

    def selection_for_page(self, page: int) -> dict[str, Any]:
        """The /deal selection JSON for ``page`` (0-based)."""
        return self.selection.to_wire(page)

    def profit_settings(self) -> ProfitSettings:
        """The profit model's settings (the scorer asks once per deal: built once per
        ``ProfitConfig`` object and marketplace, both immutable)."""
        profit = self.profit
        key = (id(profit), self.domain_id)
        hit = _SETTINGS.get(key)
        if hit is not None and hit[0] is profit:
            return hit[1]
        if len(_SETTINGS) >= 64:
            _SETTINGS.clear()
        made = profit.settings(self.domain_id)
        _SETTINGS[key] = (profit, made)  # holds the object: its id stays its own
        return made


_SETTINGS: dict[tuple[int, int], tuple[ProfitConfig, ProfitSettings]] = {}
