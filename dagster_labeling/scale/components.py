"""``ScaleBatchComponent``: a Scale batch (rows → tasks), its responses and its completion sensor, from YAML.

``dg scaffold defs dagster_labeling.scale.ScaleBatchComponent reviews`` writes a working ``defs.yaml`` and a
sample ``reviews.csv``; every option of :func:`build_scale_batch_asset`, :func:`build_scale_responses_asset` and
:func:`build_scale_batch_completion_sensor` is an attribute.
"""

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

import dagster as dg
from pydantic import Field

from dagster_labeling._dagster.components import (
    DefsYamlScaffolder,
    PlatformComponent,
    RowsModel,
    SensorModel,
    build_schedule,
    resource_resolver,
    rows_upstream,
)
from dagster_labeling.scale.assets import build_scale_batch_asset, build_scale_responses_asset
from dagster_labeling.scale.resource import ScaleResource
from dagster_labeling.scale.sensors import DEFAULT_MAX_ATTEMPTS, build_scale_batch_completion_sensor


class ScaleResponsesModel(dg.Model):
    """The asset collecting the batch's responses, with its ``completed_and_audited`` check."""

    name: str | None = Field(default=None, description="Asset name; defaults to <name>_responses.")
    min_completed_share: float = Field(default=1.0, description="Share of tasks that must be completed.")
    min_audited_share: float = Field(default=0.0, description="Share of tasks that must be audited.")
    check_severity: Literal["warn", "error"] = Field(default="warn", description="Severity of a failed check.")
    description: str | None = Field(default=None, description="Asset description shown in the UI.")


class ScaleCompletionSensorModel(SensorModel):
    """The sensor that materializes the responses when a batch completes (for hand-off, without waiting)."""

    lookback_seconds: float = Field(default=7 * 24 * 3600, description="How far back the first tick looks.")
    max_batches_per_tick: int = Field(default=25, description="Batches checked per tick; the rest carry over.")
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS,
                              description="Runs requested per completed batch when runs fail or are canceled.")


