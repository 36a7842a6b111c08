"""What reading the deal table costs, to compare two checkouts (FC-27's tolerant types).

Builds a SQLite store of ``--deals`` synthetic rows once (``--db``, reused when it
exists), then times, each ``--rounds`` times (CPU time of this process, steadier than the
wall clock on a shared machine), the reads the hot paths make: every row
and column (``select(deals)``, a full scan of Python-side result processing), the
list's first pass (id and sort value of 1,001 rows), one list page through
``list_deals`` and one ``GET /api/deals`` in process.  Run it under each checkout's
``PYTHONPATH`` on the same file, alternately, and compare the medians::

    PYTHONPATH=/work/main/src .venv/bin/python bench/tolerant_reads.py --db /tmp/t.sqlite3
    PYTHONPATH=$PWD/src       .venv/bin/python bench/tolerant_reads.py --db /tmp/t.sqlite3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).parent))
from web_api import NOW, synthesise  # noqa: E402

from keepa_deals.clock import FakeClock  # noqa: E402
from keepa_deals.deals_view import DealDefinition  # noqa: E402
from keepa_deals.settings import Settings  # noqa: E402
from keepa_deals.store import migrate  # noqa: E402
from keepa_deals.store.engine import create_store_engine  # noqa: E402
from keepa_deals.store.schema import DEALS  # noqa: E402
from keepa_deals.web import create_app  # noqa: E402
from keepa_deals.web.listing import ListRequest, list_deals  # noqa: E402


def timed(fn: Callable[[], Any], rounds: int) -> float:
    fn()
    samples = []
    for _ in range(rounds):
        t0 = time.process_time()
        fn()
        samples.append((time.process_time() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--deals", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    url = f"sqlite:///{args.db}"
    fresh = not args.db.exists()
    engine = create_store_engine(url)
    if fresh:
        migrate.upgrade(engine)
        rows = list(synthesise(args.deals))
        with engine.begin() as conn:
            for i in range(0, len(rows), 5000):
                conn.execute(insert(DEALS), rows[i:i + 5000])
    definition = DealDefinition()
    all_rows = select(DEALS)
    first_pass = select(DEALS.c.id, DEALS.c.profit_cents.label("key")).limit(1001)

    def scan() -> None:
        with engine.connect() as conn:
            conn.execute(all_rows).all()

    def matches() -> None:
        with engine.connect() as conn:
            conn.execute(first_pass).all()

    def page() -> None:
        with engine.connect() as conn:
            list_deals(conn, definition, NOW, ListRequest())

    settings = Settings(database_url=url, keepa_api_key="b" * 64)
    app = create_app(settings, engine=engine, clock=FakeClock(int(NOW.timestamp() * 1000)))

    def api() -> None:
        async def go() -> None:
            transport = httpx.ASGITransport(app=app)
            base = "http://127.0.0.1"
            async with httpx.AsyncClient(transport=transport, base_url=base) as client:
                (await client.get("/api/deals")).raise_for_status()
        asyncio.run(go())

    for name, fn in (("select(deals), all rows", scan), ("first pass, 1,001 rows", matches),
                     ("list_deals, default page", page), ("GET /api/deals", api)):
        print(f"{name:28} {timed(fn, args.rounds):8.2f} ms (median of {args.rounds})")
    engine.dispose()


if __name__ == "__main__":
    main()
