"""Scale's error classes (as the ``scaleapi`` SDK names them), mapped from HTTP status codes.

Each is also one of the shared classes, so ``except dagster_labeling.NotFound`` catches
``ScaleResourceNotFound`` too. The message is Scale's ``{"status_code", "error"}`` body's ``error``.
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


class ScaleException(APIError):
    """Any error answer from Scale."""


class ScaleInvalidRequest(ScaleException, BadRequest):
    """400: the request is malformed (e.g. missing task parameters)."""


class ScaleUnauthorized(ScaleException, Unauthorized):
    """401: the API key is wrong or missing."""


class ScaleNotEnabled(ScaleException):
    """402: this feature or task type is not enabled for the account; contact Scale sales."""


class ScaleForbidden(ScaleException, Unauthorized):
    """403: the key may not do this."""


class ScaleResourceNotFound(ScaleException, NotFound):
    """404: no such task, batch or project."""


class ScaleDuplicateResource(ScaleException, Conflict):
    """409: the unique_id, batch name or project name is already used."""


class ScaleTooManyRequests(ScaleException, RateLimited):
    """429: rate limited; retried automatically, honouring Retry-After."""


class ScaleInternalError(ScaleException, ServerError):
    """500 (and other 5xx): Scale failed."""


class ScaleServiceUnavailable(ScaleException, ServerError):
    """503: "Server Timeout From Request Queueing"."""


class ScaleTimeoutError(ScaleException, ServerError):
    """504: Scale timed out."""


_BY_STATUS: dict[int, type[ScaleException]] = {
    400: ScaleInvalidRequest,
    401: ScaleUnauthorized,
    402: ScaleNotEnabled,
    403: ScaleForbidden,
    404: ScaleResourceNotFound,
    409: ScaleDuplicateResource,
    422: ScaleInvalidRequest,
    429: ScaleTooManyRequests,
    500: ScaleInternalError,
    503: ScaleServiceUnavailable,
    504: ScaleTimeoutError,
}

scale_error_class = status_error_mapper(_BY_STATUS, server_error=ScaleInternalError, default=ScaleException)
