"""``GET /metrics``: Prometheus text format, outside the API's schema and tokens (an
optional token of its own, ``JOOKSMS_METRICS_TOKEN``; without it, loopback
clients only)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from jooksms.api.deps import app_state
from jooksms.db.engine import Database
from jooksms.metrics import DatabaseGauges, check_access, exposition

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    state = app_state(request)
    client = request.client.host if request.client else None
    check_access(request.headers.get("authorization"), state.settings.metrics_token, client)
    body = await exposition(_gauges(request.app, state.db))
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _gauges(app: FastAPI, db: Database) -> DatabaseGauges:
    """The app's database gauges, made at the first scrape: their cache is per app."""
    gauges: DatabaseGauges | None = getattr(app.state, "metrics", None)
    if gauges is None:
        gauges = app.state.metrics = DatabaseGauges(db)
    return gauges
