"""``AdaptiveResource``: Adaptive ML as a Dagster configurable resource."""

from pydantic import Field

from dagster_labeling._dagster.config import PlatformResource
from dagster_labeling.adaptive.client import AdaptiveClient


class AdaptiveResource(PlatformResource):
    """Adaptive ML credentials and client settings: the API key (read from an environment variable), your
    deployment's URL, timeouts, retries and how many requests run at once. Adaptive's assets, ops and sensors
    use it."""

    api_key: str = Field(
        repr=False, description="Adaptive API key. Set it with dg.EnvVar('ADAPTIVE_API_KEY'); it is never logged.")
    base_url: str = Field(
        description="Your Adaptive deployment's address (the SDK's base_url). For the emulator: <server>/adaptive.")
    project: str | None = Field(
        default=None, description="Default project (use case) key: the client's default_project, used by every "
        "call that names no project.")

    def get_client(self) -> AdaptiveClient:
        """A new :class:`AdaptiveClient`; close it (or use ``with``) when done."""
        return AdaptiveClient(self.api_key, base_url=self.base_url, timeouts=self.timeouts.to_timeouts(),
                              retry=self.retry.to_policy(), max_concurrency=self.max_concurrency,
                              default_project=self.project)
