"""The message store on PostgreSQL: many workers share the queue (claims ``FOR UPDATE
SKIP LOCKED``), and a batch is one statement over arrays (``unnest``), where an
executemany would be one statement per message. The hot path's statements are
written out in SQL at the bottom: each is one round trip for a whole batch, where
the SQLAlchemy forms take one per step."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Select,
    bindparam,
    column,
    func,
    literal_column,
    select,
    table,
    text,
    update,
)
from sqlalchemy import Text as TextType
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from jooksms.db.types import UTCDateTime
from jooksms.domain.status import Status, sources_of
from jooksms.store.base import MessageStore
from jooksms.store.sql import MESSAGES, status_in, status_sql
from jooksms.store.types import Applied, Moves, Sent
from jooksms.transports.base import DeliveryReport

# Concurrent writers add to an account's total on one of these rows each, so that
# they do not queue on one row lock.
_COUNTER_SHARDS = 8
_SEARCH = table("message_search", column("message_id"), column("tsv"))
_PARAM_TYPES: dict[str, Any] = {
    "mid": BigInteger(),
    "connector": TextType(),
    "code": TextType(),
    "why": TextType(),
    "at": UTCDateTime(),
}


class PostgresStore(MessageStore):
    dialect = "postgresql"

    def _insert(self, session: Session, rows: list[dict[str, Any]]) -> list[int]:
        """Take the ids from the sequence first, then insert every row with one
        ``INSERT ... SELECT FROM unnest(...)``: one statement whatever the batch size,
        and the ids are in row order by construction (RETURNING promises no order)."""
        ids = list(
            session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence('messages', 'id'))"
                    " FROM generate_series(1, :n)"
                ),
                {"n": len(rows)},
            )
        )
        columns = {name: [row[name] for row in rows] for name in _PG_ARRAYS if name != "id"}
        session.execute(_PG_INSERT, {"id": ids, **columns})
        return ids

    def matches_words(self, words: list[str]) -> ColumnElement[bool]:
        return MESSAGES.c.id.in_(
            select(_SEARCH.c.message_id).where(
                _SEARCH.c.tsv.op("@@")(
                    func.plainto_tsquery(literal_column("'simple'"), " ".join(words))
                )
            )
        )

    def _count_shard(self) -> int:
        return random.randrange(_COUNTER_SHARDS)

    def _lock_due(self, due: Select[Any]) -> Select[Any]:
        return due.with_for_update(skip_locked=True)

    def _move_many(
        self,
        session: Session,
        status: Status,
        params: list[dict[str, Any]],
        *,
        now: datetime,
        extra: dict[str, Any],
        sources: frozenset[Status],
    ) -> Moves:
        """One UPDATE joined to the arrays of the values."""
        keys = list(params[0])
        values = select(
            *(
                func.unnest(
                    bindparam(
                        f"{key}_list", [p[key] for p in params], type_=ARRAY(_PARAM_TYPES[key])
                    )
                ).label(key)
                for key in keys
            )
        ).subquery("v")
        updates = {
            column: values.c[value.key] if isinstance(value, BindParameter) else value
            for column, value in extra.items()
        }
        rows = session.execute(
            update(MESSAGES)
            .where(MESSAGES.c.id == values.c.mid, status_in(sources))
            .values(status=status.value, updated_at=now, **updates)
            .returning(MESSAGES.c.id, MESSAGES.c.account_id)
        )
        return Moves.to(status, rows)

    def _record_sent(self, session: Session, sent: Sequence[Sent], *, now: datetime) -> Moves:
        """The status change, the parts and the look for kept receipts: one statement,
        one round trip."""
        parts = [(s, seq, cid) for s in sent for seq, cid in enumerate(s.carrier_ids, start=1)]
        rows = session.execute(
            _RECORD_SENT,
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
        ).all()
        moves = Moves.to(Status.SENT, [(mid, account) for mid, account in rows if mid > 0])
        if any(mid < 0 for mid, _ in rows):  # the row that says receipts are kept
            moves.extend(self._match_pending_of(session, sent, now=now))
        return moves

    def _record_outcomes(
        self, session: Session, outcomes: Sequence[DeliveryReport], *, now: datetime
    ) -> Applied:
        """Find the parts, move their messages and keep the reports whose part is not
        stored, in one statement."""
        rows = session.execute(
            _RECORD_OUTCOMES,
            {
                "now": now,
                "connector": [o.connector for o in outcomes],
                "carrier_id": [o.carrier_id for o in outcomes],
                "delivered": [o.delivered for o in outcomes],
                "code": [o.error_code for o in outcomes],
            },
        ).all()
        moves = Moves()
        unmatched: list[DeliveryReport] = []
        for kind, mid, account, connector, carrier_id, delivered, code in rows:
            if kind == "kept":
                unmatched.append(DeliveryReport(connector, carrier_id, bool(delivered), code))
            else:
                status = Status.DELIVERED if kind == "delivered" else Status.FAILED
                moves.extend(Moves.to(status, [(mid, account)]))
        return Applied(moves, unmatched)


_PG_ARRAYS = {
    "id": "bigint",
    "account_id": "bigint",
    "direction": "text",
    "status": "text",
    "number": "text",
    "from_number": "text",
    "content": "text",
    "external_id": "bigint",
    "segments": "smallint",
    "encoding": "text",
    "scheduled_at": "timestamptz",
    "send_at": "timestamptz",
    "error_code": "text",
    "error_message": "text",
    "created_at": "timestamptz",
    "updated_at": "timestamptz",
    "attempts": "smallint",
    "lease_until": "timestamptz",
    "connector": "text",
    "sending_at": "timestamptz",
    "sent_at": "timestamptz",
    "delivered_at": "timestamptz",
    "failed_at": "timestamptz",
    "canceled_at": "timestamptz",
}
_PG_INSERT = text(
    f"INSERT INTO messages ({', '.join(_PG_ARRAYS)}) "
    f"SELECT * FROM unnest({', '.join(f'CAST(:{n} AS {t}[])' for n, t in _PG_ARRAYS.items())})"
)

# The moved messages, then one row (id -1) when receipts are kept, so that the
# caller knows to look for those of these parts.
_RECORD_SENT = text(
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
            AND {status_sql(sources_of(Status.SENT), "messages.status || ''")}
        RETURNING messages.id, messages.account_id
    ), parts AS (
        INSERT INTO message_parts (message_id, account_id, connector, carrier_id, seq, created_at)
        SELECT message_id, account_id, connector, carrier_id, seq, :now
        FROM unnest(
            CAST(:p_message_id AS bigint[]), CAST(:p_account_id AS bigint[]),
            CAST(:p_connector AS text[]), CAST(:p_carrier_id AS text[]),
            CAST(:p_seq AS smallint[])
        ) AS p(message_id, account_id, connector, carrier_id, seq)
    )
    SELECT id, account_id FROM moved
    UNION ALL
    SELECT -1, -1 WHERE EXISTS (SELECT 1 FROM pending_receipts)
    """
).bindparams(bindparam("now", type_=UTCDateTime()))

