"""Asset factories for Refuel: a dataset, its labels from a task run, online labels, a fine-tune; and checks.

>>> import dagster as dg, pandas as pd
>>> @dg.asset
... def reviews() -> pd.DataFrame:
...     return pd.DataFrame({"text": ["Great phone"]})
>>> dataset = build_refuel_dataset_asset(name="reviews_dataset", upstream=reviews, dataset_name="reviews")
>>> labels = build_refuel_labels_asset(name="reviews_labels", dataset_asset=dataset, dataset_name="reviews",
...                                    task="sentiment", fields=["sentiment"])
>>> check = build_refuel_confidence_check(asset=labels, field="sentiment", threshold=0.8, min_share=0.9)
>>> sorted(k.to_user_string() for k in labels.keys)
['reviews_labels']
"""

from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import pandas as pd

from dagster_labeling._core import InvalidInput, JobState
from dagster_labeling._dagster.assets import (
    AssetRef,
    asset_check_like,
    asset_key_of,
    partition_key_of,
    partitions_like,
)
from dagster_labeling._dagster.config import WaitConfig, resolve_wait
from dagster_labeling.refuel.client import RefuelClient
from dagster_labeling.refuel.containers import ensure_task
from dagster_labeling.refuel.errors import RefuelConflict, RefuelNotFound
from dagster_labeling.refuel.pipeline import (
    agreement,
    confidence_share,
    label_distribution,
    mean_confidence,
    upload_or_append,
)
from dagster_labeling.refuel.resource import RefuelResource
from dagster_labeling.refuel.validation import validate_finetune

DATASET_ID_META = "refuel/dataset_id"
RUN_STATE_META = "refuel/run_state"
TASK_RUN_META = "refuel/task_run"
RUN_ID_META = "refuel/run_id"
MODEL_ID_META = "refuel/model_id"
MODEL_STATE_META = "refuel/finetune_state"
EXPORT_ID_META = "refuel/export_id"
MAX_FAILED_ROWS_SHOWN = 50
RUN_TAG = "dagster-labeling/refuel-task-run"
"""Run tag naming the completed task run a run of the labels asset collects (set by the task-run sensor)."""


def ensure_project(client: RefuelClient, project: str) -> bool:
    """Create the project called ``project`` when the client cannot find it; True when this call created it.

    A project given by id is never created. A create refused because a parallel run made it first is fine: the
    client uses the oldest project of that name."""
    try:
        client.project_id  # noqa: B018  (resolves the name)
        return False
    except RefuelNotFound:
        pass
    try:
        client.create_project(project)
    except RefuelConflict:
        return False
    return True


def build_refuel_dataset_asset(
    *,
    name: str,
    upstream: AssetRef,
    dataset_name: str,
    partition_column: str = "dagster_partition",
    replace_existing: bool = False,
    wait_for_ingestion: bool = True,
    create_project: bool = False,
    partitions_def: dg.PartitionsDefinition | None = None,
    resource_key: str = "refuel",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    pool: str | None = None,
) -> dg.AssetsDefinition:
    """An asset that uploads an upstream DataFrame as the Refuel dataset ``dataset_name``.

    Partitioned: every partition's rows go into the one dataset with ``partition_column = <key>``, and a
    partition whose rows are already there is skipped, so a backfill of N partitions appends each exactly once,
    even when they all start at once and when re-run (:func:`~dagster_labeling.refuel.pipeline.upload_or_append`).
    Unpartitioned: an existing dataset is kept unless ``replace_existing``. Rows are sent as typed JSON, the
    whole frame validated first.
    """
    upstream_key = asset_key_of(upstream)

    @dg.asset(
        name=name, key_prefix=key_prefix, ins={"rows": dg.AssetIn(key=upstream_key)}, partitions_def=partitions_def,
        required_resource_keys={resource_key}, group_name=group_name, kinds={"refuel", "pandas"},
        description=description or f"{upstream_key.to_user_string()} as the Refuel dataset {dataset_name!r}.",
        pool=pool,
    )
    def _refuel_dataset_asset(context: dg.AssetExecutionContext, rows: pd.DataFrame) -> dg.MaterializeResult:
        partition = partition_key_of(context)
        refuel: RefuelResource = getattr(context.resources, resource_key)
        with refuel.get_client() as client:
            if create_project and ensure_project(client, refuel.project):
                context.log.info(f"Created Refuel project {refuel.project}")
            outcome = upload_or_append(
                client, dataset_name, rows, partition_column=partition_column if partition else None,
                partition_key=partition, replace=replace_existing, wait_for_ingestion=wait_for_ingestion,
            )
            url = client.dataset_url(outcome.dataset_id)
        context.log.info(f"Refuel dataset {dataset_name}: {outcome.action}, {outcome.rows_sent} row(s) sent. {url}")
        if outcome.duplicates:
            context.log.warning(f"Other Refuel datasets are also called {dataset_name!r} and hold rows: "
                                f"{outcome.duplicates}. The oldest ({outcome.dataset_id}) is used; merge or delete "
                                "the others in Refuel.")
        return dg.MaterializeResult(metadata={
            "dagster/row_count": len(rows), DATASET_ID_META: outcome.dataset_id, "refuel/dataset_name": dataset_name,
            "refuel/action": outcome.action, "refuel/rows_sent": outcome.rows_sent,
            "refuel/dataset_url": dg.MetadataValue.url(url),
            **({"refuel/duplicate_datasets": dg.MetadataValue.json(outcome.duplicates)} if outcome.duplicates else {}),
        })

    return _refuel_dataset_asset


