"""The budget's knobs, and the units its state is kept in.

Units: tokens are integer **milli-tokens** (``MT`` per token) everywhere in the
state; times are the store's clock in epoch milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from keepa_deals.tokens import economics
from keepa_deals.tokens.timing import CallTiming

if TYPE_CHECKING:
    from keepa_deals.settings import Settings

MT = 1000  # milli-tokens per token
MINUTE_MS = economics.MINUTE_MS
#: a lease outlives the longest call it covers by this much (the reply's way back, a settle)
LEASE_MARGIN_S = 30.0


def lease_ttl_s(configured_s: float, timing: CallTiming) -> float:
    """How long a lease lives: the configured TTL, never shorter than the longest call.

    A lease must outlive the longest call it covers (every retry and every
    backoff pause included), or a charge Keepa made could stop counting before
    its reply arrives.  ``timing`` is the HTTP client's own (``KeepaHTTP.timing``).
    """
    return max(float(configured_s), timing.longest_call_s + LEASE_MARGIN_S)


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
    def from_settings(cls, s: Settings, *, timing: CallTiming | None = None) -> Policy:
        """The policy the settings describe; leases sized for calls made with ``timing``.

        ``timing`` is the HTTP client's (``KeepaHTTP.timing``); without it, the
        timing a client built from these settings has.
        """
        if timing is None:
            timing = CallTiming.from_settings(s)
        return cls(
            floor=int(s.budget_floor),
            min_balance=int(s.budget_min_balance),
            lease_ttl_ms=int(lease_ttl_s(s.budget_lease_ttl_s, timing) * 1000),
            anchor_max_age_ms=int(float(s.budget_anchor_max_age_s) * 1000),
            burst_minutes=float(s.budget_burst_minutes),
            sync_interval_ms=int(float(s.budget_sync_interval_s) * 1000),
        )

    def burst_mt(self, rate_mt: int) -> int:
        """Recharge ends at this balance: ``burst_minutes`` of refill, never above the cap."""
        cap = economics.cap_for(rate_mt)
        return max(self.min_balance * MT, min(cap, int(rate_mt * self.burst_minutes)))
