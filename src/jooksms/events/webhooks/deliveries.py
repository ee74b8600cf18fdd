"""Deliveries: claiming the due ones, recording each attempt and what follows from
it (the retry schedule, disabling an endpoint), listing and replaying them.

A sender claims due deliveries with a lease: their due time moves to the lease's
end, so a sender that dies lets them come due again, and on PostgreSQL the claim
skips rows another sender holds (``FOR UPDATE SKIP LOCKED``). A delivery can thus
be POSTed twice only when its sender died between the POST and recording it; the
second POST carries the same ``webhook-id``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from jooksms.errors import NotFound
from jooksms.events import log
from jooksms.events.webhooks import endpoints, fanout, secrets, wakeups
from jooksms.events.webhooks.tables import ATTEMPTS, DELIVERIES, ENDPOINTS
from jooksms.secret_box import SecretBox
from jooksms.services.pagination import Page, PageRequest

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
STATUSES = (PENDING, SUCCEEDED, FAILED)
#: Seconds before each attempt, the first at once (Standard Webhooks' schedule); a
#: delivery whose last attempt fails has failed.
SCHEDULE = (0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
JITTER = 0.2
#: The longest a ``Retry-After`` may hold a delivery back.
MAX_RETRY_AFTER = timedelta(hours=24)
#: An endpoint that has not had a success for this long is disabled.
FAILING_LIMIT = timedelta(days=5)
RESPONSE_BYTES = 500
REPLAY_LIMIT = 10_000

_D = DELIVERIES.c
_EVENTS = log.EVENTS.c
_MESSAGES = log.MESSAGES.c


@dataclass(frozen=True, slots=True)
class Job:
    """A claimed delivery, ready to POST."""

    id: int
    account_id: int
    endpoint_id: int | None
    url: str
    webhook_id: str
    body: bytes
    attempts: int
    secrets: list[str]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one POST got: a status code, or an error (timeout, connection)."""

    status_code: int | None
    error: str | None
    latency_ms: int
    response: str | None = None
    #: Seconds the receiver asked us to wait (``Retry-After``).
    retry_after: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True, slots=True)
class AttemptView:
    attempted_at: datetime
    status_code: int | None
    error: str | None
    latency_ms: int
    response: str | None


@dataclass(frozen=True, slots=True)
class DeliveryView:
    id: int
    endpoint_id: int | None
    webhook_id: str
    event_type: str
    event_count: int
    first_event_id: int
    last_event_id: int
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    attempt_log: list[AttemptView] = field(default_factory=list)


def live() -> ColumnElement[bool]:
    """Deliveries someone may send: of enabled endpoints, and status callbacks (a
    disabled endpoint's stay pending, to be replayed if it is enabled again)."""
    return or_(
        _D.endpoint_id.is_(None),
        exists().where(ENDPOINTS.c.id == _D.endpoint_id, ENDPOINTS.c.enabled),
    )


def due_now(now: datetime) -> ColumnElement[bool]:
    return and_(_D.status == PENDING, _D.next_attempt_at <= now, live())


def next_due(session: Session) -> datetime | None:
    """When the next delivery comes due (a retry, or a lease that runs out), if any."""
    found: datetime | None = session.execute(
        select(func.min(_D.next_attempt_at)).where(_D.status == PENDING, live())
    ).scalar()
    return found


def claim(
    session: Session, box: SecretBox, *, now: datetime, limit: int, lease: timedelta
) -> list[Job]:
    """Take up to ``limit`` due deliveries for ``lease``: those of enabled endpoints
    and of status callbacks."""
    due = select(_D.id).where(due_now(now)).order_by(_D.next_attempt_at).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True, of=DELIVERIES)
    rows = session.execute(
        update(DELIVERIES)
        .where(_D.id.in_(due.scalar_subquery()))
        .values(next_attempt_at=now + lease, updated_at=now)
        .returning(
            _D.id, _D.account_id, _D.endpoint_id, _D.url, _D.webhook_id, _D.body, _D.attempts
        )
    ).all()
    if not rows:
        return []
    urls: dict[int, str] = {
        int(r.id): str(r.url)
        for r in session.execute(
            select(ENDPOINTS.c.id, ENDPOINTS.c.url).where(
                ENDPOINTS.c.id.in_({r.endpoint_id for r in rows if r.endpoint_id is not None})
            )
        )
    }
    keys: dict[tuple[int, int | None], list[str]] = {}
    jobs = []
    for row in sorted(rows, key=lambda r: r.id):
        key = (row.account_id, row.endpoint_id)
        if key not in keys:
            keys[key] = _secrets_of(session, box, key, now)
        url = row.url if row.endpoint_id is None else urls[row.endpoint_id]
        jobs.append(
            Job(
                row.id,
                row.account_id,
                row.endpoint_id,
                url,
                row.webhook_id,
                row.body.encode(),
                row.attempts,
                keys[key],
            )
        )
    return jobs


