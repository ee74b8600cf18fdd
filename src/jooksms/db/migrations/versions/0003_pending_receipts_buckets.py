"""receipts waiting for their part, and connectors' shared token buckets

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jooksms.db.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_receipts",
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("carrier_id", sa.String(length=65), nullable=False),
        sa.Column("delivered", sa.Boolean(), nullable=False),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("connector", "carrier_id", name=op.f("pk_pending_receipts")),
    )
    op.create_table(
        "connector_buckets",
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("connector", name=op.f("pk_connector_buckets")),
    )


def downgrade() -> None:
    op.drop_table("connector_buckets")
    op.drop_table("pending_receipts")
