"""Deal alerts: queued in the transaction that writes the deals, announced once per
appearance, delivered to real receivers (a JSON webhook, an SMTP server), retried."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from keepa_deals.alerts.courier import Courier, quiet_until
from keepa_deals.alerts.matching import attach, canonical, matcher_for
from keepa_deals.clock import FakeClock
from keepa_deals.ops.doctor import run_checks
from keepa_deals.settings import Settings
from keepa_deals.store import Changes, DealRow, DealStore
from keepa_deals.store.alerting import AlertBook
from keepa_deals.store.schema import ALERT_OUTBOX
from tests.alerts._receivers import WebhookReceiver, smtp_receiver
from tests.store._rows import SEEN
from tests.store._rows import row as _row

QUERY = "used-books-us"


def row(i: int, **changes: object) -> DealRow:
    """A row that is a deal by the built-in query's thresholds (profit, ROI, margin)."""
    fields: dict[str, object] = {"profit_cents": 600, "roi_percent": 60.0,
                                 "margin_percent": 25.0}
    fields.update(changes)
    return _row(i, **fields)


def _alert(store: DealStore, settings: Settings, name: str, text: str, urls: list[str],
           **kw: object) -> None:
    attach(store, settings)
    text = canonical(text)
    AlertBook(store).save_search(name, text, destinations=urls,
                                 baseline=matcher_for(settings)(text, store.now()), **kw)


def _outbox(store: DealStore) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ALERT_OUTBOX)).scalar_one())


def test_fc26_outbox_rows_are_written_in_the_deals_transaction(store: DealStore,
                                                          settings: Settings) -> None:
    """FC-26: a deal saved is announced; a write rolled back announces nothing."""
    _alert(store, settings, "cheap", "max_price=9", ["json://127.0.0.1:9/x"])
    with pytest.raises(RuntimeError), store.unit_of_work(QUERY) as work:
        work.save_deals([row(1, last_seen_in_feed=store.now())])
        raise RuntimeError("crash before the commit")
    assert store.count_deals() == 0 and _outbox(store) == 0
    store.commit(QUERY, Changes(rows=(row(1, last_seen_in_feed=store.now()),)))
    assert store.count_deals() == 1 and _outbox(store) == 1


def test_fc26_a_deal_is_announced_once_unless_it_left_and_came_back(
        store: DealStore, settings: Settings, clock: FakeClock) -> None:
    _alert(store, settings, "cheap", "max_price=9&min_profit=4", ["json://127.0.0.1:9/x"])
    now = store.now()
    store.commit(QUERY, Changes(rows=(row(1, last_seen_in_feed=now),
                                      row(2, last_seen_in_feed=now, profit_cents=100))))
    assert _outbox(store) == 1, "only the matching deal"
    store.commit(QUERY, Changes(rows=(row(1, last_seen_in_feed=now),)))
    assert _outbox(store) == 1, "seen again: not announced again"
    store.commit(QUERY, Changes(refreshed=(row(1, current_price_cents=2500),)))
    assert _outbox(store) == 1, "left the filter (price up)"
    store.commit(QUERY, Changes(refreshed=(row(1, current_price_cents=800),)))
    assert _outbox(store) == 2, "came back into it: announced again"
    store.commit(QUERY, Changes(refreshed=(row(2, profit_cents=700),)))
    assert _outbox(store) == 3, "a stored deal whose profit rose into the filter"


def test_a_new_alert_does_not_announce_what_is_stored_already(
        store: DealStore, settings: Settings) -> None:
    store.commit(QUERY, Changes(rows=(row(1, last_seen_in_feed=store.now()),)))
    _alert(store, settings, "all", "", ["json://127.0.0.1:9/x"])
    store.commit(QUERY, Changes(rows=(row(1, last_seen_in_feed=store.now()),
                                      row(2, last_seen_in_feed=store.now()))))
    assert _outbox(store) == 1


def test_the_webhook_gets_one_message_per_deal_with_its_fields_and_a_stable_id(
        store: DealStore, settings: Settings) -> None:
    with WebhookReceiver() as hook:
        _alert(store, settings, "cheap", "min_profit=4", [hook.url()])
        store.commit(QUERY, Changes(rows=tuple(row(i, last_seen_in_feed=store.now())
                                               for i in range(1, 4))))
        report = Courier(settings, AlertBook(store)).drain()
        assert report.sent == 3
        got = hook.wait_for(3)
        assert len(got) == 3 and hook.duplicates() == 0
        text = got[0]["body"]["message"]
        for part in ("profit $6.00", "ROI 60 %", "sales rank", "amazon.com/dp/B00000000",
                     "keepa.com/#!product/1-B00000000"):
            assert part in text, part
        assert got[0]["headers"]["x-keepa-deals-message-id"] in hook.ids()
        assert Courier(settings, AlertBook(store)).drain().sent == 0, "sent is sent"


