"""Sources beyond the deal feed, end to end: real HTTP to the sandbox, a real store.

Product Finder pages resume from a cursor and a complete sweep restarts on
schedule; best-seller lists and ASIN/barcode files feed the same stages; a
listed product is not bought twice within the re-check window; barcodes are
resolved once and cached; a query may combine sources.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from keepa_deals.clock import FakeClock
from keepa_deals.ingest import IngestEnv, smart_ingestor
from keepa_deals.ingest.listed import CODE_CACHE
from keepa_deals.query import DealQuery
from keepa_deals.query.sources import BestSellersSpec, FeedSpec, FinderSpec, ListSpec
from keepa_deals.sandbox import Sandbox
from keepa_deals.store import RunOutcome
from tests.ingest.conftest import KEY, Recorder, stored, with_offers

BOOKS = 283155
SELECTION = {"rootCategory": [BOOKS], "current_USED_gte": 400, "current_USED_lte": 5000,
             "deltaPercent90_USED_gte": 30}
HOUR_MS = 3_600_000


def sourced(query: DealQuery, *specs: object, name: str = "sourced") -> DealQuery:
    return query.model_copy(update={"name": name, "sources": list(specs)})


def finder(**kw: object) -> FinderSpec:
    return FinderSpec.model_validate({"kind": "finder", "selection": SELECTION,
                                      "per_page": 50, **kw})


def test_a_finder_sweep_resumes_where_the_last_run_ended_and_restarts_on_schedule(
    db_url: str, make_env: Callable[..., IngestEnv], clock: FakeClock, query: DealQuery,
) -> None:
    rec = Recorder()
    env = make_env(db_url, transport=rec)
    q = sourced(query, finder(pages_per_run=1, sweep_every_h=2))

    def pages() -> list[int]:
        return [json.loads(c.params["selection"])["page"] for c in rec.calls
                if c.endpoint == "query"]

    total = env.client.finder(SELECTION, per_page=50).total_results
    rec.calls.clear()
    sweep = -(-total // 50)
    assert 2 <= sweep <= 8, f"the sandbox lists {total} products: choose another selection"
    for _ in range(sweep + 2):  # 10 minutes apart: all within the sweep's two hours
        report = smart_ingestor(env, q)
        assert report.outcome is RunOutcome.OK, report.error
        clock.advance(10 * 60_000)
    assert pages() == list(range(sweep)), "one page per run, each where the last ended"
    assert all(json.loads(c.params["selection"])["perPage"] == 50
               for c in rec.calls if c.endpoint == "query")
    clock.advance(2 * HOUR_MS)  # the sweep began more than two hours ago: it starts again
    smart_ingestor(env, q)
    assert pages()[-1] == 0 and len(pages()) == sweep + 1


def test_finder_candidates_go_through_the_same_stages_and_are_not_bought_twice(
    db_url: str, make_env: Callable[..., IngestEnv], clock: FakeClock, query: DealQuery,
    sandbox: Sandbox,
) -> None:
    rec = Recorder()
    env = make_env(db_url, transport=rec)
    q = sourced(query, finder(pages_per_run=2, sweep_every_h=0.1))
    first = smart_ingestor(env, q)
    assert first.outcome is RunOutcome.OK, first.error
    bought = [a for c in rec.products() for a in c.asins]
    assert len(bought) == len(set(bought)) > 0
    assert first.checked_stats == len(bought)
    assert first.counts.added + first.counts.rejected == len(bought)
    rows = stored(env.store)
    assert len(rows) == first.counts.added
    assert all(r.query_name == "sourced" and r.currency == "USD" for r in rows.values())
    # the sweep restarts (0.1 h later): the products listed again are not bought again
    # (stored or rejected); only the ones that newly match the selection are
    clock.advance(HOUR_MS)
    n, listed = len(rec.products()), len([c for c in rec.calls if c.endpoint == "query"])
    again = smart_ingestor(env, q)
    assert again.outcome is RunOutcome.OK
    assert json.loads([c for c in rec.calls if c.endpoint == "query"][listed]
                      .params["selection"])["page"] == 0
    rebought = {a for c in rec.products()[n:] for a in c.asins} & set(bought)
    assert not rebought and again.skipped_stored > 0
    assert sandbox.account(KEY).tokens_consumed == first.counts.tokens_spent + \
        again.counts.tokens_spent


def test_best_sellers_are_read_once_a_day_and_worked_through(
    db_url: str, make_env: Callable[..., IngestEnv], clock: FakeClock, query: DealQuery,
) -> None:
    rec = Recorder()
    env = make_env(db_url, transport=rec)
    q = sourced(query, BestSellersSpec(kind="bestsellers", category=BOOKS, max_asins=150))
    report = smart_ingestor(env, q)
    assert report.outcome is RunOutcome.OK, report.error
    assert len([c for c in rec.calls if c.endpoint == "bestsellers"]) == 1
    assert report.checked_stats == 150
    clock.advance(HOUR_MS)
    again = smart_ingestor(env, q)
    assert len([c for c in rec.calls if c.endpoint == "bestsellers"]) == 1
    assert again.checked_stats == 0  # the list was worked through; read again in a day


def test_a_list_file_of_asins_and_barcodes_is_checked_and_its_barcodes_cached(
    db_url: str, make_env: Callable[..., IngestEnv], clock: FakeClock, query: DealQuery,
    tmp_path: Path,
) -> None:
    rec = Recorder()
    env = make_env(db_url, transport=rec)
    asins = [a for a in env.client.finder(SELECTION, per_page=50).asins][:6]
    products = env.client.products(asins[3:])
    eans = [p.raw["eanList"][0] for p in products]
    listing = tmp_path / "scanned.csv"
    listing.write_text("code,note\n" + "".join(f"{a},\n" for a in asins[:3])
                       + "".join(f"{e},scanned\n" for e in eans))
    q = sourced(query, ListSpec(kind="list", path=str(listing)))
    rec.calls.clear()
    report = smart_ingestor(env, q)
    assert report.outcome is RunOutcome.OK, report.error
    by_code = [c for c in rec.products() if "code" in c.params]
    assert len(by_code) == 1 and by_code[0].params["code-limit"] == "1"
    checked = [a for c in rec.products() if "asin" in c.params for a in c.asins]
    assert sorted(checked) == sorted(asins)
    cached = env.store.cache_read(CODE_CACHE, 1, eans)
    assert {e: json.loads(v.text) for e, v in cached.items()} == {
        e: [p.asin] for e, p in zip(eans, products, strict=True)}
    # the next run, a day later: the barcodes come from the cache, not from Keepa
    clock.advance(25 * HOUR_MS)
    rec.calls.clear()
    smart_ingestor(env, q)
    assert not [c for c in rec.products() if "code" in c.params]


def test_one_query_combines_the_feed_and_the_finder(
    db_url: str, make_env: Callable[..., IngestEnv], query: DealQuery,
) -> None:
    rec = Recorder()
    env = make_env(db_url, transport=rec)
    q = sourced(query, finder(), FeedSpec())
    report = smart_ingestor(env, q)
    assert report.outcome is RunOutcome.OK, report.error
    endpoints = [c.endpoint for c in rec.calls if c.endpoint in ("deal", "query")]
    assert endpoints[0] == "deal" and "query" in endpoints  # the feed first
    assert report.watermark is not None and report.scan_complete
    bought = [a for c in rec.products() for a in c.asins]
    assert len(bought) == len(set(bought))


def test_seller_trust_is_stored_for_survivors_and_sellers_are_cached(
    db_url: str, make_env: Callable[..., IngestEnv], clock: FakeClock, query: DealQuery,
) -> None:
    rec = Recorder()
    env = make_env(db_url, transport=rec)
    q = with_offers(sourced(query, finder(pages_per_run=2)))
    report = smart_ingestor(env, q)
    assert report.outcome is RunOutcome.OK, report.error
    rows = [r for r in stored(env.store).values()]
    assert rows and all(r.seller_id for r in rows)
    assert all(r.seller_trust is not None and 0 <= r.seller_trust <= 100 for r in rows)
    asked = [s for c in rec.calls if c.endpoint == "seller" for s in c.params["seller"].split(",")]
    assert sorted(asked) == sorted({r.seller_id for r in rows if r.seller_id})
    # a seller is asked of Keepa at most once a day: another query buying the same
    # products an hour later rates them from the cache
    clock.advance(HOUR_MS)
    rec.calls.clear()
    other = smart_ingestor(env, q.model_copy(update={"name": "sourced-again"}))
    assert other.outcome is RunOutcome.OK and other.checked_offers > 0
    again = {s for c in rec.calls if c.endpoint == "seller" for s in c.params["seller"].split(",")}
    assert not again & set(asked)


def test_every_source_works_on_amazon_co_uk(
    db_url: str, make_env: Callable[..., IngestEnv], query: DealQuery,
) -> None:
    env = make_env(db_url)
    uk_books = 266239
    sel = query.selection.model_copy(update={"domain_id": 2, "include_categories": [uk_books]})
    f = query.filters
    q = query.model_copy(update={
        "name": "used-books-gb", "selection": sel,
        "filters": f.model_copy(update={"feed": f.feed.model_copy(
            update={"categories": [uk_books]})}),
        "sources": [FeedSpec(), FinderSpec(kind="finder", per_page=50, selection={
            "rootCategory": [uk_books], "current_USED_gte": 300})]})
    report = smart_ingestor(env, q)
    assert report.outcome is RunOutcome.OK, report.error
    rows = stored(env.store).values()
    assert rows and {r.domain_id for r in rows} == {2} and {r.currency for r in rows} == {"GBP"}


def test_a_query_without_the_feed_keeps_no_checked_products_in_its_ledger(
    db_url: str, make_env: Callable[..., IngestEnv], clock: FakeClock, query: DealQuery,
) -> None:
    """The ledger is written with every commit: without a watermark to prune it, a finder
    query's checked products would pile up in it for ever (what was bought lately is
    remembered apart, for the re-check window only)."""
    from keepa_deals.ingest.ledger import LEDGER_KEY, Ledger

    env = make_env(db_url)
    q = sourced(query, finder(pages_per_run=2))
    for _ in range(3):
        assert smart_ingestor(env, q).outcome is RunOutcome.OK
        clock.advance(HOUR_MS)
    ledger = Ledger.loads(str(env.store.get_state(q.name, LEDGER_KEY) or ""))
    assert ledger.count("done") == 0 and ledger.count("stats") == 0
    memory = json.loads(str(env.store.get_state(q.name, "ingest_listed")))
    assert len(memory) > 0
