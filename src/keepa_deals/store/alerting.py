"""The store's verbs for saved searches, deal alerts, the outbox and health-alert state.

::

    book = AlertBook(store)
    book.save_search("cheap-textbooks", "min_profit=10&max_price=20")
    book.save_search("cheap-textbooks", text, destinations=["json://host/hook"], baseline=clause)
    rows = book.claim(owner, lease_s=120, limit=20)       # the courier's lease
    book.mark([r.id for r in rows], owner, status="sent")

Each verb is one short transaction on the deal store (the store owns its writes).  A
saved search's filter is kept as text in the dashboard's grammar; this module never
parses it (the caller does, with ``keepa_deals.web.forms.parse_query``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, delete, select, update
from sqlalchemy.exc import IntegrityError

from keepa_deals.store import outbox
from keepa_deals.store.destinations import split_urls
from keepa_deals.store.errors import StoreError
from keepa_deals.store.schema import ALERT_HEALTH, ALERT_OUTBOX, ALERT_SEEN, SAVED_SEARCHES
from keepa_deals.store.store import DealStore

#: A saved search's name: what a URL, a chip and a CLI argument can all carry.
SEARCH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")
_S = SAVED_SEARCHES.c


@dataclass(frozen=True, slots=True)
class SearchRecord:
    id: int
    name: str
    filter_text: str
    #: Apprise URLs (secrets: never print them; see store/destinations.py).
    destinations: tuple[str, ...]
    digest_s: int | None
    quiet_hours: str | None
    last_digest_at: datetime | None
    created_at: datetime

    @property
    def is_alert(self) -> bool:
        return bool(self.destinations)


@dataclass(frozen=True, slots=True)
class HealthState:
    name: str
    since: datetime | None
    fired: bool
    last_sent_at: datetime | None
    repeats: int
    summary: str | None


def _record(r: Row[Any]) -> SearchRecord:
    return SearchRecord(r.id, r.name, r.filter_text, tuple(split_urls(r.destinations)),
                        r.digest_s, r.quiet_hours, r.last_digest_at, r.created_at)


def check_name(name: str) -> str:
    name = name.strip()
    if not SEARCH_NAME.fullmatch(name):
        raise StoreError("a search name is 1-64 letters, digits, spaces, '.', '_' or '-', "
                         "starting with a letter or digit")
    return name


def parse_quiet(text: str) -> tuple[int, int]:
    """``22:00-07:00`` → (start, end) in minutes of the day (UTC); ValueError when not."""
    try:
        a, b = text.strip().split("-")
        mins = []
        for part in (a, b):
            h, m = part.strip().split(":")
            if not (0 <= int(h) < 24 and 0 <= int(m) < 60):
                raise ValueError
            mins.append(int(h) * 60 + int(m))
    except ValueError:
        raise ValueError(f"quiet hours look like 22:00-07:00 (UTC), got {text!r}") from None
    if mins[0] == mins[1]:
        raise ValueError("quiet hours must not start and end at the same time")
    return mins[0], mins[1]


class AlertBook:
    """Saved searches, alerts and the outbox on one deal store."""

    def __init__(self, store: DealStore) -> None:
        self.store = store

    def now(self) -> datetime:
        return self.store.now()

    # --- saved searches -----------------------------------------------------------------

    def searches(self) -> list[SearchRecord]:
        with self.store._read() as conn:
            return [_record(r) for r in conn.execute(select(SAVED_SEARCHES).order_by(_S.name))]

    def search(self, name: str) -> SearchRecord | None:
        with self.store._read() as conn:
            row = conn.execute(select(SAVED_SEARCHES).where(_S.name == name.strip())).first()
        return _record(row) if row else None

    def save_search(self, name: str, filter_text: str, *,
                    destinations: Sequence[str] | None = None, digest_s: int | None = None,
                    quiet_hours: str | None = None,
                    baseline: ColumnElement[bool] | None = None) -> SearchRecord:
        """Create or replace the search ``name``.  With ``destinations`` it is an alert:
        ``baseline`` (the filter's clause) marks the deals stored now as announced, so the
        alert announces what comes after it."""
        name = check_name(name)
        now = self.now()
        values: dict[str, Any] = {
            "filter_text": filter_text, "updated_at": now,
            "destinations": "\n".join(destinations) if destinations else None,
            "digest_s": digest_s, "quiet_hours": quiet_hours}
        with self.store._write() as conn:
            found = conn.execute(select(_S.id).where(_S.name == name)).scalar_one_or_none()
            if found is None:
                try:
                    conn.execute(SAVED_SEARCHES.insert().values(name=name, created_at=now,
                                                                **values))
                except IntegrityError:
                    raise StoreError(f"a search named {name!r} was saved meanwhile") from None
                found = conn.execute(select(_S.id).where(_S.name == name)).scalar_one()
            else:
                conn.execute(update(SAVED_SEARCHES).where(_S.id == found).values(**values))
                conn.execute(delete(ALERT_SEEN).where(ALERT_SEEN.c.search_id == found))
                if not destinations:
                    self._drop_pending(conn, found)
            if destinations and baseline is not None:
                outbox.baseline(conn, int(found), baseline)
            row = conn.execute(select(SAVED_SEARCHES).where(_S.id == found)).one()
        return _record(row)

    def delete_search(self, name: str) -> bool:
        """Delete the search (and its alert: its unsent messages are dropped)."""
        with self.store._write() as conn:
            found = conn.execute(select(_S.id).where(_S.name == name.strip())).scalar_one_or_none()
            if found is None:
                return False
            self._drop_pending(conn, found)
            conn.execute(delete(ALERT_SEEN).where(ALERT_SEEN.c.search_id == found))
            conn.execute(delete(SAVED_SEARCHES).where(_S.id == found))
        return True

    def stop_alert(self, name: str) -> bool:
        """Keep the search, stop its alert (its unsent messages are dropped)."""
        now = self.now()
        with self.store._write() as conn:
            found = conn.execute(select(_S.id).where(
                _S.name == name.strip(), _S.destinations.is_not(None))).scalar_one_or_none()
            if found is None:
                return False
            conn.execute(update(SAVED_SEARCHES).where(_S.id == found).values(
                destinations=None, digest_s=None, quiet_hours=None, updated_at=now))
            conn.execute(delete(ALERT_SEEN).where(ALERT_SEEN.c.search_id == found))
            self._drop_pending(conn, found)
        return True

    def note_digest(self, search_id: int, at: datetime) -> None:
        with self.store._write() as conn:
            conn.execute(update(SAVED_SEARCHES).where(_S.id == search_id)
                         .values(last_digest_at=at))

    @staticmethod
    def _drop_pending(conn: Any, search_id: int) -> None:
        conn.execute(update(ALERT_OUTBOX).where(
            ALERT_OUTBOX.c.search_id == search_id, ALERT_OUTBOX.c.status == outbox.PENDING)
            .values(status=outbox.DROPPED, error="the alert was removed", lease_owner=None,
                    lease_until=None))

    # --- the outbox -------------------------------------------------------------------------

    def enqueue(self, *, mid: str, destinations: Iterable[str], kind: str,
                payload: dict[str, Any]) -> int:
        with self.store._write() as conn:
            return outbox.enqueue(conn, mid=mid, destinations=destinations, kind=kind,
                                  payload=payload, now=self.now())

    def claim(self, owner: str, *, lease_s: float, limit: int) -> list[Row[Any]]:
        with self.store._write() as conn:
            return outbox.claim(conn, owner, self.now(), lease_s, limit)

    def set_batch(self, ids: Sequence[int], owner: str, batch: str) -> None:
        with self.store._write() as conn:
            outbox.set_batch(conn, ids, owner, batch)

    def batch_rows(self, batch: str) -> list[Row[Any]]:
        with self.store._read() as conn:
            return outbox.batch_rows(conn, batch)

    def mark(self, ids: Sequence[int], owner: str, *, status: str,
             next_at: datetime | None = None, error: str | None = None,
             failed: bool = False) -> int:
        with self.store._write() as conn:
            return outbox.mark(conn, ids, owner, self.now(), status=status, next_at=next_at,
                               error=error, failed=failed)

    def counts(self) -> dict[str, int]:
        with self.store._read() as conn:
            return outbox.counts(conn)

    def recent(self, limit: int = 50) -> list[Row[Any]]:
        with self.store._read() as conn:
            return outbox.recent(conn, limit)

    def failing_destinations(self, since: datetime) -> list[Row[Any]]:
        with self.store._read() as conn:
            return outbox.failing_destinations(conn, since)

    def forget_gone(self) -> int:
        with self.store._write() as conn:
            return outbox.forget_gone(conn)

    # --- health alerts --------------------------------------------------------------------

    def health_states(self) -> dict[str, HealthState]:
        with self.store._read() as conn:
            return {r.name: HealthState(r.name, r.since, bool(r.fired), r.last_sent_at,
                                        int(r.repeats), r.summary)
                    for r in conn.execute(select(ALERT_HEALTH))}

    def put_health(self, state: HealthState) -> None:
        values = {"since": state.since, "fired": state.fired, "last_sent_at": state.last_sent_at,
                  "repeats": state.repeats, "summary": state.summary, "updated_at": self.now()}
        with self.store._write() as conn:
            done = conn.execute(update(ALERT_HEALTH).where(ALERT_HEALTH.c.name == state.name)
                                .values(**values)).rowcount
            if not done:
                conn.execute(ALERT_HEALTH.insert().values(name=state.name, **values))


__all__ = ["AlertBook", "HealthState", "SearchRecord", "check_name", "parse_quiet"]
