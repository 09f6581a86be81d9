"""Typed results of the Scale AI v1 API.

Every model keeps fields it does not know (``extra="allow"``): Scale adds keys over time, and a task's
type-specific parameters and responses are passed through untouched.
"""

import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TaskType(str, enum.Enum):
    """Scale task types (the ``{task_type}`` of ``POST /v1/task/{task_type}``)."""

    Annotation = "annotation"
    Categorization = "categorization"
    Comparison = "comparison"
    CuboidAnnotation = "cuboidannotation"
    DataCollection = "datacollection"
    DocumentModel = "documentmodel"
    DocumentTranscription = "documenttranscription"
    ImageAnnotation = "imageannotation"
    LaneAnnotation = "laneannotation"
    LidarAnnotation = "lidarannotation"
    LidarLinking = "lidarlinking"
    LidarSegmentation = "lidarsegmentation"
    LidarTopdown = "lidartopdown"
    LineAnnotation = "lineannotation"
    NamedEntityRecognition = "namedentityrecognition"
    PointAnnotation = "pointannotation"
    PolygonAnnotation = "polygonannotation"
    SegmentAnnotation = "segmentannotation"
    Transcription = "transcription"
    TextCollection = "textcollection"
    VideoAnnotation = "videoannotation"
    VideoBoxAnnotation = "videoboxannotation"
    VideoPlaybackAnnotation = "videoplaybackannotation"
    VideoCuboidAnnotation = "videocuboidannotation"
    SensorFusion = "sensorfusion"
    Chat = "chat"
    ChatExperimental = "chatexperimental"
    ChatLite = "chatlite"
    MultiChat = "multichat"
    MultiStage = "multistage"
    Federal2dVideoAnnotation = "federal2dvideoannotation"


class TaskStatus(str, enum.Enum):
    Pending = "pending"
    Completed = "completed"
    Canceled = "canceled"
    Error = "error"


class TaskReviewStatus(str, enum.Enum):
    Accepted = "accepted"
    Fixed = "fixed"
    Commented = "commented"
    Rejected = "rejected"
    Pending = "pending"


class BatchStatus(str, enum.Enum):
    Staging = "staging"
    InProgress = "in_progress"
    Completed = "completed"


class TeammateRole(str, enum.Enum):
    Labeler = "labeler"
    Member = "member"
    Manager = "manager"
    Admin = "admin"


class _ScaleModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Task(_ScaleModel):
    """A Scale task (``GET /v1/task/{id}``). Type parameters are under ``params``."""

    task_id: str
    type: str | None = None
    status: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    completed_at: str | None = None
    project: str | None = None
    batch: str | None = None
    unique_id: str | None = None
    instruction: str | None = None
    callback_url: str | None = None
    callback_succeeded: bool | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    response: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    customer_review_status: str | None = None
    audits: list[Any] = Field(default_factory=list)


class TaskPage(_ScaleModel):
    docs: list[Task]
    total: int
    limit: int
    offset: int = 0
    has_more: bool
    next_token: str | None = None


class Batch(_ScaleModel):
    """A Scale batch (``GET /v1/batches/{name}``)."""

    name: str
    status: str
    project: str
    created_at: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    callback: str | None = None
    calibration_batch: bool | None = None
    self_label_batch: bool | None = None


class BatchStatusCounts(_ScaleModel):
    """``GET /v1/batches/{name}/status``: the batch status and task counts (missing counts mean 0)."""

    status: str
    pending: int = 0
    completed: int = 0
    error: int = 0
    canceled: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.completed + self.error + self.canceled


class BatchPage(_ScaleModel):
    docs: list[Batch]
    total_docs: int = Field(alias="totalDocs")
    limit: int
    offset: int
    has_more: bool


class Project(_ScaleModel):
    name: str
    type: str
    param_history: list[dict[str, Any]] = Field(default_factory=list)
    created_at: str | None = None


class TaskTemplate(_ScaleModel):
    id: str
    version: int | str
    created_at: str | None = None
    updated_at: str | None = None
    template_variables: dict[str, Any] | list[Any] = Field(default_factory=dict)  # the SDK passes it through as is


class File(_ScaleModel):
    id: str
    attachment_url: str
    created_at: str | None = None
    updated_at: str | None = None
    mime_type: str | None = None
    project_names: list[str] = Field(default_factory=list)
    size: int | None = None


class QualityTask(_ScaleModel):
    """An evaluation or training task."""

    id: str
    expected_response: Any
    initial_response: Any = None


class Teammate(_ScaleModel):
    email: str
    role: str
    company: str | None = None
    first_name: str | None = Field(None, alias="firstName")
    last_name: str | None = Field(None, alias="lastName")
    is_studio_labeler: bool | None = Field(None, alias="isStudioLabeler")
    expiry: Any = None


class StudioWorker(_ScaleModel):
    id: str
    email: str


class StudioProjectGroup(_ScaleModel):
    id: str
    name: str
    num_workers: int = Field(alias="numWorkers")
    is_singleton: bool = Field(alias="isSingleton")
    workers: list[StudioWorker] = Field(default_factory=list)


class StudioBatch(_ScaleModel):
    id: str
    name: str
    project_id: str = Field(alias="projectId")
    project_name: str = Field(alias="projectName")
    batch_type: str = Field(alias="batchType")
    studio_priority: int | None = Field(None, alias="studioPriority")
    total: int
    completed: int
    groups: list[Any] = Field(default_factory=list)