@dg.scaffold_with(DefsYamlScaffolder)
class ScaleBatchComponent(PlatformComponent):
    """Rows of a DataFrame sent to a Scale batch as tasks (one row = one task, idempotent per partition), the
    batch's responses as a DataFrame with a completion check, a completion sensor and an optional schedule."""


    resource: Annotated[Any, resource_resolver(ScaleResource)]  # a ScaleResource (the type is not YAML)
    resource_key: str = Field(default="scale", description="Resource key the assets and sensor use.")
    name: str = Field(description="Name of the batch asset; also the batch name (with __<partition> per partition).")
    rows: RowsModel = Field(description="The rows to label: an upstream asset or a file.")
    project: str = Field(description="Scale project the batches belong to.")
    create_project: bool = Field(
        default=False, description="Create the project when missing (emulator, new workspaces); off in production.")
    task_type: str = Field(description="Scale task type, e.g. categorization, textcollection, imageannotation.")
    row_key_column: str = Field(description="Column with a stable unique key per row; it becomes the unique_id.")
    payload_columns: dict[str, str] = Field(default_factory=dict, description="Task payload field -> column.")
    static_payload: dict[str, Any] = Field(default_factory=dict, description="Payload fields every task shares.")
    row_to_payload: Annotated[Callable[..., Any] | None, dg.Resolver.default(model_field_type=str | None)] = Field(
        default=None, description="A template var ({{ my_fn }}) mapping a row to extra payload fields.")
    optional_payload_fields: list[str] = Field(
        default_factory=list, description="Payload fields whose column may have missing cells.")
    batch_name_prefix: str | None = Field(default=None, description="Batch name prefix; defaults to name.")
    callback_url: str | None = Field(default=None, description="Per-task callback URL (the callbacks receiver).")
    finalize: bool = Field(default=True, description="Finalize the batch once its tasks exist.")
    allow_partial: bool = Field(default=False, description="Succeed when some rows could not become tasks.")
    allow_empty: bool = Field(default=False, description="Materialize an empty result for an empty DataFrame.")
    wait_for_completion: bool = Field(
        default=False, description="Block until the batch completes; else the completion sensor finishes it.")
    wait_timeout_seconds: float = Field(default=6 * 3600, description="Give up waiting after this long.")
    poll_interval_seconds: float = Field(default=10.0, description="First poll interval; it grows to 60 s.")
    cancel_on_termination: bool = Field(default=True, description="Cancel pending tasks when the run is terminated.")
    cancel_on_timeout: bool = Field(default=False, description="Cancel pending tasks when the wait times out.")
    description: str | None = Field(default=None, description="Description of the batch asset.")
    pool: str | None = Field(default=None, description="Dagster concurrency pool of the batch asset.")
    responses: ScaleResponsesModel | None = Field(
        default_factory=ScaleResponsesModel, description="The responses asset; null leaves it out.")
    completion_sensor: ScaleCompletionSensorModel | None = Field(
        default=None, description="The completion sensor; null leaves it out.")

    scaffold_yaml: ClassVar[str] = """
        # A Scale batch from a CSV, its responses and a completion sensor. Set SCALE_API_KEY (and, for the
        # emulator `dagster-labeling emulate`, SCALE_BASE_URL=http://127.0.0.1:8765/scale/v1), e.g. in .env.
        attributes:
          resource:
            api_key: "{{ env.SCALE_API_KEY }}"
            base_url: "{{ env('SCALE_BASE_URL', 'https://api.scale.com/v1') }}"
          name: reviews_batch
          rows:
            file: reviews.csv
          project: review-sentiment
          create_project: true        # off in production: projects carry their instructions
          task_type: categorization
          row_key_column: id
          payload_columns:
            attachment: text
          static_payload:
            instruction: Is this review positive or negative?
            attachment_type: text
            categories: [positive, negative]
          wait_for_completion: false  # the completion sensor materializes the responses
          responses:
            min_completed_share: 1.0
          completion_sensor:
            minimum_interval_seconds: 30
            default_status: running
        """
    scaffold_files: ClassVar[dict[str, str]] = {
        "reviews.csv": """
            id,text
            r1,Battery lasts two days. Love it.
            r2,Screen cracked in a week.
            r3,"Does what it says, nothing more."
            """,
    }

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        upstream, extra = rows_upstream(self.rows, name=self.name, folder=context.path,
                                        partitions_def=self.partitions, group_name=self.group_name,
                                        key_prefix=self.key_prefix)
        batch = build_scale_batch_asset(
            name=self.name, upstream=upstream, project=self.project, task_type=self.task_type,
            row_key_column=self.row_key_column, create_project=self.create_project,
            payload_columns=self.payload_columns, static_payload=self.static_payload,
            row_to_payload=self.row_to_payload, optional_payload_fields=self.optional_payload_fields,
            batch_name_prefix=self.batch_name_prefix, callback_url=self.callback_url, finalize=self.finalize,
            allow_partial=self.allow_partial, allow_empty=self.allow_empty,
            wait_for_completion=self.wait_for_completion, wait_timeout_seconds=self.wait_timeout_seconds,
            poll_interval_seconds=self.poll_interval_seconds, cancel_on_termination=self.cancel_on_termination,
            cancel_on_timeout=self.cancel_on_timeout, partitions_def=self.partitions, resource_key=self.resource_key,
            key_prefix=self.key_prefix, group_name=self.group_name, description=self.description, pool=self.pool,
        )
        assets = [*extra, batch]
        sensors = []
        responses = None
        if self.responses is not None:
            responses = build_scale_responses_asset(
                name=self.responses.name or f"{self.name}_responses", batch_asset=batch, project=self.project,
                min_completed_share=self.responses.min_completed_share,
                min_audited_share=self.responses.min_audited_share,
                check_severity=dg.AssetCheckSeverity(self.responses.check_severity.upper()),
                resource_key=self.resource_key, key_prefix=self.key_prefix, group_name=self.group_name,
                description=self.responses.description,
            )
            assets.append(responses)
            if self.completion_sensor is not None:
                sensor = self.completion_sensor
                sensors.append(build_scale_batch_completion_sensor(
                    name=sensor.name or f"{self.name}_completion", project=self.project, target=responses,
                    batch_asset=batch, batch_name_prefix=self.batch_name_prefix, resource_key=self.resource_key,
                    lookback_seconds=sensor.lookback_seconds, max_batches_per_tick=sensor.max_batches_per_tick,
                    max_attempts=sensor.max_attempts, minimum_interval_seconds=sensor.minimum_interval_seconds,
                    default_status=sensor.status,
                ))
        elif self.completion_sensor is not None:
            raise dg.DagsterInvalidDefinitionError(
                f"component {self.name!r}: completion_sensor materializes the responses asset; keep responses set")
        jobs, schedules = [], []
        if self.schedule is not None:
            # Without waiting, the schedule starts the batch and the completion sensor collects the responses.
            scheduled = assets if self.wait_for_completion else [a for a in assets if a is not responses]
            job, schedule = build_schedule(self.schedule, component_name=self.name, assets=scheduled,
                                           partitions_def=self.partitions)
            jobs.append(job)
            schedules.append(schedule)
        return dg.Definitions(assets=assets, sensors=sensors, jobs=jobs, schedules=schedules,
                              resources={self.resource_key: self.resource})
