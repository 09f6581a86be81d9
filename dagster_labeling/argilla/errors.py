"""Argilla's error classes (as the ``argilla`` SDK names them), mapped from HTTP status codes.

Each is also one of the shared classes, so ``except dagster_labeling.NotFound`` catches
``ArgillaNotFoundError`` too. The message is the server's ``{"detail": ...}``.
"""

import json

import httpx

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


class ArgillaAPIError(APIError):
    """Any error answer from Argilla."""


class ArgillaBadRequestError(ArgillaAPIError, BadRequest):
    """400: the request is malformed."""


class ArgillaUnprocessableEntityError(ArgillaAPIError, BadRequest):
    """422: the server's validation refused the content (settings, records, names)."""


class ArgillaCredentialsError(ArgillaAPIError, Unauthorized):
    """401: the API key is wrong or missing."""


class ArgillaForbiddenError(ArgillaAPIError, Unauthorized):
    """403: the user may not do this (annotators cannot create datasets)."""


class ArgillaNotFoundError(ArgillaAPIError, NotFound):
    """404: no such workspace, dataset, record or webhook."""


class ArgillaConflictError(ArgillaAPIError, Conflict):
    """409: the name is already used."""


class ArgillaRateLimitedError(ArgillaAPIError, RateLimited):
    """429: rate limited (by a proxy in front of Argilla); retried, honouring Retry-After."""


class ArgillaServerError(ArgillaAPIError, ServerError):
    """5xx: the server failed."""


_BY_STATUS: dict[int, type[ArgillaAPIError]] = {
    400: ArgillaBadRequestError,
    401: ArgillaCredentialsError,
    403: ArgillaForbiddenError,
    404: ArgillaNotFoundError,
    409: ArgillaConflictError,
    422: ArgillaUnprocessableEntityError,
    429: ArgillaRateLimitedError,
}

argilla_error_class = status_error_mapper(_BY_STATUS, server_error=ArgillaServerError, default=ArgillaAPIError)


def argilla_error_message(response: httpx.Response) -> str:
    """``detail`` as text: a string, or FastAPI's list of ``{loc, msg}`` joined."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:1000] or response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for item in detail[:10]:
            if isinstance(item, dict):
                loc = ".".join(str(p) for p in item.get("loc") or [])
                parts.append(f"{loc}: {item.get('msg')}" if loc else str(item.get("msg")))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if detail is not None:
        return json.dumps(detail)[:1000]
    return json.dumps(body)[:1000]
