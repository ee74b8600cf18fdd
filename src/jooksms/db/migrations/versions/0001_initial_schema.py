"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jooksms.db.schema_extras import (
    POSTGRES_FTS_DOWN,
    POSTGRES_FTS_UP,
    SQLITE_FTS_DOWN,
    SQLITE_FTS_UP,
)
from jooksms.db.types import UTCDateTime

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_table(
        "api_clients",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_api_clients_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_api_clients_client_id")),
    )
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_clients_account_id"), ["account_id"], unique=False)

    op.create_table(
        "contact_groups",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_contact_groups_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_groups")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_contact_groups_account_id_name")),
    )
    with op.batch_alter_table("contact_groups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_groups_account_id_id"), ["account_id", "id"], unique=False
        )

    op.create_table(
        "contacts",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("main_phone", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=255), nullable=True),
        sa.Column("is_public", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("status", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_contacts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contacts_account_id_id"), ["account_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_contacts_account_id_main_phone"),
            ["account_id", "main_phone"],
            unique=False,
        )

    op.create_table(
        "message_counts",
        sa.Column("account_id", ID, nullable=False),
        sa.Column("shard", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_message_counts_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "shard", name=op.f("pk_message_counts")),
    )
    op.create_table(
        "phone_numbers",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_phone_numbers_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_numbers")),
        sa.UniqueConstraint("number", name=op.f("uq_phone_numbers_number")),
    )
    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_phone_numbers_account_id_id"), ["account_id", "id"], unique=False
        )

    op.create_table(
        "access_tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=128), nullable=False),
        sa.Column("client_pk", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_access_tokens_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["api_clients.id"],
            name=op.f("fk_access_tokens_client_pk_api_clients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_access_tokens_token_hash")),
    )
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_tokens_client_pk"), ["client_pk"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_access_tokens_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "contact_group_members",
        sa.Column("group_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_contact_group_members_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_group_members_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["contact_groups.id"],
            name=op.f("fk_contact_group_members_group_id_contact_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", "contact_id", name=op.f("pk_contact_group_members")),
    )
    with op.batch_alter_table("contact_group_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contact_group_members_contact_id"), ["contact_id"], unique=False
        )

    op.create_table(
        "messages",
        sa.Column("id", ID, nullable=False),
        sa.Column("account_id", ID, nullable=False),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("from_number", sa.String(length=32), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("external_id", sa.BigInteger(), nullable=True),
        sa.Column("segments", sa.SmallInteger(), nullable=False),
        sa.Column("encoding", sa.String(length=8), nullable=False),
        sa.Column("scheduled_at", UTCDateTime(), nullable=True),
        sa.Column("send_at", UTCDateTime(), nullable=True),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_messages_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_messages_account_id_created_at"),
            ["account_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_messages_account_id_external_id_id"),
            ["account_id", "external_id", "id"],
            unique=False,
            sqlite_where=sa.text("external_id IS NOT NULL"),
            postgresql_where=sa.text("external_id IS NOT NULL"),
        )
        batch_op.create_index(
            batch_op.f("ix_messages_account_id_id"), ["account_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_messages_account_id_number_id"),
            ["account_id", "number", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_messages_due",
            ["send_at", "id"],
            unique=False,
            sqlite_where=sa.text("status IN ('queued', 'scheduled')"),
            postgresql_where=sa.text("status IN ('queued', 'scheduled')"),
        )

    _run(SQLITE_FTS_UP if _dialect() == "sqlite" else POSTGRES_FTS_UP)


def downgrade() -> None:
    _run(SQLITE_FTS_DOWN if _dialect() == "sqlite" else POSTGRES_FTS_DOWN)
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_messages_due",
            sqlite_where=sa.text("status IN ('queued', 'scheduled')"),
            postgresql_where=sa.text("status IN ('queued', 'scheduled')"),
        )
        batch_op.drop_index(batch_op.f("ix_messages_account_id_number_id"))
        batch_op.drop_index(batch_op.f("ix_messages_account_id_id"))
        batch_op.drop_index(batch_op.f("ix_messages_account_id_external_id_id"))
        batch_op.drop_index(batch_op.f("ix_messages_account_id_created_at"))

    op.drop_table("messages")
    with op.batch_alter_table("contact_group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_group_members_contact_id"))

    op.drop_table("contact_group_members")
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_tokens_expires_at"))
        batch_op.drop_index(batch_op.f("ix_access_tokens_client_pk"))

    op.drop_table("access_tokens")
    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phone_numbers_account_id_id"))

    op.drop_table("phone_numbers")
    op.drop_table("message_counts")
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contacts_account_id_main_phone"))
        batch_op.drop_index(batch_op.f("ix_contacts_account_id_id"))

    op.drop_table("contacts")
    with op.batch_alter_table("contact_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contact_groups_account_id_id"))

    op.drop_table("contact_groups")
    with op.batch_alter_table("api_clients", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_clients_account_id"))

    op.drop_table("api_clients")
    op.drop_table("accounts")


def _dialect() -> str:
    return op.get_bind().dialect.name


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)
