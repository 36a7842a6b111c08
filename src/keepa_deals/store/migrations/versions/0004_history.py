"""Deal history: each stored deal's price, rank and offer-count history, compact.

Revision ID: 0004_history
Revises: 0003_alerts
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from keepa_deals.store.types import UTCDateTime

revision: str = "0004_history"
down_revision: str | None = "0003_alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deal_history",
        sa.Column("asin", sa.String(10), nullable=False),
        sa.Column("domain_id", sa.SmallInteger(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("asin", "domain_id", name=op.f("pk_deal_history")),
    )


def downgrade() -> None:
    op.drop_table("deal_history")
