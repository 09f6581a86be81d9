"""Ops for job-style use: push a DataFrame to an existing dataset, wait for the reviews, fetch them.

Each op uses the ``argilla`` resource (:class:`ArgillaResource`); the dataset is created by the asset
factories or :meth:`ArgillaClient.create_dataset`::

    @dg.job(resource_defs={"argilla": ArgillaResource(api_key=dg.EnvVar("ARGILLA_API_KEY"))})
    def review_with_argilla():
        dataset_id = argilla_push_records_op(load_rows())
        argilla_fetch_annotations_op(argilla_wait_for_reviews_op(dataset_id))
"""

import dagster as dg
import pandas as pd
from pydantic import Field

from dagster_labeling._core import InvalidInput, WaitOptions
from dagster_labeling.argilla.assets import fetch_annotations
from dagster_labeling.argilla.pipeline import RecordMapping
from dagster_labeling.argilla.resource import ArgillaResource


class PushRecordsConfig(dg.Config):
    dataset_name: str = Field(description="An existing (published) Argilla dataset.")
    workspace: str | None = Field(default=None, description="Its workspace (default: the resource's).")
    fields: dict[str, str] = Field(description="Field name -> DataFrame column.")
    suggestions: dict[str, str] = Field(default_factory=dict, description="Question name -> column of suggestions.")
    suggestion_scores: dict[str, str] = Field(default_factory=dict, description="Question name -> score column.")
    metadata: dict[str, str] = Field(default_factory=dict, description="Metadata property -> column.")
    key_column: str | None = Field(default=None, description="Column giving each record's external_id.")


class WaitForReviewsConfig(dg.Config):
    target_fraction: float = Field(default=1.0, gt=0, le=1, description="Share of records completed to wait for.")
    timeout_seconds: float = Field(default=24 * 3600, description="Give up waiting after this long.")
    poll_interval_seconds: float = Field(default=30.0, description="First poll interval; it grows to 60 s.")


@dg.op(required_resource_keys={"argilla"}, tags={"kind": "argilla"})
def argilla_push_records_op(context: dg.OpExecutionContext, config: PushRecordsConfig, rows: pd.DataFrame) -> str:
    """Upsert the rows as records (idempotent by ``external_id``); returns the dataset id."""
    resource: ArgillaResource = context.resources.argilla
    mapping = RecordMapping(fields=config.fields, suggestions=config.suggestions,
                            suggestion_scores=config.suggestion_scores, metadata=config.metadata,
                            key_column=config.key_column)
    records = mapping.records(rows, where=f"op {context.op.name}")  # every row checked before any request
    with resource.get_client() as client:
        dataset = client.get_dataset(config.dataset_name, config.workspace or resource.workspace)
        if dataset is None:
            raise InvalidInput(f"Argilla dataset {config.dataset_name!r} does not exist; create it first.",
                               field="dataset_name")
        result = client.upsert_records(dataset, records)
        if result.failures:
            raise dg.Failure(f"{len(result.failures)} of {result.requests} upsert requests failed; re-run the op "
                             "(records are keyed by external_id).")
        context.log.info(f"{result.count} records upserted to {client.dataset_url(dataset)}")
        return dataset.id


@dg.op(required_resource_keys={"argilla"}, tags={"kind": "argilla"})
def argilla_wait_for_reviews_op(context: dg.OpExecutionContext, config: WaitForReviewsConfig, dataset_id: str) -> str:
    """Wait until ``target_fraction`` of the dataset's records are completed; returns the dataset id."""
    resource: ArgillaResource = context.resources.argilla
    with resource.get_client() as client:
        job = client.progress_job(dataset_id, target_fraction=config.target_fraction)
        job.wait(WaitOptions(timeout_seconds=config.timeout_seconds,
                             poll_interval_seconds=config.poll_interval_seconds, cancel_on_interrupt=False,
                             timeout_name="timeout_seconds"), log=context.log)
    return dataset_id


@dg.op(required_resource_keys={"argilla"}, tags={"kind": "argilla"})
def argilla_fetch_annotations_op(context: dg.OpExecutionContext, dataset_id: str) -> pd.DataFrame:
    """The reviews as a DataFrame (see :func:`~dagster_labeling.argilla.pipeline.annotations_frame`)."""
    resource: ArgillaResource = context.resources.argilla
    with resource.get_client() as client:
        frame = fetch_annotations(client, dataset_id)
    context.add_output_metadata({"dagster/row_count": len(frame)})
    return frame
