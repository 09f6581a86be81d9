"""Asset factories: a DataFrame becomes a Scale batch; a batch's responses become a DataFrame.

>>> import dagster as dg, pandas as pd
>>> @dg.asset
... def reviews() -> pd.DataFrame:
...     return pd.DataFrame({"id": ["r1"], "text": ["Great phone"]})
>>> reviews_batch = build_scale_batch_asset(
...     name="reviews_batch", upstream=reviews, project="sentiment", task_type="categorization",
...     row_key_column="id", payload_columns={"attachment": "text"},
...     static_payload={"instruction": "Sentiment?", "attachment_type": "text",
...                     "categories": ["positive", "negative"]})
>>> reviews_labels = build_scale_responses_asset(name="reviews_labels", batch_asset=reviews_batch)
>>> sorted(k.to_user_string() for k in reviews_labels.keys)
['reviews_labels']
"""

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import pandas as pd

from dagster_labeling._core import InvalidInput
from dagster_labeling._dagster.assets import AssetRef, asset_key_of, bulk_progress_logger, partition_key_of
from dagster_labeling._dagster.config import WaitConfig, resolve_wait
from dagster_labeling._dagster.naming import remote_name
from dagster_labeling.scale.client import task_type_value
from dagster_labeling.scale.models import TaskType
from dagster_labeling.scale.pipeline import (
    SUBMISSION_COLUMNS,
    RowToPayload,
    TaskMapping,
    collect_responses,
    status_counts,
    submit_rows_to_batch,
)
from dagster_labeling.scale.resource import ScaleResource

BATCH_NAME_META = "scale/batch_name"
BATCH_STATE_META = "scale/batch_state"
BATCH_WAITED_META = "scale/waited"  # the run waited for the batch (so the completion sensor leaves it alone)
MAX_FAILED_ROWS_SHOWN = 50




def _failed_rows_markdown(failures: Mapping[str, Any]) -> str:
    lines = ["| unique_id | error |", "|---|---|"]
    for uid, failure in list(failures.items())[:MAX_FAILED_ROWS_SHOWN]:
        lines.append(f"| {uid} | {failure.error_type}: {str(failure.message).replace('|', '/')[:300]} |")
    if len(failures) > MAX_FAILED_ROWS_SHOWN:
        lines.append(f"| … | {len(failures) - MAX_FAILED_ROWS_SHOWN} more |")
    return "\n".join(lines)


