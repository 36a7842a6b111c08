"""A saved search's filter as SQL: the dashboard's grammar, narrowed to current deals.

The filter text is read by the one parser (``keepa_deals.web.forms.parse_query``, page
parameters refused) and its clause is ANDed with the one definition of a deal
(``keepa_deals.deals_view``), so an alert announces exactly what the deal list shows.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlalchemy import ColumnElement, and_

from keepa_deals.deals_view import DealDefinition
from keepa_deals.settings import Settings
from keepa_deals.store.outbox import Matcher
from keepa_deals.store.store import DealStore
from keepa_deals.web.forms import parse_query, to_query
from keepa_deals.web.listing import DealFilters


@lru_cache(maxsize=256)
def _filters(text: str) -> DealFilters:
    return parse_query(text, page_params=False).filters()


def canonical(text: str) -> str:
    """The filter as the store keeps it (raises ``FilterError`` naming each bad field)."""
    return to_query(parse_query(text, page_params=False))


def compile_filter(text: str) -> ColumnElement[bool]:
    """The filter's own clause (``ValueError``, a FilterError, when it does not parse)."""
    return _filters(text).clause()


def matcher_for(settings: Settings) -> Matcher:
    """(filter text, now) → the rows the alert wants: current deals matching the filter."""
    definition = DealDefinition.from_settings(settings)

    def match(text: str, now: datetime) -> ColumnElement[bool]:
        return and_(definition.where(now), compile_filter(text))

    return match


def attach(store: DealStore, settings: Settings) -> DealStore:
    """Make every unit of work of ``store`` queue the alerts of the deals it writes."""
    store.matcher = matcher_for(settings)
    return store


__all__ = ["attach", "canonical", "compile_filter", "matcher_for"]
