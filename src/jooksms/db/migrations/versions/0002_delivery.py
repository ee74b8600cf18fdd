"""delivery: claims, leases, transition times, carrier ids of parts, connectors

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jooksms.db.schema_extras import SQLITE_FTS_TRIGGERS
from jooksms.db.types import UTCDateTime

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connectors",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("account_id", ID, nullable=True),
        sa.Column("senders", sa.Text(), nullable=True),
        sa.Column("prefixes", sa.Text(), nullable=True),
        sa.Column("rate", sa.Float(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_connectors_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connectors")),
        sa.UniqueConstraint("name", name=op.f("uq_connectors_name")),
    )
    op.create_table(
        "message_parts",
        sa.Column("id", ID, nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("connector", sa.String(length=64), nullable=False),
        sa.Column("carrier_id", sa.String(length=65), nullable=False),
        sa.Column("seq", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_message_parts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_parts_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_parts")),
        sa.UniqueConstraint(
            "connector", "carrier_id", name=op.f("uq_message_parts_connector_carrier_id")
        ),
    )
    with op.batch_alter_table("message_parts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_message_parts_message_id"), ["message_id"], unique=False
        )

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_message", sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column("attempts", sa.SmallInteger(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.add_column(sa.Column("lease_until", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("connector", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("sending_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("sent_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("delivered_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("failed_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("canceled_at", UTCDateTime(), nullable=True))
        batch_op.create_index(
            "ix_messages_leased",
            ["lease_until"],
            unique=False,
            sqlite_where=sa.text("status = 'sending'"),
            postgresql_where=sa.text("status = 'sending'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_messages_leased",
            sqlite_where=sa.text("status = 'sending'"),
            postgresql_where=sa.text("status = 'sending'"),
        )
        batch_op.drop_column("canceled_at")
        batch_op.drop_column("failed_at")
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("sent_at")
        batch_op.drop_column("sending_at")
        batch_op.drop_column("connector")
        batch_op.drop_column("lease_until")
        batch_op.drop_column("attempts")
        batch_op.drop_column("error_message")

    with op.batch_alter_table("message_parts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_parts_message_id"))

    op.drop_table("message_parts")
    op.drop_table("connectors")
    if op.get_bind().dialect.name == "sqlite":
        # Dropping columns makes batch mode rebuild the table, which drops its triggers.
        for statement in SQLITE_FTS_TRIGGERS:
            op.execute(statement)
