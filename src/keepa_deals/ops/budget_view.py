"""The token budget explained: what ``tokens status`` and ``status`` print about it.

Every part of the state comes with the reason it is what it is: where the
anchor came from and how old it is, how the projection follows from it, why
the budget is ready, low, recharging or unknown and how it gets out, and what
each lease is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keepa_deals.budget.core import LOST_PREFIX, Policy, Snapshot
from keepa_deals.ops.sources import BUDGET
from keepa_deals.tokens.economics import MINUTE_MS

if TYPE_CHECKING:
    from keepa_deals.ops.sources import Sources

READY, LOW, RECHARGING = "ready", "low", "recharging"
UNKNOWN, UNREACHABLE = "unknown", "unreachable"


def budget_view(sources: Sources) -> dict[str, Any]:
    """The budget's state with reasons, or ``{"state": "unreachable", ...}``; never raises."""
    from keepa_deals.errors import KeepaDealsError

    policy = Policy.from_settings(sources.settings)
    store = sources.budget_store()
    if store is None:
        error = sources.errors.get(BUDGET, "unreachable")
        return {"state": UNREACHABLE, "why": error, "store": _store_kind(sources)}
    try:
        snap = store.snapshot(policy)
    except KeepaDealsError as exc:
        return {"state": UNREACHABLE, "why": f"unreachable: {exc}", "store": store.kind}
    return explain(snap, policy, store.kind, sources.settings.budget_sync_interval_s)


def _store_kind(sources: Sources) -> str:
    return "redis" if sources.settings.redis_url else "sqlite"


def _wait_s(snap: Snapshot, target: int) -> float | None:
    """Seconds until ``available`` reaches ``target`` (live leases counted as held)."""
    if snap.available is None or snap.rate is None:
        return None
    if snap.available >= target:
        return 0.0
    if snap.rate <= 0 or snap.next_refill_in_ms is None or target > (snap.cap or 0):
        return None
    refills = -(-(target - snap.available) // snap.rate)
    return (snap.next_refill_in_ms + (refills - 1) * MINUTE_MS) / 1000


def explain(snap: Snapshot, policy: Policy, kind: str, sync_interval_s: float) -> dict[str, Any]:
    view: dict[str, Any] = {"store": kind, **snap.as_dict()}
    reasons: dict[str, str] = {}
    if snap.tokens is None:
        reasons["anchor"] = "none: Keepa has not been asked yet (the next call asks /token first)"
    else:
        reasons["anchor"] = (f"Keepa said {snap.tokens} tokens at {snap.rate}/min "
                             f"{snap.anchor_age_s:.0f} s ago; refills come every minute, the next "
                             f"in {(snap.next_refill_in_ms or 0) / 1000:.0f} s")
        reserved = sum(c for _, c, _ in snap.leases)
        reasons["projection"] = (f"{snap.projected} now (the anchor plus the refills since, "
                                 f"capped at {snap.cap} = 60 × rate); {snap.available} available "
                                 f"after {len(snap.leases)} lease(s) holding {reserved}")
    if snap.leases:
        reasons["leases"] = "; ".join(
            (f"{lid}: {cost} tokens held for calls a loss of the stored state forgot, "
             f"until settled or for {max(0, exp) / 1000:.0f} s more")
            if lid.startswith(LOST_PREFIX) else
            (f"{lid}: {cost} tokens for a call in flight, counted until settled or for "
             f"{max(0, exp) / 1000:.0f} s more") for lid, cost, exp in snap.leases)
    else:
        reasons["leases"] = "none: no call in flight"
    if snap.last_sync_age_s is None:
        reasons["last_sync"] = "no /token sync recorded"
    else:
        reasons["last_sync"] = (f"{snap.last_sync_age_s:.0f} s ago (routine syncs at most every "
                                f"{sync_interval_s:g} s, cluster-wide; syncs that guard a wait "
                                "or resolve unknown state are never throttled)")
    if not snap.known:
        state = UNKNOWN
        why = ("; ".join(snap.problems) + "; the next call asks Keepa (/token, free) before "
               "deciding anything")
    elif snap.recharge is not None:
        r = snap.recharge
        state = RECHARGING
        wait = _wait_s(snap, r.target)
        why = (f"since {r.since_s_ago} s: the balance fell below what a call needs, so the "
               f"budget waits for a burst of {r.target} tokens ({policy.burst_minutes:g} min "
               "of refill) instead of spending single tokens as they arrive; it leaves at "
               f"{r.target} available"
               + (f" (in about {wait:.0f} s)" if wait is not None else "")
               + f" or at its deadline in {r.deadline_in_s} s, whichever comes first")
    elif snap.available is not None and snap.available < policy.min_balance:
        state = LOW
        wait = _wait_s(snap, policy.min_balance)
        why = (f"{snap.available} available, below the minimum of {policy.min_balance}: the next "
               "call waits"
               + (f" about {wait:.0f} s" if wait is not None else " (no refill: rate 0)")
               + " or, past the maximum wait, checks with Keepa and defers the run")
    else:
        state = READY
        why = f"{snap.available} tokens available (minimum {policy.min_balance})"
    view["state"] = state
    view["why"] = why
    view["reasons"] = reasons
    return view


def render(view: dict[str, Any]) -> list[str]:
    """Lines for people."""
    why = str(view["why"])
    if view["state"] == UNREACHABLE:
        why = why.removeprefix(f"{UNREACHABLE}: ")
    lines = [f"state        {view['state']}: {why}"]
    if view["state"] == UNREACHABLE:
        return lines
    reasons = view.get("reasons", {})
    for name in ("anchor", "projection", "leases", "last_sync"):
        if name in reasons:
            lines.append(f"{name:<12} {reasons[name]}")
    return lines
