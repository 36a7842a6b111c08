"""What a deal's history costs: tokens, bytes on the wire and bytes stored, per deal.

Against the sandbox Keepa server over real HTTP (gzip, as the client asks for it),
the same products are bought four ways, in batches of up to 100 (20 with offers):

* **stats**: the product check as it was (``stats=90``, ``history=0``);
* **stats + history**: the same call with ``history=1&days=365`` (what a product check
  whose verdict saves a deal sends now, docs/history.md);
* **offers**: ``offers=20``, ``history=0``;
* **offers + history**: ``offers=20``, ``history=1&days=365`` (the survivors' call of a
  query that buys offers);

and for each: tokens per product (the sandbox's ``tokensConsumed``, whose cost table
follows Keepa's documentation: history and ``days`` are free), gzip bytes per
product on the wire, JSON bytes per product after decompression, and, for the calls
with history, what the store keeps per deal (points, compressed bytes) and the time to
read and downsample one product's csv.  The on-demand alternative, a separate
``/product?history=1`` call when a deal page is opened, would cost one token per deal
per look (more with offers) and is printed for comparison.

    .venv/bin/python bench/history_cost.py [--products 200] [--seed 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from keepa_deals.clock import FakeClock
from keepa_deals.ingest.history import REQUEST_DAYS, history_of
from keepa_deals.keepa.products import parse_product
from keepa_deals.sandbox import CatalogConfig, Sandbox, SandboxServer
from keepa_deals.store.history import encode

KEY = "historybenchkey" + "7" * 49
START_MS = 1_800_000_000_000


@dataclass
class Row:
    name: str
    products: int = 0
    tokens: int = 0
    wire: int = 0
    body: int = 0
    stored_points: list[int] = field(default_factory=list)
    stored_bytes: list[int] = field(default_factory=list)
    compact_ms: list[float] = field(default_factory=list)


def buy(client: httpx.Client, asins: list[str], row: Row, params: dict[str, Any]) -> None:
    r = client.get("/product", params={"key": KEY, "domain": 1, "asin": ",".join(asins),
                                       "stats": 90, **params})
    r.raise_for_status()
    body = orjson.loads(r.content)
    row.products += len(body.get("products") or [])
    row.tokens += int(body["tokensConsumed"])
    row.wire += r.num_bytes_downloaded
    row.body += len(r.content)
    if params.get("history") == 1:
        for raw in body["products"]:
            t0 = time.perf_counter()
            h = history_of(parse_product(raw), 1, START_MS)
            row.compact_ms.append((time.perf_counter() - t0) * 1000)
            if h is not None:
                row.stored_points.append(h.points)
                row.stored_bytes.append(len(encode(h.series)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--products", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args(argv)

    clock = FakeClock(START_MS)
    sb = Sandbox(clock=clock, demo_account=False,
                 catalog=CatalogConfig(seed=args.seed, backlog_s=3600))
    sb.add_account(KEY, tokens=1_000_000, refill_rate=100_000)  # counted, not rationed
    asins = [p.asin for p in sb.catalog.products[: args.products]]
    ways: list[tuple[str, dict[str, Any], int]] = [
        ("stats", {"history": 0}, 100),
        ("stats + history", {"history": 1, "days": REQUEST_DAYS}, 100),
        ("offers", {"history": 0, "offers": 20}, 20),
        ("offers + history", {"history": 1, "days": REQUEST_DAYS, "offers": 20}, 20),
    ]
    rows: list[Row] = []
    with SandboxServer(sb) as server, httpx.Client(
        base_url=server.url, headers={"Accept-Encoding": "gzip"}, timeout=60) as client:
        for name, params, batch in ways:
            row = Row(name)
            for i in range(0, len(asins), batch):
                buy(client, asins[i:i + batch], row, params)
            rows.append(row)

    print(f"{args.products} sandbox products (seed {args.seed}), bought four ways; per product:")
    print(f"{'call':<18} {'tokens':>7} {'wire KB':>8} {'JSON KB':>8} {'stored pts':>10} "
          f"{'stored KB':>9} {'compact ms':>10}")
    for r in rows:
        n = max(1, r.products)
        pts = f"{statistics.mean(r.stored_points):.0f}" if r.stored_points else "–"
        kb = f"{statistics.mean(r.stored_bytes) / 1024:.1f}" if r.stored_bytes else "–"
        ms = f"{statistics.median(r.compact_ms):.2f}" if r.compact_ms else "–"
        print(f"{r.name:<18} {r.tokens / n:>7.2f} {r.wire / n / 1024:>8.1f} "
              f"{r.body / n / 1024:>8.1f} {pts:>10} {kb:>9} {ms:>10}")
    base, hist = rows[0], rows[1]
    print()
    print(f"history with the check: +{(hist.tokens - base.tokens) / max(1, hist.products):.2f} "
          f"tokens and +{(hist.wire - base.wire) / max(1, hist.products) / 1024:.1f} KB on the "
          f"wire per product; stored: max {max(hist.stored_points, default=0)} points, "
          f"max {max(hist.stored_bytes, default=0) / 1024:.1f} KB per deal")
    print("history on demand: +1.00 token per deal per look (a second /product call; "
          "6+ with offers), and a page view waits for the budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
