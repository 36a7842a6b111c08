"""Ingest throughput without the network: parse + score + upsert, stored deals per second.

The real Smart Ingestor pipeline (feed walk, ledger, product check, profit
model, one transaction per paid-for batch) runs against a stub Keepa client
that answers from JSON rendered beforehand by the sandbox (real deal and
product objects, ASINs made unique), so what is timed is everything the
ingestor does with Keepa's replies: JSON decoding, parsing into models, the
feed and stats filters, the profit model, building rows, and the commits
(deals, watermark and ledger in one transaction); not timed: HTTP, gzip, and
encoding the replies (Keepa's side).

The query's ranges and thresholds are off, but not every deal is stored: the
feed filter still rejects a deal with no current price of the query's type
(about 12 % of the sandbox's deals: products with no used offer), before any
product check.  Those deals cost their decoding, parsing and feed verdict, and
the throughput counts only what was stored: deals/s is stored deals (added or
updated) per second of the whole pass, and every per-deal figure is per stored
deal.  A second pass with newer ``lastUpdate`` values re-checks and updates
every stored row.

Each run is on a fresh database; each line is the median of ``--repeat`` runs
with the range, and ``ref ms`` (bench/_ref.py, timed just before and just after
each pass) with a line under the table saying whether it explains the spread of
the runs, beside the range of CPU time per stored deal and of the pass's CPU
share of its wall time (below 100 %: the process waited for a core or for the
database).

    .venv/bin/python bench/ingest_throughput.py [--deals 10000] [--backend sqlite] [--repeat 5]

PostgreSQL: ``KEEPA_DEALS_BENCH_PG_URL``, else a ``postgres`` ``DATABASE_URL``,
else postgresql://postgres@127.0.0.1:5432/postgres (a scratch database is
created and dropped).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from _databases import BACKENDS
from _ref import explains, reference_ms

from keepa_deals.budget.core import MT, Policy, Snapshot
from keepa_deals.clock import FakeClock
from keepa_deals.ingest.env import IngestEnv
from keepa_deals.ingest.pipeline import Pipeline
from keepa_deals.ingest.report import IngestReport
from keepa_deals.keepa.deals import DealPage, parse_deal_page
from keepa_deals.keepa.products import ProductBatch, parse_product_batch
from keepa_deals.keepa.replies import decode_body
from keepa_deals.keepa.time import unix_ms_to_keepa_minutes
from keepa_deals.query import FeedFilters, Filters, OffersFilters, StatsFilters, default_query
from keepa_deals.runtime import tune_gc
from keepa_deals.sandbox import CatalogConfig, Sandbox
from keepa_deals.sandbox.deals import render_deal
from keepa_deals.sandbox.products import ProductQuery, render_product
from keepa_deals.sandbox.universe import build_universe
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore
from keepa_deals.tokens.status import TokenStatus

START_MS = 1_800_000_000_000
DAY_MS = 86_400_000
PAGE = 150


def synthesise(n: int) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """``n`` deal objects (newest first) and the product object of each, from the sandbox."""
    sb = Sandbox(clock=FakeClock(START_MS), demo_account=False,
                 catalog=CatalogConfig(seed=1, backlog_s=12 * 3600, event_interval_s=10))
    cat = sb.catalog
    states = [s for s in (cat.state(p.asin, START_MS) for p in cat.products)
              if s is not None and s.event is not None]
    q = ProductQuery(domain=1, asins=(), stats_days=30, history=False)
    base = [(render_deal(s, cat.start_ms), render_product(s, q, cat, START_MS, lambda: False)[0])
            for s in states]
    top = unix_ms_to_keepa_minutes(START_MS)
    deals, products = [], {}
    for i in range(n):
        d, p = base[i % len(base)]
        asin = f"X{i:09d}"
        deals.append({**d, "asin": asin, "lastUpdate": top - i // 20})
        products[asin] = {**p, "asin": asin}
    return deals, products


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    stages: dict[str, float]
    stored: int
    ref: float

    @property
    def rate(self) -> float:
        return self.stored / self.wall


def _line(backend: str, phase: str, n: int, results: list[Run]) -> str:
    """The median run by stored deals/s, with the range of the rates and of ``ref ms``."""
    ordered = sorted(results, key=lambda r: r.rate)
    mid = ordered[len(ordered) // 2]
    rate = statistics.median(r.rate for r in results)
    refs = [r.ref for r in results]
    t, k = mid.stages, mid.stored
    score = mid.wall - sum(t.values())
    parts = [t.get("decode", 0.0), t.get("parse", 0.0), score, t.get("store", 0.0)]
    span = f"({ordered[0].rate:,.0f}-{ordered[-1].rate:,.0f})"
    ref_span = f"({min(refs):.0f}-{max(refs):.0f})"
    return (f"{backend:<11} {phase:<7} {n:>6} {k:>6} {mid.wall:>8.2f} {rate:>8,.0f} "
            f"{span:>15} {mid.cpu / k * 1e6:>7.0f} {parts[0] / k * 1e6:>7.0f} "
            f"{parts[1] / k * 1e6:>6.0f} {parts[2] / k * 1e6:>6.0f} {parts[3] / k * 1e6:>6.0f}  "
            f"{statistics.median(refs):>6.0f} {ref_span:>11}")


class Timer:
    """Wall time spent per stage, summed."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def time(self, stage: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0


