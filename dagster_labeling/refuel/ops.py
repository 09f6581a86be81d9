"""Ops for job-style use: upload a DataFrame as a dataset, run a labeling task on it, fetch the labels, export.

Each op uses the ``refuel`` resource (:class:`RefuelResource`)::

    @dg.job(resource_defs={"refuel": RefuelResource(api_key=dg.EnvVar("REFUEL_API_KEY"), project="reviews")})
    def label_with_refuel():
        run = refuel_run_task_op(refuel_upload_dataset_op(load_rows()))
        refuel_fetch_labels_op(run)

Re-runs create nothing twice: the dataset and the task are found by name (one per name, however many runs
start together: :func:`~dagster_labeling.refuel.containers.ensure_dataset`), rows already in the dataset are not
sent again, and starting a task run while one is active follows it (Refuel labels only items not labeled yet).
"""

from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from dagster_labeling._core import InvalidInput, WaitOptions
from dagster_labeling._dagster.config import WaitConfig, resolve_wait
from dagster_labeling.refuel.assets import _label_metadata
from dagster_labeling.refuel.containers import ensure_task
from dagster_labeling.refuel.pipeline import upload_or_append
from dagster_labeling.refuel.resource import RefuelResource

#: Defaults of the task-run op's wait, used for the ``WaitConfig`` fields left unset (as the labels asset's).
RUN_WAIT_DEFAULTS: dict[str, Any] = dict(wait_for_completion=True, wait_timeout_seconds=6 * 3600,
                                         poll_interval_seconds=5.0, cancel_on_termination=True,
                                         cancel_on_timeout=False)


class UploadDatasetConfig(dg.Config):
    dataset_name: str = Field(description="Refuel dataset; created on the first run, found by name afterwards.")
    append_key: str | None = Field(
        default=None, description="Append the rows as one batch: each gets append_column = append_key, and they "
        "are sent only if the dataset holds no row of that key yet (a re-run sends nothing). Unset: the rows are "
        "uploaded only when the dataset is new or empty.")
    append_column: str = Field(default="dagster_partition", description="Column that receives append_key; it must "
                               "not be a column of the DataFrame.")
    replace_existing: bool = Field(default=False, description="Without append_key: delete every dataset of this "
                                   "name first and upload the rows anew.")


class RunTaskConfig(WaitConfig):
    task: str = Field(description="The Refuel task to run (its name).")
    task_context: str | None = Field(default=None, description="The task's instructions, e.g. 'You label product "
                                     "reviews.'; needed with task_fields.")
    task_fields: list[dict[str, Any]] | None = Field(
        default=None, description="The task's fields (see RefuelClient.create_task): the task is defined with them "
        "when it does not exist yet (once, however many runs start together). Unset: the task must exist.")
    task_model: str | None = Field(default=None, description="LLM of a task defined here (default: Refuel's).")
    num_items: int | None = Field(default=None, ge=1, description="Label at most this many items (default: every "
                                  "item not labeled yet).")


class FetchLabelsConfig(dg.Config):
    fields: list[str] = Field(default_factory=list, description="Task fields whose label distribution and mean "
                              "confidence go into the output metadata.")
    append_key: str | None = Field(default=None, description="Only the rows uploaded with this append_key "
                                   "(default: every row of the dataset).")
    append_column: str = Field(default="dagster_partition", description="The column holding append_key.")


class ExportConfig(dg.Config):
    email_address: str = Field(description="A member of the Refuel team; Refuel also emails the link there.")
    include_labels: bool = Field(default=True, description="Export the task's labels with the rows.")
    wait_for_url: bool = Field(default=True, description="Wait until the signed download URL is ready (else "
                               "return the export id at once).")
    timeout_seconds: float = Field(default=3600.0, gt=0, description="Give up waiting for the URL after this long.")
    poll_interval_seconds: float = Field(default=5.0, gt=0, description="First poll interval; it grows to 60 s.")


