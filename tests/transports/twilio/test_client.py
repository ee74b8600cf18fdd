"""The Twilio transport: its URL, and what it makes of each answer of a server that
implements Twilio's Messages API (``fake_twilio``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from jooksms.transports.base import OutgoingSms
from jooksms.transports.twilio import (
    DEFAULT_BASE_URL,
    TwilioClient,
    TwilioConfig,
    TwilioConfigError,
    interpret,
)
from tests.helpers.fake_twilio import FakeTwilio
from tests.helpers.live import free_port

CALLBACK = "https://sms.example.com/webhooks/twilio/tw/status"


def sms(n: int = 1, to: str = "+50768819519") -> OutgoingSms:
    return OutgoingSms(n, "+50672004393", to, f"hello {n}")


# --- configuration --------------------------------------------------------------------


def test_url_with_defaults() -> None:
    config = TwilioConfig.from_url("twilio://AC123:s3cret@api")
    assert config.account_sid == "AC123"
    assert config.auth_token == "s3cret"
    assert config.base_url == DEFAULT_BASE_URL
    assert config.window == 32
    assert config.messaging_service_sid is None
    assert config.messages_url == f"{DEFAULT_BASE_URL}/2010-04-01/Accounts/AC123/Messages.json"
    assert "s3cret" not in repr(config)


def test_url_with_settings() -> None:
    config = TwilioConfig.from_url(
        "twilio://AC123:p%40ss@api/?base_url=http://127.0.0.1:8123/"
        "&messaging_service_sid=MG42&window=4&rate=10.5&timeout=2"
    )
    assert config.auth_token == "p@ss"
    assert config.base_url == "http://127.0.0.1:8123"
    assert config.messaging_service_sid == "MG42"
    assert (config.window, config.rate, config.timeout) == (4, 10.5, 2.0)


@pytest.mark.parametrize(
    ("url", "part"),
    [
        ("smpp://AC1:t@api", "scheme"),
        ("twilio://:t@api", "account_sid"),
        ("twilio://AC1@api", "auth_token"),
        ("twilio://XY1:t@api", "account_sid"),
        ("twilio://AC1:t@api.twilio.com", "host"),
        ("twilio://AC1:t@api:443", "host"),
        ("twilio://AC1:t@api/2010-04-01", "path"),
        ("twilio://AC1:t@api?base_url=ftp://x", "base_url"),
        ("twilio://AC1:t@api?base_url=", "base_url"),
        ("twilio://AC1:t@api?window=0", "window"),
        ("twilio://AC1:t@api?window=many", "window"),
        ("twilio://AC1:t@api?rate=-1", "rate"),
        ("twilio://AC1:t@api?messaging_service_sid=PN1", "messaging_service_sid"),
        ("twilio://AC1:t@api?colour=blue", "colour"),
        ("twilio://AC1:t@api?window=1&window=2", "window"),
    ],
)
def test_bad_urls_name_the_part(url: str, part: str) -> None:
    with pytest.raises(TwilioConfigError) as caught:
        TwilioConfig.from_url(url)
    assert caught.value.part == part
    assert str(caught.value).startswith(f"{part}: ")


def test_errors_never_repeat_the_token() -> None:
    with pytest.raises(TwilioConfigError) as caught:
        TwilioConfig.from_url("twilio://AC1:zq9\x01xw@api")
    assert caught.value.part == "auth_token"
    assert "zq9" not in str(caught.value)


# --- against the fake server ----------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[tuple[FakeTwilio, str]]:
    server = FakeTwilio()
    with server.running() as base_url:
        yield server, base_url


def config_for(fake: tuple[FakeTwilio, str], **query: object) -> TwilioConfig:
    server, base_url = fake
    extra = "".join(f"&{k}={v}" for k, v in query.items())
    return TwilioConfig.from_url(
        f"twilio://{server.account_sid}:{server.auth_token}@api?base_url={base_url}{extra}"
    )


@pytest.fixture
async def client(fake: tuple[FakeTwilio, str]) -> AsyncIterator[TwilioClient]:
    twilio = TwilioClient(config_for(fake), status_callback=CALLBACK)
    await twilio.start()
    yield twilio
    await twilio.stop()


async def test_accepted_message_gives_its_sid(
    fake: tuple[FakeTwilio, str], client: TwilioClient
) -> None:
    server, _ = fake
    result = await client.submit(sms(7))
    assert result.ok, result.failure
    assert result.id == 7
    [created] = server.messages
    assert result.carrier_ids == (created["sid"],)
    assert created["sid"].startswith("SM")
    assert created["To"] == "+50768819519"
    assert created["From"] == "+50672004393"
    assert created["Body"] == "hello 7"
    assert created["StatusCallback"] == CALLBACK
    assert server.unauthorized == 0


async def test_messaging_service_replaces_from(fake: tuple[FakeTwilio, str]) -> None:
    server, _ = fake
    twilio = TwilioClient(config_for(fake, messaging_service_sid="MG1"))
    await twilio.start()
    try:
        assert (await twilio.submit(sms())).ok
    finally:
        await twilio.stop()
    [created] = server.messages
    assert created["MessagingServiceSid"] == "MG1"
    assert "From" not in created
    assert "StatusCallback" not in created  # no public URL, no callback


async def test_invalid_number_is_permanent_and_keeps_twilios_code(client: TwilioClient) -> None:
    result = await client.submit(sms(to="not-a-number"))
    failure = result.failure
    assert failure is not None
    assert failure.kind == "permanent"
    assert failure.status == 21211
    assert "21211" in failure.description
    assert "not a valid phone number" in failure.description
    assert not failure.maybe_delivered
    assert result.carrier_ids == ()


async def test_429_is_throttled_and_pauses(fake: tuple[FakeTwilio, str]) -> None:
    server, _ = fake
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    twilio = TwilioClient(config_for(fake), sleep=sleep)
    await twilio.start()
    try:
        server.throttle = 2
        for _ in range(2):
            failure = (await twilio.submit(sms())).failure
            assert failure is not None
            assert (failure.kind, failure.status) == ("throttled", 20429)
            assert "Too Many Requests" in failure.description
        # Each next submit first waits out a pause: a second, doubling while 429s last.
        assert (await twilio.submit(sms(2))).ok
    finally:
        await twilio.stop()
    assert len(pauses) == 2
    assert 0.9 < pauses[0] <= 1.0
    assert 1.9 < pauses[1] <= 2.0


async def test_500_is_transient(fake: tuple[FakeTwilio, str], client: TwilioClient) -> None:
    server, _ = fake
    server.fail = 1
    failure = (await client.submit(sms())).failure
    assert failure is not None
    assert (failure.kind, failure.status) == ("transient", 20500)
    assert failure.maybe_delivered  # Twilio may have created it before failing


async def test_refused_credentials_wait_rather_than_fail(fake: tuple[FakeTwilio, str]) -> None:
    server, base_url = fake
    config = TwilioConfig.from_url(f"twilio://{server.account_sid}:wrong@api?base_url={base_url}")
    twilio = TwilioClient(config)
    await twilio.start()
    try:
        failure = (await twilio.submit(sms())).failure
    finally:
        await twilio.stop()
    assert failure is not None
    assert (failure.kind, failure.status) == ("transient", 20003)
    assert "credentials" in failure.description
    assert server.unauthorized == 1


async def test_connection_refused_is_transient_and_not_sent() -> None:
    config = TwilioConfig.from_url(f"twilio://AC1:t@api?base_url=http://127.0.0.1:{free_port()}")
    twilio = TwilioClient(config)
    await twilio.start()
    try:
        failure = (await twilio.submit(sms())).failure
    finally:
        await twilio.stop()
    assert failure is not None
    assert failure.kind == "transient"
    assert not failure.maybe_delivered
    assert "ConnectError" in failure.description


async def test_no_answer_in_time_may_have_been_delivered(fake: tuple[FakeTwilio, str]) -> None:
    server, _ = fake
    server.delay = 1.0
    twilio = TwilioClient(config_for(fake, timeout=0.2))
    await twilio.start()
    try:
        failure = (await twilio.submit(sms())).failure
    finally:
        await twilio.stop(timeout=2)
    assert failure is not None
    assert failure.kind == "transient"
    assert failure.maybe_delivered
    assert "ReadTimeout" in failure.description


async def test_window_caps_requests_in_flight(fake: tuple[FakeTwilio, str]) -> None:
    server, _ = fake
    server.delay = 0.05
    twilio = TwilioClient(config_for(fake, window=3))
    await twilio.start()
    try:
        results = await asyncio.gather(*(twilio.submit(sms(n)) for n in range(12)))
    finally:
        await twilio.stop()
    assert all(r.ok for r in results)
    assert len({r.carrier_ids for r in results}) == 12
    assert server.most_in_flight == 3
    assert twilio.most_in_flight == 3


async def test_rate_paces_requests() -> None:
    def created(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"sid": "SM1", "status": "queued"})

    config = TwilioConfig.from_url("twilio://AC1:t@api?rate=20")
    twilio = TwilioClient(config, transport=httpx.MockTransport(created))
    await twilio.start()
    started = time.monotonic()
    try:
        await asyncio.gather(*(twilio.submit(sms(n)) for n in range(5)))
    finally:
        await twilio.stop()
    # A full bucket of one, then one every 50 ms.
    assert time.monotonic() - started >= 0.19


async def test_stop_refuses_new_submits() -> None:
    config = TwilioConfig.from_url("twilio://AC1:t@api")
    twilio = TwilioClient(config, transport=httpx.MockTransport(lambda _: httpx.Response(201)))
    with pytest.raises(RuntimeError):
        await twilio.submit(sms())
    await twilio.start()
    await twilio.stop()
    failure = (await twilio.submit(sms())).failure
    assert failure is not None
    assert (failure.kind, failure.maybe_delivered) == ("transient", False)


async def test_stop_waits_for_requests_in_flight(fake: tuple[FakeTwilio, str]) -> None:
    server, _ = fake
    server.delay = 0.2
    twilio = TwilioClient(config_for(fake))
    await twilio.start()
    pending = asyncio.create_task(twilio.submit(sms()))
    await asyncio.sleep(0.05)
    await twilio.stop(timeout=5)
    assert (await pending).ok


# --- answers, one by one --------------------------------------------------------------


def answer(status: int, **kw: object) -> httpx.Response:
    return httpx.Response(status, request=httpx.Request("POST", "https://api.twilio.com"), **kw)  # type: ignore[arg-type]


def test_accepted_without_sid_may_be_sent_twice_if_retried() -> None:
    failure = interpret(1, answer(201, json={"status": "queued"})).failure
    assert failure is not None
    assert (failure.kind, failure.maybe_delivered) == ("transient", True)


def test_error_without_twilio_body_keeps_the_http_status() -> None:
    failure = interpret(1, answer(400, text="<html>Bad Request</html>")).failure
    assert failure is not None
    assert (failure.kind, failure.status) == ("permanent", None)
    assert "HTTP 400" in failure.description


def test_503_is_transient_and_not_sent() -> None:
    failure = interpret(1, answer(503, json={"code": 20503, "message": "busy"})).failure
    assert failure is not None
    assert (failure.kind, failure.status, failure.maybe_delivered) == ("transient", 20503, False)


def test_other_client_errors_are_permanent() -> None:
    body = {"code": 21610, "message": "Attempt to send to unsubscribed recipient"}
    failure = interpret(1, answer(400, json=body)).failure
    assert failure is not None
    assert (failure.kind, failure.status) == ("permanent", 21610)
