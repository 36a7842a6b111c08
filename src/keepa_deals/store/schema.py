"""The one canonical schema of the deal store.

Numbers are stored as numbers: prices and fees are integer cents, percentages
are floats in percent (``15.0`` means 15 %), times are UTC datetimes with a
time zone.  The migrations under ``migrations/versions`` create exactly these
tables; a test compares the two.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from keepa_deals.store.links import amazon_url, keepa_url
from keepa_deals.store.types import BigId, UTCDateTime, make_tolerant

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class DealRecord(Base):
    """One deal: an ASIN on one Amazon domain, as last observed."""

    __tablename__ = "deals"
    __table_args__ = (
        UniqueConstraint("asin", "domain_id"),
        Index("ix_deals_profit", "profit_cents"),
        Index("ix_deals_roi", "roi_percent"),
        Index("ix_deals_sales_rank", "sales_rank"),
        Index("ix_deals_last_seen", "last_seen_in_feed"),
        Index("ix_deals_category", "root_category"),
        Index("ix_deals_last_refreshed", "last_refreshed"),
        Index("ix_deals_query", "query_name"),
        # The deal list sorts by any of these (migration 0002).
        Index("ix_deals_margin", "margin_percent"),
        Index("ix_deals_rank_drops_30", "rank_drops_30"),
        Index("ix_deals_rank_drops_90", "rank_drops_90"),
        Index("ix_deals_price", "current_price_cents"),
        Index("ix_deals_percent_below", "percent_below_avg"),
        Index("ix_deals_seller_trust", "seller_trust"),
        # The deal list sorts by sales; the new-deals notice counts recent rows (0003).
        Index("ix_deals_sales_per_month", "sales_per_month"),
        Index("ix_deals_first_seen", "first_seen"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    asin: Mapped[str] = mapped_column(String(10))
    domain_id: Mapped[int] = mapped_column(SmallInteger)
    query_name: Mapped[str] = mapped_column(String(64))

    title: Mapped[str | None] = mapped_column(Text)
    image_url: Mapped[str | None] = mapped_column(Text)
    root_category: Mapped[int | None] = mapped_column(BigInteger)
    category_name: Mapped[str | None] = mapped_column(Text)

    # What we would pay: the current price of ``price_type`` (Keepa csv type, 2 = USED).
    price_type: Mapped[int | None] = mapped_column(SmallInteger)
    current_price_cents: Mapped[int | None] = mapped_column(Integer)
    price_includes_shipping: Mapped[bool] = mapped_column(Boolean, default=False)
    avg30_cents: Mapped[int | None] = mapped_column(Integer)
    avg90_cents: Mapped[int | None] = mapped_column(Integer)
    avg180_cents: Mapped[int | None] = mapped_column(Integer)
    avg365_cents: Mapped[int | None] = mapped_column(Integer)
    percent_below_avg: Mapped[float | None] = mapped_column(Float)

    sales_rank: Mapped[int | None] = mapped_column(Integer)
    rank_drops_30: Mapped[int | None] = mapped_column(Integer)
    rank_drops_90: Mapped[int | None] = mapped_column(Integer)
    rank_drops_180: Mapped[int | None] = mapped_column(Integer)
    rank_drops_365: Mapped[int | None] = mapped_column(Integer)

    offers_used: Mapped[int | None] = mapped_column(Integer)
    offers_new: Mapped[int | None] = mapped_column(Integer)
    offers_fba: Mapped[int | None] = mapped_column(Integer)
    offers_fbm: Mapped[int | None] = mapped_column(Integer)
    amazon_in_stock: Mapped[bool | None] = mapped_column(Boolean)

    #: The fees the profit estimate applied: the product's own, else the query's default.
    referral_fee_percent: Mapped[float | None] = mapped_column(Float)
    fba_fee_cents: Mapped[int | None] = mapped_column(Integer)
    est_sale_price_cents: Mapped[int | None] = mapped_column(Integer)
    profit_cents: Mapped[int | None] = mapped_column(Integer)
    roi_percent: Mapped[float | None] = mapped_column(Float)
    margin_percent: Mapped[float | None] = mapped_column(Float)

    #: ISO 4217 code of every price of the row (the marketplace's currency).
    currency: Mapped[str | None] = mapped_column(String(3))
    #: The seller of the buy box (or of the lowest offer) and its trust score, 0-100:
    #: the Wilson lower bound of its positive-rating share (keepa_deals.trust).
    seller_id: Mapped[str | None] = mapped_column(String(32))
    seller_trust: Mapped[float | None] = mapped_column(Float)
    # --- the profit's breakdown, as computed (migration 0006_decide) ---------------------
    #: The shipping part of ``current_price_cents`` (None: unknown or not separate).
    buy_shipping_cents: Mapped[int | None] = mapped_column(Integer)
    #: The sale price's basis: the csv type and the window (days) of its average.
    sale_price_type: Mapped[int | None] = mapped_column(SmallInteger)
    sale_price_window: Mapped[int | None] = mapped_column(SmallInteger)
    #: Whether that window is a fallback (the query's own window had no average).
    sale_price_fallback: Mapped[bool | None] = mapped_column(Boolean)
    referral_fee_cents: Mapped[int | None] = mapped_column(Integer)
    closing_fee_cents: Mapped[int | None] = mapped_column(Integer)
    prep_cents: Mapped[int | None] = mapped_column(Integer)
    inbound_shipping_cents: Mapped[int | None] = mapped_column(Integer)

    # --- risk signals (migration 0006_decide) --------------------------------------------
    #: The condition (Keepa's offer condition code) of the cheapest matching live offer.
    offer_condition: Mapped[int | None] = mapped_column(SmallInteger)
    #: Keepa's ``monthlySold`` (bought in the past month), when Keepa has it.
    monthly_sold: Mapped[int | None] = mapped_column(Integer)
    #: ``monthly_sold``, else an estimate from the 30-day rank drops.
    sales_per_month: Mapped[int | None] = mapped_column(Integer)
    #: When the price last changed (Keepa's ``lastPriceChange``).
    price_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    first_seen: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The last time the deal feed listed it.
    last_seen_in_feed: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The last time ingestion re-checked it with product data.
    last_refreshed: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Keepa's own ``lastUpdate`` of the deal or product.
    keepa_last_update: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The last time this row was written.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    @property
    def amazon_url(self) -> str:
        return amazon_url(self.asin, self.domain_id)

    @property
    def keepa_url(self) -> str:
        return keepa_url(self.asin, self.domain_id)

    def __repr__(self) -> str:
        return (
            f"DealRecord(asin={self.asin!r}, domain_id={self.domain_id}, "
            f"price={self.current_price_cents}, profit={self.profit_cents})"
        )


class KeepaCache(Base):
    """What Keepa said about a thing, kept to be asked again only when stale: a barcode's
    ASINs (kind ``code``), a seller (``seller``), a category (``category``), as JSON."""

    __tablename__ = "keepa_cache"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    domain_id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    text_value: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SystemState(Base):
    """A value per (query, key); the watermark is key ``watermark`` in Keepa minutes."""

    __tablename__ = "system_state"

    query_name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    int_value: Mapped[int | None] = mapped_column(BigInteger)
    text_value: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IngestRun(Base):
    """One run of the ingestor for one query, and how it ended."""

    __tablename__ = "ingest_runs"
    __table_args__ = (
        Index("ix_ingest_runs_query_started", "query_name", "started_at"),
        Index("ix_ingest_runs_started", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    query_name: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: A RunOutcome value; ``running`` until finished.
    outcome: Mapped[str] = mapped_column(String(32))
    version: Mapped[str | None] = mapped_column(String(64))
    tokens_spent: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    deals_added: Mapped[int] = mapped_column(Integer, default=0)
    deals_updated: Mapped[int] = mapped_column(Integer, default=0)
    deals_rejected: Mapped[int] = mapped_column(Integer, default=0)
    deals_removed: Mapped[int] = mapped_column(Integer, default=0)
    retry_after_s: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)


class MetricPoint(Base):
    """A point of the time series the dashboard charts."""

    __tablename__ = "metrics_series"
    __table_args__ = (Index("ix_metrics_series_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    token_balance: Mapped[int | None] = mapped_column(Integer)
    refill_rate: Mapped[int | None] = mapped_column(Integer)
    tokens_refilled: Mapped[int | None] = mapped_column(Integer)
    deal_count: Mapped[int | None] = mapped_column(Integer)


class LockRecord(Base):
    """A named lock with an owner and an expiry; see store/locks.py."""

    __tablename__ = "locks"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- saved searches and alerts (docs/alerts.md) -------------------------------------------


class SavedSearch(Base):
    """A named filter in the dashboard's grammar; with destinations, a deal alert."""

    __tablename__ = "saved_searches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    #: The filter as ``keepa_deals.web.forms.to_query`` writes it (money in units).
    filter_text: Mapped[str] = mapped_column(Text)
    #: Apprise URLs, one a line (secrets: shown masked everywhere); None: not an alert.
    destinations: Mapped[str | None] = mapped_column(Text)
    #: At most one message per this many seconds (the best deals); None: one per deal.
    digest_s: Mapped[int | None] = mapped_column(Integer)
    #: ``HH:MM-HH:MM`` (UTC) when nothing is sent; None: always.
    quiet_hours: Mapped[str | None] = mapped_column(String(11))
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AlertSeen(Base):
    """A deal row an alert has announced; ``present`` false once it left the alert's filter."""

    __tablename__ = "alert_seen"

    search_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    deal_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    appearances: Mapped[int] = mapped_column(Integer, default=1)
    present: Mapped[bool] = mapped_column(Boolean, default=True)


