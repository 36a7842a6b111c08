"""The token budget's pure core: the decisions every store makes atomic.

Every store (in-memory, SQLite, Redis) persists the flat state of
:mod:`keepa_deals.budget.state` and runs :func:`acquire`, :func:`settle`,
:func:`observe` and :func:`claim_sync` on it in one atomic step.  The Redis
store runs a Lua transcription of this module (``lua/``); a differential test
keeps the two in step.

The admission rule (what a call may cost without waiting) is
:func:`grant_limit_mt`: :func:`acquire` decides by it, and :func:`spendable`
answers it from a :class:`Snapshot` for the planner.  The projected balance is
the anchor refilled by Keepa's own discrete per-minute arithmetic
(``tokens.economics``) minus the live leases.

Units: milli-tokens (``MT`` per token) and the store's clock in epoch
milliseconds, except in a :class:`Snapshot`, which counts whole tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from keepa_deals.budget.changes import Changes, apply_changes, release_lost, seal, then
from keepa_deals.budget.policy import MINUTE_MS, MT, Policy
from keepa_deals.budget.state import (
    EPOCH_FIELD,
    EPOCH_LEASE,
    FIELDS,
    LOST_PREFIX,
    MAX_RECHARGE_MS,
    MAX_SKEW_DRIFT_MS,
    RECHARGE_FIELDS,
    Anchor,
    LeaseRec,
    Recharge,
    State,
    dump_anchor,
    dump_lease,
    dump_recharge,
    parse,
    parse_int,
    parse_marker,
)
from keepa_deals.tokens import economics
from keepa_deals.tokens.status import TokenStatus

# The stores and the tests reach the state's parser and fields through the core.
__all__ = [
    "EPOCH_FIELD",
    "EPOCH_LEASE",
    "FIELDS",
    "LOST_PREFIX",
    "MAX_RECHARGE_MS",
    "MINUTE_MS",
    "MT",
    "RECHARGE_FIELDS",
    "Changes",
    "Decision",
    "Kind",
    "Policy",
    "RechargeView",
    "Snapshot",
    "State",
    "acquire",
    "claim_sync",
    "grant_limit_mt",
    "observe",
    "parse",
    "parse_int",
    "parse_marker",
    "seal",
    "settle",
    "settle_acquire",
    "snapshot",
    "spendable",
]


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


def grant_limit_mt(available: int, rate: int, recharge_target: int | None,
                   policy: Policy) -> int | None:
    """The admission rule: the most a call may cost now without waiting (milli-tokens).

    ``available`` is the projected balance less the live leases, ``rate`` the
    refill rate (both milli-tokens), ``recharge_target`` the target of a
    recharge still under way (None when there is none, or its deadline has
    passed).  A call costing ``cost`` is granted when ``cost`` is at most the
    result: no recharge below its target, at least ``min_balance`` available,
    and ``available - cost`` not below the floor.  None: nothing is granted
    now, not even a free call.  The bucket cap bounds the result (a costlier
    call is never granted, see :func:`acquire`'s ``too_big``).

    ``lua/acquire.lua`` holds the same rule; the differential test keeps it so.
    """
    if recharge_target is not None and available < min(recharge_target, policy.burst_mt(rate)):
        return None
    if available < policy.min_balance * MT:
        return None
    limit = available - policy.floor * MT
    if rate > 0:
        limit = min(limit, economics.cap_for(rate))
    return limit


def acquire(st: State, lease_id: str, cost_mt: int, now_ms: int, policy: Policy) -> tuple[Decision, Changes]:
    """Grant ``cost_mt`` as a lease, or say why not and for how long."""
    d, ch = _acquire(st, lease_id, cost_mt, now_ms, policy)
    return d, seal(st, ch, now_ms)


def _acquire(st: State, lease_id: str, cost_mt: int, now_ms: int, policy: Policy) -> tuple[Decision, Changes]:
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
                        last_sync_ms=st.last_sync_ms, **kw)

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

    limit = grant_limit_mt(available, a.rate, None if r is None else r.target, policy)
    if limit is not None and cost_mt <= limit:  # the same as available >= need
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
    return seal(st, _observe(st, status, now_ms, authoritative=authoritative), now_ms)


def _observe(st: State, status: TokenStatus, now_ms: int, *, authoritative: bool = False) -> Changes:
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

    A lease the store does not hold (nor just dropped as expired) was
    forgotten by a state loss: its call is over and its charge is now in the
    anchor, so the lost-leases that held it release its cost.
    """
    if status is not None:
        ch = _observe(st, status, now_ms)
    else:
        ch = Changes(remove_leases=list(st.dropped_leases))
        if cost_mt > 0 and st.anchor is not None and not st.unknown:
            ch.set["anchor_tokens"] = str(st.anchor.tokens - cost_mt)
            ch.delete.append("last_sync_ms")  # the anchor now holds an estimate, unverified
    if (lease_id not in st.leases and lease_id not in st.dropped_leases
            and not lease_id.startswith("#")):
        release_lost(st, ch, cost_mt)
    ch.remove_leases.append(lease_id)
    return seal(st, ch, now_ms)


def settle_acquire(fields: Mapping[str, str], leases: Mapping[str, str],
                   settled: tuple[str, int, TokenStatus | None],
                   lease_id: str, cost_mt: int, now_ms: int,
                   policy: Policy, marker: str | None = None) -> tuple[Decision, Changes]:
    """Settle the last call's lease, then acquire the next one: one atomic step.

    ``settled`` is what :func:`settle` takes (lease id, cost, status).  The
    acquire decides on the state the settle left, exactly as a :func:`settle`
    followed by an :func:`acquire` at the same instant would: this is the step
    a worker's next call carries its last call's settle on (one round trip per
    Keepa call).  It starts from the stored fields and leases rather than a
    :class:`State` because the acquire re-reads what the settle wrote;
    ``lua/settle_acquire.lua`` does the same in Redis.
    """
    settle_id, settle_cost, status = settled
    first = settle(parse(fields, leases, now_ms, policy, marker), settle_id, settle_cost, status,
                   now_ms)
    f, ls = dict(fields), dict(leases)
    apply_changes(f, ls, first)
    m = first.marker if first.marker is not None else marker
    decision, second = acquire(parse(f, ls, now_ms, policy, m), lease_id, cost_mt, now_ms, policy)
    return decision, then(first, second)


def claim_sync(st: State, now_ms: int, policy: Policy) -> tuple[bool, Changes]:
    """The cluster-wide throttle for routine syncs."""
    ch = Changes(remove_leases=list(st.dropped_leases))
    if st.last_sync_ms is not None and now_ms - st.last_sync_ms < policy.sync_interval_ms:
        return False, seal(st, ch, now_ms)
    ch.set["last_sync_ms"] = str(now_ms)
    return True, seal(st, ch, now_ms)


# --------------------------------------------------------------------------
# A view for status, doctor and the dashboard
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RechargeView:
    """Recharge mode as a snapshot sees it, relative to the snapshot's time."""

    since_ms_ago: int
    deadline_in_ms: int  # negative once the deadline has passed
    target_mt: int

    @property
    def since_s_ago(self) -> int:
        return self.since_ms_ago // 1000

    @property
    def deadline_in_s(self) -> int:
        return self.deadline_in_ms // 1000

    @property
    def target(self) -> int:
        """The target in whole tokens."""
        return self.target_mt // MT

    @property
    def under_way(self) -> bool:
        """False once the deadline has passed: the next acquire leaves recharge mode."""
        return self.deadline_in_ms > 0

    def as_dict(self) -> dict[str, int]:
        return {"since_s_ago": self.since_s_ago, "deadline_in_s": self.deadline_in_s,
                "target": self.target}


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
    recharge: RechargeView | None
    last_sync_age_s: float | None
    #: the exact balance available, in milli-tokens (what the admission rule reads)
    available_mt: int | None = None
    #: the exact refill rate, in milli-tokens per minute
    rate_mt: int | None = None

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
            "recharge": None if self.recharge is None else self.recharge.as_dict(),
            "last_sync_age_s": self.last_sync_age_s,
        }


