"""Errors the services raise; each carries what it is about and says what to do."""


class ServiceError(Exception):
    """Base: `code` is a short machine word, `status` the HTTP status the web layer answers with."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, fields: dict | None = None, code: str | None = None,
                 extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.extra = extra or {}  # what the error is about, in detail: conflicting runs, broken rules
        if code:
            self.code = code

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries besides (WWW-Authenticate, Retry-After)."""
        return {}


class Unauthorized(ServiceError):
    status = 401
    code = "unauthorized"


class ValidationFailed(ServiceError):
    status = 422
    code = "invalid"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class Unavailable(ServiceError):
    """Something the server needs is not set up (a program, a voice, a font): not the request's fault."""

    status = 503
    code = "unavailable"


class InsufficientStorage(ServiceError):
    """The server has no room left to keep what was sent: not the request's fault, and nothing was kept."""

    status = 507
    code = "storage_full"


class TooManyRequests(ServiceError):
    """Refused for now; `retry_after` says in how many seconds to try again."""

    status = 429
    code = "throttled"

    def __init__(self, message: str, retry_after: int, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


