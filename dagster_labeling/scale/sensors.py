"""Sensors for Scale: batch completion (polling, cursor-based) and task callbacks (from the inbox)."""

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import dagster as dg

from dagster_labeling._dagster.assets import latest_materialization
from dagster_labeling._dagster.naming import PARTITION_SEPARATOR, partition_of
from dagster_labeling._dagster.sensors import DEFAULT_MAX_ATTEMPTS, RunWatch
from dagster_labeling.callbacks.inbox import InboxEvent
from dagster_labeling.callbacks.sensors import build_callback_inbox_sensor
from dagster_labeling.scale.assets import BATCH_NAME_META, BATCH_STATE_META, BATCH_WAITED_META
from dagster_labeling.scale.models import Task
from dagster_labeling.scale.resource import ScaleResource

BATCH_TAG = "dagster-labeling/scale-batch"
TASK_TAG = "dagster-labeling/scale-task"
TASK_BATCH_TAG = "dagster-labeling/scale-task-batch"  # not BATCH_TAG: a task run does not handle its batch
CURSOR_OVERLAP = dt.timedelta(seconds=2)
MAX_DONE_IN_CURSOR = 500


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _already_handled_by_dagster(
    instance: dg.DagsterInstance, batch_name: str, batch_asset: dg.AssetsDefinition | None, partition: str | None
) -> bool:
    """True when a Dagster run already saw this batch complete: a run this sensor launched, or a materialization
    that waited for it (a handed-off materialization that found the batch already complete does not count)."""
    if instance.get_run_records(dg.RunsFilter(tags={BATCH_TAG: batch_name}), limit=1):
        return True
    if batch_asset is None:
        return False
    materialization = latest_materialization(instance, batch_asset.key, partition)
    if materialization is None:
        return False
    meta = materialization.metadata
    name = meta.get(BATCH_NAME_META)
    state = meta.get(BATCH_STATE_META)
    waited = meta.get(BATCH_WAITED_META)
    if waited is not None and not getattr(waited, "value", waited):
        return False  # handed off: even a batch already complete when the run looked is the sensor's to collect
    return (getattr(name, "value", name) == batch_name) and (getattr(state, "value", state) == "SUCCEEDED")


