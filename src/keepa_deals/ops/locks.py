"""Every lock, wherever it lives, and whether it is a zombie (docs/failure-classes.md, FC-13).

Locks live in the deal store's ``locks`` table (``DatabaseLock``) and, with
Redis, under ``keepa-deals:{<fp>}:lock:<name>`` (the Redis lock).  A lock is
a *zombie* when:

* it has expired but its row is still there (database): harmless to takers,
  but a sign its owner died without releasing it;
* it has no expiry, or one further away than ``doctor_lock_max_age_s`` (Redis;
  the "10-day lock restored from a dump");
* it has been held longer than ``doctor_lock_max_age_s`` (a worker renewing
  forever, or asleep holding it);
* its owner is gone: the owner names this host and a process that no longer
  exists.  Owners are read as ``<host>-<pid>-<token>`` (what
  :func:`owner_id` makes; ``host:pid`` is read too); an owner on another host
  or in another shape is never declared gone.

The repairs (:func:`repair`) are the safe ones only: delete an expired row,
release a lock whose owner is gone (compare-and-delete on the owner), and give
a Redis lock without a lifetime a bounded one, which a live owner's next
renewal replaces.  Nothing else is ever deleted, and Redis is never flushed.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from keepa_deals.errors import KeepaDealsError

if TYPE_CHECKING:
    from keepa_deals.ops.sources import Sources
    from keepa_deals.store import DealStore

DATABASE, REDIS = "database", "redis"

_OWNER = re.compile(
    r"^(?P<host>[A-Za-z0-9_.]+(?:-[A-Za-z0-9_.]+)*?)[-:/](?P<pid>\d+)(?:[-:/][0-9A-Za-z]+)?$"
)

_RELEASE_IF_OWNER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_EXPIRE_IF_NO_TTL = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl == -1 or ttl > tonumber(ARGV[1]) then return redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 0
"""


def short_host() -> str:
    """This host as owner ids name it (the first label, at most 24 characters)."""
    return socket.gethostname().split(".")[0][:24] or "host"


def owner_id() -> str:
    """An owner id doctor can check for liveness: ``<host>-<pid>-<8 hex>``."""
    return f"{short_host()}-{os.getpid()}-{secrets.token_hex(4)}"


def parse_owner(owner: str) -> tuple[str, int] | None:
    """(host, pid) of an owner id, or None when it has another shape."""
    m = _OWNER.match(owner.strip())
    if m is None:
        return None
    return m.group("host"), int(m.group("pid"))


def owner_alive(owner: str) -> bool | None:
    """False when the owner is a process of this host that no longer exists; None: can't tell."""
    parsed = parse_owner(owner)
    if parsed is None:
        return None
    host, pid = parsed
    full = socket.gethostname()
    if host not in (short_host(), full, full.split(".")[0]):
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return None
    return True


@dataclass(frozen=True, slots=True)
class LockView:
    backend: str
    name: str
    owner: str
    acquired_at: datetime | None
    #: None when the lock never expires
    expires_at: datetime | None
    owner_alive: bool | None
    #: why it is a zombie; empty when it is not
    problems: tuple[str, ...] = ()
    #: the Redis key (Redis locks only)
    key: str | None = None

    @property
    def zombie(self) -> bool:
        return bool(self.problems)

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "name": self.name,
            "owner": self.owner,
            "owner_alive": self.owner_alive,
            "acquired_at": self.acquired_at.isoformat() if self.acquired_at else None,
            "held_for_s": _secs(now - self.acquired_at) if self.acquired_at else None,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "expires_in_s": _secs(self.expires_at - now) if self.expires_at else None,
            "zombie": self.zombie,
            "problems": list(self.problems),
        }


@dataclass(slots=True)
class LockListing:
    locks: list[LockView] = field(default_factory=list)
    #: backend -> why its locks could not be read
    errors: dict[str, str] = field(default_factory=dict)


def _secs(td: timedelta) -> float:
    return round(td.total_seconds(), 3)


def list_locks(sources: Sources) -> LockListing:
    """Every lock in the database and (when configured) in Redis, judged."""
    out = LockListing()
    now = _now(sources)
    max_age = timedelta(seconds=sources.settings.doctor_lock_max_age_s)
    store = sources.deal_store()
    if store is None:
        out.errors[DATABASE] = sources.errors.get("database", "unreachable")
    else:
        try:
            out.locks.extend(_database_locks(store, now, max_age))
        except KeepaDealsError as exc:
            out.errors[DATABASE] = f"unreachable: {exc}"
    if sources.redis_configured:
        client = sources.redis()
        if client is None:
            out.errors[REDIS] = sources.errors.get("redis", "unreachable")
        else:
            try:
                out.locks.extend(_redis_locks(sources, client, now, max_age))
            except Exception as exc:  # redis-py errors stay here
                out.errors[REDIS] = f"unreachable: {type(exc).__name__}"
    out.locks.sort(key=lambda lk: (lk.backend, lk.name))
    return out


