"""Refuel Cloud: datasets, labeling tasks and runs, exports, applications and fine-tuning, for Dagster."""

from dagster_labeling.refuel.client import (
    BASE_MODELS,
    DEFAULT_BASE_URL,
    FILTER_OPERATORS,
    LabelingResult,
    RefuelClient,
    RefuelExport,
    RefuelFinetune,
    RefuelTaskRun,
)
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
from dagster_labeling.refuel.models import (
    Application,
    Dataset,
    FieldType,
    FinetunedModel,
    LabelOutput,
    Project,
    Task,
    TaskField,
    TaskRun,
)

__all__ = [
    "BASE_MODELS", "DEFAULT_BASE_URL", "FILTER_OPERATORS", "Application", "Dataset", "FieldType", "FinetunedModel",
    "LabelOutput", "LabelingResult", "Project", "RefuelBadRequest", "RefuelClient", "RefuelConflict",
    "RefuelException", "RefuelExport", "RefuelFinetune", "RefuelNotFound", "RefuelRateLimited",
    "RefuelServerError", "RefuelSoftError", "RefuelTaskRun", "RefuelUnauthorized", "Task", "TaskField", "TaskRun",
]
