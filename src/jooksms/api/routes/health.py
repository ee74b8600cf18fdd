"""GET /healthz: whether this process can serve, and which part is down when not."""

from __future__ import annotations

from fastapi import APIRouter, Request

from jooksms.api.deps import app_state
from jooksms.api.envelopes import Json
from jooksms.errors import Unavailable

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
async def healthz(request: Request) -> Json:
    """200 ``{"status": "ok", "database": "ok"}``; 503 with ``Retry-After`` and
    ``"database": "down"`` when the database cannot be
    reached, so a load balancer takes this process out until it can."""
    try:
        await app_state(request).db.ping()
    except Unavailable as exc:  # the reason is in the log, not for anyone to read
        return Json(
            {"status": "down", "database": "down"},
            status_code=503,
            headers={"Retry-After": str(exc.retry_after)},
        )
    return Json({"status": "ok", "database": "ok"})
