"""Corrupt rows cost themselves only (docs/failure-classes.md, FC-29).

Invariant defended: one row whose values are not of its column's type (a text in a
date, a word in an integer, a blob in a rank, invalid UTF-8 in a title, ...) never
takes a page, an API call or a command down with it: every reader skips or blanks
what it cannot read and goes on; ``doctor`` names the row and ``doctor --fix``
repairs it (or removes it when its identity is unreadable), saying what it did.

The rows are written with raw SQL into a real SQLite store, good rows beside them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from keepa_deals.cli import app as cli_app
from keepa_deals.clock import FakeClock
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore, RunCounts
from tests.ops.conftest import deal, make_settings
from tests.ops.test_cli import env_for, invoke, subprocess_run
from tests.web.conftest import Api

QUERY = "test-books"

#: (column, SQL value, what the row is called): one wrong value per column type.
CORRUPT: list[tuple[str, str, str]] = [
    ("sales_rank", "X'DEADBEEF'", "blob in an integer"),
    ("profit_cents", "'abc'", "text in an integer"),
    ("roi_percent", "'lots'", "text in a float"),
    ("amazon_in_stock", "'maybe'", "text in a boolean"),
    ("title", "CAST(X'41FF42FE' AS TEXT)", "invalid UTF-8 in a text"),
    ("first_seen", "'not a date'", "text in a required datetime"),
    ("last_refreshed", "'yesterday'", "text in a datetime"),
    ("asin", "X'00FF'", "blob in the identity"),
]


def _corrupt_asin(i: int) -> str:
    return f"C{i:09d}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time_ns() // 1_000_000)


@pytest.fixture
def settings(tmp_path: Path, keepa_url: str) -> Settings:
    return make_settings(tmp_path, keepa_url, None)


@pytest.fixture
def corrupt_store(settings: Settings, clock: FakeClock) -> Settings:
    """Good deals and a recent successful run, then one corrupt row per column type."""
    with DealStore.open(settings, clock=clock) as store:
        good = [deal(i) for i in range(5)]
        bad = [deal(100 + i, asin=_corrupt_asin(i)) for i in range(len(CORRUPT))]
        store.save_batch(good + bad, query=QUERY, watermark=9_000_000)
        store.finish_run(store.start_run(QUERY), "ok",
                         RunCounts(added=len(good) + len(bad), pages=1))
        store.record_metrics(deal_count=len(good) + len(bad))
        with store.engine.begin() as conn:
            for i, (column, value, _) in enumerate(CORRUPT):
                conn.execute(text(f"UPDATE deals SET {column} = {value} WHERE asin = :a"),
                             {"a": _corrupt_asin(i)})
    return settings


def _api(settings: Settings, clock: FakeClock) -> tuple[Api, DealStore]:
    from keepa_deals.web import create_app

    store = DealStore.open(settings, clock=clock)
    return Api(create_app(settings, engine=store.engine, clock=clock)), store


def test_fc29_pages_and_api_answer_beside_corrupt_rows(corrupt_store: Settings,
                                                  clock: FakeClock) -> None:
    api, store = _api(corrupt_store, clock)
    try:
        for path in ("/", "/?sort=profit", "/?sort=rank&order=desc", "/?min_profit=1",
                     "/health", "/api/health", "/api/categories", "/api/runs",
                     "/api/series/deals"):
            r = api.get(path)
            assert r.status_code == 200, (path, r.text[:500])
        for query in ("", "sort=profit", "sort=profit&order=asc", "sort=roi", "sort=rank",
                      "sort=last_seen", "sort=margin", "sort=price", "min_profit_cents=100",
                      "min_roi=10", "max_rank=5000000", "q=book", "limit=3&offset=3"):
            r = api.get(f"/api/deals?{query}")
            assert r.status_code == 200, (query, r.text[:500])
        listed = {d["asin"] for d in api.get("/api/deals?limit=200").json()["items"]}
        assert {f"B{i:09d}" for i in range(5)} <= listed
        every = [f"B{i:09d}" for i in range(5)] + [_corrupt_asin(i) for i in range(len(CORRUPT))]
        for asin in every:
            for path in (f"/deals/{asin}", f"/api/deals/{asin}"):
                r = api.get(path)
                assert r.status_code in (200, 404), (path, r.status_code, r.text[:500])
            if asin.startswith("B"):
                assert api.get(f"/api/deals/{asin}").status_code == 200
        # A blanked value: the row reads, the value is unknown.
        assert api.get(f"/api/deals/{_corrupt_asin(1)}").json()["profit_cents"] is None
        # Invalid UTF-8 reads with replacement characters.
        assert api.get(f"/api/deals/{_corrupt_asin(4)}").json()["title"] == "A\ufffdB\ufffd"
        # A required value unreadable: the row is not shown.
        assert api.get(f"/api/deals/{_corrupt_asin(5)}").status_code == 404
        from keepa_deals.ops import metrics

        assert (metrics.value("keepa_deals_store_unreadable_values_total",
                              table="deals", column="profit_cents") or 0) >= 1
    finally:
        store.close()


def test_fc29_commands_answer_and_doctor_names_and_repairs_the_rows(corrupt_store: Settings,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_for(corrupt_store)
    status = invoke(monkeypatch, env, "status", "--json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["deals"]["count"] >= 5
    assert invoke(monkeypatch, env, "status").exit_code == 0
    health = invoke(monkeypatch, env, "health", "--json")
    assert health.exit_code == 0 and json.loads(health.output)["state"] == "healthy", health.output
    assert invoke(monkeypatch, env, "health").exit_code == 0
    for verb in ("status", "health"):  # a real process: no traceback on stderr either
        proc = subprocess_run(env, verb)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    janitor = invoke(monkeypatch, env, "janitor", "--once", "--json")
    assert janitor.exit_code == 0, janitor.output
    listed = invoke(monkeypatch, env, "deals", "list", "--json", "--sort", "profit")
    assert listed.exit_code == 0, listed.output
    exported = invoke(monkeypatch, env, "deals", "export", "--format", "csv")
    assert exported.exit_code == 0, exported.output
    assert len(exported.output.strip().splitlines()) >= 1 + 5, "a header and the good rows"

    # Ingestion's own reads: a row without a readable key is not offered for a refresh.
    with DealStore.open(corrupt_store) as store:
        keys = store.deals_to_refresh(100, query=QUERY)
        assert len(keys) == 5 + len(CORRUPT) - 1 and all(k.asin for k in keys)

    doctor = invoke(monkeypatch, env, "doctor", "--offline", "--check", "corrupt_rows")
    assert doctor.exit_code == 1, doctor.output
    for i, (column, _, _) in enumerate(CORRUPT):
        if column != "asin":
            assert _corrupt_asin(i) in doctor.output, (column, doctor.output)
        assert column in doctor.output
    fixed = invoke(monkeypatch, env, "doctor", "--fix", "--json", "--check", "corrupt_rows")
    checks = {c["name"]: c for c in json.loads(fixed.output)["checks"]}
    assert checks["corrupt_rows"]["verdict"] == "ok", fixed.output
    assert checks["corrupt_rows"]["repaired"]
    repaired = "\n".join(checks["corrupt_rows"]["repaired"])
    for i, (column, _, _) in enumerate(CORRUPT):
        assert column in repaired
    after = invoke(monkeypatch, env, "doctor", "--offline", "--check", "corrupt_rows")
    assert after.exit_code == 0, after.output

    # The repaired rows read clean; those without identity or first_seen are gone.
    with DealStore.open(corrupt_store) as store, store.engine.connect() as conn:
        raw = {r[0]: r for r in conn.exec_driver_sql(
            "SELECT asin, sales_rank, profit_cents, roi_percent, amazon_in_stock, "
            "CAST(title AS BLOB), last_refreshed FROM deals")}
        assert _corrupt_asin(5) not in raw and len(raw) == 5 + len(CORRUPT) - 2
        assert raw[_corrupt_asin(0)][1] is None and raw[_corrupt_asin(1)][2] is None
        assert raw[_corrupt_asin(2)][3] is None and raw[_corrupt_asin(3)][4] is None
        bytes(raw[_corrupt_asin(4)][5]).decode("utf-8")
        assert raw[_corrupt_asin(6)][6] is None
        assert store.get_deal(_corrupt_asin(1)) is not None
    healthy = invoke(monkeypatch, env, "health", "--json")
    assert healthy.exit_code == 0 and json.loads(healthy.output)["state"] == "healthy"


def test_fc29_every_deal_column_is_read_tolerantly() -> None:
    """Wrapped after the table is defined: a column added later is covered too."""
    from keepa_deals.store.corrupt import tolerant_columns
    from keepa_deals.store.schema import DEALS

    assert tolerant_columns() == [c.name for c in DEALS.columns]
