"""Single-runner locks: one live runner per query, with a bounded, renewed lifetime.

::

    lock = open_runner_lock(settings, store)          # Redis with REDIS_URL, else the database
    with LockKeeper(lock, lock_name("used-books-us"), ttl_s=120) as keeper:
        if keeper.held:
            ...                                       # keeper.lost turns True if it slipped away

Both backends implement :class:`~keepa_deals.store.locks.RunnerLock`: a lock has
an owner and an expiry, is renewed only by its live owner, released only by
its owner, and taken over by anyone once expired (docs/failure-classes.md, FC-13).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import socket
import threading
from types import TracebackType
from typing import TYPE_CHECKING, Self

from keepa_deals.errors import KeepaDealsError
from keepa_deals.locks.errors import LockError, LockUnavailable
from keepa_deals.store.locks import DatabaseLock, LockHolder, RunnerLock

if TYPE_CHECKING:
    from keepa_deals.settings import Settings
    from keepa_deals.store import DealStore

log = logging.getLogger(__name__)

_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
_MAX_NAME = 40


def lock_name(kind: str, query: str) -> str:
    """The lock of one job on one query, e.g. ``ingest.used-books-us``.

    Names that Redis's key builder would refuse (too long, odd punctuation) are
    replaced by a digest, on every backend alike.
    """
    name = f"{kind}.{query}"
    if len(name) <= _MAX_NAME and _NAME.fullmatch(name):
        return name
    return f"{kind}.{hashlib.sha256(query.encode()).hexdigest()[:16]}"


def owner_id() -> str:
    """``<host>-<pid>-<8 hex>``: unique per holder, and tells an operator who it is."""
    host = socket.gethostname().split(".")[0][:24] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(4)}"


def open_runner_lock(settings: Settings, store: DealStore) -> RunnerLock:
    """The Redis lock when ``REDIS_URL`` is set (no fallback when Redis is down), else the
    database lock on the deal store."""
    if settings.redis_url:
        from keepa_deals.locks.redis_lock import RedisLock
        from keepa_deals.redis_db.keys import settings_fingerprint

        return RedisLock(settings.redis_url, settings_fingerprint(settings))
    return store.runner_lock()


class LockKeeper:
    """Holds one lock for one owner: takes it, renews it in a background thread, releases it.

    The thread renews every ``ttl_s / 3``; when a renewal fails (the lock expired
    and someone else may hold it) ``lost`` turns True and stays so: the holder
    checks it between batches and stops.  ``release`` acts only for the owner.
    """

    def __init__(self, lock: RunnerLock, name: str, ttl_s: float, *,
                 owner: str | None = None, renew_every_s: float | None = None) -> None:
        if not ttl_s > 0:
            raise ValueError("ttl_s must be positive")
        self.lock = lock
        self.name = name
        self.ttl_s = float(ttl_s)
        self.owner = owner or owner_id()
        self.renew_every_s = renew_every_s if renew_every_s is not None else self.ttl_s / 3
        self.held = False
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"LockKeeper({self.name!r}, owner={self.owner!r}, held={self.held})"

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def acquire(self) -> bool:
        """Take the lock; True when it is ours.  Starts the renewer."""
        self.held = self.lock.acquire(self.name, self.owner, self.ttl_s)
        if self.held:
            self._thread = threading.Thread(target=self._renew_loop, daemon=True,
                                            name=f"lock-renewer {self.name}")
            self._thread.start()
        return self.held

    def holder(self) -> LockHolder | None:
        return self.lock.holder(self.name)

    def renew_now(self) -> bool:
        """Renew once (the thread does this on its own); False marks the lock lost."""
        return self.confirm() is not False

    def confirm(self) -> bool | None:
        """Renew once and say what is known: True (renewed: ours for another TTL), None (the
        lock's store did not answer: unknown), False (lost: it expired before it was
        renewed, and someone else may hold it; ``lost`` turns True)."""
        if not self.held or self.lost:
            return False
        try:
            ok = self.lock.renew(self.name, self.owner, self.ttl_s)
        except (KeepaDealsError, LockError) as exc:
            log.warning("could not renew lock %s: %s", self.name, exc)
            return None  # unknown: the next renewal (or the expiry) decides
        if not ok:
            log.error("lost lock %s: it expired before it was renewed", self.name)
            self._lost.set()
            return False
        return True

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.renew_every_s):
            if not self.renew_now() and self.lost:
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self.held:
            self.held = False
            try:
                self.lock.release(self.name, self.owner)
            except (KeepaDealsError, LockError) as exc:
                log.warning("could not release lock %s (it expires on its own): %s",
                            self.name, exc)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


__all__ = [
    "DatabaseLock",
    "LockError",
    "LockHolder",
    "LockKeeper",
    "LockUnavailable",
    "RunnerLock",
    "lock_name",
    "open_runner_lock",
    "owner_id",
]
