"""Sensors for Refuel: task-run completion, export ready, fine-tune completion (polling, cursor-based, deduped).

>>> sensor = build_refuel_task_run_sensor(name="refuel_runs", task="sentiment", datasets=["reviews"],
...                                       target="reviews_labels")
>>> sensor.name
'refuel_runs'
"""

import json
from collections.abc import Sequence
from typing import Any

import dagster as dg

from dagster_labeling._core import InvalidInput, JobState, NotFound
from dagster_labeling._dagster.assets import latest_materialization, meta_value
from dagster_labeling._dagster.sensors import DEFAULT_MAX_ATTEMPTS, RunWatch, sensor_instance
from dagster_labeling.refuel.assets import (
    DATASET_ID_META,
    EXPORT_ID_META,
    MODEL_ID_META,
    MODEL_STATE_META,
    RUN_ID_META,
    RUN_STATE_META,
    RUN_TAG,
    TASK_RUN_META,
)
from dagster_labeling.refuel.handles import RefuelFinetune
from dagster_labeling.refuel.resource import RefuelResource

MAX_IDS_IN_CURSOR = 500
HANDED_OFF_LOOKBACK = 1000
"""Materializations of a partitioned labels asset read per tick to find the partitions waiting for a run."""
EXPORT_TAG = "dagster-labeling/refuel-export"
MODEL_TAG = "dagster-labeling/refuel-model"


def _load(cursor: str | None) -> dict[str, Any]:
    try:
        data = json.loads(cursor) if cursor else {}
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def _latest_meta(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, Any]:
    mat = latest_materialization(instance, key)
    metadata = mat.metadata if mat else {}
    return {k: meta_value(metadata, k) for k in metadata}


def _remember(seen: list[str], new: Sequence[str]) -> list[str]:
    return [*seen, *new][-MAX_IDS_IN_CURSOR:]


def _handed_off(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, list[str]]:
    """``{task run id: [partitions]}``: the partitions whose latest materialization (of the newest
    ``HANDED_OFF_LOOKBACK``) recorded that run without waiting for it to succeed."""
    latest: dict[str, dg.AssetMaterialization] = {}
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=HANDED_OFF_LOOKBACK)
    for record in records.records:  # newest first
        mat = record.event_log_entry.asset_materialization
        if mat is not None and mat.partition is not None and mat.partition not in latest:
            latest[mat.partition] = mat
    found: dict[str, list[str]] = {}
    for partition, mat in latest.items():
        ref = meta_value(mat.metadata, RUN_ID_META) or meta_value(mat.metadata, TASK_RUN_META)
        if ref and meta_value(mat.metadata, RUN_STATE_META) != JobState.SUCCEEDED.value:
            found.setdefault(str(ref), []).append(partition)
    return found