def _now(sources: Sources) -> datetime:
    return datetime.fromtimestamp(sources.now_ms() / 1000, tz=UTC)


def _judge(owner: str, acquired: datetime | None, expires: datetime | None, now: datetime,
           max_age: timedelta) -> tuple[bool | None, tuple[str, ...]]:
    problems: list[str] = []
    alive = owner_alive(owner)
    if expires is None:
        problems.append("never expires (no TTL): nothing will ever free it")
    elif expires <= now:
        problems.append(f"expired {_secs(now - expires):g} s ago but still recorded")
    elif expires - now > max_age:
        problems.append(f"set to live another {_secs(expires - now):g} s, more than "
                        f"{max_age.total_seconds():g} s")
    if acquired is not None and now - acquired > max_age and (expires is None or expires > now):
        problems.append(f"held for {_secs(now - acquired):g} s, more than "
                        f"{max_age.total_seconds():g} s")
    if alive is False and (expires is None or expires > now):
        problems.append(f"its owner {owner} is gone (no such process on this host)")
    return alive, tuple(problems)


def _database_locks(store: DealStore, now: datetime, max_age: timedelta) -> list[LockView]:
    views = []
    for row in store.lock_rows():
        alive, problems = _judge(row.owner, row.acquired_at, row.expires_at, now, max_age)
        views.append(LockView(DATABASE, row.name, row.owner, row.acquired_at, row.expires_at,
                              alive, problems))
    return views


def _lock_pattern(sources: Sources) -> tuple[str, str]:
    from keepa_deals.redis_db.keys import KeyBuilder, settings_fingerprint

    kb = KeyBuilder(settings_fingerprint(sources.settings))
    prefix = kb.lock("x")[:-1]
    return prefix, kb.pattern[:-1] + "lock:*"


def _redis_locks(sources: Sources, client: Any, now: datetime,
                 max_age: timedelta) -> list[LockView]:
    prefix, pattern = _lock_pattern(sources)
    views = []
    for raw_key in client.scan_iter(match=pattern, count=200):
        key = raw_key.decode() if isinstance(raw_key, bytes) else str(raw_key)
        kind = _text(client.type(key))
        if kind == "string":
            owner = _text(client.get(key))
        elif kind == "hash":
            data = {_text(k): _text(v) for k, v in client.hgetall(key).items()}
            owner = data.get("owner") or data.get("token") or ",".join(sorted(data))
        else:
            continue
        pttl = int(client.pttl(key))
        if pttl == -2:
            continue  # expired between SCAN and now
        expires = None if pttl < 0 else now + timedelta(milliseconds=pttl)
        alive, problems = _judge(owner, None, expires, now, max_age)
        views.append(LockView(REDIS, key[len(prefix):], owner, None, expires, alive, problems,
                              key=key))
    return views


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def repair(sources: Sources, lock: LockView) -> str | None:
    """Apply the safe repair for one zombie; returns what was done (None: nothing safe)."""
    now = _now(sources)
    expired = lock.expires_at is not None and lock.expires_at <= now
    if lock.backend == DATABASE:
        store = sources.deal_store()
        if store is None:
            return None
        if expired:
            return (f"deleted the expired row of {lock.name}"
                    if store.delete_expired_lock(lock.name, lock.owner, now) else None)
        if lock.owner_alive is False:
            released = store.runner_lock().release(lock.name, lock.owner)
            return f"released {lock.name} (owner {lock.owner} is gone)" if released else None
        return None
    client = sources.redis()
    if client is None or lock.key is None:
        return None
    if lock.owner_alive is False:
        if client.eval(_RELEASE_IF_OWNER, 1, lock.key, lock.owner):
            return f"released {lock.name} (owner {lock.owner} is gone)"
        return None
    ttl_ms = int(sources.settings.doctor_lock_max_age_s * 1000)
    if lock.expires_at is None or lock.expires_at - now > timedelta(milliseconds=ttl_ms):
        if client.eval(_EXPIRE_IF_NO_TTL, 1, lock.key, str(ttl_ms)):
            return (f"gave {lock.name} a lifetime of {ttl_ms // 1000} s (it frees itself "
                    "unless its owner renews it)")
    return None
