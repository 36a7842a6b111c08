"""Deal-store throughput: deals per second through the ingest pipeline's local stages.

No network: pages of realistic synthetic deals go through ``STAGES`` (today:
score them with the profit model into DealRows, then ``save_batch`` them with
a watermark, one transaction per page, as the ingestor does), first as new
deals, then again as updates.  To time another stage (parsing Keepa JSON, the
feed filters), write a function ``list -> list`` and put it in ``STAGES``.

    .venv/bin/python bench/store_upsert.py
    .venv/bin/python bench/store_upsert.py --deals 30000 --page 150 --backend sqlite

PostgreSQL: ``KEEPA_DEALS_BENCH_PG_URL``, else a ``postgres`` ``DATABASE_URL``,
else postgresql://postgres@127.0.0.1:5432/postgres; a scratch database is
created and dropped.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from _databases import BACKENDS

from keepa_deals.keepa.time import datetime_to_keepa_minutes
from keepa_deals.profit import ProfitSettings, estimate_profit
from keepa_deals.store import DealRow, DealStore

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


# --- running ------------------------------------------------------------------------


@dataclass
class Timing:
    seconds: dict[str, float] = field(default_factory=dict)
    #: CPU time of this process (the database server's is not included): steadier than
    #: wall time on a machine shared with other work.
    cpu_seconds: float = 0.0

    def add(self, name: str, dt: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + dt

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def run_phase(store: DealStore, deals: list[dict[str, Any]], page: int) -> tuple[Timing, Saver]:
    saver = Saver(store)
    pipeline = stages(store, saver)
    timing = Timing()
    cpu0 = time.process_time()
    for i in range(0, len(deals), page):
        batch: list[Any] = deals[i : i + page]
        for name, fn in pipeline:
            t0 = time.perf_counter()
            batch = fn(batch)
            timing.add(name, time.perf_counter() - t0)
    timing.cpu_seconds = time.process_time() - cpu0
    return timing, saver




def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=20_000)
    parser.add_argument("--page", type=int, default=150, help="deals per save_batch (a /deal page)")
    parser.add_argument("--backend", action="append", choices=sorted(BACKENDS))
    args = parser.parse_args(argv)
    deals = synthesise(args.deals, seed=1)
    changed = synthesise(args.deals, seed=2)  # same ASINs, new prices: the update phase

    header = f"{'backend':<11} {'phase':<7} {'deals':>7} {'page':>5} {'seconds':>8} " \
             f"{'deals/s':>9} {'cpu µs/deal':>12}  per stage (deals/s)"
    print(header)
    print("-" * len(header))
    for backend in args.backend or ["sqlite", "postgresql"]:
        with BACKENDS[backend]() as url:
            if url is None:
                continue
            with DealStore.open(url) as store:
                for phase, data in (("insert", deals), ("update", changed)):
                    timing, saver = run_phase(store, data, args.page)
                    expect = (len(data), 0) if phase == "insert" else (0, len(data))
                    assert (saver.added, saver.updated) == expect, (saver.added, saver.updated)
                    stages_text = ", ".join(f"{k} {len(data) / v:,.0f}"
                                            for k, v in timing.seconds.items())
                    print(f"{backend:<11} {phase:<7} {len(data):>7} {args.page:>5} "
                          f"{timing.total:>8.2f} {len(data) / timing.total:>9,.0f} "
                          f"{timing.cpu_seconds / len(data) * 1e6:>12.1f}  {stages_text}")
                assert store.count_deals() == len(deals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
