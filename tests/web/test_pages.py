"""The server-rendered pages (the browser tests drive them for real; these read the HTML)."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.deals_view import DealDefinition
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore, create_store_engine
from keepa_deals.web import create_app
from keepa_deals.web.pages import money, percent
from tests.web._deals import N_CURRENT, Seeded, expected, records, seed
from tests.web.conftest import NOW, Api


@pytest.fixture
def seeded(store: DealStore, clock: FakeClock) -> Seeded:
    return seed(store, clock)


def rows_of(html: str) -> list[str]:
    return re.findall(r'<tr data-asin="([0-9A-Z]{10})">', html)


def test_the_deal_page_lists_the_same_deals_as_the_api(
    api: Api, seeded: Seeded, store: DealStore, settings: Settings
) -> None:
    r = api.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    definition = DealDefinition.from_settings(settings)
    assert rows_of(r.text) == expected(records(store), definition, NOW)[:50]
    assert f"1–50 of {N_CURRENT} deals" in " ".join(r.text.split())
    assert 'aria-sort="descending"' in r.text  # profit, the default
    assert r.headers["content-security-policy"].startswith("default-src 'self'")


def test_money_filters_are_typed_in_dollars(
    api: Api, seeded: Seeded, store: DealStore, settings: Settings
) -> None:
    definition = DealDefinition.from_settings(settings)
    r = api.get("/", params={"min_profit": "20", "max_price": "9.00", "sort": "roi"})
    assert r.status_code == 200
    want = expected(records(store), definition, NOW, sort="roi", min_profit_cents=2000,
                    max_price_cents=900)
    assert rows_of(r.text) == want[:50] and want
    # The form shows what was typed.
    assert 'value="20"' in r.text and 'value="9.00"' in r.text


def test_bad_filters_are_explained_on_the_page(api: Api, seeded: Seeded) -> None:
    r = api.get("/", params={"min_profit": "lots", "max_rank": "0", "min_price": "9",
                             "max_price": "1"})
    assert r.status_code == 422
    text = unescape(" ".join(r.text.split()))
    assert "Min profit: enter an amount such as 5 or 4.99" in text
    assert rows_of(r.text) == []
    r = api.get("/", params={"min_price": "9", "max_price": "1"})
    assert r.status_code == 422
    assert "Max price (1) is below Min price (9)" in unescape(r.text)
    r = api.get("/", params={"max_rank": "0"})
    assert "Max sales rank: Input should be greater than or equal to 1" in unescape(r.text)


def test_sort_headers_are_links_that_flip_the_order(api: Api, seeded: Seeded) -> None:
    html = unescape(api.get("/", params={"sort": "rank"}).text)
    assert re.search(r'aria-sort="ascending"><a href="/\?sort=rank&order=desc"', html)
    assert re.search(r'aria-sort="none"><a href="/\?sort=profit"', html)


def test_pager_links_keep_the_filters(api: Api, seeded: Seeded) -> None:
    html = unescape(api.get("/", params={"q": "book", "limit": "20"}).text)
    assert 'href="/?q=book&limit=20&offset=20" rel' in html or \
        re.search(r'rel="next" href="/\?q=book&limit=20&offset=20"', html)
    html = unescape(api.get("/", params={"q": "book", "limit": "20", "offset": "20"}).text)
    assert re.search(r'rel="prev" href="/\?q=book&limit=20"', html)


def test_the_category_filter_offers_the_current_categories(api: Api, seeded: Seeded) -> None:
    html = api.get("/").text
    assert '<option value="5174"' in html and "CDs &amp; Vinyl" in html


def test_a_deal_page_and_its_fragment(api: Api, seeded: Seeded) -> None:
    asin = seeded.current[4]
    page = api.get(f"/deals/{asin}?domain=1")
    assert page.status_code == 200
    link = f'href="https://www.amazon.com/dp/{asin}" target="_blank" rel="noopener noreferrer"'
    assert link in page.text
    assert f'href="https://keepa.com/#!product/1-{asin}"' in page.text
    assert "<h1 " in page.text
    part = api.get(f"/deals/{asin}?partial=1")
    assert part.status_code == 200 and "<html" not in part.text and "<h2 " in part.text
    stale = api.get(f"/deals/{seeded.stale[0]}").text
    assert "Not a current deal" in stale


@pytest.mark.parametrize(
    "path", ["/deals/B099999999", "/deals/nope", "/deals/B099999999?partial=1"])
def test_unknown_deals_are_404_pages(api: Api, path: str) -> None:
    r = api.get(path)
    assert r.status_code == 404 and "No deal with ASIN" in r.text


def test_the_health_page_embeds_the_series_and_lists_runs(
    api: Api, seeded: Seeded, store: DealStore, clock: FakeClock
) -> None:
    run = store.start_run("used-books-us")
    store.finish_run(run, "waiting_for_tokens", retry_after_s=600)
    store.record_metrics(token_balance=-20, refill_rate=5, deal_count=60)
    r = api.get("/health", params={"hours": "168"})
    assert r.status_code == 200
    tokens = json.loads(unescape(re.search(
        r'<script type="application/json" id="series-tokens">(.*?)</script>', r.text, re.S
    ).group(1)))
    assert tokens["floor"] == -180 and tokens["points"][0]["balance"] == -20
    assert tokens["recharge_periods"][0]["ongoing"] is True
    deals = json.loads(unescape(re.search(
        r'<script type="application/json" id="series-deals">(.*?)</script>', r.text, re.S
    ).group(1)))
    assert deals["current"] == N_CURRENT and deals["runs"][0]["outcome"] == "waiting_for_tokens"
    assert "waiting for tokens" in r.text and "back in 10 min" in r.text
    assert 'aria-current="true">7 days' in r.text
    assert f'id="tile-deals">{N_CURRENT}<' in r.text


def test_the_page_shows_a_missing_schema_as_503_not_a_crash(
    settings: Settings, clock: FakeClock, tmp_path: object
) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path}/empty.sqlite3")
    try:
        api = Api(create_app(settings, engine=engine, budget=None, clock=clock, alerts=None))
        for headers in ({}, {"Accept": "text/html"}):
            r = api.get("/", headers=headers)
            assert r.status_code == 503 and r.headers["content-type"].startswith("text/html")
            assert "The dashboard cannot read the database" in r.text
            assert "keepa-deals db upgrade" in r.text
        r = api.get("/api/deals", headers={"Accept": "text/html"})
        assert r.status_code == 503 and "keepa-deals db upgrade" in r.json()["detail"]
        assert api.get("/api/nowhere").json() == {"detail": "Not Found"}
        r = api.get("/nowhere", headers={"Accept": "text/html"})
        assert r.status_code == 404 and "<h1>Not found</h1>" in r.text
    finally:
        engine.dispose()


def test_formatting() -> None:
    assert money(123456) == "$1,234.56"
    assert money(-250, 2) == "−£2.50"
    assert money(1500, 5) == "¥1,500"
    assert money(None) == "–"
    assert percent(57.46) == "57.5 %" and percent(250.0) == "250 %" and percent(None) == "–"
