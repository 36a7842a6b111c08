"""What a reseller decides on: the profit's breakdown and the risk signals of a deal.

Revision ID: 0006_decide
Revises: 0005_sources
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from keepa_deals.store.types import UTCDateTime

revision: str = "0006_decide"
down_revision: str | None = "0005_sources"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS: tuple[tuple[str, Any], ...] = (
    ("buy_shipping_cents", sa.Integer()),
    ("sale_price_type", sa.SmallInteger()),
    ("sale_price_window", sa.SmallInteger()),
    ("sale_price_fallback", sa.Boolean()),
    ("referral_fee_cents", sa.Integer()),
    ("closing_fee_cents", sa.Integer()),
    ("prep_cents", sa.Integer()),
    ("inbound_shipping_cents", sa.Integer()),
    ("offer_condition", sa.SmallInteger()),
    ("monthly_sold", sa.Integer()),
    ("sales_per_month", sa.Integer()),
    ("price_changed_at", UTCDateTime()),
)

#: name → columns of ``deals``: the list's sort by sales, the new-deals notice's count.
INDEXES: dict[str, list[str]] = {
    "ix_deals_sales_per_month": ["sales_per_month"],
    "ix_deals_first_seen": ["first_seen"],
}


def upgrade() -> None:
    for name, type_ in COLUMNS:
        op.add_column("deals", sa.Column(name, type_))
    for name, columns in INDEXES.items():
        op.create_index(name, "deals", columns)


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.drop_index(name, table_name="deals")
    with op.batch_alter_table("deals") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
