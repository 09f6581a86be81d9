"""Refuel's error classes, mapped from HTTP status codes (and from a 200 that says ``success: false``).

Each is also one of the shared classes, so ``except dagster_labeling.NotFound`` catches ``RefuelNotFound``.
"""

from dagster_labeling._core.errors import (
    APIError,
    BadRequest,
    Conflict,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    status_error_mapper,
)


class RefuelException(APIError):
    """Any error answer from Refuel (the SDK's name)."""


class RefuelSoftError(RefuelException):
    """HTTP 200 whose envelope says ``success: false``; the message is the envelope's ``error_msg``."""


class RefuelBadRequest(RefuelException, BadRequest):
    """400/422: the request was rejected (FastAPI validation)."""


class RefuelUnauthorized(RefuelException, Unauthorized):
    """401/403: the API key is wrong, missing or may not do this."""


class RefuelNotFound(RefuelException, NotFound):
    """404: no such project, dataset, task, run, application or model."""


class RefuelConflict(RefuelException, Conflict):
    """409: the name is taken, or the object is not in a state that allows this."""


class RefuelRateLimited(RefuelException, RateLimited):
    """429: over the label endpoint's limit (300/min, 100 concurrent); retried with backoff."""


class RefuelServerError(RefuelException, ServerError):
    """5xx: Refuel failed."""


_BY_STATUS: dict[int, type[RefuelException]] = {
    400: RefuelBadRequest,
    401: RefuelUnauthorized,
    403: RefuelUnauthorized,
    404: RefuelNotFound,
    409: RefuelConflict,
    422: RefuelBadRequest,
    429: RefuelRateLimited,
}

refuel_error_class = status_error_mapper(_BY_STATUS, server_error=RefuelServerError, default=RefuelException)
