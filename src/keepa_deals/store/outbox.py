"""The alert outbox, in SQL: written by the unit of work, drained by the courier.

**Announcing** (:func:`announce`) runs inside the unit of work's transaction, after
its deals are written: the rows just written that match an alert's filter (the
search's clause AND the batch's rows AND not present for that alert already) get
one outbox row per destination, and an ``alert_seen`` row saying the alert has
announced them.  A row written that no longer matches is marked not present, so a
deal announced once is announced again only after it left the filter and came
back; a retired deal that returns is a new row (a new id), hence new too.  The
matching runs in a savepoint: a filter that fails to compile is logged and
skipped, and never costs the deals their write.

**Draining**: :func:`claim` leases due rows to one owner for ``lease_s``; the
owner marks each sent (:func:`mark`) only after the destination took it.  A
process killed mid-send leaves its rows leased; when the lease runs out they are
due again, and the message id (stable per search, deal and appearance) lets a
receiver drop the repeat.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    and_,
    case,
    false,
    func,
    or_,
    select,
    update,
)

from keepa_deals.store.corrupt import readable_rows
from keepa_deals.store.destinations import fingerprint, split_urls
from keepa_deals.store.driver import dialect_insert
from keepa_deals.store.schema import ALERT_OUTBOX, ALERT_SEEN, DEALS, SAVED_SEARCHES

log = logging.getLogger("keepa_deals.alerts")

#: (filter text, now) → the clause on ``deals`` selecting the rows an alert wants.
Matcher = Callable[[str, datetime], ColumnElement[bool]]
DealKeyPair = tuple[str, int]

PENDING, SENT, DEAD, DROPPED, SKIPPED = "pending", "sent", "dead", "dropped", "skipped"

#: The deal fields a deal message carries.
PAYLOAD_COLUMNS = (
    "id", "asin", "domain_id", "query_name", "title", "current_price_cents",
    "est_sale_price_cents", "profit_cents", "roi_percent", "margin_percent", "sales_rank",
    "rank_drops_30", "offers_used", "price_type",
)
_O = ALERT_OUTBOX.c
_S = SAVED_SEARCHES.c


def message_id(*parts: object) -> str:
    """A stable id of a message from what names it (the same parts: the same id)."""
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _keys_clause(keys: Iterable[DealKeyPair]) -> ColumnElement[bool]:
    by_domain: dict[int, list[str]] = {}
    for asin, domain in keys:
        by_domain.setdefault(int(domain), []).append(asin)
    return or_(false(), *(and_(DEALS.c.domain_id == d, DEALS.c.asin.in_(sorted(a)))
                          for d, a in sorted(by_domain.items())))


def enqueue(conn: Connection, *, mid: str, destinations: Iterable[str], kind: str,
            payload: dict[str, Any], now: datetime, search_id: int | None = None) -> int:
    """One outbox row per destination fingerprint (a message already queued for a
    destination is not queued again); returns how many were added."""
    rows = [{"message_id": mid, "destination": fp, "kind": kind, "search_id": search_id,
             "payload": json.dumps(payload, default=str), "status": PENDING, "attempts": 0,
             "next_at": now, "created_at": now} for fp in sorted(set(destinations))]
    if not rows:
        return 0
    stmt = dialect_insert(conn, ALERT_OUTBOX).on_conflict_do_nothing(
        index_elements=["message_id", "destination"])
    return sum(int(conn.execute(stmt, [r]).rowcount) for r in rows)


def announce(conn: Connection, keys: Iterable[DealKeyPair], now: datetime,
             matcher: Matcher | None) -> int:
    """Queue the alert messages for the deals of ``keys`` just written; returns how many
    outbox rows were added.  See the module docstring."""
    keys = set(keys)
    if not keys or matcher is None:
        return 0
    searches = conn.execute(
        select(_S.id, _S.name, _S.filter_text, _S.destinations, _S.created_at)
        .where(_S.destinations.is_not(None)).order_by(_S.id)).all()
    if not searches:
        return 0
    added = 0
    with conn.begin_nested() as savepoint:
        try:
            where = _keys_clause(keys)
            written = [r.id for r in conn.execute(select(DEALS.c.id).where(where))]
            for search in searches:
                added += _announce_one(conn, search, where, written, now, matcher)
        except Exception:  # never lose the deals' write for an alert
            log.exception("could not match the deals just written against the alerts; "
                          "they are not announced")
            savepoint.rollback()
            return 0
    return added


def _announce_one(conn: Connection, search: Any, where: ColumnElement[bool],
                  written: list[int], now: datetime, matcher: Matcher) -> int:
    destinations = [fingerprint(u) for u in split_urls(search.destinations)]
    try:
        clause = matcher(search.filter_text, now)
    except ValueError as exc:
        log.error("alert %s: its filter cannot be read (%s); nothing is announced for it",
                  search.name, exc)
        return 0
    cols = [DEALS.c[c] for c in PAYLOAD_COLUMNS]
    matched = {r.id: r for r in readable_rows(conn.execute(select(*cols).where(where, clause)))}
    seen = {r.deal_id: r for r in conn.execute(select(ALERT_SEEN).where(
        ALERT_SEEN.c.search_id == search.id, ALERT_SEEN.c.deal_id.in_(written)))}
    left = [i for i, s in seen.items() if s.present and i not in matched]
    if left:
        conn.execute(update(ALERT_SEEN).where(
            ALERT_SEEN.c.search_id == search.id, ALERT_SEEN.c.deal_id.in_(left))
            .values(present=False))
    added = 0
    for deal_id, row in sorted(matched.items()):
        before = seen.get(deal_id)
        if before is not None and before.present:
            continue
        if before is None:
            appearance = 1
            claimed = conn.execute(dialect_insert(conn, ALERT_SEEN).on_conflict_do_nothing().values(
                search_id=search.id, deal_id=deal_id, appearances=1, present=True)).rowcount
        else:
            appearance = before.appearances + 1
            claimed = conn.execute(update(ALERT_SEEN).where(
                ALERT_SEEN.c.search_id == search.id, ALERT_SEEN.c.deal_id == deal_id,
                ALERT_SEEN.c.present.is_(False))
                .values(present=True, appearances=appearance)).rowcount
        if not claimed:  # another transaction announced it meanwhile
            continue
        payload = {c: row._mapping[c] for c in PAYLOAD_COLUMNS}
        payload.update(search=search.name, appearance=appearance)
        mid = message_id("deal", search.name, search.created_at.isoformat(), row.asin,
                         row.domain_id, deal_id, appearance)
        added += enqueue(conn, mid=mid, destinations=destinations, kind="deal",
                         payload=payload, now=now, search_id=search.id)
    return added


def baseline(conn: Connection, search_id: int, clause: ColumnElement[bool]) -> int:
    """Mark every stored deal matching ``clause`` as already announced for the search (a
    new alert announces what comes after it, not the store's whole content)."""
    ids = [r.id for r in conn.execute(select(DEALS.c.id).where(clause))]
    stmt = dialect_insert(conn, ALERT_SEEN).on_conflict_do_nothing()
    for i in ids:
        conn.execute(stmt.values(search_id=search_id, deal_id=i, appearances=1, present=True))
    return len(ids)


# --- draining -------------------------------------------------------------------------------


def claim(conn: Connection, owner: str, now: datetime, lease_s: float, limit: int
          ) -> list[Row[Any]]:
    """Lease up to ``limit`` due rows to ``owner`` (oldest first) and return them."""
    due = and_(_O.status == PENDING, _O.next_at <= now,
               or_(_O.lease_until.is_(None), _O.lease_until < now))
    ids = [r.id for r in conn.execute(select(_O.id).where(due).order_by(_O.id).limit(limit))]
    if not ids:
        return []
    until = now + timedelta(seconds=lease_s)
    conn.execute(update(ALERT_OUTBOX).where(_O.id.in_(ids), due)
                 .values(lease_owner=owner, lease_until=until))
    return list(conn.execute(select(ALERT_OUTBOX).where(
        _O.id.in_(ids), _O.lease_owner == owner, _O.lease_until == until).order_by(_O.id)))


def set_batch(conn: Connection, ids: Sequence[int], owner: str, batch: str) -> None:
    conn.execute(update(ALERT_OUTBOX).where(_O.id.in_(ids), _O.lease_owner == owner)
                 .values(batch=batch))


def batch_rows(conn: Connection, batch: str) -> list[Row[Any]]:
    return list(conn.execute(select(ALERT_OUTBOX).where(_O.batch == batch).order_by(_O.id)))


def mark(conn: Connection, ids: Sequence[int], owner: str, now: datetime, *, status: str,
         next_at: datetime | None = None, error: str | None = None,
         failed: bool = False) -> int:
    """Settle leased rows: ``sent``/``dead``/``dropped``/``skipped``, or back to
    ``pending`` at ``next_at`` (``failed``: one more attempt counted)."""
    if not ids:
        return 0
    values: dict[str, Any] = {"status": status, "lease_owner": None, "lease_until": None}
    if status == SENT:
        values.update(sent_at=now, error=None)
    if next_at is not None:
        values["next_at"] = next_at
    if error is not None:
        values["error"] = error
    if failed:
        values["attempts"] = _O.attempts + 1
    return int(conn.execute(update(ALERT_OUTBOX).where(
        _O.id.in_(list(ids)), _O.lease_owner == owner).values(**values)).rowcount)


def counts(conn: Connection) -> dict[str, int]:
    stmt = select(_O.status, func.count()).group_by(_O.status)
    return {str(s): int(n) for s, n in conn.execute(stmt)}


def recent(conn: Connection, limit: int) -> list[Row[Any]]:
    stmt = select(ALERT_OUTBOX).order_by(_O.id.desc()).limit(limit)
    return list(conn.execute(stmt))


def failing_destinations(conn: Connection, since: datetime) -> list[Row[Any]]:
    """Per destination with failed attempts on rows created since ``since``: the rows still
    failing (pending with attempts, or dead), the oldest such row's time, the last error."""
    failing = and_(_O.created_at >= since,
                   or_(_O.status == DEAD, and_(_O.status == PENDING, _O.attempts > 0)))
    stmt = (select(_O.destination, func.count().label("failing"),
                   func.min(_O.created_at).label("since"),
                   func.max(_O.attempts).label("attempts"),
                   func.sum(case((_O.status == DEAD, 1), else_=0)).label("dead"),
                   func.max(_O.error).label("error"))
            .where(failing).group_by(_O.destination).order_by(_O.destination))
    return list(conn.execute(stmt))


def forget_gone(conn: Connection) -> int:
    """Drop ``alert_seen`` rows of deals no longer stored, and of searches no longer there."""
    gone = or_(ALERT_SEEN.c.deal_id.not_in(select(DEALS.c.id)),
               ALERT_SEEN.c.search_id.not_in(select(_S.id)))
    return int(conn.execute(ALERT_SEEN.delete().where(gone)).rowcount)


__all__ = ["DEAD", "DROPPED", "Matcher", "PENDING", "SENT", "SKIPPED", "announce", "baseline",
           "claim", "enqueue", "failing_destinations", "mark", "message_id"]
