"""the event log: an events table filled by triggers on messages, in the statement
that stores or moves a message, and the read positions of its durable consumers

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jooksms.db.schema_extras import (
    POSTGRES_EVENTS_DOWN,
    POSTGRES_EVENTS_UP,
    SQLITE_EVENTS_DOWN,
    SQLITE_EVENTS_UP,
)
from jooksms.db.types import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", _ID, nullable=False),
        sa.Column("account_id", _ID, nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("message_id", _ID, nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("data", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_table(
        "event_cursors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_event_cursors"),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_EVENTS_UP if postgres else SQLITE_EVENTS_UP:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_EVENTS_DOWN if postgres else SQLITE_EVENTS_DOWN:
        op.execute(statement)
    op.drop_table("event_cursors")
    op.drop_table("events")