class OutboxMessage(Base):
    """One message to one destination, written in the transaction that caused it."""

    __tablename__ = "alert_outbox"
    __table_args__ = (
        UniqueConstraint("message_id", "destination"),
        Index("ix_alert_outbox_due", "status", "next_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: Stable per (search, deal, appearance) or (health alert, episode, event).
    message_id: Mapped[str] = mapped_column(String(64))
    #: The destination's fingerprint (never the URL itself).
    destination: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # deal, health, test
    search_id: Mapped[int | None] = mapped_column(BigInteger)
    #: The message's content as JSON (deal fields, or title/body).
    payload: Mapped[str] = mapped_column(Text)
    #: pending, sent, dead (gave up), dropped (destination removed), skipped (digest cut)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Messages claimed together into one digest share it (a resend sends the same digest).
    batch: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class HealthAlertState(Base):
    """Where each health alert stands: since when it holds, when it was last sent."""

    __tablename__ = "alert_health"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: When the condition was first seen in this episode (None: not holding).
    since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Whether it was announced (it may hold within its grace without being announced).
    fired: Mapped[bool] = mapped_column(Boolean, default=False)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    repeats: Mapped[int] = mapped_column(Integer, default=0)
    summary: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DealHistoryRecord(Base):
    """A deal's price, rank and offer-count history, compact and bounded (store/history.py)."""

    __tablename__ = "deal_history"

    asin: Mapped[str] = mapped_column(String(10), primary_key=True)
    domain_id: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    #: How many points ``data`` holds (all series).
    points: Mapped[int] = mapped_column(Integer)
    #: zlib-compressed JSON of the series (store/history.py ``encode``).
    data: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


# The tables, typed as Tables (SQLAlchemy types ``__table__`` as a FromClause), for the
# statements built on them.
DEALS = cast(Table, DealRecord.__table__)
# A value of the wrong type in a deal row reads as None instead of failing the whole read
# (store/types.py, "values of the wrong type"); every column, whoever added it.
make_tolerant(DEALS)
SYSTEM_STATE = cast(Table, SystemState.__table__)
KEEPA_CACHE = cast(Table, KeepaCache.__table__)
INGEST_RUNS = cast(Table, IngestRun.__table__)
METRICS_SERIES = cast(Table, MetricPoint.__table__)
LOCKS = cast(Table, LockRecord.__table__)
SAVED_SEARCHES = cast(Table, SavedSearch.__table__)
ALERT_SEEN = cast(Table, AlertSeen.__table__)
ALERT_OUTBOX = cast(Table, OutboxMessage.__table__)
ALERT_HEALTH = cast(Table, HealthAlertState.__table__)
DEAL_HISTORY = cast(Table, DealHistoryRecord.__table__)
