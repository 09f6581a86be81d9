"""Config shared by every platform resource: timeouts, retry policy, concurrency.

The fields are the core's own models (:class:`RetryPolicy`, :class:`Timeouts`), so a field and its
description exist once and the Dagster UI shows them.
"""

import dagster as dg
from pydantic import Field

from dagster_labeling._core import RetryPolicy, Timeouts, WaitOptions


class RetryConfig(dg.Config, RetryPolicy):
    """Retry policy: only network errors, 429 and 5xx; only idempotent or keyed requests; honours Retry-After."""

    def to_policy(self) -> RetryPolicy:
        return RetryPolicy.model_validate(self.model_dump())


class TimeoutConfig(dg.Config, Timeouts):
    """HTTP timeouts in seconds."""

    def to_timeouts(self) -> Timeouts:
        return Timeouts.model_validate(self.model_dump())


class PlatformResource(dg.ConfigurableResource):
    """Fields every platform resource has. Subclasses add ``api_key``/``base_url`` with their defaults."""

    timeouts: TimeoutConfig = Field(default_factory=TimeoutConfig, description="HTTP timeouts, in seconds.")
    retry: RetryConfig = Field(default_factory=RetryConfig, description="When and how requests are retried.")
    max_concurrency: int = Field(
        default=32, ge=1, le=256,
        description="Requests in flight at once in bulk operations (and the size of the connection pool).",
    )


class WaitConfig(dg.Config):
    """Run-time config of an asset or op that waits for a remote job; unset fields take the factory's defaults."""

    wait_for_completion: bool | None = Field(
        default=None, description="Block until the remote job finishes (else return at once; a sensor completes)."
    )
    wait_timeout_seconds: float | None = Field(default=None, description="Give up waiting after this long.")
    poll_interval_seconds: float | None = Field(default=None, description="First poll interval; it grows to 60 s.")
    cancel_on_termination: bool | None = Field(
        default=None, description="Cancel the remote job if the Dagster run is terminated while waiting."
    )
    cancel_on_timeout: bool | None = Field(default=None, description="Cancel the remote job when the wait times out.")


def resolve_wait(
    config: WaitConfig,
    *,
    wait_for_completion: bool,
    wait_timeout_seconds: float,
    poll_interval_seconds: float,
    cancel_on_termination: bool,
    cancel_on_timeout: bool,
    timeout_name: str = "wait_timeout_seconds",
) -> tuple[bool, WaitOptions]:
    """Merge run config over the factory's defaults: (wait or not, the options for ``JobHandle.wait``)."""

    def pick(value: object, default: object) -> object:
        return default if value is None else value

    options = WaitOptions(
        timeout_seconds=float(pick(config.wait_timeout_seconds, wait_timeout_seconds)),  # type: ignore[arg-type]
        poll_interval_seconds=float(pick(config.poll_interval_seconds, poll_interval_seconds)),  # type: ignore[arg-type]
        cancel_on_interrupt=bool(pick(config.cancel_on_termination, cancel_on_termination)),
        cancel_on_timeout=bool(pick(config.cancel_on_timeout, cancel_on_timeout)),
        timeout_name=timeout_name,
    )
    return bool(pick(config.wait_for_completion, wait_for_completion)), options
