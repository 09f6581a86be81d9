"""Adaptive ML's errors: HTTP errors by status, and GraphQL errors sent in a 200 answer.

Each is also one of the shared classes (``except dagster_labeling.NotFound`` catches ``AdaptiveNotFound``). A
GraphQL answer with ``errors`` raises :class:`AdaptiveGraphQLError`, or :class:`AdaptiveNotFound` when the
server says ``EntityNotFound`` (as the SDK's ``AdaptiveEntityNotFoundError``). REST errors carry
``{"error": "..."}``.
"""

from dagster_labeling._core.errors import (
    APIError,
    BadRequest,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    status_error_mapper,
)


class AdaptiveError(APIError):
    """Any error answer from Adaptive ML."""


class AdaptiveBadRequest(AdaptiveError, BadRequest):
    """400/422: the request was refused as invalid."""


class AdaptiveUnauthorized(AdaptiveError, Unauthorized):
    """401/403: the API key is missing, wrong, or lacks the permission."""


class AdaptiveNotFound(AdaptiveError, NotFound):
    """404, or a GraphQL ``EntityNotFound`` error: the project, model, metric… does not exist."""


class AdaptiveRateLimited(AdaptiveError, RateLimited):
    """429; retried automatically, honouring Retry-After."""


class AdaptiveServerError(AdaptiveError, ServerError):
    """5xx."""


class AdaptiveGraphQLError(AdaptiveError, BadRequest):
    """The GraphQL answer (HTTP 200) carried ``errors``: the message is the server's first error."""


_BY_STATUS: dict[int, type[AdaptiveError]] = {
    400: AdaptiveBadRequest,
    401: AdaptiveUnauthorized,
    403: AdaptiveUnauthorized,
    404: AdaptiveNotFound,
    422: AdaptiveBadRequest,
    429: AdaptiveRateLimited,
}

adaptive_error_class = status_error_mapper(_BY_STATUS, server_error=AdaptiveServerError, default=AdaptiveError)