def build_scale_batch_asset(
    *,
    name: str,
    upstream: AssetRef,
    project: str,
    task_type: TaskType | str,
    row_key_column: str,
    create_project: bool = False,
    payload_columns: Mapping[str, str] | None = None,
    static_payload: Mapping[str, Any] | None = None,
    row_to_payload: RowToPayload | None = None,
    optional_payload_fields: Sequence[str] = (),
    batch_name_prefix: str | None = None,
    callback_url: str | None = None,
    finalize: bool = True,
    allow_partial: bool = False,
    allow_empty: bool = False,
    wait_for_completion: bool = False,
    wait_timeout_seconds: float = 6 * 3600,
    poll_interval_seconds: float = 10.0,
    cancel_on_termination: bool = True,
    cancel_on_timeout: bool = False,
    partitions_def: dg.PartitionsDefinition | None = None,
    resource_key: str = "scale",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    pool: str | None = None,
) -> dg.AssetsDefinition:
    """An asset that sends an upstream DataFrame (one row = one task) to a Scale batch.

    The batch is named ``<batch_name_prefix or name>`` (``__<partition>`` appended per partition) and reused
    by re-runs and backfills; each task's ``unique_id`` is ``<batch>/<row key>``, so nothing is created
    twice. Both are injective: a part holding the separator gets a digest suffix
    (:mod:`dagster_labeling._dagster.naming`). Tasks are created in bulk (``max_concurrency`` of the
    resource), the batch is finalized, and the asset either waits for completion (``wait_for_completion``,
    with progress logs, cancel on termination) or returns at once, leaving completion to
    :func:`build_scale_batch_completion_sensor`.

    Every row is validated before anything is sent (the batch included): the row key must be present and unique,
    every ``payload_columns`` column must hold a value unless its field is optional (``metadata``, ``tags``,
    ``priority``, ``callback_url``, or one of ``optional_payload_fields``: a missing cell is then left out of
    that task), and every value must have a JSON form; :class:`~dagster_labeling._core.rows.InvalidRows` lists
    every bad row with the fix.

    Output: a DataFrame ``row_key, task_id, unique_id, batch_name, status, error``. Rows that could not be
    created fail the step (listing them) unless ``allow_partial``; a re-run creates only the missing ones.
    ``pool`` puts the asset in a Dagster concurrency pool, to keep many runs under Scale's rate limits.
    ``create_project`` creates the project (of ``task_type``) when it does not exist: handy against the emulator
    and in new workspaces; leave it off in production, where projects are set up with their instructions.
    """
    kind = task_type_value(task_type)
    mapping = TaskMapping(row_key_column, dict(payload_columns or {}), dict(static_payload or {}), row_to_payload,
                          tuple(optional_payload_fields))
    upstream_key = asset_key_of(upstream)
    base_name = batch_name_prefix or name

    @dg.asset(
        name=name,
        key_prefix=key_prefix,
        ins={"rows": dg.AssetIn(key=upstream_key)},
        partitions_def=partitions_def,
        required_resource_keys={resource_key},
        group_name=group_name,
        description=description or f"Rows of {upstream_key.to_user_string()} as {kind} tasks in Scale project "
        f"{project!r}.",
        kinds={"scale", "pandas"},
        pool=pool,
    )
    def _scale_batch_asset(context: dg.AssetExecutionContext, config: WaitConfig, rows: pd.DataFrame):
        partition = partition_key_of(context)
        batch_name = remote_name(base_name, partition)
        where = f"asset {name!r}" + (f" partition {partition!r}" if partition else "")
        if isinstance(rows, pd.DataFrame) and rows.empty:
            if not allow_empty:
                raise InvalidInput(
                    f"{where}: the upstream DataFrame is empty, so there is nothing to label. Filter empty "
                    "partitions out upstream, or pass allow_empty=True to materialize an empty result.",
                    field="rows",
                )
            return dg.Output(pd.DataFrame(columns=SUBMISSION_COLUMNS), metadata={"dagster/row_count": 0})
        payloads = mapping.payloads(rows, where=where)
        scale: ScaleResource = getattr(context.resources, resource_key)
        waits, options = resolve_wait(
            config, wait_for_completion=wait_for_completion, wait_timeout_seconds=wait_timeout_seconds,
            poll_interval_seconds=poll_interval_seconds, cancel_on_termination=cancel_on_termination,
            cancel_on_timeout=cancel_on_timeout,
        )
        with scale.get_client() as client:
            if create_project:
                _, project_created = client.get_or_create_project(project, kind)
                if project_created:
                    context.log.info(f"Scale project {project!r} created ({kind}).")
            submission = submit_rows_to_batch(
                client, project=project, batch_name=batch_name, task_type=kind, payloads=payloads,
                callback_url=callback_url,
                batch_metadata={"dagster_asset": context.asset_key.to_user_string(), "partition": partition},
                on_progress=bulk_progress_logger(context, f"Scale batch {batch_name}"),
            )
            failures = submission.result.failures
            context.log.info(
                f"Scale batch {batch_name} ({'created' if submission.batch_created else 'reused'}): "
                f"{len(submission.result.created)} tasks created, {len(submission.result.skipped)} already there, "
                f"{len(failures)} failed. {submission.batch_url}"
            )
            if failures and not allow_partial:
                raise dg.Failure(
                    description=f"{len(failures)} of {len(payloads)} rows could not be created as Scale tasks in "
                    f"batch {batch_name}; the batch was not finalized. Re-run to create only the missing ones "
                    "(tasks already created are reused), or set allow_partial=True.",
                    metadata={
                        "failed_rows": dg.MetadataValue.md(_failed_rows_markdown(failures)),
                        "failed_count": len(failures),
                        "created_count": len(submission.result.succeeded),
                        BATCH_NAME_META: batch_name,
                        "scale/batch_url": dg.MetadataValue.url(submission.batch_url),
                    },
                )
            if finalize:
                client.finalize_batch(batch_name)
            job = client.batch_job(batch_name)
            statuses: dict[str, str] | None = None
            if waits:
                job.wait(options, log=context.log)
                statuses = {t.task_id: t.status or "unknown"
                            for t in client.get_tasks(batch=batch_name, project=project,
                                                      include_attachment_url=False)}
            state = job.refresh().state.value
        frame = submission.frame(statuses)
        return dg.Output(
            frame,
            metadata={
                "dagster/row_count": len(frame),
                BATCH_NAME_META: batch_name,
                BATCH_STATE_META: state,
                BATCH_WAITED_META: waits,
                "scale/batch_url": dg.MetadataValue.url(submission.batch_url),
                "scale/project": project,
                "scale/tasks_created": len(submission.result.created),
                "scale/tasks_reused": len(submission.result.skipped),
                "scale/tasks_failed": len(failures),
                "scale/status_counts": dg.MetadataValue.json(status_counts(frame["status"])),
            },
        )

    return _scale_batch_asset


