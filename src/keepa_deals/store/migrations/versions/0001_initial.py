"""The initial schema: deals, system_state, ingest_runs, metrics_series, locks.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from keepa_deals.store.types import BigId, UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deals",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("asin", sa.String(10), nullable=False),
        sa.Column("domain_id", sa.SmallInteger(), nullable=False),
        sa.Column("query_name", sa.String(64), nullable=False),
        sa.Column("title", sa.Text()),
        sa.Column("image_url", sa.Text()),
        sa.Column("root_category", sa.BigInteger()),
        sa.Column("category_name", sa.Text()),
        sa.Column("price_type", sa.SmallInteger()),
        sa.Column("current_price_cents", sa.Integer()),
        sa.Column("price_includes_shipping", sa.Boolean(), nullable=False),
        sa.Column("avg30_cents", sa.Integer()),
        sa.Column("avg90_cents", sa.Integer()),
        sa.Column("avg180_cents", sa.Integer()),
        sa.Column("avg365_cents", sa.Integer()),
        sa.Column("percent_below_avg", sa.Float()),
        sa.Column("sales_rank", sa.Integer()),
        sa.Column("rank_drops_30", sa.Integer()),
        sa.Column("rank_drops_90", sa.Integer()),
        sa.Column("rank_drops_180", sa.Integer()),
        sa.Column("rank_drops_365", sa.Integer()),
        sa.Column("offers_used", sa.Integer()),
        sa.Column("offers_new", sa.Integer()),
        sa.Column("offers_fba", sa.Integer()),
        sa.Column("offers_fbm", sa.Integer()),
        sa.Column("amazon_in_stock", sa.Boolean()),
        sa.Column("referral_fee_percent", sa.Float()),
        sa.Column("fba_fee_cents", sa.Integer()),
        sa.Column("est_sale_price_cents", sa.Integer()),
        sa.Column("profit_cents", sa.Integer()),
        sa.Column("roi_percent", sa.Float()),
        sa.Column("margin_percent", sa.Float()),
        sa.Column("first_seen", UTCDateTime(), nullable=False),
        sa.Column("last_seen_in_feed", UTCDateTime()),
        sa.Column("last_refreshed", UTCDateTime()),
        sa.Column("keepa_last_update", UTCDateTime()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deals")),
        sa.UniqueConstraint("asin", "domain_id", name=op.f("uq_deals_asin_domain_id")),
    )
    op.create_index("ix_deals_profit", "deals", ["profit_cents"])
    op.create_index("ix_deals_roi", "deals", ["roi_percent"])
    op.create_index("ix_deals_sales_rank", "deals", ["sales_rank"])
    op.create_index("ix_deals_last_seen", "deals", ["last_seen_in_feed"])
    op.create_index("ix_deals_category", "deals", ["root_category"])
    op.create_index("ix_deals_last_refreshed", "deals", ["last_refreshed"])
    op.create_index("ix_deals_query", "deals", ["query_name"])

    op.create_table(
        "system_state",
        sa.Column("query_name", sa.String(64), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("int_value", sa.BigInteger()),
        sa.Column("text_value", sa.Text()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("query_name", "key", name=op.f("pk_system_state")),
    )

    op.create_table(
        "ingest_runs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("query_name", sa.String(64), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("ended_at", UTCDateTime()),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("version", sa.String(64)),
        sa.Column("tokens_spent", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("deals_added", sa.Integer(), nullable=False),
        sa.Column("deals_updated", sa.Integer(), nullable=False),
        sa.Column("deals_rejected", sa.Integer(), nullable=False),
        sa.Column("deals_removed", sa.Integer(), nullable=False),
        sa.Column("retry_after_s", sa.Float()),
        sa.Column("error", sa.Text()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_runs")),
    )
    op.create_index("ix_ingest_runs_query_started", "ingest_runs", ["query_name", "started_at"])

    op.create_table(
        "metrics_series",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("token_balance", sa.Integer()),
        sa.Column("refill_rate", sa.Integer()),
        sa.Column("tokens_refilled", sa.Integer()),
        sa.Column("deal_count", sa.Integer()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metrics_series")),
    )
    op.create_index("ix_metrics_series_at", "metrics_series", ["at"])

    op.create_table(
        "locks",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("acquired_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_locks")),
    )


def downgrade() -> None:
    op.drop_table("locks")
    op.drop_index("ix_metrics_series_at", table_name="metrics_series")
    op.drop_table("metrics_series")
    op.drop_index("ix_ingest_runs_query_started", table_name="ingest_runs")
    op.drop_table("ingest_runs")
    op.drop_table("system_state")
    for name in (
        "ix_deals_query",
        "ix_deals_last_refreshed",
        "ix_deals_category",
        "ix_deals_last_seen",
        "ix_deals_sales_rank",
        "ix_deals_roi",
        "ix_deals_profit",
    ):
        op.drop_index(name, table_name="deals")
    op.drop_table("deals")
