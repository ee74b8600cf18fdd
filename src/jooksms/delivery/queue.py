"""The message table as a queue: claim due messages, record what carriers said.

Every function here takes a synchronous Session, runs a handful of statements for a
whole batch, and is meant for ``Database.run_write``. Status changes go through the
transition table (``domain.status``): each UPDATE only touches rows whose current
status may move to the new one, so a late or repeated event changes nothing.

Claiming: PostgreSQL takes rows ``FOR UPDATE SKIP LOCKED``, so any number of workers
share the queue without taking a message twice; SQLite has one writer, whose claim is
a single ``UPDATE ... RETURNING``. A claim holds a lease: a worker that dies leaves
its messages in ``sending`` until the lease runs out and ``reclaim_expired`` puts
them back in the queue.

Receipts find their message through ``message_parts`` (the carrier id of each
submitted part). One that comes before its part is stored is kept in
``pending_receipts`` and applied as soon as the part is, by whichever worker stores
it, or by the next sweep (``match_pending``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy import Text as TextType
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from jooksms.db.models import Message, MessagePart, PendingReceipt
from jooksms.db.types import UTCDateTime
from jooksms.domain.status import CLAIMABLE, Status, sources_of

MESSAGES = cast(Table, Message.__table__)
PARTS = cast(Table, MessagePart.__table__)
PENDING = cast(Table, PendingReceipt.__table__)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    account_id: int
    number: str
    from_number: str
    content: str
    attempts: int
    created_at: datetime
    segments: int


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: int
    account_id: int
    connector: str
    carrier_ids: Sequence[str]


@dataclass(frozen=True, slots=True)
class LateSent:
    """A message the carrier took after all, its answer later than we waited: it may
    be queued for a retry, retried already, or failed by now."""

    message_id: int
    connector: str
    carrier_ids: Sequence[str]


@dataclass(frozen=True, slots=True)
class Failed:
    message_id: int
    error_code: str | None
    error_message: str


@dataclass(frozen=True, slots=True)
class Retry:
    message_id: int
    at: datetime
    error_code: str | None
    error_message: str
    #: The carrier never took it: the claim does not count as an attempt.
    not_tried: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """A carrier's final word on one part, from a delivery receipt."""

    connector: str
    carrier_id: str
    delivered: bool
    error_code: str | None = None


