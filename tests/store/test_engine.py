"""The engine factory: URLs, SQLite set-up, and clear errors for bad or unreachable databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from keepa_deals.errors import ConfigError
from keepa_deals.settings import Settings
from keepa_deals.store import (
    DatabaseUnavailable,
    DealStore,
    create_store_engine,
    parse_database_url,
)
from keepa_deals.store.engine import (
    SQLITE_CACHE_KIB,
    SQLITE_MMAP_BYTES,
    SQLITE_WAL_AUTOCHECKPOINT_PAGES,
    database_url,
    display_url,
    translate_errors,
)


@pytest.mark.parametrize(
    "raw",
    ["postgresql://u:pw@db.example:5432/deals", "postgres://u:pw@db.example:5432/deals",
     "postgresql+psycopg://u:pw@db.example:5432/deals"],
)
def test_postgres_urls_map_to_psycopg3(raw: str) -> None:
    url = parse_database_url(raw)
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.port, url.database, url.username) == ("db.example", 5432, "deals", "u")


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("mysql://u:pw@h/db", "must be postgresql"),
        ("postgresql+asyncpg://u:pw@h/db", "must be postgresql"),
        ("not a url", "not a database URL"),
        ("postgresql://u:pw@h:notaport/db", "not a database URL"),
        ("postgresql://u:pw@h", "names no database"),
    ],
)
def test_unusable_urls_are_config_errors_without_the_password(raw: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        parse_database_url(raw)
    assert "pw" not in str(info.value).replace("***", "")


def test_display_url_hides_the_password() -> None:
    assert display_url("postgresql://u:s3cret@h/db") == "postgresql://u:***@h/db"
    assert "s3cret" not in display_url("postgresql://u:s3cret@h:port/db")


def test_default_is_a_sqlite_file_under_the_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "not" / "yet" / "there"
    settings = Settings(data_dir=data)
    url = database_url(settings)
    assert url.drivername == "sqlite" and url.database == str(data / "keepa-deals.sqlite3")
    with DealStore.open(settings) as store:
        assert store.count_deals() == 0
    assert (data / "keepa-deals.sqlite3").is_file()


def test_database_url_setting_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u@h/x")
    assert database_url(Settings()).drivername == "postgresql+psycopg"


def test_sqlite_connections_are_tuned(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path}/t.sqlite3")
    try:
        with engine.connect() as conn:
            pragma = lambda name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("journal_mode") == "wal"
            assert pragma("foreign_keys") == 1
            assert pragma("synchronous") == 1  # NORMAL
            assert pragma("busy_timeout") >= 1000
            # the settings that keep a save's cost flat as the table grows (docs/store.md)
            assert pragma("cache_size") == -SQLITE_CACHE_KIB
            assert pragma("mmap_size") == SQLITE_MMAP_BYTES
            assert pragma("wal_autocheckpoint") == SQLITE_WAL_AUTOCHECKPOINT_PAGES
    finally:
        engine.dispose()


def test_sqlite_transactions_are_real_transactions(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path}/t.sqlite3")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with pytest.raises(RuntimeError), engine.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            conn.execute(text("CREATE TABLE u (y INTEGER)"))  # DDL is rolled back too
            raise RuntimeError("boom")
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
            assert conn.execute(
                text("SELECT count(*) FROM sqlite_master WHERE name = 'u'")
            ).scalar() == 0
    finally:
        engine.dispose()


def test_unreachable_postgres_is_database_unavailable() -> None:
    url = "postgresql://keepa:s3cret@127.0.0.1:1/deals?connect_timeout=2"
    with pytest.raises(DatabaseUnavailable) as info:
        DealStore.open(url)
    assert "127.0.0.1:1" in str(info.value)
    assert "s3cret" not in str(info.value)
    assert info.value.transient  # worth waiting for (docs/failure-classes.md, FC-30)


def test_unopenable_sqlite_file_is_database_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DatabaseUnavailable) as info:
        DealStore.open(f"sqlite:///{blocker}/sub/deals.sqlite3")
    assert not info.value.transient


def test_a_locked_sqlite_database_is_worth_waiting_for_a_read_only_one_is_not(
        tmp_path: Path) -> None:
    """What a save of paid-for work waits out (FC-30): another writer's lock passes; a
    read-only file does not."""
    path = tmp_path / "deals.sqlite3"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("CREATE TABLE t (x)")
    writer.execute("BEGIN IMMEDIATE")  # holds the write lock
    try:
        impatient = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
        with pytest.raises(DatabaseUnavailable) as locked, translate_errors(), \
                impatient.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        assert "locked" in str(locked.value) and locked.value.transient
        impatient.dispose()
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    read_only = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(DatabaseUnavailable) as ro, translate_errors(), read_only.begin() as conn:
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    assert "readonly" in str(ro.value) and not ro.value.transient
    read_only.dispose()
