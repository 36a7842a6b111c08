"""Deal query files: which deals to ask Keepa for, how to filter and price them.

::

    query = load_query("my-query.toml")       # or default_query(), resolve_query(spec)
    query.selection_for_page(0)               # the /deal selection JSON
    query.filters.feed.check(...)             # None, or why a deal is rejected
    query.profit_settings()                   # for keepa_deals.profit

Every field is documented in docs/query.md; problems raise QueryFileError
(a ConfigError) naming the file and the field.
"""

from keepa_deals.query.load import (
    DEFAULT_QUERY,
    QueryFileError,
    builtin_queries,
    default_query,
    load_builtin,
    load_query,
    parse_query,
    query_from_data,
    resolve_query,
)
from keepa_deals.query.model import DealQuery, ProfitConfig, RunConfig
from keepa_deals.query.selection import Selection
from keepa_deals.query.stages import FeedFilters, Filters, OffersFilters, StatsFilters

__all__ = [
    "DEFAULT_QUERY",
    "DealQuery",
    "FeedFilters",
    "Filters",
    "OffersFilters",
    "ProfitConfig",
    "QueryFileError",
    "RunConfig",
    "Selection",
    "StatsFilters",
    "builtin_queries",
    "default_query",
    "load_builtin",
    "load_query",
    "parse_query",
    "query_from_data",
    "resolve_query",
]
