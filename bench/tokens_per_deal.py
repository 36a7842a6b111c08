"""Tokens per stored deal: the Smart Ingestor against a seed-style pipeline, on the sandbox.

Every pipeline of a seed follows the same sandbox world (same seed, same catalogue
size and event rate, a fresh sandbox per pipeline built from that one
configuration) on the same fake-clock schedule: a run every ``--interval``
minutes for ``--hours``, with the same query, filters and profit model.  What is
counted: the tokens the sandbox account consumed, and the deals the pipeline
stored (distinct ASINs); the figure is tokens / stored deals.

* **smart**: the Smart Ingestor as shipped: the free feed filter, a 1-token
  product check (stats) for the candidates, offers only for those that can
  still pay at the stats price (``fetch_offers``), or no offers at all (the
  built-in query prices from the stats).
* **product finder**: the built-in ``used-books-us-finder`` query: the same
  filters, profit model and thresholds, its candidates listed by a Product
  Finder selection that mirrors the stats filters and the profit thresholds
  (10 tokens + 1 per 100 ASINs a page, a sweep resumed from a cursor each run
  and restarted every hour), then the same 1-token product check.
* **feed + product finder**: both sources in one query (the combination).
* **product finder, offers for survivors**: the finder query buying live offers
  for the product check's survivors (and looking up their sellers, cached for
  a day), like for like with the seed-style pipeline, which buys offers.
* **seed-style**: what the system it replaces did: every new deal of the feed
  checked with offers (``offers=20``: 6 tokens per 10 offers found, so 6-12
  per deal), then the same filters.

The figure of the issue's bar is the best of the source rows (the feed as
today, the finder, the combination) over the seed-style pipeline.

The free feed filter in front of the seed-style pipeline is the charitable
reading of it; with the built-in query it rejects nothing, by construction and
not by a bug in this script: the query's /deal selection (``currentRange``,
``deltaPercentRange``, ``salesRankRange``, ``includeCategories``) already has
Keepa (here the sandbox) enforce the filter's price, percent, rank and category
bounds, and the filter's one check the selection cannot express, the excluded
title phrases, matches no sandbox title.  The script counts what the filter
would reject among the seed-style pipeline's new deals and prints it; it runs
the filtered row only when that count is above zero (otherwise its calls are
the unfiltered row's, call for call).

The default world is denser than the sandbox's default (a 30,000-product
catalogue, a deal event every second) so that each pipeline stores at least 200
deals per seed in 9 sandbox hours (a few minutes per seed on two
loaded cores); the script says so when a pipeline stores fewer
(``--min-stored``), and when a run's feed scan stopped at the query's page cap.

    .venv/bin/python bench/tokens_per_deal.py [--hours 9] [--interval 10] [--seeds 1,2,3]
        [--size 30000] [--event-interval 1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import select

from keepa_deals.budget import TokenManager
from keepa_deals.budget.memory import MemoryStore
from keepa_deals.clock import FakeClock
from keepa_deals.ingest import evaluate as ev
from keepa_deals.ingest import open_env, smart_ingestor
from keepa_deals.ingest.scan import keepa_minute
from keepa_deals.keepa.client import KeepaClient
from keepa_deals.keepa.http import KeepaHTTP
from keepa_deals.query import DealQuery, default_query, load_builtin
from keepa_deals.query.sources import FeedSpec
from keepa_deals.sandbox import CatalogConfig, Sandbox, SandboxServer
from keepa_deals.settings import Settings
from keepa_deals.store import DealRecord

KEY = "benchtokenskey" + "3" * 50
START_MS = 1_800_000_000_000
MINUTE = 60_000


def with_offers(query: DealQuery) -> DealQuery:
    f = query.filters
    return query.model_copy(update={"filters": f.model_copy(update={
        "offers": f.offers.model_copy(update={"fetch_offers": True})})})


@dataclass
class Result:
    name: str
    tokens: int
    stored: set[str]
    checks: int
    #: runs whose feed scan stopped at ``max_pages`` before reaching the last run's deals
    truncated: int = 0
    #: seed-style only: what the free feed filter rejects (or would reject) among new deals
    feed_rejects: Counter[str] = field(default_factory=Counter)
    new_deals: int = 0

    @property
    def per_deal(self) -> float:
        return self.tokens / len(self.stored) if self.stored else float("inf")


@dataclass(frozen=True)
class World:
    """One sandbox world: every pipeline of a seed gets a fresh sandbox built from it."""

    seed: int
    size: int
    event_interval_s: float

    def sandbox(self) -> tuple[Sandbox, FakeClock]:
        clock = FakeClock(START_MS)
        sb = Sandbox(clock=clock, demo_account=False,
                     catalog=CatalogConfig(seed=self.seed, size=self.size, backlog_s=3600,
                                           event_interval_s=self.event_interval_s))
        sb.add_account(KEY, tokens=1_000_000, refill_rate=100_000)  # counted, not rationed
        return sb, clock


def smart(name: str, query: DealQuery, world: World, args: argparse.Namespace) -> Result:
    sb, clock = world.sandbox()
    with SandboxServer(sb) as server, tempfile.TemporaryDirectory() as data:
        settings = Settings(keepa_api_key=KEY, keepa_api_url=server.url, data_dir=data,
                            database_url=f"sqlite:///{data}/deals.sqlite3")
        checks = truncated = 0
        with open_env(settings, clock=clock) as env:
            for _ in range(args.runs):
                report = smart_ingestor(env, query)
                assert report.outcome.value == "ok", report.error
                checks += report.checked_stats + report.checked_offers
                truncated += report.scan_complete is False
                clock.advance(args.interval * MINUTE)
            with env.store.engine.connect() as conn:
                asins = {a for (a,) in conn.execute(select(DealRecord.asin))}
        return Result(name, sb.account(KEY).tokens_consumed, asins, checks, truncated)


def seed_style(name: str, query: DealQuery, world: World, args: argparse.Namespace, *,
               feed_filter: bool) -> Result:
    """Page the feed down to the last run's newest deal; check every new deal with offers.

    The feed filter's verdict is computed for every new deal either way (it is free) and
    counted; with ``feed_filter`` the rejected deals are not checked.
    """
    sb, clock = world.sandbox()
    result = Result(name, 0, set(), 0)
    with SandboxServer(sb) as server:
        http = KeepaHTTP(KEY, base_url=server.url)
        budget = TokenManager(MemoryStore(clock=clock), clock=clock, sync=http.token_status)
        client = KeepaClient(http, budget)
        newest: int | None = None
        for _ in range(args.runs):
            fresh = []
            top = newest
            reached = False
            for page in range(query.run.max_pages):
                reply = client.deals(query.selection_for_page(page))
                names = dict(zip(reply.category_ids, reply.category_names, strict=False))
                for deal in reply.deals:
                    minute = keepa_minute(deal)
                    if minute is None or (newest is not None and minute <= newest):
                        continue
                    top = minute if top is None else max(top, minute)
                    result.new_deals += 1
                    verdict = ev.feed_verdict(ev.feed_view(deal, query, names), query)
                    if verdict is not None:
                        result.feed_rejects[verdict] += 1
                        if feed_filter:
                            continue
                    fresh.append(deal.asin)
                if reply.is_last or (newest is not None and reply.deals and min(
                        keepa_minute(d) or 0 for d in reply.deals) <= newest):
                    reached = True
                    break
            result.truncated += not reached
            newest = top
            for i in range(0, len(fresh), 20):
                batch = client.products(fresh[i:i + 20], stats=ev.stats_days(query), offers=20)
                result.checks += len(batch)
                for product in batch:
                    facts = ev.product_facts(product, query)
                    if facts is None or ev.stats_verdict(facts, query) is not None:
                        continue
                    buy = ev.price_from_offers(product, query.price_type)
                    est = ev.estimate(facts, buy, query) if buy else None
                    if ev.offers_verdict(est, query) is None:
                        result.stored.add(product.asin)
            clock.advance(args.interval * MINUTE)
        http.close()
    result.tokens = sb.account(KEY).tokens_consumed
    return result


#: The rows that are sources of the Smart Ingestor (the bar takes the best of them).
SOURCE_ROWS = (1, 3, 4, 5)
#: The rows that buy offers for the survivors, as the seed-style pipeline does for every deal.
OFFERS_ROWS = (0, 5)


def one_seed(world: World, query: DealQuery, args: argparse.Namespace) -> list[Result]:
    offers = with_offers(query)
    finder = load_builtin("used-books-us-finder")
    both = finder.model_copy(update={"name": "used-books-us-both",
                                     "sources": [FeedSpec(), *finder.sources]})
    results = [
        smart("smart, offers for survivors", offers, world, args),
        smart("smart feed, priced from stats (today)", query, world, args),
        seed_style("seed-style, offers for every deal", offers, world, args, feed_filter=False),
        smart("product finder, priced from stats", finder, world, args),
        smart("feed + product finder, from stats", both, world, args),
        smart("product finder, offers for survivors", with_offers(finder), world, args),
    ]
    if sum(results[2].feed_rejects.values()):
        results.append(seed_style("seed-style, feed filter then offers", offers, world, args,
                                  feed_filter=True))
    return results


def spread(values: list[float]) -> str:
    return (f"median {statistics.median(values):.2f}x, "
            f"range {min(values):.2f}-{max(values):.2f}x over {len(values)} seeds")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=9.0, help="sandbox hours (default 9)")
    parser.add_argument("--interval", type=int, default=10, help="minutes between runs")
    parser.add_argument("--seeds", default="1,2,3", help="sandbox seeds, comma-separated")
    parser.add_argument("--size", type=int, default=30_000, help="catalogue size (products)")
    parser.add_argument("--event-interval", type=float, default=1.0,
                        help="sandbox seconds between deal events (all categories)")
    parser.add_argument("--min-stored", type=int, default=200,
                        help="warn when a pipeline stores fewer deals per seed")
    args = parser.parse_args(argv)
    args.runs = max(1, int(args.hours * 60 / args.interval))
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    query = default_query()
    print(f"{args.runs} runs every {args.interval} min over {args.hours:g} sandbox hours; "
          f"query {query.name}; world: {args.size:,} products, a deal event every "
          f"{args.event_interval:g} s\n"
          "tokens: consumed by the pipeline's sandbox account; checked: products fetched;\n"
          "stored: distinct deals stored; tokens/deal: tokens / stored\n")
    per_seed: list[list[Result]] = []
    for seed in seeds:
        results = one_seed(World(seed, args.size, args.event_interval), query, args)
        per_seed.append(results)
        print(f"seed {seed}")
        print(f"  {'pipeline':<44} {'tokens':>8} {'checked':>8} {'stored':>7} "
              f"{'tokens/deal':>12} {'deals/1k tokens':>16}")
        for r in results:
            print(f"  {r.name:<44} {r.tokens:>8,} {r.checks:>8,} {len(r.stored):>7,} "
                  f"{r.per_deal:>12.1f} {1000 * len(r.stored) / max(1, r.tokens):>16.1f}")
        seed_all = results[2]
        rejected = sum(seed_all.feed_rejects.values())
        why = ", ".join(f"{k}: {v}" for k, v in seed_all.feed_rejects.most_common())
        print(f"  feed filter: rejects {rejected} of {seed_all.new_deals:,} new deals"
              + (f" ({why})" if rejected else
                 " (the /deal selection's ranges already enforce its bounds: "
                 "the filtered row would equal the unfiltered one, not run)"))
        if results[0].stored != seed_all.stored:  # the same source and filters: same deals
            print("  warning: smart (offers) and seed-style stored different deals "
                  f"({len(results[0].stored ^ seed_all.stored)} differ)")
        for r in results:
            if len(r.stored) < args.min_stored:
                print(f"  warning: {r.name}: {len(r.stored)} stored deals, fewer than "
                      f"{args.min_stored}")
            if r.truncated:
                print(f"  note: {r.name}: {r.truncated} runs stopped at max_pages before "
                      "the last run's deals")
        print(flush=True)
    vs_offers = [r[2].per_deal / r[0].per_deal for r in per_seed]
    vs_stats = [r[2].per_deal / r[1].per_deal for r in per_seed]
    print("seed-style tokens per stored deal / smart's, per seed: "
          + " ".join(f"{v:.2f}x" for v in vs_offers) + " (offers for survivors); "
          + " ".join(f"{v:.2f}x" for v in vs_stats) + " (priced from stats)")
    print(f"smart, offers for survivors: {spread(vs_offers)} fewer tokens per stored deal")
    print(f"smart, priced from stats:    {spread(vs_stats)} fewer tokens per stored deal")
    for i in SOURCE_ROWS:
        ratios = [r[2].per_deal / r[i].per_deal for r in per_seed]
        per_1000 = [1000 * len(r[i].stored) / r[i].tokens for r in per_seed if r[i].tokens]
        print(f"{per_seed[0][i].name:<38} {spread(ratios)} fewer tokens per stored deal; "
              f"{statistics.median(per_1000):.0f} deals per 1,000 tokens (median)")
    best = min(SOURCE_ROWS, key=lambda i: statistics.median(r[i].per_deal for r in per_seed))
    ratios = [r[2].per_deal / r[best].per_deal for r in per_seed]
    bar = "met" if min(ratios) >= 10 else ("met at the median" if statistics.median(ratios) >= 10
                                           else "NOT met")
    print(f"best: {per_seed[0][best].name}: {spread(ratios)}; bar (at least 10x): {bar}")
    like = min(OFFERS_ROWS, key=lambda i: statistics.median(r[i].per_deal for r in per_seed))
    ratios = [r[2].per_deal / r[like].per_deal for r in per_seed]
    print(f"like for like (offers bought, as seed-style does): {per_seed[0][like].name}: "
          f"{spread(ratios)}")
    filtered = [r[6].per_deal / r[0].per_deal for r in per_seed if len(r) > 6]
    if filtered:
        print(f"vs seed-style with the feed filter (seeds where it rejects any): "
              f"{spread(filtered)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
