"""The SQLite store on its own: processes, threads, locks and damaged files.

Invariant (docs/failure-classes.md, FC-7): reservations are atomic across processes, so N
processes sharing one file get exactly the grants the balance allows.  A file
that is locked, unreadable or damaged is a clear BudgetStoreUnavailable, never a
silent local budget; a damaged file is moved aside and the budget asks Keepa.
"""

from __future__ import annotations

import logging
import multiprocessing
import sqlite3
import threading
from pathlib import Path

import pytest

from keepa_deals.budget import open_budget
from keepa_deals.budget.core import MT, Policy
from keepa_deals.budget.manager import TokenManager
from keepa_deals.budget.sqlite_store import FILENAME, SqliteStore, default_path
from keepa_deals.clock import FakeClock
from keepa_deals.redis_db.keys import settings_fingerprint
from keepa_deals.settings import Settings
from keepa_deals.tokens.errors import BudgetStoreUnavailable
from keepa_deals.tokens.status import TokenStatus
from tests.budget._keepa import KeepaAccount

P = Policy()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / FILENAME


def _seed(store: SqliteStore, clock: FakeClock, tokens: int) -> None:
    store.observe(TokenStatus(tokens_left=tokens, refill_in_ms=30_000, refill_rate=5,
                              timestamp_ms=clock.now_ms()), P, authoritative=True)


def _grab_all(store: SqliteStore, prefix: str, cost_mt: int) -> int:
    granted = 0
    while store.acquire(f"{prefix}-{granted}", cost_mt, P).kind == "grant":
        granted += 1
    return granted


