"""What counts as a deal: the one definition the dashboard, the API, status and alerts share.

A stored row of ``deals`` is a **current deal** at time ``now`` when both hold:

1. **It is priced as a deal.**  It has a profit estimate, and it passes the profit
   thresholds of its query (the ``[filters.offers]`` table: ``min_profit_cents``,
   ``min_roi_percent``, ``min_margin_percent``).  A row that a refresh re-priced below
   them stays stored, and is not a deal.  Rows of a query the definition does not know
   need only a profit estimate.
2. **Ingestion has looked at it within the grace** (``janitor_grace_h``): it was first
   saved, listed by the deal feed, or refreshed with product data less than that long
   ago.  This is exactly the complement of what ``DealStore.retire_deals(now - grace)``
   deletes, so a row the janitor is about to delete is already not counted, and the
   count never depends on when the janitor last ran.

Retired rows are deleted from the table, so there is no retired flag to test here; if
one is ever added, this module is the one place that must learn about it.

::

    view = DealDefinition.from_settings(settings)
    stmt = select(DealRecord).where(view.where(now))     # the rows
    view.count(conn, now)                                # how many
    view.explain(record, now)                            # [] or why it is not a deal

``explain`` is the Python reading of ``where``; a test keeps the two in agreement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import ColumnElement, Connection, and_, false, func, not_, or_, select, true

from keepa_deals.store.schema import DEALS

if TYPE_CHECKING:
    from keepa_deals.query import DealQuery, OffersFilters
    from keepa_deals.settings import Settings

_C = DEALS.c

#: The grace of a definition built without settings (hours; the setting's default).
DEFAULT_GRACE_H = 72.0


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A query's profit thresholds; None is off."""

    min_profit_cents: int | None = None
    min_roi_percent: float | None = None
    min_margin_percent: float | None = None

    @classmethod
    def from_filters(cls, offers: OffersFilters) -> Thresholds:
        return cls(offers.min_profit_cents, offers.min_roi_percent, offers.min_margin_percent)

    def clause(self) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if self.min_profit_cents is not None:
            parts.append(_C.profit_cents >= self.min_profit_cents)
        if self.min_roi_percent is not None:
            parts.append(_C.roi_percent >= self.min_roi_percent)
        if self.min_margin_percent is not None:
            parts.append(_C.margin_percent >= self.min_margin_percent)
        return and_(true(), *parts)

    def explain(self, row: DealLike) -> list[str]:
        reasons = []
        if self.min_profit_cents is not None and (
            row.profit_cents is None or row.profit_cents < self.min_profit_cents
        ):
            reasons.append(f"profit below {self.min_profit_cents} cents")
        if self.min_roi_percent is not None and (
            row.roi_percent is None or row.roi_percent < self.min_roi_percent
        ):
            reasons.append(f"ROI below {self.min_roi_percent:g} %")
        if self.min_margin_percent is not None and (
            row.margin_percent is None or row.margin_percent < self.min_margin_percent
        ):
            reasons.append(f"margin below {self.min_margin_percent:g} %")
        return reasons


class DealLike(Protocol):
    """What ``explain`` reads of a row (a DealRecord, or a result row of ``deals``)."""

    query_name: str
    profit_cents: int | None
    roi_percent: float | None
    margin_percent: float | None
    first_seen: datetime
    last_seen_in_feed: datetime | None
    last_refreshed: datetime | None


