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

from dagster_labeling.argilla.resource import ArgillaResource
from dagster_labeling.callbacks.inbox import InboxEvent
from dagster_labeling.callbacks.sensors import build_callback_inbox_sensor

DATASET_TAG = "dagster-labeling/argilla-dataset"
EVENT_TAG = "dagster-labeling/argilla-event"
RECORD_TAG = "dagster-labeling/argilla-record"


def build_argilla_progress_sensor(
    *,
    name: str,
    dataset_name: str,
    threshold: float = 1.0,
    workspace: str | None = None,
    target: Any = None,
    job: Any = None,
    resource_key: str = "argilla",
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """Request a run (e.g. of the annotations asset) when the dataset's completed share crosses ``threshold``.

    Fires once per crossing (``run_key`` names the dataset and the completed/total counts); when new records
    push the share back under the threshold, the sensor re-arms. The cursor keeps the last share seen.
    """
    if not 0 < threshold <= 1:
        raise ValueError("threshold must be in (0, 1]")

    @dg.sensor(name=name, target=target, job=job, minimum_interval_seconds=minimum_interval_seconds,
               default_status=default_status, required_resource_keys={resource_key},
               description=f"Runs when {threshold:.0%} of Argilla dataset {dataset_name!r} is annotated.")
    def _progress_sensor(
        context: dg.SensorEvaluationContext, **_resources: Any  # direct invocation passes resources by key
    ) -> dg.SensorResult | dg.SkipReason:
        resource: ArgillaResource = getattr(context.resources, resource_key)
        state = json.loads(context.cursor) if context.cursor else {"armed": True}
        with resource.get_client() as client:
            dataset = client.get_dataset(dataset_name, workspace or resource.workspace)
            if dataset is None:
                return dg.SkipReason(f"Argilla dataset {dataset_name!r} does not exist yet")
            progress = client.progress(dataset.id)
        fraction = progress.fraction_completed
        crossed = progress.total > 0 and fraction >= threshold
        cursor = json.dumps({"armed": not crossed, "fraction": round(fraction, 6)})
        if crossed and state.get("armed", True):
            request = dg.RunRequest(
                run_key=f"argilla:{dataset.id}:{progress.completed}/{progress.total}",
                tags={DATASET_TAG: dataset_name},
            )
            context.log.info(f"{dataset_name}: {progress.completed}/{progress.total} completed "
                             f"({fraction:.0%} >= {threshold:.0%})")
            return dg.SensorResult(run_requests=[request], cursor=cursor)
        return dg.SensorResult(skip_reason=f"{dataset_name}: {fraction:.0%} completed (threshold {threshold:.0%}"
                               f"{'' if not crossed else ', already reported'})", cursor=cursor)

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