def build_scale_responses_asset(
    *,
    name: str,
    batch_asset: dg.AssetsDefinition,
    project: str | None = None,
    min_completed_share: float = 1.0,
    min_audited_share: float = 0.0,
    check_severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.WARN,
    resource_key: str = "scale",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
) -> dg.AssetsDefinition:
    """An asset collecting the responses of a batch asset's tasks: one row per task, responses flattened.

    Columns: ``row_key, task_id, status, completed_at, review_status, audited, response.*``. It carries the
    asset check ``completed_and_audited``: the share of tasks completed is at least ``min_completed_share``
    and the share audited (accepted or fixed in review) at least ``min_audited_share``.
    """
    for label, share in (("min_completed_share", min_completed_share), ("min_audited_share", min_audited_share)):
        if not 0.0 <= share <= 1.0:
            raise InvalidInput(f"{label} must be between 0 and 1, got {share}.", field=label)
    batch_key = batch_asset.key
    asset_key = dg.AssetKey([*(key_prefix or []), name])
    check_name = "completed_and_audited"

    @dg.asset(
        key=asset_key,
        ins={"submissions": dg.AssetIn(key=batch_key)},
        partitions_def=batch_asset.partitions_def,
        required_resource_keys={resource_key},
        group_name=group_name,
        description=description or f"Responses of the Scale tasks of {batch_key.to_user_string()}, flattened.",
        kinds={"scale", "pandas"},
        check_specs=[dg.AssetCheckSpec(check_name, asset=asset_key,
                                       description="Share of tasks completed and audited is above the threshold.")],
    )
    def _scale_responses_asset(context: dg.AssetExecutionContext, submissions: pd.DataFrame):
        scale: ScaleResource = getattr(context.resources, resource_key)
        if submissions.empty:
            frame = pd.DataFrame(columns=["row_key", "task_id", "status", "completed_at", "review_status",
                                          "audited"])
        else:
            with scale.get_client() as client:
                frame = collect_responses(client, submissions, project)
        total = len(frame)
        completed = int((frame["status"] == "completed").sum()) if total else 0
        audited = int(frame["audited"].astype(bool).sum()) if total else 0
        completed_share = completed / total if total else 0.0
        audited_share = audited / total if total else 0.0
        yield dg.Output(
            frame,
            metadata={
                "dagster/row_count": total,
                "scale/status_counts": dg.MetadataValue.json(status_counts(frame["status"]) if total else {}),
                "scale/completed_share": completed_share,
                "scale/audited_share": audited_share,
            },
        )
        yield dg.AssetCheckResult(
            check_name=check_name,
            asset_key=asset_key,
            passed=bool(total) and completed_share >= min_completed_share and audited_share >= min_audited_share,
            severity=check_severity,
            metadata={
                "completed_share": completed_share,
                "audited_share": audited_share,
                "min_completed_share": min_completed_share,
                "min_audited_share": min_audited_share,
                "tasks": total,
            },
        )

    return _scale_responses_asset
