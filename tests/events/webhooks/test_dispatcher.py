"""The dispatcher against a real local receiver: signed POSTs, the retry schedule on
a walked clock, disabling, rotation, batch mode, replay, status callbacks."""

from __future__ import annotations

import json
from datetime import timedelta

import orjson
import pytest
from standardwebhooks import Webhook

from jooksms import store as stores
from jooksms.db.engine import Database
from jooksms.events.webhooks import deliveries, endpoints, secrets
from jooksms.events.webhooks.deliveries import SCHEDULE, DeliveryView
from jooksms.events.webhooks.dispatcher import Dispatcher
from jooksms.secret_box import box_for
from jooksms.services.pagination import PageRequest
from jooksms.store.types import Sent
from jooksms.transports.base import DeliveryReport
from tests.helpers.messages import LEASE, only_these_due
from tests.helpers.webhook_receiver import Answer, Receiver, running
from tests.helpers.webhooks import Clock, add_endpoint, drain, new_account, put_aside_pending, send


async def _deliveries(db: Database, account_id: int, endpoint_id: int) -> list[DeliveryView]:
    page = await db.run_write(
        lambda s: deliveries.list_page(
            s,
            account_id=account_id,
            endpoint_id=endpoint_id,
            status=None,
            page=PageRequest(1, 100),
        )
    )
    return page.items


async def _endpoint(db: Database, account_id: int, endpoint_id: int) -> endpoints.Endpoint:
    return await db.run_write(
        lambda s: endpoints.get(s, account_id=account_id, endpoint_id=endpoint_id)
    )


