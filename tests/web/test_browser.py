"""The dashboard in a real browser: headless Chromium driven by Playwright.

The database is filled by real ingest runs against the sandbox Keepa server (over HTTP,
on a fake clock: twelve runs twenty minutes apart, the first ones waiting for tokens),
then the dashboard is served by uvicorn on a free port.  The tests load the pages,
filter, sort, open a deal, check the charts are drawn, and save screenshots in /tmp
(``keepa-deals-*.png``).

Needs Debian's chromium at /usr/bin/chromium (scripts/test installs it) and the
``playwright`` package; without them these tests are skipped, saying so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from keepa_deals.clock import FakeClock
from keepa_deals.ingest import open_env, smart_ingestor
from keepa_deals.query import default_query
from keepa_deals.sandbox import CatalogConfig, Sandbox, SandboxServer
from keepa_deals.settings import Settings
from keepa_deals.store import RunOutcome
from keepa_deals.web import create_app
from keepa_deals.web.server import WebServer
from tests.web._browser import chromium

KEY = "webbrowsertestkey" + "8" * 47
START_MS = 1_800_000_000_000
SHOTS = Path("/tmp")
TOKEN = "browser-test-token-42"
#: A 1×1 PNG, served in place of Amazon's product images (there is no internet here).
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360f8cfc0f01f0005000201e2d3b7c60000000049454e44ae426082")

@dataclass
class Dashboard:
    url: str
    settings: Settings
    clock: FakeClock
    runs: list[RunOutcome]
    app: Any


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    clock = FakeClock(START_MS)
    sandbox = Sandbox(clock=clock, demo_account=False,
                      catalog=CatalogConfig(seed=11, backlog_s=12 * 3600, event_interval_s=8))
    sandbox.add_account(KEY, tokens=120, refill_rate=5, phase_ms=7_000)
    data = tmp_path_factory.mktemp("browser")
    with SandboxServer(sandbox) as keepa:
        settings = Settings(keepa_api_key=KEY, keepa_api_url=keepa.url, data_dir=data,
                            database_url=f"sqlite:///{data}/deals.sqlite3", http_retries=1)
        outcomes = []
        with open_env(settings, clock=clock) as env:
            for i in range(12):
                if i == 11:  # the balance was spent elsewhere: the last run waits for tokens
                    sandbox.update_account(KEY, tokens=-30)
                outcomes.append(smart_ingestor(env, default_query()).outcome)
                clock.advance(20 * 60 * 1000)
            app = create_app(settings, engine=env.store.engine, budget=env.budget, clock=clock)
            with WebServer(app) as web:
                yield Dashboard(web.url, settings, clock, outcomes, app)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@dataclass
class Visit:
    page: Any
    errors: list[str]
    external: list[str]


@pytest.fixture
def visit(browser: Any, dashboard: Dashboard) -> Iterator[Visit]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    external: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    def route(r: Any) -> None:
        if r.request.url.startswith(dashboard.url):
            r.continue_()
        else:  # no internet here, and the dashboard needs none: nothing leaves the machine
            external.append(r.request.url)
            if r.request.resource_type == "image":
                r.fulfill(status=200, content_type="image/png", body=PIXEL)
            else:
                r.abort()

    page.route("**/*", route)
    yield Visit(page, errors, external)
    context.close()
    assert not errors, f"errors in the page: {errors}"
    assert all("m.media-amazon.com/images/" in u for u in external), external


def api(dashboard: Dashboard, path: str, **params: Any) -> Any:
    r = httpx.get(dashboard.url + path, params=params, timeout=10)
    r.raise_for_status()
    return r.json()


def cell_values(page: Any, column: int) -> list[str]:
    return page.locator(f"#deals tbody tr td:nth-child({column})").all_inner_texts()


def money(text: str) -> float:
    return float(text.replace("$", "").replace(",", "").replace("−", "-"))


def test_the_sandbox_run_filled_the_store(dashboard: Dashboard) -> None:
    assert RunOutcome.WAITING_FOR_TOKENS in dashboard.runs and RunOutcome.OK in dashboard.runs
    assert api(dashboard, "/api/deals")["total"] >= 10


def test_the_deal_table_loads(visit: Visit, dashboard: Dashboard) -> None:
    page = visit.page
    page.goto(dashboard.url + "/")
    body = api(dashboard, "/api/deals")
    rows = page.locator("#deals tbody tr")
    assert rows.count() == len(body["items"])
    first = page.locator("#deals tbody tr").first
    assert first.get_attribute("data-asin") == body["items"][0]["asin"]
    assert re.search(rf"of\s+{body['total']}\s+deals", page.locator("#summary").inner_text())
    page.screenshot(path=str(SHOTS / "keepa-deals-deals.png"), full_page=True)


def test_filtering_by_profit_and_price(visit: Visit, dashboard: Dashboard) -> None:
    page = visit.page
    page.goto(dashboard.url + "/")
    profits = sorted(money(t) for t in cell_values(page, 4))
    threshold = profits[len(profits) // 2]
    page.fill("#f-min_profit", f"{threshold:.2f}")
    page.fill("#f-max_price", "45")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"min_profit="))
    shown = [money(t) for t in cell_values(page, 4)]
    assert shown and all(p >= threshold for p in shown)
    assert all(money(t) <= 45 for t in cell_values(page, 2))
    want = api(dashboard, "/api/deals", min_profit_cents=round(threshold * 100),
               max_price_cents=4500)
    assert page.locator("#deals tbody tr").count() == want["total"]
    assert page.input_value("#f-min_profit") == f"{threshold:.2f}"
    # Reset clears every filter.
    page.click("text=Reset")
    page.wait_for_url(dashboard.url + "/")
    assert page.input_value("#f-min_profit") == ""


def test_a_bad_filter_is_explained(visit: Visit, dashboard: Dashboard) -> None:
    page = visit.page
    page.goto(dashboard.url + "/")
    page.fill("#f-min_roi", "lots")
    page.click("form.filters button[type=submit]")
    assert "Min ROI %: Input should be a valid number" in page.locator(".errors").inner_text()
    # The page answered 422 (on purpose), which Chromium logs as a failed load.
    visit.errors[:] = [e for e in visit.errors if "status of 422" not in e]


def test_sorting_by_a_column_and_back(visit: Visit, dashboard: Dashboard) -> None:
    page = visit.page
    page.goto(dashboard.url + "/")
    page.click("th a[data-sort=roi]")
    page.wait_for_url(re.compile(r"sort=roi"))
    th = page.locator("th:has(a[data-sort=roi])")
    assert th.get_attribute("aria-sort") == "descending"
    want = [d["asin"] for d in api(dashboard, "/api/deals", sort="roi")["items"]]
    got = [r.get_attribute("data-asin") for r in page.locator("#deals tbody tr").all()]
    assert got == want
    rois = [float(t.split()[0].replace(",", "")) for t in cell_values(page, 5)]
    assert rois == sorted(rois, reverse=True)
    page.click("th a[data-sort=roi]")
    page.wait_for_url(re.compile(r"order=asc"))
    assert page.locator("th:has(a[data-sort=roi])").get_attribute("aria-sort") == "ascending"
    rois = [float(t.split()[0].replace(",", "")) for t in cell_values(page, 5)]
    assert rois == sorted(rois)


def test_a_deal_opens_in_the_drawer_with_its_links(visit: Visit, dashboard: Dashboard) -> None:
    page = visit.page
    page.goto(dashboard.url + "/")
    first = page.locator("a.detail-link").first
    asin = first.get_attribute("data-asin")
    first.click()
    drawer = page.locator("#drawer")
    drawer.wait_for(state="visible")
    page.locator("#drawer .deal-detail").wait_for()
    amazon = drawer.locator("a", has_text="Open on Amazon")
    keepa = drawer.locator("a", has_text="Open on Keepa")
    assert amazon.get_attribute("href") == f"https://www.amazon.com/dp/{asin}"
    assert keepa.get_attribute("href") == f"https://keepa.com/#!product/1-{asin}"
    assert amazon.get_attribute("rel") == "noopener noreferrer"
    detail = api(dashboard, f"/api/deals/{asin}")
    assert detail["title"] in drawer.inner_text()
    page.screenshot(path=str(SHOTS / "keepa-deals-detail.png"))
    page.keyboard.press("Escape")
    drawer.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.dataset.asin") == asin


def test_the_keyboard_alone_opens_and_closes_a_deal(visit: Visit, dashboard: Dashboard) -> None:
    page = visit.page
    page.goto(dashboard.url + "/")
    # Tab until the first deal link has the focus.
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('detail-link')"):
            break
    else:
        pytest.fail("no deal link is reachable with Tab")
    page.keyboard.press("Enter")
    page.locator("#drawer .deal-detail").wait_for()
    assert page.evaluate("document.activeElement.classList.contains('drawer-close')")
    page.keyboard.press("Enter")  # the close button has the focus
    page.locator("#drawer").wait_for(state="hidden")


def test_a_deal_page_works_without_the_drawer(visit: Visit, dashboard: Dashboard) -> None:
    page = visit.page
    asin = api(dashboard, "/api/deals")["items"][0]["asin"]
    page.goto(f"{dashboard.url}/deals/{asin}")
    assert page.locator("h1").inner_text() == api(dashboard, f"/api/deals/{asin}")["title"]
    assert page.locator("a", has_text="Open on Keepa").get_attribute("href").endswith(f"1-{asin}")


def test_the_health_page_draws_its_charts(visit: Visit, dashboard: Dashboard) -> None:
    page = visit.page
    page.goto(dashboard.url + "/health")
    tokens = page.locator("#chart-tokens .chart-host[data-points]")
    tokens.wait_for()
    series = api(dashboard, "/api/series/tokens", hours=24)
    after_runs = [p for p in series["points"] if not p["run_start"]]
    assert len(after_runs) == len(dashboard.runs)
    # the balance through a run: an estimate at each run's start, below the cap
    starts = [p for p in series["points"] if p["run_start"]]
    assert starts and all(p["balance"] <= series["cap"] for p in starts)
    assert int(tokens.get_attribute("data-points") or 0) == len(series["points"])
    legend = page.locator("#chart-tokens .u-legend").inner_text()
    assert "Balance" in legend and "Cap" in legend and "Floor" in legend
    assert series["cap"] and series["recharge_periods"]
    assert page.locator("#chart-tokens canvas").count() == 1

    deals = page.locator("#chart-deals .chart-host[data-points]")
    dseries = api(dashboard, "/api/series/deals", hours=24)
    assert int(deals.get_attribute("data-points") or 0) >= len(dseries["points"])
    assert "Added" in page.locator("#chart-deals .u-legend").inner_text()
    assert f"{dseries['current']}" in page.locator("#tile-deals").inner_text()
    assert page.locator("table.runs tbody tr").count() == min(10, len(dashboard.runs))
    assert "waiting for tokens" in page.locator("table.runs").inner_text()
    page.screenshot(path=str(SHOTS / "keepa-deals-health.png"), full_page=True)


def test_the_health_status_agrees_with_the_budget(visit: Visit, dashboard: Dashboard) -> None:
    page = visit.page
    page.goto(dashboard.url + "/health")
    state = api(dashboard, "/api/health")["tokens"]["state"]
    status = page.locator("#health-status")
    assert state != "ready", "the last run waited for tokens"
    assert "status-ok" not in (status.get_attribute("class") or "")
    assert state in status.inner_text()
    assert "No alerts: every check passes" not in page.content()


def test_the_chart_window_can_be_changed(visit: Visit, dashboard: Dashboard) -> None:
    page = visit.page
    page.goto(dashboard.url + "/health")
    page.click("nav.windows a:has-text('6 h')")
    page.wait_for_url(re.compile(r"hours=6"))
    page.locator("#chart-tokens .chart-host[data-points]").wait_for()
    assert page.locator("nav.windows a[aria-current=true]").inner_text() == "6 h"


def _first_deal_with_history(dashboard: Dashboard) -> tuple[str, Any]:
    for item in api(dashboard, "/api/deals")["items"]:
        hist = api(dashboard, f"/api/deals/{item['asin']}/history")
        if any(len(s["points"]) >= 2 for s in hist["series"]):
            return item["asin"], hist
    pytest.fail("no stored deal has a history")


def test_a_deal_page_charts_its_history(visit: Visit, dashboard: Dashboard) -> None:
    page = visit.page
    asin, hist = _first_deal_with_history(dashboard)
    page.goto(f"{dashboard.url}/deals/{asin}")
    prices = page.locator(".history-chart .chart-prices[data-points]")
    prices.wait_for()
    assert int(prices.get_attribute("data-points") or 0) >= 2
    legend = page.locator(".history-chart .chart-prices .u-legend").inner_text()
    labels = [s["label"] for s in hist["series"] if s["kind"] == "price"]
    assert all(label in legend for label in labels)
    assert "Buy price" in legend and "Expected sale" in legend
    assert page.locator(".history-chart .chart-rank[data-points]").count() == 1
    # 90 days at first; the range buttons change it and say so
    assert page.locator(".history-chart").get_attribute("data-days") == "90"
    page.click(".history-ranges button[data-days='30']")
    assert page.locator(".history-ranges button[data-days='30']").get_attribute(
        "aria-pressed") == "true"
    assert page.locator(".history-chart").get_attribute("data-days") == "30"
    assert "last 30 days" in (prices.get_attribute("aria-label") or "")
    page.click(".history-ranges button[data-days='365']")
    # hovering shows the values at that time in the legend
    over = page.locator(".history-chart .chart-prices .u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] / 2)
    page.mouse.move(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)
    legend_values = page.locator(".history-chart .chart-prices .u-legend .u-value")
    page.wait_for_function("""() => Array.from(document.querySelectorAll(
        '.history-chart .chart-prices .u-legend .u-value')).some(e => e.textContent.startsWith('$'))""")
    assert legend_values.first.inner_text() != "–"  # the date hovered
    page.screenshot(path=str(SHOTS / "keepa-deals-history.png"), full_page=True)


def test_the_drawer_draws_the_history_too(visit: Visit, dashboard: Dashboard) -> None:
    page = visit.page
    page.goto(dashboard.url + "/")
    page.locator("a.detail-link").first.click()
    page.locator("#drawer .deal-detail").wait_for()
    asin = page.locator("#drawer .deal-detail").get_attribute("data-asin")
    if api(dashboard, f"/api/deals/{asin}/history")["series"]:
        page.locator("#drawer .chart-prices[data-points]").wait_for()


def test_without_javascript_the_history_is_a_table(browser: Any, dashboard: Dashboard) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        asin, hist = _first_deal_with_history(dashboard)
        page.goto(f"{dashboard.url}/deals/{asin}")
        table = page.locator("table.history-table")
        assert table.is_visible()
        assert table.locator("tbody tr").count() == len(hist["series"])
        assert page.locator(".history-ranges").is_hidden()
        assert page.locator(".history-chart").is_hidden()  # no empty chart boxes
        page.goto(dashboard.url + "/health")
        assert page.locator("#verdict-tokens").is_visible()
        assert "tokens" in page.locator("#verdict-tokens").inner_text()
        assert page.locator("#verdict-deals").is_visible()
    finally:
        context.close()


def test_small_screens_keep_the_essentials(browser: Any, dashboard: Dashboard) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(dashboard.url)
               else r.abort())
    try:
        page.goto(dashboard.url + "/")
        assert page.locator("#deals th:has-text('Margin')").is_hidden()
        assert page.locator("#deals th:has-text('Profit')").is_visible()
        page.screenshot(path=str(SHOTS / "keepa-deals-mobile.png"), full_page=True)
        page.goto(dashboard.url + "/health")
        page.locator("#chart-tokens .chart-host[data-points]").wait_for()
        page.screenshot(path=str(SHOTS / "keepa-deals-health-mobile.png"), full_page=True)
    finally:
        context.close()


def test_signing_in_with_the_token(browser: Any, dashboard: Dashboard) -> None:
    settings = dashboard.settings.model_copy(update={"web_token": SecretStr(TOKEN)})
    app = create_app(settings, engine=dashboard.app.state.web.engine, budget=None,
                     clock=dashboard.clock, alerts=None)
    with WebServer(app) as web:
        context = browser.new_context()
        page = context.new_page()
        try:
            page.goto(web.url + "/health")
            assert page.url.startswith(web.url + "/login")
            page.fill("#token", "not-the-token-at-all")
            page.click("button[type=submit]")
            assert "not the access token" in page.locator("#login-error").inner_text()
            page.fill("#token", TOKEN)
            page.click("button[type=submit]")
            page.wait_for_url(web.url + "/health")
            page.screenshot(path=str(SHOTS / "keepa-deals-signed-in.png"))
            page.click("text=Sign out")
            page.wait_for_url(re.compile(r"/login"))
        finally:
            context.close()


def test_a_thinned_token_window_keeps_each_buckets_low_and_high(
    browser: Any, tmp_path: Path,
) -> None:
    """More runs than a chart shows: 500 buckets, and a band from each one's lowest to its
    highest balance (a dip below the floor is never smoothed away)."""
    from datetime import timedelta

    from keepa_deals.store import DealStore

    clock = FakeClock(START_MS)
    url = f"sqlite:///{tmp_path}/deals.sqlite3"
    with DealStore.open(url, clock=clock) as store:
        now = store.now()
        for i in range(1200):
            store.record_metrics(token_balance=(i * 37) % 300 - 200, refill_rate=5,
                                 deal_count=10,
                                 at=now - timedelta(seconds=6 * 3600 * (1200 - i) / 1200))
        settings = Settings(database_url=url, data_dir=tmp_path, keepa_api_key=KEY)
        app = create_app(settings, engine=store.engine, budget=None, clock=clock, alerts=None)
        with WebServer(app) as web:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            try:
                page.goto(web.url + "/health?hours=6")
                host = page.locator("#chart-tokens .chart-host[data-points]")
                host.wait_for()
                assert host.get_attribute("data-points") == "500"
                legend = page.locator("#chart-tokens .u-legend").inner_text()
                assert "Lowest" in legend and "Highest" in legend
                assert "lowest -200" in page.locator("#verdict-tokens").inner_text()
            finally:
                page.close()
            assert not errors
