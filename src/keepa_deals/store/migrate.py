"""Schema migrations, driven through Alembic's API from inside the package.

The scripts live in ``keepa_deals/store/migrations`` and ship with the
package, so an installed keepa-deals can migrate its database without a
source checkout.  ``upgrade`` is safe to call from several processes at once:
on PostgreSQL it holds an advisory lock, on SQLite the write lock, for the
whole migration, and a process that finds the schema current does nothing.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine, text

from keepa_deals.store.engine import translate_errors
from keepa_deals.store.errors import MigrationError, SchemaNotCurrent

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: Any constant will do; it names the lock every migrating process takes on PostgreSQL.
_PG_MIGRATION_LOCK = 0x6B65_6570_6164_6C73 & 0x7FFF_FFFF_FFFF_FFFF


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config pointing at the packaged scripts (no alembic.ini needed)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise MigrationError("no migration scripts found")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for an empty database."""
    with translate_errors(engine.url), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to ``revision``; returns (revision before, revision after)."""
    target = head_revision() if revision == "head" else revision
    before = current_revision(engine)
    if before == target:
        return before, before
    with translate_errors(engine.url), engine.connect() as conn:
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            try:
                command.upgrade(alembic_config(conn), revision)
            except CommandError as exc:
                raise MigrationError(f"cannot upgrade the schema to {revision}: {exc}") from None
            after = MigrationContext.configure(conn).get_current_revision()
    return before, after


def ensure_current(engine: Engine) -> None:
    """Raise SchemaNotCurrent unless the database is at the head revision."""
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        raise SchemaNotCurrent(current, head)
