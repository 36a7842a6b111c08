"""Saved searches on the dashboard: the API (``/api/searches``), the chips on the deal page,
and a round trip in a real browser (save, use, alert, delete)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from keepa_deals.clock import FakeClock
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore
from keepa_deals.store.alerting import AlertBook
from keepa_deals.web.searches import PRESETS
from tests.web._browser import chromium
from tests.web._deals import seed
from tests.web.conftest import Api

SECRET = "SECRETWEBHOOKPATH123"
JSON = {"Content-Type": "application/json"}


def test_save_list_use_and_delete_a_search(api: Api, store: DealStore,
                                           clock: FakeClock) -> None:
    seed(store, clock)
    r = api.post("/api/searches", json={"name": "cheap", "filter": "max_price=10&min_roi=50"})
    assert r.status_code == 201, r.text
    assert r.json()["filter"] == "min_roi=50&max_price=10" and r.json()["alert"] is False
    listed = api.get("/api/searches").json()
    assert [s["name"] for s in listed[:len(PRESETS)]] == [p.name for p in PRESETS]
    [mine] = [s for s in listed if not s["preset"]]
    page = api.get(mine["url"])
    assert page.status_code == 200 and 'aria-current="true"' in page.text
    assert api.request("DELETE", "/api/searches/cheap").status_code == 204
    assert api.request("DELETE", "/api/searches/cheap").status_code == 404
    assert [s for s in api.get("/api/searches").json() if not s["preset"]] == []


def test_bad_searches_are_refused_naming_the_field(api: Api) -> None:
    r = api.post("/api/searches", json={"name": "x", "filter": "min_profitt=5"})
    assert r.status_code == 422 and "unknown filter 'min_profitt'" in r.text
    r = api.post("/api/searches", json={"name": "x", "filter": "sort=roi"})
    assert r.status_code == 422 and "sort" in r.text
    r = api.post("/api/searches", json={"name": "High ROI", "filter": ""})
    assert r.status_code == 422 and "preset" in r.text
    r = api.post("/api/searches", content=b"name=x", headers={"Content-Type":
                                                              "application/x-www-form-urlencoded"})
    assert r.status_code in (415, 422)
    r = api.post("/api/searches", json={"name": "x", "filter": "",
                                        "alert": {"to": [f"nosuch://{SECRET}@h/x"]}})
    assert r.status_code == 422 and SECRET not in r.text and "alert.to[1]" in r.text


def test_an_alert_from_the_current_filters_shows_its_destination_masked(
        api: Api, store: DealStore, clock: FakeClock) -> None:
    seed(store, clock)
    url = f"json://127.0.0.1:9/hooks/{SECRET}"
    r = api.post("/api/searches", json={"name": "good", "filter": "min_profit=5",
                                        "alert": {"to": [url], "digest_s": 900}})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["alert"] and body["digest_s"] == 900 and body["to"][0].startswith(
        "json://127.0.0.1/***")
    record = AlertBook(store).search("good")
    assert record is not None and record.destinations == (url,)
    for page in ("/", "/api/searches", "/?min_profit=5", "/health"):
        assert SECRET not in api.get(page).text, page


# --- in a real browser -------------------------------------------------------------------

@pytest.fixture
def served(app: Any, store: DealStore, clock: FakeClock) -> Iterator[str]:
    from keepa_deals.web.server import WebServer

    seed(store, clock)
    with WebServer(app) as web:
        yield web.url


@pytest.fixture
def page() -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        pg = context.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.on("dialog", lambda d: d.accept())
        pg.route("**/*", lambda r: r.continue_() if r.request.url.startswith("http://127.0.0.1")
                 else r.abort())
        yield pg
    assert not errors, errors


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_saved_search_round_trip_in_the_browser(served: str, page: Any, store: DealStore,
                                                  settings: Settings) -> None:
    page.goto(served + "/?min_profit=5&min_roi=40")
    page.locator("#searches summary").click()
    page.fill("#s-name", "my flips")
    page.click("#save-search button[type=submit]")
    page.wait_for_selector(".chip[data-name='my flips']")
    saved = AlertBook(store).search("my flips")
    assert saved is not None and saved.filter_text == "min_profit=5&min_roi=40"
    page.goto(served + "/")
    page.click(".chip[data-name='my flips'] a")
    page.wait_for_url("**/?min_profit=5&min_roi=40")
    assert page.locator("#f-min_profit").input_value() == "5"
    page.locator("#searches summary").click()
    page.fill("#a-name", "flip alert")
    page.fill("#a-to", f"json://127.0.0.1:9/{SECRET}")
    page.click("#save-alert button[type=submit]")
    page.wait_for_selector(".chip[data-name='flip alert'] .bell")
    assert SECRET not in page.content()
    alert = AlertBook(store).search("flip alert")
    assert alert is not None and alert.is_alert
    page.screenshot(path="/tmp/keepa-deals-saved-searches.png", full_page=False)
    page.click(".chip[data-name='my flips'] .chip-delete")
    page.wait_for_selector(".chip[data-name='my flips']", state="detached")
    assert AlertBook(store).search("my flips") is None
