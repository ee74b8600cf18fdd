"""carrier credentials sealed at rest: every connector URL stored in plain text is
encrypted under the secret key (JOOKSMS_SECRET_KEY, else the data folder's
secret.key, generated here when missing)

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from jooksms.config import load_settings
from jooksms.secret_box import SecretBox, is_sealed, load_box

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The table as this revision knows it, not as the models may have it later.
_connectors = sa.table("connectors", sa.column("id", sa.Integer), sa.column("url", sa.Text))


def _box() -> SecretBox:
    url = op.get_bind().engine.url.render_as_string(hide_password=False)
    return load_box(load_settings(database_url=url))


def _rewrite(change: str) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_connectors.c.id, _connectors.c.url)).all()
    if not rows:
        return
    box = _box()
    for row_id, url in rows:
        new = box.seal(url) if change == "seal" and not is_sealed(url) else url
        if change == "open":
            new = box.open(url)
        if new != url:
            bind.execute(sa.update(_connectors).where(_connectors.c.id == row_id).values(url=new))


def upgrade() -> None:
    _rewrite("seal")


def downgrade() -> None:
    _rewrite("open")
