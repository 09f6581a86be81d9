"""One error hierarchy for every platform.

``LabelingError`` is the root. ``APIError`` and its subclasses come from an HTTP answer and carry the
platform, method, path, status, the vendor's message and request id; never a secret (clients pass the
message through a :class:`~dagster_labeling._core.redaction.Redactor`).
"""

from collections.abc import Callable, Mapping
from typing import Any, TypeVar


class LabelingError(Exception):
    """Base class of every error raised by dagster-labeling."""


class InvalidInput(LabelingError, ValueError):
    """Input rejected before anything was sent; the message names the field and the fix."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class ConnectionFailed(LabelingError):
    """The platform could not be reached (DNS, refused connection, TLS, timeout) after all retries."""

    def __init__(self, message: str, *, platform: str, method: str, path: str, attempts: int) -> None:
        self.platform, self.method, self.path, self.attempts = platform, method, path, attempts
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:  # keyword-only fields: the default Exception pickling can't rebuild it
        return (_rebuild_connection_failed, (type(self), str(self), self.platform, self.method, self.path,
                                             self.attempts))


def _rebuild_connection_failed(cls: type[ConnectionFailed], message: str, platform: str, method: str, path: str,
                               attempts: int) -> ConnectionFailed:
    return cls(message, platform=platform, method=method, path=path, attempts=attempts)


class APIError(LabelingError):
    """The platform answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        platform: str,
        method: str,
        path: str,
        status_code: int,
        request_id: str | None = None,
        body: Any = None,
    ) -> None:
        self.message = message
        self.platform = platform
        self.method = method
        self.path = path
        self.status_code = status_code
        self.request_id = request_id
        self.body = body
        super().__init__(message)

    def __str__(self) -> str:
        rid = f", request id {self.request_id}" if self.request_id else ""
        return f"{self.platform} {self.method} {self.path} -> HTTP {self.status_code}: {self.message}{rid}"

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across Dagster's process boundaries
        return (
            _rebuild_api_error,
            (type(self), self.message, self.platform, self.method, self.path, self.status_code,
             self.request_id, self.body),
            # Extra attributes set after construction (RateLimited/ServerError ``retry_after``) travel too.
            dict(self.__dict__),
        )


def _rebuild_api_error(cls: type[APIError], message: str, platform: str, method: str, path: str,
                       status_code: int, request_id: str | None, body: Any) -> APIError:
    return cls(message, platform=platform, method=method, path=path, status_code=status_code,
               request_id=request_id, body=body)


class BadRequest(APIError):
    """400/422: the platform rejected the request's content."""


class Unauthorized(APIError):
    """401/403: the API key is missing, wrong, or lacks permission."""


class NotFound(APIError):
    """404: the object does not exist (or is not visible to this key)."""


class Conflict(APIError):
    """409: the object already exists (duplicate name or idempotency key)."""


class RateLimited(APIError):
    """429: too many requests; ``retry_after`` holds the server's hint in seconds, if it gave one."""

    retry_after: float | None = None


class ServerError(APIError):
    """5xx: the platform failed."""


class JobFailed(LabelingError):
    """A remote job ended FAILED or CANCELED; carries the vendor's reason, raw status and UI link."""

    def __init__(self, message: str, *, job_id: str, state: str, raw_status: str | None, url: str | None,
                 reason: str | None = None) -> None:
        self.job_id, self.state, self.raw_status, self.url, self.reason = job_id, state, raw_status, url, reason
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_job_failed, (type(self), str(self), self.job_id, self.state, self.raw_status,
                                      self.url, self.reason))


def _rebuild_job_failed(cls: type[JobFailed], message: str, job_id: str, state: str, raw_status: str | None,
                        url: str | None, reason: str | None) -> JobFailed:
    return cls(message, job_id=job_id, state=state, raw_status=raw_status, url=url, reason=reason)


class JobTimeout(LabelingError):
    """Waiting for a remote job exceeded the named timeout; the job may still be running."""

    def __init__(self, message: str, *, job_id: str, timeout_name: str, timeout_seconds: float,
                 url: str | None) -> None:
        self.job_id, self.timeout_name, self.timeout_seconds, self.url = job_id, timeout_name, timeout_seconds, url
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_job_timeout, (type(self), str(self), self.job_id, self.timeout_name,
                                       self.timeout_seconds, self.url))


def _rebuild_job_timeout(cls: type[JobTimeout], message: str, job_id: str, timeout_name: str,
                         timeout_seconds: float, url: str | None) -> JobTimeout:
    return cls(message, job_id=job_id, timeout_name=timeout_name, timeout_seconds=timeout_seconds, url=url)


class CancelIncomplete(LabelingError):
    """A cancel left work running on the platform; ``outcome`` says what was canceled, what had already finished,
    what could not be canceled and why, and how much is still running."""

    def __init__(self, message: str, *, job_id: str, outcome: Any = None) -> None:
        self.job_id, self.outcome = job_id, outcome
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_cancel_incomplete, (type(self), str(self), self.job_id, self.outcome))


def _rebuild_cancel_incomplete(cls: type[CancelIncomplete], message: str, job_id: str,
                               outcome: Any) -> CancelIncomplete:
    return cls(message, job_id=job_id, outcome=outcome)


STATUS_ERRORS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    409: Conflict,
    422: BadRequest,
    429: RateLimited,
}


def error_class_for_status(status_code: int) -> type[APIError]:
    """The generic error class of an HTTP status."""
    if status_code >= 500:
        return ServerError
    return STATUS_ERRORS.get(status_code, APIError)


E = TypeVar("E", bound=APIError)


def status_error_mapper(
    by_status: Mapping[int, type[E]], *, server_error: type[E], default: type[E]
) -> Callable[[int], type[E]]:
    """A platform's ``status -> error class``: its table, then ``server_error`` for other 5xx, else ``default``.

    >>> to_class = status_error_mapper({404: NotFound}, server_error=ServerError, default=APIError)
    >>> [to_class(s).__name__ for s in (404, 502, 418)]
    ['NotFound', 'ServerError', 'APIError']
    """
    table = dict(by_status)

    def error_class(status_code: int) -> type[E]:
        if status_code in table:
            return table[status_code]
        return server_error if status_code >= 500 else default

    return error_class
