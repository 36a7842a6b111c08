"""The Redis store: the shared budget of every worker on every host.

Each step is one Lua call (package data under ``budget/lua/``), one round
trip: it reads Redis ``TIME``, reads and parses the stored state once,
decides and writes back atomically.  The Lua is a transcription of
:mod:`keepa_deals.budget.core`; ``lib.lua``, ``changes.lua`` and ``steps.lua``
hold the shared part.

On Redis 7 and later the operations are one Redis Functions library
(``FUNCTION LOAD`` once, then one ``FCALL`` per step): the shared part is
defined once, not on every call.  Its name carries a digest of its source, so
hosts running different versions each call their own.  When it is missing
(first use, ``FUNCTION FLUSH``, a restart without persistence) the store loads
it and calls again.  Where Redis has no functions (Redis 5 and 6) or the user
may not use them, the store falls back, for its lifetime, to one ``EVALSHA`` per
step of the same Lua (the shared part prepended to each operation); after
``NOSCRIPT`` its redis-py ``Script`` object loads it and runs it again.

Snapshots and :meth:`RedisStore.raw` read the state and the clock in one
atomic script and run the Python core on it: a read-only view needs no
second implementation.

Keys come from :class:`~keepa_deals.redis_db.keys.KeyBuilder`, namespaced by the
API key's fingerprint.  Every written key but one gets a bounded TTL: the
budget hash a day, the leases hash the longest lease TTL plus a margin.  The
marker (``budget.state``) has none, so that no ``volatile-*`` eviction policy
takes it: it is what tells a state loss from a first start.  It is a few bytes
per API key, and a stale one only ever says leases that have long expired.

If Redis cannot be reached, or fails mid-call, the store raises
:class:`BudgetStoreUnavailable` naming host and port (never a password).  It
never falls back to another store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any, TypeVar, cast

import redis
from redis.commands.core import Script
from redis.exceptions import NoPermissionError, NoScriptError

from keepa_deals.budget import core
from keepa_deals.budget.core import Decision, Policy, Snapshot
from keepa_deals.clock import Clock
from keepa_deals.redis_db.connection import connect, describe
from keepa_deals.redis_db.keys import KeyBuilder
from keepa_deals.tokens.errors import BudgetError, BudgetStoreUnavailable
from keepa_deals.tokens.status import TokenStatus

T = TypeVar("T")

BUDGET_TTL_MS = 24 * 3600 * 1000
LEASES_TTL_MARGIN_MS = 60_000
MIN_LEASES_TTL_MS = 60_000
MAX_KEY_TTL_MS = 7 * 24 * 3600 * 1000

#: ResponseError prefixes that mean "Redis cannot serve us now", not "our script is wrong".
_UNAVAILABLE_REPLIES = (
    "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "MISCONF", "READONLY",
    "NOREPLICAS", "OOM",
)

OPERATIONS = ("acquire", "settle", "settle_acquire", "observe", "claim_sync")
STANDALONE = ("read", "write")
#: The Lua every operation shares, in order (one chunk: each file uses the locals before it).
SHARED_PARTS = ("lib", "changes", "steps")
SHARED = tuple(f"{part}.lua" for part in SHARED_PARTS)


@cache
def script_source(name: str) -> str:
    """The Lua source of one script (operations get lib.lua, changes.lua and steps.lua
    prepended)."""
    lua = resources.files("keepa_deals.budget").joinpath("lua")
    own = lua.joinpath(f"{name}.lua").read_text(encoding="utf-8")
    if name in STANDALONE:
        return own
    if name not in OPERATIONS:
        raise ValueError(f"no budget script named {name!r}")
    shared = (lua.joinpath(part).read_text(encoding="utf-8") for part in SHARED)
    return "\n".join((*shared, own, f"K, A = KEYS, ARGV\nreturn op_{name}()\n"))


@cache
def library() -> tuple[str, str]:
    """The Redis Functions library of every operation: its name and its source.

    The name is ``keepa_budget_`` and a digest of the source; operation ``op``
    is the function ``<name>_<op>``.
    """
    lua = resources.files("keepa_deals.budget").joinpath("lua")
    body = "\n".join(lua.joinpath(f"{part}.lua").read_text(encoding="utf-8")
                     for part in (*SHARED_PARTS, *OPERATIONS))
    name = "keepa_budget_" + hashlib.sha256(body.encode()).hexdigest()[:16]
    register = "".join(
        f"redis.register_function('{name}_{op}', "
        f"function(keys, args) K, A = keys, args; return op_{op}() end)\n"
        for op in OPERATIONS
    )
    return name, f"#!lua name={name}\n{body}\n{register}"


class _NoFunctions(Exception):
    """Redis cannot run the library (no FCALL, or not allowed): use EVALSHA."""


def _no_functions(exc: redis.ResponseError) -> bool:
    return isinstance(exc, NoPermissionError) or str(exc).lower().startswith("unknown command")


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ValueError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _ms(value: object, what: str) -> str:
    if type(value) is int:  # the usual case, checked first: it is on every call's path
        return str(value)
    return str(_int(value, what))


def _clamp(x: int, lo: int, hi: int) -> int:
    return max(lo, min(hi, x))


def _text(b: bytes | str) -> str:
    return b.decode("utf-8", "surrogateescape") if isinstance(b, bytes) else b


def _bytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _pairs(flat: Sequence[bytes]) -> dict[str, str]:
    return {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}


def _status_args(status: TokenStatus) -> list[str]:
    return [
        _ms(status.tokens_left, "tokensLeft"),
        _ms(status.refill_in_ms, "refillIn"),
        _ms(status.refill_rate, "refillRate"),
        _ms(status.timestamp_ms, "timestamp"),
    ]


def _settle_args(lease_id: str, cost_mt: int, status: TokenStatus | None) -> list[str]:
    extra = ["1", *_status_args(status)] if status is not None else ["0"]
    return [lease_id, _ms(cost_mt, "cost"), *extra]


def _settle_acquire_arg(settled: tuple[str, int, TokenStatus | None], lease_id: str,
                        cost_mt: int) -> bytes:
    """settle_acquire.lua's ARGV[3]: the numbers on one line, then both ids back to back.

    One argument rather than nine: redis-py packs each argument of a command on its
    own, and that packing was most of the client's side of a Keepa call.
    """
    settled_id, settled_cost, status = settled
    first, second = settled_id.encode(), lease_id.encode()
    head = f"{_ms(settled_cost, 'cost')} {_ms(cost_mt, 'cost')} {len(first)} {len(second)}"
    if status is not None:
        head = f"{head} {' '.join(_status_args(status))}"
    return b"%s\n%s%s" % (head.encode(), first, second)


def _opt(text: str) -> int | None:
    return int(text) if text else None


def _decision(reply: bytes | str) -> Decision:
    """The reply of acquire.lua (and settle_acquire.lua): one string of lines.

    Unpacked by name and built positionally: it is on every Keepa call's path.
    """
    kind, reason, wait, expires, projected, available, needed, seen, cap, now, last_sync = (
        _text(reply).split("\n", 10))
    return Decision(
        cast(core.Kind, kind), reason, _opt(wait), _opt(expires), _opt(projected),
        _opt(available), _opt(needed), _opt(seen), _opt(cap), _opt(now),
        # the stored text, read as core.parse reads it (exact even beyond 2**53)
        int(last_sync.strip()) if last_sync else None,
    )


class RedisStore:
    """The budget's state in Redis, stepped atomically by Lua scripts."""

    kind = "redis"

    def __init__(
        self,
        url_or_client: str | redis.Redis,
        api_key_fingerprint: str,
        *,
        clock: Clock | None = None,
        functions: bool = True,
    ) -> None:
        self.keys = KeyBuilder(api_key_fingerprint)
        #: None in production (Redis TIME); a clock only in tests, passed as ARGV now_ms
        self.clock = clock
        if isinstance(url_or_client, str):
            self._client = connect(url_or_client)
            self._owns_client = True
        else:
            self._client = url_or_client
            self._owns_client = False
        self.where = describe(self._client)
        self._key_list = [k.encode() for k in self.keys.budget_keys]
        self._scripts: dict[str, Script] = {
            name: self._client.register_script(script_source(name))
            for name in (*OPERATIONS, *STANDALONE)
        }
        self._policy_args: dict[Policy, bytes] = {}
        self._last_policy: tuple[Policy | None, bytes] = (None, b"")
        #: FCALL of the library while Redis runs it; False: EVALSHA (the tests force either)
        self.functions = functions
        self._library, self._library_source = library()
        self._functions = {op: f"{self._library}_{op}" for op in OPERATIONS}

    def __repr__(self) -> str:
        return f"RedisStore({self.where}, {self.keys.fingerprint})"

    # -- the BudgetStore protocol ----------------------------------------------

    def now_ms(self) -> int:
        if self.clock is not None:
            return self.clock.now_ms()
        reply: Any = self._guard("TIME", self._client.time)  # (seconds, microseconds)
        sec, usec = reply
        return int(sec) * 1000 + int(usec) // 1000

    def acquire(self, lease_id: str, cost_mt: int, policy: Policy) -> Decision:
        return _decision(self._run("acquire", policy, [lease_id, _ms(cost_mt, "cost")]))

    def settle(self, lease_id: str, cost_mt: int, status: TokenStatus | None,
               policy: Policy) -> None:
        self._run("settle", policy, _settle_args(lease_id, cost_mt, status))

    def settle_acquire(self, settled: tuple[str, int, TokenStatus | None], lease_id: str,
                       cost_mt: int, policy: Policy) -> Decision:
        arg = _settle_acquire_arg(settled, lease_id, cost_mt)
        return _decision(self._run("settle_acquire", policy, [arg]))

    def observe(self, status: TokenStatus, policy: Policy, *, authoritative: bool = False) -> None:
        self._run("observe", policy, ["1" if authoritative else "0", *_status_args(status)])

    def claim_sync(self, policy: Policy) -> bool:
        return bool(self._run("claim_sync", policy, []))

    def snapshot(self, policy: Policy) -> Snapshot:
        now, fields, leases, marker = self._read()
        return core.snapshot(core.parse(fields, leases, now, policy, marker), now)

    def raw(self) -> tuple[dict[str, str], dict[str, str]]:
        _, fields, leases, _ = self._read()
        return fields, leases

    def raw_marker(self) -> str | None:
        return self._read()[3]

    def write_marker(self, value: str | None) -> None:
        key = self.keys.budget_marker
        if value is None:
            self._guard("DEL", lambda: self._client.delete(key))
        else:
            self._guard("SET", lambda: self._client.set(key, _bytes(value)))

    def write_raw(self, fields: Mapping[str, str | None], leases: Mapping[str, str | None]) -> None:
        args: list[str | bytes] = [str(BUDGET_TTL_MS), str(self._leases_ttl(Policy()))]
        for index, updates in (("1", fields), ("2", leases)):
            for name, value in updates.items():
                if value is None:
                    args += [index, "del", _bytes(name), b""]
                else:
                    args += [index, "set", _bytes(name), _bytes(value)]
        self._call("write", args)

    def clear(self) -> None:
        """Delete this budget's keys, the marker too (and only those; nothing here flushes Redis)."""
        self._guard("DEL", lambda: self._client.delete(*self._key_list))

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    # -- helpers -----------------------------------------------------------------

    @staticmethod
    def _leases_ttl(policy: Policy) -> int:
        return _clamp(policy.lease_ttl_ms + LEASES_TTL_MARGIN_MS, MIN_LEASES_TTL_MS, MAX_KEY_TTL_MS)

    def _args(self, policy: Policy) -> bytes:
        """ARGV[2]: the policy and the key TTLs, one JSON array (cached per policy)."""
        if policy is self._last_policy[0]:  # the same object as last time: no hashing
            return self._last_policy[1]
        blob = self._policy_args.get(policy)
        if blob is None:
            blob = json.dumps([
                _int(policy.floor, "floor"),
                _int(policy.min_balance, "min_balance"),
                _int(policy.lease_ttl_ms, "lease_ttl_ms"),
                _int(policy.anchor_max_age_ms, "anchor_max_age_ms"),
                float(policy.burst_minutes),  # written as repr(): the same double in Lua
                _int(policy.sync_interval_ms, "sync_interval_ms"),
                _int(policy.recharge_slack_ms, "recharge_slack_ms"),
                _int(policy.zero_rate_retry_ms, "zero_rate_retry_ms"),
                BUDGET_TTL_MS,
                self._leases_ttl(policy),
            ]).encode()
            if len(self._policy_args) >= 64:  # one or two policies in practice
                self._policy_args.clear()
            self._policy_args[policy] = blob
        self._last_policy = (policy, blob)
        return blob

    def _now_arg(self) -> bytes:
        return b"" if self.clock is None else str(int(self.clock.now_ms())).encode()

    def _run(self, name: str, policy: Policy, extra: Sequence[str | bytes]) -> Any:
        return self._call(name, [self._now_arg(), self._args(policy), *extra])

    def _read(self) -> tuple[int, dict[str, str], dict[str, str], str | None]:
        now, fields, leases, marker = self._call("read", [self._now_arg()])
        return int(now), _pairs(fields), _pairs(leases), None if marker is None else _text(marker)

    def _call(self, name: str, args: Sequence[str | bytes]) -> Any:
        """One FCALL of the library's function, else one EVALSHA of the script."""
        if self.functions and name in OPERATIONS:
            try:
                return self._guard(name, lambda: self._fcall(name, args))
            except _NoFunctions:
                self.functions = False  # Redis < 7, or a user who may not: for good
        return self._evalsha(name, args)

    def _fcall(self, name: str, args: Sequence[str | bytes]) -> Any:
        """One FCALL; when the library is missing, FUNCTION LOAD it and call again."""
        function = self._functions[name]
        keys = self._key_list
        try:
            return self._client.fcall(function, len(keys), *keys, *args)
        except redis.ResponseError as exc:
            if _no_functions(exc):
                raise _NoFunctions from None
            if "function not found" not in str(exc).lower():
                raise
        try:
            self._client.function_load(self._library_source)
        except redis.ResponseError as exc:
            if _no_functions(exc):
                raise _NoFunctions from None
            if "already exists" not in str(exc):  # else another worker loaded it meanwhile
                raise
        return self._client.fcall(function, len(keys), *keys, *args)

    def _evalsha(self, name: str, args: Sequence[str | bytes]) -> Any:
        """One EVALSHA; after NOSCRIPT the Script object loads the script and runs it again."""
        script = self._scripts[name]
        keys = self._key_list

        def run() -> Any:
            try:
                return self._client.evalsha(script.sha, len(keys), *keys, *args)
            except NoScriptError:
                return script(keys=keys, args=args)

        return self._guard(name, run)

    def _guard(self, what: str, op: Callable[[], T]) -> T:
        """Run one Redis call, turning redis-py's errors into ours."""
        try:
            return op()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise self._unavailable(what, exc) from None
        except redis.ResponseError as exc:
            if str(exc).split(" ", 1)[0].upper() in _UNAVAILABLE_REPLIES:
                raise self._unavailable(what, exc) from None
            raise BudgetError(
                f"the token budget's {what} step failed in Redis at {self.where}: "
                f"{self._redact(str(exc))}"
            ) from None
        except redis.RedisError as exc:
            raise self._unavailable(what, exc) from None

    def _unavailable(self, what: str, exc: Exception) -> BudgetStoreUnavailable:
        detail = self._redact(str(exc)) or type(exc).__name__
        return BudgetStoreUnavailable(
            f"Redis at {self.where} is unavailable for the token budget ({what}: "
            f"{type(exc).__name__}: {detail}); keepa-deals does not fall back to a local "
            "budget: start Redis or fix REDIS_URL"
        )

    def _redact(self, text: str) -> str:
        try:
            password = self._client.connection_pool.connection_kwargs.get("password")
        except AttributeError:
            password = None
        if password:
            text = text.replace(str(password), "***")
        return text
