"""A Dagster sensor that drains a :class:`~dagster_labeling.callbacks.inbox.CallbackInbox`.

The cursor holds the last inbox ``seq`` processed and the runs requested for events (``{"seq": N, "runs": [...]}``;
a plain number from older versions is read as the ``seq``). Every ``RunRequest`` carries a stable ``run_key``
(derived from the event's dedup key unless the mapping function sets one), so if the cursor is rolled back
or the daemon restarts before saving it, Dagster's run-key dedup keeps an event from launching twice. A run that
ends FAILURE or CANCELED is requested again (``RunWatch``, up to ``max_attempts`` runs), so a failed run does not
lose its callback.
"""

import json
import os
from collections.abc import Callable
from typing import Any

import dagster as dg

from dagster_labeling._dagster.sensors import DEFAULT_MAX_ATTEMPTS, RunWatch
from dagster_labeling.callbacks.inbox import CallbackInbox, InboxEvent

__all__ = ["build_callback_inbox_sensor", "default_run_key", "inbox_seq"]


def inbox_cursor(cursor: str | None) -> str:
    """The sensor's JSON cursor; an older plain-number cursor (the last ``seq``) is carried over."""
    if cursor and cursor.strip().isdigit():
        return json.dumps({"seq": int(cursor)})
    state = json.loads(cursor) if cursor else {}
    return json.dumps({**state, "seq": int(state.get("seq", 0))})


def inbox_seq(cursor: str | None) -> int:
    """The last inbox ``seq`` a cursor of :func:`build_callback_inbox_sensor` has processed."""
    return int(json.loads(inbox_cursor(cursor))["seq"])


def default_run_key(event: InboxEvent) -> str:
    """The run key used when the mapping function sets none: ``callback:<source>:<dedup_key>``."""
    return f"callback:{event.source}:{event.dedup_key}"


def build_callback_inbox_sensor(
    *,
    name: str,
    inbox_path: str,
    source: str,
    event_to_run_request: Callable[[InboxEvent], dg.RunRequest | None],
    target: Any = None,
    job: Any = None,
    max_events_per_tick: int = 100,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    minimum_interval_seconds: int = 30,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    description: str | None = None,
) -> dg.SensorDefinition:
    """Build a sensor turning stored callbacks of ``source`` into run requests.

    ``event_to_run_request`` returns a ``RunRequest`` for an event, or ``None`` to ignore it (the cursor
    still moves past it). No I/O happens here: the inbox is opened inside each tick. If the inbox file
    does not exist yet, the tick is skipped with a reason naming the path.

    Example::

        import dagster as dg
        from dagster_labeling.callbacks import build_callback_inbox_sensor

        @dg.op
        def handle(context) -> None: ...

        @dg.job
        def scale_task_done():
            handle()

        sensor = build_callback_inbox_sensor(
            name="scale_callbacks",
            inbox_path="/var/lib/labeling/inbox.db",
            source="scale",
            job=scale_task_done,
            event_to_run_request=lambda ev: dg.RunRequest(tags={"scale/task_id": ev.payload["task_id"]}),
        )
        defs = dg.Definitions(jobs=[scale_task_done], sensors=[sensor])
    """
    if max_events_per_tick <= 0:
        raise ValueError("max_events_per_tick must be positive")

    def _evaluate(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        cursor = inbox_cursor(context.cursor)
        after_seq = int(json.loads(cursor)["seq"])
        watch = RunWatch(context, name, cursor, max_attempts=max_attempts)
        if not os.path.exists(inbox_path):
            return dg.SkipReason(f"callback inbox {inbox_path} does not exist yet")
        events = CallbackInbox(inbox_path).read(after_seq=after_seq, limit=max_events_per_tick, source=source)
        run_requests: list[dg.RunRequest] = []
        for event in events:
            request = event_to_run_request(event)
            if request is None:
                continue
            if not request.run_key:
                request = request.with_replaced_attrs(run_key=default_run_key(event))
            run_requests.append(watch.request(request))
        last_seq = events[-1].seq if events else after_seq
        if events:
            context.log.info(
                f"{len(events)} {source} callback(s) seq {events[0].seq}..{last_seq}: "
                f"{len(run_requests)} run request(s)"
            )
        nothing = (f"{len(events)} {source} callback(s) mapped to no run" if events
                   else f"no new {source} callbacks after seq {after_seq}")
        return watch.sensor_result(json.dumps({"seq": last_seq}), run_requests, nothing=nothing)

    _evaluate.__name__ = name
    return dg.sensor(
        name=name,
        target=target,
        job=job,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=description or f"Launches runs for {source} callbacks stored in {inbox_path}.",
    )(_evaluate)