@dg.op(out=dg.Out(str, description="The dataset name."), tags={"kind": "refuel"})
def refuel_upload_dataset_op(context: dg.OpExecutionContext, config: UploadDatasetConfig, refuel: RefuelResource,
                             rows: pd.DataFrame) -> str:
    """Put the rows in the dataset exactly once (see
    :func:`~dagster_labeling.refuel.pipeline.upload_or_append`); the whole frame is checked before any request."""
    with refuel.get_client() as client:
        outcome = upload_or_append(
            client, config.dataset_name, rows, partition_column=config.append_column if config.append_key else None,
            partition_key=config.append_key, replace=config.replace_existing)
        url = client.dataset_url(outcome.dataset_id)
    context.log.info(f"Refuel dataset {config.dataset_name}: {outcome.action}, {outcome.rows_sent} row(s) sent. {url}")
    if outcome.duplicates:
        context.log.warning(f"Other Refuel datasets are also called {config.dataset_name!r} and hold rows: "
                            f"{outcome.duplicates}. The oldest ({outcome.dataset_id}) is used.")
    context.add_output_metadata({
        "dagster/row_count": len(rows), "refuel/dataset_id": outcome.dataset_id, "refuel/action": outcome.action,
        "refuel/rows_sent": outcome.rows_sent, "refuel/dataset_url": dg.MetadataValue.url(url)})
    return config.dataset_name


@dg.op(out=dg.Out(dict, description="{'task', 'dataset', 'state', 'run_url'}: the run, for the labels and export "
                                    "ops."), tags={"kind": "refuel"})
def refuel_run_task_op(context: dg.OpExecutionContext, config: RunTaskConfig, refuel: RefuelResource,
                       dataset_name: str) -> dict:
    """Start the task's run on the dataset (defining the task first if ``task_fields`` are given) and wait for it
    with progress logs, or hand it off (``wait_for_completion: false``). A run terminated while waiting cancels
    the task run (``cancel_on_termination``). Defaults: wait, 6 h timeout, 5 s first poll, cancel on termination."""
    if config.task_fields is not None and not config.task_context:
        raise InvalidInput("task_fields needs task_context: the task's instructions, e.g. 'You label reviews.'.",
                           field="task_context")
    waits, options = resolve_wait(config, **RUN_WAIT_DEFAULTS)
    with refuel.get_client() as client:
        if config.task_fields is not None:
            defined = ensure_task(client, config.task, dataset_name, str(config.task_context), config.task_fields,
                                  model=config.task_model)
            context.log.info(f"Refuel task {config.task}: {'defined' if defined.created else 'found'} ({defined.id})")
        run = client.start_task_run(config.task, dataset_name, num_items=config.num_items)
        context.log.info(f"Started Refuel task run {run.id}: {run.url}")
        status = run.wait(options, log=context.log) if waits else run.refresh()
    context.add_output_metadata({"refuel/run_state": status.state.value, "refuel/task_run": run.id,
                                 "refuel/run_url": dg.MetadataValue.url(run.url or ""),
                                 "refuel/num_labeled": status.done if status.done is not None else 0})
    return {"task": config.task, "dataset": dataset_name, "state": status.state.value, "run_url": run.url or ""}


@dg.op(out=dg.Out(pd.DataFrame, description="The items with <field>_llm_label, <field>_confidence and "
                                            "<field>_confirmed_label per task field."), tags={"kind": "refuel"})
def refuel_fetch_labels_op(context: dg.OpExecutionContext, config: FetchLabelsConfig, refuel: RefuelResource,
                           task_run: dict) -> pd.DataFrame:
    """The dataset's items with the task's labels (those labeled so far, if the run was handed off)."""
    filters = [{"field": config.append_column, "operator": "=", "value": config.append_key}] if config.append_key \
        else []
    with refuel.get_client() as client:
        frame = client.get_items(task_run["dataset"], task=task_run["task"], max_items=None, filters=filters)
    context.add_output_metadata(_label_metadata(frame, config.fields))
    return frame


@dg.op(out=dg.Out(str, description="The signed download URL (the export id if wait_for_url is off)."),
       tags={"kind": "refuel"})
def refuel_export_op(context: dg.OpExecutionContext, config: ExportConfig, refuel: RefuelResource,
                     task_run: dict) -> str:
    """Export the dataset (with the task's labels) and wait for its signed URL. An export is a download link, not
    a stored object: a re-run makes a new link."""
    with refuel.get_client() as client:
        export = client.start_export(task_run["dataset"], config.email_address,
                                     task=task_run["task"] if config.include_labels else None)
        context.log.info(f"Started Refuel export {export.id} of {task_run['dataset']}")
        if not config.wait_for_url:
            return export.id
        export.wait(WaitOptions(timeout_seconds=config.timeout_seconds,
                                poll_interval_seconds=config.poll_interval_seconds, cancel_on_interrupt=False,
                                timeout_name="timeout_seconds"), log=context.log)
    context.add_output_metadata({"refuel/export_id": export.id})
    return str(export.download_url)


__all__ = ["refuel_export_op", "refuel_fetch_labels_op", "refuel_run_task_op", "refuel_upload_dataset_op"]
