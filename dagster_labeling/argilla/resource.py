"""``ArgillaResource``: Argilla as a Dagster configurable resource."""

from pydantic import Field

from dagster_labeling._dagster.config import PlatformResource
from dagster_labeling.argilla.client import DEFAULT_API_URL, ArgillaClient


class ArgillaResource(PlatformResource):
    """Argilla credentials and client settings: the API key (read from an environment variable), the server URL,
    the workspace datasets go to, timeouts, retries and how many requests run at once. Argilla's assets, ops and
    sensors use it."""

    api_key: str = Field(
        repr=False,
        description="Argilla API key (X-Argilla-Api-Key). Set it with dg.EnvVar('ARGILLA_API_KEY'); never logged.",
    )
    api_url: str = Field(
        default=DEFAULT_API_URL,
        description="Argilla server root, e.g. https://my-space.hf.space or the emulator's …/argilla. Links in "
                    "metadata go to its UI on the same root (…/dataset/<id>/annotation-mode); the emulator serves "
                    "that page too.",
    )
    workspace: str | None = Field(
        default=None, description="Default workspace for datasets (None: the user's first workspace)."
    )

    def get_client(self) -> ArgillaClient:
        """A new :class:`ArgillaClient`; close it (or use ``with``) when done."""
        return ArgillaClient(
            self.api_key,
            api_url=self.api_url,
            timeouts=self.timeouts.to_timeouts(),
            retry=self.retry.to_policy(),
            max_concurrency=self.max_concurrency,
        )
