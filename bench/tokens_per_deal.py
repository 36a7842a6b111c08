"""Tokens per stored deal: the Smart Ingestor against a seed-style pipeline, on the sandbox.

Both pipelines follow the same sandbox feed (same seed, same fake-clock
schedule: a run every ``--interval`` minutes for ``--hours``) with the same
query, filters and profit model, so they store the same deals; what differs
is what they pay for:

* **smart**: the Smart Ingestor as shipped: the free feed filter, a 1-token
  product check (stats) for the candidates, offers only for those that can
  still pay at the stats price (``fetch_offers``), or no offers at all (the
  built-in query prices from the stats).
* **seed-style**: what the system it replaces did: every new deal of the feed
  checked with offers (``offers=20``: 6 tokens per 10 offers found, so 6-12
  per deal), then the same filters; once as is, once with the free feed
  filter first (the most charitable reading).

    .venv/bin/python bench/tokens_per_deal.py [--hours 6] [--interval 10] [--seed 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from keepa_deals.clock import FakeClock
from keepa_deals.ingest import evaluate as ev
from keepa_deals.ingest import open_env, smart_ingestor
from keepa_deals.ingest.scan import keepa_minute
from keepa_deals.keepa.client import KeepaClient
from keepa_deals.keepa.http import KeepaHTTP
from keepa_deals.query import DealQuery, default_query
from keepa_deals.sandbox import CatalogConfig, Sandbox, SandboxServer
from keepa_deals.settings import Settings

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

    @property
    def per_deal(self) -> float:
        return self.tokens / len(self.stored) if self.stored else float("inf")


def sandbox(seed: int) -> tuple[Sandbox, FakeClock]:
    clock = FakeClock(START_MS)
    sb = Sandbox(clock=clock, demo_account=False,
                 catalog=CatalogConfig(seed=seed, backlog_s=3600))
    sb.add_account(KEY, tokens=1_000_000, refill_rate=100_000)  # tokens are counted, not rationed
    return sb, clock


def smart(name: str, query: DealQuery, args: argparse.Namespace) -> Result:
    sb, clock = sandbox(args.seed)
    with SandboxServer(sb) as server, tempfile.TemporaryDirectory() as data:
        settings = Settings(keepa_api_key=KEY, keepa_api_url=server.url, data_dir=data,
                            database_url=f"sqlite:///{data}/deals.sqlite3")
        checks = 0
        with open_env(settings, clock=clock) as env:
            for _ in range(args.runs):
                report = smart_ingestor(env, query)
                assert report.outcome.value == "ok", report.error
                checks += report.checked_stats + report.checked_offers
                clock.advance(args.interval * MINUTE)
            from sqlalchemy import select

            from keepa_deals.store import DealRecord
            with env.store.engine.connect() as conn:
                asins = {a for (a,) in conn.execute(select(DealRecord.asin))}
        return Result(name, sb.account(KEY).tokens_consumed, asins, checks)


def seed_style(name: str, query: DealQuery, args: argparse.Namespace, *,
               feed_filter: bool) -> Result:
    """Page the feed down to the last run's newest deal; check every new deal with offers."""
    from keepa_deals.budget import TokenManager
    from keepa_deals.budget.memory import MemoryStore

    sb, clock = sandbox(args.seed)
    stored: set[str] = set()
    checks = 0
    with SandboxServer(sb) as server:
        http = KeepaHTTP(KEY, base_url=server.url)
        budget = TokenManager(MemoryStore(clock=clock), clock=clock, sync=http.token_status)
        client = KeepaClient(http, budget)
        newest: int | None = None
        for _ in range(args.runs):
            fresh = []
            top = newest
            for page in range(query.run.max_pages):
                result = client.deals(query.selection_for_page(page))
                names = dict(zip(result.category_ids, result.category_names, strict=False))
                for deal in result.deals:
                    minute = keepa_minute(deal)
                    if minute is None or (newest is not None and minute <= newest):
                        continue
                    top = minute if top is None else max(top, minute)
                    if feed_filter and ev.feed_verdict(ev.feed_view(deal, query, names), query):
                        continue
                    fresh.append(deal.asin)
                if result.is_last or (newest is not None and result.deals and min(
                        keepa_minute(d) or 0 for d in result.deals) <= newest):
                    break
            newest = top
            for i in range(0, len(fresh), 20):
                batch = client.products(fresh[i:i + 20], stats=ev.stats_days(query), offers=20)
                checks += len(batch)
                for product in batch:
                    facts = ev.product_facts(product, query)
                    if facts is None or ev.stats_verdict(facts, query) is not None:
                        continue
                    buy = ev.price_from_offers(product, query.price_type)
                    est = ev.estimate(facts, buy, query) if buy else None
                    if ev.offers_verdict(est, query) is None:
                        stored.add(product.asin)
            clock.advance(args.interval * MINUTE)
        http.close()
    return Result(name, sb.account(KEY).tokens_consumed, stored, checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--interval", type=int, default=10, help="minutes between runs")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args(argv)
    args.runs = max(1, int(args.hours * 60 / args.interval))
    query = default_query()
    offers = with_offers(query)

    pipelines: list[Callable[[], Result]] = [
        lambda: smart("smart, offers for survivors", offers, args),
        lambda: smart("smart, priced from stats (built-in query)", query, args),
        lambda: seed_style("seed-style, offers for every deal", offers, args, feed_filter=False),
        lambda: seed_style("seed-style, feed filter then offers", offers, args, feed_filter=True),
    ]
    results = [p() for p in pipelines]
    print(f"{args.runs} runs every {args.interval} min over {args.hours:g} h of sandbox feed "
          f"(seed {args.seed}), query {query.name}\n")
    print(f"{'pipeline':<44} {'tokens':>7} {'checked':>8} {'stored':>7} {'tokens/deal':>12}")
    for r in results:
        print(f"{r.name:<44} {r.tokens:>7} {r.checks:>8} {len(r.stored):>7} {r.per_deal:>12.1f}")
    smart_offers, _, seed_all, seed_filtered = results
    if smart_offers.stored != seed_all.stored or seed_all.stored != seed_filtered.stored:
        print("\nwarning: the pipelines stored different deals", file=sys.stderr)
    print(f"\nsmart (offers) vs seed-style: {seed_all.per_deal / smart_offers.per_deal:.1f}x fewer "
          f"tokens per stored deal; vs seed-style with the feed filter: "
          f"{seed_filtered.per_deal / smart_offers.per_deal:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
