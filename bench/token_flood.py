"""A flood of wrong client secrets against a legitimate client's intake.

Starts a real ``jooksms serve`` (delivery off) on a fresh SQLite database (or
``--postgres URL``), then for ``--seconds`` each: a legitimate client POSTs
``/api/v1/sms`` (``--senders`` at a time) alone, then while ``--attackers`` at a time
send wrong secrets to ``/api/v1/oauth/access_token``. Prints the client's msg/s in
both phases, its share, and the attackers' answers by status.

    .venv/bin/python bench/token_flood.py --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers.live import jooksms, start_serve


async def _send(base: str, token: str, until: float, senders: int) -> int:
    sent = 0
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:

        async def one() -> None:
            nonlocal sent
            while time.monotonic() < until:
                r = await http.post("/api/v1/sms", json={"to": "+50768819519", "body": "hi"})
                sent += r.status_code == 200

        await asyncio.gather(*(one() for _ in range(senders)))
    return sent


async def _flood(base: str, client_id: str, until: float, attackers: int) -> Counter[int]:
    answers: Counter[int] = Counter()
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:

        async def one() -> None:
            while time.monotonic() < until:
                r = await http.post(
                    "/api/v1/oauth/access_token",
                    data={"client_id": client_id, "client_secret": "guess"},
                )
                answers[r.status_code] += 1

        await asyncio.gather(*(one() for _ in range(attackers)))
    return answers


async def _phases(base: str, creds: dict[str, str], args: argparse.Namespace) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=base) as http:
        token = (await http.post("/api/v1/oauth/access_token", data=creds)).json()["access_token"]
    alone = await _send(base, token, time.monotonic() + args.seconds, args.senders)
    until = time.monotonic() + args.seconds
    flooded, answers = await asyncio.gather(
        _send(base, token, until, args.senders),
        _flood(base, creds["client_id"], until, args.attackers),
    )
    return {
        "alone_msg_s": round(alone / args.seconds, 1),
        "flooded_msg_s": round(flooded / args.seconds, 1),
        "share": round(flooded / max(alone, 1), 2),
        "wrong_secret_answers": dict(answers),
        "wrong_secret_req_s": round(sum(answers.values()) / args.seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--attackers", type=int, default=32)
    parser.add_argument("--postgres", help="a PostgreSQL URL instead of a fresh SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or f"sqlite:///{Path(tmp) / 'flood.db'}"
        jooksms("db", "upgrade", database_url=url)
        account = json.loads(
            jooksms(
                "account", "create", "--name", "bench", "--number", "+50760000001", database_url=url
            )
        )
        creds = json.loads(
            jooksms("client", "create", "--account", str(account["id"]), database_url=url)
        )
        server = start_serve(url, Path(tmp))
        try:
            figures = asyncio.run(_phases(server.base_url, creds, args))
        finally:
            server.stop()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
