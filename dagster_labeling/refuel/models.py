"""Typed views of Refuel's objects. Unknown keys are kept (``extra="allow"``) so nothing the API adds is lost."""

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class FieldType(str, enum.Enum):
    """Output field types of a task (the last three are enrichments, sent as ``transforms``)."""

    classification = "classification"
    multilabel_classification = "multilabel_classification"
    attribute_extraction = "attribute_extraction"
    answer_extraction = "answer_extraction"
    document_extraction = "document_extraction"
    webpage_transform = "webpage_transform"
    webpage_scrape = "webpage_scrape"
    web_search = "web_search"


ENRICHMENT_TYPES = frozenset({"webpage_transform", "webpage_scrape", "web_search"})
CLASSIFICATION_TYPES = frozenset({"classification", "multilabel_classification"})


class TaskField(_Model):
    """One output field of a task, as the seed documents it."""

    name: str
    type: FieldType
    input_columns: list[str] = Field(default_factory=list)
    guidelines: str = ""
    labels: list[str] | None = None
    ground_truth_column: str | None = None
    fallback_value: str | None = None


class Project(_Model):
    id: str
    project_name: str | None = None
    description: str | None = None
    created_at: str | None = None


class Dataset(_Model):
    """A dataset; ``columns`` come from its schema, ``ingest_status`` is ``processing``/``success``/``failed``."""

    id: str
    name: str | None = None
    ingest_status: str | None = None
    created_at: str | None = None
    source: str | None = None
    columns: list[str] = Field(default_factory=list)

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> "Dataset":
        schema = raw.get("schema") or raw.get("dataset_schema") or {}
        props = schema.get("properties", schema) if isinstance(schema, dict) else {}
        ordered = sorted(props.items(), key=lambda kv: (kv[1] or {}).get("order", 0) if isinstance(kv[1], dict)
                         else 0)
        return cls.model_validate({**{k: v for k, v in raw.items() if k not in ("items",)},
                                   "name": raw.get("name") or raw.get("dataset_name"),
                                   "columns": [k for k, _ in ordered if k != "$schema"]})


class Subtask(_Model):
    id: str
    name: str
    type: str | None = None
    labels: list[str] | None = None
    input_columns: list[str] | None = None


class Task(_Model):
    id: str
    task_name: str | None = None
    dataset_id: str | None = None
    project_id: str | None = None
    status: str | None = None
    subtasks: list[Subtask] = Field(default_factory=list)

    def subtask(self, name: str) -> Subtask | None:
        return next((s for s in self.subtasks if s.name == name), None)


class TaskRun(_Model):
    """A task run's status with its metrics flattened (``num_labeled``, ``num_remaining``, times)."""

    id: str | None = None
    task_id: str | None = None
    dataset_id: str | None = None
    status: str | None = None
    num_labeled: int | None = None
    num_remaining: int | None = None
    time_elapsed_seconds: float | None = None
    time_remaining_seconds: float | None = None
    metrics: list[dict[str, Any]] = Field(default_factory=list)


class Application(_Model):
    """A deployed task or an imported catalog app (then ``catalog_id`` is set and ``task_id`` is None)."""

    id: str
    name: str | None = None
    status: str | None = None
    task_id: str | None = None
    catalog_id: str | None = None
    input_columns: list[str] | None = None
    subtasks: list[Subtask] = Field(default_factory=list)


class CatalogApp(_Model):
    """A ready-made application in Refuel's catalog (``GET /app_catalog``), for ``import_app``."""

    id: str
    app_name: str | None = None
    description: str | None = None


class WebhookEventResult(_Model):
    """The answer to ``POST /webhook/events``, which is not enveloped: ``{status, error}``."""

    status: int | None = None
    error: str | None = None


class FieldOutput(_Model):
    label: Any = None
    confidence: float | None = None
    raw_confidence: float | None = None
    explanation: str | None = None

    @field_validator("label", mode="before")
    @classmethod
    def _unwrap(cls, v: Any) -> Any:
        return v


class LabelOutput(_Model):
    """One labeled input: ``refuel_uuid`` and, per field, label/confidence/explanation; ``usage`` with telemetry."""

    refuel_uuid: str | None = None
    refuel_api_timestamp: str | None = None
    refuel_fields: dict[str, FieldOutput] = Field(default_factory=dict)
    usage: dict[str, Any] | None = None
    uri: str | None = None

    @field_validator("refuel_fields", mode="before")
    @classmethod
    def _fields(cls, v: Any) -> Any:
        return v if isinstance(v, dict) else {}


class FinetunedModel(_Model):
    id: str
    name: str | None = None
    base_model: str | None = None
    task_id: str | None = None
    availability_status: str | None = None
    finetuning_run_status: str | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    training_stats: dict[str, Any] | None = None
    evaluation_stats: dict[str, Any] | None = None
