"""Sensors for Argilla: annotation progress crossing a threshold, and webhook events from the callbacks inbox.

>>> import dagster as dg
>>> s = build_argilla_progress_sensor(name="review_done", dataset_name="tg-review", threshold=0.9,
...                                   target="reviewed")
>>> s.name
'review_done'
"""

import json
from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from dagster_labeling._dagster.naming import ID_SEPARATOR
from dagster_labeling._dagster.sensors import DEFAULT_MAX_ATTEMPTS, RunWatch, sensor_instance
from dagster_labeling.argilla.client import ArgillaClient
from dagster_labeling.argilla.ids import in_partition
from dagster_labeling.argilla.models import Dataset, DatasetProgress, RecordStatus
from dagster_labeling.argilla.resource import ArgillaResource
from dagster_labeling.callbacks.inbox import InboxEvent
from dagster_labeling.callbacks.sensors import build_callback_inbox_sensor

DATASET_TAG = "dagster-labeling/argilla-dataset"
EVENT_TAG = "dagster-labeling/argilla-event"
RECORD_TAG = "dagster-labeling/argilla-record"


def _partitions_of(target: Any) -> dg.PartitionsDefinition | None:
    """The partitions of a sensor's target: an asset, assets, or an (asset) job; None when unknown (a name)."""
    if isinstance(target, dg.AssetsDefinition):
        return target.partitions_def
    if isinstance(target, (list, tuple)):
        found = [_partitions_of(t) for t in target]
        return next((p for p in found if p is not None), None)
    partitions = getattr(target, "partitions_def", None)
    return partitions if isinstance(partitions, dg.PartitionsDefinition) else None


def _record_partition(external_id: str | None, keys: set[str]) -> str | None:
    """The partition among ``keys`` whose records' ids (:func:`~dagster_labeling.argilla.ids.record_external_id`)
    include ``external_id``, or None (an unpartitioned record, or another partitions definition's)."""
    if not external_id:
        return None
    at = external_id.find(ID_SEPARATOR)
    while at > 0:
        candidate = external_id[:at]
        if candidate in keys and in_partition(external_id, candidate):
            return candidate
        at = external_id.find(ID_SEPARATOR, at + 1)
    return None


