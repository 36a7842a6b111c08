"""What the health page says in words beside its charts (and instead of them without
JavaScript): one status that agrees with the budget's state word, the token balance
against its cap and floor, and whether the deal count went down.

A page that shows "RECHARGING" in amber must not say "No alerts" in green beside it:
:func:`status` takes the worse of the doctor's alerts and the budget's state, and the
template words both the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from keepa_deals.web import models

Level = Literal["ok", "warn", "fail"]

#: The budget's state word → the level it shows at.
STATE_LEVELS: dict[str | None, Level] = {
    "ready": "ok", "low": "warn", "recharging": "warn", "unknown": "warn",
    "unreachable": "fail", None: "warn",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    level: Level
    text: str
    #: up, down or flat (the arrow the page shows)
    direction: str = "flat"


def status(health: models.Health) -> Verdict:
    """One status for the top of the page: the worst of the alerts and the budget."""
    tokens = health.tokens
    budget: Level = STATE_LEVELS.get(tokens.state, "warn")
    fails = [a for a in health.alerts if a.level == "fail"]
    warns = [a for a in health.alerts if a.level != "fail"]
    state = tokens.state or "unknown"
    why = f": {tokens.why}" if tokens.why else ""
    if fails:
        return Verdict("fail", f"{len(fails)} failing check(s)"
                       + (f", {len(warns)} warning(s)" if warns else "")
                       + ("" if budget == "ok" else f"; the token budget is {state}"))
    if budget == "fail":
        return Verdict("fail", f"The token budget is {state}{why}")
    if warns:
        extra = "" if budget == "ok" else f"; the token budget is {state}"
        return Verdict("warn", f"{len(warns)} warning(s){extra}")
    if budget == "warn":
        return Verdict("warn", f"No failing checks, but the token budget is {state}{why}; "
                               "ingestion waits for tokens")
    if health.alerts_source != "doctor":
        return Verdict("warn", f"No alerts to show ({health.alerts_source})")
    return Verdict("ok", "All checks pass and the token budget is ready")


#: A count this far below the window's peak reads as a decline (and at least one deal).
DECLINE_SHARE = 0.05


def declining(first: int, peak: int, now: int) -> bool:
    """The rule the page and its chart share: below the start, or well below the peak."""
    return now < first or peak - now >= max(1.0, peak * DECLINE_SHARE)


def deal_trend(deals: models.DealSeries, hours: float) -> Verdict:
    """The deal count now against the window's start and its peak: a fall says so first."""
    if not deals.points:
        return Verdict("warn", f"No deal count recorded in the last {_span(hours)}")
    first = deals.points[0]
    now = deals.current
    peak = max(deals.points, key=lambda p: (p.count, p.at))

    def at(p: models.CountPoint) -> str:
        return f"{p.at:%H:%M} UTC" if hours <= 24 else f"{p.at:%b %d %H:%M} UTC"

    def pct(a: int, b: int) -> str:
        return f" ({(b - a) / a * 100:+.0f} %)" if a else ""

    if declining(first.count, peak.count, now):
        if peak.count > first.count:
            return Verdict("warn", f"Down {peak.count - now:,}{pct(peak.count, now)} since "
                                   f"{at(peak)}: {now:,} deals now, {peak.count:,} then", "down")
        return Verdict("warn", f"Down {first.count - now:,}{pct(first.count, now)}: {now:,} "
                               f"deals now, {first.count:,} at {at(first)}", "down")
    if now > first.count:
        return Verdict("ok", f"Up {now - first.count:,}{pct(first.count, now)}: {now:,} deals "
                             f"now, {first.count:,} at {at(first)}", "up")
    return Verdict("ok", f"Steady: {now:,} deals now and at {at(first)}", "flat")


def token_trend(tokens: models.TokenSeries, now_balance: int | None) -> Verdict:
    """The balance against the cap and the floor, and how low it went."""
    balances = [p.balance for p in tokens.points if p.balance is not None and not p.run_start]
    if not balances:
        return Verdict("warn", "No token balance recorded in this window")
    last = now_balance if now_balance is not None else balances[-1]
    cap = f" of a {tokens.cap:,} cap" if tokens.cap else ""
    low = min(p.low if p.low is not None else p.balance for p in tokens.points
              if p.balance is not None and not p.run_start)  # a bucket's lowest counts
    waits = len(tokens.recharge_periods)
    text = (f"{last:,} tokens{cap}; lowest {low:,} in the window; floor {tokens.floor:,}"
            + (f"; waited for tokens {waits} time(s)" if waits else ""))
    first = balances[0]
    direction = "down" if last < first else "up" if last > first else "flat"
    level: Level = "warn" if low <= tokens.floor or waits else "ok"
    return Verdict(level, text, direction)


def _span(hours: float) -> str:
    return f"{hours:g} h" if hours < 48 else f"{hours / 24:g} days"
