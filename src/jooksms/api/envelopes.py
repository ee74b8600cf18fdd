"""The seed's response shapes. Every JSON body the API returns is built here."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import orjson
from starlette.responses import JSONResponse

from jooksms.db.models import Contact, ContactGroup
from jooksms.errors import JookSMSError
from jooksms.services.messages import ContactView, MessageView
from jooksms.services.pagination import Page

T = TypeVar("T")


class Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class RenderedJson(Json):
    """A JSON answer whose body was rendered before (an idempotent replay's)."""

    def render(self, content: Any) -> bytes:
        assert isinstance(content, bytes)
        return content


def ok(data: Any, status_code: int = 200) -> Json:
    return Json(ok_body(data), status_code=status_code)


def ok_body(data: Any) -> dict[str, Any]:
    return {"result": "ok", "data": data}


def error(exc: JookSMSError) -> Json:
    body: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.fields:
        body["fields"] = exc.fields
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else {}
    retry_after = getattr(exc, "retry_after", None)  # RateLimited, Unavailable
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, int(retry_after)))
    return Json({"result": "error", "error": body}, status_code=exc.status_code, headers=headers)


def php_date(value: datetime) -> dict[str, Any]:
    """The seed's date object (PHP's DateTime serialised), always in UTC."""
    return {
        "date": value.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "timezone": "UTC",
        "timezone_type": 3,
    }


def iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


def contact_json(c: Contact | ContactView, *, with_reference: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "display_name": f"{c.first_name} {c.last_name}" if c.last_name else c.first_name,
        "first_name": c.first_name,
        "id": c.id,
        "is_public": c.is_public,
        "last_name": c.last_name,
        "main_phone": c.main_phone,
    }
    if with_reference:
        data["reference"] = c.reference  # type: ignore[union-attr]
    data["status"] = c.status
    return data


def message_json(m: MessageView) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if m.contact is not None:
        data["contact"] = {"data": contact_json(m.contact, with_reference=False)}
    data["content"] = m.content
    data["created"] = php_date(m.created_at)
    data["direction"] = m.direction
    data["external_id"] = m.external_id
    data["id"] = m.id
    data["number"] = m.number
    data["status"] = m.status
    return data


def search_hit_json(m: MessageView) -> dict[str, Any]:
    return {
        "id": m.id,
        "external_id": m.external_id,
        "direction": m.direction,
        "status": m.status,
        "number": m.number,
        "content": m.content,
        "created": iso(m.created_at),
        "updated": iso(m.updated_at),
    }


def group_json(g: ContactGroup) -> dict[str, Any]:
    return {"id": g.id, "name": g.name}


def paginated(
    page: Page[T], shape: Callable[[T], dict[str, Any]], *, url: str, query: Mapping[str, str]
) -> Json:
    """A list envelope whose links keep the request's per_page and filters."""
    links: dict[str, str] = {}
    if page.has_next:
        links["next"] = _page_url(url, query, page.request.page + 1)
    if page.has_previous:
        links["previous"] = _page_url(url, query, min(page.request.page - 1, page.total_pages))
    items = [shape(item) for item in page.items]
    meta: dict[str, Any] = {
        "pagination": {
            "count": len(items),
            "current_page": page.request.page,
            "links": links or [],
            "per_page": page.request.per_page,
            "total": page.total,
            "total_pages": page.total_pages,
        }
    }
    return Json({"result": "ok", "meta": meta, "data": items})


def _page_url(url: str, query: Mapping[str, str], number: int) -> str:
    params: Iterable[tuple[str, str]] = [(k, v) for k, v in query.items() if k != "page"]
    return f"{url}?{urlencode([('page', str(number)), *params])}"
