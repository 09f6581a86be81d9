"""``RefuelResource``: Refuel Cloud as a Dagster configurable resource."""

from pydantic import Field

from dagster_labeling._dagster.config import PlatformResource
from dagster_labeling.refuel.client import DEFAULT_APP_URL, DEFAULT_BASE_URL, RefuelClient


class RefuelResource(PlatformResource):
    """Refuel credentials and client settings: the API key (read from an environment variable), the project every
    call works in, the API and app URLs, timeouts, retries, label concurrency and rate. Refuel's assets, ops and
    sensors use it. The SDK's timeout, max_retries and max_workers are timeouts, retry.max_attempts and
    max_concurrency here."""

    api_key: str = Field(
        repr=False, description="Refuel API key. Set it with dg.EnvVar('REFUEL_API_KEY'); it is never logged."
    )
    project: str = Field(description="The project (name or id) every call works in.")
    base_url: str = Field(
        default=DEFAULT_BASE_URL, description="API root. Point it at the emulator (…/refuel) for local runs and tests."
    )
    app_url: str | None = Field(
        default=None,
        description="Root of the web app links in metadata. Unset: follows base_url (the real API or a proxy: "
                    f"{DEFAULT_APP_URL}; the emulator on a loopback host: its pages, e.g. …/refuel/app). Set it "
                    "when your app is elsewhere.",
    )
    label_concurrency: int = Field(
        default=100, ge=1, le=1000,
        description="Label requests in flight at once when labeling a DataFrame (Refuel allows 100).",
    )
    label_rate_per_minute: int | None = Field(
        default=300, ge=1,
        description="Client-side limit of label requests per minute (Refuel allows 300); null turns it off.",
    )
    page_size: int = Field(default=100, ge=1, le=1000, description="Items per page when fetching items.")
    settle_seconds: float = Field(
        default=5.0, ge=0,
        description="How far Refuel's created_at clock may lag its Date clock: a dataset or task that parallel "
                    "runs may create together is used once it is this old, so they all agree on one.",
    )

    def get_client(self) -> RefuelClient:
        """A new :class:`RefuelClient`; close it (or use ``with``) when done."""
        return RefuelClient(
            self.api_key,
            project=self.project,
            base_url=self.base_url,
            app_url=self.app_url,
            timeouts=self.timeouts.to_timeouts(),
            retry=self.retry.to_policy(),
            max_workers=self.max_concurrency,
            label_concurrency=self.label_concurrency,
            label_rate_per_minute=self.label_rate_per_minute,
            page_size=self.page_size,
            settle_seconds=self.settle_seconds,
        )
