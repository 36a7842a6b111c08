"""Switching a new SQLite file to WAL while other processes do the same: the losers of
the race are answered "database is locked" at once, and retry."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from keepa_deals.sqlite_wal import switch_to_wal


def test_a_locked_switch_is_retried_until_it_succeeds() -> None:
    answers: list[Exception | None] = [sqlite3.OperationalError("database is locked")] * 2 + [None]
    calls: list[str] = []

    def execute(sql: str) -> None:
        calls.append(sql)
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    switch_to_wal(execute, timeout_s=5)
    assert calls == ["PRAGMA journal_mode=WAL"] * 3


def test_other_errors_and_a_lock_past_the_timeout_are_raised() -> None:
    def broken(_sql: str) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        switch_to_wal(broken, timeout_s=5)

    def locked(_sql: str) -> None:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        switch_to_wal(locked, timeout_s=0.05)


def _open_budget(path: str, start: multiprocessing.synchronize.Event) -> None:
    from keepa_deals.budget.core import MT, Policy
    from keepa_deals.budget.sqlite_store import SqliteStore

    start.wait()
    store = SqliteStore(Path(path))
    store.acquire("w", 1 * MT, Policy())  # opens the file: it must not fail as locked
    store.close()


def test_processes_opening_a_new_budget_file_at_once_all_succeed(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    path = str(tmp_path / "budget.sqlite3")
    procs = [ctx.Process(target=_open_budget, args=(path, start)) for _ in range(4)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0] * 4
