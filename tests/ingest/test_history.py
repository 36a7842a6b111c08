"""Deal history: it comes with the paid call that saves a deal, costs no token more, is
stored bounded, and the API serves it (real sandbox over HTTP, SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

from keepa_deals.ingest import IngestEnv, smart_ingestor
from keepa_deals.query import DealQuery
from keepa_deals.store import DealStore
from keepa_deals.store.history import MAX_POINTS_PER_SERIES
from keepa_deals.web import create_app
from tests.ingest.conftest import Recorder, stored, with_offers
from tests.web.conftest import Api


def _histories(store: DealStore) -> dict[str, dict[str, int]]:
    out = {}
    for asin, row in stored(store).items():
        h = store.deal_history(asin, row.domain_id)
        if h is not None:
            out[asin] = {name: len(points) for name, points in h.series.items()}
    return out


def test_every_deal_saved_by_the_product_check_has_its_history(
    db_url: str, make_env: Callable[..., IngestEnv], query: DealQuery,
) -> None:
    rec = Recorder()
    env = make_env(db_url, transport=rec)
    report = smart_ingestor(env, query)
    deals = stored(env.store)
    assert report.counts.added == len(deals) > 0
    histories = _histories(env.store)
    assert set(histories) == set(deals)
    for asin, counts in histories.items():
        # a year of used prices and ranks, downsampled, and never more than the bound
        assert counts["used"] >= 2 and counts["sales_rank"] >= 2, (asin, counts)
        assert max(counts.values()) <= MAX_POINTS_PER_SERIES
    calls = rec.products()
    assert calls and all(c.params["history"] == "1" and c.params["days"] == "365"
                         for c in calls)


def test_with_offers_only_the_offers_call_carries_history(
    db_url: str, make_env: Callable[..., IngestEnv], query: DealQuery,
) -> None:
    rec = Recorder()
    env = make_env(db_url, transport=rec)
    smart_ingestor(env, with_offers(query))
    assert stored(env.store)
    assert set(_histories(env.store)) == set(stored(env.store))
    for call in rec.products():
        assert call.params["history"] == ("1" if call.offers else "0"), call


def test_history_costs_no_token(
    db_url: str, make_env: Callable[..., IngestEnv], query: DealQuery,
) -> None:
    """The same product check with and without history: the same tokensConsumed."""
    env = make_env(db_url)
    asins = list(stored_after_run(env, query))[:20]
    client = env.client
    without = client.products(asins, stats=90, history=False)
    with_history = client.products(asins, stats=90, history=True, days=365)
    assert without.status and with_history.status
    assert with_history.status.tokens_consumed == without.status.tokens_consumed == len(asins)


def stored_after_run(env: IngestEnv, query: DealQuery) -> dict[str, object]:
    smart_ingestor(env, query)
    return dict(stored(env.store))


def test_the_api_serves_the_history_of_a_stored_deal(
    db_url: str, make_env: Callable[..., IngestEnv], query: DealQuery,
) -> None:
    env = make_env(db_url)
    deals = stored_after_run(env, query)
    app = create_app(env.settings, engine=env.store.engine, budget=None, clock=env.clock,
                     alerts=None)
    api = Api(app)
    asin = sorted(deals)[0]
    r = api.get(f"/api/deals/{asin}/history")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["asin"] == asin and body["days"] == 365 and body["updated_at"]
    by_name = {s["name"]: s for s in body["series"]}
    assert {"used", "sales_rank"} <= set(by_name)
    for s in body["series"]:
        assert len(s["points"]) >= 2, s["name"]
        times = [t for t, _ in s["points"]]
        assert times == sorted(times)
    assert body["buy_price_cents"] == deals[asin].current_price_cents  # type: ignore[attr-defined]
    # a shorter range, and the errors
    short = api.get(f"/api/deals/{asin}/history", params={"days": 30}).json()
    start = min(p[0] for s in short["series"] for p in s["points"])
    last = max(p[0] for s in body["series"] for p in s["points"])
    assert last - start <= 31 * 86400
    assert api.get("/api/deals/B000000000/history").status_code == 404
    assert api.get(f"/api/deals/{asin}/history", params={"days": 400}).status_code == 422
    assert api.get(f"/api/deals/{asin}/history", params={"bogus": 1}).status_code == 422
    page = api.get(f"/deals/{asin}")
    assert page.status_code == 200 and 'class="history-table"' in page.text