class StubClient:
    """Answers /deal and /product with JSON text encoded beforehand (Keepa's side of the
    work): what is timed starts at decoding the reply, as KeepaHTTP does."""

    def __init__(self, deals: list[dict[str, Any]], products: dict[str, dict[str, Any]],
                 timer: Timer, *, later_ms: int = 0) -> None:
        self.pages = [
            json.dumps({"deals": {"dr": deals[i:i + PAGE], "categoryIds": [283155],
                                  "categoryNames": ["Books"], "categoryCount": [PAGE]}})
            for i in range(0, len(deals), PAGE)
        ]
        self.products_json = {a: json.dumps(p) for a, p in products.items()}
        # Keepa's clock in the replies: never before the newest deal
        self.status = TokenStatus(100_000, 30_000, 100_000, START_MS + later_ms, 0.0, 0, 1)
        self.timer = timer

    def _decode(self, text: str) -> dict[str, Any]:
        decoded, problem = self.timer.time("decode", decode_body, text.encode())
        assert problem is None and isinstance(decoded, dict)
        return decoded

    def deals(self, selection: dict[str, Any], *, page: int | None = None) -> DealPage:
        p = selection["page"]
        text = self.pages[p] if p < len(self.pages) else '{"deals": {"dr": []}}'
        return self.timer.time("parse", parse_deal_page, self._decode(text), self.status, page=p)

    def products(self, asins: Iterable[str], **_: Any) -> ProductBatch:
        text = '{"products": [' + ",".join(self.products_json[a] for a in asins) + "]}"
        return self.timer.time("parse", parse_product_batch, self._decode(text), self.status)


class PlentyBudget:
    """A budget that always has tokens (the network and the budget are not what is timed)."""

    policy = Policy()

    def snapshot(self) -> Snapshot:
        return Snapshot(START_MS, True, (), 10**6, 10**5, 6 * 10**6, 10**6, 10**6, 0.0, 30_000,
                        (), None, 0.0, available_mt=10**6 * MT, rate_mt=10**5 * MT)

    def sync_tokens(self, *, force: bool = False) -> None:
        return None


def run_pass(store: DealStore, client: StubClient, n: int) -> tuple[float, float, IngestReport]:
    """One ingest pass; the store stage (upsert, watermark, ledger, commit) is timed apart."""
    commit = Pipeline.commit

    def timed_commit(*args: Any, **kwargs: Any) -> Any:
        return client.timer.time("store", commit, *args, **kwargs)

    Pipeline.commit = timed_commit  # type: ignore[method-assign]
    try:
        return _run_pass(store, client, n)
    finally:
        Pipeline.commit = commit  # type: ignore[method-assign]


