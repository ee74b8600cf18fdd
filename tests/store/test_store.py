"""The message store's contract, on SQLite and PostgreSQL: claims, leases, results,
receipts, and the transitions each write reports."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from jooksms import store as stores
from jooksms.db.engine import Database
from jooksms.domain.status import Status
from jooksms.services import messages
from jooksms.store.sql import MESSAGES, PARTS, PENDING
from jooksms.store.types import Failed, Moves, Retry, Sent
from jooksms.transports.base import DeliveryReport
from tests.helpers.messages import (
    LEASE,
    account_with_messages,
    far_future,
    only_these_due,
    status_of,
)


async def _claimed_and_sent(
    db: Database, count: int, parts: int
) -> tuple[list[int], dict[int, list[str]]]:
    """``count`` messages claimed and recorded as sent, ``parts`` carrier ids each."""
    account, ids = await account_with_messages(db, count)
    await only_these_due(db, ids)
    now = datetime.now(UTC)
    await db.run_write(lambda s: stores.of(s).claim_due(s, now=now, limit=100_000, lease=LEASE))
    carrier_ids = {mid: [f"m{mid}-{n}" for n in range(1, parts + 1)] for mid in ids}
    sent = [Sent(mid, account, "sim", carrier_ids[mid]) for mid in ids]
    await db.run_write(lambda s: stores.of(s).record_sent(s, sent, now=now))
    return ids, carrier_ids


async def _error_code(db: Database, mid: int) -> str | None:
    async with db.read() as session:
        return await session.scalar(select(MESSAGES.c.error_code).where(MESSAGES.c.id == mid))


class TestMessageStore:
    """The contract every message store keeps, run against SQLite and PostgreSQL (the
    ``db`` fixture gives each backend in turn)."""

    async def test_claim_takes_due_messages_once(self, db: Database) -> None:
        _, ids = await account_with_messages(db, 5)
        await only_these_due(db, ids)
        now = datetime.now(UTC)
        first = await db.run_write(
            lambda s: stores.of(s).claim_due(s, now=now, limit=100_000, lease=LEASE)
        )
        mine = [c for c in first if c.id in ids]
        assert [c.id for c in mine] == ids
        assert all(c.attempts == 1 and c.content == "queue me" for c in mine)
        second = await db.run_write(
            lambda s: stores.of(s).claim_due(s, now=now, limit=100_000, lease=LEASE)
        )
        assert not {c.id for c in second} & set(ids)
        assert set((await status_of(db, ids)).values()) == {"sending"}

    async def test_scheduled_messages_wait_for_their_time(self, db: Database) -> None:
        later = datetime.now(UTC) + timedelta(hours=1)
        _, ids = await account_with_messages(db, 2, scheduled_at=later)
        await only_these_due(db, ids)
        early = await db.run_write(
            lambda s: stores.of(s).claim_due(s, now=datetime.now(UTC), limit=100_000, lease=LEASE)
        )
        assert not {c.id for c in early} & set(ids)
        due = await db.run_write(
            lambda s: stores.of(s).claim_due(
                s, now=later + timedelta(seconds=1), limit=100_000, lease=LEASE
            )
        )
        assert set(ids) <= {c.id for c in due}

    async def test_canceled_message_is_never_claimed_and_claimed_cannot_be_canceled(
        self,
        db: Database,
    ) -> None:
        account, ids = await account_with_messages(db, 2)
        await only_these_due(db, ids)
        async with db.write() as session:
            await messages.cancel(session, account_id=account, message_id=ids[0])
        claimed = await db.run_write(
            lambda s: stores.of(s).claim_due(s, now=datetime.now(UTC), limit=100_000, lease=LEASE)
        )
        assert ids[0] not in {c.id for c in claimed}
        assert ids[1] in {c.id for c in claimed}
        try:
            async with db.write() as session:
                await messages.cancel(session, account_id=account, message_id=ids[1])
        except Exception as exc:
            assert "sending" in str(exc)
        else:
            raise AssertionError("a claimed message was canceled")

    async def test_expired_lease_puts_messages_back(self, db: Database) -> None:
        _, ids = await account_with_messages(db, 3)
        await only_these_due(db, ids)
        now = datetime.now(UTC)
        await db.run_write(lambda s: stores.of(s).claim_due(s, now=now, limit=100_000, lease=LEASE))
        early = await db.run_write(lambda s: stores.of(s).reclaim_expired(s, now=now))
        assert not set(early.ids(Status.QUEUED)) & set(ids)  # their leases still run
        later = now + LEASE + timedelta(seconds=1)
        moved = await db.run_write(lambda s: stores.of(s).reclaim_expired(s, now=later))
        assert set(ids) <= set(moved.ids(Status.QUEUED))
        again = await db.run_write(
            lambda s: stores.of(s).claim_due(s, now=later, limit=100_000, lease=LEASE)
        )
        mine = [c for c in again if c.id in ids]
        assert [c.attempts for c in mine] == [2, 2, 2]

    async def test_results_and_receipts_follow_the_transition_table(self, db: Database) -> None:
        account, ids = await account_with_messages(db, 4)
        await only_these_due(db, ids)
        now = datetime.now(UTC)
        await db.run_write(lambda s: stores.of(s).claim_due(s, now=now, limit=100_000, lease=LEASE))
        a, b, c, d = ids
        tag = f"t{a}"

        def results(s: Session) -> Moves:
            store = stores.of(s)
            moves = store.record_sent(
                s,
                [
                    Sent(a, account, "sim", [f"{tag}-1"]),
                    Sent(b, account, "sim", [f"{tag}-2", f"{tag}-3"]),
                ],
                now=now,
            )
            moves.extend(
                store.record_failed(s, [Failed(c, "0x0000000B", "invalid destination")], now=now)
            )
            moves.extend(
                store.retry_later(s, [Retry(d, far_future(), "0x00000058", "throttled")], now=now)
            )
            return moves

        moves = await db.run_write(results)
        assert await status_of(db, ids) == {a: "sent", b: "sent", c: "failed", d: "queued"}
        # Each write reports what it moved, and nothing else.
        assert sorted((m.message_id, m.status, m.account_id) for m in moves) == [
            (a, Status.SENT, account),
            (b, Status.SENT, account),
            (c, Status.FAILED, account),
            (d, Status.QUEUED, account),
        ]
        applied = await db.run_write(
            lambda s: stores.of(s).record_outcomes(
                s,
                [
                    DeliveryReport("sim", f"{tag}-1", delivered=True),
                    DeliveryReport("sim", f"{tag}-3", delivered=False, error_code="001"),
                    DeliveryReport("sim", "nobody", delivered=True),
                    DeliveryReport("other", f"{tag}-1", delivered=False),
                ],
                now=now,
            )
        )
        assert {(o.connector, o.carrier_id) for o in applied.unmatched} == {
            ("sim", "nobody"),
            ("other", f"{tag}-1"),
        }
        assert await status_of(db, ids) == {a: "delivered", b: "failed", c: "failed", d: "queued"}
        assert sorted((m.message_id, m.status) for m in applied.moves) == [
            (a, Status.DELIVERED),
            (b, Status.FAILED),
        ]
        # A late receipt cannot move a final message, and reports that it moved nothing.
        again = await db.run_write(
            lambda s: stores.of(s).record_outcomes(
                s, [DeliveryReport("sim", f"{tag}-1", delivered=False)], now=now
            )
        )
        assert again.moves == [] and again.unmatched == []
        assert (await status_of(db, [a]))[a] == "delivered"
        async with db.read() as session:
            row = (
                await session.execute(
                    select(MESSAGES.c.sent_at, MESSAGES.c.delivered_at, MESSAGES.c.connector).where(
                        MESSAGES.c.id == a
                    )
                )
            ).one()
        assert row.sent_at is not None and row.delivered_at is not None
        assert row.connector == "sim"

    async def test_concurrent_claims_never_share_a_message(self, db: Database) -> None:
        _, ids = await account_with_messages(db, 400)
        await only_these_due(db, ids)
        now = datetime.now(UTC)
        batches = await asyncio.gather(
            *(
                db.run_write(lambda s: stores.of(s).claim_due(s, now=now, limit=50, lease=LEASE))
                for _ in range(12)
            )
        )
        taken = [c.id for batch in batches for c in batch]
        assert len(taken) == len(set(taken)) == 400
        assert sorted(taken) == ids

    async def test_mixed_and_repeated_receipts_in_one_batch(self, db: Database) -> None:
        """One part delivered and another not: the message failed, with the failing
        part's code. A carrier repeating a receipt changes nothing."""
        (a, b), parts = await _claimed_and_sent(db, 2, parts=2)
        now = datetime.now(UTC)
        applied = await db.run_write(
            lambda s: stores.of(s).record_outcomes(
                s,
                [
                    DeliveryReport("sim", parts[a][0], delivered=True),
                    DeliveryReport("sim", parts[a][1], delivered=False, error_code="045"),
                    DeliveryReport("sim", parts[a][1], delivered=False, error_code="045"),
                    DeliveryReport("sim", parts[b][0], delivered=True),
                    DeliveryReport("sim", parts[b][0], delivered=True),
                    DeliveryReport("sim", f"unknown-{a}", delivered=True),
                    DeliveryReport("sim", f"unknown-{a}", delivered=False),
                ],
                now=now,
            )
        )
        assert [o.carrier_id for o in applied.unmatched] == [f"unknown-{a}"] * 2
        assert sorted((m.message_id, m.status) for m in applied.moves) == [
            (a, Status.FAILED),
            (b, Status.DELIVERED),
        ]
        async with db.read() as session:
            kept = (
                await session.execute(
                    select(PENDING.c.delivered).where(PENDING.c.carrier_id == f"unknown-{a}")
                )
            ).all()
        assert len(kept) == 1  # kept once, whichever of the two
        assert await status_of(db, [a, b]) == {a: "failed", b: "delivered"}
        assert await _error_code(db, a) == "045"

    async def test_a_receipt_kept_before_its_part_is_applied_when_the_part_is_stored(
        self,
        db: Database,
    ) -> None:
        account, ids = await account_with_messages(db, 1)
        await only_these_due(db, ids)
        [mid] = ids
        now = datetime.now(UTC)
        await db.run_write(lambda s: stores.of(s).claim_due(s, now=now, limit=100_000, lease=LEASE))
        early = DeliveryReport("sim", f"early-{mid}", delivered=False, error_code="0x0B")
        kept = await db.run_write(lambda s: stores.of(s).record_outcomes(s, [early], now=now))
        assert kept.unmatched == [early] and kept.moves == []
        assert (await status_of(db, ids))[mid] == "sending"
        sent = [Sent(mid, account, "sim", [f"early-{mid}"])]
        moves = await db.run_write(lambda s: stores.of(s).record_sent(s, sent, now=now))
        # Sent, then failed by the receipt kept for it: both in the one write.
        assert [(m.message_id, m.status) for m in moves] == [
            (mid, Status.SENT),
            (mid, Status.FAILED),
        ]
        assert (await status_of(db, ids))[mid] == "failed"
        assert await _error_code(db, mid) == "0x0B"

    async def test_deleting_a_message_deletes_its_parts_and_search_entry(
        self, db: Database
    ) -> None:
        """Parts have no foreign key to their message (it locked the message row for
        every part stored); a trigger deletes them with it, as the cascade did."""
        from sqlalchemy import delete, func, text

        ids, _ = await _claimed_and_sent(db, 2, parts=3)
        gone, kept = ids
        async with db.write() as session:
            await session.execute(delete(MESSAGES).where(MESSAGES.c.id == gone))
        async with db.read() as session:
            parts = dict(
                (
                    await session.execute(
                        select(PARTS.c.message_id, func.count())
                        .where(PARTS.c.message_id.in_(ids))
                        .group_by(PARTS.c.message_id)
                    )
                ).all()
            )
            assert parts == {kept: 3}
            if db.is_sqlite:
                return
            search = await session.scalars(
                text("SELECT message_id FROM message_search WHERE message_id IN (:a, :b)"),
                {"a": gone, "b": kept},
            )
            assert list(search) == [kept]

    async def test_cancel_and_release_report_what_moved(self, db: Database) -> None:
        account, ids = await account_with_messages(db, 3)
        await only_these_due(db, ids)
        now = datetime.now(UTC)
        a, b, c = ids
        canceled = await db.run_write(
            lambda s: stores.of(s).cancel(s, account_id=account, message_id=a, now=now)
        )
        assert [(m.message_id, m.status, m.account_id) for m in canceled] == [
            (a, Status.CANCELED, account)
        ]
        # Another account's message, or one that is no longer cancelable: nothing.
        other = await db.run_write(
            lambda s: stores.of(s).cancel(s, account_id=account + 1, message_id=b, now=now)
        )
        again = await db.run_write(
            lambda s: stores.of(s).cancel(s, account_id=account, message_id=a, now=now)
        )
        assert other == [] and again == []
        await db.run_write(lambda s: stores.of(s).claim_due(s, now=now, limit=100, lease=LEASE))
        released = await db.run_write(lambda s: stores.of(s).release(s, [a, b, c], now=now))
        # The canceled one stays canceled; the two claimed go back to the queue.
        assert sorted(released.ids(Status.QUEUED)) == [b, c]
        assert await status_of(db, ids) == {a: "canceled", b: "queued", c: "queued"}