def build_refuel_task_run_sensor(
    *,
    name: str,
    task: str,
    datasets: Sequence[str],
    target: Any = None,
    job: Any = None,
    labels_asset: dg.AssetsDefinition | None = None,
    resource_key: str = "refuel",
    max_checks_per_tick: int = 10,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """Request a run (``run_key = <sensor>:<run id>``) when a task run of ``task`` on one of ``datasets`` completes.

    At most ``max_checks_per_tick`` runs are checked per tick (round-robin through the cursor). A run that
    ``labels_asset`` already waited for (its latest materialization says SUCCEEDED for that run) is skipped.
    A requested run that ends FAILURE or CANCELED is requested again, up to ``max_attempts`` runs (``RunWatch``).
    The request is tagged ``dagster-labeling/refuel-task-run = <run id>``: the labels asset then collects that
    run instead of starting another.

    With a partitioned ``labels_asset``, one run is requested per partition whose latest materialization handed
    that task run off (recorded its id without SUCCEEDED), with that ``partition_key`` and ``run_key =
    <sensor>:<run id>:<partition>``; a partition handed off after the run was first seen is requested on a later
    tick. Partitions that waited for the run are not requested.
    """
    if max_checks_per_tick < 1:
        raise ValueError("max_checks_per_tick must be at least 1")
    names = list(datasets)

    @dg.sensor(name=name, target=target, job=job, minimum_interval_seconds=minimum_interval_seconds,
               default_status=default_status, required_resource_keys={resource_key})
    def _sensor(context: dg.SensorEvaluationContext, **_resources: Any) -> dg.SensorResult | dg.SkipReason:
        refuel: RefuelResource = getattr(context.resources, resource_key)
        state = _load(context.cursor)
        watch = RunWatch(context, name, context.cursor, max_attempts=max_attempts)
        seen: list[str] = list(state.get("seen", []))
        start = int(state.get("next", 0)) % max(len(names), 1)
        batch = [names[(start + i) % len(names)] for i in range(min(max_checks_per_tick, len(names)))]
        handled = {}
        if labels_asset is not None:
            meta = _latest_meta(context.instance, labels_asset.key)
            # the run's own id: TASK_RUN_META ("<task>/<dataset>") names every run on that dataset alike
            ref = meta.get(RUN_ID_META) or meta.get(TASK_RUN_META)
            if meta.get(RUN_STATE_META) == JobState.SUCCEEDED.value and ref:
                handled[str(ref)] = True
        partitioned = labels_asset is not None and labels_asset.partitions_def is not None
        requested: list[str] = list(state.get("requested", []))
        handed_off: dict[str, list[str]] | None = None
        requests = []
        with refuel.get_client() as client:
            for ds in batch:
                try:
                    handle = client.task_run(task, ds)
                    status = handle.refresh()
                except (NotFound, InvalidInput) as exc:  # no such dataset, task or run yet: nothing to report
                    context.log.debug(f"no run for {task}/{ds}: {exc}")
                    continue
                run_id = str(status.details.get("id") or handle.id)
                if status.state is not JobState.SUCCEEDED:
                    continue
                if partitioned:
                    assert labels_asset is not None
                    if handed_off is None:
                        instance = sensor_instance(context)
                        handed_off = _handed_off(instance, labels_asset.key) if instance is not None else {}
                    partitions = sorted(set(handed_off.get(run_id, []) + handed_off.get(handle.id, [])))
                    for partition in partitions:
                        run_key = f"{name}:{run_id}:{partition}"
                        if run_key in requested:
                            continue
                        requested = _remember(requested, [run_key])
                        requests.append(watch.request(dg.RunRequest(
                            run_key=run_key, partition_key=partition,
                            tags={RUN_TAG: run_id, "refuel/dataset": ds})))
                    continue
                if run_id in seen:
                    continue
                seen = _remember(seen, [run_id])
                if handle.id in handled or run_id in handled:
                    continue
                requests.append(watch.request(dg.RunRequest(run_key=f"{name}:{run_id}",
                                                            tags={RUN_TAG: run_id, "refuel/dataset": ds})))
        cursor = json.dumps({"seen": seen, "next": (start + len(batch)) % max(len(names), 1),
                             **({"requested": requested} if partitioned else {})})
        return watch.sensor_result(cursor, requests, nothing="no newly completed Refuel task run")

    return _sensor


def build_refuel_export_sensor(
    *,
    name: str,
    export_asset: dg.AssetsDefinition,
    target: Any = None,
    job: Any = None,
    ready_asset_key: dg.AssetKey | str | None = None,
    resource_key: str = "refuel",
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """When the latest export started by ``export_asset`` is ready, emit where it landed, once.

    With ``ready_asset_key`` it reports an asset materialization (metadata ``refuel/export_url``); otherwise it
    requests a run of ``target``/``job`` tagged with the export id and URL (``run_key = <sensor>:<export id>``).
    One export is checked per tick. A requested run that ends FAILURE or CANCELED is requested again, up to
    ``max_attempts`` runs (``RunWatch``).
    """
    ready_key = dg.AssetKey.from_coercible(ready_asset_key) if ready_asset_key is not None else None

    @dg.sensor(name=name, target=target, job=job, minimum_interval_seconds=minimum_interval_seconds,
               default_status=default_status, required_resource_keys={resource_key})
    def _sensor(context: dg.SensorEvaluationContext, **_resources: Any) -> dg.SensorResult:
        refuel: RefuelResource = getattr(context.resources, resource_key)
        state = _load(context.cursor)
        watch = RunWatch(context, name, context.cursor, max_attempts=max_attempts)
        seen: list[str] = list(state.get("seen", []))
        meta = _latest_meta(context.instance, export_asset.key)
        export_id, dataset_id = meta.get(EXPORT_ID_META), meta.get(DATASET_ID_META)
        if not export_id or not dataset_id or export_id in seen:
            return watch.sensor_result(context.cursor, nothing="no pending Refuel export")
        with refuel.get_client() as client:
            url = client.get_export_url(str(dataset_id), str(export_id))
        if url is None:
            return watch.sensor_result(context.cursor, nothing=f"export {export_id} not ready yet")
        cursor = json.dumps({"seen": _remember(seen, [str(export_id)])})
        metadata: dict[str, Any] = {"refuel/export_id": str(export_id), "refuel/export_url": dg.MetadataValue.url(url),
                    DATASET_ID_META: str(dataset_id)}
        if ready_key is not None:
            return dg.SensorResult(asset_events=[dg.AssetMaterialization(ready_key, metadata=metadata)], cursor=cursor)
        return watch.sensor_result(cursor, [watch.request(dg.RunRequest(run_key=f"{name}:{export_id}", tags={
            EXPORT_TAG: str(export_id), "refuel/export_url": url}))], nothing="")

    return _sensor


def build_refuel_finetune_sensor(
    *,
    name: str,
    task: str | None = None,
    target: Any = None,
    job: Any = None,
    model_asset_key: dg.AssetKey | str | None = None,
    finetune_asset: dg.AssetsDefinition | None = None,
    resource_key: str = "refuel",
    max_models_per_tick: int = 10,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """Report fine-tunes (of ``task``, or the project) that finished, once each, at most ``max_models_per_tick``.

    With ``model_asset_key`` it emits an asset materialization carrying the model id and its training and
    evaluation stats; otherwise a run request tagged with the model id. Models that ``finetune_asset`` already
    waited for are skipped. A requested run that ends FAILURE or CANCELED is requested again, up to
    ``max_attempts`` runs (``RunWatch``).
    """
    key = dg.AssetKey.from_coercible(model_asset_key) if model_asset_key is not None else None

    @dg.sensor(name=name, target=target, job=job, minimum_interval_seconds=minimum_interval_seconds,
               default_status=default_status, required_resource_keys={resource_key})
    def _sensor(context: dg.SensorEvaluationContext, **_resources: Any) -> dg.SensorResult:
        refuel: RefuelResource = getattr(context.resources, resource_key)
        state = _load(context.cursor)
        watch = RunWatch(context, name, context.cursor, max_attempts=max_attempts)
        seen: list[str] = list(state.get("seen", []))
        handled: set[str] = set()
        if finetune_asset is not None:
            meta = _latest_meta(context.instance, finetune_asset.key)
            if meta.get(MODEL_STATE_META) == JobState.SUCCEEDED.value and meta.get(MODEL_ID_META):
                handled.add(str(meta[MODEL_ID_META]))
        with refuel.get_client() as client:
            models = client.get_finetuned_models(task=task)
        finished = []
        for model in models:
            status = RefuelFinetune.status_of(model)
            if status.state.is_terminal and model.id not in seen:
                finished.append((model, status))
        finished = finished[:max_models_per_tick]
        seen = _remember(seen, [m.id for m, _ in finished])
        cursor = json.dumps({"seen": seen})
        events, requests = [], []
        for model, status in finished:
            if model.id in handled:
                continue
            metadata = {MODEL_ID_META: model.id, MODEL_STATE_META: status.state.value,
                        "refuel/training_stats": dg.MetadataValue.json(model.training_stats or {}),
                        "refuel/evaluation_stats": dg.MetadataValue.json(model.evaluation_stats or {})}
            if key is not None:
                events.append(dg.AssetMaterialization(key, metadata=metadata))
            else:
                requests.append(watch.request(dg.RunRequest(
                    run_key=f"{name}:{model.id}", tags={MODEL_TAG: model.id, "refuel/state": status.state.value})))
        return watch.sensor_result(cursor, requests, events, nothing="no newly finished Refuel fine-tune")

    return _sensor
