"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jooksms.api.deps import AppState
from jooksms.api.envelopes import Json, error
from jooksms.api.openapi_docs import component_schemas
from jooksms.api.reference import reference_page
from jooksms.api.routes import account, contacts, events, health, metrics, sms, twilio, webhooks
from jooksms.db.engine import describe, is_unavailable
from jooksms.errors import JookSMSError, NotFound, Unavailable, ValidationFailed
from jooksms.http_timeouts import DRAINING
from jooksms.platform import Platform
from jooksms.services.auth import TokenAuthority

log = logging.getLogger("jooksms.api")
OPENAPI_URL = "/api/v1/openapi.json"
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_RETRIED = "jooksms.retried"


def retries_read(scope: Scope) -> bool:
    """Whether a read that met an unavailable database runs once more."""
    return scope["method"] in _SAFE_METHODS and not scope.get(_RETRIED)


class AnswerErrors:
    """Any exception a route lets through answers the API's error envelope, and the
    connection stays open for the client's next request.

    A handler for ``Exception`` would not do: Starlette runs it in its outermost
    middleware, which re-raises after answering, and uvicorn then closes the
    keep-alive connection, so the client's next request meets a reset. Here, inside
    that middleware, the exception ends with the answer. One log record, with the
    traceback; a database that cannot be reached is a 503 and a one-line warning.

    A read (GET, HEAD) that met a lost database connection runs once more before
    that: the pool has replaced its connections by then, and a read changes nothing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        received: list[Message] = []

        async def recorded() -> Message:
            message = await receive()
            received.append(message)
            return message

        async def replayed() -> Message:
            return received.pop(0) if received else await receive()

        try:
            try:
                await self.app(scope, recorded if retries_read(scope) else receive, watched)
            except Unavailable:
                if started or not retries_read(scope):
                    raise
                scope[_RETRIED] = True
                await self.app(scope, replayed, watched)
        except ClientDisconnect:
            return  # nobody is left to answer (a client gone, a body timed out)
        except Exception as exc:
            if started:  # half an answer is out: only closing can tell the client
                raise
            await self._answer(exc, scope)(scope, receive, send)

    @staticmethod
    def _answer(exc: Exception, scope: Scope) -> Json:
        where = f"{scope['method']} {scope['path']}"
        if is_unavailable(exc):
            log.warning("%s: the database is unavailable (%s)", where, describe(exc))
            return error(Unavailable("the database is unavailable; try again shortly"))
        log.error("%s: unexpected error", where, exc_info=exc)
        return error(JookSMSError("internal error"))


class StripTrailingSlash:
    """``/api/v1/sms/`` and ``/api/v1/sms`` are one route. Rewriting the path, rather
    than redirecting, matters because ``curl -X POST`` does not follow redirects."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope, path=path.rstrip("/") or "/")
        await self.app(scope, receive, send)


def create_app(platform: Platform, *, delivery: bool = False) -> FastAPI:
    """The API, attached to ``platform``. With ``delivery`` the same process also
    sends what it accepts (the embedded mode of ``jooksms serve``)."""
    settings = platform.settings
    draining = asyncio.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with platform.running(feed=True, delivery=delivery, simulator_if_unconfigured=True):
            app.state.delivery = platform.task("delivery")  # for /healthz
            # The server sets it when it starts to shut down (see http_timeouts),
            # before it waits for open answers: event streams end then.
            yield {DRAINING: draining}
            draining.set()
        await platform.dispose()

    app = FastAPI(
        title="JookSMS API",
        version="1.0",
        description="Send and receive SMS, manage contacts and contact groups.",
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
        lifespan=lifespan,
        # No OpenTelemetry is configured; its per-request checks cost ~4% of the loop.
        telemetry={"tracing": False, "metrics": False, "logs": False, "auto_configure": False},
    )
    app.state.feed = platform.feed
    app.state.draining = draining
    app.state.jooksms = AppState(
        settings=settings,
        db=platform.db,
        tokens=TokenAuthority.from_settings(platform.db, settings),
        intake=platform.intake,
    )
    app.router.routes.extend(sms.FAST_ROUTES)
    app.router.routes.extend(twilio.router.routes)  # Twilio's webhooks
    app.router.routes.extend(metrics.router.routes)  # GET /metrics
    for router in (
        account.router,
        health.router,
        sms.router,
        contacts.router,
        events.router,
        webhooks.router,
    ):
        # Adding the routes themselves, not the routers: FastAPI re-checks every
        # included router's routes on each request, a cost that grows with the API.
        app.router.routes.extend(router.routes)
    _add_error_handlers(app)
    _add_openapi(app)
    app.add_middleware(AnswerErrors)
    app.add_middleware(StripTrailingSlash)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(JookSMSError)
    async def _ours(request: Request, exc: JookSMSError) -> Json:
        if isinstance(exc, Unavailable):
            if retries_read(request.scope):
                raise exc  # to AnswerErrors, which runs the read again
            log.warning("%s %s: %s", request.method, request.url.path, exc.message)
        return error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Json:
        errors = exc.errors()
        if any(e["loc"] and e["loc"][0] == "path" for e in errors):
            # GET /sms/to_many reaches /sms/{message_id} only because POST /sms/to_many
            # does not take GET: that is a wrong method, not an unknown message.
            allowed = _allowed_methods(app, request.scope)
            if request.method not in allowed:
                return _method_not_allowed("Method Not Allowed", allowed)
            return error(NotFound("no such object"))
        fields = {str(e["loc"][-1]): str(e["msg"]) for e in errors}
        name, problem = next(iter(fields.items()))
        return error(ValidationFailed(f"{name}: {problem}", fields=fields))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Json:
        if exc.status_code == 405:
            # Starlette's Allow names only the first route that matched the path, and
            # GET and POST of one path are separate routes.
            return _method_not_allowed(str(exc.detail), _allowed_methods(app, request.scope))
        failure = JookSMSError(str(exc.detail))
        failure.status_code = exc.status_code
        failure.code = "not_found" if exc.status_code == 404 else "error"
        response = error(failure)
        response.headers.update(exc.headers or {})
        return response


def _method_not_allowed(message: str, allowed: list[str]) -> Json:
    failure = JookSMSError(message)
    failure.status_code = 405
    failure.code = "method_not_allowed"
    response = error(failure)
    response.headers["Allow"] = ", ".join(allowed)  # required on a 405 (RFC 9110)
    return response


def _allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """The methods served at this request's path. Where a literal route and one with a
    parameter both match (``/sms/to_many`` and ``/sms/{message_id}``), the literal one
    names the resource: the other would only answer that no such message exists."""
    matching = [r for r in app.router.routes if r.matches(scope)[0] is not Match.NONE]
    fewest = min((_param_count(r) for r in matching), default=0)
    methods: set[str] = set()
    for route in matching:
        if _param_count(route) == fewest:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def _param_count(route: BaseRoute) -> int:
    return len(getattr(route, "param_convertors", {}))


def _add_openapi(app: FastAPI) -> None:
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = default()
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                component_schemas()
            )
            schema["components"]["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer"}
            }
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/api/v1/docs", include_in_schema=False)
    async def docs() -> Any:
        return reference_page(app.openapi())