# A message with a part reported undelivered fails, even if another part of it is
# reported delivered in the same batch (as ``MessageStore._apply`` does, failures
# first). Answers one row per message moved and per report kept.
_RECORD_OUTCOMES = text(
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
            AND {status_sql(sources_of(Status.FAILED), "messages.status")}
        RETURNING messages.id, messages.account_id
    ), delivered AS (
        UPDATE messages
        SET status = '{Status.DELIVERED.value}', updated_at = :now, delivered_at = :now,
            lease_until = NULL
        FROM (
            SELECT DISTINCT message_id FROM m WHERE delivered
            EXCEPT SELECT message_id FROM m WHERE NOT delivered
        ) AS d
        WHERE messages.id = d.message_id
            AND {status_sql(sources_of(Status.DELIVERED), "messages.status")}
        RETURNING messages.id, messages.account_id
    ), unmatched AS (
        SELECT * FROM r WHERE NOT EXISTS (
            SELECT 1 FROM m WHERE m.connector = r.connector AND m.carrier_id = r.carrier_id
        )
    ), kept AS (
        -- A carrier may repeat a report: the first one kept wins.
        INSERT INTO pending_receipts (connector, carrier_id, delivered, error_code, received_at)
        SELECT connector, carrier_id, delivered, code, :now FROM unmatched
        ON CONFLICT DO NOTHING
    )
    SELECT 'delivered', id, account_id, NULL::text, NULL::text, NULL::boolean, NULL::text
    FROM delivered
    UNION ALL
    SELECT 'failed', id, account_id, NULL, NULL, NULL, NULL FROM failed
    UNION ALL
    SELECT 'kept', NULL, NULL, connector, carrier_id, delivered, code FROM unmatched
    """
).bindparams(bindparam("now", type_=UTCDateTime()))