def _worker(store: SqliteStore, n: int, barrier: threading.Barrier,
            results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    barrier.wait()
    results.put(_grab_all(store, f"proc{n}", 1 * MT))


def test_processes_get_exactly_the_grants_the_balance_allows(path: Path) -> None:
    clock = FakeClock()  # every process has a copy at the same instant: no refill
    store = SqliteStore(path, clock=clock)
    _seed(store, clock, 120)  # the parent's connection is inherited by the children
    ctx = multiprocessing.get_context("fork")
    n = 4
    barrier = ctx.Barrier(n)
    results = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(store, i, barrier, results)) for i in range(n)]
    for p in procs:
        p.start()
    counts = [results.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert sum(counts) == 120, counts  # available 120 → 1 token each, down to 0
    _, leases = store.raw()
    assert len(leases) == 120 + 1, "and the epoch (budget.state)"
    assert store.snapshot(P).available == 0
    store.close()


def test_threads_get_exactly_the_grants_the_balance_allows(path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore(path, clock=clock)
    _seed(store, clock, 90)
    counts: list[int] = []
    barrier = threading.Barrier(6)

    def work(i: int) -> None:
        barrier.wait()
        counts.append(_grab_all(store, f"t{i}", 1 * MT))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(counts) == 90
    store.close()


def test_schema_and_settings_of_the_file(path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore(path, clock=clock)
    _seed(store, clock, 10)
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
        assert set(tables) == {"budget_fields", "budget_leases", "budget_marker"}
        assert "name TEXT PRIMARY KEY, value TEXT" in tables["budget_fields"]
        assert "id TEXT PRIMARY KEY, value TEXT" in tables["budget_leases"]
        assert dict(db.execute("SELECT name, value FROM budget_fields"))["anchor_tokens"] == "10000"
    finally:
        db.close()
        store.close()


def test_the_file_lives_in_data_dir_apart_from_the_deal_database(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    manager = open_budget(settings, clock=FakeClock())
    try:
        assert isinstance(manager.store, SqliteStore)
        fp = settings_fingerprint(settings)
        assert manager.store.path == default_path(settings.data_dir, fp)
        assert manager.store.path == tmp_path / "data" / f"budget-{fp}.sqlite3"
        assert manager.store.path != settings.sqlite_path
        manager.snapshot()  # creates the directory and the file
        assert manager.store.path.exists()
    finally:
        manager.store.close()


def test_a_closed_store_reconnects(path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore(path, clock=clock)
    _seed(store, clock, 10)
    store.close()
    assert store.snapshot(P).tokens == 10
    store.close()


def test_a_deleted_file_means_unknown_state(path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore(path, clock=clock)
    _seed(store, clock, 10)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    assert store.acquire("w1", 1 * MT, P).kind == "unknown"
    assert path.exists()
    store.close()


# -- failures ---------------------------------------------------------------------


def test_a_locked_file_is_unavailable(path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore(path, clock=clock, busy_timeout_s=0.05)
    _seed(store, clock, 10)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(BudgetStoreUnavailable, match="is locked by another process"):
            store.acquire("w1", 1 * MT, P)
    finally:
        other.rollback()
        other.close()
    assert store.acquire("w1", 1 * MT, P).kind == "grant"
    store.close()


def test_the_manager_retries_a_locked_file_then_raises(path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore(path, clock=clock, busy_timeout_s=0.01)
    keepa = KeepaAccount(clock)
    manager = TokenManager(store, sync=keepa.token, clock=clock)
    store.snapshot(P)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(BudgetStoreUnavailable):
            manager.acquire(1)
    finally:
        other.rollback()
        other.close()
    assert keepa.token_calls == 0
    store.close()


def test_an_unopenable_path_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / FILENAME
    path.mkdir()  # a directory where the file should be
    with pytest.raises(BudgetStoreUnavailable, match="cannot use the token budget file"):
        SqliteStore(path).acquire("w1", 1 * MT, P)


def test_an_uncreatable_directory_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(BudgetStoreUnavailable, match="cannot create the directory"):
        SqliteStore(tmp_path / "file" / FILENAME).snapshot(P)


def test_a_file_that_is_not_a_database_is_moved_aside(path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    garbage = b"this is not an SQLite file\n" * 200
    path.write_bytes(garbage)
    store = SqliteStore(path, clock=FakeClock())
    with caplog.at_level(logging.ERROR, logger="keepa_deals.budget"), \
            pytest.raises(BudgetStoreUnavailable, match="damaged") as info:
        store.acquire("w1", 1 * MT, P)
    aside = list(path.parent.glob(f"{FILENAME}.corrupt-*"))
    assert [p.read_bytes() for p in aside] == [garbage]
    assert aside[0].name in str(info.value)
    assert any("moved it to" in r.getMessage() for r in caplog.records)
    assert store.acquire("w1", 1 * MT, P).kind == "unknown", "recreated empty: ask Keepa"
    store.close()


def test_a_damaged_page_is_moved_aside(path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore(path, clock=clock)
    _seed(store, clock, 10)
    store.close()  # the last connection checkpoints the WAL into the file
    assert not Path(f"{path}-wal").exists()
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) >= 3 * page
    data[page:] = b"\xa5" * (len(data) - page)  # every table page
    path.write_bytes(bytes(data))
    store = SqliteStore(path, clock=clock)
    with pytest.raises(BudgetStoreUnavailable, match="damaged"):
        store.acquire("w1", 1 * MT, P)
    assert store.acquire("w1", 1 * MT, P).kind == "unknown"
    store.close()


def test_the_manager_recovers_from_a_damaged_file_by_asking_keepa(path: Path) -> None:
    path.write_bytes(b"\x00garbage" * 1000)
    clock = FakeClock()
    keepa = KeepaAccount(clock, tokens=50)
    store = SqliteStore(path, clock=clock)
    manager = TokenManager(store, sync=keepa.token, clock=clock)
    assert manager.acquire(5).cost == 5
    assert keepa.token_calls == 1
    store.close()


def test_another_handle_follows_a_file_moved_aside(path: Path) -> None:
    clock = FakeClock()
    a = SqliteStore(path, clock=clock)
    b = SqliteStore(path, clock=clock)
    _seed(a, clock, 10)
    assert b.snapshot(P).tokens == 10
    a.close()
    b.close()
    path.write_bytes(b"garbage" * 1000)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    with pytest.raises(BudgetStoreUnavailable, match="damaged"):
        a.acquire("w1", 1 * MT, P)
    # b opens the fresh file, and never moves it aside in turn
    assert b.acquire("w1", 1 * MT, P).kind == "unknown"
    assert len(list(path.parent.glob(f"{FILENAME}.corrupt-*"))) == 1
    a.close()
    b.close()