def build_scale_batch_completion_sensor(
    *,
    name: str,
    project: str,
    target: Any = None,
    job: Any = None,
    batch_asset: dg.AssetsDefinition | None = None,
    batch_name_prefix: str | None = None,
    resource_key: str = "scale",
    lookback_seconds: float = 7 * 24 * 3600,
    max_batches_per_tick: int = 25,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor that requests a run when a Scale batch of ``project`` completes.

    Each tick lists only the tasks updated since the cursor (``updated_after``), checks the status of at most
    ``max_batches_per_tick`` batches they belong to (the rest carry over in the cursor), and requests a run
    per completed batch with ``run_key = <sensor>:<batch>`` and the tag ``dagster-labeling/scale-batch``.
    Batches that a Dagster run already waited for (``batch_asset`` materialized with state SUCCEEDED) or
    already launched are skipped. With ``batch_asset`` (or ``batch_name_prefix``) only its batches count,
    and a partitioned asset's batch maps back to its partition key. A requested run that ends FAILURE or
    CANCELED is requested again, up to ``max_attempts`` runs (``RunWatch``).

    >>> sensor = build_scale_batch_completion_sensor(name="scale_done", project="sentiment",
    ...                                              target="reviews_labels")
    >>> sensor.name
    'scale_done'
    """
    if max_batches_per_tick < 1:
        raise ValueError("max_batches_per_tick must be at least 1")
    prefix = batch_name_prefix or (batch_asset.key.path[-1] if batch_asset is not None else None)

    def partition_keys(instance: dg.DagsterInstance) -> Iterator[str]:
        """The batch asset's partition keys, read only when a batch name must be matched against them."""
        partitions = batch_asset.partitions_def if batch_asset is not None else None
        if partitions is not None:
            yield from partitions.get_partition_keys(dynamic_partitions_store=instance)

    def belongs(batch_name: str, instance: dg.DagsterInstance) -> tuple[bool, str | None]:
        """Whether the batch is one of ours, and its partition (a hashed name is matched against the keys)."""
        if prefix is None:
            return True, None
        if batch_name != prefix and not batch_name.startswith(prefix + PARTITION_SEPARATOR):
            return False, None  # every name remote_name makes from the prefix starts so (hashed ones too)
        return partition_of(prefix, batch_name, partition_keys(instance))

    @dg.sensor(
        name=name,
        target=target,
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        required_resource_keys={resource_key},
        description=f"Requests a run when a Scale batch of project {project!r} completes.",
    )
    def _scale_batch_sensor(
        context: dg.SensorEvaluationContext, **_resources: Any  # direct invocation passes resources by key
    ) -> dg.SensorResult | dg.SkipReason:
        state = json.loads(context.cursor) if context.cursor else {}
        watch = RunWatch(context, name, context.cursor, max_attempts=max_attempts)
        now = dt.datetime.now(dt.timezone.utc)
        since = state.get("since") or _iso(now - dt.timedelta(seconds=lookback_seconds))
        carried: list[str] = state.get("carry", [])
        # Batches already requested (or found handled): the cursor overlap re-reads their last tasks.
        done_before: list[str] = state.get("done", [])
        seen = set(done_before)
        scale: ScaleResource = getattr(context.resources, resource_key)
        newest = since
        touched: dict[str, None] = dict.fromkeys(carried)
        membership: dict[str, tuple[bool, str | None]] = {}  # batch name -> belongs(), once per tick

        def ours(batch_name: str) -> tuple[bool, str | None]:
            if batch_name not in membership:
                membership[batch_name] = belongs(batch_name, context.instance)
            return membership[batch_name]

        with scale.get_client() as client:
            for task in client.get_tasks(project=project, updated_after=since,
                                         include_attachment_url=False):
                updated = task.updated_at or task.completed_at
                if updated and updated > newest:
                    newest = updated
                if task.batch and task.batch not in seen and ours(task.batch)[0]:
                    touched.setdefault(task.batch, None)
            candidates = list(touched)
            now_batches, carry = candidates[:max_batches_per_tick], candidates[max_batches_per_tick:]
            requests: list[dg.RunRequest] = []
            finished: list[str] = []
            for batch_name in now_batches:
                counts = client.batch_status(batch_name)
                if counts.status != "completed":
                    continue
                finished.append(batch_name)  # a completed batch takes no new tasks: never request it again
                _, partition = ours(batch_name)
                if _already_handled_by_dagster(context.instance, batch_name, batch_asset, partition):
                    context.log.info(f"Scale batch {batch_name} completed; a Dagster run already handled it")
                    continue
                requests.append(watch.request(dg.RunRequest(
                    run_key=f"{name}:{batch_name}",
                    partition_key=partition,
                    tags={BATCH_TAG: batch_name},
                )))
        # Re-read a small overlap next time: a task updated in the same instant is not missed (run keys dedup).
        newest_dt = dt.datetime.fromisoformat(newest.replace("Z", "+00:00"))
        cursor = json.dumps({"since": _iso(newest_dt - CURSOR_OVERLAP) if newest != since else since,
                             "carry": carry, "done": (done_before + finished)[-MAX_DONE_IN_CURSOR:]})
        return watch.sensor_result(cursor, requests,
                                   nothing=f"{len(now_batches)} batch(es) checked, none newly completed")

    return _scale_batch_sensor


def scale_task_from_event(event: InboxEvent) -> Task | None:
    """The task of a Scale callback (``{"task": {...}, "response": ..., "task_id": ...}``)."""
    payload = event.payload
    task = payload.get("task")
    if isinstance(task, dict) and task.get("task_id"):
        return Task.model_validate(task)
    if payload.get("task_id"):
        return Task.model_validate({"task_id": payload["task_id"], "response": payload.get("response")})
    return None


def build_scale_task_callback_sensor(
    *,
    name: str,
    inbox_path: str,
    target: Any = None,
    job: Any = None,
    run_request_for_task: Callable[[Task], dg.RunRequest | None] | None = None,
    source: str = "scale",
    max_events_per_tick: int = 100,
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor turning Scale task callbacks (stored by the callbacks receiver) into runs.

    By default one run per delivered callback, tagged with the task id and batch; pass
    ``run_request_for_task`` to choose (return ``None`` to ignore a task). Run keys come from the event's
    dedup key, so a redelivered callback or a restarted daemon never acts twice.

    >>> s = build_scale_task_callback_sensor(name="scale_tasks", inbox_path="/tmp/inbox.db", target="x")
    >>> s.name
    'scale_tasks'
    """

    def default_request(task: Task) -> dg.RunRequest:
        tags = {TASK_TAG: task.task_id}
        if task.batch:
            tags[TASK_BATCH_TAG] = task.batch
        return dg.RunRequest(tags=tags)

    to_request = run_request_for_task or default_request

    def event_to_run_request(event: InboxEvent) -> dg.RunRequest | None:
        task = scale_task_from_event(event)
        return None if task is None else to_request(task)

    return build_callback_inbox_sensor(
        name=name, inbox_path=inbox_path, source=source, event_to_run_request=event_to_run_request,
        target=target, job=job, max_events_per_tick=max_events_per_tick,
        minimum_interval_seconds=minimum_interval_seconds, default_status=default_status,
        description=f"Launches runs for Scale task callbacks stored in {inbox_path}.",
    )
