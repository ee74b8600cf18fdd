"""GET /healthz: whether this process can serve, and which part is down when not."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from jooksms.api.deps import app_state
from jooksms.api.envelopes import Json
from jooksms.errors import Unavailable

router = APIRouter()
RETRY_AFTER = "1"


@router.get("/healthz", include_in_schema=False)
async def healthz(request: Request) -> Json:
    """200 ``{"status": "ok", "database": "ok"}`` (with ``"delivery": "ok"`` where
    this process also delivers). When a part is down it says ``"down"`` and the
    answer is a 503 with ``Retry-After``, so a load balancer or systemd's watchdog
    takes the process out until it is back."""
    parts = {"database": await _database(request)}
    sender: asyncio.Task[None] | None = getattr(request.app.state, "delivery", None)
    if sender is not None:
        parts["delivery"] = "down" if sender.done() else "ok"
    if "down" in parts.values():
        return Json(
            {"status": "down", **parts}, status_code=503, headers={"Retry-After": RETRY_AFTER}
        )
    return Json({"status": "ok", **parts})


async def _database(request: Request) -> str:
    try:
        await app_state(request).db.ping()
    except Unavailable:  # the reason is in the log, not for anyone to read
        return "down"
    return "ok"