def _label_metadata(frame: pd.DataFrame, fields: Sequence[str]) -> dict[str, Any]:
    meta: dict[str, Any] = {"dagster/row_count": len(frame)}
    for f in fields:
        if f"{f}_llm_label" in frame.columns or f"{f}_label" in frame.columns:
            meta[f"refuel/{f}/label_distribution"] = dg.MetadataValue.json(label_distribution(frame, f))
        conf = mean_confidence(frame, f)
        if conf is not None:
            meta[f"refuel/{f}/mean_confidence"] = conf
    return meta


def build_refuel_labels_asset(
    *,
    name: str,
    dataset_asset: AssetRef,
    dataset_name: str,
    task: str,
    fields: Sequence[str] = (),
    task_context: str | None = None,
    task_fields: Sequence[Mapping[str, Any]] | None = None,
    task_model: str | None = None,
    partition_column: str = "dagster_partition",
    num_items: int | None = None,
    wait_for_completion: bool = True,
    wait_timeout_seconds: float = 6 * 3600,
    poll_interval_seconds: float = 5.0,
    cancel_on_termination: bool = True,
    cancel_on_timeout: bool = False,
    resource_key: str = "refuel",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    partitions_def: dg.PartitionsDefinition | None = None,
    pool: str | None = None,
) -> dg.AssetsDefinition:
    """An asset that runs ``task`` on the dataset and outputs its items with labels and confidence.

    It starts a task run (the whole dataset or ``num_items``), waits with progress logs (cancelling the run if
    the Dagster run is terminated), then fetches the items (a partition's rows only, by ``partition_column``)
    as a DataFrame with ``<field>_llm_label``, ``<field>_confidence``, ``<field>_confirmed_label``. With
    ``wait_for_completion=False`` it returns the items fetched so far and leaves completion to
    :func:`build_refuel_task_run_sensor`. Metadata: run URL and state, label distribution and mean confidence
    per field, row count.

    With ``task_fields`` (and ``task_context``, optionally ``task_model``: see ``RefuelClient.create_task``) the
    asset defines the task when it does not exist yet; parallel partitions agree on one task
    (:func:`~dagster_labeling.refuel.containers.ensure_task`). Without, the task must exist.

    A run tagged ``dagster-labeling/refuel-task-run = <run id>`` (what :func:`build_refuel_task_run_sensor`
    requests) collects that run's labels when it is the dataset's latest run and has succeeded, instead of
    starting another. ``pool`` is the asset's Dagster concurrency pool.
    """
    if task_fields is not None and not task_context:
        raise InvalidInput("task_fields needs task_context: the task's instructions, e.g. 'You label reviews.'.",
                           field="task_context")
    dataset_key = asset_key_of(dataset_asset)
    parts = partitions_like(partitions_def, dataset_asset)

    @dg.asset(
        name=name, key_prefix=key_prefix, deps=[dataset_key], partitions_def=parts,
        required_resource_keys={resource_key}, group_name=group_name, kinds={"refuel", "pandas"},
        description=description or f"Labels of Refuel task {task!r} on dataset {dataset_name!r}.",
        pool=pool,
    )
    def _refuel_labels_asset(context: dg.AssetExecutionContext, config: WaitConfig) -> dg.Output[pd.DataFrame]:
        partition = partition_key_of(context)
        refuel: RefuelResource = getattr(context.resources, resource_key)
        waits, options = resolve_wait(
            config, wait_for_completion=wait_for_completion, wait_timeout_seconds=wait_timeout_seconds,
            poll_interval_seconds=poll_interval_seconds, cancel_on_termination=cancel_on_termination,
            cancel_on_timeout=cancel_on_timeout,
        )
        with refuel.get_client() as client:
            if task_fields is not None:
                defined = ensure_task(client, task, dataset_name, str(task_context), task_fields, model=task_model)
                context.log.info(f"Refuel task {task}: {'defined' if defined.created else 'found'} ({defined.id})")
            collected = _completed_run(client, task, dataset_name, context.run.tags.get(RUN_TAG))
            if collected is not None:
                run, status = collected
                context.log.info(f"Collecting the labels of completed Refuel task run {context.run.tags[RUN_TAG]}: "
                                 f"{run.url}")
            else:
                run = client.start_task_run(task, dataset_name, num_items=num_items)
                context.log.info(f"Started Refuel task run {run.id}: {run.url}")
                status = run.wait(options, log=context.log) if waits else run.refresh()
            filters = [{"field": partition_column, "operator": "=", "value": partition}] if partition else []
            frame = client.get_items(dataset_name, task=task, max_items=None, filters=filters)
        meta = _label_metadata(frame, fields)
        meta.update({RUN_STATE_META: status.state.value, TASK_RUN_META: run.id,
                     RUN_ID_META: str(status.details.get("id") or ""),
                     "refuel/run_url": dg.MetadataValue.url(run.url or ""),
                     "refuel/num_labeled": status.done if status.done is not None else 0})
        return dg.Output(frame, metadata=meta)

    return _refuel_labels_asset


