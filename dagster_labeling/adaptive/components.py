"""Adaptive ML components: rows logged as interactions with their feedback (``AdaptiveInteractionsComponent``), and
an A/B test of models whose winner becomes the project's default model (``AdaptiveABTestComponent``), from YAML.

``dg scaffold defs dagster_labeling.adaptive.AdaptiveInteractionsComponent feedback`` writes a working ``defs.yaml``
and a sample ``interactions.jsonl``; ``dg scaffold defs dagster_labeling.adaptive.AdaptiveABTestComponent ab_test``
a working ``defs.yaml``. Every option of :func:`build_adaptive_interactions_asset`,
:func:`build_adaptive_dataset_asset`, :func:`build_adaptive_ab_test_asset`,
:func:`build_adaptive_promote_winner_asset` and :func:`build_adaptive_ab_test_sensor` is an attribute.
"""

from typing import Annotated, Any, ClassVar, Literal

import dagster as dg
from pydantic import Field

from dagster_labeling._dagster.components import (
    DefsYamlScaffolder,
    PlatformComponent,
    RowsModel,
    SensorModel,
    attribute_errors,
    build_schedule,
    resource_resolver,
    rows_upstream,
)
from dagster_labeling._dagster.sensors import DEFAULT_MAX_ATTEMPTS
from dagster_labeling.adaptive.assets import (
    build_adaptive_ab_test_asset,
    build_adaptive_dataset_asset,
    build_adaptive_interactions_asset,
    build_adaptive_promote_winner_asset,
)
from dagster_labeling.adaptive.resource import AdaptiveResource
from dagster_labeling.adaptive.sensors import build_adaptive_ab_test_sensor


class AdaptiveDatasetModel(dg.Model):
    """The same rows uploaded as an Adaptive dataset (one JSONL line per row: the prompt as a user message, and the
    completion), e.g. to train or evaluate on them."""

    name: str | None = Field(default=None, description="Asset name; defaults to <name>_dataset.")
    dataset_key_prefix: str | None = Field(
        default=None, description="Dataset key (with __<partition> per partition); defaults to the asset name.")
    prompt_column: str | None = Field(default=None, description="Column of the prompts; defaults to the "
                                      "component's prompt_column.")
    completion_column: str | None = Field(default=None, description="Column of the completions; defaults to the "
                                          "component's completion_column.")
    include_completion: bool = Field(default=True, description="Upload the completions; false uploads prompts only.")
    description: str | None = Field(default=None, description="Asset description shown in the UI.")


