"""Alembic environment of the deal store.

Run through ``keepa_deals.store.migrate`` (or ``keepa-deals db upgrade``),
which hands over an open connection inside a transaction in
``config.attributes["connection"]``.  Without one, the database comes from
the ``sqlalchemy.url`` option, or else from the settings.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from keepa_deals.store import pg_indexes
from keepa_deals.store.schema import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=pg_indexes.include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from keepa_deals.settings import Settings
    from keepa_deals.store.engine import create_store_engine, database_url

    url = context.config.get_main_option("sqlalchemy.url") or database_url(Settings())
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `keepa-deals db upgrade`")
run_migrations_online()