def _run_pass(store: DealStore, client: StubClient, n: int) -> tuple[float, float, IngestReport]:
    base = default_query()
    sel = base.selection.model_copy(update={
        "current_range": None, "delta_percent_range": None, "sales_rank_range": None})
    query = base.model_copy(update={
        "selection": sel,
        "filters": Filters(feed=FeedFilters(), stats=StatsFilters(),
                           offers=OffersFilters(min_profit_cents=-10**9)),
        "run": base.run.model_copy(update={"max_pages": min(67, n // PAGE + 1)})})
    report = IngestReport(query.name)
    env = IngestEnv(settings=Settings(), store=store, http=None,  # type: ignore[arg-type]
                    budget=PlentyBudget(), client=client,  # type: ignore[arg-type]
                    lock=None, clock=FakeClock(START_MS))  # type: ignore[arg-type]
    pipe = Pipeline(env, query, report, checkpoint=lambda: None)
    cpu0, t0 = time.process_time(), time.perf_counter()
    pipe.load()
    pipe.scan_and_check()
    pipe.check_pending()
    return time.perf_counter() - t0, time.process_time() - cpu0, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=10_000,
                        help="deals per pass (at most 10 050: 67 pages)")
    parser.add_argument("--backend", action="append", choices=sorted(BACKENDS))
    parser.add_argument("--repeat", type=int, default=5,
                        help="runs per backend, each on a fresh database; the median and the "
                             "range are shown (default 5)")
    parser.add_argument("--default-gc", action="store_true",
                        help="keep CPython's default collector thresholds (to compare)")
    args = parser.parse_args(argv)
    n = min(args.deals, 67 * PAGE)
    deals, products = synthesise(n)
    newer = [{**d, "lastUpdate": d["lastUpdate"] + DAY_MS // 60_000,
              "current": [max(1, v - 10) if v > 0 else v for v in d["current"]]} for d in deals]
    passes = (("insert", StubClient(deals, products, Timer())),
              ("update", StubClient(newer, products, Timer(), later_ms=DAY_MS)))
    # Only the replies' JSON text stays: the fixtures as dicts and the sandbox's catalogue
    # (hundreds of thousands of objects an ingest process never holds) would be scanned by
    # every full collection of the garbage collector and bill their cost to the pipeline.
    del deals, newer, products
    build_universe.cache_clear()
    render_deal.cache_clear()
    gc.collect()
    if args.default_gc:
        gc.freeze()
    else:
        tune_gc()  # as the keepa-deals command does at start-up (keepa_deals/runtime.py)
    print("decode: JSON text to dicts; parse: dicts to Keepa models (deal + product);\n"
          "score: feed walk, filters, product facts, profit model, rows, ledger;\n"
          "store: upsert, watermark and ledger in one transaction per batch;\n"
          "seconds: wall time of the pass; cpu µs: process CPU time;\n"
          f"deals: deals in the feed; stored: added or updated (the rest rejected by the feed\n"
          f"filter for no current price); deals/s and every µs figure: per STORED deal;\n"
          f"each line: the median of {args.repeat} runs on fresh databases, range in brackets;\n"
          "ref ms: bench/_ref.py's reference workload, the mean of its timings just before and\n"
          "just after each pass; median (range) over the runs\n")
    print(f"{'backend':<11} {'pass':<7} {'deals':>6} {'stored':>6} {'seconds':>8} "
          f"{'deals/s':>8} {'(range)':>15} {'cpu µs':>7} {'decode':>7} {'parse':>6} "
          f"{'score':>6} {'store':>6}  {'ref ms':>6} {'(range)':>11}")
    notes = []
    for backend in args.backend or ["sqlite", "postgresql"]:
        runs: dict[str, list[Run]] = {}
        for _ in range(max(1, args.repeat)):
            with BACKENDS[backend]() as url:
                if url is None:
                    break
                with DealStore.open(url, clock=FakeClock(START_MS)) as store:
                    for phase, client in passes:
                        timer = client.timer = Timer()
                        before = reference_ms()
                        wall, cpu, report = run_pass(store, client, n)
                        ref = (before + reference_ms()) / 2
                        c = report.counts
                        assert c.added + c.updated + c.rejected == n, (c, report.reasons)
                        runs.setdefault(phase, []).append(
                            Run(wall, cpu, dict(timer.seconds), c.added + c.updated, ref))
        for phase, results in runs.items():
            print(_line(backend, phase, n, results))
            cpu_us = [r.cpu / r.stored * 1e6 for r in results]
            notes.append(f"{backend} {phase}: " + explains(
                [r.wall / r.stored for r in results], [r.ref for r in results])
                + f"; cpu µs per stored deal {min(cpu_us):.0f}-{max(cpu_us):.0f}, "
                f"CPU share of the wall time {min(r.cpu / r.wall for r in results):.0%}-"
                f"{max(r.cpu / r.wall for r in results):.0%}")
    if notes:
        print("\nDoes ref ms explain the spread of the runs (time per stored deal)?")
        print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
