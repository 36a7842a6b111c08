"""save_paid: the save after a paid call is tried again while the database is away, for as
long as its patience, and only then given up (docs/failure-classes.md, FC-30)."""

from __future__ import annotations

import logging

import pytest

from keepa_deals.ingest.paid import LONGEST_WAIT_S, save_paid
from keepa_deals.store import DatabaseUnavailable, SchemaNotCurrent


class Timeline:
    """A clock that moves only when slept on, and a save failing its first ``fails`` tries."""

    def __init__(self, fails: int) -> None:
        self.now = 0.0
        self.fails = fails
        self.tries: list[float] = []
        self.waits: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, s: float) -> None:
        self.waits.append(s)
        self.now += s

    def save(self) -> str:
        self.tries.append(self.now)
        if len(self.tries) <= self.fails:
            raise DatabaseUnavailable("database unavailable: the server is restarting")
        return "saved"


def test_a_save_is_tried_again_with_growing_waits_until_the_database_is_back(
        caplog: pytest.LogCaptureFixture) -> None:
    t = Timeline(fails=12)
    assert save_paid(t.save, what="batch b1", patience_s=300, sleep=t.sleep,
                     monotonic=t.monotonic) == "saved"
    assert len(t.tries) == 13
    assert t.waits[:5] == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.2])
    assert max(t.waits) == LONGEST_WAIT_S
    assert "batch b1: could not save what was paid for" in caplog.text


def test_past_its_patience_the_error_is_raised_and_logged_as_paid_for_and_not_saved(
        caplog: pytest.LogCaptureFixture) -> None:
    t = Timeline(fails=10_000)
    with caplog.at_level(logging.ERROR), pytest.raises(DatabaseUnavailable):
        save_paid(t.save, what="query q", patience_s=30, sleep=t.sleep, monotonic=t.monotonic)
    assert 30 - LONGEST_WAIT_S < t.now <= 30  # it waited out its patience, not more
    assert "query q: paid for and not saved" in caplog.text
    assert "KEEPA_DEALS_SAVE_PATIENCE_S=30" in caplog.text


def test_no_patience_means_one_try() -> None:
    t = Timeline(fails=1)
    with pytest.raises(DatabaseUnavailable):
        save_paid(t.save, what="x", patience_s=0, sleep=t.sleep, monotonic=t.monotonic)
    assert len(t.tries) == 1 and not t.waits


def test_other_errors_are_raised_at_once() -> None:
    tries = []

    def save() -> None:
        tries.append(1)
        raise SchemaNotCurrent("0006", "0007")

    with pytest.raises(SchemaNotCurrent):
        save_paid(save, what="x", patience_s=300, sleep=lambda s: None)
    assert len(tries) == 1
