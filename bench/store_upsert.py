"""Deal-store cost per deal as the store grows: score + save µs per deal at several sizes.

Counts: deals scored with the profit model into DealRows and saved with
``save_batch`` (watermark, one transaction per page of ``--page`` deals, as the
ingestor does), first as new deals (``insert``), then the same deals again with
new prices (``update``).  Only that is timed.  The store is first filled to each
``--sizes`` figure (1,000, 100,000 and 1,000,000 by default) by one bulk
``INSERT … SELECT`` of generated rows in the database itself, outside the timed
path; the timed deals are deleted after each repeat (untimed), so every repeat
sees a store of the stated size.  Sizes run in ascending order in one store.

Reported per backend, size and phase: the median µs per deal of ``--repeats``
repeats with their range, the process's CPU µs per deal (median and range: on
SQLite all the work is in the process, and CPU time is what a shared machine
disturbs least), ``ref ms`` (bench/_ref.py) beside each row, and the ratio of the
largest size's median to the smallest's (the bar: within 1.3×), in wall time and
in CPU time.

``--drop-index NAME`` (repeatable) drops that index of the deal table before the
store is filled: what one index costs a saved deal as the store grows.  The deal
list needs every one of them; this only attributes the cost.

``--sqlite-list-index`` (SQLite) replaces the six indexes of values spread at random
(profit, ROI, margin, rank, price, below-average) with one index keyed by the row id
holding every column the deal list filters and sorts by, which saves append to: the
save's side of the layout evaluated in docs/store.md ("What the growth is: six sort
indexes").  The deal list of this code still walks the six; reproduction only.

    .venv/bin/python bench/store_upsert.py
    .venv/bin/python bench/store_upsert.py --sizes 1000,100000 --backend sqlite
    .venv/bin/python bench/store_upsert.py --drop-index ix_deals_profit --drop-index ix_deals_roi
    .venv/bin/python bench/store_upsert.py --backend sqlite --sizes 1000,1000000 --sqlite-list-index

PostgreSQL: ``KEEPA_DEALS_BENCH_PG_URL``, else a ``postgres`` ``DATABASE_URL``,
else postgresql://postgres@127.0.0.1:5432/postgres; a scratch database is
created and dropped.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from _databases import BACKENDS
from _ref import explains, reference_ms

from keepa_deals.keepa.time import datetime_to_keepa_minutes
from keepa_deals.profit import ProfitSettings, estimate_profit
from keepa_deals.store import DealRow, DealStore, pg_indexes
from keepa_deals.store.schema import DEALS

QUERY = "bench"
SETTINGS = ProfitSettings(prep_cents=25, inbound_shipping_cents=60)
NOW = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)


# --- synthetic input ----------------------------------------------------------------


def synthesise(n: int, *, seed: int, start: int = 0) -> list[dict[str, Any]]:
    """``n`` deals shaped like what the ingestor holds after parsing (prices in cents)."""
    rnd = random.Random(seed)
    out = []
    for i in range(start, start + n):
        avg90 = rnd.randint(800, 6000)
        price = int(avg90 * rnd.uniform(0.2, 0.7))
        out.append({
            "asin": f"B{i:09d}",
            "title": f"Synthetic Used Book {i}: A Study of Things, {rnd.randint(1, 9)}th ed.",
            "image": f"{rnd.getrandbits(40):x}.jpg",
            "price": price,
            "avg": {30: int(avg90 * rnd.uniform(0.8, 1.2)), 90: avg90,
                    180: int(avg90 * rnd.uniform(0.9, 1.1)), 365: rnd.choice([-1, avg90])},
            "percent_below": round(100 * (1 - price / avg90), 1),
            "rank": rnd.randint(1_000, 2_000_000),
            "drops": [rnd.randint(0, 30), rnd.randint(0, 90), rnd.randint(0, 180), -1],
            "offers": [rnd.randint(0, 80), rnd.randint(0, 20), rnd.randint(0, 5),
                       rnd.randint(0, 60)],
            "referral": rnd.choice([15.0, 15.0, None]),
            "fba": rnd.choice([306, 322, None]),
            "updated": NOW - timedelta(minutes=rnd.randint(0, 600)),
        })
    return out


# --- stages -------------------------------------------------------------------------


def score(items: list[dict[str, Any]]) -> list[DealRow]:
    """Profit estimate per deal, into the row the store takes."""
    rows = []
    for d in items:
        e = estimate_profit(d["price"], d["avg"], referral_fee_percent=d["referral"],
                            fba_fee_cents=d["fba"], settings=SETTINGS)
        avg = d["avg"]
        rows.append(DealRow(
            asin=d["asin"], domain_id=1, title=d["title"],
            image_url="https://m.media-amazon.com/images/I/" + d["image"],
            root_category=283155, category_name="Books", price_type=2,
            current_price_cents=d["price"], price_includes_shipping=True,
            avg30_cents=_cents(avg[30]), avg90_cents=_cents(avg[90]),
            avg180_cents=_cents(avg[180]), avg365_cents=_cents(avg[365]),
            percent_below_avg=d["percent_below"], sales_rank=d["rank"],
            rank_drops_30=_cents(d["drops"][0]), rank_drops_90=_cents(d["drops"][1]),
            rank_drops_180=_cents(d["drops"][2]), rank_drops_365=_cents(d["drops"][3]),
            offers_used=d["offers"][0], offers_new=d["offers"][1], offers_fba=d["offers"][2],
            offers_fbm=d["offers"][3], amazon_in_stock=False,
            referral_fee_percent=d["referral"], fba_fee_cents=d["fba"],
            est_sale_price_cents=e.sale_price_cents if e else None,
            profit_cents=e.profit_cents if e else None,
            roi_percent=e.roi_percent if e else None,
            margin_percent=e.margin_percent if e else None,
            last_seen_in_feed=NOW, keepa_last_update=d["updated"],
        ))
    return rows


def _cents(v: int | None) -> int | None:
    return v if v is not None and v >= 0 else None


@dataclass
class Saver:
    store: DealStore
    added: int = 0
    updated: int = 0

    def __call__(self, rows: list[DealRow]) -> list[DealRow]:
        newest = max(r.keepa_last_update for r in rows if r.keepa_last_update)
        result = self.store.save_batch(rows, query=QUERY,
                                       watermark=datetime_to_keepa_minutes(newest))
        self.added += result.added
        self.updated += result.updated
        return rows


Stage = tuple[str, Callable[[list[Any]], list[Any]]]


def stages(store: DealStore, saver: Saver) -> list[Stage]:
    return [("score", score), ("save_batch", saver)]


# --- filling -------------------------------------------------------------------------

#: Filler rows: generated by the database from their number ``i`` (ASINs ``F…``, apart
#: from the timed ``B…`` ones), with the indexed columns spread as real deals are.
_FILL_COLUMNS = (
    "asin, domain_id, query_name, title, image_url, root_category, category_name, price_type,"
    " current_price_cents, price_includes_shipping, avg90_cents, percent_below_avg,"
    " sales_rank, rank_drops_30, rank_drops_90, offers_used, est_sale_price_cents,"
    " profit_cents, roi_percent, margin_percent, first_seen, last_seen_in_feed,"
    " last_refreshed, keepa_last_update, updated_at"
)


def _fill_values(asin: str, mod: Callable[[str, int], str], seen: str) -> str:
    """The SELECT list of one filler row; ``mod(a, b)`` and the time text are per dialect."""
    h = "i * 2654435761"  # a multiplicative hash of the row number: spread, repeatable
    return (
        f"{asin}, 1, 'filler', 'Filler Used Book', 'https://m.media-amazon.com/x.jpg',"
        f" 283155, 'Books', 2, 200 + {mod(h, 5000)}, TRUE, 800 + {mod(h, 5200)},"
        f" {mod(h, 700)} / 10.0, 1000 + {mod(h, 1999000)}, {mod(h, 31)}, {mod(h, 91)},"
        f" {mod(h, 80)}, 800 + {mod(h, 5200)}, {mod(h, 4000)} - 500,"
        f" ({mod(h, 3000)} - 200) / 10.0, ({mod(h, 900)} - 100) / 10.0,"
        f" {seen}, {seen}, {seen}, {seen}, {seen}"
    )


def fill(store: DealStore, start: int, stop: int) -> None:
    """Add filler rows number ``start`` to ``stop - 1``, in one statement."""
    if stop <= start:
        return
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            seen = "'2027-01-14 20:00:00+00'::timestamptz"
            values = _fill_values("'F' || lpad(i::text, 9, '0')",
                                  lambda a, b: f"mod({a}, {b})", seen)
            conn.exec_driver_sql(
                f"INSERT INTO deals ({_FILL_COLUMNS}) SELECT {values}"
                f" FROM generate_series({start}, {stop - 1}) AS i")
            conn.exec_driver_sql("ANALYZE deals")
        else:
            seen = "'2027-01-14 20:00:00.000000'"
            values = _fill_values("printf('F%09d', i)", lambda a, b: f"(({a}) % {b})", seen)
            conn.exec_driver_sql(
                f"INSERT INTO deals ({_FILL_COLUMNS}) WITH RECURSIVE s(i) AS"
                f" (SELECT {start} UNION ALL SELECT i + 1 FROM s WHERE i < {stop - 1})"
                f" SELECT {values} FROM s")
            conn.exec_driver_sql("ANALYZE")


def drop_indexes(store: DealStore, names: list[str]) -> None:
    """Drop these indexes of the deal table (attribution only: the deal list needs them)."""
    known = {str(ix.name) for ix in DEALS.indexes}
    if store.engine.dialect.name == "postgresql":
        known |= pg_indexes.NAMES  # made by migration 0007, not in the table's metadata
    with store.engine.begin() as conn:
        for name in names:
            if name not in known:
                raise SystemExit(f"not an index of the deal table: {name!r}; "
                                 f"one of {', '.join(sorted(known))}")
            conn.exec_driver_sql(f"DROP INDEX {name}")


#: The six indexes of values spread at random, and the one index of the candidate layout
#: (``--sqlite-list-index``): the row id first, then the columns the list reads.
RANDOM_VALUE_INDEXES = ("ix_deals_profit", "ix_deals_roi", "ix_deals_margin",
                        "ix_deals_sales_rank", "ix_deals_price", "ix_deals_percent_below")
LIST_INDEX_SQL = (
    "CREATE INDEX ix_deals_list ON deals (id, query_name, profit_cents, roi_percent,"
    " margin_percent, first_seen, last_seen_in_feed, last_refreshed, sales_rank,"
    " current_price_cents, percent_below_avg, rank_drops_30, rank_drops_90, root_category,"
    " seller_trust, amazon_in_stock, sales_per_month, offers_used, domain_id)"
)


def use_list_index(store: DealStore) -> None:
    """The candidate layout of SQLite's deal table (reproduction only, see the module)."""
    if store.engine.dialect.name != "sqlite":
        return
    drop_indexes(store, list(RANDOM_VALUE_INDEXES))
    with store.engine.begin() as conn:
        conn.exec_driver_sql(LIST_INDEX_SQL)