@dg.scaffold_with(DefsYamlScaffolder)
class AdaptiveInteractionsComponent(PlatformComponent):
    """Rows of a DataFrame logged as Adaptive interactions (prompt → completion), each with its feedback on a
    feedback key, once per row and partition; optionally the same rows uploaded as an Adaptive dataset."""


    resource: Annotated[Any, resource_resolver(AdaptiveResource)]  # an AdaptiveResource (the type is not YAML)
    resource_key: str = Field(default="adaptive", description="Resource key the assets use.")
    name: str = Field(description="Name of the interactions asset; also the row labels' prefix "
                      "(dagster_row=<name>[__<partition>]/<key>), which makes re-runs log nothing twice.")
    rows: RowsModel = Field(description="The rows to log: an upstream asset or a file.")
    project: str = Field(description="Adaptive project (its key) the interactions belong to.")
    create_project: bool = Field(
        default=False, description="Create what is missing: the project, completion_model attached to it, "
        "feedback_key of feedback_kind (emulator, new workspaces); off in production, where projects are set up on "
        "purpose.")
    key_column: str = Field(description="Column with a stable unique key per row.")
    prompt_column: str = Field(default="prompt", description="Column of the prompts (sent as a user message).")
    completion_column: str = Field(default="completion", description="Column of the completions.")
    completion_model: str | None = Field(
        default=None, description="Model (attached to the project) the completions are attributed to (the "
        "factory's model); the project's default model if unset.")
    feedback_key: str | None = Field(default=None, description="Feedback key the rows' feedback is logged on; "
                                     "give feedback_column with it.")
    feedback_column: str | None = Field(
        default=None, description="Column of the feedback values (numbers or booleans; a missing cell logs the row "
        "without feedback). CSV cells are text: use JSON Lines or Parquet, or an upstream asset, for feedback.")
    feedback_kind: Literal["scalar", "bool"] = Field(
        default="scalar", description="Kind of feedback_key when create_project registers it.")
    label_columns: list[str] = Field(default_factory=list, description="Columns sent as interaction labels.")
    concurrency: int | None = Field(default=None, description="Interactions sent at once; the resource's "
                                    "max_concurrency if unset.")
    allow_partial: bool = Field(default=False, description="Succeed when some rows could not be logged (a re-run "
                                "logs only those).")
    description: str | None = Field(default=None, description="Description of the interactions asset.")
    pool: str | None = Field(default=None, description="Dagster concurrency pool of the interactions and dataset "
                             "assets.")
    dataset: AdaptiveDatasetModel | None = Field(
        default=None, description="Also upload the rows as an Adaptive dataset; null (default) leaves it out.")

    scaffold_yaml: ClassVar[str] = """
        # Rows of a JSON Lines file logged as Adaptive interactions, each with its feedback. Set ADAPTIVE_API_KEY
        # and ADAPTIVE_BASE_URL (your deployment; for the emulator `dagster-labeling emulate`:
        # http://127.0.0.1:8765/adaptive and the key it prints), e.g. in .env.
        attributes:
          resource:
            api_key: "{{ env.ADAPTIVE_API_KEY }}"
            base_url: "{{ env.ADAPTIVE_BASE_URL }}"  # your deployment: Adaptive has no public default
          name: review_interactions
          rows:
            file: interactions.jsonl
          project: review-assistant
          create_project: true        # off in production: set up projects, models and feedback keys on purpose
          key_column: id              # each row is logged once: re-runs and retries skip the rows already there
          prompt_column: prompt
          completion_column: completion
          completion_model: llama-3.1-8b-instruct
          feedback_key: label_accepted
          feedback_column: accepted   # true/false per row; a missing value logs the row without feedback
          feedback_kind: bool
          label_columns: [channel]
          # dataset:                  # also upload the rows as an Adaptive dataset
          #   name: review_dataset
        """
    scaffold_files: ClassVar[dict[str, str]] = {
        "interactions.jsonl": """
            {"id": "r1", "prompt": "Sentiment of: Battery lasts two days. Love it.", "completion": "positive", "accepted": true, "channel": "web"}
            {"id": "r2", "prompt": "Sentiment of: Screen cracked in a week.", "completion": "positive", "accepted": false, "channel": "app"}
            {"id": "r3", "prompt": "Sentiment of: Does what it says, nothing more.", "completion": "neutral", "accepted": true, "channel": "web"}
            """,  # noqa: E501
    }

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        upstream, extra = rows_upstream(self.rows, name=self.name, folder=context.path,
                                        partitions_def=self.partitions, group_name=self.group_name,
                                        key_prefix=self.key_prefix)
        with attribute_errors(self.name):
            interactions = build_adaptive_interactions_asset(
                name=self.name, upstream=upstream, project=self.project, key_column=self.key_column,
                prompt_column=self.prompt_column, completion_column=self.completion_column, model=self.completion_model,
                feedback_key=self.feedback_key, feedback_column=self.feedback_column,
                label_columns=self.label_columns, concurrency=self.concurrency, allow_partial=self.allow_partial,
                create_project=self.create_project, feedback_kind=self.feedback_kind,
                partitions_def=self.partitions, resource_key=self.resource_key, key_prefix=self.key_prefix,
                group_name=self.group_name, description=self.description, pool=self.pool,
            )
        assets = [*extra, interactions]
        if self.dataset is not None:
            dataset = self.dataset
            with attribute_errors(self.name, "dataset."):
                assets.append(build_adaptive_dataset_asset(
                    name=dataset.name or f"{self.name}_dataset", upstream=upstream, project=self.project,
                    prompt_column=dataset.prompt_column or self.prompt_column,
                    completion_column=(dataset.completion_column or self.completion_column)
                    if dataset.include_completion else None,
                    dataset_key_prefix=dataset.dataset_key_prefix, create_project=self.create_project,
                    partitions_def=self.partitions, resource_key=self.resource_key, key_prefix=self.key_prefix,
                    group_name=self.group_name, description=dataset.description, pool=self.pool,
                ))
        jobs, schedules = [], []
        if self.schedule is not None:
            job, schedule = build_schedule(self.schedule, component_name=self.name, assets=assets,
                                           partitions_def=self.partitions)
            jobs.append(job)
            schedules.append(schedule)
        return dg.Definitions(assets=assets, jobs=jobs, schedules=schedules,
                              resources={self.resource_key: self.resource})


