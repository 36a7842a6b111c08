"""The root of every exception keepa-deals raises.

Callers catch these, never httpx's, redis-py's or SQLAlchemy's::

    KeepaDealsError
    ├── ConfigError                 a setting or input file is wrong
    │   └── query.QueryFileError    a deal query file (see query/load.py)
    ├── keepa.errors.KeepaError     talking to Keepa (see keepa/errors.py)
    ├── tokens.errors.BudgetError   the shared token budget (see tokens/errors.py)
    └── store.errors.StoreError     the deal store's database (see store/errors.py)

A stop request (``stop.RunStopped``) is not an error and not in this tree:
``except KeepaDealsError`` never swallows it (see stop.py).
"""

from __future__ import annotations


class KeepaDealsError(Exception):
    """Base class of every error keepa-deals raises on purpose."""


class ConfigError(KeepaDealsError):
    """A setting, a query file or another input is invalid; the message names it."""
