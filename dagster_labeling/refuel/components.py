"""``RefuelLabelingComponent``: rows uploaded to a Refuel dataset, labeled by a task run, with checks, an export
and the task-run and export sensors, from YAML.

``dg scaffold defs dagster_labeling.refuel.RefuelLabelingComponent reviews`` writes a working ``defs.yaml`` and
a sample ``reviews.csv``; every option of :func:`build_refuel_dataset_asset`, :func:`build_refuel_labels_asset`,
:func:`build_refuel_confidence_check`, :func:`build_refuel_agreement_check`, :func:`build_refuel_export_asset`,
:func:`build_refuel_task_run_sensor` and :func:`build_refuel_export_sensor` is an attribute.
"""

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
from dagster_labeling._dagster.sensors import DEFAULT_MAX_ATTEMPTS
from dagster_labeling.refuel.assets import (
    build_refuel_agreement_check,
    build_refuel_confidence_check,
    build_refuel_dataset_asset,
    build_refuel_export_asset,
    build_refuel_labels_asset,
)
from dagster_labeling.refuel.resource import RefuelResource
from dagster_labeling.refuel.sensors import build_refuel_export_sensor, build_refuel_task_run_sensor

Severity = Literal["warn", "error"]


class RefuelTaskFieldModel(dg.Model):
    """One output field of the task (``create_task``): what the LLM labels and from which columns."""

    name: str = Field(description="Field name; the labels get <name>_llm_label and <name>_confidence columns.")
    type: str = Field(description="classification, multilabel_classification, attribute_extraction, "
                      "answer_extraction, document_extraction, webpage_transform, webpage_scrape or web_search.")
    input_columns: list[str] = Field(default_factory=list, description="Dataset columns the LLM reads.")
    guidelines: str = Field(default="", description="Instructions for this field.")
    labels: list[str] | None = Field(default=None, description="The allowed labels (classification fields).")
    ground_truth_column: str | None = Field(default=None, description="A dataset column holding the true label.")
    fallback_value: str | None = Field(default=None, description="The label when the LLM cannot decide.")


class RefuelConfidenceCheckModel(dg.Model):
    """A check that enough rows were labeled with enough confidence."""

    field: str = Field(description="The task field whose <field>_confidence is checked.")
    threshold: float = Field(default=0.8, description="Confidence a row needs (0 to 1).")
    min_share: float = Field(default=0.9, description="Share of rows that must reach threshold (0 to 1).")
    severity: Severity = Field(default="warn", description="Severity of a failed check.")
    blocking: bool = Field(default=False, description="A failed check stops downstream assets of the run.")
    name: str | None = Field(default=None, description="Check name; defaults to <field>_confidence_at_least_<%>.")


class RefuelAgreementCheckModel(dg.Model):
    """A check that the LLM's labels agree with a ground-truth column."""

    field: str = Field(description="The task field whose labels are compared.")
    ground_truth_column: str = Field(description="The column holding the true labels.")
    min_agreement: float = Field(default=0.8, description="Share of rows with a ground truth that must agree.")
    severity: Severity = Field(default="warn", description="Severity of a failed check.")
    blocking: bool = Field(default=False, description="A failed check stops downstream assets of the run.")
    name: str | None = Field(default=None, description="Check name; defaults to <field>_agrees_with_<column>.")


class RefuelExportModel(dg.Model):
    """An asset starting an export of the dataset with the task's labels (Refuel emails the link too)."""

    name: str | None = Field(default=None, description="Asset name; defaults to <name>_export.")
    email_address: str = Field(description="A team member's email address: Refuel sends the link there.")
    include_labels: bool = Field(default=True, description="Export the task's labels with the rows.")
    description: str | None = Field(default=None, description="Asset description shown in the UI.")


class RefuelTaskRunSensorModel(SensorModel):
    """The sensor that materializes the labels when a handed-off task run completes (wait_for_completion: false)."""

    max_checks_per_tick: int = Field(default=10, description="Datasets checked per tick (round-robin).")
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS,
                              description="Runs requested per completed task run when runs fail or are canceled.")


