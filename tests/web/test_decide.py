"""What a reseller decides on: the whole profit, the risk signals, the live list's count.

The breakdown is checked for every deal of a 1,000-deal store, priced through the
ingestor's own path, against an oracle written from docs/profit.md: through the API's
detail and through the CSV export.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from keepa_deals.budget import TokenManager
from keepa_deals.cli import app as cli_app
from keepa_deals.clock import FakeClock
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore
from keepa_deals.web import create_app
from tests.web._priced import expected, priced
from tests.web.conftest import Api

N = 1000


@pytest.fixture
def thousand(store: DealStore) -> dict[str, Any]:
    rows, inputs = priced(N)
    by_query: dict[str, list[Any]] = {}
    for name, row in rows:
        by_query.setdefault(name, []).append(row)
    for name, batch in by_query.items():
        store.save_batch(batch, query=name)
    return inputs


def _adds_up(b: dict[str, Any], inp: Any) -> None:
    want = expected(inp)
    assert b["buy_price_cents"] + (b["buy_shipping_cents"] or 0) + b["prep_cents"] \
        + b["inbound_shipping_cents"] == b["cost_cents"] == want["cost_cents"]
    assert b["referral_fee_cents"] + b["closing_fee_cents"] + b["fba_fee_cents"] \
        == b["fees_cents"] == want["fees_cents"]
    assert b["sale_price_cents"] - b["fees_cents"] - b["cost_cents"] == b["profit_cents"] \
        == want["profit_cents"]
    assert b["sale_price_cents"] == want["sale_price_cents"]
    assert b["referral_fee_cents"] == want["referral_fee_cents"]
    assert b["buy_shipping_cents"] == inp.shipping


def test_the_breakdown_adds_up_to_the_profit_for_every_deal_of_1000(
        thousand: dict[str, Any], settings: Settings, store: DealStore, budget: TokenManager,
        clock: FakeClock) -> None:
    app = create_app(settings, engine=store.engine, budget=budget, clock=clock, alerts=None)
    api = Api(app)
    listed = api.get("/api/deals", params={"limit": 200}).json()
    assert listed["total"] == N
    fallbacks = 0
    for asin, inp in thousand.items():
        body = api.get(f"/api/deals/{asin}").json()
        b = body["breakdown"]
        assert b is not None, body
        _adds_up(b, inp)
        assert b["profit_cents"] == body["profit_cents"]
        window = expected(inp)["window"]
        assert b["sale_price_basis"].startswith(f"{window}-day used average")
        fallbacks += "fallback" in b["sale_price_basis"]
        assert (window != inp.query.profit.sale_price_window) == ("fallback" in
                                                                 b["sale_price_basis"])
    assert fallbacks > 50  # the fallbacks were exercised


def test_the_csv_export_carries_the_whole_breakdown_of_every_deal(
        thousand: dict[str, Any], settings: Settings, monkeypatch: pytest.MonkeyPatch,
        db_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    result = CliRunner().invoke(cli_app, ["deals", "export", "--format", "csv"])
    assert result.exit_code == 0, result.output
    records = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(records) == N
    profits = [int(r["profit_cents"]) for r in records]
    assert profits == sorted(profits, reverse=True), "best first"
    for r in records:
        inp = thousand[r["asin"]]
        b = {k: (int(r[k]) if r[k] else None) for k in (
            "buy_shipping_cents", "prep_cents", "inbound_shipping_cents", "cost_cents",
            "referral_fee_cents", "closing_fee_cents", "fba_fee_cents", "fees_cents",
            "profit_cents")}
        b["buy_price_cents"] = int(r["buy_item_cents"])
        b["sale_price_cents"] = int(r["est_sale_price_cents"])
        _adds_up(b, inp)


def test_risk_filters_narrow_the_list(thousand: dict[str, Any], settings: Settings,
                                      store: DealStore, budget: TokenManager,
                                      clock: FakeClock) -> None:
    api = Api(create_app(settings, engine=store.engine, budget=budget, clock=clock,
                         alerts=None))
    body = api.get("/", params={"no_amazon": "1", "min_sales": "40", "max_used_offers": "50"})
    assert body.status_code == 200
    got = api.get("/api/deals", params={"no_amazon": "true", "min_sales": 40,
                                        "max_offers_used": 50, "limit": 200,
                                        "sort": "sales"}).json()
    want = {a for a, inp in thousand.items()}
    assert 0 < got["total"] < len(want)
    sales = []
    for item in got["items"]:
        assert item["amazon_in_stock"] is False
        assert item["sales_per_month"] >= 40
        inp = thousand[item["asin"]]
        # Keepa's figure when it has one, else the 30-day rank drops, labelled an estimate
        if inp.monthly_sold is not None:
            assert item["sales_per_month"] == inp.monthly_sold and not item["sales_estimated"]
        else:
            assert item["sales_per_month"] == inp.drops_30 and item["sales_estimated"]
        assert item["buy_url"].startswith("https://www.amazon.com/gp/offer-listing/")
        assert "f_used=true" in item["buy_url"]
        sales.append(item["sales_per_month"])
    assert sales == sorted(sales, reverse=True)


def test_the_new_deals_count_starts_at_the_page_s_time(
        store: DealStore, settings: Settings, budget: TokenManager, clock: FakeClock) -> None:
    rows, _ = priced(30, seed=9)
    store.save_batch([r for _, r in rows[:10]], query=rows[0][0])
    api = Api(create_app(settings, engine=store.engine, budget=budget, clock=clock,
                         alerts=None))
    opened = store.now()
    assert api.get("/api/deals/new", params={"since": opened.isoformat()}).json()["count"] == 0
    clock.advance(60_000)
    store.save_batch([r for _, r in rows[10:]], query=rows[0][0])
    got = api.get("/api/deals/new", params={"since": opened.isoformat()}).json()
    assert got["count"] == 20
    before = (opened - timedelta(days=1)).isoformat()
    assert api.get("/api/deals/new", params={"since": before}).json()["count"] == 30
    assert api.get("/api/deals/new", params={"since": "yesterday"}).status_code == 422