def test_fc26_a_receiver_answering_500_then_200_gets_the_message_after_a_retry(
        store: DealStore, settings: Settings, clock: FakeClock) -> None:
    with WebhookReceiver(fail_first=1) as hook:
        _alert(store, settings, "cheap", "", [hook.url()])
        store.commit(QUERY, Changes(rows=(row(1, last_seen_in_feed=store.now()),)))
        courier = Courier(settings, AlertBook(store))
        first = courier.drain()
        assert first.failed == 1 and hook.received == []
        assert courier.drain().sent == 0, "not before its backoff"
        clock.advance(2_000)
        assert courier.drain().sent == 1
        assert hook.answers == [500, 200] and len(hook.received) == 1
        [r] = AlertBook(store).recent(1)
        assert r.status == "sent" and r.attempts == 1


def test_fc26_a_dead_destination_is_given_up_on_and_shown_masked(
        store: DealStore, clock: FakeClock, db_url: str) -> None:
    settings = Settings(database_url=db_url, alert_retry_s=1, alert_max_attempts=2,
                        alert_timeout_s=1)
    secret = "json://127.0.0.1:9/hooks/VERYSECRETTOKEN"
    _alert(store, settings, "cheap", "", [secret])
    store.commit(QUERY, Changes(rows=(row(1, last_seen_in_feed=store.now()),)))
    courier = Courier(settings, AlertBook(store))
    assert courier.drain().failed == 1
    clock.advance(5_000)
    report = courier.drain()
    assert report.dead == 1 and "VERYSECRETTOKEN" not in json.dumps(report.as_dict())
    [r] = AlertBook(store).recent(1)
    assert r.status == "dead" and "VERYSECRETTOKEN" not in (r.error or "")
    [check] = run_checks(settings, only=["alerts"], clock=clock)
    assert check.verdict == "warn" and "json://127.0.0.1/***" in check.summary
    assert "VERYSECRETTOKEN" not in json.dumps(check.as_dict(), default=str)


def test_mailto_reaches_a_real_smtp_server(store: DealStore, settings: Settings) -> None:
    with smtp_receiver() as (port, received):
        url = (f"mailto://alerts:pw1234@example.com?smtp=127.0.0.1&port={port}"
               "&to=buyer@example.com&from=alerts@example.com")
        _alert(store, settings, "cheap", "", [url])
        store.commit(QUERY, Changes(rows=(row(1, last_seen_in_feed=store.now()),)))
        assert Courier(settings, AlertBook(store)).drain().sent == 1
        assert len(received) == 1
        text = received[0].content.decode(errors="replace")
        assert "B000000001" in text and "pw1234" not in text


def test_a_digest_sends_the_best_deals_in_one_message(store: DealStore, settings: Settings,
                                                      clock: FakeClock) -> None:
    with WebhookReceiver() as hook:
        _alert(store, settings, "cheap", "", [hook.url()], digest_s=900)
        store.commit(QUERY, Changes(rows=tuple(
            row(i, last_seen_in_feed=store.now(), profit_cents=1000 + 100 * i)
            for i in range(1, 13))))
        assert Courier(settings, AlertBook(store)).drain().sent == 12
        [msg] = hook.wait_for(1)
        body = msg["body"]["message"]
        assert "12 new deals" in msg["body"]["title"] and "and 2 more" in body
        assert body.index("$22.00") < body.index("$21.00"), "best first"
        store.commit(QUERY, Changes(rows=(row(20, last_seen_in_feed=store.now()),)))
        courier = Courier(settings, AlertBook(store))
        assert courier.drain().deferred == 1, "at most one digest per interval"
        clock.advance(901_000)
        assert courier.drain().sent == 1 and len(hook.wait_for(2)) == 2


def test_quiet_hours_hold_messages_until_they_end() -> None:
    at = SEEN.replace(hour=23, minute=30)
    assert quiet_until("22:00-07:00", at) == (at + timedelta(days=1)).replace(hour=7, minute=0)
    assert quiet_until("22:00-07:00", at.replace(hour=12)) is None
    night = at.replace(hour=1, minute=5)
    assert quiet_until("01:00-02:00", night) == at.replace(hour=2, minute=0)


def test_fc26_a_hanging_destination_costs_one_timeout_per_drain(
        store: DealStore, db_url: str) -> None:
    """The courier tries a destination that does not answer once per drain, within its
    timeout, and puts the other messages back: the drain ends in bounded time."""
    import time

    settings = Settings(database_url=db_url, alert_timeout_s=1, alert_drain_budget_s=5)
    with WebhookReceiver(delay_s=4) as slow:
        _alert(store, settings, "all", "", [slow.url()])
        store.commit(QUERY, Changes(rows=tuple(row(i, last_seen_in_feed=store.now())
                                               for i in range(1, 11))))
        started = time.monotonic()
        report = Courier(settings, AlertBook(store)).drain()
        took = time.monotonic() - started
        assert report.failed == 1 and report.deferred == 9 and report.sent == 0
        assert took < 3.5, f"the drain took {took:.1f} s"