def build_argilla_progress_sensor(
    *,
    name: str,
    dataset_name: str,
    threshold: float = 1.0,
    workspace: str | None = None,
    target: Any = None,
    job: Any = None,
    partitions_def: dg.PartitionsDefinition | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    max_records_per_tick: int = 100_000,
    resource_key: str = "argilla",
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """Request a run (e.g. of the annotations asset) when the dataset's completed share crosses ``threshold``.

    Unpartitioned target: fires once per crossing of the whole dataset (``run_key`` names the dataset and the
    completed/total counts); when new records push the share back under the threshold, the sensor re-arms.

    Partitioned target (``partitions_def``, by default the target asset's or asset job's): the share is computed
    per partition from the records' ids (``<partition>/<key>``, as the dataset asset writes them), and one run is
    requested per partition that crossed the threshold, with that ``partition_key`` and ``run_key``
    ``argilla:<dataset id>:<partition>:<completed>/<total>``; each partition re-arms on its own. Records of no
    partition of the target are ignored. A tick reads the dataset's progress (one request) and, when anything
    is completed, lists its records without responses or suggestions (one request per 1000 records); a dataset
    larger than ``max_records_per_tick`` is skipped with a reason.

    A requested run that ends FAILURE or CANCELED is requested again on a later tick, up to ``max_attempts``
    runs per crossing (:class:`~dagster_labeling._dagster.sensors.RunWatch`); then the tick says it gave up.
    """
    if not 0 < threshold <= 1:
        raise ValueError("threshold must be in (0, 1]")
    if max_records_per_tick < 1:
        raise ValueError("max_records_per_tick must be at least 1")
    partitions = partitions_def if partitions_def is not None else _partitions_of(target if target is not None
                                                                                  else job)

    def crossed(completed: int, total: int) -> bool:
        return total > 0 and completed / total >= threshold

    def partitioned_tick(context: dg.SensorEvaluationContext, client: ArgillaClient, dataset: Dataset,
                         progress: DatasetProgress, state: dict[str, Any], watch: RunWatch
                         ) -> tuple[list[dg.RunRequest], dict[str, Any], str]:
        assert partitions is not None
        reported = set(state.get("reported", []))
        counts: dict[str, list[int]] = {}  # partition -> [completed, total]
        if progress.completed:  # nothing completed: no partition crossed, no need to list
            keys = set(partitions.get_partition_keys(dynamic_partitions_store=sensor_instance(context)))
            for record in client.list_records(dataset.id, include=()):
                partition = _record_partition(record.external_id, keys)
                if partition is not None:
                    count = counts.setdefault(partition, [0, 0])
                    count[0] += record.status == RecordStatus.COMPLETED
                    count[1] += 1
        now = {p for p, (done, total) in counts.items() if crossed(done, total)}
        requests = []
        for partition in sorted(now - reported):
            done, total = counts[partition]
            context.log.info(f"{dataset_name} partition {partition}: {done}/{total} completed "
                             f"(>= {threshold:.0%})")
            requests.append(watch.request(dg.RunRequest(
                run_key=f"argilla:{dataset.id}:{partition}:{done}/{total}", partition_key=partition,
                tags={DATASET_TAG: dataset_name})))
        pending = len(counts) - len(now)
        nothing = (f"{dataset_name}: {progress.completed}/{progress.total} records completed; {len(now)} "
                   f"partition(s) at {threshold:.0%} (already reported), {pending} below")
        return requests, {"reported": sorted(now)}, nothing

    @dg.sensor(name=name, target=target, job=job, minimum_interval_seconds=minimum_interval_seconds,
               default_status=default_status, required_resource_keys={resource_key},
               description=f"Runs when {threshold:.0%} of Argilla dataset {dataset_name!r} is annotated"
                           f"{' (per partition)' if partitions is not None else ''}.")
    def _progress_sensor(
        context: dg.SensorEvaluationContext, **_resources: Any  # direct invocation passes resources by key
    ) -> dg.SensorResult | dg.SkipReason:
        resource: ArgillaResource = getattr(context.resources, resource_key)
        state = json.loads(context.cursor) if context.cursor else {"armed": True}
        watch = RunWatch(context, name, context.cursor, max_attempts=max_attempts)
        with resource.get_client() as client:
            dataset = client.get_dataset(dataset_name, workspace or resource.workspace)
            if dataset is None:
                return dg.SkipReason(f"Argilla dataset {dataset_name!r} does not exist yet")
            progress = client.progress(dataset.id)
            if partitions is not None:
                if progress.total > max_records_per_tick:
                    context.log.warning(f"{dataset_name}: {progress.total} records, more than "
                                        f"max_records_per_tick={max_records_per_tick}; not listed")
                    return watch.sensor_result(context.cursor, nothing=f"{dataset_name}: {progress.total} records "
                                               f"exceed max_records_per_tick={max_records_per_tick}")
                requests, new_state, nothing = partitioned_tick(context, client, dataset, progress, state, watch)
                return watch.sensor_result(json.dumps(new_state), requests, nothing=nothing)
        fraction = progress.fraction_completed
        is_crossed = crossed(progress.completed, progress.total)
        cursor = json.dumps({"armed": not is_crossed, "fraction": round(fraction, 6)})
        requests = []
        if is_crossed and state.get("armed", True):
            requests.append(watch.request(dg.RunRequest(
                run_key=f"argilla:{dataset.id}:{progress.completed}/{progress.total}",
                tags={DATASET_TAG: dataset_name},
            )))
            context.log.info(f"{dataset_name}: {progress.completed}/{progress.total} completed "
                             f"({fraction:.0%} >= {threshold:.0%})")
        return watch.sensor_result(cursor, requests, nothing=f"{dataset_name}: {fraction:.0%} completed (threshold "
                                   f"{threshold:.0%}{'' if not is_crossed else ', already reported'})")

    return _progress_sensor


def default_argilla_run_request(event: InboxEvent) -> dg.RunRequest:
    """Tags the run with the event type, the record id and the dataset name."""
    payload = event.payload
    data = payload.get("data") or {}
    record = data.get("record") if str(payload.get("type", "")).startswith("response.") else data
    dataset = (record or {}).get("dataset") or data.get("dataset") or {}
    tags = {EVENT_TAG: str(payload.get("type"))}
    if isinstance(record, dict) and record.get("id"):
        tags[RECORD_TAG] = str(record["id"])
    if isinstance(dataset, dict) and dataset.get("name"):
        tags[DATASET_TAG] = str(dataset["name"])
    return dg.RunRequest(tags=tags)


def build_argilla_webhook_sensor(
    *,
    name: str,
    inbox_path: str,
    events: Sequence[str] = ("record.completed",),
    target: Any = None,
    job: Any = None,
    source: str = "argilla",
    event_to_run_request: Callable[[InboxEvent], dg.RunRequest | None] | None = None,
    max_events_per_tick: int = 100,
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """Drain Argilla webhook events (stored by the callbacks receiver's
    :class:`~dagster_labeling.callbacks.ArgillaWebhookSource`) into runs: one run per event of the given
    ``events`` types, with a ``run_key`` from the event's content, so a redelivery never runs twice."""
    wanted = set(events)
    convert = event_to_run_request or default_argilla_run_request

    def to_request(event: InboxEvent) -> dg.RunRequest | None:
        if event.payload.get("type") not in wanted:
            return None
        return convert(event)

    return build_callback_inbox_sensor(
        name=name, inbox_path=inbox_path, source=source, event_to_run_request=to_request, target=target, job=job,
        max_events_per_tick=max_events_per_tick, minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=f"Runs for Argilla webhook events {sorted(wanted)} stored in {inbox_path}.",
    )
