"""Argilla 2.x: typed client, ``ArgillaResource``, asset factories (review and preference datasets, annotations),
an asset check and sensors (progress threshold, webhooks).

Names load on first use, so ``dagster_labeling.argilla.client`` (the client alone) imports neither Dagster nor
pandas.

>>> import dagster as dg
>>> from dagster_labeling.argilla import ArgillaResource
>>> resources = {"argilla": ArgillaResource(api_key=dg.EnvVar("ARGILLA_API_KEY"))}
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagster_labeling.argilla.assets import (
        ArgillaDatasetConfig,
        build_argilla_annotations_asset,
        build_argilla_annotations_check,
        build_argilla_dataset_asset,
        build_preference_dataset_asset,
        build_text_generation_dataset_asset,
        fetch_annotations,
    )
    from dagster_labeling.argilla.client import (
        ArgillaClient,
        ArgillaProgressJob,
        UpsertResult,
        range_filter,
        response_status_filter,
        stable_external_id,
        terms_filter,
    )
    from dagster_labeling.argilla.components import ArgillaReviewComponent
    from dagster_labeling.argilla.errors import (
        ArgillaAPIError,
        ArgillaBadRequestError,
        ArgillaConflictError,
        ArgillaCredentialsError,
        ArgillaForbiddenError,
        ArgillaNotFoundError,
        ArgillaRateLimitedError,
        ArgillaServerError,
        ArgillaUnprocessableEntityError,
    )
    from dagster_labeling.argilla.models import (
        WEBHOOK_EVENTS,
        ChatField,
        CustomField,
        Dataset,
        DatasetProgress,
        FloatMetadataProperty,
        ImageField,
        IntegerMetadataProperty,
        LabelQuestion,
        MultiLabelQuestion,
        Question,
        RankingQuestion,
        RatingQuestion,
        Record,
        RecordInput,
        RecordStatus,
        Response,
        ResponseInput,
        ResponseStatus,
        Settings,
        SpanQuestion,
        Suggestion,
        SuggestionInput,
        TermsMetadataProperty,
        TextField,
        TextQuestion,
        User,
        UserProgress,
        VectorField,
        Webhook,
        Workspace,
    )
    from dagster_labeling.argilla.ops import (
        argilla_fetch_annotations_op,
        argilla_push_records_op,
        argilla_wait_for_reviews_op,
    )
    from dagster_labeling.argilla.pipeline import (
        RecordMapping,
        annotations_frame,
        preference_records,
        preference_settings,
        text_generation_records,
        text_generation_settings,
    )
    from dagster_labeling.argilla.resource import ArgillaResource
    from dagster_labeling.argilla.sensors import build_argilla_progress_sensor, build_argilla_webhook_sensor

#: Submodules in dependency order: a name is looked up in the first that defines it, which imports only what
#: that one needs (the client: no Dagster, no pandas).
_SUBMODULES = ("errors", "models", "client", "ids", "pipeline", "resource", "assets", "ops", "sensors",
               "components")


def __getattr__(name: str) -> Any:
    """Import a public name's submodule when the name is first used (PEP 562)."""
    if name in __all__:
        for module in _SUBMODULES:
            value = getattr(importlib.import_module(f"{__name__}.{module}"), name, __getattr__)
            if value is not __getattr__:
                globals()[name] = value
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The loaded names and every public one: ``dir()`` is how Dagster's registry finds the components."""
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "WEBHOOK_EVENTS", "argilla_fetch_annotations_op", "argilla_push_records_op", "argilla_wait_for_reviews_op",
    "ArgillaAPIError", "ArgillaBadRequestError", "ArgillaClient", "ArgillaConflictError",
    "ArgillaCredentialsError", "ArgillaDatasetConfig", "ArgillaForbiddenError", "ArgillaNotFoundError",
    "ArgillaProgressJob", "ArgillaRateLimitedError", "ArgillaResource", "ArgillaReviewComponent", "ArgillaServerError",
    "ArgillaUnprocessableEntityError", "ChatField", "CustomField", "Dataset", "DatasetProgress",
    "FloatMetadataProperty", "ImageField", "IntegerMetadataProperty", "LabelQuestion", "MultiLabelQuestion", "Question",
    "RankingQuestion", "RatingQuestion", "Record", "RecordInput", "RecordMapping", "RecordStatus", "Response",
    "ResponseInput", "ResponseStatus", "Settings", "SpanQuestion", "Suggestion", "SuggestionInput",
    "TermsMetadataProperty", "TextField", "TextQuestion", "UpsertResult", "User", "UserProgress", "VectorField",
    "Webhook", "Workspace", "annotations_frame", "build_argilla_annotations_asset",
    "build_argilla_annotations_check", "build_argilla_dataset_asset", "build_argilla_progress_sensor",
    "build_argilla_webhook_sensor", "build_preference_dataset_asset", "build_text_generation_dataset_asset",
    "fetch_annotations", "preference_records", "preference_settings", "range_filter", "response_status_filter",
    "stable_external_id", "terms_filter", "text_generation_records", "text_generation_settings",
]
