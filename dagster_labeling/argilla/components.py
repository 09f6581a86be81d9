"""``ArgillaReviewComponent``: rows sent to an Argilla dataset for human review, the reviews back as a DataFrame
with a completion/agreement check, a progress sensor and an optional webhook sensor, from YAML.

``dg scaffold defs dagster_labeling.argilla.ArgillaReviewComponent reviews`` writes a working ``defs.yaml`` and
sample files. ``template`` picks the dataset: ``text_generation`` (distilabel's ``TextGenerationToArgilla``),
``preference`` (``PreferenceToArgilla``) or ``generic`` (fields, questions, metadata and vectors written in YAML,
columns mapped to them). Every option of :func:`build_argilla_dataset_asset`,
:func:`build_text_generation_dataset_asset`, :func:`build_preference_dataset_asset`,
:func:`build_argilla_annotations_asset`, :func:`build_argilla_annotations_check`,
:func:`build_argilla_progress_sensor` and :func:`build_argilla_webhook_sensor` is an attribute.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import dagster as dg
import pandas as pd
import pydantic
from dagster.components.resolved.errors import ResolutionException
from pydantic import Field

from dagster_labeling._core import InvalidInput
from dagster_labeling._dagster.components import (
    DefsYamlScaffolder,
    PlatformComponent,
    RowsModel,
    ScheduleModel,
    SensorModel,
    build_schedule,
    resource_resolver,
    rows_upstream,
    yaml_position,
)
from dagster_labeling._dagster.sensors import DEFAULT_MAX_ATTEMPTS
from dagster_labeling.argilla.assets import (
    build_argilla_annotations_asset,
    build_argilla_annotations_check,
    build_argilla_dataset_asset,
    build_preference_dataset_asset,
    build_text_generation_dataset_asset,
)
from dagster_labeling.argilla.models import (
    ChatField,
    CustomField,
    FloatMetadataProperty,
    ImageField,
    IntegerMetadataProperty,
    LabelQuestion,
    MultiLabelQuestion,
    RankingQuestion,
    RatingQuestion,
    Settings,
    SpanQuestion,
    TermsMetadataProperty,
    TextField,
    TextQuestion,
    VectorField,
)
from dagster_labeling.argilla.pipeline import RecordMapping
from dagster_labeling.argilla.resource import ArgillaResource
from dagster_labeling.argilla.sensors import (
    _record_partition,
    build_argilla_progress_sensor,
    build_argilla_webhook_sensor,
    default_argilla_run_request,
)
from dagster_labeling.callbacks.inbox import InboxEvent

_TemplateFn = Annotated[Callable[..., Any] | None, dg.Resolver.default(model_field_type=str | None)]


# -- generic dataset settings in YAML -------------------------------------------------------------------
class ArgillaFieldModel(dg.Model):
    """A field shown to annotators: ``{name: text}``; ``type`` text (default), image, chat or custom."""

    name: str = Field(description="Field name (lower-case letters, digits, _ and -); records fill it.")
    type: Literal["text", "image", "chat", "custom"] = Field(default="text", description="text, image, chat or custom.")
    title: str | None = Field(default=None, description="Title shown to annotators; defaults to the name.")
    description: str | None = Field(default=None, description="Help text shown to annotators.")
    required: bool = Field(default=True, description="Whether every record must fill the field.")
    use_markdown: bool | None = Field(default=None, description="Render Markdown (text and chat fields).")
    template: str | None = Field(default=None, description="HTML/handlebars template (custom fields).")
    advanced_mode: bool | None = Field(default=None, description="Advanced mode of a custom field's template.")


class ArgillaQuestionModel(dg.Model):
    """A question annotators answer: ``{name: label, type: label_selection, labels: [a, b]}``."""

    name: str = Field(description="Question name; the annotations DataFrame has a column of that name.")
    type: Literal["label_selection", "multi_label_selection", "rating", "text", "ranking", "span"] = Field(
        description="label_selection, multi_label_selection, rating, text, ranking or span.")
    title: str | None = Field(default=None, description="The question as annotators read it; defaults to the name.")
    description: str | None = Field(default=None, description="Help text shown to annotators.")
    required: bool = Field(default=True, description="Whether a response must answer it.")
    labels: list[str] | dict[str, str] | None = Field(
        default=None, description="Labels (label_selection, multi_label_selection, span): a list, or value: text.")
    values: list[int] | list[str] | dict[str, str] | None = Field(
        default=None, description="Rating values (2-11 integers 0-10) or ranking values (a list, or value: text).")
    visible_labels: int | None = Field(default=None, description="Labels shown before 'more' (at least 3).")
    labels_order: Literal["natural", "suggestion"] | None = Field(
        default=None, description="Order of a multi-label question's labels: natural or suggestion.")
    use_markdown: bool | None = Field(default=None, description="Markdown in a text question's answer.")
    field: str | None = Field(default=None, description="The text field a span question annotates.")
    allow_overlapping: bool | None = Field(default=None, description="Whether spans may overlap (span).")


class ArgillaMetadataModel(dg.Model):
    """A metadata property annotators can filter on: ``{name: source, type: terms}``."""

    name: str = Field(description="Property name.")
    type: Literal["terms", "integer", "float"] = Field(default="terms", description="terms, integer or float.")
    title: str | None = Field(default=None, description="Title shown in the UI.")
    options: list[str] | None = Field(default=None, description="Allowed values of a terms property.")
    min: float | None = Field(default=None, description="Lowest value of an integer or float property.")
    max: float | None = Field(default=None, description="Highest value of an integer or float property.")
    visible_for_annotators: bool = Field(default=True, description="Whether annotators see it.")


class ArgillaVectorModel(dg.Model):
    """A vector (embedding) per record, for similarity search."""

    name: str = Field(description="Vector name.")
    dimensions: int = Field(description="Number of floats (more than 0).")
    title: str | None = Field(default=None, description="Title shown in the UI.")


class ArgillaSettingsModel(dg.Model):
    """The generic template's dataset settings (the dataset is created with them if missing)."""

    fields: list[ArgillaFieldModel] = Field(description="Fields shown to annotators (at least one).")
    questions: list[ArgillaQuestionModel] = Field(description="Questions (at least one required).")
    metadata: list[ArgillaMetadataModel] = Field(default_factory=list, description="Metadata properties.")
    vectors: list[ArgillaVectorModel] = Field(default_factory=list, description="Vectors.")
    min_submitted: int = Field(default=1, description="Submitted responses that complete a record (at least 1).")
    allow_extra_metadata: bool = Field(default=False, description="Accept metadata not declared above.")


