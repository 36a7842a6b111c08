"""A run in progress is visible: each page bought, each batch checked, each wait for
tokens with its end, as the run's totals so far; ``run`` shows them as a status line
on a terminal and as plain lines elsewhere."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime

from keepa_deals.cli._progress import ProgressView
from keepa_deals.clock import FakeClock
from keepa_deals.ingest import IngestEnv, smart_ingestor
from keepa_deals.ingest.progress import ProgressEvent
from keepa_deals.query import DealQuery
from keepa_deals.sandbox import Sandbox
from tests.ingest.conftest import KEY


def test_a_run_reports_its_pages_batches_and_waits_as_it_goes(
        make_env: Callable[..., IngestEnv], sqlite_url: str, query: DealQuery,
        sandbox: Sandbox, clock: FakeClock) -> None:
    env = make_env(sqlite_url)
    events: list[ProgressEvent] = []
    env.progress.listen(events.append)
    report = smart_ingestor(env, query)
    pages = [e for e in events if e.kind == "page"]
    batches = [e for e in events if e.kind == "batch"]
    assert [e.pages for e in pages] == list(range(1, report.counts.pages + 1))
    assert batches and all(e.stage == "stats" and 0 < e.size <= 100 for e in batches)
    tokens = [e.tokens for e in events if e.kind != "wait"]
    assert tokens == sorted(tokens) and tokens[-1] == report.counts.tokens_spent
    assert batches[-1].added == report.counts.added
    # a short wait for tokens is announced with its end, before it is slept
    clock.advance(600_000)
    sandbox.update_account(KEY, tokens=2, refill_rate=300)
    before = clock.now_ms()
    events.clear()
    smart_ingestor(env, query)
    waits = [e for e in events if e.kind == "wait"]
    assert waits, events
    assert waits[0].until is not None and waits[0].wait_s >= 1
    assert waits[0].until.timestamp() * 1000 >= before + waits[0].wait_s * 1000 - 1


def test_a_listener_that_fails_costs_nothing(make_env: Callable[..., IngestEnv],
                                             sqlite_url: str, query: DealQuery) -> None:
    env = make_env(sqlite_url)

    def broken(e: ProgressEvent) -> None:
        raise RuntimeError("display gone")

    env.progress.listen(broken)
    report = smart_ingestor(env, query)
    assert report.ok and report.counts.added > 0


def test_the_view_is_one_status_line_on_a_terminal_and_plain_lines_elsewhere() -> None:
    until = datetime(2027, 1, 1, 12, 30, 5, tzinfo=UTC)
    steps = [ProgressEvent("page", "q", pages=1, tokens=5),
             ProgressEvent("batch", "q", pages=1, tokens=105, checked=100, added=7,
                           stage="stats", size=100),
             ProgressEvent("wait", wait_s=42, until=until),
             ProgressEvent("batch", "q", pages=2, tokens=210, checked=200, added=9,
                           stage="stats", size=100)]
    tty = io.StringIO()
    view = ProgressView(tty, tty=True)
    for e in steps:
        view(e)
    view.clear()
    text = tty.getvalue()
    assert "\n" not in text and text.count("\r\x1b[K") == len(steps) + 1
    assert "q: 1 page, 100 checked, +7 new, 105 tokens (batch of 100, stats)" in text
    local = until.astimezone().strftime("%H:%M:%S")
    assert f"waiting 42 s for Keepa (until {local})" in text
    plain = io.StringIO()
    view = ProgressView(plain, tty=False)
    for e in steps:
        view(e)
    view.clear()
    lines = plain.getvalue().splitlines()
    # pages are not lines; the first batch and the wait are; the second batch comes
    # within PLAIN_EVERY_S of the first and is left out
    assert lines == ["  q: 1 page, 100 checked, +7 new, 105 tokens (batch of 100, stats)",
                     f"  waiting 42 s for Keepa (until {local})"]
