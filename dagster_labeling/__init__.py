"""Data-labeling and model-tuning platforms as first-class Dagster citizens.

Platforms live in subpackages (``dagster_labeling.scale``, …). What every platform shares is here: the error
classes, job states and wait options, the retry policy and timeouts, and their Dagster config forms
(``RetryConfig``, ``TimeoutConfig``, ``WaitConfig``, imported on first use so that ``import dagster_labeling``
does not import Dagster):

>>> import dagster_labeling
>>> issubclass(dagster_labeling.NotFound, dagster_labeling.LabelingError)
True
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

__version__: str
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
from dagster_labeling._core.jobs import CancelOutcome, JobHandle, JobState, JobStatus, WaitOptions
from dagster_labeling._core.retry import NO_RETRY, RetryPolicy
from dagster_labeling._core.rows import InvalidRows
from dagster_labeling._core.transport import Timeouts

if TYPE_CHECKING:
    from dagster_labeling._dagster.config import RetryConfig, TimeoutConfig, WaitConfig

_DAGSTER_CONFIG = ("RetryConfig", "TimeoutConfig", "WaitConfig")


def __getattr__(name: str) -> object:
    if name in _DAGSTER_CONFIG:
        from dagster_labeling._dagster import config

        return getattr(config, name)
    raise AttributeError(f"module 'dagster_labeling' has no attribute {name!r}")

__all__ = [
    "NO_RETRY", "APIError", "BadRequest", "CancelIncomplete", "CancelOutcome", "Conflict", "ConnectionFailed",
    "InvalidInput", "InvalidRows", "JobFailed", "JobHandle", "JobState", "JobStatus", "JobTimeout", "LabelingError",
    "NotFound", "RateLimited", "RetryConfig", "RetryPolicy", "ServerError", "TimeoutConfig", "Timeouts",
    "Unauthorized", "WaitConfig", "WaitOptions", "__version__",
]
