"""One Idempotency-Key sent at the same time to two ``jooksms serve`` processes on one
PostgreSQL database: the messages are stored once, and every answer is the first."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.conftest import POSTGRES_URL
from tests.helpers.live import ServeProcess, jooksms, start_serve, throwaway_postgres
from tests.helpers.processes import status_counts

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not POSTGRES_URL, reason="JOOKSMS_TEST_POSTGRES_URL is not set"),
]
BODY = {"body": "once", "list": [{"to": f"+50768{i:06d}"} for i in range(50)]}


async def _race(servers: list[ServeProcess], token: str, rounds: int) -> list[set[bytes]]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        answers = []
        for key in range(rounds):
            sent = await asyncio.gather(
                *(
                    http.post(
                        f"{server.base_url}/api/v1/sms/to_many",
                        json=BODY,
                        headers={"Idempotency-Key": f"race-{key}"},
                    )
                    for server in servers
                    for _ in range(5)
                )
            )
            assert {r.status_code for r in sent} == {200}, [r.text for r in sent]
            answers.append({r.content for r in sent})
    return answers


def test_one_key_on_two_processes_stores_once(tmp_path: Path) -> None:
    assert POSTGRES_URL
    rounds = 10
    with throwaway_postgres(POSTGRES_URL) as db_url:
        jooksms("db", "upgrade", database_url=db_url)
        servers: list[ServeProcess] = []
        try:
            for name in ("a", "b"):
                (tmp_path / name).mkdir()
                servers.append(
                    start_serve(db_url, tmp_path / name, settings={"JOOKSMS_DELIVERY": "false"})
                )
            client_id, secret = servers[0].demo_credentials()
            token = httpx.post(
                f"{servers[0].base_url}/api/v1/oauth/access_token",
                data={"client_id": client_id, "client_secret": secret},
            ).json()["access_token"]
            answers = asyncio.run(_race(servers, token, rounds))
        finally:
            for server in servers:
                server.stop()
        assert all(len(same) == 1 for same in answers)
        assert sum(status_counts(db_url).values()) == rounds * len(BODY["list"])