def _secrets_of(
    session: Session, box: SecretBox, key: tuple[int, int | None], now: datetime
) -> list[str]:
    account_id, endpoint_id = key
    if endpoint_id is None:
        secrets.account_secret(session, box, account_id=account_id, now=now)
    return secrets.signing(session, box, account_id=account_id, endpoint_id=endpoint_id, now=now)


def record(
    session: Session,
    results: Sequence[tuple[Job, Outcome]],
    *,
    now: datetime,
    rng: random.Random | None = None,
) -> None:
    """Store each attempt and move its delivery: succeeded, due again on the schedule,
    or failed; a ``410 Gone``, or five days without a success, disables the endpoint.
    A delivery whose lease ran out and that another sender took meanwhile is left to
    that sender (its attempt count has moved)."""
    if not results:
        return
    rng = rng or random.Random()
    session.execute(insert(ATTEMPTS), [_attempt_row(job, outcome, now) for job, outcome in results])
    session.execute(
        update(DELIVERIES)
        .where(_D.id == bindparam("did"), _D.attempts == bindparam("was"))
        .values(
            status=bindparam("new_status"),
            attempts=bindparam("now_attempts"),
            next_attempt_at=bindparam("due"),
            last_status_code=bindparam("code"),
            last_error=bindparam("error"),
            updated_at=now,
        ),
        [_delivery_change(job, outcome, now, rng) for job, outcome in results],
    )
    _update_endpoints(session, results, now)


def _attempt_row(job: Job, outcome: Outcome, now: datetime) -> dict[str, Any]:
    return {
        "delivery_id": job.id,
        "account_id": job.account_id,
        "attempted_at": now,
        "status_code": outcome.status_code,
        "error": outcome.error[:500] if outcome.error else None,
        "latency_ms": outcome.latency_ms,
        "response": outcome.response,
    }


def _delivery_change(
    job: Job, outcome: Outcome, now: datetime, rng: random.Random
) -> dict[str, Any]:
    done = job.attempts + 1
    status, due = PENDING, now
    if outcome.succeeded:
        status = SUCCEEDED
    elif done >= len(SCHEDULE) or (outcome.status_code == 410 and job.endpoint_id is not None):
        status = FAILED
    else:
        due = next_attempt(done, now=now, retry_after=outcome.retry_after, rng=rng)
    return {
        "did": job.id,
        "was": job.attempts,
        "new_status": status,
        "now_attempts": done,
        "due": due,
        "code": outcome.status_code,
        "error": outcome.error[:500] if outcome.error else None,
    }


def next_attempt(
    done: int, *, now: datetime, retry_after: float | None, rng: random.Random
) -> datetime:
    """When attempt ``done + 1`` is due: its delay on the schedule, ±20 %, or later
    when the receiver asked for it (``Retry-After``, at most a day)."""
    delay = timedelta(seconds=SCHEDULE[done] * rng.uniform(1 - JITTER, 1 + JITTER))
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return now + delay


def _update_endpoints(
    session: Session, results: Sequence[tuple[Job, Outcome]], now: datetime
) -> None:
    succeeded = {j.endpoint_id for j, o in results if j.endpoint_id is not None and o.succeeded}
    gone = {j.endpoint_id for j, o in results if j.endpoint_id is not None and o.status_code == 410}
    failing = {
        j.endpoint_id for j, o in results if j.endpoint_id is not None and not o.succeeded
    } - succeeded
    if succeeded:
        session.execute(
            update(ENDPOINTS).where(ENDPOINTS.c.id.in_(succeeded)).values(failing_since=None)
        )
    if failing:
        session.execute(
            update(ENDPOINTS)
            .where(ENDPOINTS.c.id.in_(failing), ENDPOINTS.c.failing_since.is_(None))
            .values(failing_since=now)
        )
        _disable(
            session,
            and_(
                ENDPOINTS.c.id.in_(failing - gone),
                ENDPOINTS.c.failing_since <= now - FAILING_LIMIT,
            ),
            f"disabled on {_iso(now)}: no delivery succeeded for 5 days",
            now,
        )
    if gone:
        _disable(
            session,
            ENDPOINTS.c.id.in_(gone),
            f"disabled on {_iso(now)}: the endpoint answered 410 Gone",
            now,
        )


