"""Scale AI: typed client, ``ScaleResource``, asset factories, ops and sensors.

>>> import dagster as dg
>>> from dagster_labeling.scale import ScaleResource
>>> resources = {"scale": ScaleResource(api_key=dg.EnvVar("SCALE_API_KEY"))}
"""

from dagster_labeling.scale.assets import build_scale_batch_asset, build_scale_responses_asset
from dagster_labeling.scale.client import ScaleClient
from dagster_labeling.scale.components import ScaleBatchComponent
from dagster_labeling.scale.errors import (
    ScaleDuplicateResource,
    ScaleException,
    ScaleForbidden,
    ScaleInternalError,
    ScaleInvalidRequest,
    ScaleNotEnabled,
    ScaleResourceNotFound,
    ScaleServiceUnavailable,
    ScaleTimeoutError,
    ScaleTooManyRequests,
    ScaleUnauthorized,
)
from dagster_labeling.scale.jobs import ScaleBatchJob
from dagster_labeling.scale.models import (
    Batch,
    BatchStatus,
    BatchStatusCounts,
    File,
    Project,
    QualityTask,
    StudioBatch,
    StudioProjectGroup,
    Task,
    TaskReviewStatus,
    TaskStatus,
    TaskType,
    Teammate,
    TeammateRole,
)
from dagster_labeling.scale.ops import (
    scale_collect_responses_op,
    scale_create_batch_op,
    scale_create_tasks_op,
    scale_finalize_batch_op,
    scale_wait_for_batch_op,
)
from dagster_labeling.scale.resource import ScaleResource
from dagster_labeling.scale.sensors import build_scale_batch_completion_sensor, build_scale_task_callback_sensor

__all__ = [
    "Batch", "BatchStatus", "BatchStatusCounts", "File", "Project", "QualityTask", "ScaleBatchComponent",
    "ScaleBatchJob", "ScaleClient",
    "ScaleDuplicateResource", "ScaleException", "ScaleForbidden", "ScaleInternalError", "ScaleInvalidRequest",
    "ScaleNotEnabled", "ScaleResource", "ScaleResourceNotFound", "ScaleServiceUnavailable", "ScaleTimeoutError",
    "ScaleTooManyRequests", "ScaleUnauthorized", "StudioBatch", "StudioProjectGroup", "Task", "TaskReviewStatus",
    "TaskStatus", "TaskType", "Teammate", "TeammateRole", "build_scale_batch_asset",
    "build_scale_batch_completion_sensor", "build_scale_responses_asset", "build_scale_task_callback_sensor",
    "scale_collect_responses_op", "scale_create_batch_op", "scale_create_tasks_op", "scale_finalize_batch_op",
    "scale_wait_for_batch_op",
]