class ArgillaMappingModel(dg.Model):
    """The generic template's column mapping: which column feeds which field, suggestion and metadata."""

    fields: dict[str, str] = Field(description="Field name -> column.")
    suggestions: dict[str, str] = Field(
        default_factory=dict, description="Question name -> column holding a model's answer (shown pre-filled).")
    suggestion_scores: dict[str, str] = Field(
        default_factory=dict, description="Question name -> column with the suggestion's score (e.g. confidence).")
    metadata: dict[str, str] = Field(default_factory=dict, description="Metadata property -> column.")
    key_column: str | None = Field(
        default=None, description="Column with a stable unique key per row (else a hash of the fields).")
    suggestion_agent: str | None = Field(default=None, description="Name of the model that made the suggestions.")


_FIELD_TYPES: dict[str, type[Any]] = {"text": TextField, "image": ImageField, "chat": ChatField,
                                      "custom": CustomField}
_QUESTION_TYPES: dict[str, type[Any]] = {
    "label_selection": LabelQuestion, "multi_label_selection": MultiLabelQuestion, "rating": RatingQuestion,
    "text": TextQuestion, "ranking": RankingQuestion, "span": SpanQuestion}
_METADATA_TYPES: dict[str, type[Any]] = {"terms": TermsMetadataProperty, "integer": IntegerMetadataProperty,
                                         "float": FloatMetadataProperty}


