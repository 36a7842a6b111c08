"""Errors from the runner locks.

::

    LockError               a runner lock failed
    └── LockUnavailable     the lock's backend (Redis) cannot be reached

The database lock raises the deal store's own errors (store/errors.py).
"""

from __future__ import annotations

from keepa_deals.errors import KeepaDealsError


class LockError(KeepaDealsError):
    """Base class of runner-lock errors."""


class LockUnavailable(LockError):
    """Redis cannot be reached for the lock; nothing falls back to another lock."""