def snapshot(st: State, now_ms: int) -> Snapshot:
    a = st.anchor
    leases = tuple(sorted((i, r.cost // MT, r.expires_ms - now_ms) for i, r in st.leases.items()))
    rech = None
    if st.recharge is not None:
        rech = RechargeView(since_ms_ago=now_ms - st.recharge.since_ms,
                            deadline_in_ms=st.recharge.deadline_ms - now_ms,
                            target_mt=st.recharge.target)
    if a is None:
        return Snapshot(now_ms, False, tuple(st.problems), None, None, None, None, None, None,
                        None, leases, rech,
                        None if st.last_sync_ms is None else (now_ms - st.last_sync_ms) / 1000)
    projected = a.project(now_ms)
    available = projected - _reserved(st)
    return Snapshot(
        now_ms=now_ms,
        known=not st.unknown,
        problems=tuple(st.problems),
        tokens=a.tokens // MT,
        rate=a.rate // MT,
        cap=a.cap // MT,
        projected=projected // MT,
        available=available // MT,
        anchor_age_s=(now_ms - a.seen_ms) / 1000,
        next_refill_in_ms=economics.next_refill_after(a.next_refill_ms, now_ms) - now_ms,
        leases=leases,
        recharge=rech,
        last_sync_age_s=None if st.last_sync_ms is None else (now_ms - st.last_sync_ms) / 1000,
        available_mt=available,
        rate_mt=a.rate,
    )


def spendable(snap: Snapshot, policy: Policy) -> int:
    """How many tokens a call may cost right now without waiting (0: none).

    The admission rule (:func:`grant_limit_mt`) applied to a snapshot: what
    ``acquire`` would grant at the snapshot's time, never more than the cap.
    """
    if not snap.known or snap.available_mt is None or snap.rate_mt is None:
        return 0
    r = snap.recharge
    target = r.target_mt if r is not None and r.under_way else None
    limit = grant_limit_mt(snap.available_mt, snap.rate_mt, target, policy)
    return 0 if limit is None else max(0, limit // MT)
