"""lighter writes on the delivery path: PostgreSQL's search vectors in a table of
their own, and message parts without a foreign key to their message

Every status change writes a new version of the message row. With the search vector
a generated column of that row, PostgreSQL computed it again and added a GIN entry
per word each time. A foreign key on each part locked its message row (FOR KEY
SHARE) as the part was stored. Deleting a message deletes its parts and search
vector by trigger instead.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

from jooksms.db.schema_extras import (
    POSTGRES_SEARCH_TABLE_DOWN,
    POSTGRES_SEARCH_TABLE_UP,
    SQLITE_PARTS_DELETED_DOWN,
    SQLITE_PARTS_DELETED_UP,
)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_PARTS_FK = "fk_message_parts_message_id_messages"


def upgrade() -> None:
    with op.batch_alter_table("message_parts", schema=None) as batch_op:
        batch_op.drop_constraint(_PARTS_FK, type_="foreignkey")
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_SEARCH_TABLE_UP if postgres else SQLITE_PARTS_DELETED_UP:
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_SEARCH_TABLE_DOWN if postgres else SQLITE_PARTS_DELETED_DOWN:
        op.execute(statement)
    with op.batch_alter_table("message_parts", schema=None) as batch_op:
        batch_op.create_foreign_key(
            _PARTS_FK, "messages", ["message_id"], ["id"], ondelete="CASCADE"
        )