def _built(context: dg.ResolutionContext, cls: type[Any], model: dg.Model, what: str) -> Any:
    """``cls`` built from the set options of ``model`` (its ``type`` left out); an option the type does not
    take, or a value Argilla would refuse, is an error naming the YAML line."""
    values = {k: v for k, v in model.model_dump(exclude_none=True).items() if k != "type"}
    if cls is IntegerMetadataProperty:
        for bound in ("min", "max"):
            if bound in values and float(values[bound]).is_integer():
                values[bound] = int(values[bound])
    try:
        return cls(**values)
    except InvalidInput as err:
        message = str(err)
    except pydantic.ValidationError as err:
        message = _problems(err)
    raise ResolutionException(f"{yaml_position(context)}: invalid {what}: {message}")


def resolve_settings(context: dg.ResolutionContext, model: ArgillaSettingsModel | None) -> Settings | None:
    """The :class:`~dagster_labeling.argilla.models.Settings` of an :class:`ArgillaSettingsModel` (the component
    adds its guidelines), each part and the whole checked as Argilla would."""
    if model is None:
        return None

    def each(key: str, items: list[Any], types: dict[str, type[Any]] | None, fixed: type[Any] | None) -> list[Any]:
        return [_built(context.at_path(key).at_path(i), types[item.type] if types else fixed,  # type: ignore[arg-type]
                       item, f"{getattr(item, 'type', 'vector')} {key[:-1]} {item.name!r}")
                for i, item in enumerate(items)]

    parts = {
        "fields": each("fields", model.fields, _FIELD_TYPES, None),
        "questions": each("questions", model.questions, _QUESTION_TYPES, None),
        "metadata": each("metadata", model.metadata, _METADATA_TYPES, None),
        "vectors": each("vectors", model.vectors, None, VectorField),
        "min_submitted": model.min_submitted,
        "allow_extra_metadata": model.allow_extra_metadata,
    }
    try:
        return Settings(**parts)
    except InvalidInput as err:
        message = str(err)
    except pydantic.ValidationError as err:
        message = _problems(err)
    raise ResolutionException(f"{yaml_position(context)}: invalid settings: {message}")


def _problems(err: pydantic.ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())


SETTINGS_RESOLVER = dg.Resolver(
    resolve_settings, model_field_type=ArgillaSettingsModel | None, inject_before_resolve=False,
    description="template: generic: the dataset's fields, questions, metadata and vectors.")


# -- sub-assets and sensors -------------------------------------------------------------------------------
class ArgillaCheckModel(dg.Model):
    """The check on the annotations: completed share and inter-annotator agreement."""

    name: str = Field(default="argilla_review_quality", description="Check name.")
    min_completed_fraction: float = Field(default=1.0, description="Share of records that must be completed.")
    min_agreement: float | None = Field(
        default=0.6, description="Lowest mean agreement (records with 2+ answers); null: not checked.")
    blocking: bool = Field(default=False, description="Block downstream assets when the check fails.")


class ArgillaAnnotationsModel(dg.Model):
    """The asset bringing the reviews back as a DataFrame (one row per record)."""

    name: str | None = Field(default=None, description="Asset name; defaults to <name>_annotations.")
    submitted_only: bool = Field(default=False, description="Only records with at least one submitted response.")
    description: str | None = Field(default=None, description="Asset description shown in the UI.")
    pool: str | None = Field(default=None, description="Dagster concurrency pool of the annotations asset.")
    check: ArgillaCheckModel | None = Field(
        default_factory=ArgillaCheckModel, description="The completion/agreement check; null leaves it out.")


class ArgillaProgressSensorModel(SensorModel):
    """The sensor materializing the annotations when enough of the dataset (or of a partition) is reviewed."""

    threshold: float = Field(default=1.0, description="Completed share (0 < threshold <= 1) that triggers a run.")
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS,
                              description="Runs requested per crossing when runs fail or are canceled.")
    max_records_per_tick: int = Field(
        default=100_000, description="Partitioned: largest dataset whose records a tick lists.")