class AdaptivePromoteModel(dg.Model):
    """The asset making the A/B test's winner the project's default model when the result is significant."""

    name: str | None = Field(default=None, description="Asset name; defaults to <name>_default_model.")
    max_p_value: float = Field(default=0.05, description="Promote only when the test's p-value is at most this "
                               "(in (0, 1]); otherwise the default model is kept and the metadata says why.")
    description: str | None = Field(default=None, description="Asset description shown in the UI.")


class AdaptiveABTestSensorModel(SensorModel):
    """The sensor reporting finished A/B tests: it records the test's result on the A/B test asset (in its
    partition) and requests a run of the promote asset (for hand-off, without waiting)."""

    minimum_interval_seconds: int = Field(default=300, description="Seconds between ticks.")
    report_existing: bool = Field(default=False, description="On the first tick, also report tests that finished "
                                  "before the sensor started (otherwise they are only recorded as seen).")
    max_tests_per_tick: int = Field(default=10, description="Finished tests reported per tick; the rest carry over.")
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS,
                              description="Runs requested per finished test when runs fail or are canceled.")


@dg.scaffold_with(DefsYamlScaffolder)
class AdaptiveABTestComponent(PlatformComponent):
    """An A/B test of models on a feedback key (one per partition, never started twice), the asset promoting its
    winner to the project's default model, the sensor that reports the finished test and requests the
    promotion, and an optional schedule."""


    resource: Annotated[Any, resource_resolver(AdaptiveResource)]  # an AdaptiveResource (the type is not YAML)
    resource_key: str = Field(default="adaptive", description="Resource key the assets and sensor use.")
    name: str = Field(description="Name of the A/B test asset; also the test's key unless ab_test_key_prefix.")
    project: str = Field(description="Adaptive project (its key) whose models are tested.")
    feedback_key: str = Field(description="Feedback key the models are compared on.")
    models: list[str] = Field(description="The models tested (at least two, attached to the project).")
    ab_test_key_prefix: str | None = Field(
        default=None, description="A/B test key (with __<partition> per partition); defaults to name. A cancelled "
        "test keeps its key: give another prefix to start anew.")
    traffic_split: float = Field(default=1.0, description="Share of the project's traffic the test routes to the "
                                 "models, in (0, 1].")
    feedback_type: Literal["metric", "preference"] = Field(
        default="metric", description="metric: direct feedback scores; preference: comparisons of two answers.")
    auto_deploy: bool = Field(default=False, description="Adaptive makes the winner the default model itself "
                              "(then promote is redundant).")
    create_project: bool = Field(
        default=False, description="Create what is missing: the project, the models attached to it, feedback_key of "
        "feedback_kind (emulator, new workspaces); off in production, where projects are set up on purpose.")
    feedback_kind: Literal["scalar", "bool"] = Field(
        default="scalar", description="Kind of feedback_key when create_project registers it.")
    wait_for_completion: bool = Field(
        default=False, description="Block until the test finishes (it can take days); else the sensor reports it "
        "and requests the promotion.")
    wait_timeout_seconds: float = Field(default=7 * 24 * 3600, description="Give up waiting after this long.")
    poll_interval_seconds: float = Field(default=300.0, description="Seconds between polls while waiting.")
    cancel_on_termination: bool = Field(
        default=False, description="Cancel the test when a waiting run is terminated (off: it collects production "
        "traffic).")
    cancel_on_timeout: bool = Field(default=False, description="Cancel the test when the wait times out.")
    deps: list[str] = Field(default_factory=list, description="Asset keys the test runs after, e.g. an "
                            "interactions asset.")
    description: str | None = Field(default=None, description="Description of the A/B test asset.")
    pool: str | None = Field(default=None, description="Dagster concurrency pool of the A/B test and promote assets.")
    promote: AdaptivePromoteModel | None = Field(
        default_factory=AdaptivePromoteModel, description="The promote-the-winner asset; null leaves it out.")
    ab_test_sensor: AdaptiveABTestSensorModel | None = Field(
        default=None, description="The sensor reporting the finished test; null leaves it out.")

    scaffold_yaml: ClassVar[str] = """
        # An A/B test of two models on a feedback key, the asset promoting the winner to the project's default
        # model, and the sensor that reports the finished test and requests the promotion. Set ADAPTIVE_API_KEY
        # and ADAPTIVE_BASE_URL (your deployment; for the emulator `dagster-labeling emulate`:
        # http://127.0.0.1:8765/adaptive and the key it prints), e.g. in .env.
        attributes:
          resource:
            api_key: "{{ env.ADAPTIVE_API_KEY }}"
            base_url: "{{ env.ADAPTIVE_BASE_URL }}"  # your deployment: Adaptive has no public default
          name: assistant_ab_test
          project: review-assistant
          create_project: true        # off in production: set up projects, models and feedback keys on purpose
          feedback_key: label_accepted
          feedback_kind: bool
          models: [llama-3.1-8b-instruct, qwen-2.5-7b]
          traffic_split: 1.0
          wait_for_completion: false  # the sensor reports the finished test and requests the promotion
          promote:
            max_p_value: 0.05         # promote only a significant winner
          ab_test_sensor:
            minimum_interval_seconds: 60
            default_status: running
        """

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        with attribute_errors(self.name):
            ab_test = build_adaptive_ab_test_asset(
                name=self.name, project=self.project, feedback_key=self.feedback_key, models=self.models,
                ab_test_key_prefix=self.ab_test_key_prefix, traffic_split=self.traffic_split,
                feedback_type=self.feedback_type, auto_deploy=self.auto_deploy, create_project=self.create_project,
                feedback_kind=self.feedback_kind, wait_for_completion=self.wait_for_completion,
                wait_timeout_seconds=self.wait_timeout_seconds, poll_interval_seconds=self.poll_interval_seconds,
                cancel_on_termination=self.cancel_on_termination, cancel_on_timeout=self.cancel_on_timeout,
                partitions_def=self.partitions, deps=[dg.AssetKey.from_user_string(d) for d in self.deps],
                resource_key=self.resource_key, key_prefix=self.key_prefix, group_name=self.group_name,
                description=self.description, pool=self.pool,
            )
        assets = [ab_test]
        promote = None
        if self.promote is not None:
            with attribute_errors(self.name, "promote."):
                promote = build_adaptive_promote_winner_asset(
                    name=self.promote.name or f"{self.name}_default_model", ab_test_asset=ab_test,
                    project=self.project, max_p_value=self.promote.max_p_value, resource_key=self.resource_key,
                    key_prefix=self.key_prefix, group_name=self.group_name, description=self.promote.description,
                    pool=self.pool,
                )
            assets.append(promote)
        sensors = []
        if self.ab_test_sensor is not None:
            sensor = self.ab_test_sensor
            if sensor.max_tests_per_tick < 1:
                raise dg.DagsterInvalidDefinitionError(
                    f"component {self.name!r}: ab_test_sensor.max_tests_per_tick must be at least 1")
            # Records the finished test on the A/B test asset, then requests the promotion (when there is one).
            sensors.append(build_adaptive_ab_test_sensor(
                name=sensor.name or f"{self.name}_done", project=self.project, ab_test_asset=ab_test,
                target=promote, report_existing=sensor.report_existing,
                max_tests_per_tick=sensor.max_tests_per_tick, max_attempts=sensor.max_attempts,
                resource_key=self.resource_key, minimum_interval_seconds=sensor.minimum_interval_seconds,
                default_status=sensor.status,
            ))
        jobs, schedules = [], []
        if self.schedule is not None:
            # Without waiting, the schedule starts the test; the sensor requests the promotion when it finishes.
            scheduled = assets if self.wait_for_completion else [ab_test]
            job, schedule = build_schedule(self.schedule, component_name=self.name, assets=scheduled,
                                           partitions_def=self.partitions)
            jobs.append(job)
            schedules.append(schedule)
        return dg.Definitions(assets=assets, sensors=sensors, jobs=jobs, schedules=schedules,
                              resources={self.resource_key: self.resource})
