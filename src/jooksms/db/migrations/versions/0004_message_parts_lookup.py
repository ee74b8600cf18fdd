"""message parts: the carrier id leads its unique index; no account foreign key

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message_parts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_message_parts_connector_carrier_id", type_="unique")
        batch_op.drop_constraint("fk_message_parts_account_id_accounts", type_="foreignkey")
        batch_op.create_unique_constraint(
            "uq_message_parts_carrier_id_connector", ["carrier_id", "connector"]
        )


def downgrade() -> None:
    with op.batch_alter_table("message_parts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_message_parts_carrier_id_connector", type_="unique")
        batch_op.create_foreign_key(
            "fk_message_parts_account_id_accounts",
            "accounts",
            ["account_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_unique_constraint(
            "uq_message_parts_connector_carrier_id", ["connector", "carrier_id"]
        )
