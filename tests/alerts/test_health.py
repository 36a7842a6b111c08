"""Health alerts: the doctor's findings as fired / repeat / resolved messages, each once."""

from __future__ import annotations

import json

from keepa_deals.alerts.health import Condition, HealthMonitor
from keepa_deals.alerts.service import AlertService
from keepa_deals.clock import FakeClock
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore, RunOutcome
from keepa_deals.store.alerting import AlertBook

HOUR_MS = 3_600_000
URL = "json://127.0.0.1:9/health/SECRETHOOKTOKEN"


def _settings(db_url: str, **kw: object) -> Settings:
    return Settings(database_url=db_url, alert_urls=[URL], alert_repeat_h=6, **kw)


def _events(book: AlertBook) -> list[str]:
    return [json.loads(r.payload)["event"] for r in reversed(book.recent(100))
            if r.kind == "health"]


def test_fc25_a_condition_fires_repeats_and_resolves_once_each(
        store: DealStore, clock: FakeClock, db_url: str) -> None:
    settings = _settings(db_url)
    book = AlertBook(store)
    monitor = HealthMonitor(settings, book, direct=lambda mid, p: None)
    bad = Condition("ingestion_stalled", "ingestion is stalled", True, "no progress",
                    {"window_s": 900}, "is the scheduler running?", "keepa-deals doctor")
    assert monitor.step([bad]) == ["ingestion_stalled:fired"]
    clock.advance(HOUR_MS)
    assert monitor.step([bad]) == [], "not again within the repeat interval"
    again = HealthMonitor(settings, book, direct=lambda mid, p: None)  # a restart
    assert again.step([bad]) == [], "the state is in the store"
    clock.advance(6 * HOUR_MS)
    assert again.step([bad]) == ["ingestion_stalled:repeat"]
    good = Condition("ingestion_stalled", "ingestion is stalled", False)
    assert again.step([good]) == ["ingestion_stalled:resolved"]
    assert again.step([good]) == []
    assert _events(book) == ["fired", "repeat", "resolved"]


def test_an_outage_fires_only_past_its_grace(store: DealStore, clock: FakeClock,
                                             db_url: str) -> None:
    monitor = HealthMonitor(_settings(db_url), AlertBook(store), direct=lambda mid, p: None)
    down = Condition("redis_unreachable", "Redis is unreachable", True, "refused", grace_s=300)
    assert monitor.step([down]) == []
    clock.advance(200_000)
    assert monitor.step([down]) == []
    clock.advance(200_000)
    assert monitor.step([down]) == ["redis_unreachable:fired"]
    up = Condition("redis_unreachable", "Redis is unreachable", False)
    blip = HealthMonitor(_settings(db_url), AlertBook(store), direct=lambda mid, p: None)
    assert blip.step([up]) == ["redis_unreachable:resolved"]
    assert blip.step([down]) == [], "a new outage waits for its grace again"


def test_conditions_from_the_store_in_the_doctors_words(store: DealStore, clock: FakeClock,
                                                        db_url: str) -> None:
    settings = _settings(db_url)
    run = store.start_run("used-books-us")
    store.finish_run(run, RunOutcome.ERROR, error="PaymentRequired: Keepa answered 402")
    store.set_state("used-books-us", "janitor_held_back", "ingestion is not healthy")
    store.record_metrics(refill_rate=20, deal_count=0)
    clock.advance(60_000)
    store.record_metrics(refill_rate=5, deal_count=0)
    service = AlertService(settings, store)
    events = service.check_health()
    for name in ("key_refused", "janitor_held_back", "plan_downgrade"):
        assert f"{name}:fired" in events, events
    assert "ingestion_stalled:fired" not in events, "the refused key says it better"
    rows = [json.loads(r.payload) for r in AlertBook(store).recent(50)]
    key = next(p for p in rows if p["name"] == "key_refused")
    assert "402" in key["fix"] and key["summary"].startswith("Keepa refuses the key")
    downgrade = next(p for p in rows if p["name"] == "plan_downgrade")
    assert "5 tokens/min" in downgrade["summary"] and "20/min" in downgrade["summary"]
    for r in AlertBook(store).recent(50):
        assert "SECRETHOOKTOKEN" not in r.payload and "SECRETHOOKTOKEN" not in r.destination


def test_with_the_database_down_a_health_alert_goes_straight_out(tmp_path: object,
                                                                 db_url: str) -> None:
    from keepa_deals.store import create_store_engine

    gone = DealStore(create_store_engine("sqlite:////nonexistent-dir/deals.sqlite3"))
    sent: list[tuple[str, dict[str, object]]] = []
    monitor = HealthMonitor(_settings(db_url), AlertBook(gone),
                            direct=lambda mid, p: sent.append((mid, p)))
    down = Condition("database_unreachable", "the database is unreachable", True,
                     "unable to open database file", grace_s=0)
    assert monitor.step([down]) == ["database_unreachable:fired"]
    assert monitor.step([down]) == [], "the state is kept in memory meanwhile"
    [(mid, payload)] = sent
    assert payload["event"] == "fired" and payload["summary"] == "unable to open database file"
    gone.engine.dispose()
