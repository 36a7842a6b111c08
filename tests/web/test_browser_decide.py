"""The deal a reseller decides on, in a real browser (headless Chromium, Playwright):
the profit's breakdown on the detail page adds up to the profit, and the list says
"N new deals" without a reload when an ingest run saves new ones.

The store is filled by real ingest runs against the sandbox Keepa server over HTTP, on a
fake clock; the dashboard is served by uvicorn on a free port.  Screenshots go to /tmp
(``keepa-deals-decide-*.png``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.ingest import IngestEnv, open_env, smart_ingestor
from keepa_deals.query import default_query
from keepa_deals.sandbox import CatalogConfig, Sandbox, SandboxServer
from keepa_deals.settings import Settings
from keepa_deals.web import create_app
from keepa_deals.web.server import WebServer
from tests.web._browser import chromium

KEY = "webdecidetestkey" + "7" * 48
START_MS = 1_800_000_000_000
SHOTS = Path("/tmp")

@dataclass
class Live:
    url: str
    clock: FakeClock
    env: IngestEnv


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    clock = FakeClock(START_MS)
    sandbox = Sandbox(clock=clock, demo_account=False,
                      catalog=CatalogConfig(seed=5, backlog_s=6 * 3600, event_interval_s=4))
    sandbox.add_account(KEY, tokens=3000, refill_rate=60)
    data = tmp_path_factory.mktemp("browser-decide")
    with SandboxServer(sandbox) as keepa:
        settings = Settings(keepa_api_key=KEY, keepa_api_url=keepa.url, data_dir=data,
                            database_url=f"sqlite:///{data}/deals.sqlite3", http_retries=1)
        with open_env(settings, clock=clock) as env:
            smart_ingestor(env, default_query())
            app = create_app(settings, engine=env.store.engine, budget=env.budget,
                             clock=clock, alerts=None)
            with WebServer(app) as web:
                yield Live(web.url, clock, env)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Any, live: Live) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    # nothing leaves the machine: Amazon's images are answered with nothing
    pg.route("**/*", lambda r: r.continue_() if r.request.url.startswith(live.url)
             else r.fulfill(status=204, body=b""))
    yield pg
    context.close()
    assert not errors, f"errors in the page: {errors}"


def _cents(pg: Any, selector: str) -> int:
    return int(pg.locator(selector).get_attribute("data-cents"))


def test_the_breakdown_on_the_detail_page_adds_up_to_the_profit(page: Any, live: Live) -> None:
    best = httpx.get(f"{live.url}/api/deals", params={"limit": 3}, timeout=10).json()["items"]
    assert best, "the ingest saved deals"
    for item in best:
        page.goto(f"{live.url}/deals/{item['asin']}")
        table = page.locator("#breakdown")
        assert table.is_visible()
        rows = table.locator("tbody tr")
        assert rows.count() >= 10
        parts = [int(v) for v in page.locator("#breakdown td[data-cents]").evaluate_all(
            "cells => cells.map(c => c.dataset.cents)")]
        assert len(parts) == 11
        buy, shipping, prep, inbound, cost, sale, referral, closing, fba, fees, profit = parts
        assert buy + shipping + prep + inbound == cost
        assert referral + closing + fba == fees
        assert sale - fees - cost == profit == item["profit_cents"]
        shown = page.locator("#b-profit").inner_text()
        assert shown == f"${profit // 100:,}.{profit % 100:02d}" or profit < 0
        assert "day used average" in table.inner_text()
    page.screenshot(path=str(SHOTS / "keepa-deals-decide-breakdown.png"), full_page=True)


def test_the_list_says_how_many_new_deals_arrived_without_a_reload(page: Any,
                                                                    live: Live) -> None:
    page.goto(live.url + "/")
    notice = page.locator("#new-deals")
    rows_before = page.locator("#deals tbody tr").count()
    assert notice.is_hidden()
    assert page.locator("#deals tbody tr td.act a.buy").first.get_attribute("href").startswith(
        "https://www.amazon.com/gp/offer-listing/")
    # time passes in the sandbox and an ingest run saves new deals
    live.clock.advance(3 * 3600 * 1000)
    report = smart_ingestor(live.env, default_query())
    assert report.counts.added > 0, report.as_dict()
    # the page polls on its own; a visibility change makes it ask at once
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    notice.wait_for(state="visible", timeout=15_000)
    text = page.locator("#new-deals-text").inner_text()
    assert text.startswith(f"{report.counts.added} new deal")
    assert page.locator("#deals tbody tr").count() == rows_before, "no reload"
    page.screenshot(path=str(SHOTS / "keepa-deals-decide-new-deals.png"))
    page.locator("#new-deals a").click()
    page.wait_for_load_state()
    assert page.locator("#new-deals").is_hidden()
