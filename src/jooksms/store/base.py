"""The message store's interface and the part of it both databases share.

Every method takes a synchronous Session, runs a handful of statements for a whole
batch, and is meant for ``Database.run_write``. Status changes go through the
transition table (``domain.status``): each UPDATE only touches rows whose current
status may move to the new one, so a late or repeated report changes nothing. Every
write returns the transitions it made (``Moves``), from which metrics are counted;
the event of each transition is written by the database itself, in the same
statement (the triggers of migration 0008).

Claiming holds a lease: a worker that dies leaves its messages in ``sending`` until
the lease runs out and ``reclaim_expired`` puts them back in the queue.

Receipts find their message through ``message_parts`` (the carrier id of each
submitted part). One that comes before its part is stored is kept in
``pending_receipts`` and applied as soon as the part is, by whichever worker stores
it, or by the next sweep (``match_pending``).

The backends (``store.sqlite``, ``store.postgres``) fill in the hooks at the bottom:
how a batch of rows is inserted, how a batch of messages is moved, and the two hot
writes that PostgreSQL does in one round trip.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    select,
    tuple_,
    update,
)
from sqlalchemy import Text as TextType
from sqlalchemy.orm import Session

from jooksms.db.types import UTCDateTime
from jooksms.domain.status import CANCELABLE, CLAIMABLE, Status, sources_of
from jooksms.store.sql import COUNTS, MESSAGES, PARTS, PENDING, status_in, upsert
from jooksms.store.types import Applied, Claimed, Failed, LateSent, Moves, Retry, Sent
from jooksms.transports.base import DeliveryReport

_ERROR_MAX = 500
# Pairs per statement: both databases cap a statement near 32k bound parameters.
_CHUNK = 5000
_NOT_DELIVERED = "the carrier reports the message was not delivered"


class MessageStore(ABC):
    """The message lifecycle: accept, claim, record results, apply reports, store
    incoming SMS, cancel, retry, reclaim."""

    dialect: str

    # -- accept and receive --------------------------------------------------------

    def insert_messages(self, session: Session, rows: list[dict[str, Any]]) -> list[int]:
        """Insert new messages (every column named, see ``services.messages``); return
        their ids in row order. Their events are written with them."""
        return self._insert(session, rows) if rows else []

    def count_added(self, session: Session, added: dict[int, int]) -> None:
        """Add to each account's message total, kept beside the messages so that a
        list's ``total`` costs one tiny read instead of a count."""
        if not added:
            return
        statement = upsert(session, COUNTS)
        statement = statement.values(
            [
                {"account_id": a, "shard": self._count_shard(), "n": n}
                for a, n in sorted(added.items())
            ]
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["account_id", "shard"],
                set_={"n": COUNTS.c.n + statement.excluded.n},
            )
        )

    # -- claim --------------------------------------------------------------------

    def claim_due(
        self, session: Session, *, now: datetime, limit: int, lease: timedelta
    ) -> list[Claimed]:
        due = self._lock_due(
            select(MESSAGES.c.id)
            .where(status_in(CLAIMABLE), MESSAGES.c.send_at <= now)
            .order_by(MESSAGES.c.send_at, MESSAGES.c.id)
            .limit(limit)
        )
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

    def next_due(self, session: Session) -> datetime | None:
        """When the next queued or scheduled message is due (the first entry of the
        partial index ``ix_messages_due``)."""
        return session.execute(
            select(MESSAGES.c.send_at)
            .where(status_in(CLAIMABLE))
            .order_by(MESSAGES.c.send_at)
            .limit(1)
        ).scalar()

    def release(self, session: Session, ids: Sequence[int], *, now: datetime) -> Moves:
        """Give back claimed messages that were never sent (a worker stopping): they
        are due again at once, and the claim does not count as an attempt."""
        if not ids:
            return Moves()
        return self._move(
            session,
            Status.QUEUED,
            [{"mid": mid} for mid in ids],
            now=now,
            extra={"send_at": now, "lease_until": None, "attempts": MESSAGES.c.attempts - 1},
        )

    def renew_leases(
        self,
        session: Session,
        held: Sequence[tuple[int, int]],
        *,
        now: datetime,
        lease: timedelta,
    ) -> set[int]:
        """Extend the lease of each held (message id, attempts) that is still this
        claim's: sending, with the attempt count it was claimed with (a message
        reclaimed and claimed again since counts one more). Returns those renewed."""
        renewed: set[int] = set()
        for start in range(0, len(held), _CHUNK):
            rows = session.execute(
                update(MESSAGES)
                .where(
                    tuple_(MESSAGES.c.id, MESSAGES.c.attempts).in_(held[start : start + _CHUNK]),
                    status_in(frozenset({Status.SENDING})),
                )
                .values(lease_until=now + lease)
                .returning(MESSAGES.c.id)
            )
            renewed.update(int(mid) for (mid,) in rows)
        return renewed

    def reclaim_expired(self, session: Session, *, now: datetime) -> Moves:
        """Put back in the queue what dead workers held."""
        rows = session.execute(
            update(MESSAGES)
            .where(status_in(frozenset({Status.SENDING})), MESSAGES.c.lease_until < now)
            .values(status=Status.QUEUED.value, lease_until=None, send_at=now, updated_at=now)
            .returning(MESSAGES.c.id, MESSAGES.c.account_id)
        )
        return Moves.to(Status.QUEUED, rows)

    # -- submit results -------------------------------------------------------------

    def record_sent(self, session: Session, sent: Sequence[Sent], *, now: datetime) -> Moves:
        """Mark messages sent and store their parts. Each statement leaves the data
        right should the next never run (a kept receipt applied twice changes
        nothing), so this may run outside a transaction (``Database.run_single``)."""
        return self._record_sent(session, sent, now=now) if sent else Moves()

    def record_late_sent(
        self, session: Session, late: Sequence[LateSent], *, now: datetime
    ) -> Moves:
        """Mark sent the messages a late answer says the carrier took, and store their
        parts whatever their status, so that their receipts find them: a message
        queued for its retry is sent (the retry is dropped); one sent again meanwhile
        or already final keeps its status. A fault path, so plain statements."""
        if not late:
            return Moves()
        moves = self._move_to_sent(session, late, now=now)
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
            upsert(session, PARTS).from_select(columns, owner).on_conflict_do_nothing(),
            [
                {"mid": m.message_id, "connector": m.connector, "carrier_id": cid, "seq": seq}
                | {"now": now}
                for m in late
                for seq, cid in enumerate(m.carrier_ids, start=1)
            ],
        )
        moves.extend(self._match_pending_of(session, late, now=now))
        return moves

    def record_failed(self, session: Session, failed: Sequence[Failed], *, now: datetime) -> Moves:
        """Fail messages on their submit result. Not one that is sent by now: a late
        answer for an earlier copy got there first, and only its receipt may fail it."""
        if not failed:
            return Moves()
        return self._move(
            session,
            Status.FAILED,
            [
                {"mid": f.message_id, "code": f.error_code, "why": f.error_message[:_ERROR_MAX]}
                for f in failed
            ],
            now=now,
            extra={
                "failed_at": now,
                "lease_until": None,
                "error_code": bindparam("code"),
                "error_message": bindparam("why"),
            },
            sources=sources_of(Status.FAILED) - {Status.SENT},
        )

    def retry_later(self, session: Session, retries: Sequence[Retry], *, now: datetime) -> Moves:
        moves = Moves()
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
            params = [
                {
                    "mid": r.message_id,
                    "at": r.at,
                    "code": r.error_code,
                    "why": r.error_message[:_ERROR_MAX],
                }
                for r in group
            ]
            moves.extend(self._move(session, Status.QUEUED, params, now=now, extra=extra))
        return moves

    # -- carriers' reports ------------------------------------------------------------

    def record_outcomes(
        self, session: Session, outcomes: Sequence[DeliveryReport], *, now: datetime
    ) -> Applied:
        """Apply delivery reports to their messages. A report whose part is not stored
        yet is kept in ``pending_receipts`` and applied when the part is
        (``match_pending``).

        A message is delivered when a report says so for any of its parts, and failed
        when one says a part was not delivered: the handset cannot read half a message.
        """
        if not outcomes:
            return Applied(Moves(), [])
        return self._record_outcomes(session, outcomes, now=now)

    def match_pending(
        self,
        session: Session,
        *,
        now: datetime,
        keys: Collection[tuple[str, str]] | None = None,
    ) -> tuple[int, Moves]:
        """Apply the kept reports whose part is now stored (only those of ``keys`` when
        given); returns how many were applied, and what they moved."""
        query = select(
            PENDING.c.connector,
            PENDING.c.carrier_id,
            PENDING.c.delivered,
            PENDING.c.error_code,
            PARTS.c.message_id,
        ).join(
            PARTS,
            and_(
                PARTS.c.connector == PENDING.c.connector,
                PARTS.c.carrier_id == PENDING.c.carrier_id,
            ),
        )
        if keys is not None:
            if not keys:
                return 0, Moves()
            query = query.where(tuple_(PENDING.c.connector, PENDING.c.carrier_id).in_(list(keys)))
        rows = session.execute(query).all()
        if not rows:
            return 0, Moves()
        moves = self._apply(
            session,
            [(mid, DeliveryReport(c, cid, bool(d), code)) for c, cid, d, code, mid in rows],
            now=now,
        )
        session.execute(
            delete(PENDING).where(
                PENDING.c.connector == bindparam("c"), PENDING.c.carrier_id == bindparam("cid")
            ),
            [{"c": c, "cid": cid} for c, cid, *_ in rows],
        )
        return len(rows), moves

    def drop_stale_pending(self, session: Session, *, older_than: datetime) -> int:
        """Forget kept reports that never found their part (another system's
        messages, or parts lost before they were stored); returns how many."""
        result = session.execute(delete(PENDING).where(PENDING.c.received_at < older_than))
        return int(getattr(result, "rowcount", 0) or 0)

    # -- cancel -----------------------------------------------------------------------

    def cancel(self, session: Session, *, account_id: int, message_id: int, now: datetime) -> Moves:
        """Cancel a message that has not left yet. The status check and the change are
        one UPDATE, so a worker claiming the row at the same moment cannot also send it."""
        rows = session.execute(
            update(MESSAGES)
            .where(
                MESSAGES.c.id == message_id,
                MESSAGES.c.account_id == account_id,
                status_in(CANCELABLE),
            )
            .values(status=Status.CANCELED.value, updated_at=now, canceled_at=now, send_at=None)
            .returning(MESSAGES.c.id, MESSAGES.c.account_id)
        )
        return Moves.to(Status.CANCELED, rows)

    # -- shared steps -------------------------------------------------------------------

    def _move_to_sent(
        self, session: Session, sent: Sequence[Sent | LateSent], *, now: datetime
    ) -> Moves:
        return self._move(
            session,
            Status.SENT,
            [{"mid": s.message_id, "connector": s.connector} for s in sent],
            now=now,
            extra={"sent_at": now, "lease_until": None, "connector": bindparam("connector")},
        )

    def _match_pending_of(
        self, session: Session, sent: Sequence[Sent | LateSent], *, now: datetime
    ) -> Moves:
        """Apply the reports that came before these submit results were stored."""
        keys = {(s.connector, carrier_id) for s in sent for carrier_id in s.carrier_ids}
        return self.match_pending(session, now=now, keys=keys)[1]

    def _keep_pending(
        self, session: Session, outcomes: Sequence[DeliveryReport], *, now: datetime
    ) -> None:
        if not outcomes:
            return
        # A carrier may repeat a report: the first one kept wins.
        session.execute(
            upsert(session, PENDING).on_conflict_do_nothing(),
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

    def _apply(
        self, session: Session, matched: Sequence[tuple[int, DeliveryReport]], *, now: datetime
    ) -> Moves:
        failed = [(mid, o) for mid, o in matched if not o.delivered]
        # Failures first: a part reported undelivered fails its message even if another
        # part of it is reported delivered in the same batch.
        moves = Moves()
        if failed:
            moves = self._move(
                session,
                Status.FAILED,
                [{"mid": mid, "code": o.error_code} for mid, o in failed],
                now=now,
                extra={
                    "failed_at": now,
                    "lease_until": None,
                    "error_code": bindparam("code"),
                    "error_message": _NOT_DELIVERED,
                },
            )
        delivered = sorted({mid for mid, o in matched if o.delivered})
        if delivered:
            moves.extend(
                self._move(
                    session,
                    Status.DELIVERED,
                    [{"mid": mid} for mid in delivered],
                    now=now,
                    extra={"delivered_at": now, "lease_until": None},
                )
            )
        return moves

    def _owners(self, session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
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
        self,
        session: Session,
        status: Status,
        params: list[dict[str, Any]],
        *,
        now: datetime,
        extra: dict[str, Any],
        sources: frozenset[Status] | None = None,
    ) -> Moves:
        """Move each message to ``status`` where the transition table allows it (and,
        when given, only from ``sources``); returns those that moved.

        ``params`` gives each message's id as ``mid`` and the values ``extra`` names
        with ``bindparam``."""
        allowed = sources_of(status) if sources is None else sources & sources_of(status)
        return self._move_many(session, status, params, now=now, extra=extra, sources=allowed)

    # -- the backends' parts --------------------------------------------------------------

    @abstractmethod
    def matches_words(self, words: list[str]) -> ColumnElement[bool]:
        """The condition that a message's text holds every one of ``words`` (each a
        plain word: the full-text index of the backend, see ``db.schema_extras``)."""

    @abstractmethod
    def _insert(self, session: Session, rows: list[dict[str, Any]]) -> list[int]: ...

    @abstractmethod
    def _count_shard(self) -> int: ...

    @abstractmethod
    def _lock_due(self, due: Select[Any]) -> Select[Any]: ...

    @abstractmethod
    def _move_many(
        self,
        session: Session,
        status: Status,
        params: list[dict[str, Any]],
        *,
        now: datetime,
        extra: dict[str, Any],
        sources: frozenset[Status],
    ) -> Moves: ...

    @abstractmethod
    def _record_sent(self, session: Session, sent: Sequence[Sent], *, now: datetime) -> Moves: ...

    @abstractmethod
    def _record_outcomes(
        self, session: Session, outcomes: Sequence[DeliveryReport], *, now: datetime
    ) -> Applied: ...
