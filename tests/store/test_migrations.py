"""Invariant: one canonical schema, migrated before any write (docs/failure-classes.md, FC-15)."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from keepa_deals.store import DealStore, SchemaNotCurrent, create_store_engine, migrate
from keepa_deals.store.schema import Base

TABLES = {"deals", "system_state", "ingest_runs", "metrics_series", "locks", "alembic_version",
          "saved_searches", "alert_seen", "alert_outbox", "alert_health"}


def test_migrations_apply_from_empty(db_url: str) -> None:
    engine = create_store_engine(db_url)
    try:
        assert migrate.current_revision(engine) is None
        before, after = migrate.upgrade(engine)
        assert (before, after) == (None, migrate.head_revision())
        assert set(inspect(engine).get_table_names()) == TABLES
        # Upgrading again changes nothing.
        assert migrate.upgrade(engine) == (after, after)
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    engine = create_store_engine(db_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            diffs = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diffs == []
    finally:
        engine.dispose()


def test_dashboard_and_janitor_indexes_exist(store: DealStore) -> None:
    indexed = {tuple(ix["column_names"]) for ix in inspect(store.engine).get_indexes("deals")}
    for cols in [("profit_cents",), ("roi_percent",), ("sales_rank",), ("last_seen_in_feed",),
                 ("root_category",), ("last_refreshed",)]:
        assert cols in indexed


def test_open_migrates_and_open_without_migrating_refuses_an_old_schema(db_url: str) -> None:
    with pytest.raises(SchemaNotCurrent, match="keepa-deals db upgrade"):
        DealStore.open(db_url, migrate_schema=False)
    with DealStore.open(db_url) as s:
        assert migrate.current_revision(s.engine) == migrate.head_revision()
    with DealStore.open(db_url, migrate_schema=False) as s:
        assert s.count_deals() == 0


def test_downgrade_then_upgrade_round_trips(db_url: str) -> None:
    from alembic import command

    engine = create_store_engine(db_url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)
        assert set(inspect(engine).get_table_names()) == TABLES
    finally:
        engine.dispose()


def test_concurrent_upgrades_both_succeed(db_url: str) -> None:
    """Two processes starting at once on an empty database must not trip over each other."""
    engines = [create_store_engine(db_url) for _ in range(3)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(engines))

    def run(engine) -> None:  # noqa: ANN001
        try:
            barrier.wait()
            migrate.upgrade(engine)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert migrate.current_revision(engines[0]) == migrate.head_revision()
    finally:
        for e in engines:
            e.dispose()
