"""GET /api/health, /api/series/tokens, /api/series/deals and /api/runs."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from keepa_deals.budget.core import RechargeView, Snapshot
from keepa_deals.clock import FakeClock
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore, RunCounts
from keepa_deals.web import series
from keepa_deals.web.models import Alert
from tests.web._deals import N_CURRENT, seed
from tests.web.conftest import NOW, QUERY, START_MS, Api

HOUR_MS = 3600 * 1000


def _run(store: DealStore, clock: FakeClock, at_h_ago: float, outcome: str, *,
         added: int = 0, removed: int = 0, retry_after_s: float | None = None,
         error: str | None = None, query: str = QUERY, took_s: float = 30) -> int:
    clock.set(START_MS - int(at_h_ago * HOUR_MS))
    run_id = store.start_run(query)
    clock.advance(took_s * 1000)
    store.finish_run(run_id, outcome, RunCounts(added=added, removed=removed, tokens_spent=15),
                     retry_after_s=retry_after_s, error=error)
    return run_id


@pytest.fixture
def history(store: DealStore, clock: FakeClock) -> dict[str, Any]:
    seed(store, clock)
    _run(store, clock, 30, "ok", added=5)
    _run(store, clock, 10, "waiting_for_tokens", retry_after_s=1800)
    _run(store, clock, 9.6, "waiting_for_tokens", retry_after_s=1200)  # overlaps: one period
    _run(store, clock, 5, "ok", added=40, removed=2)
    _run(store, clock, 3, "error", error="KeepaServerError: 503")
    _run(store, clock, 1.5, "ok", added=12, removed=1)
    _run(store, clock, 0.25, "waiting_for_tokens", retry_after_s=3600)  # still waiting now
    for h, balance, deals in [(25, 200, 20), (24, 150, 30), (12, 40, 45), (9.5, -150, 50),
                              (6, 10, 55), (1, 120, 60), (0.1, 90, 61)]:
        store.record_metrics(token_balance=balance, refill_rate=5, deal_count=deals,
                             at=NOW - timedelta(hours=h))
    clock.set(START_MS)
    return {}


def test_health_reports_tokens_deals_runs_and_alerts(
    api: Api, history: dict[str, Any], settings: Settings
) -> None:
    r = api.get("/api/health")
    assert r.status_code == 200
    h = r.json()
    t = h["tokens"]
    assert t["available"] is True and t["store"] == "sqlite"
    assert t["projected"] == 240 and t["refill_rate"] == 5 and t["cap"] == 300
    assert t["floor"] == settings.budget_floor == -180
    assert t["state"] == "ready" and t["why"]
    d = h["deals"]
    assert d["count"] == N_CURRENT and d["by_query"] == {QUERY: N_CURRENT}
    trend = {tr["hours"]: tr for tr in d["trend"]}
    assert trend[1.0]["then"] == 60 and trend[1.0]["change"] == N_CURRENT - 60
    assert trend[24.0]["then"] == 30 and trend[24.0]["change"] == N_CURRENT - 30
    assert d["definition"]["grace_hours"] == settings.janitor_grace_h
    assert [x["outcome"] for x in h["last_runs"][:3]] == ["waiting_for_tokens", "ok", "error"]
    assert len(h["last_runs"]) == 7
    assert h["last_ok_run"]["deals_added"] == 12
    assert h["alerts_source"] == "doctor"
    assert all(a["level"] in ("warn", "fail") for a in h["alerts"])
    assert h["version"]


def test_health_without_a_budget_still_answers(
    settings: Settings, store: DealStore, clock: FakeClock, history: dict[str, Any]
) -> None:
    from keepa_deals.web import create_app

    app = create_app(settings, engine=store.engine, budget=None, clock=clock, alerts=None)
    h = Api(app).get("/api/health").json()
    assert h["tokens"]["available"] is False and h["tokens"]["state"] == "unreachable"
    assert h["tokens"]["error"]
    assert h["deals"]["count"] == N_CURRENT
    assert h["alerts"] == [] and h["alerts_source"].startswith("none")


def test_alerts_come_from_the_alert_source_and_a_failing_source_is_reported(
    settings: Settings, store: DealStore, clock: FakeClock
) -> None:
    from keepa_deals.errors import KeepaDealsError
    from keepa_deals.web import create_app

    def alerts() -> list[Alert]:
        return [Alert(level="fail", name="stuck", summary="no progress", fix="run it")]

    h = Api(create_app(settings, engine=store.engine, budget=None, clock=clock,
                       alerts=alerts)).get("/api/health").json()
    assert h["alerts"] == [{"level": "fail", "name": "stuck", "summary": "no progress",
                            "fix": "run it"}]

    def broken() -> list[Alert]:
        raise KeepaDealsError("redis unreachable")

    h = Api(create_app(settings, engine=store.engine, budget=None, clock=clock,
                       alerts=broken)).get("/api/health").json()
    assert h["alerts"] == [] and h["alerts_source"] == "unavailable: redis unreachable"


def test_token_series_with_floor_cap_and_recharge_periods(
    api: Api, history: dict[str, Any]
) -> None:
    s = api.get("/api/series/tokens", params={"hours": 24}).json()
    assert s["floor"] == -180 and s["cap"] == 300
    assert [p["balance"] for p in s["points"]] == [150, 40, -150, 10, 120, 90]
    assert all(p["low"] == p["high"] == p["balance"] for p in s["points"])
    periods = s["recharge_periods"]
    assert len(periods) == 2
    first, last = periods
    # 10 h ago (+30 s) for 1800 s, merged with 9.6 h ago (+30 s) for 1200 s.
    assert first["start"] == "2027-01-14T22:00:30Z"
    assert first["end"] == "2027-01-14T22:44:30Z"
    assert first["ongoing"] is False and first["source"] == "run"
    assert last["ongoing"] is True and last["end"] == "2027-01-15T08:00:00Z"
    assert s["end"] == "2027-01-15T08:00:00Z" and s["start"] == "2027-01-14T08:00:00Z"


def test_token_series_thins_long_windows_keeping_the_dips(
    api: Api, history: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(series, "MAX_POINTS", 3)
    s = api.get("/api/series/tokens", params={"hours": 26}).json()
    assert len(s["points"]) <= 3
    assert min(p["low"] for p in s["points"]) == -150
    assert max(p["high"] for p in s["points"]) == 200


def test_deal_series_has_counts_and_each_runs_changes(api: Api, history: dict[str, Any]) -> None:
    s = api.get("/api/series/deals", params={"hours": 24}).json()
    assert [p["count"] for p in s["points"]] == [30, 45, 50, 55, 60, 61]
    assert s["current"] == N_CURRENT
    assert [(r["outcome"], r["added"], r["removed"]) for r in s["runs"]] == [
        ("waiting_for_tokens", 0, 0), ("waiting_for_tokens", 0, 0), ("ok", 40, 2),
        ("error", 0, 0), ("ok", 12, 1), ("waiting_for_tokens", 0, 0)]
    longer = api.get("/api/series/deals", params={"hours": 48}).json()
    assert longer["runs"][0]["added"] == 5 and len(longer["points"]) == 7


def test_a_budget_in_recharge_mode_is_a_period_until_now() -> None:
    snap = Snapshot(now_ms=START_MS, known=True, problems=(), tokens=0, rate=5, cap=300,
                    projected=10, available=10, anchor_age_s=5.0, next_refill_in_ms=1000,
                    leases=(), recharge=RechargeView(since_ms_ago=600_000, deadline_in_ms=300_000,
                                                     target_mt=5_000),
                    last_sync_age_s=1.0)

    class NoRuns:
        def execute(self, stmt: Any) -> list[Any]:
            return []

    window = series.Window.last(NOW, 24)
    periods = series.recharge_periods(NoRuns(), window, snap, NOW)  # type: ignore[arg-type]
    assert [(p.start, p.end, p.ongoing, p.source) for p in periods] == [
        (NOW - timedelta(minutes=10), NOW, True, "budget")]


def test_runs_newest_first_with_paging_and_filters(api: Api, history: dict[str, Any]) -> None:
    body = api.get("/api/runs").json()
    assert [r["outcome"] for r in body["items"]][:2] == ["waiting_for_tokens", "ok"]
    assert len(body["items"]) == 7 and body["limit"] == 20
    page = api.get("/api/runs", params={"limit": 2, "offset": 2}).json()
    assert [r["id"] for r in page["items"]] == [r["id"] for r in body["items"][2:4]]
    oks = api.get("/api/runs", params={"outcome": "ok"}).json()["items"]
    assert [r["deals_added"] for r in oks] == [12, 40, 5]
    errors = api.get("/api/runs", params={"outcome": "error"}).json()["items"]
    assert errors[0]["error"] == "KeepaServerError: 503"
    assert api.get("/api/runs", params={"query": "other"}).json()["items"] == []
    assert len(api.get("/api/runs", params={"query": QUERY}).json()["items"]) == 7


@pytest.mark.parametrize(("path", "params"), [
    ("/api/series/tokens", {"hours": 0}),
    ("/api/series/tokens", {"hours": -1}),
    ("/api/series/tokens", {"hours": "nan"}),
    ("/api/series/deals", {"hours": 24 * 91}),
    ("/api/series/deals", {"hour": 5}),
    ("/api/runs", {"limit": 0}),
    ("/api/runs", {"outcome": "great"}),
    ("/api/runs", {"query": "Bad Name"}),
    ("/api/health", {"verbose": 1}),
])
def test_bad_parameters_are_422(api: Api, path: str, params: dict[str, Any]) -> None:
    r = api.get(path, params=params)
    assert r.status_code == 422, r.text
    assert r.json()["message"]


def test_an_empty_store_has_an_empty_history(api: Api) -> None:
    h = api.get("/api/health").json()
    assert h["deals"]["count"] == 0 and h["last_runs"] == [] and h["last_ok_run"] is None
    assert all(tr["then"] is None for tr in h["deals"]["trend"])
    assert api.get("/api/series/tokens").json()["points"] == []
    assert api.get("/api/series/deals").json()["runs"] == []
