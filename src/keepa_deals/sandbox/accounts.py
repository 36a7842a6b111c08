"""Per-key token accounts: Keepa's token bucket, charged and refilled lazily.

An account refills ``+rate`` at every instant ``t`` with ``t % 60000 ==
phase_ms`` (never at a background timer: the refills owed are computed from
the time of the last update whenever the account is touched), clamped to the
cap of 60 × rate.  A request is admitted on arrival while the balance is
positive and charged its real cost after the work, so balances can go
negative.  This bucket is written here from Keepa's documented rules
(section 2 of the Keepa facts), not borrowed from the client's projection
(``keepa_deals.tokens.economics``), so that tests of the budget's projections
meet an independent bucket; ``tests/sandbox/test_costs_agree.py`` checks the
two agree.

Accounts are stored under the sha256 of their key; the key itself is never
kept, printed or returned.  Admin views name an account by
:func:`fingerprint`, the first 12 hex digits of that digest.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

#: Keepa refills once a minute. [C]
MINUTE_MS = 60_000
#: Tokens expire after 60 minutes, so the bucket holds 60 × rate. [C: the
#: plans page's worked example; I: that it holds for every plan]
CAP_MINUTES = 60

#: The demo account's key: 64 characters of [a-z0-9] like a real key, and
#: plainly a sandbox key.  It grants nothing at api.keepa.com.
DEMO_KEY = "keepadealssandboxdemokey" + "0" * 40

_KEY_RE = re.compile(r"[a-z0-9]{64}")


def is_well_formed_key(key: str | None) -> bool:
    """Keepa access keys are 64 characters of lower-case letters and digits."""
    return key is not None and _KEY_RE.fullmatch(key) is not None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def fingerprint(key: str) -> str:
    """A short, stable, non-reversible name for a key (safe to print)."""
    return _digest(key)[:12]


def cap_for(rate: int) -> int:
    """The bucket of a plan refilling ``rate`` a minute: 60 minutes of tokens."""
    return CAP_MINUTES * max(int(rate), 0)


def admits(tokens: int) -> bool:
    """Keepa runs a request while the balance is positive. [C; I: exactly > 0]"""
    return tokens > 0


def refills_since(first_tick_ms: int, now_ms: int) -> int:
    """How many refill instants ``first_tick_ms + k·60 s`` (k ≥ 0) are ≤ ``now_ms``."""
    if now_ms < first_tick_ms:
        return 0
    return 1 + (now_ms - first_tick_ms) // MINUTE_MS


def refilled(tokens: int, rate: int, refills: int, cap: int) -> int:
    """The balance after ``refills`` refills of ``rate``, clamped to ``cap``.

    A balance already above the cap (after a plan downgrade) is not cut.
    """
    if refills <= 0 or rate <= 0 or tokens >= cap:
        return tokens
    return min(cap, tokens + refills * rate)


def next_tick_after(now_ms: int, phase_ms: int) -> int:
    """The first refill instant strictly after ``now_ms`` for this phase."""
    return now_ms - (now_ms - phase_ms) % MINUTE_MS + MINUTE_MS


@dataclass(frozen=True, slots=True)
class AccountState:
    """A consistent snapshot of one account, refilled up to ``now_ms``."""

    fingerprint: str
    now_ms: int
    tokens: int
    refill_rate: int
    token_flow_reduction: float
    phase_ms: int
    cap: int
    floor: int | None
    expired: bool
    refill_in_ms: int
    tokens_consumed: int
    tokens_refilled: int
    refused: int
    min_balance: int
    requests: dict[tuple[str, int], int]

    @property
    def net_refill_rate(self) -> int:
        return net_rate(self.refill_rate, self.token_flow_reduction)

    def requests_to(self, endpoint: str, status: int | None = None) -> int:
        """How many requests this account made to ``endpoint`` (with ``status``)."""
        return sum(
            n for (ep, st), n in self.requests.items()
            if ep == endpoint and (status is None or st == status)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "now_ms": self.now_ms,
            "tokens": self.tokens,
            "refill_rate": self.refill_rate,
            "token_flow_reduction": self.token_flow_reduction,
            "net_refill_rate": self.net_refill_rate,
            "phase_ms": self.phase_ms,
            "cap": self.cap,
            "floor": self.floor,
            "expired": self.expired,
            "refill_in_ms": self.refill_in_ms,
            "counters": {
                "tokens_consumed": self.tokens_consumed,
                "tokens_refilled": self.tokens_refilled,
                "refused_429": self.refused,
                "min_balance": self.min_balance,
                "requests": [
                    {"endpoint": ep, "status": st, "count": n}
                    for (ep, st), n in sorted(self.requests.items())
                ],
            },
        }


def net_rate(refill_rate: int, token_flow_reduction: float) -> int:
    """Tokens actually added per refill: the plan rate less the (rounded) tracking flow."""
    return max(0, int(refill_rate) - round(token_flow_reduction))


@dataclass(eq=False)
class Account:
    """One key's bucket.  Every method takes the time explicitly and is thread-safe."""

    fingerprint: str
    tokens: int
    refill_rate: int
    synced_ms: int
    token_flow_reduction: float = 0.0
    phase_ms: int = 0
    cap_override: int | None = None
    floor: int | None = None
    expired: bool = False
    tokens_consumed: int = 0
    tokens_refilled: int = 0
    refused: int = 0
    min_balance: int = 0
    requests: Counter[tuple[str, int]] = field(default_factory=Counter)
    #: Every charged product call: (the ASINs asked for, whether with offers, tokens charged).
    purchases: list[tuple[tuple[str, ...], bool, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.phase_ms %= MINUTE_MS
        self.min_balance = self.tokens

    @property
    def cap(self) -> int:
        return self.cap_override if self.cap_override is not None else cap_for(self.refill_rate)

    def _sync(self, now_ms: int) -> None:
        if now_ms <= self.synced_ms:
            return
        first = next_tick_after(self.synced_ms, self.phase_ms)
        refills = refills_since(first, now_ms)
        before = self.tokens
        rate = net_rate(self.refill_rate, self.token_flow_reduction)
        self.tokens = refilled(self.tokens, rate, refills, self.cap)
        self.tokens_refilled += self.tokens - before
        self.synced_ms = now_ms

    def _note_balance(self) -> None:
        self.min_balance = min(self.min_balance, self.tokens)

    def try_admit(self, now_ms: int) -> bool:
        """Keepa's admission on arrival: run while the balance is positive.

        A refusal is counted; nothing is charged either way.
        """
        with self._lock:
            self._sync(now_ms)
            if admits(self.tokens):
                return True
            self.refused += 1
            return False

    def charge(self, cost: int, now_ms: int) -> int:
        """Charge ``cost`` after the work; returns what was deducted.

        The balance may go negative.  With a ``floor`` it never goes below it
        (the part of the cost that would cross it is not charged).
        """
        with self._lock:
            self._sync(now_ms)
            cost = max(0, int(cost))
            if self.floor is not None:
                cost = max(0, min(cost, self.tokens - self.floor))
            self.tokens -= cost
            self.tokens_consumed += cost
            self._note_balance()
            return cost

    def record(self, endpoint: str, status: int) -> None:
        with self._lock:
            self.requests[(endpoint, status)] += 1

    def record_purchase(self, asins: tuple[str, ...], offers: bool, tokens: int) -> None:
        """Note a charged product call, so a test can tell what was bought, and how often."""
        with self._lock:
            self.purchases.append((asins, offers, tokens))

    def purchase_log(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"asins": list(a), "offers": o, "tokens": t} for a, o, t in self.purchases]

    def update(
        self,
        now_ms: int,
        *,
        tokens: int | None = None,
        refill_rate: int | None = None,
        token_flow_reduction: float | None = None,
        phase_ms: int | None = None,
        cap: int | None = None,
        clear_cap: bool = False,
        floor: int | None = None,
        clear_floor: bool = False,
        expired: bool | None = None,
    ) -> None:
        """Change the plan or the balance from ``now_ms`` on.

        Refills owed under the old parameters are applied first, so a rate
        change never acts retroactively.
        """
        with self._lock:
            self._sync(now_ms)
            if refill_rate is not None:
                self.refill_rate = max(0, int(refill_rate))
            if token_flow_reduction is not None:
                self.token_flow_reduction = max(0.0, float(token_flow_reduction))
            if phase_ms is not None:
                self.phase_ms = int(phase_ms) % MINUTE_MS
            if clear_cap:
                self.cap_override = None
            elif cap is not None:
                self.cap_override = int(cap)
            if clear_floor:
                self.floor = None
            elif floor is not None:
                self.floor = int(floor)
            if expired is not None:
                self.expired = bool(expired)
            if tokens is not None:
                self.tokens = int(tokens)
                self._note_balance()

    def state(self, now_ms: int) -> AccountState:
        with self._lock:
            self._sync(now_ms)
            at = max(now_ms, self.synced_ms)
            return AccountState(
                fingerprint=self.fingerprint,
                now_ms=at,
                tokens=self.tokens,
                refill_rate=self.refill_rate,
                token_flow_reduction=float(self.token_flow_reduction),
                phase_ms=self.phase_ms,
                cap=self.cap,
                floor=self.floor,
                expired=self.expired,
                refill_in_ms=next_tick_after(at, self.phase_ms) - at,
                tokens_consumed=self.tokens_consumed,
                tokens_refilled=self.tokens_refilled,
                refused=self.refused,
                min_balance=self.min_balance,
                requests=dict(self.requests),
            )


class AccountBook:
    """The accounts of the sandbox, looked up by key (stored by digest)."""

    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"AccountBook({len(self._accounts)} accounts)"

    def create(
        self,
        key: str,
        now_ms: int,
        *,
        tokens: int,
        refill_rate: int,
        token_flow_reduction: float = 0.0,
        phase_ms: int = 0,
        cap: int | None = None,
        floor: int | None = None,
        expired: bool = False,
    ) -> Account:
        """Create (or replace) the account of ``key``, counters at zero."""
        if not is_well_formed_key(key):
            raise ValueError("a sandbox key must be 64 characters of [a-z0-9]")
        account = Account(
            fingerprint=fingerprint(key),
            tokens=int(tokens),
            refill_rate=max(0, int(refill_rate)),
            synced_ms=now_ms,
            token_flow_reduction=max(0.0, float(token_flow_reduction)),
            phase_ms=int(phase_ms),
            cap_override=cap,
            floor=floor,
            expired=expired,
        )
        with self._lock:
            self._accounts[_digest(key)] = account
        return account

    def get(self, key: str) -> Account | None:
        with self._lock:
            return self._accounts.get(_digest(key))

    def by_fingerprint(self, fp: str) -> Account | None:
        with self._lock:
            matches = [a for a in self._accounts.values() if a.fingerprint == fp]
        return matches[0] if len(matches) == 1 else None

    def remove(self, key: str) -> bool:
        with self._lock:
            return self._accounts.pop(_digest(key), None) is not None

    def remove_by_fingerprint(self, fp: str) -> bool:
        with self._lock:
            digests = [d for d, a in self._accounts.items() if a.fingerprint == fp]
            if len(digests) != 1:
                return False
            del self._accounts[digests[0]]
            return True

    def all(self) -> list[Account]:
        with self._lock:
            return list(self._accounts.values())
