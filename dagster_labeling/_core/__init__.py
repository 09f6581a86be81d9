"""The shared HTTP core: transport, retry policy, errors, pagination, job handles, bulk fan-out, redaction.

Platform-neutral and free of Dagster imports, so clients built on it work from a notebook too.
"""

from dagster_labeling._core.bulk import BulkFailure, BulkProgress, BulkResult, run_bulk
from dagster_labeling._core.client import HeaderAuth, PlatformClient, basic_auth_header
from dagster_labeling._core.errors import (
    APIError,
    BadRequest,
    CancelIncomplete,
    Conflict,
    ConnectionFailed,
    InvalidInput,
    JobFailed,
    JobTimeout,
    LabelingError,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
)
from dagster_labeling._core.jobs import (
    CancelCounts,
    CancelOutcome,
    JobHandle,
    JobState,
    JobStatus,
    ProgressLog,
    WaitOptions,
)
from dagster_labeling._core.pagination import paginate
from dagster_labeling._core.ratelimit import RateLimiter
from dagster_labeling._core.redaction import Redactor, mask, mask_url, redact_headers
from dagster_labeling._core.retry import NO_RETRY, RetryPolicy, parse_retry_after
from dagster_labeling._core.transport import (
    HttpTransport,
    Timeouts,
    check_base_url,
    encode_query,
    quote_path_segment,
)

__all__ = [
    "NO_RETRY",
    "basic_auth_header",
    "encode_query",
    "mask",
    "mask_url",
    "check_base_url",
    "paginate",
    "parse_retry_after",
    "quote_path_segment",
    "redact_headers",
    "run_bulk",
    "APIError",
    "BadRequest",
    "BulkFailure",
    "BulkProgress",
    "BulkResult",
    "CancelCounts",
    "CancelIncomplete",
    "CancelOutcome",
    "Conflict",
    "ConnectionFailed",
    "HeaderAuth",
    "HttpTransport",
    "InvalidInput",
    "JobFailed",
    "JobHandle",
    "JobState",
    "JobStatus",
    "JobTimeout",
    "LabelingError",
    "NotFound",
    "PlatformClient",
    "ProgressLog",
    "RateLimited",
    "RateLimiter",
    "Redactor",
    "RetryPolicy",
    "ServerError",
    "Timeouts",
    "Unauthorized",
    "WaitOptions",
]
