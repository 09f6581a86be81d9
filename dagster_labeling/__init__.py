"""Data-labeling and model-tuning platforms as first-class Dagster citizens.

Platforms live in subpackages (``dagster_labeling.scale``, …); the shared error classes are here:

>>> import dagster_labeling
>>> issubclass(dagster_labeling.NotFound, dagster_labeling.LabelingError)
True
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("dagster-labeling")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

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
from dagster_labeling._core.jobs import CancelOutcome, JobState, JobStatus, WaitOptions
from dagster_labeling._core.retry import RetryPolicy
from dagster_labeling._core.rows import InvalidRows

__all__ = [
    "APIError", "BadRequest", "CancelIncomplete", "CancelOutcome", "Conflict", "ConnectionFailed", "InvalidInput",
    "InvalidRows", "JobFailed", "JobState", "JobStatus", "JobTimeout", "LabelingError", "NotFound", "RateLimited",
    "RetryPolicy", "ServerError", "Unauthorized", "WaitOptions", "__version__",
]
