"""Benchmark: Celery mode's throughput with 1, 2 and 4 workers, and its use of the refill.

Real processes on this machine: a sandbox Keepa server, Redis, PostgreSQL
(or SQLite when none is reachable), ``celery beat`` and N ``celery worker
--concurrency 1``.  The query takes every used-book deal of the feed (about
1,500 in the sandbox's catalog) and buys offers for each.

1. **Scaling** (tokens do not bind: a 60,000-a-minute plan): every offers
   request waits 2-5 s at the sandbox, as Keepa's do.  Deals stored per
   minute with 1, 2 and 4 workers, measured over ``--seconds`` once the first
   deal is stored.  A fresh database and Redis database per run.
2. **Token-bound** (a ``--rate`` tokens-a-minute plan, default 3,000, and
   endless work: every stored deal is due for a re-check at once): the share
   of the refill the workers spend, over ``--minutes`` whole refill periods,
   read from the sandbox's counters just before a refill at both ends, with
   the balance at both ends, the lowest balance, the 429s, and the tokens
   spent in each refill period.  With the budget's default recharge burst
   (one minute of refill) a balance left just below zero needs two refills to
   leave recharge, so the tokens go out every other minute: use an even
   number of minutes.

::

    .venv/bin/python bench/celery_scaling.py [--seconds 40] [--minutes 4] [--rate 3000]
        [--workers 1,2,4] [--skip-scaling] [--skip-bound] [--json]

Starts its own redis-server (a Redis database per run) and never touches
``REDIS_URL``; uses PostgreSQL as the tests find it (tests/_services.py), else
SQLite files.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import redis  # noqa: E402

from keepa_deals.sandbox import DEMO_KEY  # noqa: E402
from keepa_deals.store import DealStore  # noqa: E402
from tests.celery._cluster import (  # noqa: E402
    Cluster,
    SandboxProcess,
    refused,
    requests_to,
    wait_for,
)

QUERY = """
name = "bench-books"
description = "Every used-book deal of the feed"
[selection]
domainId = 1
priceTypes = [2]
dateRange = 2
sortType = 1
[filters.offers]
fetch_offers = {offers}
[run]
max_pages = 20
"""


@dataclass
class ScalingRow:
    workers: int
    seconds: float
    deals: int
    deals_per_min: float
    offers_calls_per_min: float


@dataclass
class BoundRow:
    workers: int
    rate: int
    minutes: int
    consumed: int
    refilled: int
    used_percent: float
    balance_start: int
    balance_end: int
    min_balance: int
    refused_429: int
    rechecks_per_min: float
    #: tokens spent in each refill period of the window
    per_minute: list[int]


class Databases:
    """A fresh database per run: PostgreSQL when reachable, else a SQLite file."""

    def __init__(self, tmp: Path) -> None:
        from tests._services import create_postgres_database

        self.tmp = tmp
        self.made: list[tuple[str, str]] = []
        self.postgres = create_postgres_database() is not None
        self.n = 0

    def new(self) -> str:
        self.n += 1
        if self.postgres:
            from tests._services import create_postgres_database

            created = create_postgres_database()
            assert created is not None
            self.made.append(created)
            return created[0]
        return f"sqlite:///{self.tmp}/deals-{self.n}.sqlite3"

    def drop(self) -> None:
        from tests._services import drop_postgres_database

        for url, admin in self.made:
            drop_postgres_database(url, admin)


def settings_for(redis_url: str, db: str, sandbox: SandboxProcess, work: Path,
                 **extra: str) -> dict[str, str]:
    query = work / "bench-books.toml"
    return {
        "REDIS_URL": redis_url, "DATABASE_URL": db, "KEEPA_API_URL": sandbox.url,
        "KEEPA_API_KEY": DEMO_KEY, "KEEPA_DEALS_DATA_DIR": str(work / "data"),
        "KEEPA_DEALS_QUERIES": str(query), "KEEPA_DEALS_INGEST_MAX_PAGES": "20",
        "KEEPA_DEALS_LOG_LEVEL": "WARNING", **extra,
    }


def scaling_run(workers: int, seconds: float, redis_url: str, db: str,
                sandbox: SandboxProcess, work: Path) -> ScalingRow:
    (work / "bench-books.toml").write_text(QUERY.format(offers="true"))
    sandbox.update_account(tokens=200_000, refill_rate=60_000)
    sandbox.set_faults(latency_ms=[2000, 5000], latency_offers_only=True, seed=workers)
    cluster = Cluster(settings_for(redis_url, db, sandbox, work,
                                   KEEPA_DEALS_INGEST_INTERVAL_S="5"), work)
    store = DealStore.open(db)
    try:
        for i in range(workers):
            cluster.start_worker(f"w{i}")
        cluster.start_beat()
        wait_for("the first deal", lambda: store.count_deals() > 0, timeout=120, every=0.2)
        time.sleep(2)  # every worker busy
        d0, c0, t0 = store.count_deals(), requests_to(sandbox.account(), "product"), time.time()
        time.sleep(seconds)
        d1, c1, t1 = store.count_deals(), requests_to(sandbox.account(), "product"), time.time()
    finally:
        cluster.stop_all()
        store.close()
    minutes = (t1 - t0) / 60
    return ScalingRow(workers, round(t1 - t0, 1), d1 - d0, round((d1 - d0) / minutes, 1),
                      round((c1 - c0) / minutes, 1))


def before_refill(sandbox: SandboxProcess) -> dict[str, Any]:
    """The account as it is less than a second before its next refill."""
    while True:
        account = sandbox.account()
        left = account["refill_in_ms"]
        if left < 1000:
            return account
        time.sleep(min(5.0, (left - 800) / 1000))


def bound_run(workers: int, rate: int, minutes: int, redis_url: str, db: str,
              sandbox: SandboxProcess, work: Path, burst: float | None = None) -> BoundRow:
    (work / "bench-books.toml").write_text(QUERY.format(offers="false"))
    sandbox.set_faults()
    sandbox.update_account(tokens=2_000, refill_rate=rate)
    extra = {"KEEPA_DEALS_INGEST_INTERVAL_S": "5", "KEEPA_DEALS_CELERY_MAX_BATCH": "20",
             "KEEPA_DEALS_INGEST_REFRESH_AFTER_H": "0.0001"}
    if burst is not None:
        extra["KEEPA_DEALS_BUDGET_BURST_MINUTES"] = str(burst)
    cluster = Cluster(settings_for(redis_url, db, sandbox, work, **extra), work)
    store = DealStore.open(db)
    try:
        for i in range(workers):
            cluster.start_worker(f"w{i}")
        cluster.start_beat()
        wait_for("the stored deals", lambda: store.count_deals() > 1000, timeout=180)
        before_refill(sandbox)  # the first bucket is spent by now: the refill binds
        time.sleep(2)
        marks = [before_refill(sandbox)]
        refreshed0 = _rechecks(store)
        for _ in range(minutes):  # one reading just before each refill
            time.sleep(2)
            marks.append(before_refill(sandbox))
        refreshed1 = _rechecks(store)
    finally:
        cluster.stop_all()
        store.close()
    start, end = marks[0], marks[-1]
    spent = [b["counters"]["tokens_consumed"] - a["counters"]["tokens_consumed"]
             for a, b in zip(marks, marks[1:], strict=False)]
    consumed = end["counters"]["tokens_consumed"] - start["counters"]["tokens_consumed"]
    refilled = end["counters"]["tokens_refilled"] - start["counters"]["tokens_refilled"]
    return BoundRow(
        workers, rate, minutes, consumed, refilled, round(100 * consumed / max(1, refilled), 2),
        start["tokens"], end["tokens"], end["counters"]["min_balance"],
        refused(end, "product") + refused(end, "deal"),
        round((refreshed1 - refreshed0) / minutes, 1), spent)


def _rechecks(store: DealStore) -> int:
    """Deal rows written by re-checks so far (the runs' ``deals_updated``)."""
    return sum(r.deals_updated or 0 for r in store.recent_runs(limit=100_000))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=40.0, help="scaling window per run")
    ap.add_argument("--minutes", type=int, default=4,
                    help="token-bound window in refill periods (even: see docs/deploy.md)")
    ap.add_argument("--rate", type=int, default=3000, help="token-bound plan, tokens/min")
    ap.add_argument("--workers", default="1,2,4", help="worker counts of the scaling runs")
    ap.add_argument("--bound-workers", type=int, default=2)
    ap.add_argument("--burst-minutes", type=float, default=None,
                    help="KEEPA_DEALS_BUDGET_BURST_MINUTES of the token-bound run (default: "
                         "the setting's default)")
    ap.add_argument("--skip-scaling", action="store_true")
    ap.add_argument("--skip-bound", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from tests._services import RedisServer

    tmp = Path(tempfile.mkdtemp(prefix="bench-celery-"))
    own = RedisServer().start()
    base = own.url.rsplit("/", 1)[0]
    dbs = Databases(tmp)
    sandbox = SandboxProcess(rate=60_000, tokens=200_000, event_interval_s=1.0,
                             backlog_s=36_000, log=tmp / "sandbox.log").start()
    scaling: list[ScalingRow] = []
    bound: list[BoundRow] = []
    n = 0
    try:
        def fresh_redis() -> str:
            nonlocal n
            n += 1
            url = f"{base}/{n}"
            redis.Redis.from_url(url).flushdb()
            return url

        if not args.skip_scaling:
            for w in [int(x) for x in args.workers.split(",")]:
                work = tmp / f"scaling-{w}"
                work.mkdir()
                row = scaling_run(w, args.seconds, fresh_redis(), dbs.new(), sandbox, work)
                scaling.append(row)
                print(f"  {w} workers: {row.deals_per_min} deals/min", file=sys.stderr)
        if not args.skip_bound:
            work = tmp / "bound"
            work.mkdir()
            bound.append(bound_run(args.bound_workers, args.rate, args.minutes, fresh_redis(),
                                   dbs.new(), sandbox, work, args.burst_minutes))
    finally:
        sandbox.stop()
        dbs.drop()
        own.stop()
    if args.json:
        print(json.dumps({"scaling": [asdict(r) for r in scaling],
                          "bound": [asdict(r) for r in bound],
                          "database": "postgresql" if dbs.postgres else "sqlite"}, indent=2))
        return
    print_tables(scaling, bound, dbs.postgres)


def print_tables(scaling: list[ScalingRow], bound: list[BoundRow], postgres: bool) -> None:
    db = "PostgreSQL" if postgres else "SQLite"
    if scaling:
        print(f"\nScaling: offers requests wait 2-5 s, tokens do not bind ({db}, Redis)\n")
        print(f"{'workers':>7}  {'window s':>8}  {'deals':>6}  {'deals/min':>9}  "
              f"{'speed-up':>8}  {'product calls/min':>17}")
        one = scaling[0].deals_per_min or 1
        for r in scaling:
            print(f"{r.workers:>7}  {r.seconds:>8}  {r.deals:>6}  {r.deals_per_min:>9}  "
                  f"{r.deals_per_min / one:>7.2f}x  {r.offers_calls_per_min:>17}")
    if bound:
        print(f"\nToken-bound: endless re-checks, refill read just before a refill ({db})\n")
        print(f"{'workers':>7}  {'rate/min':>8}  {'minutes':>7}  {'refilled':>8}  "
              f"{'consumed':>8}  {'used':>7}  {'balance start/end':>17}  {'lowest':>6}  "
              f"{'429s':>4}  {'re-checks/min':>13}")
        for b in bound:
            print(f"{b.workers:>7}  {b.rate:>8}  {b.minutes:>7}  {b.refilled:>8}  "
                  f"{b.consumed:>8}  {b.used_percent:>6}%  "
                  f"{f'{b.balance_start}/{b.balance_end}':>17}  {b.min_balance:>6}  "
                  f"{b.refused_429:>4}  {b.rechecks_per_min:>13}")
            print(f"\n  spent per refill period: {b.per_minute}")


if __name__ == "__main__":
    main()