class RefuelExportSensorModel(SensorModel):
    """The sensor that reports the export's signed URL as a materialization of <name>_export_ready, once."""

    minimum_interval_seconds: int = Field(default=30, description="Seconds between ticks.")
    ready_asset: str | None = Field(
        default=None, description="Key of the asset the sensor materializes with refuel/export_url; defaults to "
        "<export name>_ready (declared by the component, downstream of the export).")


@dg.scaffold_with(DefsYamlScaffolder)
class RefuelLabelingComponent(PlatformComponent):
    """Rows of a DataFrame uploaded to a Refuel dataset (each partition appended once), labeled by a Refuel task
    run into a DataFrame with labels and confidence, confidence and agreement checks, an optional export, the
    task-run and export sensors and an optional schedule."""


    # -- where: the resource, the rows, the dataset
    resource: Annotated[Any, resource_resolver(RefuelResource)]  # a RefuelResource (the type is not YAML)
    resource_key: str = Field(default="refuel", description="Resource key the assets and sensors use.")
    name: str = Field(description="Base name: the assets are <name>_dataset and <name>_labels (with <name>_rows for "
                      "a file, <name>_export), the sensors <name>_task_run and <name>_export.")
    rows: RowsModel = Field(description="The rows to label: an upstream asset or a file.")
    dataset_name: str | None = Field(default=None, description="The Refuel dataset; defaults to name.")
    create_project: bool = Field(
        default=False, description="Create the resource's project when missing (emulator, new workspaces); off in "
        "production.")
    partition_column: str = Field(
        default="dagster_partition", description="Column recording each row's partition in the dataset (partitioned "
        "components); the labels asset reads its partition's rows by it.")
    replace_existing: bool = Field(
        default=False, description="Unpartitioned: replace a dataset that already holds rows (else it is kept).")
    dataset_description: str | None = Field(default=None, description="Description of the dataset asset.")
    # -- what: the task
    task: str = Field(description="The Refuel task that labels the dataset.")
    create_task: bool = Field(
        default=False, description="Define the task from task_context and task_fields when it does not exist "
        "(emulator, new projects); off in production, where tasks are defined and tuned in Refuel.")
    task_context: str | None = Field(default=None, description="The task's instructions (create_task).")
    task_fields: list[RefuelTaskFieldModel] | None = Field(
        default=None, description="The task's output fields (create_task).")
    task_model: str | None = Field(default=None, description="The LLM of a created task; Refuel's default if unset.")
    fields: list[str] | None = Field(
        default=None, description="Fields whose label distribution and mean confidence are recorded as metadata; "
        "defaults to the names of task_fields.")
    num_items: int | None = Field(default=None, description="Label only this many items per task run.")
    # -- how: waiting or handing off
    wait_for_completion: bool = Field(
        default=False, description="Block until the task run completes; else task_run_sensor collects the labels.")
    wait_timeout_seconds: float = Field(default=6 * 3600, description="Give up waiting after this long.")
    poll_interval_seconds: float = Field(default=5.0, description="First poll interval; it grows to 60 s.")
    cancel_on_termination: bool = Field(default=True, description="Cancel the task run when the run is terminated.")
    cancel_on_timeout: bool = Field(default=False, description="Cancel the task run when the wait times out.")
    labels_name: str | None = Field(default=None, description="Name of the labels asset; defaults to <name>_labels.")
    labels_description: str | None = Field(default=None, description="Description of the labels asset.")
    # -- Dagster
    pool: str | None = Field(default=None, description="Dagster concurrency pool of the dataset and labels assets.")
    confidence_checks: list[RefuelConfidenceCheckModel] = Field(
        default_factory=list, description="Confidence checks on the labels.")
    agreement_checks: list[RefuelAgreementCheckModel] = Field(
        default_factory=list, description="Ground-truth agreement checks on the labels.")
    export: RefuelExportModel | None = Field(default=None, description="An export asset; null leaves it out.")
    task_run_sensor: RefuelTaskRunSensorModel | None = Field(
        default=None, description="The task-run sensor; null leaves it out.")
    export_sensor: RefuelExportSensorModel | None = Field(
        default=None, description="The export sensor (needs export); null leaves it out.")

    scaffold_yaml: ClassVar[str] = """
        # Reviews from a CSV uploaded as a Refuel dataset, labeled by an LLM task with confidence and agreement
        # checks, and the sensor that collects the labels when the task run completes. Set REFUEL_API_KEY and
        # REFUEL_PROJECT (for the emulator `dagster-labeling emulate`: REFUEL_BASE_URL=http://127.0.0.1:8765/refuel,
        # key emulator-key), e.g. in .env.
        attributes:
          resource:
            api_key: "{{ env.REFUEL_API_KEY }}"
            project: "{{ env('REFUEL_PROJECT', 'review-sentiment') }}"
            base_url: "{{ env('REFUEL_BASE_URL', 'https://cloud-api.refuel.ai') }}"
          name: reviews
          rows:
            file: reviews.csv
          create_project: true         # off in production: create the project in Refuel
          task: review-sentiment
          create_task: true            # off in production: define and tune the task in Refuel
          task_context: You label the sentiment of product reviews.
          task_fields:
            - name: sentiment
              type: classification
              labels: [positive, negative, neutral]
              input_columns: [text]
              guidelines: The sentiment the review expresses.
          wait_for_completion: false   # the task-run sensor collects the labels
          confidence_checks:
            - field: sentiment
              threshold: 0.8
              min_share: 0.5
          agreement_checks:
            - field: sentiment
              ground_truth_column: expected
              min_agreement: 0.5
          task_run_sensor:
            minimum_interval_seconds: 30
            default_status: running
        """
    scaffold_files: ClassVar[dict[str, str]] = {
        "reviews.csv": """
            id,text,expected
            r1,Battery lasts two days. A positive surprise.,positive
            r2,Screen cracked in a week: a negative experience.,negative
            r3,"Does what it says, nothing more; neutral.",neutral
            """,
    }

    def _error(self, attribute: str, problem: str) -> dg.DagsterInvalidDefinitionError:
        return dg.DagsterInvalidDefinitionError(f"RefuelLabelingComponent {self.name!r}, {attribute}: {problem}")

    def _task_definition(self) -> tuple[str | None, list[dict[str, Any]] | None]:
        if not self.create_task:
            for attribute in ("task_context", "task_fields", "task_model"):
                if getattr(self, attribute) is not None:
                    raise self._error(attribute, "only used to define the task; set create_task: true (off in "
                                      "production) or remove it")
            return None, None
        if not self.task_context:
            raise self._error("task_context", "create_task needs the task's instructions, e.g. "
                              "task_context: You label the sentiment of product reviews.")
        if not self.task_fields:
            raise self._error("task_fields", "create_task needs at least one field (name, type, input_columns)")
        return self.task_context, [f.model_dump(exclude_none=True) for f in self.task_fields]

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        task_context, task_fields = self._task_definition()
        if self.export_sensor is not None and self.export is None:
            raise self._error("export_sensor", "reports the export asset's exports; set export (email_address)")
        dataset_name = self.dataset_name or self.name
        fields = self.fields if self.fields is not None else [f["name"] for f in task_fields or []]
        upstream, extra = rows_upstream(self.rows, name=self.name, folder=context.path,
                                        partitions_def=self.partitions, group_name=self.group_name,
                                        key_prefix=self.key_prefix)
        dataset = build_refuel_dataset_asset(
            name=f"{self.name}_dataset", upstream=upstream, dataset_name=dataset_name,
            partition_column=self.partition_column, replace_existing=self.replace_existing,
            create_project=self.create_project, partitions_def=self.partitions, resource_key=self.resource_key,
            key_prefix=self.key_prefix, group_name=self.group_name, description=self.dataset_description,
            pool=self.pool,
        )
        labels = build_refuel_labels_asset(
            name=self.labels_name or f"{self.name}_labels", dataset_asset=dataset, dataset_name=dataset_name,
            task=self.task, fields=fields, task_context=task_context, task_fields=task_fields,
            task_model=self.task_model, partition_column=self.partition_column, num_items=self.num_items,
            wait_for_completion=self.wait_for_completion, wait_timeout_seconds=self.wait_timeout_seconds,
            poll_interval_seconds=self.poll_interval_seconds, cancel_on_termination=self.cancel_on_termination,
            cancel_on_timeout=self.cancel_on_timeout, resource_key=self.resource_key, key_prefix=self.key_prefix,
            group_name=self.group_name, description=self.labels_description, partitions_def=self.partitions,
            pool=self.pool,
        )
        assets: list[Any] = [*extra, dataset, labels]
        checks = [self._confidence_check(labels, i, c) for i, c in enumerate(self.confidence_checks)]
        checks += [self._agreement_check(labels, i, c) for i, c in enumerate(self.agreement_checks)]
        sensors = []
        if self.task_run_sensor is not None:
            runs = self.task_run_sensor
            sensors.append(build_refuel_task_run_sensor(
                name=runs.name or f"{self.name}_task_run", task=self.task, datasets=[dataset_name], target=labels,
                labels_asset=labels, resource_key=self.resource_key, max_checks_per_tick=runs.max_checks_per_tick,
                max_attempts=runs.max_attempts, minimum_interval_seconds=runs.minimum_interval_seconds,
                default_status=runs.status,
            ))
        export = None
        if self.export is not None:
            export_name = self.export.name or f"{self.name}_export"
            export = build_refuel_export_asset(
                name=export_name, dataset_name=dataset_name, email_address=self.export.email_address,
                task=self.task if self.export.include_labels else None, deps=[labels],
                resource_key=self.resource_key, key_prefix=self.key_prefix, group_name=self.group_name,
                description=self.export.description,
            )
            assets.append(export)
            if self.export_sensor is not None:
                ready = self.export_sensor.ready_asset
                ready_key = (dg.AssetKey.from_user_string(ready) if ready
                             else dg.AssetKey([*export.key.path[:-1], f"{export_name}_ready"]))
                assets.append(dg.AssetSpec(
                    ready_key, deps=[export], group_name=self.group_name, kinds={"refuel"},
                    description=f"Export of Refuel dataset {dataset_name!r} ready: its signed URL is the "
                    "metadata refuel/export_url (reported by the export sensor).",
                ))
                sensors.append(build_refuel_export_sensor(
                    name=self.export_sensor.name or f"{self.name}_export", export_asset=export,
                    ready_asset_key=ready_key, resource_key=self.resource_key,
                    minimum_interval_seconds=self.export_sensor.minimum_interval_seconds,
                    default_status=self.export_sensor.status,
                ))
        jobs, schedules = [], []
        if self.schedule is not None:
            # The labels asset starts the task run; without waiting, the task-run sensor collects the labels, so
            # the export (which needs them) is only scheduled by an unpartitioned component that waits.
            scheduled = [a for a in assets if isinstance(a, dg.AssetsDefinition) and a is not export]
            if export is not None and self.wait_for_completion and self.partitions is None:
                scheduled.append(export)
            job, schedule = build_schedule(self.schedule, component_name=self.name, assets=scheduled,
                                           partitions_def=self.partitions)
            jobs.append(job)
            schedules.append(schedule)
        return dg.Definitions(assets=assets, asset_checks=checks, sensors=sensors, jobs=jobs, schedules=schedules,
                              resources={self.resource_key: self.resource})

    def _confidence_check(self, labels: dg.AssetsDefinition, index: int,
                          check: RefuelConfidenceCheckModel) -> dg.AssetChecksDefinition:
        try:
            return build_refuel_confidence_check(
                asset=labels, field=check.field, threshold=check.threshold, min_share=check.min_share,
                severity=dg.AssetCheckSeverity(check.severity.upper()), blocking=check.blocking, name=check.name)
        except ValueError as err:  # InvalidInput: a threshold or share outside 0..1
            raise self._error(f"confidence_checks[{index}]", str(err)) from None

    def _agreement_check(self, labels: dg.AssetsDefinition, index: int,
                         check: RefuelAgreementCheckModel) -> dg.AssetChecksDefinition:
        try:
            return build_refuel_agreement_check(
                asset=labels, field=check.field, ground_truth_column=check.ground_truth_column,
                min_agreement=check.min_agreement, severity=dg.AssetCheckSeverity(check.severity.upper()),
                blocking=check.blocking, name=check.name)
        except ValueError as err:
            raise self._error(f"agreement_checks[{index}]", str(err)) from None
