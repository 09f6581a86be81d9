import dagster as dg
import pytest

from dagster_labeling.callbacks import CallbackInbox, InboxEvent, build_callback_inbox_sensor, default_run_key
from dagster_labeling.callbacks.sensors import inbox_seq


@dg.op
def handle_callback() -> None:
    pass


@dg.job
def callback_job() -> None:
    handle_callback()


def to_request(event: InboxEvent) -> dg.RunRequest | None:
    if event.payload.get("skip"):
        return None
    return dg.RunRequest(tags={"scale/task_id": event.payload["task_id"]})


def make_sensor(inbox_path, **kwargs) -> dg.SensorDefinition:
    return build_callback_inbox_sensor(
        name="scale_callbacks",
        inbox_path=str(inbox_path),
        source="scale",
        event_to_run_request=to_request,
        job=callback_job,
        **kwargs,
    )


def tick(sensor: dg.SensorDefinition, cursor: str | None, instance: dg.DagsterInstance):
    return sensor(dg.build_sensor_context(cursor=cursor, instance=instance))


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_definition_time_makes_no_io(tmp_path):
    path = tmp_path / "nested" / "inbox.db"
    sensor = make_sensor(path, minimum_interval_seconds=7, default_status=dg.DefaultSensorStatus.RUNNING)
    assert not path.exists() and not path.parent.exists()
    assert sensor.name == "scale_callbacks"
    assert sensor.minimum_interval_seconds == 7
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.job_name == "callback_job"
    dg.Definitions.validate_loadable(dg.Definitions(jobs=[callback_job], sensors=[sensor]))
    assert not path.parent.exists()


def test_missing_inbox_skips_without_creating_it(tmp_path, instance):
    path = tmp_path / "inbox.db"
    result = tick(make_sensor(path), None, instance)
    assert isinstance(result, dg.SkipReason)
    assert "does not exist" in (result.skip_message or "")
    assert not path.exists()


def test_empty_inbox_skips(inbox, inbox_path, instance):
    inbox.add("other", "o1", {"task_id": "x"})  # another source's events are not ours
    result = tick(make_sensor(inbox_path), None, instance)
    assert not result.run_requests and "no new scale callbacks" in result.skip_reason.skip_message


FAILS = {"left": 0}


@dg.op
def flaky_handle() -> None:
    if FAILS["left"] > 0:
        FAILS["left"] -= 1
        raise RuntimeError("the callback's task could not be fetched")


@dg.job
def flaky_job() -> None:
    flaky_handle()


def test_a_callback_whose_run_failed_is_requested_again(inbox, inbox_path, instance):
    """A sensor whose run fails must not lose its event: the next tick requests it again, once, until success."""
    sensor = build_callback_inbox_sensor(name="scale_callbacks", inbox_path=str(inbox_path), source="scale",
                                         event_to_run_request=to_request, job=flaky_job, max_attempts=3)
    inbox.add("scale", "t1:h", {"task_id": "t1"})
    first = tick(sensor, None, instance)
    [request] = first.run_requests
    FAILS["left"] = 1
    failed = flaky_job.execute_in_process(instance=instance, tags=request.tags, raise_on_error=False)
    assert not failed.success
    second = tick(sensor, first.cursor, instance)  # nothing new in the inbox, but the event's run failed
    [again] = second.run_requests
    assert again.run_key == f"{request.run_key}:attempt-2" and again.tags["scale/task_id"] == "t1"
    assert inbox_seq(second.cursor) == inbox_seq(first.cursor) == 1
    assert flaky_job.execute_in_process(instance=instance, tags=again.tags).success
    third = tick(sensor, second.cursor, instance)
    assert not third.run_requests  # succeeded: forgotten, not requested a third time


def test_an_older_plain_number_cursor_is_carried_over(inbox, inbox_path, instance):
    for i in range(3):
        inbox.add("scale", f"t{i}:h", {"task_id": f"t{i}"})
    result = tick(make_sensor(inbox_path), "2", instance)  # the cursor format before run watching
    assert [r.tags["scale/task_id"] for r in result.run_requests] == ["t2"] and inbox_seq(result.cursor) == 3


