"""The one exception tree of JookSMS. Each class maps to one API error.

JookSMSError
├── BadRequest          400  malformed body (bad JSON, wrong shape)
├── Unauthorized        401  missing, unknown or expired token
│   └── InvalidClient   401  wrong client id or secret (RFC 6749 invalid_client)
├── NotFound            404  unknown id, or another account's id
├── Conflict            409  the object is in a state that forbids the change
├── PayloadTooLarge     413
├── ValidationFailed    422  one or more fields are invalid (``fields`` names them)
├── RateLimited         429
└── Unavailable         503  the database cannot be reached now (with ``Retry-After``)
"""

from __future__ import annotations


class JookSMSError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class BadRequest(JookSMSError):
    status_code = 400
    code = "bad_request"


class Unauthorized(JookSMSError):
    status_code = 401
    code = "unauthorized"


class InvalidClient(Unauthorized):
    code = "invalid_client"


class Forbidden(JookSMSError):
    """Authenticated otherwise, or not at all, but not allowed: a webhook whose
    signature does not match."""

    status_code = 403
    code = "forbidden"


class NotFound(JookSMSError):
    status_code = 404
    code = "not_found"


class Conflict(JookSMSError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(JookSMSError):
    status_code = 413
    code = "payload_too_large"


class ValidationFailed(JookSMSError):
    status_code = 422
    code = "invalid_field"

    @classmethod
    def field(cls, name: str, problem: str) -> ValidationFailed:
        return cls(f"{name}: {problem}", fields={name: problem})


class RateLimited(JookSMSError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(JookSMSError):
    """A part the request needs is down (the database): try again later. Nothing the
    request asked for was done, unless the answer is lost with the connection, which
    is what the send endpoints' ``Idempotency-Key`` is for."""

    status_code = 503
    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after
