"""LLM Engine's error classes (as ``llmengine.errors`` names them), mapped from HTTP status codes.

Each is also one of the shared classes (``except dagster_labeling.NotFound`` catches ``LLMEngineNotFound``).
The message is the ``detail`` of FastAPI's ``{"detail": ...}`` body, else the raw text.
"""

from typing import Any

from dagster_labeling._core.errors import (
    APIError,
    BadRequest,
    LabelingError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    status_error_mapper,
)


class LLMEngineException(APIError):
    """Any error answer from LLM Engine (the SDK's ``UnknownError`` for codes it does not name)."""


class LLMEngineBadRequest(LLMEngineException, BadRequest):
    """400 (and 422): ``BadRequestError``."""


class LLMEngineUnauthorized(LLMEngineException, Unauthorized):
    """401/403: ``UnauthorizedError``."""


class LLMEngineNotFound(LLMEngineException, NotFound):
    """404: ``NotFoundError``."""


class LLMEngineRateLimited(LLMEngineException, RateLimited):
    """429: ``RateLimitExceededError``; retried automatically, honouring Retry-After."""


class LLMEngineServerError(LLMEngineException, ServerError):
    """5xx: ``ServerError``."""


class LLMEngineStreamError(LabelingError):
    """An error the server sent in-band in a completion stream (HTTP 200, ``output: null, error: {...}``)."""

    def __init__(self, message: str, *, status_code: int, request_id: str | None = None,
                 timestamp: str | None = None) -> None:
        self.status_code, self.request_id, self.timestamp = status_code, request_id, timestamp
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_stream_error, (str(self), self.status_code, self.request_id, self.timestamp))


def _rebuild_stream_error(message: str, status_code: int, request_id: str | None,
                          timestamp: str | None) -> LLMEngineStreamError:
    return LLMEngineStreamError(message, status_code=status_code, request_id=request_id, timestamp=timestamp)


_BY_STATUS: dict[int, type[LLMEngineException]] = {
    400: LLMEngineBadRequest,
    401: LLMEngineUnauthorized,
    403: LLMEngineUnauthorized,
    404: LLMEngineNotFound,
    422: LLMEngineBadRequest,
    429: LLMEngineRateLimited,
}

llm_engine_error_class = status_error_mapper(_BY_STATUS, server_error=LLMEngineServerError, default=LLMEngineException)
