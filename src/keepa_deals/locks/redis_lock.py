"""RedisLock: the single-runner lock in Redis, for when ``REDIS_URL`` is set.

The same :class:`~keepa_deals.store.locks.RunnerLock` interface as the
database lock.  A lock is one string key, ``keepa-deals:{<fp>}:lock:<name>``
(named by :class:`~keepa_deals.redis_db.keys.KeyBuilder`), holding the owner id,
**always with a TTL**:

* ``acquire``: ``SET NX PX`` when free, ``PEXPIRE`` when already ours, nothing
  when another owner holds it (a foreign key found without a TTL is given one);
* ``renew``: compare-and-``PEXPIRE`` (Lua): only the owner extends it, and an
  expired lock cannot be renewed, it is gone;
* ``release``: compare-and-``DEL`` (Lua): only the owner deletes it.

Expiry is Redis's own clock.  A restart or a restored dump cannot resurrect a
lock for longer than its lifetime: every key carries its TTL with it.
Nothing here flushes Redis.  Redis errors come out as
:class:`~keepa_deals.locks.errors.LockUnavailable`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any, TypeVar

import redis
from redis.commands.core import Script

from keepa_deals.locks.errors import LockError, LockUnavailable
from keepa_deals.redis_db.connection import connect, describe
from keepa_deals.redis_db.keys import KeyBuilder
from keepa_deals.store.locks import LockHolder

T = TypeVar("T")

SCRIPTS = ("acquire", "renew", "release", "holder")


@cache
def script_source(name: str) -> str:
    if name not in SCRIPTS:
        raise ValueError(f"no lock script named {name!r}")
    return resources.files("keepa_deals.locks").joinpath("lua", f"{name}.lua").read_text("utf-8")


def _ttl_ms(ttl_s: float) -> str:
    if not ttl_s > 0:
        raise ValueError(f"a lock's TTL must be positive, got {ttl_s!r}")
    return str(max(1, int(ttl_s * 1000)))


def _check(name: str, owner: str) -> None:
    if not name or not owner:
        raise ValueError("a lock needs a name and an owner")


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class RedisLock:
    """RunnerLock on Redis; ``fingerprint`` namespaces the keys (one per Keepa key)."""

    def __init__(self, url_or_client: str | redis.Redis, fingerprint: str) -> None:
        self.keys = KeyBuilder(fingerprint)
        if isinstance(url_or_client, str):
            self._client = connect(url_or_client)
            self._owns_client = True
        else:
            self._client = url_or_client
            self._owns_client = False
        self.where = describe(self._client)
        self._scripts: dict[str, Script] = {
            n: self._client.register_script(script_source(n)) for n in SCRIPTS
        }

    def __repr__(self) -> str:
        return f"RedisLock({self.where}, {self.keys.fingerprint})"

    def key(self, name: str) -> str:
        return self.keys.lock(name)

    def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        _check(name, owner)
        return bool(self._run("acquire", name, owner, _ttl_ms(ttl_s)))

    def renew(self, name: str, owner: str, ttl_s: float) -> bool:
        _check(name, owner)
        return bool(self._run("renew", name, owner, _ttl_ms(ttl_s)))

    def release(self, name: str, owner: str) -> bool:
        _check(name, owner)
        return bool(self._run("release", name, owner))

    def holder(self, name: str) -> LockHolder | None:
        owner, pttl, now_ms = self._run("holder", name)
        if owner is None or int(pttl) == -2:
            return None
        now = datetime.fromtimestamp(int(now_ms) / 1000, tz=UTC)
        # Redis keeps no acquisition time: acquired_at is when this was asked.
        if int(pttl) >= 0:
            expires = now + timedelta(milliseconds=int(pttl))
        else:  # no TTL: never written by us (acquire gives such a key one)
            expires = datetime.max.replace(tzinfo=UTC)
        return LockHolder(name, _text(owner), now, expires)

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def _run(self, script: str, name: str, *args: str) -> Any:
        key = self.key(name)
        return self._guard(script, lambda: self._scripts[script](keys=[key], args=list(args)))

    def _guard(self, what: str, op: Callable[[], T]) -> T:
        try:
            return op()
        except redis.ResponseError as exc:
            raise LockError(f"the lock's {what} step failed in Redis at {self.where}: "
                            f"{type(exc).__name__}") from None
        except redis.RedisError as exc:
            raise LockUnavailable(
                f"Redis at {self.where} is unavailable for the runner lock ({what}: "
                f"{type(exc).__name__}); start Redis or fix REDIS_URL"
            ) from None
