"""A deal's price, rank and offer-count history: compact and bounded, one row per deal.

::

    h = DealHistory.bounded("B00…", 1, {"used": [(minute, cents), …], …}, now_minute)
    work.save_histories([h])                     # in the commit that saves the deal
    load_history(conn, "B00…", 1)                # → DealHistory | None

The bound is the store's, whoever writes: :data:`HISTORY_DAYS` days back from the
newest point, each series downsampled to at most :data:`MAX_POINTS_PER_SERIES` points
(:func:`downsample`: per time bucket its lowest, highest and last point, finer buckets
for the last 30 days), so a product Keepa has tracked for years stores the same few
kilobytes as one tracked since last month.  Times are Keepa minutes; a value of None
is "no offer / no rank" (Keepa's -1), kept so a chart shows the gap.

The row holds the series as zlib-compressed JSON (``data``), delta-coded times, with
its point count: see :func:`encode` / :func:`decode`.  A deal's history goes when the
deal goes (``delete_histories``, ``delete_orphan_histories``).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import Connection, and_, delete, exists, select

from keepa_deals.store.driver import dialect_insert
from keepa_deals.store.errors import StoreError
from keepa_deals.store.schema import DEAL_HISTORY, DEALS

#: The series a history may hold, in display order.
SERIES: tuple[str, ...] = (
    "amazon", "new", "used", "buy_box", "sales_rank", "count_new", "count_used",
)
#: How far back a stored history reaches.
HISTORY_DAYS = 365
#: Finer buckets for the most recent days (the 30-day chart).
RECENT_DAYS = 30
RECENT_BUCKET_MIN = 6 * 60
OLDER_BUCKET_MIN = 3 * 24 * 60
#: At most three points (low, high, last) per bucket.
PER_BUCKET = 3
MAX_POINTS_PER_SERIES = PER_BUCKET * (
    RECENT_DAYS * 1440 // RECENT_BUCKET_MIN
    + -(-(HISTORY_DAYS - RECENT_DAYS) * 1440 // OLDER_BUCKET_MIN)
) + 1
FORMAT_VERSION = 1

Point = tuple[int, int | None]


@dataclass(frozen=True, slots=True)
class DealHistory:
    """The bounded history of one deal: series name → points (Keepa minute, value)."""

    asin: str
    domain_id: int
    series: Mapping[str, tuple[Point, ...]]

    @classmethod
    def bounded(cls, asin: str, domain_id: int, series: Mapping[str, Sequence[Point]],
                now_minute: int) -> DealHistory:
        """The history of these raw series, cut to the window and downsampled."""
        kept: dict[str, tuple[Point, ...]] = {}
        for name in SERIES:
            points = series.get(name)
            if points:
                down = downsample(points, now_minute)
                if down:
                    kept[name] = down
        unknown = set(series) - set(SERIES)
        if unknown:
            raise StoreError(f"unknown history series {sorted(unknown)}; known: {SERIES}")
        return cls(asin, domain_id, kept)

    @property
    def points(self) -> int:
        return sum(len(p) for p in self.series.values())


def _bucket(minute: int, now_minute: int) -> int:
    age = now_minute - minute
    if age < RECENT_DAYS * 1440:
        return -(age // RECENT_BUCKET_MIN) - 1_000_000  # recent: distinct, finer keys
    return -(age // OLDER_BUCKET_MIN)


def downsample(points: Sequence[Point], now_minute: int) -> tuple[Point, ...]:
    """At most :data:`MAX_POINTS_PER_SERIES` points of the last :data:`HISTORY_DAYS` days.

    Points are sorted by time; the value in force when the window opens is kept at the
    window's start (and survives).  Per bucket (6 h in the last 30 days, 3 days before)
    the lowest, the highest and the last point survive, in time order: a dip or a spike
    stays visible, and the step the series ends the bucket on is exact.
    """
    start = now_minute - HISTORY_DAYS * 1440
    ordered = sorted((p for p in points if p[0] <= now_minute), key=lambda p: p[0])
    before = [p for p in ordered if p[0] < start]
    inside = [p for p in ordered if p[0] >= start]
    if before:
        inside.insert(0, (start, before[-1][1]))
    buckets: dict[int, list[Point]] = {}
    order: list[int] = []
    for p in inside:
        key = _bucket(p[0], now_minute)
        if key not in buckets:
            buckets[key] = []
            order.append(key)
        buckets[key].append(p)
    out: list[Point] = []
    for n, key in enumerate(order):
        group = buckets[key]
        valued = [p for p in group if p[1] is not None]
        keep = {len(group) - 1} if n else {0, len(group) - 1}  # and where the window opens
        if valued:
            lo = min(valued, key=lambda p: p[1] or 0)
            hi = max(valued, key=lambda p: p[1] or 0)
            keep.add(group.index(lo))
            keep.add(group.index(hi))
        out.extend(group[i] for i in sorted(keep))
    # drop repeats of the value before (a step chart draws them the same)
    dedup: list[Point] = []
    for i, p in enumerate(out):
        if dedup and dedup[-1][1] == p[1] and i != len(out) - 1:
            continue
        dedup.append(p)
    return tuple(dedup[-MAX_POINTS_PER_SERIES:])


# --- the stored form ------------------------------------------------------------------


def encode(series: Mapping[str, Sequence[Point]]) -> bytes:
    """``zlib(JSON {"v": 1, "s": {name: [[Δminute…], [value…]]}})``, -1 for None."""
    body: dict[str, list[list[int]]] = {}
    for name, points in series.items():
        times: list[int] = []
        values: list[int] = []
        last = 0
        for minute, value in points:
            times.append(minute - last)
            last = minute
            values.append(-1 if value is None else value)
        body[name] = [times, values]
    return zlib.compress(orjson.dumps({"v": FORMAT_VERSION, "s": body}), 9)


def decode(data: bytes) -> dict[str, tuple[Point, ...]]:
    """The series of a stored row (raises StoreError for a row this version cannot read)."""
    try:
        doc = orjson.loads(zlib.decompress(data))
        if doc.get("v") != FORMAT_VERSION:
            raise StoreError(f"deal history format {doc.get('v')!r} is not {FORMAT_VERSION}")
        out: dict[str, tuple[Point, ...]] = {}
        for name, (times, values) in doc["s"].items():
            minute = 0
            points: list[Point] = []
            for dt, v in zip(times, values, strict=True):
                minute += int(dt)
                points.append((minute, None if v < 0 else int(v)))
            out[str(name)] = tuple(points)
        return out
    except (zlib.error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"a stored deal history cannot be read: {exc}") from exc


def _params(h: DealHistory, now: datetime) -> dict[str, object]:
    return {"asin": h.asin, "domain_id": h.domain_id, "points": h.points,
            "data": encode(h.series), "updated_at": now}


def save_histories(conn: Connection, histories: Iterable[DealHistory], now: datetime) -> int:
    """Insert or replace these histories (the last one of a deal wins); returns how many."""
    rows = {(h.asin, h.domain_id): _params(h, now) for h in histories if h.series}
    if not rows:
        return 0
    params = [rows[k] for k in sorted(rows)]
    ins = dialect_insert(conn, DEAL_HISTORY)
    stmt = ins.on_conflict_do_update(
        index_elements=["asin", "domain_id"],
        set_={"points": ins.excluded.points, "data": ins.excluded.data,
              "updated_at": ins.excluded.updated_at},
    )
    conn.execute(stmt, params)
    return len(params)


def delete_histories(conn: Connection, keys: Iterable[tuple[str, int]]) -> int:
    removed = 0
    for asin, domain in sorted(set(keys)):
        removed += int(conn.execute(delete(DEAL_HISTORY).where(and_(
            DEAL_HISTORY.c.asin == asin, DEAL_HISTORY.c.domain_id == domain))).rowcount)
    return removed


def delete_orphan_histories(conn: Connection) -> int:
    """Delete the histories of deals that are no longer stored."""
    stored = exists().where(DEALS.c.asin == DEAL_HISTORY.c.asin,
                            DEALS.c.domain_id == DEAL_HISTORY.c.domain_id)
    return int(conn.execute(delete(DEAL_HISTORY).where(~stored)).rowcount)


def load_history(conn: Connection, asin: str, domain_id: int) -> tuple[DealHistory, datetime] | None:
    """A stored deal's history and when it was written (None: none stored)."""
    row = conn.execute(select(DEAL_HISTORY.c.data, DEAL_HISTORY.c.updated_at).where(
        DEAL_HISTORY.c.asin == asin, DEAL_HISTORY.c.domain_id == domain_id)).one_or_none()
    if row is None:
        return None
    return DealHistory(asin, domain_id, decode(bytes(row.data))), row.updated_at
