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
    assert "batch b1: the database is unavailable" in caplog.text


def test_past_its_patience_the_error_is_raised_and_the_work_logged_as_given_up(
        caplog: pytest.LogCaptureFixture) -> None:
    t = Timeline(fails=10_000)
    with caplog.at_level(logging.ERROR), pytest.raises(DatabaseUnavailable):
        save_paid(t.save, what="query q", patience_s=30, sleep=t.sleep, monotonic=t.monotonic)
    assert 30 - LONGEST_WAIT_S < t.now <= 30  # it waited out its patience, not more
    assert "query q: given up after" in caplog.text
    assert "KEEPA_DEALS_SAVE_PATIENCE_S=30" in caplog.text


def test_no_patience_means_one_try() -> None:
    t = Timeline(fails=1)
    with pytest.raises(DatabaseUnavailable):
        save_paid(t.save, what="x", patience_s=0, sleep=t.sleep, monotonic=t.monotonic)
    assert len(t.tries) == 1 and not t.waits


@pytest.mark.parametrize("error", [
    SchemaNotCurrent("0006", "0007"),
    DatabaseUnavailable("database unavailable: database or disk is full", transient=False),
], ids=["schema", "disk-full"])
def test_errors_that_waiting_would_not_change_are_raised_at_once(error: Exception) -> None:
    tries = []

    def save() -> None:
        tries.append(1)
        raise error

    with pytest.raises(type(error)):
        save_paid(save, what="x", patience_s=300, sleep=lambda s: None)
    assert len(tries) == 1


def test_no_try_is_made_until_ready_says_so_and_its_error_ends_the_wait() -> None:
    """``ready`` (the run's lock renewed) is asked before each new try: False skips the try
    (the lock's database is away too), and what it raises (the lock lost) is raised."""
    t = Timeline(fails=1)
    answers = iter([False, False, True])
    assert save_paid(t.save, what="x", patience_s=300, ready=lambda: next(answers),
                     sleep=t.sleep, monotonic=t.monotonic) == "saved"
    assert len(t.tries) == 2 and len(t.waits) == 3

    class Lost(Exception):
        pass

    def lost() -> bool:
        raise Lost("the lock expired")

    t = Timeline(fails=1)
    with pytest.raises(Lost):
        save_paid(t.save, what="x", patience_s=300, ready=lost, sleep=t.sleep,
                  monotonic=t.monotonic)
    assert len(t.tries) == 1
