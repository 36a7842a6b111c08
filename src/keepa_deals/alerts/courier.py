"""Draining the outbox: lease, send, mark sent; retry with backoff; never block ingestion.

:func:`drain` works for at most ``KEEPA_DEALS_ALERT_DRAIN_BUDGET_S``: it leases due
rows (``KEEPA_DEALS_ALERT_LEASE_S``), sends each to its destination, and marks it sent
only after the destination took it.  A failure puts the row back with a doubling delay
from ``KEEPA_DEALS_ALERT_RETRY_S`` (at most an hour) and, after
``KEEPA_DEALS_ALERT_MAX_ATTEMPTS``, gives up on it (``dead``: doctor and the
``destination_failing`` health alert show it).  A destination that failed once in a
drain is not tried again in that drain.  Rows of an alert in its quiet hours wait for
their end; rows of a digest alert go out together, best first, at most once per
digest interval.  A process killed mid-send leaves its rows leased: they are due again
when the lease ends, with the same message id.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from keepa_deals.alerts.messages import Message, digest_message, render
from keepa_deals.alerts.send import Sent, send
from keepa_deals.errors import KeepaDealsError
from keepa_deals.settings import Settings
from keepa_deals.store.alerting import AlertBook, SearchRecord, parse_quiet
from keepa_deals.store.destinations import all_urls, fingerprint, masked
from keepa_deals.store.outbox import DEAD, DROPPED, PENDING, SENT, SKIPPED, message_id

log = logging.getLogger("keepa_deals.alerts")

#: Rows leased per round.
CLAIM = 20
MAX_BACKOFF_S = 3600.0
Sender = Callable[..., Sent]


def owner_id() -> str:
    return f"{socket.gethostname()[:60]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def quiet_until(text: str | None, now: datetime) -> datetime | None:
    """The end of the quiet hours ``now`` falls in, or None when it is not in them."""
    if not text:
        return None
    start, end = parse_quiet(text)
    minute = now.hour * 60 + now.minute
    inside = start <= minute < end if start < end else (minute >= start or minute < end)
    if not inside:
        return None
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    until = day + timedelta(minutes=end)
    return until if until > now else until + timedelta(days=1)


@dataclass
class DrainReport:
    sent: int = 0
    failed: int = 0
    deferred: int = 0
    dropped: int = 0
    dead: int = 0
    #: Masked destinations that failed in this drain.
    failing: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed, "deferred": self.deferred,
                "dropped": self.dropped, "dead": self.dead, "failing": self.failing}


class Courier:
    """Sends the outbox of one store (``drain``); one per process is enough."""

    def __init__(self, settings: Settings, book: AlertBook, *, sender: Sender = send,
                 owner: str | None = None) -> None:
        self.settings = settings
        self.book = book
        self.sender = sender
        self.owner = owner or owner_id()
        key = settings.keepa_api_key
        self._key = key.get_secret_value() if key else None

    def destinations(self, searches: list[SearchRecord]) -> dict[str, str]:
        """fingerprint → URL, of every configured destination."""
        urls = all_urls(self.settings.alert_urls, (s.destinations for s in searches))
        return {fingerprint(u): u for u in urls}

    def drain(self, *, budget_s: float | None = None) -> DrainReport:
        report = DrainReport()
        budget = self.settings.alert_drain_budget_s if budget_s is None else budget_s
        deadline = time.monotonic() + budget
        searches = self.book.searches()
        by_id = {s.id: s for s in searches}
        urls = self.destinations(searches)
        down: dict[str, datetime] = {}
        while time.monotonic() < deadline:
            rows = self.book.claim(self.owner, lease_s=self.settings.alert_lease_s, limit=CLAIM)
            if not rows:
                break
            for group in self._groups(rows, by_id, report):
                if time.monotonic() >= deadline:
                    self.book.mark([r.id for r in group.rows], self.owner, status=PENDING)
                    continue
                self._deliver(group, urls, down, report)
        return report

    # --- grouping ---------------------------------------------------------------------

    def _groups(self, rows: list[Any], by_id: dict[int, SearchRecord],
                report: DrainReport) -> list[_Group]:
        now = self.book.now()
        singles: list[_Group] = []
        digests: dict[tuple[Any, ...], list[Any]] = {}
        for row in rows:
            search = by_id.get(row.search_id) if row.search_id is not None else None
            if row.kind == "deal" and search is None:
                self.book.mark([row.id], self.owner, status=DROPPED,
                               error="the alert was removed")
                report.dropped += 1
                continue
            if search is not None:
                until = quiet_until(search.quiet_hours, now)
                if until is not None:
                    self.book.mark([row.id], self.owner, status=PENDING, next_at=until)
                    report.deferred += 1
                    continue
            if search is not None and search.digest_s and row.kind == "deal":
                last = search.last_digest_at
                if row.batch is None and last is not None and now < last + timedelta(
                        seconds=search.digest_s):
                    self.book.mark([row.id], self.owner, status=PENDING,
                                   next_at=last + timedelta(seconds=search.digest_s))
                    report.deferred += 1
                    continue
                digests.setdefault((row.batch or "", search.id, row.destination), []).append(row)
                continue
            payload = json.loads(row.payload)
            singles.append(_Group([row], row.destination, render(row.kind, payload,
                                                                  row.message_id)))
        for (batch, search_id, destination), members in digests.items():
            search = by_id[search_id]
            if batch:  # a digest claimed before (its sender died): the same rows, the same id
                members = [r for r in self.book.batch_rows(batch)
                           if r.lease_owner == self.owner] or members
            else:
                batch = message_id("digest", *sorted(r.message_id for r in members))
                self.book.set_batch([r.id for r in members], self.owner, batch)
            payloads = sorted((json.loads(r.payload) for r in members),
                              key=lambda p: -(p.get("profit_cents") or 0))
            size = self.settings.alert_digest_size
            msg = digest_message(search.name, payloads[:size], max(0, len(payloads) - size),
                                 batch)
            singles.append(_Group(members, destination, msg, digest_of=search_id))
        return singles

    # --- sending -----------------------------------------------------------------------

    def _deliver(self, group: _Group, urls: dict[str, str], down: dict[str, datetime],
                 report: DrainReport) -> None:
        ids = [r.id for r in group.rows]
        url = urls.get(group.destination)
        if url is None:
            self.book.mark(ids, self.owner, status=DROPPED,
                           error="the destination is no longer configured")
            report.dropped += len(ids)
            return
        if group.destination in down:  # failed already in this drain: not again now
            self.book.mark(ids, self.owner, status=PENDING, next_at=down[group.destination])
            report.deferred += len(ids)
            return
        msg = group.message
        result = self.sender(url, msg.title, msg.body, timeout_s=self.settings.alert_timeout_s,
                             message_id=msg.id, key=self._key)
        if result.ok:
            self.book.mark(ids, self.owner, status=SENT)
            report.sent += len(ids)
            if group.digest_of is not None:
                self.book.note_digest(group.digest_of, self.book.now())
            return
        attempts = max(r.attempts for r in group.rows)
        shown = masked(url)
        report.failing.append(shown)
        if attempts + 1 >= self.settings.alert_max_attempts:
            self.book.mark(ids, self.owner, status=DEAD, error=result.error, failed=True)
            report.dead += len(ids)
            log.error("alert %s to %s given up after %d attempts: %s", msg.id, shown,
                      attempts + 1, result.error)
            return
        delay = min(MAX_BACKOFF_S, self.settings.alert_retry_s * 2 ** attempts)
        retry_at = self.book.now() + timedelta(seconds=delay)
        down[group.destination] = retry_at
        self.book.mark(ids, self.owner, status=PENDING, next_at=retry_at, error=result.error,
                       failed=True)
        report.failed += len(ids)
        log.warning("alert %s to %s failed (attempt %d, next in %.0f s): %s", msg.id, shown,
                    attempts + 1, delay, result.error)


@dataclass
class _Group:
    rows: list[Any]
    destination: str
    message: Message
    digest_of: int | None = None


class CourierThread:
    """The ``run`` loop's courier: a thread that checks health and drains the outbox
    after each run (``poke``) and every ``KEEPA_DEALS_ALERT_CHECK_INTERVAL_S``, so a
    slow or dead destination never holds up ingestion."""

    def __init__(self, work: Callable[[], object], interval_s: float) -> None:
        self._work = work
        self._interval_s = interval_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="alerts-courier", daemon=True)

    def start(self) -> CourierThread:
        self._thread.start()
        return self

    def poke(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval_s)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self._work()
            except KeepaDealsError as exc:
                log.warning("alerts: %s", exc)
            except Exception:
                log.exception("the alerts courier failed; it tries again")

    def close(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)


__all__ = ["Courier", "CourierThread", "DrainReport", "owner_id", "parse_quiet", "quiet_until"]
