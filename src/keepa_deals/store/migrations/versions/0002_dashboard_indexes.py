"""Indexes of the dashboard: every sortable column of the deal list, and recent runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: name → (table, columns)
INDEXES: dict[str, tuple[str, list[str]]] = {
    "ix_deals_margin": ("deals", ["margin_percent"]),
    "ix_deals_rank_drops_30": ("deals", ["rank_drops_30"]),
    "ix_deals_rank_drops_90": ("deals", ["rank_drops_90"]),
    "ix_deals_price": ("deals", ["current_price_cents"]),
    "ix_deals_percent_below": ("deals", ["percent_below_avg"]),
    "ix_ingest_runs_started": ("ingest_runs", ["started_at"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in reversed(INDEXES.items()):
        op.drop_index(name, table_name=table)
