"""A webhook receiver for the events benchmark: a bare ASGI app under uvicorn (uvloop,
httptools) that answers every POST 200 at once and keeps what came.

Run by ``bench/events.py`` as its own process (its CPU is then counted apart from the
bench's and the platform's)::

    python bench/webhook_receiver.py --port PORT [--verify-every 10]

- ``POST /hook``: a Standard Webhooks delivery, one event or a batch
  (``{"type": "batch", "data": [...]}``). Each event is recorded with the time the
  request reached the app (this machine's wall clock, before the body is parsed):
  event id, message id, type. Every ``--verify-every``-th POST has its signature
  checked with the ``standardwebhooks`` package (a bad one is counted, still 200).
- ``POST /control/secret``: the endpoint's secret (``whsec_...``), once it is known.
- ``GET /stats``: counters (POSTs, events, distinct ids, duplicates, signatures).
- ``GET /received?after=N``: the records from the N-th on, as
  ``[[event_id, message_id, type, received_at], ...]``.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import uvicorn
from standardwebhooks import Webhook

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Receiver:
    def __init__(self, verify_every: int) -> None:
        self.verify_every = max(1, verify_every)
        self.webhook: Webhook | None = None
        self.records: list[tuple[int, int | None, str, float]] = []
        self.seen: set[int] = set()
        self.posts = 0
        self.duplicates = 0
        self.verified = 0
        self.bad_signatures = 0
        self.unverified = 0
        self.batch_sizes: Counter[int] = Counter()
        self.first_at: float | None = None
        self.last_at: float | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        at = time.time()
        body = await _body(receive)
        path, method = scope["path"], scope["method"]
        if method == "POST" and path == "/hook":
            self.hook(at, body, scope)
            await _answer(send, 200, b"ok")
        elif method == "POST" and path == "/control/secret":
            self.webhook = Webhook(body.decode())
            await _answer(send, 200, b"ok")
        elif path == "/stats":
            await _answer(send, 200, orjson.dumps(self.stats()))
        elif path == "/received":
            after = int(_query(scope).get("after", "0"))
            await _answer(send, 200, orjson.dumps(self.records[after:]))
        else:
            await _answer(send, 404, b"no such path")

    def hook(self, at: float, body: bytes, scope: Scope) -> None:
        self.posts += 1
        self.first_at = self.first_at or at
        self.last_at = at
        if self.posts % self.verify_every == 0:
            self.verify(body, scope)
        doc = orjson.loads(body)
        events = doc["data"] if doc.get("type") == "batch" else [doc]
        self.batch_sizes[len(events)] += 1
        for event in events:
            event_id = int(event["id"])
            if event_id in self.seen:
                self.duplicates += 1
            self.seen.add(event_id)
            data = event.get("data") or {}
            self.records.append((event_id, data.get("message_id"), str(event["type"]), at))

    def verify(self, body: bytes, scope: Scope) -> None:
        if self.webhook is None:
            self.unverified += 1
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            self.webhook.verify(body, headers)
        except Exception:
            self.bad_signatures += 1
        else:
            self.verified += 1

    def stats(self) -> dict[str, Any]:
        return {
            "posts": self.posts,
            "events": len(self.records),
            "distinct": len(self.seen),
            "duplicates": self.duplicates,
            "verified": self.verified,
            "bad_signatures": self.bad_signatures,
            "unverified": self.unverified,
            "batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())},
            "first_at": self.first_at,
            "last_at": self.last_at,
        }


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode()
    return dict(part.partition("=")[::2] for part in raw.split("&") if part)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--verify-every", type=int, default=10)
    args = parser.parse_args()
    config = uvicorn.Config(
        Receiver(args.verify_every),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
        # The dispatcher keeps pooled connections: do not drop them between rounds.
        timeout_keep_alive=60,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
