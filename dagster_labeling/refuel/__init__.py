"""Refuel Cloud: datasets, labeling tasks and runs, exports, applications and fine-tuning, for Dagster."""

from dagster_labeling.refuel.assets import (
    build_refuel_agreement_check,
    build_refuel_confidence_check,
    build_refuel_dataset_asset,
    build_refuel_export_asset,
    build_refuel_finetune_asset,
    build_refuel_labels_asset,
    build_refuel_online_labels_asset,
)
from dagster_labeling.refuel.client import DEFAULT_BASE_URL, LabelingResult, RefuelClient
from dagster_labeling.refuel.components import RefuelLabelingComponent
from dagster_labeling.refuel.containers import Ensured, ensure_dataset, ensure_task
from dagster_labeling.refuel.errors import (
    RefuelBadRequest,
    RefuelConflict,
    RefuelException,
    RefuelNotFound,
    RefuelRateLimited,
    RefuelServerError,
    RefuelSoftError,
    RefuelUnauthorized,
)
from dagster_labeling.refuel.handles import RefuelExport, RefuelFinetune, RefuelTaskRun
from dagster_labeling.refuel.models import (
    Application,
    CatalogApp,
    Dataset,
    FieldType,
    FinetunedModel,
    LabelOutput,
    Project,
    Task,
    TaskField,
    TaskRun,
    WebhookEventResult,
)
from dagster_labeling.refuel.ops import (
    refuel_export_op,
    refuel_fetch_labels_op,
    refuel_run_task_op,
    refuel_upload_dataset_op,
)
from dagster_labeling.refuel.resource import RefuelResource
from dagster_labeling.refuel.sensors import (
    build_refuel_export_sensor,
    build_refuel_finetune_sensor,
    build_refuel_task_run_sensor,
)
from dagster_labeling.refuel.validation import BASE_MODELS, FILTER_OPERATORS

__all__ = [
    "BASE_MODELS", "DEFAULT_BASE_URL", "FILTER_OPERATORS", "Application", "CatalogApp", "Dataset", "FieldType",
    "FinetunedModel", "LabelOutput", "LabelingResult", "Project", "RefuelBadRequest", "RefuelClient",
    "RefuelConflict", "RefuelException", "RefuelExport", "RefuelFinetune", "RefuelNotFound", "RefuelRateLimited",
    "RefuelServerError", "RefuelSoftError", "RefuelTaskRun", "RefuelUnauthorized", "Task", "TaskField", "TaskRun",
    "WebhookEventResult", "RefuelResource", "build_refuel_agreement_check", "build_refuel_confidence_check",
    "build_refuel_dataset_asset", "build_refuel_export_asset", "build_refuel_export_sensor",
    "build_refuel_finetune_asset", "build_refuel_finetune_sensor", "build_refuel_labels_asset",
    "build_refuel_online_labels_asset", "build_refuel_task_run_sensor", "Ensured", "ensure_dataset", "ensure_task",
    "refuel_export_op", "refuel_fetch_labels_op", "refuel_run_task_op", "refuel_upload_dataset_op",
    "RefuelLabelingComponent",
]
