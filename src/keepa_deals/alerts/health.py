"""Health alerts: the doctor's findings, pushed when they start, repeated, resolved.

Each condition says what is wrong, since when, its evidence and the fix, in the
doctor's words (its checks run in cheap mode: stored state only, no Keepa call):

==========================  =========================================================
``key_refused``             the last run failed because Keepa refused the key (400/402)
``ingestion_stalled``       the ingestion check fails (health's own definition)
``deal_count_falling``      the deal_count check: the count fell past the threshold
``plan_downgrade``          Keepa's refill rate fell within 24 h (metrics series)
``token_wait``              runs have waited for tokens far longer than a full refill
                            (an hour at any plan), or the recharge check fails
``database_unreachable``    the database check fails, past ``ALERT_GRACE_S``
``redis_unreachable``       the redis check fails, past ``ALERT_GRACE_S``
``janitor_held_back``       the janitor holds back its deletions
``destination_failing``     an alert destination keeps refusing messages
``new_store``               a new deal store while the budget shows earlier activity
==========================  =========================================================

A condition fires once it has held for its grace; it is sent again at most every
``KEEPA_DEALS_ALERT_REPEAT_H`` while it holds, and once more when it ends.  Its
state is kept in the store (``alert_health``), and in memory while the store is out
of reach; messages go through the outbox, or straight out when the database is down.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from keepa_deals.errors import KeepaDealsError
from keepa_deals.ops import facts
from keepa_deals.ops.checks_keepa import KEY_REFUSED_FIX
from keepa_deals.ops.doctor import CheckResult, Verdict, run_checks
from keepa_deals.ops.sources import Sources
from keepa_deals.settings import Settings
from keepa_deals.store.alerting import AlertBook, HealthState
from keepa_deals.store.destinations import (
    FAILING_AFTER,
    all_urls,
    fingerprint,
    masked_by_fingerprint,
)
from keepa_deals.store.outbox import message_id
from keepa_deals.store.runs import RunOutcome

log = logging.getLogger("keepa_deals.alerts")

#: Runs waiting for tokens longer than this in a row are more than any plan explains
#: (a full bucket refills in an hour at every plan).
TOKEN_WAIT = timedelta(minutes=90)
CHECKS = ("database", "redis", "ingestion", "deal_count", "recharge", "new_store")


@dataclass(frozen=True, slots=True)
class Condition:
    name: str
    title: str
    holds: bool
    summary: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)
    fix: str = ""
    #: the doctor check to run for more (``keepa-deals doctor --check ...``)
    check: str = ""
    grace_s: float = 0.0
    since: datetime | None = None


def _from_check(name: str, title: str, result: CheckResult | None, bad: tuple[Verdict, ...],
                grace_s: float = 0.0) -> Condition:
    if result is None:
        return Condition(name, title, False)
    holds = result.verdict in bad
    return Condition(name, title, holds, result.summary, _short(result.evidence), result.fix,
                     f"keepa-deals doctor --check {result.name}", grace_s)


def _short(evidence: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in evidence.items():
        text = str(v)
        out[k] = text if len(text) <= 200 else text[:199] + "…"
    return out


def conditions(settings: Settings, book: AlertBook, sources: Sources) -> list[Condition]:
    """Every health condition now (held or not)."""
    store = book.store
    results = {r.name: r for r in run_checks(settings, sources=sources, only=CHECKS)}
    now = store.now()
    db_ok = results.get("database") is not None and results["database"].verdict == Verdict.OK
    out = [
        _from_check("database_unreachable", "the database is unreachable",
                    results.get("database"), (Verdict.FAIL,), settings.alert_grace_s),
        _from_check("redis_unreachable", "Redis is unreachable", results.get("redis"),
                    (Verdict.FAIL,), settings.alert_grace_s),
        _from_check("deal_count_falling", "the deal count is falling",
                    results.get("deal_count"), (Verdict.WARN, Verdict.FAIL)),
        _from_check("new_store", "a new deal store on an account in use",
                    results.get("new_store"), (Verdict.WARN, Verdict.FAIL)),
    ]
    if not db_ok:
        return out
    failed = facts.failures(store)
    refused = failed is not None and failed.key_refused
    out.append(Condition(
        "key_refused", "Keepa refuses the key", refused,
        failed.describe() if failed else "",
        failed.as_dict() if failed else {},
        KEY_REFUSED_FIX, "keepa-deals doctor --check key",
        since=failed.since if failed else None))
    stalled = _from_check("ingestion_stalled", "ingestion is stalled", results.get("ingestion"),
                          (Verdict.FAIL,))
    out.append(replace(stalled, holds=stalled.holds and not refused))
    out.append(_plan_downgrade(book, now))
    out.append(_token_wait(book, now, results.get("recharge")))
    out.append(_janitor(book))
    out.append(_destinations(settings, book, now))
    return out


def _plan_downgrade(book: AlertBook, now: datetime) -> Condition:
    points = [p for p in book.store.metrics_since(now - timedelta(hours=24))
              if p.refill_rate is not None]
    name, title = "plan_downgrade", "Keepa's refill rate fell (a plan downgrade?)"
    if len(points) < 2:
        return Condition(name, title, False)
    latest = points[-1].refill_rate or 0
    top = max(points, key=lambda p: p.refill_rate or 0)
    holds = latest < (top.refill_rate or 0)
    return Condition(name, title, holds,
                     f"Keepa now refills {latest} tokens/min, {top.refill_rate}/min at "
                     f"{facts.utc(top.at).isoformat(timespec='minutes')}",
                     {"refill_rate": latest, "earlier_refill_rate": top.refill_rate},
                     "check the plan of the key at keepa.com > API access; the budget and "
                     "the schedule follow the new rate by themselves, and fewer deals are "
                     "checked per hour", "keepa-deals doctor --check token_state")


def _token_wait(book: AlertBook, now: datetime, recharge: CheckResult | None) -> Condition:
    name, title = "token_wait", "ingestion waits for tokens far longer than the plan explains"
    if recharge is not None and recharge.verdict == Verdict.FAIL:
        return _from_check(name, title, recharge, (Verdict.FAIL,))
    streak = []
    for run in book.store.recent_runs(limit=200):
        if run.outcome == RunOutcome.RUNNING.value:
            continue
        if run.outcome != RunOutcome.WAITING_FOR_TOKENS.value:
            break
        streak.append(run)
    if not streak:
        return Condition(name, title, False)
    since = facts.utc(streak[-1].started_at)
    holds = now - since > TOKEN_WAIT
    return Condition(name, title, holds,
                     f"the last {len(streak)} runs all ended waiting for tokens, since "
                     f"{since.isoformat(timespec='minutes')}; a full bucket refills in an hour",
                     {"runs": len(streak), "since": since.isoformat()},
                     "another program may be spending the same key, or the stored budget is "
                     "stale: `keepa-deals doctor --fix` forces a /token sync",
                     "keepa-deals doctor --check token_state", since=since)


def _janitor(book: AlertBook) -> Condition:
    held = [s for s in facts.janitor_state(book.store)
            if s["key"] == "janitor_held_back" and s["value"]]
    why = "; ".join(f"{s['query']}: {s['value']}" for s in held)
    return Condition("janitor_held_back", "the janitor holds back", bool(held),
                     f"the janitor deletes nothing: {why}", {"queries": [s["query"] for s in held]},
                     "it waits for ingestion to be healthy (see the ingestion check); nothing "
                     "is lost meanwhile, but stale deals stay stored",
                     "keepa-deals doctor --check ingestion")


def _destinations(settings: Settings, book: AlertBook, now: datetime) -> Condition:
    shown = masked_by_fingerprint(
        all_urls(settings.alert_urls, (s.destinations for s in book.searches())))
    bad = [r for r in book.failing_destinations(now - timedelta(hours=24))
           if (r.dead or r.attempts >= FAILING_AFTER) and r.destination in shown]
    names = [shown[r.destination] for r in bad]
    return Condition("destination_failing", "an alert destination keeps failing", bool(bad),
                     f"{len(bad)} destination(s) refuse messages: {', '.join(names)}",
                     {r.destination: f"{shown[r.destination]}: {r.failing} message(s), "
                      f"{r.attempts} attempts, last error {r.error}" for r in bad},
                     "check the destination's URL and service (`keepa-deals alerts test --to "
                     "URL`); `keepa-deals alerts history` lists the failures",
                     "keepa-deals doctor --check alerts")


Send = Callable[[str, dict[str, Any]], None]


class HealthMonitor:
    """Turns conditions into fired / repeat / resolved messages (see the module docstring)."""

    def __init__(self, settings: Settings, book: AlertBook, *, direct: Send) -> None:
        self.settings = settings
        self.book = book
        self.direct = direct
        self._memory: dict[str, HealthState] = {}

    def _states(self) -> dict[str, HealthState]:
        try:
            self._memory.update(self.book.health_states())
        except KeepaDealsError:
            pass
        return dict(self._memory)

    def step(self, found: list[Condition]) -> list[str]:
        """Apply the conditions; returns the events sent (``name:event``)."""
        now = self.book.now()
        states = self._states()
        repeat = timedelta(hours=self.settings.alert_repeat_h)
        events = []
        for c in found:
            st = states.get(c.name) or HealthState(c.name, None, False, None, 0, None)
            if c.holds:
                since = st.since or c.since or now
                if st.since is None:
                    st = HealthState(c.name, since, False, None, 0, c.summary)
                if not st.fired and now - since >= timedelta(seconds=c.grace_s):
                    self._emit(c, "fired", since, 0, now)
                    st = replace(st, fired=True, last_sent_at=now, summary=c.summary)
                    events.append(f"{c.name}:fired")
                elif st.fired and st.last_sent_at is not None and now - st.last_sent_at >= repeat:
                    self._emit(c, "repeat", since, st.repeats + 1, now)
                    st = replace(st, last_sent_at=now, repeats=st.repeats + 1, summary=c.summary)
                    events.append(f"{c.name}:repeat")
            elif st.since is not None:
                if st.fired:
                    self._emit(replace(c, summary=st.summary or ""), "resolved", st.since, 0, now)
                    events.append(f"{c.name}:resolved")
                st = HealthState(c.name, None, False, now, 0, None)
            else:
                continue
            self._memory[c.name] = st
            try:
                self.book.put_health(st)
            except KeepaDealsError as exc:
                log.warning("health alert %s: state kept in memory (%s)", c.name, exc)
        return events

    def _emit(self, c: Condition, event: str, since: datetime, n: int, now: datetime) -> None:
        payload = {"title": c.title, "event": event, "summary": c.summary,
                   "evidence": c.evidence, "fix": c.fix, "check": c.check,
                   "since": since.isoformat(timespec="seconds"),
                   "at": now.isoformat(timespec="seconds"), "name": c.name}
        mid = message_id("health", c.name, since.isoformat(), event, n)
        urls = self.settings.alert_urls
        if not urls:
            log.warning("health alert %s (%s): %s (no KEEPA_DEALS_ALERT_URLS to send it to)",
                        c.name, event, c.summary)
            return
        try:
            self.book.enqueue(mid=mid, destinations=[fingerprint(u) for u in urls],
                              kind="health", payload=payload)
        except KeepaDealsError:  # the database is down: straight out, best effort
            payload["id"] = mid
            self.direct(mid, payload)


__all__ = ["CHECKS", "Condition", "HealthMonitor", "conditions"]
