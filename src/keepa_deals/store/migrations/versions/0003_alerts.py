"""Saved searches, deal alerts, their outbox and the health alerts' state.

Revision ID: 0003_alerts
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from keepa_deals.store.types import BigId, UTCDateTime

revision: str = "0003_alerts"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "saved_searches",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("filter_text", sa.Text(), nullable=False),
        sa.Column("destinations", sa.Text()),
        sa.Column("digest_s", sa.Integer()),
        sa.Column("quiet_hours", sa.String(11)),
        sa.Column("last_digest_at", UTCDateTime()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("name", name="uq_saved_searches_name"),
    )
    op.create_table(
        "alert_seen",
        sa.Column("search_id", sa.BigInteger(), primary_key=True),
        sa.Column("deal_id", sa.BigInteger(), primary_key=True),
        sa.Column("appearances", sa.Integer(), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "alert_outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("destination", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("search_id", sa.BigInteger()),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(128)),
        sa.Column("lease_until", UTCDateTime()),
        sa.Column("batch", sa.String(64)),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime()),
        sa.UniqueConstraint("message_id", "destination",
                            name="uq_alert_outbox_message_id_destination"),
    )
    op.create_index("ix_alert_outbox_due", "alert_outbox", ["status", "next_at"])
    op.create_table(
        "alert_health",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("since", UTCDateTime()),
        sa.Column("fired", sa.Boolean(), nullable=False),
        sa.Column("last_sent_at", UTCDateTime()),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alert_health")
    op.drop_index("ix_alert_outbox_due", table_name="alert_outbox")
    op.drop_table("alert_outbox")
    op.drop_table("alert_seen")
    op.drop_table("saved_searches")
