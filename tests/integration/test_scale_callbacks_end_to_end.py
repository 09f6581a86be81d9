"""Scale → callbacks receiver → durable inbox → Dagster sensor, across a receiver restart."""

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import httpx

from dagster_labeling.callbacks import CallbackInbox, ScaleCallbackSource, build_callback_app
from dagster_labeling.scale import ScaleClient, build_scale_task_callback_sensor
from dagster_labeling.testing import EmulatorServer, serve_in_thread

CALLBACK_KEY = "live-callback-key-for-e2e"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def receiver(inbox_path: Path, port: int) -> Iterator[str]:
    app = build_callback_app(CallbackInbox(inbox_path), [ScaleCallbackSource(CALLBACK_KEY)])
    with serve_in_thread(app, port=port) as url:
        yield f"{url}/callbacks/scale"


def _wait_for(predicate, seconds: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


@dg.op
def noop() -> None:
    pass


@dg.job
def task_job() -> None:
    noop()


def test_callbacks_survive_restart_and_drive_the_sensor_exactly_once(tmp_path: Path) -> None:
    inbox_path = tmp_path / "inbox.db"
    port = _free_port()
    options = {"scale": {"callback_auth_key": CALLBACK_KEY, "task_duration_seconds": 0.2}}
    with EmulatorServer(port=0, platform_options=options) as server:
        scale_state = server.platform("scale")
        with receiver(inbox_path, port) as callback_url, ScaleClient(
            scale_state.api_key, base_url=server.platform_url("scale") + "/v1"
        ) as scale:
            scale.create_project("cb", "categorization")
            scale.create_batch("cb", "cb-batch")
            rows = [(f"r{i}", {"attachment": f"t{i}", "attachment_type": "text", "categories": ["a", "b"],
                               "callback_url": callback_url}) for i in range(5)]
            created = scale.create_tasks("categorization", rows, batch="cb-batch", project="cb")
            assert len(created.created) == 5
            _wait_for(lambda: CallbackInbox(inbox_path).count() == 5)
            _wait_for(lambda: all(scale.get_task(t.task_id).callback_succeeded
                                  for t in created.created.values()))
            first = CallbackInbox(inbox_path).read(after_seq=0, limit=10)

        # The receiver restarts; Scale redelivers one callback it thinks failed: still 5 events.
        with receiver(inbox_path, port) as callback_url:
            redelivered = first[0].payload
            answer = httpx.post(callback_url, content=json.dumps(redelivered),
                                headers={"scale-callback-auth": CALLBACK_KEY})
            assert answer.status_code == 200 and answer.json()["duplicate"] is True
            assert httpx.post(callback_url, content=json.dumps(redelivered),
                              headers={"scale-callback-auth": "wrong"}).status_code == 401
        assert CallbackInbox(inbox_path).count() == 5

    sensor = build_scale_task_callback_sensor(name="scale_tasks", inbox_path=str(inbox_path), job=task_job,
                                              max_events_per_tick=3)
    instance = dg.DagsterInstance.ephemeral()
    run_keys: list[str] = []
    cursor = None
    for _ in range(3):
        with dg.build_sensor_context(cursor=cursor, instance=instance) as ctx:
            tick = sensor(ctx)
        if isinstance(tick, dg.SkipReason):
            break  # nothing new after the cursor
        run_keys += [r.run_key for r in tick.run_requests or [] if r.run_key]
        cursor = tick.cursor
    assert len(run_keys) == 5 and len(set(run_keys)) == 5
    task_ids = {e.payload["task_id"] for e in first}
    # A daemon that lost its cursor replays the same run keys, so Dagster launches nothing twice.
    with dg.build_sensor_context(cursor=None, instance=instance) as ctx:
        replay = sensor(ctx)
    assert [r.run_key for r in replay.run_requests][:3] == run_keys[:3]
    assert {r.tags["dagster-labeling/scale-task"] for r in replay.run_requests} <= task_ids