def _disable(session: Session, which: Any, reason: str, now: datetime) -> None:
    session.execute(
        update(ENDPOINTS)
        .where(which, ENDPOINTS.c.enabled)
        .values(enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now)
    )


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def list_page(
    session: Session,
    *,
    account_id: int,
    endpoint_id: int,
    status: str | None,
    page: PageRequest,
) -> Page[DeliveryView]:
    """An endpoint's deliveries, newest first, each with its attempts."""
    endpoints.get(session, account_id=account_id, endpoint_id=endpoint_id)
    where = [_D.account_id == account_id, _D.endpoint_id == endpoint_id]
    if status is not None:
        where.append(_D.status == status)
    total = session.execute(select(func.count()).select_from(DELIVERIES).where(*where)).scalar()
    rows = session.execute(
        select(DELIVERIES)
        .where(*where)
        .order_by(_D.id.desc())
        .limit(page.per_page)
        .offset(page.offset)
    ).all()
    views = _views(session, rows)
    return Page(items=views, total=int(total or 0), request=page)


def get(session: Session, *, account_id: int, endpoint_id: int, delivery_id: int) -> DeliveryView:
    row = session.execute(
        select(DELIVERIES).where(
            _D.account_id == account_id, _D.endpoint_id == endpoint_id, _D.id == delivery_id
        )
    ).first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id} of webhook {endpoint_id}")
    return _views(session, [row])[0]


def _views(session: Session, rows: Sequence[Any]) -> list[DeliveryView]:
    attempts: dict[int, list[AttemptView]] = {}
    if rows:
        for a in session.execute(
            select(ATTEMPTS)
            .where(ATTEMPTS.c.delivery_id.in_([r.id for r in rows]))
            .order_by(ATTEMPTS.c.id)
        ):
            attempts.setdefault(a.delivery_id, []).append(
                AttemptView(a.attempted_at, a.status_code, a.error, a.latency_ms, a.response)
            )
    return [
        DeliveryView(
            id=r.id,
            endpoint_id=r.endpoint_id,
            webhook_id=r.webhook_id,
            event_type=r.event_type,
            event_count=r.event_count,
            first_event_id=r.first_event_id,
            last_event_id=r.last_event_id,
            status=r.status,
            attempts=r.attempts,
            next_attempt_at=r.next_attempt_at if r.status == PENDING else None,
            last_status_code=r.last_status_code,
            last_error=r.last_error,
            created_at=r.created_at,
            updated_at=r.updated_at,
            attempt_log=attempts.get(r.id, []),
        )
        for r in rows
    ]


def replay_one(
    session: Session, *, account_id: int, endpoint_id: int, delivery_id: int, now: datetime
) -> DeliveryView:
    """Send the delivery again, now, with its full schedule (same id, same body)."""
    get(session, account_id=account_id, endpoint_id=endpoint_id, delivery_id=delivery_id)
    session.execute(
        update(DELIVERIES)
        .where(_D.account_id == account_id, _D.id == delivery_id)
        .values(status=PENDING, attempts=0, next_attempt_at=now, updated_at=now)
    )
    wakeups.announce(session)
    return get(session, account_id=account_id, endpoint_id=endpoint_id, delivery_id=delivery_id)


def replay_range(
    session: Session,
    *,
    account_id: int,
    endpoint_id: int,
    since: datetime,
    until: datetime | None,
    now: datetime,
) -> int:
    """Send the endpoint the events of its account written in ``[since, until)`` that
    it subscribes to, again (at most ``REPLAY_LIMIT``, the oldest); how many. Events
    are kept as long as the log keeps them (JOOKSMS_EVENT_RETENTION)."""
    endpoint = endpoints.get(session, account_id=account_id, endpoint_id=endpoint_id)
    where = [_EVENTS.account_id == account_id, _EVENTS.created_at >= since]
    if until is not None:
        where.append(_EVENTS.created_at < until)
    if not endpoint.wants("*"):
        where.append(_EVENTS.type.in_(endpoint.event_types))
    found = session.execute(
        select(
            _EVENTS.id,
            _EVENTS.account_id,
            _EVENTS.type,
            _EVENTS.message_id,
            _EVENTS.error_code,
            _EVENTS.data,
            _EVENTS.created_at,
            _MESSAGES.external_id,
            _MESSAGES.number,
            _MESSAGES.from_number,
            _MESSAGES.direction,
            _MESSAGES.segments,
        )
        .select_from(log.EVENTS.outerjoin(log.MESSAGES, _MESSAGES.id == _EVENTS.message_id))
        .where(*where)
        .order_by(_EVENTS.id)
        .limit(REPLAY_LIMIT)
    ).all()
    events = [log.event_of(r) for r in found]
    rows = fanout.endpoint_rows(endpoint, events, now=now)
    if rows:
        session.execute(insert(DELIVERIES), rows)
        wakeups.announce(session)
    return len(events)