def _completed_run(client: RefuelClient, task: str, dataset: str, run_id: str | None) -> Any:
    """(handle, status) of the dataset's latest run of ``task`` when its id is ``run_id`` and it succeeded, else
    None (no tag, or a newer run since the sensor's request: start one as usual)."""
    if not run_id:
        return None
    try:
        handle = client.task_run(task, dataset)
        status = handle.refresh()
    except RefuelNotFound:
        return None
    if status.state is JobState.SUCCEEDED and str(status.details.get("id") or handle.id) == run_id:
        return handle, status
    return None


def build_refuel_online_labels_asset(
    *,
    name: str,
    upstream: AssetRef,
    application: str,
    input_columns: Sequence[str] | None = None,
    fields: Sequence[str] = (),
    explain: bool = False,
    concurrency: int | None = None,
    rate_per_minute: int | None = -1,
    allow_partial: bool = False,
    resource_key: str = "refuel",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    partitions_def: dg.PartitionsDefinition | None = None,
) -> dg.AssetsDefinition:
    """An asset that labels an upstream DataFrame now, row by row, through a deployed application.

    Concurrency and rate are bounded (the resource's ``label_concurrency``/``label_rate_per_minute`` unless
    given). Rows that fail after retries fail the step, listed in metadata, unless ``allow_partial``; then they
    are kept with empty labels and counted in ``refuel/failed_rows``.
    """
    upstream_key = asset_key_of(upstream)
    parts = partitions_like(partitions_def, upstream)

    @dg.asset(
        name=name, key_prefix=key_prefix, ins={"rows": dg.AssetIn(key=upstream_key)}, partitions_def=parts,
        required_resource_keys={resource_key}, group_name=group_name, kinds={"refuel", "pandas"},
        description=description or f"{upstream_key.to_user_string()} labeled by Refuel application {application!r}.",
    )
    def _refuel_online_labels_asset(context: dg.AssetExecutionContext, rows: pd.DataFrame) -> dg.Output[pd.DataFrame]:
        refuel: RefuelResource = getattr(context.resources, resource_key)
        with refuel.get_client() as client:
            result = client.label_dataframe(application, rows, input_columns=input_columns, explain=explain,
                                            concurrency=concurrency, rate_per_minute=rate_per_minute)
        failures = result.failures
        if failures:
            table = ["| row | error |", "|---|---|"] + [
                f"| {k} | {f.error_type}: {f.message[:200].replace('|', '/')} |"
                for k, f in list(failures.items())[:MAX_FAILED_ROWS_SHOWN]]
            if not allow_partial:
                raise dg.Failure(
                    description=f"{len(failures)} of {len(rows)} rows could not be labeled by {application!r}.",
                    metadata={"failed_rows": dg.MetadataValue.md("\n".join(table)), "failed_count": len(failures)},
                )
            context.log.warning(f"{len(failures)} row(s) could not be labeled; kept with empty labels.")
        meta = _label_metadata(result.labels, fields)
        meta["refuel/failed_rows"] = len(failures)
        return dg.Output(result.labels, metadata=meta)

    return _refuel_online_labels_asset


