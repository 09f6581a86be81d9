"""The retry policy shared by every client.

Only network errors, 429 and 5xx are retried, and a 5xx or a mid-request network failure only for
requests that are safe to repeat (idempotent methods, or requests that carry an idempotency key).
``Retry-After`` (seconds or an HTTP date, or ``retry-after-ms``) is honoured up to a cap; otherwise the
wait grows exponentially with jitter. Attempts and the total time are both bounded.
"""

import email.utils
import random
import time
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

RETRYABLE_STATUS_MIN = 500


class RetryPolicy(BaseModel):
    """How a client retries. Plain pydantic: usable outside Dagster.

    >>> RetryPolicy(max_attempts=3).backoff_seconds(attempt=2, rng=random.Random(0)) <= 1.0
    True
    """

    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(5, ge=1, le=50, description="Attempts per request, the first one included.")
    initial_backoff_seconds: float = Field(0.5, ge=0, description="Wait before the first retry (before jitter).")
    max_backoff_seconds: float = Field(30.0, ge=0, description="Upper bound of one exponential-backoff wait.")
    max_retry_after_seconds: float = Field(
        120.0, ge=0, description="Upper bound on a server's Retry-After hint; longer hints are capped to this."
    )
    total_timeout_seconds: float = Field(
        300.0, gt=0, description="Give up retrying once this much time has passed since the first attempt."
    )

    def backoff_seconds(self, attempt: int, rng: random.Random | None = None) -> float:
        """Wait after failed attempt number ``attempt`` (1-based): exponential, capped, with jitter."""
        base = min(self.max_backoff_seconds, self.initial_backoff_seconds * (2 ** (attempt - 1)))
        r = (rng or random).random()
        return base / 2 + r * base / 2  # "equal jitter": never less than half the base


NO_RETRY = RetryPolicy(max_attempts=1)


def is_retryable_status(status_code: int) -> bool:
    """429 and 5xx are worth retrying; no other status is."""
    return status_code == 429 or status_code >= RETRYABLE_STATUS_MIN


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (delta-seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
