"""``LLMEngineResource``: Scale LLM Engine as a Dagster configurable resource."""

from pydantic import Field

from dagster_labeling._dagster.config import PlatformResource
from dagster_labeling.llm_engine.client import DEFAULT_BASE_URL, CallTimeouts, LLMEngineClient


class LLMEngineResource(PlatformResource):
    """Scale LLM Engine credentials and client settings: the Scale API key (read from an environment variable),
    the API URL, per-call timeouts, retries and how many requests run at once. LLM Engine's assets, ops and
    sensors use it."""

    api_key: str = Field(
        repr=False,
        description="Scale API key. Set it with dg.EnvVar('SCALE_API_KEY'); it is never logged.",
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        description="LLM Engine base URL (a missing trailing '/' is fine). For the emulator: <server>/llm-engine/.",
    )
    completion_timeout_seconds: float = Field(default=300.0, gt=0, description="Read timeout of a completion.")
    batch_timeout_seconds: float = Field(default=60.0, gt=0, description="Read timeout of batch-completions calls.")
    management_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Read timeout of fine-tune, model and file metadata calls.")
    file_transfer_timeout_seconds: float = Field(
        default=600.0, gt=0, description="Read timeout of file uploads/downloads.")

    def get_client(self) -> LLMEngineClient:
        """A new :class:`LLMEngineClient`; close it (or use ``with``) when done."""
        return LLMEngineClient(
            self.api_key,
            base_url=self.base_url,
            timeouts=self.timeouts.to_timeouts(),
            call_timeouts=CallTimeouts(
                completion=self.completion_timeout_seconds, batch=self.batch_timeout_seconds,
                management=self.management_timeout_seconds, file_list=max(30.0, self.management_timeout_seconds),
                file_transfer=self.file_transfer_timeout_seconds),
            retry=self.retry.to_policy(),
            max_concurrency=self.max_concurrency,
        )