def build_refuel_finetune_asset(
    *,
    name: str,
    task: str,
    base_model: str,
    hyperparameters: Mapping[str, Any] | None = None,
    datasets: Sequence[str] | None = None,
    deps: Sequence[AssetRef] = (),
    wait_for_completion: bool = True,
    wait_timeout_seconds: float = 24 * 3600,
    poll_interval_seconds: float = 30.0,
    cancel_on_termination: bool = True,
    cancel_on_timeout: bool = False,
    resource_key: str = "refuel",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
) -> dg.AssetsDefinition:
    """An asset that fine-tunes ``base_model`` on ``task``'s data and records the model id with its stats.

    The base model and hyperparameters are validated when the factory is called. It waits by default (and
    cancels the fine-tune if the run is terminated); otherwise :func:`build_refuel_finetune_sensor` completes it.
    """
    validate_finetune(base_model, hyperparameters)

    @dg.asset(
        name=name, key_prefix=key_prefix, deps=[asset_key_of(d) for d in deps],
        required_resource_keys={resource_key}, group_name=group_name, kinds={"refuel"},
        description=description or f"A {base_model} fine-tuned on Refuel task {task!r}.",
    )
    def _refuel_finetune_asset(context: dg.AssetExecutionContext, config: WaitConfig) -> dg.MaterializeResult:
        refuel: RefuelResource = getattr(context.resources, resource_key)
        waits, options = resolve_wait(
            config, wait_for_completion=wait_for_completion, wait_timeout_seconds=wait_timeout_seconds,
            poll_interval_seconds=poll_interval_seconds, cancel_on_termination=cancel_on_termination,
            cancel_on_timeout=cancel_on_timeout,
        )
        with refuel.get_client() as client:
            job = client.finetune_model(task, base_model, hyperparameters=hyperparameters, datasets=datasets)
            context.log.info(f"Started Refuel fine-tune {job.id} of {base_model}")
            status = job.wait(options, log=context.log) if waits else job.refresh()
        details = dict(status.details)
        return dg.MaterializeResult(metadata={
            MODEL_ID_META: job.id, MODEL_STATE_META: status.state.value, "refuel/base_model": base_model,
            "refuel/model_name": str(details.get("name") or ""),
            "refuel/training_stats": dg.MetadataValue.json(details.get("training_stats") or {}),
            "refuel/evaluation_stats": dg.MetadataValue.json(details.get("evaluation_stats") or {}),
        })

    return _refuel_finetune_asset


def _no_labels_yet(labels: pd.DataFrame) -> bool:
    """No field has a label or confidence column: the task run has labeled nothing yet (a hand-off)."""
    return not any(str(c).endswith(("_llm_label", "_label", "_confidence")) for c in labels.columns)


