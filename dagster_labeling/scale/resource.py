"""``ScaleResource``: Scale AI as a Dagster configurable resource."""

from pydantic import Field

from dagster_labeling._dagster.config import PlatformResource
from dagster_labeling.scale.client import DEFAULT_BASE_URL, DEFAULT_DASHBOARD_URL, ScaleClient


class ScaleResource(PlatformResource):
    """Scale AI credentials and client settings: the API key (read from an environment variable), the API and
    dashboard URLs, timeouts, retries and how many requests run at once. Scale's assets, ops and sensors use it."""

    api_key: str = Field(
        repr=False,
        description="Scale API key (live_… or test_…). Set it with dg.EnvVar('SCALE_API_KEY'); it is never logged.",
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="Base URL of the v1 API. Point it at the emulator (…/scale/v1) for local runs and tests.",
    )
    dashboard_url: str | None = Field(
        default=None,
        description="Root of the dashboard links in metadata. Unset: follows base_url (the real API or a proxy: "
                    f"{DEFAULT_DASHBOARD_URL}; the emulator on a loopback host: its pages, e.g. …/scale/dashboard). "
                    "Set it when your dashboard is elsewhere.",
    )

    def get_client(self) -> ScaleClient:
        """A new :class:`ScaleClient`; close it (or use ``with``) when done."""
        return ScaleClient(
            self.api_key,
            base_url=self.base_url,
            dashboard_url=self.dashboard_url,
            timeouts=self.timeouts.to_timeouts(),
            retry=self.retry.to_policy(),
            max_concurrency=self.max_concurrency,
        )
