"""Sources beyond the feed: the currency and the seller's trust of a deal, and Keepa's cache.

Revision ID: 0005_sources
Revises: 0004_history
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from keepa_deals.store.types import UTCDateTime

revision: str = "0005_sources"
down_revision: str | None = "0004_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deals") as batch:
        batch.add_column(sa.Column("currency", sa.String(3)))
        batch.add_column(sa.Column("seller_id", sa.String(32)))
        batch.add_column(sa.Column("seller_trust", sa.Float()))
    op.create_index("ix_deals_seller_trust", "deals", ["seller_trust"])
    op.create_table(
        "keepa_cache",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("domain_id", sa.SmallInteger(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("text_value", sa.Text(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "domain_id", "key", name="pk_keepa_cache"),
    )


def downgrade() -> None:
    op.drop_table("keepa_cache")
    op.drop_index("ix_deals_seller_trust", table_name="deals")
    with op.batch_alter_table("deals") as batch:
        batch.drop_column("seller_trust")
        batch.drop_column("seller_id")
        batch.drop_column("currency")