def _not_labeled_yet(labels: pd.DataFrame, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    """A failed check (not an error) for labels that are not in yet; the run collecting them checks again."""
    return dg.AssetCheckResult(passed=False, severity=severity, metadata={"rows": len(labels), "rows_labeled": 0},
                               description="No labels yet: the task run has labeled none of these rows (handed off; "
                               "the run that collects the labels checks again).")


def build_refuel_confidence_check(
    *, asset: dg.AssetsDefinition, field: str, threshold: float = 0.8, min_share: float = 0.9,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.WARN, blocking: bool = False, name: str | None = None,
) -> dg.AssetChecksDefinition:
    """Check that at least ``min_share`` of rows have ``<field>_confidence >= threshold``.

    The check is named ``<field>_confidence_at_least_<threshold %>`` unless ``name`` is given.
    """
    for label, v in (("threshold", threshold), ("min_share", min_share)):
        if not 0.0 <= v <= 1.0:
            raise InvalidInput(f"{label} must be between 0 and 1, got {v}.", field=label)

    check_name = name or f"{field}_confidence_at_least_{round(threshold * 100)}"

    @asset_check_like(asset, name=check_name, blocking=blocking,
                    description=f"At least {min_share:.0%} of rows have {field} confidence >= {threshold}.")
    def _confidence_check(labels: pd.DataFrame) -> dg.AssetCheckResult:
        if _no_labels_yet(labels):
            return _not_labeled_yet(labels, severity)
        share = confidence_share(labels, field, threshold)
        return dg.AssetCheckResult(passed=bool(len(labels)) and share >= min_share, severity=severity,
                                   description=f"{share:.0%} of {len(labels)} rows have {field} confidence >= "
                                   f"{threshold} (need {min_share:.0%}).",
                                   metadata={"share": share, "threshold": threshold, "min_share": min_share,
                                             "rows": len(labels)})

    return _confidence_check


def build_refuel_agreement_check(
    *, asset: dg.AssetsDefinition, field: str, ground_truth_column: str, min_agreement: float = 0.8,
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.WARN, blocking: bool = False, name: str | None = None,
) -> dg.AssetChecksDefinition:
    """Check that the labels of ``field`` agree with ``ground_truth_column`` on at least ``min_agreement`` of the
    rows that have a ground truth."""
    if not 0.0 <= min_agreement <= 1.0:
        raise InvalidInput(f"min_agreement must be between 0 and 1, got {min_agreement}.", field="min_agreement")

    @asset_check_like(asset, name=name or f"{field}_agrees_with_{ground_truth_column}", blocking=blocking,
                    description=f"{field} agrees with {ground_truth_column} on >= {min_agreement:.0%} of rows.")
    def _agreement_check(labels: pd.DataFrame) -> dg.AssetCheckResult:
        if _no_labels_yet(labels):
            return _not_labeled_yet(labels, severity)
        share = agreement(labels, field, ground_truth_column)
        with_truth = int(labels[ground_truth_column].notna().sum()) if ground_truth_column in labels else 0
        said = (f"{field} agrees with {ground_truth_column} on {share:.0%} of {with_truth} rows with a ground truth "
                f"(need {min_agreement:.0%})." if with_truth
                else f"No row has a {ground_truth_column} value to compare.")
        return dg.AssetCheckResult(passed=with_truth > 0 and share >= min_agreement, severity=severity,
                                   metadata={"agreement": share, "min_agreement": min_agreement,
                                             "rows_with_ground_truth": with_truth}, description=said)

    return _agreement_check


def build_refuel_export_asset(
    *,
    name: str,
    dataset_name: str,
    email_address: str,
    task: str | None = None,
    deps: Sequence[AssetRef] = (),
    resource_key: str = "refuel",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
) -> dg.AssetsDefinition:
    """An asset that starts an export of the dataset (with ``task``'s labels); :func:`build_refuel_export_sensor`
    reports when its signed URL is ready."""

    @dg.asset(name=name, key_prefix=key_prefix, deps=[asset_key_of(d) for d in deps],
              required_resource_keys={resource_key}, group_name=group_name, kinds={"refuel"},
              description=description or f"An export of Refuel dataset {dataset_name!r}.")
    def _refuel_export_asset(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        refuel: RefuelResource = getattr(context.resources, resource_key)
        with refuel.get_client() as client:
            export = client.start_export(dataset_name, email_address, task=task)
            did = client.dataset_id(dataset_name)
        return dg.MaterializeResult(metadata={EXPORT_ID_META: export.id, DATASET_ID_META: did,
                                              "refuel/dataset_name": dataset_name})

    return _refuel_export_asset


__all__ = [
    "build_refuel_agreement_check", "build_refuel_confidence_check", "build_refuel_dataset_asset",
    "build_refuel_export_asset", "build_refuel_finetune_asset", "build_refuel_labels_asset",
    "build_refuel_online_labels_asset",
]
