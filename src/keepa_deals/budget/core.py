"""The token budget's pure core: state, projection, policy.

Every store (in-memory, SQLite, Redis) persists the same flat state, a map of
string fields plus a map of leases, and makes :func:`acquire`, :func:`settle`
and :func:`observe` atomic.  The Redis store runs a Lua transcription of this
module; a differential test keeps the two in step.

Units: tokens are integer **milli-tokens** (``MT`` per token) everywhere in the
state; times are the store's clock in epoch milliseconds, except
``anchor_server_ts_ms`` which is Keepa's clock and is only compared with
other Keepa timestamps.

The state is a projection of Keepa, never a second authority:

* the *anchor* is the last status Keepa sent (tokensLeft, refillRate and the
  next refill instant), with the store time it was recorded;
* *leases* are reservations made since, each with an expiry;
* the projected balance is the anchor refilled by Keepa's own discrete
  per-minute arithmetic (``tokens.economics``) minus the live leases;
* anything missing, unparsable, impossible, future-dated or too old is
  *unknown*, and the only way out of unknown is a fresh status from Keepa.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from keepa_deals.tokens import economics
from keepa_deals.tokens.status import TokenStatus

MT = 1000  # milli-tokens per token
RETRY_BACKOFF_MAX_S = 10.0  # the Keepa client's longest pause between retries
MINUTE_MS = economics.MINUTE_MS

#: The anchor fields, written together.
ANCHOR_FIELDS = (
    "anchor_tokens",
    "anchor_rate",
    "anchor_next_refill_ms",
    "anchor_server_ts_ms",
    "anchor_seen_ms",
)
#: The recharge fields, written together or not at all.
RECHARGE_FIELDS = ("recharge_since_ms", "recharge_deadline_ms", "recharge_target")
#: Every scalar field a store may hold.
FIELDS = (*ANCHOR_FIELDS, *RECHARGE_FIELDS, "last_sync_ms")

# Bounds that make a value "impossible" rather than merely surprising.
MAX_RATE_MT = 1_000_000 * MT  # a refill rate above a million tokens/min
FUTURE_TOLERANCE_MS = 5_000  # store clock vs a recorded store time
#: no recharge can need longer: from the deepest floor to a full bucket is ~1 h plus slack
MAX_RECHARGE_MS = 3 * 60 * MINUTE_MS
#: Keepa's clock minus ours may drift between two statuses by at most this much;
#: beyond it the stored Keepa timestamp is garbage, not a later status.
MAX_SKEW_DRIFT_MS = 5 * MINUTE_MS


@dataclass(frozen=True, slots=True)
class Policy:
    """The knobs of the budget; see docs/settings.md for each."""

    floor: int = -180
    min_balance: int = 1
    lease_ttl_ms: int = 120_000
    anchor_max_age_ms: int = 600_000
    burst_minutes: float = 1.0
    sync_interval_ms: int = 60_000
    #: extra time allowed beyond the projected exit of recharge mode
    recharge_slack_ms: int = 2 * MINUTE_MS
    #: a give-up decision needs a /token sync (by anyone) this recent, else it syncs
    verify_window_ms: int = 2_000
    #: the retry delay when the refill rate is 0 (Keepa recomputes tokenFlowReduction every 5 min)
    zero_rate_retry_ms: int = 5 * MINUTE_MS

    @classmethod
    def from_settings(cls, s: object) -> Policy:
        # A lease must outlive the longest call it covers (every retry included), or a
        # charge Keepa made could stop counting before its reply arrives.
        timeout = float(getattr(s, "http_timeout_s", 30.0))
        retries = int(getattr(s, "http_retries", 0))
        longest_call_s = timeout * (retries + 1) + RETRY_BACKOFF_MAX_S * retries + 30
        lease_ttl_s = max(float(getattr(s, "budget_lease_ttl_s")), longest_call_s)
        return cls(
            floor=int(getattr(s, "budget_floor")),
            min_balance=int(getattr(s, "budget_min_balance")),
            lease_ttl_ms=int(lease_ttl_s * 1000),
            anchor_max_age_ms=int(float(getattr(s, "budget_anchor_max_age_s")) * 1000),
            burst_minutes=float(getattr(s, "budget_burst_minutes")),
            sync_interval_ms=int(float(getattr(s, "budget_sync_interval_s")) * 1000),
        )

    def burst_mt(self, rate_mt: int) -> int:
        """Recharge ends at this balance: ``burst_minutes`` of refill, never above the cap."""
        cap = economics.cap_for(rate_mt)
        return max(self.min_balance * MT, min(cap, int(rate_mt * self.burst_minutes)))


@dataclass(slots=True)
class Anchor:
    tokens: int  # milli-tokens
    rate: int  # milli-tokens per minute
    next_refill_ms: int
    server_ts_ms: int
    seen_ms: int

    @property
    def cap(self) -> int:
        return economics.cap_for(self.rate)

    def project(self, now_ms: int) -> int:
        return economics.project(self.tokens, self.rate, self.next_refill_ms, now_ms, self.cap)


@dataclass(slots=True)
class Recharge:
    since_ms: int
    deadline_ms: int
    target: int  # milli-tokens


@dataclass(slots=True)
class LeaseRec:
    cost: int  # milli-tokens
    expires_ms: int


@dataclass(slots=True)
class State:
    """The parsed state; ``problems`` lists everything unknown about it."""

    anchor: Anchor | None = None
    recharge: Recharge | None = None
    last_sync_ms: int | None = None
    leases: dict[str, LeaseRec] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    dropped_leases: list[str] = field(default_factory=list)

    @property
    def unknown(self) -> bool:
        return bool(self.problems)


# --------------------------------------------------------------------------
# Parsing and validation: a flat string map -> State, never raising.
# --------------------------------------------------------------------------


_INT_RE = re.compile(r"[ \t\n\r]*(-?[0-9]{1,16})[ \t\n\r]*")
MAX_INT = 2**53  # every valid value is far below; the Lua holds numbers as doubles


def parse_int(value: object) -> int | None:
    """A stored integer: ASCII decimal, at most 2^53 in magnitude; anything else is None."""
    if value is None:
        return None
    try:
        text = value.decode("ascii") if isinstance(value, bytes) else str(value)
    except UnicodeDecodeError:
        return None
    m = _INT_RE.fullmatch(text)
    if m is None:
        return None
    n = int(m.group(1))
    return n if -MAX_INT <= n <= MAX_INT else None


def _int(raw: Mapping[str, str], name: str) -> int | None:
    return parse_int(raw.get(name))


def parse(raw: Mapping[str, str], leases: Mapping[str, str], now_ms: int, policy: Policy) -> State:
    """Read a stored state, listing what is unknown and dropping leases that cannot count."""
    st = State()
    vals = {name: _int(raw, name) for name in FIELDS}

    present = [n for n in ANCHOR_FIELDS if raw.get(n) is not None]
    if not present:
        st.problems.append("no anchor: Keepa has not been asked yet")
    elif any(vals[n] is None for n in ANCHOR_FIELDS):
        bad = [n for n in ANCHOR_FIELDS if vals[n] is None]
        st.problems.append(f"anchor incomplete or unparsable: {', '.join(bad)}")
    else:
        a = Anchor(
            tokens=vals["anchor_tokens"],  # type: ignore[arg-type]
            rate=vals["anchor_rate"],  # type: ignore[arg-type]
            next_refill_ms=vals["anchor_next_refill_ms"],  # type: ignore[arg-type]
            server_ts_ms=vals["anchor_server_ts_ms"],  # type: ignore[arg-type]
            seen_ms=vals["anchor_seen_ms"],  # type: ignore[arg-type]
        )
        problem = _anchor_problem(a, now_ms, policy)
        if problem:
            st.problems.append(problem)
        st.anchor = a  # kept for display; any problem makes the state unknown

    rpresent = [n for n in RECHARGE_FIELDS if raw.get(n) is not None]
    if rpresent:
        if any(vals[n] is None for n in RECHARGE_FIELDS):
            st.problems.append("recharge mode without a valid start, deadline or target")
        else:
            r = Recharge(
                since_ms=vals["recharge_since_ms"],  # type: ignore[arg-type]
                deadline_ms=vals["recharge_deadline_ms"],  # type: ignore[arg-type]
                target=vals["recharge_target"],  # type: ignore[arg-type]
            )
            if r.since_ms > now_ms + FUTURE_TOLERANCE_MS:
                st.problems.append("recharge mode started in the future")
            elif (r.deadline_ms < r.since_ms or r.deadline_ms - r.since_ms > MAX_RECHARGE_MS
                  or r.target <= 0 or r.target > MAX_RATE_MT * 60):
                st.problems.append("recharge mode with an impossible deadline or target")
            else:
                st.recharge = r

    ls = vals["last_sync_ms"]
    st.last_sync_ms = ls if ls is not None and ls <= now_ms + FUTURE_TOLERANCE_MS else None

    max_expiry = now_ms + policy.lease_ttl_ms + FUTURE_TOLERANCE_MS
    # no call costing more than the bucket is ever granted, so no such lease is real
    a = st.anchor
    max_cost = a.cap if a is not None and 0 < a.rate <= MAX_RATE_MT else MAX_RATE_MT * 60
    for lease_id, value in leases.items():
        rec = _parse_lease(value)
        if (rec is None or rec.expires_ms > max_expiry or rec.expires_ms <= now_ms
                or rec.cost > max_cost):
            st.dropped_leases.append(_text(lease_id))
        else:
            st.leases[_text(lease_id)] = rec
    return st


def _text(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _parse_lease(value: object) -> LeaseRec | None:
    try:
        cost_s, exp_s = _text(value).split(":", 1)
    except (ValueError, UnicodeDecodeError):
        return None
    cost, exp = parse_int(cost_s), parse_int(exp_s)
    if cost is None or exp is None or cost <= 0 or cost > MAX_RATE_MT * 60:
        return None
    return LeaseRec(cost, exp)


def _anchor_problem(a: Anchor, now_ms: int, policy: Policy) -> str | None:
    if a.rate < 0 or a.rate > MAX_RATE_MT:
        return "anchor has an impossible refill rate"
    limit = max(a.cap, 1000 * MT) * 10
    if abs(a.tokens) > limit:
        return "anchor has an impossible balance"
    if a.seen_ms > now_ms + FUTURE_TOLERANCE_MS:
        return "anchor is dated in the future"
    if not (a.seen_ms < a.next_refill_ms <= a.seen_ms + MINUTE_MS):
        return "anchor's next refill is not within a minute of when it was seen"
    if now_ms - a.seen_ms > policy.anchor_max_age_ms:
        return f"anchor is older than {policy.anchor_max_age_ms // 1000} s"
    return None


def dump_anchor(a: Anchor) -> dict[str, str]:
    return {
        "anchor_tokens": str(a.tokens),
        "anchor_rate": str(a.rate),
        "anchor_next_refill_ms": str(a.next_refill_ms),
        "anchor_server_ts_ms": str(a.server_ts_ms),
        "anchor_seen_ms": str(a.seen_ms),
    }


def dump_recharge(r: Recharge) -> dict[str, str]:
    return {
        "recharge_since_ms": str(r.since_ms),
        "recharge_deadline_ms": str(r.deadline_ms),
        "recharge_target": str(r.target),
    }


def dump_lease(rec: LeaseRec) -> str:
    return f"{rec.cost}:{rec.expires_ms}"


# --------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------

Kind = Literal["grant", "wait", "unknown", "too_big"]


@dataclass(frozen=True, slots=True)
class Decision:
    kind: Kind
    reason: str
    #: for "wait": ms until the policy can grant; None when it never will on this anchor
    wait_ms: int | None = None
    lease_expires_ms: int | None = None
    projected: int | None = None  # milli-tokens, anchor refilled to now
    available: int | None = None  # milli-tokens, projected minus live leases
    needed: int | None = None  # milli-tokens the policy requires available
    anchor_seen_ms: int | None = None
    cap: int | None = None
    now_ms: int | None = None  # the store's clock when it decided
    last_sync_ms: int | None = None  # the last /token sync, cluster-wide


@dataclass(slots=True)
class Changes:
    """What a decision writes back: fields to set, fields to delete, leases to add/remove."""

    set: dict[str, str] = field(default_factory=dict)
    delete: list[str] = field(default_factory=list)
    add_leases: dict[str, str] = field(default_factory=dict)
    remove_leases: list[str] = field(default_factory=list)


def _reserved(st: State) -> int:
    return sum(rec.cost for rec in st.leases.values())


def _wait_for(a: Anchor, st: State, now_ms: int, need: int) -> int | None:
    """ms until ``available >= need``, counting leases until they expire."""
    reserved = _reserved(st)
    w = economics.wait_ms_for(a.tokens, a.rate, a.next_refill_ms, now_ms, need + reserved, a.cap)
    if w is not None or not st.leases:
        return w
    # The live leases hold more than the bucket can ever add; they expire, though.
    last = max(rec.expires_ms for rec in st.leases.values())
    w2 = economics.wait_ms_for(a.tokens, a.rate, a.next_refill_ms, last, need, a.cap)
    return None if w2 is None else last - now_ms + w2


def acquire(st: State, lease_id: str, cost_mt: int, now_ms: int, policy: Policy) -> tuple[Decision, Changes]:
    """Grant ``cost_mt`` as a lease, or say why not and for how long."""
    ch = Changes(remove_leases=list(st.dropped_leases))
    if st.unknown or st.anchor is None:
        return Decision("unknown", "; ".join(st.problems) or "no anchor", now_ms=now_ms), ch
    a = st.anchor
    cap = a.cap
    projected = a.project(now_ms)
    available = projected - _reserved(st)
    seen = a.seen_ms

    def decision(kind: Kind, reason: str, **kw: int | None) -> Decision:
        return Decision(kind, reason, projected=projected, available=available,
                        anchor_seen_ms=seen, cap=cap, now_ms=now_ms,
                        last_sync_ms=st.last_sync_ms, **kw)  # type: ignore[arg-type]

    if a.rate > 0 and cost_mt > cap:
        return decision("too_big", f"cost exceeds the bucket cap ({cap // MT} tokens)"), ch

    need = max(policy.min_balance * MT, policy.floor * MT + cost_mt)
    reason = "balance below the minimum" if need == policy.min_balance * MT else "the call would overdraw the floor"

    r = st.recharge
    if r is not None:
        # the target follows the plan: never above today's burst (a downgrade, a corrupt value)
        target = min(r.target, policy.burst_mt(a.rate))
        if available >= target:
            ch.delete.extend(RECHARGE_FIELDS)  # exit condition reached
            r = None
        elif now_ms >= r.deadline_ms:
            ch.delete.extend(RECHARGE_FIELDS)  # deadline passed: leave, never stay forever
            r = None
        else:
            if target > need:
                need, reason = target, "recharging to the burst threshold"

    if available >= need:
        exp = now_ms + policy.lease_ttl_ms
        ch.add_leases[lease_id] = dump_lease(LeaseRec(cost_mt, exp))
        return decision("grant", "granted", lease_expires_ms=exp, needed=need), ch

    wait = _wait_for(a, st, now_ms, need)
    if r is not None and (wait is None or wait > r.deadline_ms - now_ms):
        wait = r.deadline_ms - now_ms  # recharge mode ends by then at the latest
    if r is None:
        # Entering recharge: wait for a burst rather than trickle single tokens.  The
        # burst is counted from here, so a balance below zero still gets there within
        # burst_minutes of refill (one scheduler interval), never a refill later.
        target = max(policy.min_balance * MT, policy.burst_mt(a.rate) + min(0, available))
        to_target = _wait_for(a, st, now_ms, max(target, need))
        horizon = to_target if to_target is not None else policy.zero_rate_retry_ms
        # a deadline the parser accepts: a recharge longer than that ends and is re-entered
        horizon = min(horizon + policy.recharge_slack_ms, MAX_RECHARGE_MS)
        ch.set.update(dump_recharge(Recharge(now_ms, now_ms + horizon, target)))
        ch.delete = [d for d in ch.delete if d not in RECHARGE_FIELDS]
        if target > need:
            need, reason = target, "recharging to the burst threshold"
            wait = to_target
    if wait is None:
        reason = "the refill rate is 0" if a.rate <= 0 else reason
    return decision("wait", reason, wait_ms=wait, needed=need), ch


def observe(st: State, status: TokenStatus, now_ms: int, *, authoritative: bool = False) -> Changes:
    """Reconcile with a status from Keepa.

    ``tokensLeft`` already includes the call that returned it; live leases of
    other workers stay counted.  A status older than the anchor is ignored.
    An ``authoritative`` status (a /token sync) replaces the anchor whatever
    its timestamp, so no stored timestamp can make Keepa's answers ignored.
    A valid recharge mode survives; a corrupt one is dropped.
    """
    ch = Changes(remove_leases=list(st.dropped_leases))
    a = st.anchor
    seen = now_ms
    if a is not None and not st.unknown:
        offset = a.server_ts_ms - a.seen_ms  # Keepa's clock minus ours, as last measured
        drift = (status.timestamp_ms - now_ms) - offset
        if abs(drift) <= MAX_SKEW_DRIFT_MS:  # else the stored Keepa time is garbage
            if not authoritative:
                if status.timestamp_ms < a.server_ts_ms:
                    return ch
                if status.timestamp_ms == a.server_ts_ms and status.tokens_left * MT >= a.tokens:
                    return ch  # same instant: keep the lower balance
            # A reply that arrives late is dated when Keepa sent it, on our clock;
            # one over a minute late says less than the anchor we hold.
            sent = status.timestamp_ms - offset
            if sent < now_ms - MINUTE_MS and not authoritative:
                return ch
            if now_ms - MINUTE_MS <= sent < now_ms:
                seen = sent
    refill_in = min(max(status.refill_in_ms, 1), MINUTE_MS)
    new = Anchor(
        tokens=status.tokens_left * MT,
        rate=max(status.refill_rate, 0) * MT,
        next_refill_ms=seen + refill_in,
        server_ts_ms=status.timestamp_ms,
        seen_ms=seen,
    )
    ch.set.update(dump_anchor(new))
    if authoritative:
        ch.set["last_sync_ms"] = str(now_ms)
    if st.recharge is None:
        ch.delete.extend(RECHARGE_FIELDS)  # drops a partial or corrupt recharge record
    return ch


def settle(st: State, lease_id: str, cost_mt: int, status: TokenStatus | None, now_ms: int) -> Changes:
    """Release a lease; reconcile with its response's status, or assume it spent.

    Without a status the lease's ``cost_mt`` is taken from the anchor, even when
    the lease itself already expired: Keepa may have charged it.
    """
    if status is not None:
        ch = observe(st, status, now_ms)
    else:
        ch = Changes(remove_leases=list(st.dropped_leases))
        if cost_mt > 0 and st.anchor is not None and not st.unknown:
            ch.set["anchor_tokens"] = str(st.anchor.tokens - cost_mt)
            ch.delete.append("last_sync_ms")  # the anchor now holds an estimate, unverified
    ch.remove_leases.append(lease_id)
    return ch


def claim_sync(st: State, now_ms: int, policy: Policy) -> tuple[bool, Changes]:
    """The cluster-wide throttle for routine syncs."""
    ch = Changes(remove_leases=list(st.dropped_leases))
    if st.last_sync_ms is not None and now_ms - st.last_sync_ms < policy.sync_interval_ms:
        return False, ch
    ch.set["last_sync_ms"] = str(now_ms)
    return True, ch


# --------------------------------------------------------------------------
# A view for status, doctor and the dashboard
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    now_ms: int
    known: bool
    problems: tuple[str, ...]
    tokens: int | None  # anchor tokensLeft (tokens)
    rate: int | None
    cap: int | None
    projected: int | None
    available: int | None
    anchor_age_s: float | None
    next_refill_in_ms: int | None
    leases: tuple[tuple[str, int, int], ...]  # (id, cost tokens, expires in ms)
    recharge: dict[str, int] | None
    last_sync_age_s: float | None

    def as_dict(self) -> dict[str, object]:
        return {
            "known": self.known,
            "problems": list(self.problems),
            "anchor_tokens": self.tokens,
            "refill_rate": self.rate,
            "cap": self.cap,
            "projected": self.projected,
            "available": self.available,
            "anchor_age_s": self.anchor_age_s,
            "next_refill_in_ms": self.next_refill_in_ms,
            "leases": [{"id": i, "cost": c, "expires_in_ms": e} for i, c, e in self.leases],
            "recharge": self.recharge,
            "last_sync_age_s": self.last_sync_age_s,
        }


def snapshot(st: State, now_ms: int) -> Snapshot:
    a = st.anchor
    leases = tuple(sorted((i, r.cost // MT, r.expires_ms - now_ms) for i, r in st.leases.items()))
    rech = None
    if st.recharge is not None:
        rech = {
            "since_s_ago": (now_ms - st.recharge.since_ms) // 1000,
            "deadline_in_s": (st.recharge.deadline_ms - now_ms) // 1000,
            "target": st.recharge.target // MT,
        }
    if a is None:
        return Snapshot(now_ms, False, tuple(st.problems), None, None, None, None, None, None,
                        None, leases, rech,
                        None if st.last_sync_ms is None else (now_ms - st.last_sync_ms) / 1000)
    projected = a.project(now_ms)
    return Snapshot(
        now_ms=now_ms,
        known=not st.unknown,
        problems=tuple(st.problems),
        tokens=a.tokens // MT,
        rate=a.rate // MT,
        cap=a.cap // MT,
        projected=projected // MT,
        available=(projected - _reserved(st)) // MT,
        anchor_age_s=(now_ms - a.seen_ms) / 1000,
        next_refill_in_ms=economics.next_refill_after(a.next_refill_ms, now_ms) - now_ms,
        leases=leases,
        recharge=rech,
        last_sync_age_s=None if st.last_sync_ms is None else (now_ms - st.last_sync_ms) / 1000,
    )
