"""The deal list's indexes on PostgreSQL: the title search, sorts by a column of few values.

PostgreSQL only (SQLite's indexes stay as they are).  A trigram index of lower(title)
(pg_trgm) for the title search: installs the extension when it is missing; when the
migrating user may not (or the server does not ship it), logs a warning and goes on
without that index (the search then reads every title).  And (value, id) indexes of the
sort columns of few values (sales a month, rank drops 30 and 90, percent below average),
so a page sorted by one of them is read in order instead of sorting every tied row.  See
``keepa_deals.store.pg_indexes`` and docs/dashboard.md ("Speed").

Revision ID: 0007_title_search
Revises: 0006_decide
Create Date: 2026-12-05
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alembic import op

from keepa_deals.store import pg_indexes

revision: str = "0007_title_search"
down_revision: str | None = "0006_decide"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("keepa_deals.store")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for name, column in pg_indexes.TIE_BROKEN.items():
        op.create_index(name, "deals", [column, "id"])
    problem = pg_indexes.create_title_index(bind)
    if problem is not None:
        log.warning(
            "title search left without its index: cannot install the %s extension (%s); "
            "searches read every title. To add it later: %s",
            pg_indexes.EXTENSION, problem, pg_indexes.MANUAL_SQL)


def downgrade() -> None:
    # The extension stays: other things may use it, and dropping it needs its owner.
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {pg_indexes.TITLE_INDEX}")
    for name in reversed(pg_indexes.TIE_BROKEN):
        op.drop_index(name, table_name="deals")
