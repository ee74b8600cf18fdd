"""Signing secrets: an endpoint's, and the account's for its status callbacks.

A secret signs, so it is stored sealed (``jooksms.secret_box``), not hashed, and shown
to the account once, when made. A rotation keeps the old secret signing for
``ROTATION_OVERLAP`` besides the new one (two ``v1,`` signatures, space-separated, as
the Standard Webhooks spec allows), so receivers can switch without losing a POST.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from standardwebhooks import Webhook

from jooksms.events.webhooks.tables import SECRETS
from jooksms.secret_box import SecretBox

PREFIX = "whsec_"
ROTATION_OVERLAP = timedelta(hours=24)


def new_secret() -> str:
    """``whsec_`` and 32 random bytes in base64, as Standard Webhooks libraries take it."""
    return PREFIX + base64.b64encode(os.urandom(32)).decode()


def add(
    session: Session, box: SecretBox, *, account_id: int, endpoint_id: int | None, now: datetime
) -> str:
    """A new secret for the endpoint (or, with None, the account); returns it in clear."""
    secret = new_secret()
    session.execute(
        insert(SECRETS).values(
            account_id=account_id,
            endpoint_id=endpoint_id,
            secret=box.seal(secret),
            created_at=now,
            expires_at=None,
        )
    )
    return secret


def rotate(
    session: Session, box: SecretBox, *, account_id: int, endpoint_id: int | None, now: datetime
) -> str:
    """A new secret; the current one keeps signing until ``now + ROTATION_OVERLAP``. One
    already on its way out goes now: never more than two sign."""
    where = [SECRETS.c.account_id == account_id, _owner(endpoint_id)]
    session.execute(delete(SECRETS).where(*where, SECRETS.c.expires_at.is_not(None)))
    session.execute(
        update(SECRETS)
        .where(*where, SECRETS.c.expires_at.is_(None))
        .values(expires_at=now + ROTATION_OVERLAP)
    )
    return add(session, box, account_id=account_id, endpoint_id=endpoint_id, now=now)


def signing(
    session: Session, box: SecretBox, *, account_id: int, endpoint_id: int | None, now: datetime
) -> list[str]:
    """The secrets that sign now, newest first."""
    rows = session.execute(
        select(SECRETS.c.secret)
        .where(
            SECRETS.c.account_id == account_id,
            _owner(endpoint_id),
            or_(SECRETS.c.expires_at.is_(None), SECRETS.c.expires_at > now),
        )
        .order_by(SECRETS.c.id.desc())
    ).scalars()
    return [box.open(sealed) for sealed in rows]


def account_secret(session: Session, box: SecretBox, *, account_id: int, now: datetime) -> str:
    """The account's current status-callback secret, made on first use."""
    current = signing(session, box, account_id=account_id, endpoint_id=None, now=now)
    return (
        current[0]
        if current
        else add(session, box, account_id=account_id, endpoint_id=None, now=now)
    )


def signature(secrets: Sequence[str], *, webhook_id: str, timestamp: datetime, body: bytes) -> str:
    """The ``webhook-signature`` header: one ``v1,<base64>`` per secret."""
    return " ".join(
        Webhook(secret).sign(msg_id=webhook_id, timestamp=timestamp, data=body)
        for secret in secrets
    )


def _owner(endpoint_id: int | None) -> ColumnElement[bool]:
    if endpoint_id is None:
        return SECRETS.c.endpoint_id.is_(None)
    return SECRETS.c.endpoint_id == endpoint_id
