"""The database-backed single-runner lock, for when no Redis is configured.

Every lock has an owner and an expiry.  ``acquire`` is one atomic statement:
insert the lock, or take it over only when it has expired (or is already the
caller's).  ``renew`` and ``release`` act only for the current owner, and a
renewal of a lock that has expired fails, as it would on Redis, where the key
would be gone.  A lock therefore never outlives its owner by more than its
TTL, and nothing resurrects an expired lock.

The clock is the caller's (tests pass a FakeClock); run runners on hosts with
synchronised clocks.  The Redis lock implements the same ``RunnerLock``
protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from keepa_deals.clock import SYSTEM_CLOCK, Clock
from keepa_deals.store.engine import translate_errors
from keepa_deals.store.schema import LOCKS


@dataclass(frozen=True, slots=True)
class LockHolder:
    name: str
    owner: str
    acquired_at: datetime
    expires_at: datetime


class RunnerLock(Protocol):
    """A named lock with a bounded lifetime, held by one owner at a time."""

    def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take the lock for ``ttl_s`` seconds: True if it was free, expired or already ours."""

    def renew(self, name: str, owner: str, ttl_s: float) -> bool:
        """Extend our unexpired lock to now + ``ttl_s``; False if we no longer hold it."""

    def release(self, name: str, owner: str) -> bool:
        """Let go of the lock if we hold it; False (and no change) otherwise."""

    def holder(self, name: str) -> LockHolder | None:
        """Who holds the lock now (None when it is free or expired)."""


class DatabaseLock:
    """RunnerLock on the store's ``locks`` table (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.engine = engine
        self.clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now_ms() / 1000, tz=UTC)

    def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        _check(name, owner, ttl_s)
        now = self._now()
        expires = now + timedelta(seconds=ttl_s)
        dialect = sqlite if self.engine.dialect.name == "sqlite" else postgresql
        ins: Any = dialect.insert(LOCKS).values(
            name=name, owner=owner, acquired_at=now, expires_at=expires
        )
        stmt = ins.on_conflict_do_update(
            index_elements=[LOCKS.c.name],
            set_={"owner": ins.excluded.owner, "acquired_at": ins.excluded.acquired_at,
                  "expires_at": ins.excluded.expires_at},
            where=or_(LOCKS.c.expires_at <= now, LOCKS.c.owner == owner),
        ).execution_options(preserve_rowcount=True)  # 1: inserted or taken over; 0: held
        with translate_errors(self.engine.url), self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def renew(self, name: str, owner: str, ttl_s: float) -> bool:
        _check(name, owner, ttl_s)
        now = self._now()
        stmt = (
            update(LOCKS)
            .where(LOCKS.c.name == name, LOCKS.c.owner == owner, LOCKS.c.expires_at > now)
            .values(expires_at=now + timedelta(seconds=ttl_s))
        )
        with translate_errors(self.engine.url), self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def release(self, name: str, owner: str) -> bool:
        stmt = delete(LOCKS).where(LOCKS.c.name == name, LOCKS.c.owner == owner)
        with translate_errors(self.engine.url), self.engine.begin() as conn:
            return conn.execute(stmt).rowcount == 1

    def holder(self, name: str) -> LockHolder | None:
        stmt = select(LOCKS).where(LOCKS.c.name == name, LOCKS.c.expires_at > self._now())
        with translate_errors(self.engine.url), self.engine.connect() as conn:
            row = conn.execute(stmt).one_or_none()
        if row is None:
            return None
        return LockHolder(row.name, row.owner, row.acquired_at, row.expires_at)


def _check(name: str, owner: str, ttl_s: float) -> None:
    if not name or not owner:
        raise ValueError("a lock needs a name and an owner")
    if not ttl_s > 0:
        raise ValueError(f"a lock's TTL must be positive, got {ttl_s!r}")


def delete_expired(conn: Connection, name: str, owner: str, now: datetime) -> bool:
    """Delete a database lock row held by ``owner`` that expired at or before ``now``."""
    stmt = delete(LOCKS).where(LOCKS.c.name == name, LOCKS.c.owner == owner,
                                LOCKS.c.expires_at <= now)
    return bool(conn.execute(stmt).rowcount)