class ArgillaWebhookSensorModel(SensorModel, dg.Resolvable):
    """The sensor materializing the annotations for Argilla webhook events stored by the callbacks receiver
    (``dagster-labeling callbacks serve --inbox <inbox_path>``)."""

    inbox_path: str = Field(description="The receiver's SQLite inbox; relative paths are relative to this defs.yaml.")
    events: list[str] = Field(default_factory=lambda: ["record.completed"],
                              description="Webhook event types that request a run.")
    source: str = Field(default="argilla", description="The receiver's source name for Argilla.")
    event_to_run_request: _TemplateFn = Field(
        default=None, description="A template var ({{ my_fn }}) mapping an InboxEvent to a RunRequest or None.")
    max_events_per_tick: int = Field(default=100, description="Events read per tick; the rest carry over.")
    minimum_interval_seconds: int = Field(default=30, description="Seconds between ticks.")


_TEMPLATE_OPTIONS = {
    "text_generation": ("instruction", "generation"),
    "preference": ("instruction", "generations", "ratings", "rationales", "num_generations"),
    "generic": ("settings", "mapping", "frame_to_records"),
}


@dg.scaffold_with(DefsYamlScaffolder)
class ArgillaReviewComponent(PlatformComponent):
    """Rows of a DataFrame sent to an Argilla dataset for human review (one row = one record, idempotent per
    partition), the reviews back as a DataFrame with a completion/agreement check, a progress sensor, an
    optional webhook sensor and an optional schedule."""


    resource: Annotated[Any, resource_resolver(ArgillaResource)]  # an ArgillaResource (the type is not YAML)
    resource_key: str = Field(default="argilla", description="Resource key the assets and sensors use.")
    name: str = Field(description="Name of the dataset asset (the one sending the rows).")
    rows: RowsModel = Field(description="The rows to review: an upstream asset or a file.")
    where: str | None = Field(
        default=None, description="Send only the rows matching this pandas query, e.g. "
        "'sentiment_confidence < 0.6' (the doubtful labels); they are the asset <name>_selected.")
    dataset_name: str = Field(description="Argilla dataset; created with the template's settings when missing.")
    template: Literal["text_generation", "preference", "generic"] = Field(
        description="text_generation: instruction + generation fields and a good/bad question; preference: N "
        "generations rated 1-5 each; generic: settings and mapping below.")
    workspace: str | None = Field(default=None, description="Workspace of the dataset; the resource's if unset.")
    create_workspace: bool = Field(default=False, description="Create the workspace when missing.")
    guidelines: str | None = Field(default=None, description="Guidelines shown to annotators (Markdown).")
    instruction: str | None = Field(
        default=None, description="text_generation, preference: the instruction column (default instruction).")
    generation: str | None = Field(
        default=None, description="text_generation: the generation column, text or a list (default generation).")
    generations: str | None = Field(
        default=None, description="preference: the column with a list of num_generations texts (default "
        "generations).")
    num_generations: int | None = Field(default=None, description="preference: generations per row (required).")
    ratings: str | None = Field(
        default=None, description="preference: optional column with a list of 1-5 ratings, shown as suggestions "
        "(default ratings).")
    rationales: str | None = Field(
        default=None, description="preference: optional column with a list of rationales (default rationales).")
    settings: Annotated[Any, SETTINGS_RESOLVER] = None  # a Settings (its constraints are not YAML)
    mapping: ArgillaMappingModel | None = Field(
        default=None, description="generic: columns -> fields, suggestions and metadata.")
    frame_to_records: _TemplateFn = Field(
        default=None, description="generic: a template var ({{ my_fn }}), (df, partition_key, where) -> records, "
        "instead of mapping.")
    allow_empty: bool = Field(default=False, description="Materialize an empty DataFrame (sends nothing).")
    description: str | None = Field(default=None, description="Description of the dataset asset.")
    pool: str | None = Field(default=None, description="Dagster concurrency pool of the dataset asset.")
    annotations: ArgillaAnnotationsModel | None = Field(
        default_factory=ArgillaAnnotationsModel, description="The annotations asset; null leaves it out.")
    progress_sensor: ArgillaProgressSensorModel | None = Field(
        default=None, description="The progress sensor; null leaves it out.")
    webhook_sensor: ArgillaWebhookSensorModel | None = Field(
        default=None, description="The webhook sensor; null leaves it out.")
    schedule: ScheduleModel | None = Field(
        default=None, description="A schedule sending the rows; the sensors collect the reviews.")

    scaffold_yaml: ClassVar[str] = """
        # Low-confidence model labels from a CSV reviewed by people on Argilla, the reviews back as a DataFrame,
        # and a sensor collecting them once every record is reviewed. Set ARGILLA_API_KEY and ARGILLA_API_URL
        # (for the emulator `dagster-labeling emulate`: http://127.0.0.1:8765/argilla, key emulator-key), e.g. in .env.
        attributes:
          resource:
            api_key: "{{ env.ARGILLA_API_KEY }}"
            api_url: "{{ env('ARGILLA_API_URL', 'http://localhost:6900') }}"
          name: review_queue
          rows:
            file: reviews.csv
          dataset_name: low-confidence-reviews
          # generic: your fields and questions. Or `template: text_generation` (instruction, generation columns)
          # or `template: preference` with `num_generations: 2` (instruction, generations list columns), e.g.
          # with `rows: {file: generations.jsonl}`; those templates need no settings or mapping.
          template: generic
          guidelines: Check the model's sentiment label; correct it when it is wrong.
          settings:
            fields:
              - name: text
                title: Review
            questions:
              - name: sentiment
                type: label_selection
                title: What is the sentiment of this review?
                labels: [positive, negative, neutral]
            metadata:
              - name: source
                type: terms
          mapping:
            key_column: id              # a stable key per row: re-runs update records, never duplicate them
            fields: {text: text}
            suggestions: {sentiment: model_label}      # pre-filled from the model
            suggestion_scores: {sentiment: confidence}
            metadata: {source: source}
          annotations:
            check:
              min_completed_fraction: 1.0
              min_agreement: 0.6
          progress_sensor:
            threshold: 1.0              # materialize the annotations once every record is completed
            minimum_interval_seconds: 30
            default_status: running
        """
    scaffold_files: ClassVar[dict[str, str]] = {
        "reviews.csv": """
            id,text,model_label,confidence,source
            r1,Battery lasts two days. Love it.,positive,0.62,web
            r2,Screen cracked in a week.,negative,0.55,web
            r3,"Does what it says, nothing more.",positive,0.41,store
            """,
        "generations.jsonl": """
            {"instruction": "A prime?", "generation": "7", "generations": ["7", "9"], "ratings": [5, 1]}
            {"instruction": "Capital of France?", "generation": "Paris", "generations": ["Paris", "Rome"]}
            """,
    }

    def _refuse(self, attribute: str, message: str) -> dg.DagsterInvalidDefinitionError:
        return dg.DagsterInvalidDefinitionError(f"component {self.name!r} ({type(self).__name__}): {attribute}: "
                                                f"{message}")

    def _template_kwargs(self) -> dict[str, Any]:
        """The template-specific arguments, after checking no other template's option is set."""
        allowed = _TEMPLATE_OPTIONS[self.template]
        for options in _TEMPLATE_OPTIONS.values():
            for option in options:
                if option not in allowed and getattr(self, option) is not None:
                    takers = " or ".join(t for t, opts in _TEMPLATE_OPTIONS.items() if option in opts)
                    raise self._refuse(option, f"only template: {takers} takes it (this component's template is "
                                               f"{self.template})")
        if self.template == "text_generation":
            return {k: v for k in ("instruction", "generation") if (v := getattr(self, k)) is not None}
        if self.template == "preference":
            if self.num_generations is None:
                raise self._refuse("num_generations", "template: preference needs num_generations (the number of "
                                   "generations per row), e.g. num_generations: 2")
            return {k: v for k in allowed if (v := getattr(self, k)) is not None}
        if self.settings is None:
            raise self._refuse("settings", "template: generic needs settings (fields and questions)")
        if (self.mapping is None) == (self.frame_to_records is None):
            raise self._refuse("mapping", "template: generic needs exactly one of mapping (columns -> fields) or "
                               "frame_to_records (a template var)")
        try:
            settings = Settings(**{**dict(self.settings), "guidelines": self.guidelines})
        except InvalidInput as err:
            raise self._refuse("guidelines", str(err)) from None
        kwargs: dict[str, Any] = {"settings": settings}
        if self.mapping is not None:
            mapping = RecordMapping(**self.mapping.model_dump())
            self._check_mapping(mapping, settings)
            kwargs["mapping"] = mapping
        else:
            kwargs["frame_to_records"] = self.frame_to_records
        return kwargs

    def _check_mapping(self, mapping: RecordMapping, settings: Any) -> None:
        """Every name the mapping targets exists in the settings (checked here, before any run)."""
        names = {"fields": settings.field_names(), "suggestions": [q.name for q in settings.questions],
                 "suggestion_scores": [q.name for q in settings.questions],
                 "metadata": [m.name for m in settings.metadata]}
        if settings.allow_extra_metadata:
            del names["metadata"]  # undeclared metadata is allowed
        for part, known in names.items():
            for target in getattr(mapping, part):
                if target not in known:
                    raise self._refuse(f"mapping.{part}", f"{target!r} is not among the settings' "
                                       f"{'questions' if part.startswith('suggestion') else part} {known}")

    def _webhook_requests(self, annotations: dg.AssetsDefinition) -> Callable[[InboxEvent], dg.RunRequest | None]:
        """Events to runs of the annotations asset; partitioned: the partition of the event's record."""
        assert self.webhook_sensor is not None
        convert = self.webhook_sensor.event_to_run_request or default_argilla_run_request
        partitions = annotations.partitions_def
        if partitions is None or self.webhook_sensor.event_to_run_request is not None:
            return convert
        if isinstance(partitions, dg.DynamicPartitionsDefinition):
            raise self._refuse("webhook_sensor", "with dynamic partitions, give event_to_run_request (a template "
                               "var returning a RunRequest with the partition_key)")

        def to_request(event: InboxEvent) -> dg.RunRequest | None:
            data = event.payload.get("data") or {}
            record = data.get("record") if str(event.payload.get("type", "")).startswith("response.") else data
            external_id = record.get("external_id") if isinstance(record, dict) else None
            partition = _record_partition(external_id, set(partitions.get_partition_keys()))
            request = convert(event)
            if partition is None or request is None:
                return None  # not a record of this component's partitions
            return request.with_replaced_attrs(partition_key=partition)

        return to_request

    def _selected(self, upstream: dg.AssetKey) -> dg.AssetsDefinition:
        """The asset ``<name>_selected``: the rows of ``upstream`` matching ``where``."""
        query, name = str(self.where), self.name
        if not query.strip():
            raise self._refuse("where", "is empty; give a pandas query, e.g. where: sentiment_confidence < 0.6")

        @dg.asset(name=f"{name}_selected", key_prefix=self.key_prefix, ins={"rows": dg.AssetIn(key=upstream)},
                  partitions_def=self.partitions, group_name=self.group_name, kinds={"pandas"},
                  description=f"The rows of {upstream.to_user_string()} where {query}: those sent for review.")
        def selected(context: dg.AssetExecutionContext, rows: pd.DataFrame) -> pd.DataFrame:
            try:
                frame = rows.query(query).reset_index(drop=True)
            except Exception as err:  # pandas: an unknown column, a syntax error, a type mismatch
                raise InvalidInput(f"component {name!r}: where {query!r} cannot filter the rows of "
                                   f"{upstream.to_user_string()} (columns {list(rows.columns)}): {err}",
                                   field="where") from None
            context.add_output_metadata({"dagster/row_count": len(frame), "rows_in": len(rows),
                                         "where": query})
            return frame

        return selected

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        kwargs = self._template_kwargs()
        upstream, extra = rows_upstream(self.rows, name=self.name, folder=context.path,
                                        partitions_def=self.partitions, group_name=self.group_name,
                                        key_prefix=self.key_prefix)
        if self.where is not None:
            selected = self._selected(upstream)
            upstream, extra = selected.key, [*extra, selected]
        common: dict[str, Any] = dict(
            name=self.name, upstream=upstream, dataset_name=self.dataset_name, workspace=self.workspace,
            create_workspace=self.create_workspace, allow_empty=self.allow_empty, partitions_def=self.partitions,
            resource_key=self.resource_key, key_prefix=self.key_prefix, group_name=self.group_name,
            description=self.description, pool=self.pool,
        )
        try:
            if self.template == "text_generation":
                dataset = build_text_generation_dataset_asset(guidelines=self.guidelines, **kwargs, **common)
            elif self.template == "preference":
                dataset = build_preference_dataset_asset(guidelines=self.guidelines, **kwargs, **common)
            else:
                dataset = build_argilla_dataset_asset(**kwargs, **common)
        except InvalidInput as err:
            raise self._refuse(err.field or self.template, str(err)) from None
        assets = [*extra, dataset]
        checks, sensors = [], []
        annotations = None
        if self.annotations is not None:
            annotations_name = self.annotations.name or f"{self.name}_annotations"
            annotations = build_argilla_annotations_asset(
                name=annotations_name, dataset_name=self.dataset_name, workspace=self.workspace,
                dataset_asset=dataset, submitted_only=self.annotations.submitted_only,
                resource_key=self.resource_key, key_prefix=self.key_prefix, group_name=self.group_name,
                description=self.annotations.description, pool=self.annotations.pool,
            )
            assets.append(annotations)
            check = self.annotations.check
            if check is not None:
                checks.append(build_argilla_annotations_check(
                    annotations, min_completed_fraction=check.min_completed_fraction,
                    min_agreement=check.min_agreement, blocking=check.blocking,
                    name=check.name,
                ))
            if self.progress_sensor is not None:
                progress = self.progress_sensor
                try:
                    sensors.append(build_argilla_progress_sensor(
                        name=progress.name or f"{self.name}_progress", dataset_name=self.dataset_name,
                        threshold=progress.threshold, workspace=self.workspace, target=annotations,
                        max_attempts=progress.max_attempts, max_records_per_tick=progress.max_records_per_tick,
                        resource_key=self.resource_key, minimum_interval_seconds=progress.minimum_interval_seconds,
                        default_status=progress.status,
                    ))
                except ValueError as err:
                    raise self._refuse("progress_sensor", str(err)) from None
            if self.webhook_sensor is not None:
                hooks = self.webhook_sensor
                inbox = Path(hooks.inbox_path)
                sensors.append(build_argilla_webhook_sensor(
                    name=hooks.name or f"{self.name}_webhooks",
                    inbox_path=str(inbox if inbox.is_absolute() else Path(context.path) / inbox),
                    events=hooks.events, target=annotations, source=hooks.source,
                    event_to_run_request=self._webhook_requests(annotations),
                    max_events_per_tick=hooks.max_events_per_tick,
                    minimum_interval_seconds=hooks.minimum_interval_seconds, default_status=hooks.status,
                ))
        else:
            for option in ("progress_sensor", "webhook_sensor"):
                if getattr(self, option) is not None:
                    raise self._refuse(option, "the sensor materializes the annotations asset; keep annotations set")
        jobs, schedules = [], []
        if self.schedule is not None:
            # Human review is a hand-off: the schedule sends the rows, the sensors collect the reviews.
            scheduled = [a for a in assets if a is not annotations]
            job, schedule = build_schedule(self.schedule, component_name=self.name, assets=scheduled,
                                           partitions_def=self.partitions)
            jobs.append(job)
            schedules.append(schedule)
        return dg.Definitions(assets=assets, asset_checks=checks, sensors=sensors, jobs=jobs, schedules=schedules,
                              resources={self.resource_key: self.resource})
