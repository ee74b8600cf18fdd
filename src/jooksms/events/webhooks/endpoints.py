"""An account's webhook endpoints: create, read, change, delete. Every query is
scoped by the account: another account's endpoint is not found."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from jooksms.errors import NotFound
from jooksms.events.webhooks import secrets
from jooksms.events.webhooks.tables import ATTEMPTS, DELIVERIES, ENDPOINTS, SECRETS
from jooksms.secret_box import SecretBox
from jooksms.services.pagination import Page, PageRequest

ALL = "*"


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: int
    account_id: int
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    batch: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    created_at: datetime
    updated_at: datetime

    def wants(self, event_type: str) -> bool:
        return ALL in self.event_types or event_type in self.event_types


def normalised_types(event_types: Sequence[str]) -> list[str]:
    """The types as stored: ``["*"]`` for all (an empty list or one naming ``*``)."""
    if not event_types or ALL in event_types:
        return [ALL]
    return sorted(set(event_types))


def create(
    session: Session,
    box: SecretBox,
    *,
    account_id: int,
    url: str,
    event_types: Sequence[str],
    description: str | None,
    enabled: bool,
    batch: bool,
    now: datetime,
) -> tuple[Endpoint, str]:
    """The new endpoint and its secret, in clear (shown once)."""
    endpoint_id = session.execute(
        insert(ENDPOINTS)
        .values(
            account_id=account_id,
            url=url,
            description=description,
            event_types=json.dumps(normalised_types(event_types)),
            enabled=enabled,
            batch=batch,
            created_at=now,
            updated_at=now,
        )
        .returning(ENDPOINTS.c.id)
    ).scalar_one()
    secret = secrets.add(session, box, account_id=account_id, endpoint_id=endpoint_id, now=now)
    return get(session, account_id=account_id, endpoint_id=endpoint_id), secret


def get(session: Session, *, account_id: int, endpoint_id: int) -> Endpoint:
    row = session.execute(
        select(ENDPOINTS).where(ENDPOINTS.c.account_id == account_id, ENDPOINTS.c.id == endpoint_id)
    ).first()
    if row is None:
        raise NotFound(f"no webhook {endpoint_id}")
    return _endpoint(row)


def list_page(session: Session, *, account_id: int, page: PageRequest) -> Page[Endpoint]:
    where = ENDPOINTS.c.account_id == account_id
    total = session.execute(select(func.count()).select_from(ENDPOINTS).where(where)).scalar()
    rows = session.execute(
        select(ENDPOINTS)
        .where(where)
        .order_by(ENDPOINTS.c.id.desc())
        .limit(page.per_page)
        .offset(page.offset)
    ).all()
    return Page(items=[_endpoint(r) for r in rows], total=int(total or 0), request=page)


def enabled_for(session: Session, account_ids: Sequence[int]) -> dict[int, list[Endpoint]]:
    """The enabled endpoints of these accounts, by account."""
    if not account_ids:
        return {}
    rows = session.execute(
        select(ENDPOINTS)
        .where(ENDPOINTS.c.account_id.in_(sorted(set(account_ids))), ENDPOINTS.c.enabled)
        .order_by(ENDPOINTS.c.id)
    ).all()
    found: dict[int, list[Endpoint]] = {}
    for row in rows:
        found.setdefault(row.account_id, []).append(_endpoint(row))
    return found


def change(
    session: Session,
    *,
    account_id: int,
    endpoint_id: int,
    changes: Mapping[str, Any],
    now: datetime,
) -> Endpoint:
    """Apply ``changes`` (url, description, event_types, enabled, batch). Enabling an
    endpoint clears why it was disabled and its run of failures."""
    current = get(session, account_id=account_id, endpoint_id=endpoint_id)
    values: dict[str, Any] = {k: v for k, v in changes.items() if k != "event_types"}
    if "event_types" in changes:
        values["event_types"] = json.dumps(normalised_types(changes["event_types"]))
    if changes.get("enabled") is True and not current.enabled:
        values.update(disabled_reason=None, disabled_at=None, failing_since=None)
    elif changes.get("enabled") is False and current.enabled:
        values.update(disabled_reason="disabled by the account", disabled_at=now)
    session.execute(
        update(ENDPOINTS)
        .where(ENDPOINTS.c.account_id == account_id, ENDPOINTS.c.id == endpoint_id)
        .values(**values, updated_at=now)
    )
    return get(session, account_id=account_id, endpoint_id=endpoint_id)


def remove(session: Session, *, account_id: int, endpoint_id: int) -> None:
    """Delete the endpoint, its secrets and its deliveries (by cascade)."""
    get(session, account_id=account_id, endpoint_id=endpoint_id)
    # Explicit deletes, not only the cascades: SQLite cascades only on connections
    # that turned foreign keys on.
    owned = select(DELIVERIES.c.id).where(
        DELIVERIES.c.account_id == account_id, DELIVERIES.c.endpoint_id == endpoint_id
    )
    session.execute(delete(ATTEMPTS).where(ATTEMPTS.c.delivery_id.in_(owned)))
    session.execute(
        delete(DELIVERIES).where(
            DELIVERIES.c.account_id == account_id, DELIVERIES.c.endpoint_id == endpoint_id
        )
    )
    session.execute(
        delete(SECRETS).where(
            SECRETS.c.account_id == account_id,
            SECRETS.c.endpoint_id == endpoint_id,
        )
    )
    session.execute(
        delete(ENDPOINTS).where(ENDPOINTS.c.account_id == account_id, ENDPOINTS.c.id == endpoint_id)
    )


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        id=row.id,
        account_id=row.account_id,
        url=row.url,
        description=row.description,
        event_types=json.loads(row.event_types),
        enabled=bool(row.enabled),
        batch=bool(row.batch),
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        failing_since=row.failing_since,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
