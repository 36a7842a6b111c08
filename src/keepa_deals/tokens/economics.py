"""Keepa's token bucket as pure arithmetic: refills, projections, waits.

One implementation, shared by the sandbox server (which charges and refills)
and the token budget (which projects what Keepa will say).  What a call costs
is in :mod:`keepa_deals.tokens.costs`.  See section 2 and
7 of the Keepa facts: a bucket refilled by ``rate`` once a minute at an
account-specific phase, capped at 60 × rate; a request runs while the balance
is above 0 and may drive it negative.
"""

from __future__ import annotations

MINUTE_MS = 60_000
CAP_MINUTES = 60


def cap_for(rate: int) -> int:
    """The bucket capacity for a refill rate: tokens live 60 minutes."""
    return CAP_MINUTES * max(int(rate), 0)


def net_refill_rate(refill_rate: int, token_flow_reduction: float) -> int:
    """Tokens actually added per refill: the plan rate less tracking's (rounded) flow."""
    return max(0, int(refill_rate) - round(token_flow_reduction))


def refills_between(next_refill_ms: int, now_ms: int) -> int:
    """How many refill instants ``next_refill_ms + k·60 s`` (k ≥ 0) are ≤ ``now_ms``."""
    if now_ms < next_refill_ms:
        return 0
    return 1 + (now_ms - next_refill_ms) // MINUTE_MS


def next_refill_after(next_refill_ms: int, now_ms: int) -> int:
    """The first refill instant strictly after ``now_ms``."""
    return next_refill_ms + refills_between(next_refill_ms, now_ms) * MINUTE_MS


def refill(tokens: int, rate: int, refills: int, cap: int | None = None) -> int:
    """The balance after ``refills`` per-minute refills.

    A refill never lifts the balance above the cap, and never lowers a balance
    that is already above it (after a plan downgrade).
    """
    if cap is None:
        cap = cap_for(rate)
    if refills <= 0 or rate <= 0 or tokens >= cap:
        return tokens
    return min(cap, tokens + refills * rate)


def project(tokens: int, rate: int, next_refill_ms: int, now_ms: int, cap: int | None = None) -> int:
    """The balance at ``now_ms`` of an account last seen with ``tokens``."""
    return refill(tokens, rate, refills_between(next_refill_ms, now_ms), cap)


def wait_ms_for(
    tokens: int, rate: int, next_refill_ms: int, now_ms: int, target: int, cap: int | None = None
) -> int | None:
    """Milliseconds from ``now_ms`` until the projected balance reaches ``target``.

    0 when it already has; ``None`` when it never will (no refill, or a target
    above what the bucket can hold).
    """
    if cap is None:
        cap = cap_for(rate)
    current = project(tokens, rate, next_refill_ms, now_ms, cap)
    if current >= target:
        return 0
    if rate <= 0 or target > cap:
        return None
    refills_needed = -(-(target - current) // rate)
    first = next_refill_after(next_refill_ms, now_ms)
    return first + (refills_needed - 1) * MINUTE_MS - now_ms


def admits(tokens: int) -> bool:
    """Keepa runs a request while the balance is positive."""
    return tokens > 0