def test_ticks_drain_in_order_bounded_with_stable_run_keys(inbox, inbox_path, instance):
    for i in range(5):
        inbox.add("scale", f"t{i}:h", {"task_id": f"t{i}"})
    inbox.add("other", "o1", {"task_id": "o"})
    inbox.add("scale", "t5:h", {"task_id": "t5", "skip": True})
    sensor = make_sensor(inbox_path, max_events_per_tick=2)

    r1 = tick(sensor, None, instance)
    assert isinstance(r1, dg.SensorResult)
    assert [rr.tags["scale/task_id"] for rr in r1.run_requests] == ["t0", "t1"]
    assert [rr.run_key for rr in r1.run_requests] == ["callback:scale:t0:h", "callback:scale:t1:h"]
    assert inbox_seq(r1.cursor) == 2

    r2 = tick(sensor, r1.cursor, instance)
    assert [rr.run_key for rr in r2.run_requests] == ["callback:scale:t2:h", "callback:scale:t3:h"]
    assert inbox_seq(r2.cursor) == 4

    r3 = tick(sensor, r2.cursor, instance)
    # seq 5 = t4, seq 6 = another source (not read), seq 7 = skipped by the mapper
    assert [rr.run_key for rr in r3.run_requests] == ["callback:scale:t4:h"]
    assert inbox_seq(r3.cursor) == 7

    r4 = tick(sensor, r3.cursor, instance)
    assert not r4.run_requests and r4.skip_reason is not None


def test_events_mapped_to_nothing_still_advance_the_cursor(inbox, inbox_path, instance):
    inbox.add("scale", "a", {"task_id": "a", "skip": True})
    result = tick(make_sensor(inbox_path), None, instance)
    assert isinstance(result, dg.SensorResult)
    assert result.run_requests == [] and inbox_seq(result.cursor) == 1
    after = tick(make_sensor(inbox_path), "1", instance)
    assert not after.run_requests and after.skip_reason is not None


def test_restart_with_old_cursor_yields_the_same_run_keys(inbox, inbox_path, instance):
    for i in range(3):
        inbox.add("scale", f"t{i}:h", {"task_id": f"t{i}"})
    first = tick(make_sensor(inbox_path), None, instance)
    # Daemon restarts before saving the cursor: a brand-new sensor and inbox object, the old cursor.
    inbox.add("scale", "t3:h", {"task_id": "t3"})
    again = tick(make_sensor(inbox_path), None, instance)
    keys_first = [rr.run_key for rr in first.run_requests]
    keys_again = [rr.run_key for rr in again.run_requests]
    assert keys_again[:3] == keys_first
    assert keys_again[3] == "callback:scale:t3:h"
    assert inbox_seq(again.cursor) == 4


def test_explicit_run_key_from_the_mapper_is_kept(inbox, inbox_path, instance):
    inbox.add("scale", "t0:h", {"task_id": "t0"})
    sensor = build_callback_inbox_sensor(
        name="s",
        inbox_path=str(inbox_path),
        source="scale",
        event_to_run_request=lambda ev: dg.RunRequest(run_key=f"mine-{ev.seq}"),
        target=callback_job,
    )
    result = tick(sensor, None, instance)
    assert [rr.run_key for rr in result.run_requests] == ["mine-1"]


def test_default_run_key():
    from datetime import datetime, timezone

    ev = InboxEvent(seq=3, source="scale", dedup_key="abc:1", received_at=datetime.now(timezone.utc), payload={})
    assert default_run_key(ev) == "callback:scale:abc:1"


def test_evaluate_tick_through_definitions_targets_the_job(tmp_path):
    path = tmp_path / "inbox.db"
    CallbackInbox(path).add("scale", "t0:h", {"task_id": "t0"})
    sensor = make_sensor(path)
    defs = dg.Definitions(jobs=[callback_job], sensors=[sensor])
    with dg.instance_for_test() as instance:
        data = sensor.evaluate_tick(dg.build_sensor_context(cursor=None, instance=instance, definitions=defs))
    [rr] = data.run_requests
    assert rr.run_key == "callback:scale:t0:h"
    assert rr.job_name in (None, "callback_job")
    assert inbox_seq(data.cursor) == 1
