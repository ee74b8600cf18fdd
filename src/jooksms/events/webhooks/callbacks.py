"""Per-message status callbacks: the URL a message was sent with, called on each of
its events. Kept in a table of its own, written only for messages that have one,
so that sending without a callback costs nothing more."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from jooksms.events.webhooks.tables import CALLBACKS

if TYPE_CHECKING:
    from jooksms.services.messages import AcceptJob


def store(
    session: Session, jobs: Sequence[AcceptJob], order: Sequence[int], ids: Sequence[int]
) -> None:
    """Called by ``accept_batch`` once its rows have ids: ``order`` is the job of each
    block of rows, ``ids`` the rows' ids, in the same order as the jobs' drafts."""
    rows: list[dict[str, Any]] = []
    position = 0
    for index in order:
        job = jobs[index]
        for draft in job.drafts:
            if draft.status_callback is not None:
                rows.append(
                    {
                        "message_id": ids[position],
                        "account_id": job.account_id,
                        "url": draft.status_callback,
                    }
                )
            position += 1
    if rows:
        session.execute(insert(CALLBACKS), rows)


def urls_for(session: Session, message_ids: Collection[int]) -> dict[int, tuple[int, str]]:
    """The callbacks of these messages: message id -> (account id, url)."""
    if not message_ids:
        return {}
    rows = session.execute(
        select(CALLBACKS.c.message_id, CALLBACKS.c.account_id, CALLBACKS.c.url).where(
            CALLBACKS.c.message_id.in_(sorted(message_ids))
        )
    ).all()
    return {int(r.message_id): (int(r.account_id), str(r.url)) for r in rows}
