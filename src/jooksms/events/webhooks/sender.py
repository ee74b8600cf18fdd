"""One POST of a delivery, signed by the Standard Webhooks spec, and what came of it.

Headers: ``webhook-id`` (the event id, or the batch's), ``webhook-timestamp`` (Unix
seconds, of the wall clock: the receiver checks it against its own) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of id.timestamp.body>``, one per
signing secret, space-separated). Redirects are not followed: a 3xx is a failure.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from math import floor

import httpx

from jooksms.events.webhooks import secrets
from jooksms.events.webhooks.deliveries import RESPONSE_BYTES, Job, Outcome

log = logging.getLogger(__name__)


async def post(client: httpx.AsyncClient, job: Job, *, wall: Callable[[], datetime]) -> Outcome:
    """POST ``job``; never raises (every failure is an outcome to record)."""
    timestamp = wall()
    headers = {
        "content-type": "application/json",
        "webhook-id": job.webhook_id,
        "webhook-timestamp": str(floor(timestamp.timestamp())),
        "webhook-signature": secrets.signature(
            job.secrets, webhook_id=job.webhook_id, timestamp=timestamp, body=job.body
        ),
    }
    started = time.monotonic()
    try:
        async with client.stream("POST", job.url, content=job.body, headers=headers) as answer:
            head = await _first_bytes(answer)
            return Outcome(
                status_code=answer.status_code,
                error=None,
                latency_ms=_since(started),
                response=head.decode("utf-8", errors="replace"),
                retry_after=retry_after(answer.headers.get("retry-after"), now=wall()),
            )
    except httpx.TimeoutException as exc:
        return Outcome(None, f"timed out ({type(exc).__name__})", _since(started))
    except httpx.HTTPError as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:500], _since(started))
    except Exception as exc:  # a URL httpx cannot use, say: recorded, never fatal
        log.warning("webhook delivery %d: %s", job.id, exc)
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:500], _since(started))


async def _first_bytes(answer: httpx.Response) -> bytes:
    """The answer's first bytes; the rest is not read (a huge answer costs nothing)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in answer.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= RESPONSE_BYTES:
            break
    return b"".join(chunks)[:RESPONSE_BYTES]


def retry_after(value: str | None, *, now: datetime) -> float | None:
    """``Retry-After`` in seconds: a number of seconds, or an HTTP date."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
