"""Invariant: one canonical schema, migrated before any write (docs/failure-classes.md, FC-15)."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from keepa_deals.store import DealStore, SchemaNotCurrent, create_store_engine, migrate, pg_indexes
from keepa_deals.store.schema import Base

TABLES = {"deals", "system_state", "ingest_runs", "metrics_series", "locks", "alembic_version",
          "saved_searches", "alert_seen", "alert_outbox", "alert_health", "deal_history",
          "keepa_cache"}


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
                MigrationContext.configure(conn, opts={
                    "compare_type": True, "include_object": pg_indexes.include_object}),
                Base.metadata,
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


def test_the_list_indexes_only_postgresql_has(db_url: str) -> None:
    """0007_title_search: on PostgreSQL a trigram index of lower(title) and (value, id)
    indexes of the sorts by few values; SQLite's indexes unchanged.  A downgrade drops
    them and an upgrade brings them back."""
    from alembic import command

    engine = create_store_engine(db_url)
    try:
        migrate.upgrade(engine)
        if engine.dialect.name == "sqlite":
            names = {ix["name"] for ix in inspect(engine).get_indexes("deals")}
            assert names.isdisjoint(pg_indexes.NAMES)
            with engine.begin() as conn:
                command.downgrade(migrate.alembic_config(conn), "0006_decide")
            assert migrate.current_revision(engine) == "0006_decide"
            return
        with engine.connect() as conn:
            assert all(pg_indexes.index_present(conn, name) for name in pg_indexes.NAMES)
            assert pg_indexes.extension_schema(conn) is not None
        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "0006_decide")
        with engine.connect() as conn:
            assert not any(pg_indexes.index_present(conn, name) for name in pg_indexes.NAMES)
        migrate.upgrade(engine)
        with engine.connect() as conn:
            assert all(pg_indexes.index_present(conn, name) for name in pg_indexes.NAMES)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_title_search_without_the_right_to_install_pg_trgm(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A user who may not create extensions migrates all the same: no index, a warning, and
    the search still finds its deals."""
    import uuid
    from urllib.parse import quote

    import psycopg

    from keepa_deals.clock import FakeClock
    from keepa_deals.deals_view import DealDefinition
    from keepa_deals.query import load_builtin
    from keepa_deals.web.listing import ListRequest, list_deals
    from tests._services import postgres_database
    from tests.store._rows import asin, row

    role = f"kd_noext_{uuid.uuid4().hex[:8]}"
    with postgres_database() as admin_url:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'"
                                ).fetchone() == (0,)
            conn.execute(f'CREATE ROLE "{role}" LOGIN')
            conn.execute(f'CREATE SCHEMA deals_app AUTHORIZATION "{role}"')
        try:
            base, _, db = admin_url.rpartition("/")
            scheme, _, host = base.partition("://")
            url = (f"{scheme}://{role}@{host.rpartition('@')[2]}/{db}"
                   f"?options={quote('-csearch_path=deals_app')}")
            caplog.set_level("WARNING", logger="keepa_deals.store")
            clock = FakeClock(1_800_000_000_000)
            with DealStore.open(url, clock=clock) as store:
                assert migrate.current_revision(store.engine) == migrate.head_revision()
                with store.engine.connect() as conn:
                    assert not pg_indexes.index_present(conn)
                    assert pg_indexes.extension_schema(conn) is None
                    assert all(pg_indexes.index_present(conn, n) for n in pg_indexes.TIE_BROKEN)
                store.save_batch([row(1, title="The Garden of Forking Paths", profit_cents=900,
                                      roi_percent=90.0, margin_percent=40.0)],
                                 query="used-books-us")
                definition = DealDefinition.for_queries([load_builtin("used-books-us")])
                with store.engine.connect() as conn:
                    found = list_deals(conn, definition, store.now(),
                                       ListRequest.model_validate({"q": "GARDEN"}))
                assert [r.asin for r in found.rows] == [asin(1)]
            warned = [r.getMessage() for r in caplog.records if "pg_trgm" in r.getMessage()]
            assert len(warned) == 1 and "without its index" in warned[0], warned
            assert pg_indexes.TITLE_INDEX in warned[0]
        finally:
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute("DROP SCHEMA deals_app CASCADE")
                conn.execute(f'DROP ROLE "{role}"')
