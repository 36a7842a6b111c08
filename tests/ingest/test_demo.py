"""The demo's world keeps a believable pace: on simulated time, not the wall clock.

``keepa-deals run --sandbox`` (``./scripts/demo``) ingests the built-in query from
:func:`~keepa_deals.cli.run_cmd.demo_world` every ``SANDBOX_INTERVAL_S`` with the
page cap of :func:`~keepa_deals.cli.run_cmd.demo_queries`.  Here the same world,
query and schedule run on a fake clock (each run taken to last ``RUN_S``), so the
pace is a property of the catalog, the query and the ingest, the same every time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from keepa_deals.cli.run_cmd import (
    DEMO_MAX_PAGES,
    DEMO_RATE,
    SANDBOX_INTERVAL_S,
    demo_queries,
    demo_world,
)
from keepa_deals.clock import FakeClock
from keepa_deals.ingest import open_env
from keepa_deals.ingest.runner import smart_ingestor
from keepa_deals.query import default_query
from keepa_deals.sandbox import DEMO_KEY, SandboxServer
from keepa_deals.settings import Settings
from keepa_deals.tokens.economics import cap_for

START_MS = 1_800_000_000_000
#: How long a run is taken to last (a run of the backlog takes longer on a real clock).
RUN_S = 5.0


def test_demo_queries_raise_the_page_cap_only() -> None:
    q = default_query()
    assert q.run.max_pages < DEMO_MAX_PAGES
    (demo,) = demo_queries([q])
    assert demo.run.max_pages == DEMO_MAX_PAGES and demo.selection == q.selection
    wide = q.model_copy(update={"run": q.run.model_copy(update={"max_pages": 20})})
    assert demo_queries([wide]) == [wide]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_demo_finds_a_hundred_deals_then_new_ones_at_most_runs(tmp_path: Path) -> None:
    clock = FakeClock(START_MS)
    world = demo_world(clock)
    account = world.account(DEMO_KEY)
    assert account.refill_rate == DEMO_RATE and account.tokens == cap_for(DEMO_RATE)
    (query,) = demo_queries([default_query()])
    runs: list[tuple[float, int, int, bool]] = []  # (start s, added, tokens, scan complete)
    with SandboxServer(world) as server, open_env(Settings(
            keepa_api_url=server.url, keepa_api_key=SecretStr(DEMO_KEY), data_dir=tmp_path,
            database_url=None, redis_url=None), clock=clock) as env:
        while (started := (clock.now_ms() - START_MS) / 1000) < 720:
            report = smart_ingestor(env, query)
            assert report.outcome.value == "ok", report.error
            runs.append((started, report.counts.added, report.counts.tokens_spent,
                         bool(report.scan_complete)))
            clock.advance((RUN_S + SANDBOX_INTERVAL_S) * 1000)
        balance = env.budget.snapshot().projected
    first = sum(added for started, added, _, _ in runs if started + RUN_S <= 120)
    assert first >= 100, runs
    later = [added for started, added, _, _ in runs if started >= 120]
    assert sum(1 for a in later if a) * 3 >= 2 * len(later), runs
    # once the backlog is worked through: new deals at most runs, on what the refill brings
    done = next(i for i, run in enumerate(runs) if run[3])
    steady = runs[done + 1:]
    assert len(steady) >= 10, runs
    assert sum(1 for _, added, _, _ in steady if added) * 3 >= 2 * len(steady), runs
    minutes = len(steady) * (RUN_S + SANDBOX_INTERVAL_S) / 60
    assert sum(tokens for _, _, tokens, _ in steady) <= 1.5 * DEMO_RATE * minutes, runs
    assert balance is not None and balance > cap_for(DEMO_RATE) // 2
