"""Invariant: deal rows and the watermark are saved together or not at all (docs/failure-classes.md, FC-8, FC-9).

A failure or a crash at any point of ``save_batch`` leaves neither rows nor a
watermark behind, so no paid-for deal is lost to a watermark that moved ahead
of it, and re-running the batch never duplicates a deal.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from keepa_deals.keepa.time import datetime_to_keepa_minutes
from keepa_deals.store import DealStore
from tests.store._rows import row

ROOT = Path(__file__).resolve().parents[2]


class Injected(RuntimeError):
    pass


@contextmanager
def fail_on(store: DealStore, needle: str, *, nth: int = 1) -> Iterator[list[str]]:
    """Raise Injected at the ``nth`` statement containing ``needle``; yields the statements seen."""
    seen: list[str] = []

    def hook(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)
        if needle in statement and sum(needle in s for s in seen) == nth:
            raise Injected(f"injected failure at {needle!r}")

    event.listen(store.engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", hook)


def test_failure_at_the_watermark_write_leaves_no_rows(store: DealStore) -> None:
    with fail_on(store, "system_state") as seen, pytest.raises(Injected):
        store.save_batch([row(i) for i in range(50)], query="q", watermark=7_000_000)
    assert any("INSERT INTO deals" in s for s in seen), "the rows were written before the failure"
    assert store.count_deals() == 0
    assert store.get_watermark("q") is None
    assert store.engine.pool.checkedout() == 0


def test_failure_in_a_later_executemany_batch_leaves_nothing(store: DealStore) -> None:
    store.save_batch([row(0)], query="q", watermark=100)
    with fail_on(store, "INSERT INTO deals", nth=2), pytest.raises(Injected):
        store.save_batch([row(i, current_price_cents=1) for i in range(2500)], query="q",
                         watermark=200)
    assert store.count_deals() == 1
    assert store.get_deal(row(0).asin).current_price_cents == 799  # type: ignore[union-attr]
    assert store.get_watermark("q").keepa_minute == 100  # type: ignore[union-attr]


def test_after_a_failure_the_same_batch_saves_once(store: DealStore) -> None:
    rows = [row(i) for i in range(20)]
    with fail_on(store, "system_state"), pytest.raises(Injected):
        store.save_batch(rows, query="q", watermark=300)
    result = store.save_batch(rows, query="q", watermark=300)
    assert (result.added, result.updated, result.watermark) == (20, 0, 300)
    again = store.save_batch(rows, query="q", watermark=300)
    assert (again.added, again.updated) == (0, 20)
    assert store.count_deals() == 20


CRASH = textwrap.dedent(
    """
    import os, sys
    from sqlalchemy import event
    from keepa_deals.store import DealStore
    from tests.store._rows import row

    store = DealStore.open(sys.argv[1])
    def hook(conn, cursor, statement, *args):
        if "system_state" in statement:
            os._exit(17)   # the process dies mid-transaction: no rollback, no cleanup
    event.listen(store.engine, "before_cursor_execute", hook)
    store.save_batch([row(i) for i in range(300)], query="q", watermark=9_000_000)
    """
)


def test_a_process_killed_mid_save_leaves_neither_rows_nor_watermark(
    store: DealStore, db_url: str
) -> None:
    store.save_batch([row(1000)], query="q", watermark=100)
    proc = subprocess.run([sys.executable, "-c", CRASH, db_url], capture_output=True, timeout=50,
                          cwd=ROOT)
    assert proc.returncode == 17, proc.stderr.decode()
    assert store.count_deals() == 1
    assert store.get_watermark("q").keepa_minute == 100  # type: ignore[union-attr]
    # And the database is usable at once (no lock left behind by the dead writer).
    assert store.save_batch([row(1)], query="q", watermark=150).watermark == 150


def test_watermark_only_moves_forward(store: DealStore) -> None:
    assert store.get_watermark("q") is None
    assert store.save_batch([row(1)], query="q", watermark=1000).watermark == 1000
    assert store.save_batch([row(2)], query="q", watermark=900).watermark == 1000
    assert store.save_batch([row(3)], query="q").watermark == 1000  # None: untouched
    assert store.save_batch([], query="q", watermark=1200).watermark == 1200
    assert store.get_watermark("other") is None


def test_watermark_reads_as_keepa_minutes_and_a_datetime(store: DealStore) -> None:
    newest = datetime(2027, 1, 15, 7, 42, tzinfo=UTC)
    minute = datetime_to_keepa_minutes(newest)
    store.save_batch([row(1)], query="q", watermark=minute)
    wm = store.get_watermark("q")
    assert wm is not None
    assert wm.keepa_minute == minute
    assert wm.at == newest
    assert wm.updated_at == datetime(2027, 1, 15, 8, 0, tzinfo=UTC)


def test_set_watermark_resets_backwards_and_clears(store: DealStore) -> None:
    store.save_batch([row(1)], query="q", watermark=1000)
    store.set_watermark("q", 10)
    assert store.get_watermark("q").keepa_minute == 10  # type: ignore[union-attr]
    store.set_watermark("q", None)
    assert store.get_watermark("q") is None


@pytest.mark.parametrize("bad", [0, -5, 1.5, "1000", True])
def test_bad_watermarks_are_refused_before_writing(store: DealStore, bad: object) -> None:
    with pytest.raises(Exception, match="watermark"):
        store.save_batch([row(1)], query="q", watermark=bad)  # type: ignore[arg-type]
    assert store.count_deals() == 0


def test_other_state_values(store: DealStore) -> None:
    store.set_state("q", "cursor", "B000000001")
    store.set_state("q", "pages_seen", 12)
    assert store.get_state("q", "cursor") == "B000000001"
    assert store.get_state("q", "pages_seen") == 12
    store.set_state("q", "pages_seen", None)
    assert store.get_state("q", "pages_seen") is None
