"""Sensors for LLM Engine: fine-tune completion and batch-completion completion (polling, cursor-based)."""

import json
from collections.abc import Sequence
from typing import Any

import dagster as dg

from dagster_labeling._core import JobState
from dagster_labeling._dagster.assets import meta_value
from dagster_labeling._dagster.sensors import (
    DEFAULT_MAX_ATTEMPTS,
    MAX_KEYS_IN_CURSOR,
    ReportedOnce,
    RunWatch,
    materialized_jobs,
    tick_result,
)
from dagster_labeling.llm_engine.assets import (
    BATCH_JOB_META,
    BATCH_OUTPUT_META,
    BATCH_STATE_META,
    FINE_TUNE_ID_META,
    FINE_TUNE_STATE_META,
    FINE_TUNED_MODEL_META,
    loss_table,
)
from dagster_labeling.llm_engine.handles import BATCH_STATES, FINE_TUNE_STATES
from dagster_labeling.llm_engine.models import loss_curve
from dagster_labeling.llm_engine.pipeline import loss_summary
from dagster_labeling.llm_engine.resource import LLMEngineResource

FINE_TUNE_TAG = "dagster-labeling/llm-engine-fine-tune"
BATCH_TAG = "dagster-labeling/llm-engine-batch"


def build_llm_engine_fine_tune_sensor(
    *,
    name: str,
    target: Any = None,
    job: Any = None,
    fine_tune_asset: dg.AssetsDefinition | None = None,
    model_asset_key: dg.AssetKey | str | Sequence[str] | None = None,
    base_model: str | None = None,
    report_existing: bool = False,
    launched_only: bool = False,
    resource_key: str = "llm_engine",
    max_fine_tunes_per_tick: int = 10,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor reporting LLM Engine fine-tunes that finished successfully.

    For each one (at most ``max_fine_tunes_per_tick`` per tick; the rest wait for the next) it emits a
    materialization of ``model_asset_key`` (fine-tuned model name, final losses as numbers, the loss table) and/or
    a ``RunRequest`` for ``target``/``job`` with ``run_key=<sensor>:<fine-tune id>``. Fine-tunes that a run of
    ``fine_tune_asset`` already waited for are skipped; one it handed off (``wait_for_completion=False``) keeps
    its partition in the materialization and the run request. The cursor remembers fine-tunes already seen finished
    (bounded); on the first tick those already finished are only recorded unless ``report_existing``. A requested
    run that ends FAILURE or CANCELED is requested again, up to ``max_attempts`` runs (see ``RunWatch``).
    ``launched_only`` reports only the fine-tunes a run of ``fine_tune_asset`` launched (as recorded in its latest
    materializations), not every fine-tune of the account: use it when ``target`` is the fine-tune asset itself.

    >>> build_llm_engine_fine_tune_sensor(name="tuned", model_asset_key="tuned_model").name
    'tuned'
    """
    if max_fine_tunes_per_tick < 1:
        raise ValueError("max_fine_tunes_per_tick must be at least 1")
    if target is None and job is None and model_asset_key is None:
        raise ValueError("give target/job (to request runs) or model_asset_key (to record materializations)")
    if launched_only and fine_tune_asset is None:
        raise ValueError("launched_only needs fine_tune_asset (whose materializations record the launches)")
    model_key = dg.AssetKey.from_coercible(model_asset_key) if model_asset_key is not None else None

    @dg.sensor(name=name, target=target, job=job, minimum_interval_seconds=minimum_interval_seconds,
               default_status=default_status, required_resource_keys={resource_key},
               description="Reports LLM Engine fine-tunes that finished.")
    def _fine_tune_sensor(context: dg.SensorEvaluationContext, **_resources: Any) -> dg.SensorResult | dg.SkipReason:
        reported = ReportedOnce(context.cursor, "done")
        watch = RunWatch(context, name, context.cursor, max_attempts=max_attempts)
        llm: LLMEngineResource = getattr(context.resources, resource_key)
        requests: list[dg.RunRequest] = []
        events: list[dg.AssetMaterialization] = []
        launched = materialized_jobs(context.instance, fine_tune_asset, FINE_TUNE_ID_META, FINE_TUNE_STATE_META)
        with llm.get_client() as client:
            by_id = {ft.id: ft for ft in client.list_fine_tunes()
                     if JobState.from_vendor(ft.status, FINE_TUNE_STATES).is_terminal
                     and (not launched_only or ft.id in launched)}
            for fine_tune_id in reported.new(by_id, report_existing=report_existing)[:max_fine_tunes_per_tick]:
                ft = by_id[fine_tune_id]
                reported.mark(ft.id)
                if JobState.from_vendor(ft.status, FINE_TUNE_STATES) is not JobState.SUCCEEDED:
                    context.log.info(f"LLM Engine fine-tune {ft.id} ended {ft.status}")
                    continue
                if base_model is not None and not (ft.fine_tuned_model or "").startswith(base_model + "."):
                    continue
                recorded_state, partition = launched.get(ft.id, ("", None))
                if recorded_state == JobState.SUCCEEDED.value or context.instance.get_run_records(
                        dg.RunsFilter(tags={FINE_TUNE_TAG: ft.id}), limit=1):
                    continue  # a run already waited for it, or this sensor already requested one
                loss = loss_curve(client.get_fine_tune_events(ft.id))
                metadata: dict[str, Any] = {FINE_TUNE_ID_META: ft.id, FINE_TUNE_STATE_META: JobState.SUCCEEDED.value,
                                            FINE_TUNED_MODEL_META: ft.fine_tuned_model or "",
                                            "llm_engine/loss_per_epoch": loss_table(loss), **loss_summary(loss)}
                if model_key is not None:
                    events.append(dg.AssetMaterialization(asset_key=model_key, partition=partition, metadata=metadata))
                if target is not None or job is not None:
                    requests.append(watch.request(dg.RunRequest(run_key=f"{name}:{ft.id}", tags={FINE_TUNE_TAG: ft.id},
                                                                partition_key=partition)))
        return tick_result(context, reported.cursor(), requests=requests, events=events,
                           nothing="No newly finished fine-tunes.", watch=watch)

    return _fine_tune_sensor


def build_llm_engine_batch_completion_sensor(
    *,
    name: str,
    completions_asset: dg.AssetsDefinition | dg.AssetKey | str | Sequence[str],
    target: Any = None,
    job: Any = None,
    resource_key: str = "llm_engine",
    max_jobs_per_tick: int = 25,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor requesting a run when a batch-completions job recorded by ``completions_asset`` finishes.

    ``target`` is usually :func:`build_llm_engine_batch_output_asset`, which collects the completions.
    LLM Engine cannot list batch jobs, so the job ids come from the asset's materializations (metadata
    ``llm_engine/batch_job_id``; those materialized after waiting, state SUCCEEDED, are skipped), read
    incrementally by storage id. Pending jobs stay in the cursor; at most
    ``max_jobs_per_tick`` are checked per tick. One ``RunRequest`` per finished job, ``run_key=<sensor>:<job>``,
    for the partition the job was started for, tagged ``dagster-labeling/llm-engine-batch``; a job is reported
    once, and a run that ends FAILURE or CANCELED is requested again, up to ``max_attempts`` runs (``RunWatch``).

    >>> build_llm_engine_batch_completion_sensor(name="batches", completions_asset="answers", target="x").name
    'batches'
    """
    if max_jobs_per_tick < 1:
        raise ValueError("max_jobs_per_tick must be at least 1")
    key = completions_asset.key if isinstance(completions_asset, dg.AssetsDefinition) else \
        dg.AssetKey.from_coercible(completions_asset)

    @dg.sensor(name=name, target=target, job=job, minimum_interval_seconds=minimum_interval_seconds,
               default_status=default_status, required_resource_keys={resource_key},
               description=f"Requests a run when a batch-completions job of {key.to_user_string()} finishes.")
    def _batch_sensor(context: dg.SensorEvaluationContext, **_resources: Any) -> dg.SensorResult | dg.SkipReason:
        state = json.loads(context.cursor) if context.cursor else {}
        watch = RunWatch(context, name, context.cursor, max_attempts=max_attempts)
        after = int(state.get("after", 0))
        pending: list[list[str]] = state.get("pending", [])
        result = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_storage_id=after or None), limit=200, ascending=True)
        known = {p[0] for p in pending}
        for record in result.records:
            after = max(after, record.storage_id)
            mat = record.event_log_entry.asset_materialization
            job_id = meta_value(mat.metadata, BATCH_JOB_META) if mat else None
            waited = mat is not None and meta_value(mat.metadata, BATCH_STATE_META) == JobState.SUCCEEDED.value
            if mat is not None and job_id and job_id not in known and not waited:
                pending.append([str(job_id), str(meta_value(mat.metadata, BATCH_OUTPUT_META) or ""),
                                mat.partition or ""])
                known.add(job_id)
        llm: LLMEngineResource = getattr(context.resources, resource_key)
        requests: list[dg.RunRequest] = []
        still: list[list[str]] = []
        checked = 0
        with llm.get_client() as client:
            for entry in pending:
                job_id, output, partition = (entry + [""])[:3]  # cursors written before partitions had two
                if checked >= max_jobs_per_tick:
                    still.append(entry)
                    continue
                checked += 1
                status = client.get_batch_completion(job_id).status
                job_state = JobState.from_vendor(status, BATCH_STATES)
                if not job_state.is_terminal:
                    still.append(entry)
                elif job_state is JobState.SUCCEEDED:
                    requests.append(watch.request(dg.RunRequest(
                        run_key=f"{name}:{job_id}", partition_key=partition or None,
                        tags={BATCH_TAG: job_id, "llm_engine/output_data_path": output})))
                else:
                    context.log.warning(f"LLM Engine batch job {job_id} ended {status}")
        cursor = json.dumps({"after": after, "pending": still[-MAX_KEYS_IN_CURSOR:]})
        return tick_result(context, cursor, requests=requests, nothing=f"{len(still)} batch job(s) still running.",
                           watch=watch)

    return _batch_sensor