def claim_due(session: Session, *, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
    due = (
        select(MESSAGES.c.id)
        .where(_status_in(CLAIMABLE), MESSAGES.c.send_at <= now)
        .order_by(MESSAGES.c.send_at, MESSAGES.c.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = session.execute(
        update(MESSAGES)
        .where(MESSAGES.c.id.in_(due.scalar_subquery()))
        .values(
            status=Status.SENDING.value,
            sending_at=now,
            updated_at=now,
            lease_until=now + lease,
            attempts=MESSAGES.c.attempts + 1,
        )
        .returning(
            MESSAGES.c.id,
            MESSAGES.c.account_id,
            MESSAGES.c.number,
            MESSAGES.c.from_number,
            MESSAGES.c.content,
            MESSAGES.c.attempts,
            MESSAGES.c.created_at,
            MESSAGES.c.segments,
        )
    )
    claimed = [Claimed(*row) for row in rows]
    claimed.sort(key=lambda c: c.id)  # RETURNING promises no order
    return claimed


def next_due(session: Session) -> datetime | None:
    """When the next queued or scheduled message is due (the first entry of the
    partial index ``ix_messages_due``)."""
    return session.execute(
        select(MESSAGES.c.send_at)
        .where(_status_in(CLAIMABLE))
        .order_by(MESSAGES.c.send_at)
        .limit(1)
    ).scalar()


def release(session: Session, ids: Sequence[int], *, now: datetime) -> None:
    """Give back claimed messages that were never sent (a worker stopping): they are
    due again at once, and the claim does not count as an attempt."""
    if not ids:
        return
    _move(
        session,
        Status.QUEUED,
        [{"mid": mid} for mid in ids],
        now=now,
        extra={"send_at": now, "lease_until": None, "attempts": MESSAGES.c.attempts - 1},
    )


def reclaim_expired(session: Session, *, now: datetime) -> int:
    """Put back in the queue what dead workers held; returns how many."""
    result = session.execute(
        update(MESSAGES)
        .where(_status_in(frozenset({Status.SENDING})), MESSAGES.c.lease_until < now)
        .values(status=Status.QUEUED.value, lease_until=None, send_at=now, updated_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def record_sent(session: Session, sent: Sequence[Sent], *, now: datetime) -> None:
    """Mark messages sent and store their parts. Each statement leaves the data right
    should the next never run (a kept receipt applied twice changes nothing), so this
    may run outside a transaction (``Database.run_single``)."""
    if not sent:
        return
    if _is_postgres(session):
        _record_sent_pg(session, sent, now=now)
        return
    _move_to_sent(session, sent, now=now)
    parts = [
        {
            "message_id": s.message_id,
            "account_id": s.account_id,
            "connector": s.connector,
            "carrier_id": carrier_id,
            "seq": seq,
            "created_at": now,
        }
        for s in sent
        for seq, carrier_id in enumerate(s.carrier_ids, start=1)
    ]
    if not parts:
        return
    session.execute(insert(PARTS), parts)
    if session.execute(select(PENDING.c.connector).limit(1)).first() is not None:
        _match_pending_of(session, sent, now=now)


def _move_to_sent(session: Session, sent: Sequence[Sent | LateSent], *, now: datetime) -> None:
    _move(
        session,
        Status.SENT,
        [{"mid": s.message_id, "connector": s.connector} for s in sent],
        now=now,
        extra={"sent_at": now, "lease_until": None, "connector": bindparam("connector")},
    )


def _match_pending_of(session: Session, sent: Sequence[Sent | LateSent], *, now: datetime) -> None:
    """Apply the receipts that came before these submit results were stored."""
    keys = {(s.connector, carrier_id) for s in sent for carrier_id in s.carrier_ids}
    match_pending(session, now=now, keys=keys)


def record_late_sent(session: Session, late: Sequence[LateSent], *, now: datetime) -> None:
    """Mark sent the messages a late answer says the carrier took, and store their
    parts whatever their status, so that their receipts find them: a message queued
    for its retry is sent (the retry is dropped); one sent again meanwhile or already
    final keeps its status. A fault path, so plain statements, not the hot path's."""
    if not late:
        return
    _move_to_sent(session, late, now=now)
    insert_ = pg_insert if _is_postgres(session) else sqlite_insert
    owner = select(
        MESSAGES.c.id,
        MESSAGES.c.account_id,
        bindparam("connector", type_=TextType()),
        bindparam("carrier_id", type_=TextType()),
        bindparam("seq", type_=BigInteger()),
        bindparam("now", type_=UTCDateTime()),
    ).where(MESSAGES.c.id == bindparam("mid"))
    columns = ["message_id", "account_id", "connector", "carrier_id", "seq", "created_at"]
    session.execute(
        # The same answer twice (a repeated PDU) stores its parts once.
        insert_(PARTS).from_select(columns, owner).on_conflict_do_nothing(),
        [
            {"mid": m.message_id, "connector": m.connector, "carrier_id": cid, "seq": seq}
            | {"now": now}
            for m in late
            for seq, cid in enumerate(m.carrier_ids, start=1)
        ],
    )
    _match_pending_of(session, late, now=now)


def _record_sent_pg(session: Session, sent: Sequence[Sent], *, now: datetime) -> None:
    """The status change, the parts and the look for kept receipts: one statement,
    one round trip."""
    parts = [(s, seq, cid) for s in sent for seq, cid in enumerate(s.carrier_ids, start=1)]
    pending = session.execute(
        _PG_RECORD_SENT,
        {
            "now": now,
            "mid": [s.message_id for s in sent],
            "connector": [s.connector for s in sent],
            "p_message_id": [s.message_id for s, _, _ in parts],
            "p_account_id": [s.account_id for s, _, _ in parts],
            "p_connector": [s.connector for s, _, _ in parts],
            "p_carrier_id": [cid for _, _, cid in parts],
            "p_seq": [seq for _, seq, _ in parts],
        },
    ).scalar()
    if pending:
        _match_pending_of(session, sent, now=now)


def record_failed(session: Session, failed: Sequence[Failed], *, now: datetime) -> None:
    """Fail messages on their submit result. Not one that is sent by now: a late
    answer for an earlier copy got there first, and only its receipt may fail it."""
    if not failed:
        return
    _move(
        session,
        Status.FAILED,
        [{"mid": f.message_id, "code": f.error_code, "why": f.error_message[:500]} for f in failed],
        now=now,
        extra={
            "failed_at": now,
            "lease_until": None,
            "error_code": bindparam("code"),
            "error_message": bindparam("why"),
        },
        sources=sources_of(Status.FAILED) - {Status.SENT},
    )


def retry_later(session: Session, retries: Sequence[Retry], *, now: datetime) -> None:
    for not_tried in (False, True):
        group = [r for r in retries if r.not_tried is not_tried]
        if not group:
            continue
        extra: dict[str, Any] = {
            "send_at": bindparam("at"),
            "lease_until": None,
            "error_code": bindparam("code"),
            "error_message": bindparam("why"),
        }
        if not_tried:
            extra["attempts"] = MESSAGES.c.attempts - 1
        _move(
            session,
            Status.QUEUED,
            [
                {
                    "mid": r.message_id,
                    "at": r.at,
                    "code": r.error_code,
                    "why": r.error_message[:500],
                }
                for r in group
            ],
            now=now,
            extra=extra,
        )


def record_outcomes(
    session: Session, outcomes: Sequence[Outcome], *, now: datetime
) -> list[Outcome]:
    """Apply receipts to their messages. A receipt whose part is not stored yet is
    kept in ``pending_receipts`` and applied when the part is (``match_pending``);
    returns those, for counting.

    A message is delivered when a receipt says so for any of its parts, and failed
    when one says a part was not delivered: the handset cannot read half a message.
    """
    if not outcomes:
        return []
    if _is_postgres(session):
        return _record_outcomes_pg(session, outcomes, now=now)
    owner = _owners(session, {(o.connector, o.carrier_id) for o in outcomes})
    _apply(
        session,
        [
            (owner[o.connector, o.carrier_id], o)
            for o in outcomes
            if (o.connector, o.carrier_id) in owner
        ],
        now=now,
    )
    unmatched = [o for o in outcomes if (o.connector, o.carrier_id) not in owner]
    _keep_pending(session, unmatched, now=now)
    return unmatched


def _record_outcomes_pg(
    session: Session, outcomes: Sequence[Outcome], *, now: datetime
) -> list[Outcome]:
    """Find the parts, move their messages and keep the receipts whose part is not
    stored, in one statement; returns those."""
    rows = session.execute(
        _PG_RECORD_OUTCOMES,
        {
            "now": now,
            "connector": [o.connector for o in outcomes],
            "carrier_id": [o.carrier_id for o in outcomes],
            "delivered": [o.delivered for o in outcomes],
            "code": [o.error_code for o in outcomes],
        },
    )
    return [Outcome(c, cid, bool(d), code) for c, cid, d, code in rows]


def match_pending(
    session: Session, *, now: datetime, keys: Collection[tuple[str, str]] | None = None
) -> int:
    """Apply the kept receipts whose part is now stored (only those of ``keys`` when
    given); returns how many were applied."""
    query = select(
        PENDING.c.connector,
        PENDING.c.carrier_id,
        PENDING.c.delivered,
        PENDING.c.error_code,
        PARTS.c.message_id,
    ).join(
        PARTS,
        and_(PARTS.c.connector == PENDING.c.connector, PARTS.c.carrier_id == PENDING.c.carrier_id),
    )
    if keys is not None:
        if not keys:
            return 0
        query = query.where(tuple_(PENDING.c.connector, PENDING.c.carrier_id).in_(list(keys)))
    rows = session.execute(query).all()
    if not rows:
        return 0
    _apply(
        session, [(mid, Outcome(c, cid, bool(d), code)) for c, cid, d, code, mid in rows], now=now
    )
    session.execute(
        delete(PENDING).where(
            PENDING.c.connector == bindparam("c"), PENDING.c.carrier_id == bindparam("cid")
        ),
        [{"c": c, "cid": cid} for c, cid, *_ in rows],
    )
    return len(rows)


def drop_stale_pending(session: Session, *, older_than: datetime) -> int:
    """Forget kept receipts that never found their part (another system's messages,
    or parts lost before they were stored); returns how many."""
    result = session.execute(delete(PENDING).where(PENDING.c.received_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)


def _keep_pending(session: Session, outcomes: Sequence[Outcome], *, now: datetime) -> None:
    if not outcomes:
        return
    dialect = session.get_bind().dialect.name
    insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
    # A carrier may repeat a receipt: the first one kept wins.
    session.execute(
        insert_(PENDING).on_conflict_do_nothing(),
        [
            {
                "connector": o.connector,
                "carrier_id": o.carrier_id,
                "delivered": o.delivered,
                "error_code": o.error_code,
                "received_at": now,
            }
            for o in outcomes
        ],
    )


def _apply(session: Session, matched: Sequence[tuple[int, Outcome]], *, now: datetime) -> None:
    failed = [(mid, o) for mid, o in matched if not o.delivered]
    delivered = [mid for mid, o in matched if o.delivered]
    if failed:
        _move(
            session,
            Status.FAILED,
            [{"mid": mid, "code": o.error_code} for mid, o in failed],
            now=now,
            extra={
                "failed_at": now,
                "lease_until": None,
                "error_code": bindparam("code"),
                "error_message": "the carrier reports the message was not delivered",
            },
        )
    if delivered:
        _move(
            session,
            Status.DELIVERED,
            [{"mid": mid} for mid in delivered],
            now=now,
            extra={"delivered_at": now, "lease_until": None},
        )


def _owners(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """The message of each (connector, carrier id) known; one query per connector so
    that each uses the unique index on the pair."""
    by_connector: dict[str, set[str]] = {}
    for connector, carrier_id in keys:
        by_connector.setdefault(connector, set()).add(carrier_id)
    owner: dict[tuple[str, str], int] = {}
    for connector, carrier_ids in by_connector.items():
        rows = session.execute(
            select(PARTS.c.carrier_id, PARTS.c.message_id).where(
                PARTS.c.connector == connector, PARTS.c.carrier_id.in_(carrier_ids)
            )
        )
        owner.update({(connector, cid): mid for cid, mid in rows})
    return owner


def _move(
    session: Session,
    status: Status,
    params: list[dict[str, Any]],
    *,
    now: datetime,
    extra: dict[str, Any],
    sources: frozenset[Status] | None = None,
) -> None:
    """Move each message to ``status`` where the transition table allows it (and,
    when given, only from ``sources``).

    ``params`` gives each message's id as ``mid`` and the values ``extra`` names with
    ``bindparam``. PostgreSQL gets one UPDATE joined to the arrays of the values
    (``unnest``): an executemany there would be one statement per message."""
    sources = sources_of(status) if sources is None else sources & sources_of(status)
    if _is_postgres(session) and len(params) > 1:
        _move_pg(session, status, params, now=now, extra=extra, sources=sources)
        return
    session.execute(
        update(MESSAGES)
        .where(
            and_(
                MESSAGES.c.id == bindparam("mid"),
                _status_in(sources),
            )
        )
        .values(status=status.value, updated_at=now, **extra),
        params,
    )


_PARAM_TYPES: dict[str, Any] = {
    "mid": BigInteger(),
    "connector": TextType(),
    "code": TextType(),
    "why": TextType(),
    "at": UTCDateTime(),
}


def _move_pg(
    session: Session,
    status: Status,
    params: list[dict[str, Any]],
    *,
    now: datetime,
    extra: dict[str, Any],
    sources: frozenset[Status],
) -> None:
    keys = list(params[0])
    values = select(
        *(
            func.unnest(
                bindparam(f"{key}_list", [p[key] for p in params], type_=ARRAY(_PARAM_TYPES[key]))
            ).label(key)
            for key in keys
        )
    ).subquery("v")
    updates = {
        column: values.c[value.key] if isinstance(value, BindParameter) else value
        for column, value in extra.items()
    }
    session.execute(
        update(MESSAGES)
        .where(MESSAGES.c.id == values.c.mid, _status_in(sources))
        .values(status=status.value, updated_at=now, **updates)
    )


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _status_sql(statuses: frozenset[Status], column: str = "status") -> str:
    listed = ", ".join(f"'{s.value}'" for s in sorted(statuses))
    return f"{column} IN ({listed})"


# The hot path's PostgreSQL statements, written out: each is one round trip for a
# whole batch, where the SQLAlchemy forms take one per step.
_PG_RECORD_SENT = text(
    f"""
    WITH moved AS (
        UPDATE messages
        SET status = '{Status.SENT.value}', updated_at = :now, sent_at = :now,
            lease_until = NULL, connector = v.connector
        FROM unnest(CAST(:mid AS bigint[]), CAST(:connector AS text[])) AS v(mid, connector)
        -- "|| ''": the condition must not match ix_messages_leased's, or on a young
        -- table's statistics PostgreSQL reads every message in flight and hash-joins
        -- them, where it should look each one up by its key.
        WHERE messages.id = v.mid
            AND {_status_sql(sources_of(Status.SENT), "messages.status || ''")}
    ), parts AS (
        INSERT INTO message_parts (message_id, account_id, connector, carrier_id, seq, created_at)
        SELECT message_id, account_id, connector, carrier_id, seq, :now
        FROM unnest(
            CAST(:p_message_id AS bigint[]), CAST(:p_account_id AS bigint[]),
            CAST(:p_connector AS text[]), CAST(:p_carrier_id AS text[]),
            CAST(:p_seq AS smallint[])
        ) AS p(message_id, account_id, connector, carrier_id, seq)
    )
    SELECT EXISTS (SELECT 1 FROM pending_receipts)
    """
).bindparams(bindparam("now", type_=UTCDateTime()))

# A message with a part reported undelivered fails, even if another part of it is
# reported delivered in the same batch (as ``_apply`` does, failures first).
_PG_RECORD_OUTCOMES = text(
    f"""
    WITH r AS (
        SELECT * FROM unnest(
            CAST(:connector AS text[]), CAST(:carrier_id AS text[]),
            CAST(:delivered AS boolean[]), CAST(:code AS text[])
        ) AS r(connector, carrier_id, delivered, code)
    ), m AS (
        -- A lookup by the unique index per receipt, whatever the statistics say: a
        -- prepared statement's generic plan, made while the table was small, chose a
        -- hash join over all parts (LIMIT keeps the planner from flattening it).
        SELECT r.delivered, r.code, p.message_id, r.connector, r.carrier_id
        FROM r CROSS JOIN LATERAL (
            SELECT message_id FROM message_parts
            WHERE carrier_id = r.carrier_id AND connector = r.connector
            LIMIT 1
        ) AS p
    ), failed AS (
        UPDATE messages
        SET status = '{Status.FAILED.value}', updated_at = :now, failed_at = :now,
            lease_until = NULL, error_code = f.code,
            error_message = 'the carrier reports the message was not delivered'
        FROM (
            SELECT DISTINCT ON (message_id) message_id, code FROM m WHERE NOT delivered
            ORDER BY message_id
        ) AS f
        WHERE messages.id = f.message_id
            AND {_status_sql(sources_of(Status.FAILED), "messages.status")}
    ), delivered AS (
        UPDATE messages
        SET status = '{Status.DELIVERED.value}', updated_at = :now, delivered_at = :now,
            lease_until = NULL
        FROM (
            SELECT DISTINCT message_id FROM m WHERE delivered
            EXCEPT SELECT message_id FROM m WHERE NOT delivered
        ) AS d
        WHERE messages.id = d.message_id
            AND {_status_sql(sources_of(Status.DELIVERED), "messages.status")}
    ), unmatched AS (
        SELECT * FROM r WHERE NOT EXISTS (
            SELECT 1 FROM m WHERE m.connector = r.connector AND m.carrier_id = r.carrier_id
        )
    ), kept AS (
        -- A carrier may repeat a receipt: the first one kept wins.
        INSERT INTO pending_receipts (connector, carrier_id, delivered, error_code, received_at)
        SELECT connector, carrier_id, delivered, code, :now FROM unmatched
        ON CONFLICT DO NOTHING
    )
    SELECT connector, carrier_id, delivered, code FROM unmatched
    """
).bindparams(bindparam("now", type_=UTCDateTime()))


def _status_in(statuses: frozenset[Status]) -> ColumnElement[bool]:
    """The status condition written out with literal values, in the very form of the
    partial indexes (``ix_messages_due``, ``ix_messages_leased``): SQLite uses a
    partial index only when the query repeats its condition, which a bound parameter
    cannot do, and an executemany cannot expand a bound list either. The values are
    our own constants, never user input."""
    if len(statuses) == 1:
        [only] = statuses
        return MESSAGES.c.status == literal_column(f"'{only.value}'")
    listed = ", ".join(f"'{s.value}'" for s in sorted(statuses))
    return MESSAGES.c.status.op("IN")(literal_column(f"({listed})"))