@dataclass(frozen=True, slots=True)
class DealDefinition:
    """Which rows of ``deals`` count as current deals (see the module docstring)."""

    grace: timedelta = timedelta(hours=DEFAULT_GRACE_H)
    #: Query name → its profit thresholds.
    thresholds: Mapping[str, Thresholds] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.grace <= timedelta(0):
            raise ValueError(f"the grace must be positive, got {self.grace}")

    # --- building one ---------------------------------------------------------------

    @classmethod
    def for_queries(
        cls, queries: Iterable[DealQuery], *, grace: timedelta | None = None
    ) -> DealDefinition:
        thresholds = {q.name: Thresholds.from_filters(q.filters.offers) for q in queries}
        return cls(grace=grace or timedelta(hours=DEFAULT_GRACE_H), thresholds=thresholds)

    @classmethod
    def from_settings(
        cls, settings: Settings, queries: Iterable[DealQuery] | None = None
    ) -> DealDefinition:
        """The definition for these settings: their grace, and the thresholds of
        ``queries`` (default: the queries the settings configure)."""
        if queries is None:
            queries = threshold_queries(settings)
        return cls.for_queries(queries, grace=grace_of(settings))

    # --- SQL ------------------------------------------------------------------------

    def cutoff(self, now: datetime) -> datetime:
        """Rows ingestion has not looked at since this instant are no longer deals."""
        return now - self.grace

    def fresh_clause(self, now: datetime) -> ColumnElement[bool]:
        cutoff = self.cutoff(now)
        return or_(
            _C.first_seen >= cutoff, _C.last_seen_in_feed >= cutoff, _C.last_refreshed >= cutoff
        )

    def priced_clause(self) -> ColumnElement[bool]:
        per_query = [
            and_(_C.query_name == name, t.clause()) for name, t in sorted(self.thresholds.items())
        ]
        known = sorted(self.thresholds)
        others = not_(_C.query_name.in_(known)) if known else true()
        return and_(_C.profit_cents.is_not(None), or_(false(), *per_query, others))

    def where(self, now: datetime) -> ColumnElement[bool]:
        """The clause on ``deals`` that selects the current deals at ``now``."""
        return and_(self.priced_clause(), self.fresh_clause(now))

    def count(self, conn: Connection, now: datetime, *, query: str | None = None) -> int:
        """How many current deals there are (of ``query``, or of every query)."""
        stmt = select(func.count()).select_from(DEALS).where(self.where(now))
        if query is not None:
            stmt = stmt.where(_C.query_name == query)
        return int(conn.execute(stmt).scalar_one())

    def count_by_query(self, conn: Connection, now: datetime) -> dict[str, int]:
        stmt = (
            select(_C.query_name, func.count())
            .where(self.where(now))
            .group_by(_C.query_name)
            .order_by(_C.query_name)
        )
        return {name: int(n) for name, n in conn.execute(stmt)}

    # --- Python ---------------------------------------------------------------------

    def explain(self, row: DealLike, now: datetime) -> list[str]:
        """Why ``row`` is not a current deal at ``now``; an empty list when it is one."""
        reasons: list[str] = []
        if row.profit_cents is None:
            reasons.append("no profit estimate")
        else:
            t = self.thresholds.get(row.query_name)
            if t is not None:
                reasons.extend(t.explain(row))
        cutoff = self.cutoff(now)
        seen = [t for t in (row.first_seen, row.last_seen_in_feed, row.last_refreshed) if t]
        if not any(t >= cutoff for t in seen):
            hours = self.grace.total_seconds() / 3600
            reasons.append(f"not seen in the feed nor refreshed for {hours:g} h")
        return reasons

    def is_current(self, row: DealLike, now: datetime) -> bool:
        return not self.explain(row, now)

    def describe(self) -> dict[str, Any]:
        """The definition as data (for status output and the API)."""
        return {
            "grace_hours": self.grace.total_seconds() / 3600,
            "thresholds": {
                name: {
                    "min_profit_cents": t.min_profit_cents,
                    "min_roi_percent": t.min_roi_percent,
                    "min_margin_percent": t.min_margin_percent,
                }
                for name, t in sorted(self.thresholds.items())
            },
        }


def grace_of(settings: Settings) -> timedelta:
    """The janitor's grace (``janitor_grace_h``)."""
    return timedelta(hours=settings.janitor_grace_h)


def threshold_queries(settings: Settings) -> list[DealQuery]:
    """The queries whose thresholds the definition applies: the built-in ones, and those
    of ``KEEPA_DEALS_QUERIES`` (files or built-in names; a file wins over a built-in query
    of the same name).  Rows of any other query need only a profit estimate."""
    from keepa_deals.query import builtin_queries, load_builtin, resolve_query

    by_name = {q.name: q for q in (load_builtin(name) for name in builtin_queries())}
    for spec in settings.queries:
        query = resolve_query(spec)
        by_name[query.name] = query
    return list(by_name.values())


__all__ = [
    "DEFAULT_GRACE_H",
    "DealDefinition",
    "DealLike",
    "Thresholds",
    "threshold_queries",
    "grace_of",
]