def remove(store: DealStore, asins: list[str]) -> None:
    """Delete the timed deals again (untimed): the next repeat sees the same store size."""
    with store.engine.begin() as conn:
        for i in range(0, len(asins), 500):
            chunk = asins[i : i + 500]
            marks = ",".join("?" * len(chunk))
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("DELETE FROM deals WHERE asin = ANY(%(a)s::varchar[])",
                                     {"a": chunk})
            else:
                conn.exec_driver_sql(f"DELETE FROM deals WHERE asin IN ({marks})",
                                     tuple(chunk))


# --- running ------------------------------------------------------------------------


def run_phase(store: DealStore, deals: list[dict[str, Any]],
              page: int) -> tuple[float, float, Saver]:
    """Score and save ``deals`` page by page; returns the wall and the process's CPU
    seconds of the stages."""
    saver = Saver(store)
    pipeline = stages(store, saver)
    seconds = cpu = 0.0
    for i in range(0, len(deals), page):
        batch: list[Any] = deals[i : i + page]
        t0, c0 = time.perf_counter(), time.process_time()
        for _name, fn in pipeline:
            batch = fn(batch)
        seconds += time.perf_counter() - t0
        cpu += time.process_time() - c0
    return seconds, cpu, saver


@dataclass
class Row:
    backend: str
    size: int
    phase: str
    us: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    refs: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.us)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def measure(backend: str, url: str, sizes: list[int], deals: int, page: int,
            repeats: int, drop: list[str], list_index: bool) -> list[Row]:
    rows: list[Row] = []
    with DealStore.open(url) as store:
        drop_indexes(store, drop)
        if list_index:
            use_list_index(store)
        stored = 0
        for size in sizes:
            t0 = time.perf_counter()
            fill(store, stored, size)
            stored = max(stored, size)
            print(f"{backend}: filled to {size:,} deals in {time.perf_counter() - t0:.1f} s",
                  file=sys.stderr)
            ins, upd = Row(backend, size, "insert"), Row(backend, size, "update")
            for rep in range(repeats):
                first = synthesise(deals, seed=rep, start=rep * deals)
                again = synthesise(deals, seed=rep + 1000, start=rep * deals)
                for row, data, expect in ((ins, first, (deals, 0)), (upd, again, (0, deals))):
                    row.refs.append(reference_ms(3))
                    seconds, cpu, saver = run_phase(store, data, page)
                    assert (saver.added, saver.updated) == expect, (saver.added, saver.updated)
                    row.us.append(seconds / deals * 1e6)
                    row.cpu.append(cpu / deals * 1e6)
                remove(store, [d["asin"] for d in first])
            assert store.count_deals() == size
            rows += [ins, upd]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000,1000000",
                        help="store sizes (deals already stored), comma-separated, ascending")
    parser.add_argument("--deals", type=int, default=1500, help="timed deals per repeat")
    parser.add_argument("--page", type=int, default=150, help="deals per save_batch (a /deal page)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--backend", action="append", choices=sorted(BACKENDS))
    parser.add_argument("--drop-index", action="append", default=[], metavar="NAME",
                        help="drop this index of the deal table first (attribution only)")
    parser.add_argument("--sqlite-list-index", action="store_true",
                        help="SQLite: the six indexes of random values replaced by one index "
                             "keyed by id (the candidate layout; reproduction only)")
    args = parser.parse_args(argv)
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(","))

    results: list[Row] = []
    for backend in args.backend or ["sqlite", "postgresql"]:
        with BACKENDS[backend]() as url:
            if url is not None:
                results += measure(backend, url, sizes, args.deals, args.page, args.repeats,
                                   args.drop_index, args.sqlite_list_index)

    print(f"score + save, µs per deal: median [min–max] of {args.repeats} repeats of "
          f"{args.deals:,} deals in pages of {args.page}; ref ms = bench/_ref.py per repeat")
    if args.drop_index:
        print(f"without the indexes {', '.join(args.drop_index)} (attribution only)")
    if args.sqlite_list_index:
        print("SQLite: one index keyed by id in place of the six of random values "
              "(reproduction only)")
    header = (f"{'backend':<11} {'phase':<7} {'stored':>10} {'µs/deal':>8} {'range':>15} "
              f"{'CPU µs':>7} {'range':>11} {'ref ms':>12}")
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.backend:<11} {r.phase:<7} {r.size:>10,} {r.median:>8.0f} "
              f"{f'{min(r.us):.0f}–{max(r.us):.0f}':>15} {r.cpu_median:>7.0f} "
              f"{f'{min(r.cpu):.0f}–{max(r.cpu):.0f}':>11} "
              f"{f'{min(r.refs):.0f}–{max(r.refs):.0f}':>12}")
    print()
    for backend in dict.fromkeys(r.backend for r in results):
        for phase in ("insert", "update"):
            mine = [r for r in results if r.backend == backend and r.phase == phase]
            lo, hi = mine[0], mine[-1]
            ratio = hi.median / lo.median
            verdict = "met" if ratio <= 1.3 else "NOT met"
            print(f"{backend} {phase}: {hi.size:,} / {lo.size:,} stored = {ratio:.2f}× "
                  f"(bar 1.3×: {verdict}; CPU time {hi.cpu_median / lo.cpu_median:.2f}×); "
                  f"{explains(hi.us, hi.refs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
