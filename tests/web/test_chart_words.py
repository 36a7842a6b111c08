"""What the health page says beside its charts: one status that agrees with the budget's
state, and a falling deal count said first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from keepa_deals.web import charts, models

NOW = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)


def _health(state: str | None, alerts: list[models.Alert], source: str = "doctor") -> Any:
    tokens = models.Tokens(available=state != "unreachable", store="sqlite", state=state,
                           why="waiting for the refill" if state else None, floor=0)
    return models.Health.model_construct(tokens=tokens, alerts=alerts, alerts_source=source)


def test_no_green_beside_an_amber_budget() -> None:
    for state in ("recharging", "low", "unknown"):
        v = charts.status(_health(state, []))
        assert v.level == "warn" and state in v.text and "No failing checks" in v.text
    assert charts.status(_health("unreachable", [])).level == "fail"
    ok = charts.status(_health("ready", []))
    assert ok.level == "ok" and "ready" in ok.text


def test_failing_checks_come_first_and_name_the_budget_state() -> None:
    alerts = [models.Alert(level="fail", name="ingestion", summary="stalled"),
              models.Alert(level="warn", name="yield", summary="dropped")]
    v = charts.status(_health("recharging", alerts))
    assert v.level == "fail" and "1 failing" in v.text and "recharging" in v.text
    assert charts.status(_health("ready", alerts[1:])).level == "warn"


def _deals(counts: list[int], current: int) -> models.DealSeries:
    points = [models.CountPoint(at=NOW - timedelta(minutes=20 * (len(counts) - i)), count=c)
              for i, c in enumerate(counts)]
    return models.DealSeries(start=NOW - timedelta(hours=6), end=NOW, points=points, runs=[],
                             current=current)


def test_a_decline_from_the_peak_is_said_first() -> None:
    v = charts.deal_trend(_deals([150, 170, 182, 175, 169], 169), 6)
    assert v.direction == "down" and v.level == "warn"
    assert v.text.startswith("Down 13 (-7 %) since") and "182 then" in v.text
    below_start = charts.deal_trend(_deals([182, 180], 170), 6)
    assert below_start.direction == "down" and below_start.text.startswith("Down 12")


def test_a_rise_or_a_wobble_is_not_a_decline() -> None:
    assert charts.deal_trend(_deals([100, 120], 130), 6).direction == "up"
    assert charts.deal_trend(_deals([100, 101], 100), 6).direction == "flat"  # 1 % below
    assert charts.deal_trend(_deals([], 0), 6).level == "warn"


def test_the_token_words_name_the_cap_and_the_floor() -> None:
    series = models.TokenSeries(
        start=NOW - timedelta(hours=6), end=NOW, floor=-180, cap=300, recharge_periods=[],
        points=[models.TokenPoint(at=NOW - timedelta(hours=1), balance=250, low=250, high=250,
                                  refill_rate=5),
                models.TokenPoint(at=NOW, balance=-200, low=-200, high=-200, refill_rate=5)])
    v = charts.token_trend(series, -200)
    assert "300 cap" in v.text and "floor -180" in v.text and "lowest -200" in v.text
    assert v.direction == "down" and v.level == "warn"