async def test_events_arrive_signed(
    db: Database, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    account = await new_account(db)
    hook = await add_endpoint(db, account, receiver.url)
    ids = await send(db, account, 2)
    await drain(dispatcher)
    assert await dispatcher.send_due() == 2
    got = await receiver.until(2)
    for request in got:
        payload = Webhook(hook.secret).verify(request.body, request.headers)
        assert payload["type"] == "message.queued"
        assert request.headers["webhook-id"] == str(payload["id"])
        assert request.headers["webhook-signature"].startswith("v1,")
    assert sorted(json.loads(r.body)["data"]["message_id"] for r in got) == ids
    [a, _] = await _deliveries(db, account, hook.endpoint.id)
    assert (a.status, a.attempts, a.attempt_log[0].status_code) == ("succeeded", 1, 200)
    assert a.attempt_log[0].response == "ok"


async def test_retries_follow_the_schedule(
    db: Database, dispatcher: Dispatcher, receiver: Receiver, clock: Clock
) -> None:
    receiver.answer_with(
        Answer(500, body=b"boom"),
        Answer(delay=2.0),  # longer than the dispatcher's 0.5 s timeout
        Answer(close=True),
        Answer(503, headers={"retry-after": "7200"}),
        Answer(502),
    )
    account = await new_account(db)
    hook = await add_endpoint(db, account, receiver.url, event_types=["message.queued"])
    await send(db, account)
    await drain(dispatcher)
    for attempt in range(1, 6):
        assert await dispatcher.send_due() == 1
        [d] = await _deliveries(db, account, hook.endpoint.id)
        assert (d.status, d.attempts) == ("pending", attempt)
        assert d.next_attempt_at is not None
        wait = (d.next_attempt_at - clock.now).total_seconds()
        expected = SCHEDULE[attempt]
        if attempt == 4:  # Retry-After: 2 h beats the 30 min of the schedule
            expected = max(expected, 7200)
            assert wait >= 7200
        assert expected * 0.8 - 1 <= wait <= expected * 1.2 + 1
        assert await dispatcher.send_due() == 0  # not due before its time
        clock.at(d.next_attempt_at)
    assert await dispatcher.send_due() == 1
    [d] = await _deliveries(db, account, hook.endpoint.id)
    assert (d.status, d.attempts) == ("succeeded", 6)
    log = d.attempt_log
    assert [a.status_code for a in log] == [500, None, None, 503, 502, 200]
    assert log[0].response == "boom"
    assert log[1].error is not None and "timed out" in log[1].error
    assert log[2].error is not None
    assert all(a.latency_ms >= 0 for a in log)
    # Every attempt carried the same id and body.
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert len({r.body for r in receiver.received}) == 1


async def test_the_last_attempt_fails_the_delivery(
    db: Database, dispatcher: Dispatcher, receiver: Receiver, clock: Clock
) -> None:
    receiver.answer_with(then=Answer(500))
    account = await new_account(db)
    hook = await add_endpoint(db, account, receiver.url)
    await send(db, account)
    await drain(dispatcher)
    for _ in SCHEDULE:
        assert await dispatcher.send_due() == 1
        [d] = await _deliveries(db, account, hook.endpoint.id)
        if d.next_attempt_at is not None:
            clock.at(d.next_attempt_at)
    [d] = await _deliveries(db, account, hook.endpoint.id)
    assert (d.status, d.attempts, d.last_status_code) == ("failed", len(SCHEDULE), 500)
    endpoint = await _endpoint(db, account, hook.endpoint.id)
    assert endpoint.enabled  # about 27 hours of failures, not five days
    assert endpoint.failing_since is not None


async def test_410_disables_the_endpoint(
    db: Database, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    receiver.answer_with(Answer(410))
    account = await new_account(db)
    hook = await add_endpoint(db, account, receiver.url)
    await send(db, account)
    await drain(dispatcher)
    assert await dispatcher.send_due() == 1
    endpoint = await _endpoint(db, account, hook.endpoint.id)
    assert not endpoint.enabled
    assert endpoint.disabled_reason is not None and "410 Gone" in endpoint.disabled_reason
    [d] = await _deliveries(db, account, hook.endpoint.id)
    assert d.status == "failed"
    await send(db, account)
    await drain(dispatcher)
    assert len(await _deliveries(db, account, hook.endpoint.id)) == 1  # no more for it


async def test_five_days_of_failures_disable_the_endpoint(
    db: Database, dispatcher: Dispatcher, receiver: Receiver, clock: Clock
) -> None:
    receiver.answer_with(then=Answer(500))
    account = await new_account(db)
    hook = await add_endpoint(db, account, receiver.url)
    await send(db, account)
    await drain(dispatcher)
    assert await dispatcher.send_due() == 1
    clock.advance(timedelta(days=4, hours=23).total_seconds())
    assert await dispatcher.send_due() == 1  # the second attempt: still enabled
    assert (await _endpoint(db, account, hook.endpoint.id)).enabled
    clock.advance(3600)
    await send(db, account)
    await drain(dispatcher)
    assert await dispatcher.send_due() >= 1
    endpoint = await _endpoint(db, account, hook.endpoint.id)
    assert not endpoint.enabled
    assert endpoint.disabled_reason is not None and "5 days" in endpoint.disabled_reason


async def test_a_success_ends_the_run_of_failures(
    db: Database, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    receiver.answer_with(Answer(500))
    account = await new_account(db)
    hook = await add_endpoint(db, account, receiver.url)
    await send(db, account)
    await drain(dispatcher)
    await dispatcher.send_due()
    assert (await _endpoint(db, account, hook.endpoint.id)).failing_since is not None
    await send(db, account)
    await drain(dispatcher)
    await dispatcher.send_due()
    assert (await _endpoint(db, account, hook.endpoint.id)).failing_since is None


async def test_during_a_rotation_both_secrets_sign(
    db: Database, dispatcher: Dispatcher, receiver: Receiver, clock: Clock
) -> None:
    account = await new_account(db)
    hook = await add_endpoint(db, account, receiver.url)
    box = box_for(db.url)
    new = await db.run_write(
        lambda s: secrets.rotate(
            s, box, account_id=account, endpoint_id=hook.endpoint.id, now=clock.now
        )
    )
    await send(db, account)
    await drain(dispatcher)
    await dispatcher.send_due()
    [request] = await receiver.until(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(hook.secret).verify(request.body, request.headers)
    Webhook(new).verify(request.body, request.headers)
    # A day later the old one no longer signs.
    clock.advance(timedelta(hours=24, seconds=1).total_seconds())
    await send(db, account)
    await drain(dispatcher)
    await dispatcher.send_due()
    second = (await receiver.until(2))[1]
    assert len(second.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(second.body, second.headers)


async def test_batch_mode_posts_up_to_100_events(
    db: Database, dispatcher: Dispatcher, receiver: Receiver
) -> None:
    account = await new_account(db)
    hook = await add_endpoint(db, account, receiver.url, batch=True)
    ids = await send(db, account, 150)
    await drain(dispatcher)
    while await dispatcher.send_due():
        pass
    got = await receiver.until(2)
    bodies = [Webhook(hook.secret).verify(r.body, r.headers) for r in got]
    assert all(b["type"] == "batch" for b in bodies)
    sizes = sorted(len(b["data"]) for b in bodies)
    assert sizes == [50, 100]
    seen = sorted(p["data"]["message_id"] for b in bodies for p in b["data"])
    assert seen == ids
    assert all(r.headers["webhook-id"].startswith("batch_") for r in got)


async def test_replay_one_and_by_range(
    db: Database, dispatcher: Dispatcher, receiver: Receiver, clock: Clock
) -> None:
    account = await new_account(db)
    hook = await add_endpoint(db, account, receiver.url)
    await send(db, account, 3)
    await drain(dispatcher)
    await dispatcher.send_due()
    await receiver.until(3)
    first = (await _deliveries(db, account, hook.endpoint.id))[-1]
    view = await db.run_write(
        lambda s: deliveries.replay_one(
            s, account_id=account, endpoint_id=hook.endpoint.id, delivery_id=first.id, now=clock.now
        )
    )
    assert (view.status, view.attempts) == ("pending", 0)
    assert await dispatcher.send_due() == 1
    again = (await receiver.until(4))[3]
    assert again.headers["webhook-id"] == first.webhook_id
    since = first.created_at - timedelta(minutes=1)
    count = await db.run_write(
        lambda s: deliveries.replay_range(
            s,
            account_id=account,
            endpoint_id=hook.endpoint.id,
            since=since,
            until=None,
            now=clock.now,
        )
    )
    assert count == 3
    assert await dispatcher.send_due() == 3
    replayed = (await receiver.until(7))[4:]
    assert sorted(r.headers["webhook-id"] for r in replayed) == sorted(
        r.headers["webhook-id"] for r in receiver.received[:3]
    )


async def test_a_status_callback_hears_each_status_of_its_message(
    db: Database, dispatcher: Dispatcher, receiver: Receiver, clock: Clock
) -> None:
    account = await new_account(db)
    [mid] = await send(db, account, callback=receiver.url + "?m=1")
    await send(db, account)  # no callback: nothing for it
    await only_these_due(db, [mid])
    now = clock.now
    await db.run_write(lambda s: stores.of(s).claim_due(s, now=now, limit=100, lease=LEASE))
    await db.run_write(
        lambda s: stores.of(s).record_sent(s, [Sent(mid, account, "sim", ["cb-1"])], now=now)
    )
    await db.run_write(
        lambda s: stores.of(s).record_outcomes(s, [DeliveryReport("sim", "cb-1", True)], now=now)
    )
    await drain(dispatcher)
    while await dispatcher.send_due():
        pass
    got = await receiver.until(3)
    secret = await db.run_write(
        lambda s: secrets.account_secret(s, box_for(db.url), account_id=account, now=now)
    )
    payloads = [Webhook(secret).verify(r.body, r.headers) for r in got]
    assert sorted(p["type"] for p in payloads) == [
        "message.delivered",
        "message.queued",
        "message.sent",
    ]
    assert {p["data"]["message_id"] for p in payloads} == {mid}
    assert {r.path for r in got} == {"/hook?m=1"}


async def test_private_addresses_are_refused_at_send_time(db: Database, clock: Clock) -> None:
    """A URL stored while allowed (or resolving elsewhere then) is checked again at
    each connection: with private addresses refused, nothing reaches the receiver."""
    async with running() as receiver:
        account = await new_account(db)
        hook = await add_endpoint(db, account, receiver.url)
        await send(db, account)
        async with Dispatcher(db, clock=clock) as strict:
            await drain(strict)
            await put_aside_pending(db, except_account=account)
            assert await strict.send_due() >= 1
        assert receiver.received == []
        [d] = await _deliveries(db, account, hook.endpoint.id)
        assert d.attempt_log[0].error is not None
        assert "loopback" in d.attempt_log[0].error
        assert d.status == "pending"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/x", "http"),
        ("http:///nohost", "host"),
        ("http://127.0.0.1/x", "loopback"),
        ("http://localhost:8000/x", "loopback"),
        ("http://[::1]/x", "loopback"),
        ("http://[::ffff:10.0.0.1]/x", "private"),
        ("http://10.1.2.3/x", "private"),
        ("http://192.168.1.1/x", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://224.0.0.1/x", "multicast"),
        ("http://0.0.0.0/x", "reserved"),
        ("http://240.0.0.1/x", "reserved"),
        ("http://example.com/" + "a" * 2000, "2,000"),
    ],
)
async def test_urls_refused(url: str, why: str) -> None:
    from jooksms.events.webhooks import urls

    with pytest.raises(urls.UrlRefused, match=why):
        await urls.check_url(url, allow_private=False)


async def test_public_addresses_pass() -> None:
    from jooksms.events.webhooks import urls

    assert await urls.check_url("https://93.184.215.14/hook", allow_private=False)
    assert urls.refused_address("2606:4700::1111") is None
    assert orjson.loads(b"1") == 1
