"""Ops for job-style use: create a batch, create its tasks, finalize, wait, collect responses.

Each op uses the ``scale`` resource (:class:`ScaleResource`)::

    @dg.job(resource_defs={"scale": ScaleResource(api_key=dg.EnvVar("SCALE_API_KEY"))})
    def label_with_scale():
        submitted = scale_create_tasks_op(scale_create_batch_op(), load_rows())
        done = scale_wait_for_batch_op(scale_finalize_batch_op(submitted))
        scale_collect_responses_op(done)
"""

from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from dagster_labeling._core import WaitOptions
from dagster_labeling._dagster.assets import bulk_progress_logger
from dagster_labeling.scale.client import task_type_value
from dagster_labeling.scale.pipeline import TaskMapping, responses_frame, row_key_of, submit_rows_to_batch
from dagster_labeling.scale.resource import ScaleResource


class CreateBatchConfig(dg.Config):
    project: str = Field(description="Scale project the batch belongs to.")
    batch_name: str = Field(description="Batch name; an existing batch of that name in the project is reused.")
    callback: str = Field(default="", description="URL or e-mail Scale notifies when the batch completes.")


class CreateTasksConfig(dg.Config):
    task_type: str = Field(description="Scale task type, e.g. 'categorization'.")
    row_key_column: str = Field(description="Column with a stable, unique key per row (becomes the unique_id).")
    payload_columns: dict[str, str] = Field(default_factory=dict, description="Task payload field -> column; "
                                            "every row needs a value unless the field is optional.")
    optional_payload_fields: list[str] = Field(
        default_factory=list, description="Payload fields whose column may have missing cells (left out of that "
        "task); metadata, tags, priority and callback_url always may.")
    static_payload: dict[str, Any] = Field(default_factory=dict, description="Constant payload fields.")
    callback_url: str | None = Field(default=None, description="Per-task callback URL (the callbacks receiver).")
    allow_partial: bool = Field(default=False, description="Succeed even if some rows could not be created.")


class WaitForBatchConfig(dg.Config):
    timeout_seconds: float = Field(default=6 * 3600, description="Give up waiting after this long.")
    poll_interval_seconds: float = Field(default=10.0, description="First poll interval; it grows to 60 s.")
    cancel_on_termination: bool = Field(default=True, description="Cancel pending tasks if the run is terminated.")
    cancel_on_timeout: bool = Field(default=False, description="Cancel pending tasks when the wait times out.")


@dg.op(out=dg.Out(str, description="The batch name."))
def scale_create_batch_op(context: dg.OpExecutionContext, config: CreateBatchConfig, scale: ScaleResource) -> str:
    """Create the batch, or reuse the existing one of that name."""
    with scale.get_client() as client:
        batch, created = client.get_or_create_batch(config.project, config.batch_name, callback=config.callback)
        context.log.info(f"Scale batch {batch.name} {'created' if created else 'reused'}: "
                         f"{client.batch_url(batch.name)}")
    return batch.name


@dg.op(out=dg.Out(pd.DataFrame, description="row_key, task_id, unique_id, batch_name, status, error."))
def scale_create_tasks_op(
    context: dg.OpExecutionContext, config: CreateTasksConfig, scale: ScaleResource, batch_name: str,
    rows: pd.DataFrame,
) -> pd.DataFrame:
    """Create one task per row in the batch, keyed by row; re-runs create only what is missing. Every row is
    validated before the first task is sent (see :func:`build_scale_batch_asset`)."""
    mapping = TaskMapping(config.row_key_column, config.payload_columns, config.static_payload,
                          optional_fields=tuple(config.optional_payload_fields))
    payloads = mapping.payloads(rows, where="scale_create_tasks_op")
    with scale.get_client() as client:
        project = client.get_batch(batch_name).project
        submission = submit_rows_to_batch(
            client, project=project, batch_name=batch_name, task_type=task_type_value(config.task_type),
            payloads=payloads, callback_url=config.callback_url,
            on_progress=bulk_progress_logger(context, f"Scale batch {batch_name}"),
        )
    frame = submission.frame()
    failures = submission.result.failures
    if failures and not config.allow_partial:
        raise dg.Failure(
            description=f"{len(failures)} of {len(payloads)} rows could not be created in batch {batch_name}; "
            "re-run to create only the missing ones.",
            metadata={"failed_unique_ids": dg.MetadataValue.json(sorted(failures)[:200])},
        )
    return frame


@dg.op(out=dg.Out(str, description="The batch name."))
def scale_finalize_batch_op(scale: ScaleResource, submissions: pd.DataFrame) -> str:
    """Finalize the batch of a task-creation output (Rapid/Studio start work on finalized batches)."""
    batch_name = str(submissions["batch_name"].iloc[0])
    with scale.get_client() as client:
        client.finalize_batch(batch_name)
    return batch_name


@dg.op(out=dg.Out(str, description="The batch name, once completed."))
def scale_wait_for_batch_op(
    context: dg.OpExecutionContext, config: WaitForBatchConfig, scale: ScaleResource, batch_name: str
) -> str:
    """Block until the batch completes, logging progress; cancels pending tasks if the run is terminated."""
    options = WaitOptions(
        timeout_seconds=config.timeout_seconds, poll_interval_seconds=config.poll_interval_seconds,
        cancel_on_interrupt=config.cancel_on_termination, cancel_on_timeout=config.cancel_on_timeout,
    )
    with scale.get_client() as client:
        client.batch_job(batch_name).wait(options, log=context.log)
    return batch_name


@dg.op(out=dg.Out(pd.DataFrame, description="One row per task with the response flattened."))
def scale_collect_responses_op(scale: ScaleResource, batch_name: str) -> pd.DataFrame:
    """The batch's tasks as a DataFrame: task id, status, review, and ``response.*`` columns."""
    with scale.get_client() as client:
        tasks = list(client.get_tasks(batch=batch_name))
    # The row key is read back from the unique_id; a task not created from a row keeps its unique_id or task id.
    return responses_frame({row_key_of(batch_name, t.unique_id or "") or t.unique_id or t.task_id: t for t in tasks})
