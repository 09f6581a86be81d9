"""Scale ops (in process and with the multiprocess executor) and sensors, against the Scale emulator."""

import json
import os
import time
from typing import Any

import dagster as dg
import multiprocess_defs
import pandas as pd
import pytest

from dagster_labeling._dagster.config import RetryConfig
from dagster_labeling.callbacks import CallbackInbox
from dagster_labeling.callbacks.sensors import inbox_seq
from dagster_labeling.callbacks.sources import ScaleCallbackSource
from dagster_labeling.scale import (
    ScaleClient,
    ScaleResource,
    build_scale_batch_asset,
    build_scale_batch_completion_sensor,
    build_scale_task_callback_sensor,
    scale_collect_responses_op,
    scale_create_batch_op,
    scale_create_tasks_op,
    scale_finalize_batch_op,
    scale_wait_for_batch_op,
)
from dagster_labeling.scale.sensors import BATCH_TAG, TASK_BATCH_TAG, TASK_TAG
from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle

PROJECT = "sentiment"
STATIC = {"instruction": "Sentiment?", "attachment_type": "text", "categories": ["positive", "negative"]}
FAST_RETRY = RetryConfig(max_attempts=5, initial_backoff_seconds=0.001, max_backoff_seconds=0.01,
                         max_retry_after_seconds=0.01)
PARTS = dg.StaticPartitionsDefinition(["a", "b", "c"])


@pytest.fixture
def emu(scale_emulator: ScaleEmulatorHandle) -> ScaleEmulatorHandle:
    with ScaleClient(scale_emulator.api_key, base_url=scale_emulator.base_url) as client:
        client.create_project(PROJECT, "categorization")
    return scale_emulator


@pytest.fixture
def instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.ephemeral()


def resource(emu: ScaleEmulatorHandle) -> ScaleResource:
    return ScaleResource(api_key=emu.api_key, base_url=emu.base_url, retry=FAST_RETRY)


def frame(n: int, prefix: str = "r") -> pd.DataFrame:
    return pd.DataFrame({"id": [f"{prefix}{i}" for i in range(n)], "text": [f"text {prefix}{i}" for i in range(n)]})


def task_speed(emu: ScaleEmulatorHandle, seconds: float) -> None:
    """Simulated duration of tasks created from now on."""
    emu.state.task_duration_seconds = seconds
    emu.state.task_duration_jitter = 0.0


def wait_batch_completed(emu: ScaleEmulatorHandle, *names: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not all(emu.state.batches[n]["status"] == "completed" for n in names):
        assert time.monotonic() < deadline, {n: emu.state.batches[n]["status"] for n in names}
        time.sleep(0.05)


# -- ops ---------------------------------------------------------------------------------------------------------
@dg.op
def rows_op() -> pd.DataFrame:
    return frame(3)


@dg.job
def label_with_scale() -> None:
    submitted = scale_create_tasks_op(scale_create_batch_op(), rows_op())
    done = scale_wait_for_batch_op(scale_finalize_batch_op(submitted))
    scale_collect_responses_op(done)


OPS_CONFIG = {
    "ops": {
        "scale_create_batch_op": {"config": {"project": PROJECT, "batch_name": "ops_batch"}},
        "scale_create_tasks_op": {"config": {"task_type": "categorization", "row_key_column": "id",
                                             "payload_columns": {"attachment": "text"}, "static_payload": STATIC}},
        "scale_wait_for_batch_op": {"config": {"timeout_seconds": 30, "poll_interval_seconds": 0.05}},
    }
}


def test_ops_job_in_process(emu: ScaleEmulatorHandle) -> None:
    task_speed(emu, 0.0)
    result = label_with_scale.execute_in_process(run_config=OPS_CONFIG, resources={"scale": resource(emu)})
    assert result.success
    assert result.output_for_node("scale_create_batch_op") == "ops_batch"
    submissions = result.output_for_node("scale_create_tasks_op")
    assert submissions["row_key"].tolist() == ["r0", "r1", "r2"] and submissions["task_id"].notna().all()
    responses = result.output_for_node("scale_collect_responses_op")
    assert sorted(responses["row_key"]) == ["r0", "r1", "r2"]  # row keys, as in the responses asset
    assert responses["status"].tolist() == ["completed"] * 3
    assert set(responses["response.category"]) <= {"positive", "negative"}
    assert emu.state.batches["ops_batch"]["status"] == "completed"
    assert emu.state.task_count(batch="ops_batch") == 3

    again = label_with_scale.execute_in_process(run_config=OPS_CONFIG, resources={"scale": resource(emu)})
    assert again.success and emu.state.task_count() == 3  # the re-run reuses batch and tasks


def test_ops_wait_timeout_fails_the_step(emu: ScaleEmulatorHandle) -> None:
    task_speed(emu, 10_000.0)
    config = json.loads(json.dumps(OPS_CONFIG))
    config["ops"]["scale_wait_for_batch_op"]["config"]["timeout_seconds"] = 0.2
    result = label_with_scale.execute_in_process(run_config=config, resources={"scale": resource(emu)},
                                                 raise_on_error=False)
    assert not result.success
    [event] = result.get_step_failure_events()
    assert event.step_key == "scale_wait_for_batch_op"
    err = event.step_failure_data.error
    text = f"{err.message} {err.cause.message if err.cause else ''}"
    assert "timeout_seconds" in text


def test_multiprocess_executor(emu: ScaleEmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCALE_MP_BASE_URL", emu.base_url)
    monkeypatch.setenv("SCALE_MP_API_KEY", emu.api_key)
    # reconstructable() records the working directory; step processes import multiprocess_defs from there
    monkeypatch.chdir(os.path.dirname(os.path.abspath(multiprocess_defs.__file__)))
    with ScaleClient(emu.api_key, base_url=emu.base_url) as client:
        client.create_project(multiprocess_defs.PROJECT, "categorization")
    with dg.instance_for_test() as inst:
        job = dg.reconstructable(multiprocess_defs.define_scale_mp_job)
        with dg.execute_job(job, instance=inst) as result:
            assert result.success
            pids = {e.pid for e in result.all_events if e.is_step_start}
    assert len(pids) == 3 and os.getpid() not in pids  # one process per step
    assert emu.state.task_count(batch=multiprocess_defs.BATCH_NAME) == multiprocess_defs.ROWS
    assert emu.state.batches[multiprocess_defs.BATCH_NAME]["project"] == multiprocess_defs.PROJECT


# -- batch completion sensor -------------------------------------------------------------------------------------
def partitioned_assets() -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    @dg.asset(name="reviews", partitions_def=PARTS)
    def reviews(context) -> pd.DataFrame:
        return frame(2, context.partition_key)

    batch = build_scale_batch_asset(
        name="reviews_batch", upstream=reviews, project=PROJECT, task_type="categorization",
        row_key_column="id", payload_columns={"attachment": "text"}, static_payload=STATIC,
        partitions_def=PARTS, poll_interval_seconds=0.05, wait_timeout_seconds=30,
    )
    return reviews, batch


def materialize_partition(emu: ScaleEmulatorHandle, key: str, instance: dg.DagsterInstance | None = None,
                          run_config: Any = None) -> None:
    result = dg.materialize(list(partitioned_assets()), partition_key=key, instance=instance, run_config=run_config,
                            resources={"scale": resource(emu), "io_manager": dg.mem_io_manager})
    assert result.success


def completion_sensor(**kwargs: Any) -> dg.SensorDefinition:
    return build_scale_batch_completion_sensor(
        name="scale_done", project=PROJECT, target="reviews_labels", batch_asset=partitioned_assets()[1], **kwargs
    )


def tick(sensor: dg.SensorDefinition, emu: ScaleEmulatorHandle, instance: dg.DagsterInstance,
         cursor: str | None) -> dg.SensorResult:
    with dg.build_sensor_context(cursor=cursor, instance=instance, resources={"scale": resource(emu)}) as ctx:
        result = sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    return result


def test_completion_sensor_requests_completed_batches_once(emu: ScaleEmulatorHandle,
                                                          instance: dg.DagsterInstance) -> None:
    task_speed(emu, 0.0)
    materialize_partition(emu, "a")
    task_speed(emu, 10_000.0)
    materialize_partition(emu, "b")  # stays in progress
    wait_batch_completed(emu, "reviews_batch__a")
    sensor = completion_sensor()

    first = tick(sensor, emu, instance, None)
    [request] = first.run_requests or []
    assert request.run_key == "scale_done:reviews_batch__a"
    assert request.partition_key == "a"
    assert request.tags[BATCH_TAG] == "reviews_batch__a"
    cursor = json.loads(first.cursor or "")
    assert cursor["carry"] == [] and cursor["since"]

    second = tick(sensor, emu, instance, first.cursor)
    assert not second.run_requests  # the cursor moved past batch a
    assert second.skip_reason is not None

    # batch b completes later: the next tick requests it (and only it), with the same run-key scheme
    emu.state.complete_all()
    wait_batch_completed(emu, "reviews_batch__b")
    third = tick(sensor, emu, instance, second.cursor)
    assert [(r.run_key, r.partition_key) for r in third.run_requests or []] == [("scale_done:reviews_batch__b", "b")]
    assert json.loads(third.cursor or "")["since"] >= cursor["since"]


def test_completion_sensor_bounds_work_per_tick(emu: ScaleEmulatorHandle, instance: dg.DagsterInstance) -> None:
    task_speed(emu, 0.0)
    for key in ("a", "b", "c"):
        materialize_partition(emu, key)
    wait_batch_completed(emu, "reviews_batch__a", "reviews_batch__b", "reviews_batch__c")
    sensor = completion_sensor(max_batches_per_tick=2)
    first = tick(sensor, emu, instance, None)
    assert len(first.run_requests or []) == 2
    assert len(json.loads(first.cursor or "")["carry"]) == 1
    second = tick(sensor, emu, instance, first.cursor)
    keys = [r.partition_key for r in first.run_requests or []] + [r.partition_key for r in second.run_requests or []]
    assert sorted(keys) == ["a", "b", "c"]  # the carried batch comes next, none repeats
    assert json.loads(second.cursor or "")["carry"] == []


def test_completion_sensor_skips_batches_a_blocking_run_finished(emu: ScaleEmulatorHandle,
                                                                 instance: dg.DagsterInstance) -> None:
    task_speed(emu, 0.0)
    wait = {"ops": {"reviews_batch": {"config": {"wait_for_completion": True}}}}
    materialize_partition(emu, "a", instance=instance, run_config=wait)  # waited: SUCCEEDED in its metadata
    materialize_partition(emu, "b")  # handed to the sensor
    wait_batch_completed(emu, "reviews_batch__a", "reviews_batch__b")
    result = tick(completion_sensor(), emu, instance, None)
    assert [r.partition_key for r in result.run_requests or []] == ["b"]


def test_a_handed_off_rerun_of_a_complete_batch_leaves_it_to_the_sensor(emu: ScaleEmulatorHandle,
                                                                        instance: dg.DagsterInstance) -> None:
    """A hand-off re-run that finds its batch already complete (labelers finished) records SUCCEEDED but did not
    wait: the sensor must still request the responses, or they are never collected."""
    task_speed(emu, 0.0)
    materialize_partition(emu, "a", instance=instance)
    wait_batch_completed(emu, "reviews_batch__a")
    materialize_partition(emu, "a", instance=instance)  # the re-run sees the batch complete, without waiting
    meta = instance.get_latest_materialization_event(dg.AssetKey("reviews_batch")).asset_materialization.metadata
    assert meta["scale/batch_state"].value == "SUCCEEDED" and meta["scale/waited"].value is False
    result = tick(completion_sensor(), emu, instance, None)
    assert [r.partition_key for r in result.run_requests or []] == ["a"]


def test_completion_sensor_nothing_for_incomplete_batches(emu: ScaleEmulatorHandle,
                                                          instance: dg.DagsterInstance) -> None:
    task_speed(emu, 10_000.0)
    materialize_partition(emu, "a")
    result = tick(completion_sensor(), emu, instance, None)
    assert not result.run_requests and result.skip_reason is not None
    assert json.loads(result.cursor or "")["since"]


# -- task callback sensor ----------------------------------------------------------------------------------------
def callback_body(task_id: str, batch: str, category: str) -> dict[str, Any]:
    task = {"task_id": task_id, "batch": batch, "status": "completed", "response": {"category": category}}
    return {"task": task, "response": {"category": category}, "task_id": task_id}


def test_task_callback_sensor(tmp_path: Any, instance: dg.DagsterInstance) -> None:
    path = str(tmp_path / "inbox.db")
    inbox = CallbackInbox(path)
    source = ScaleCallbackSource("cb-key")
    bodies = [callback_body("t1", "b1", "positive"), callback_body("t2", "b1", "negative")]
    keys = [source.dedup_key({}, b) for b in bodies]
    for key, body in zip(keys, bodies, strict=True):
        assert inbox.add("scale", key, body) is not None
    sensor = build_scale_task_callback_sensor(name="scale_tasks", inbox_path=path, target="reviews_labels")

    def run_tick(cursor: str | None) -> Any:
        with dg.build_sensor_context(cursor=cursor, instance=instance) as ctx:
            return sensor(ctx)

    first = run_tick(None)
    requests = first.run_requests
    assert [r.run_key for r in requests] == [f"callback:scale:{k}" for k in keys]
    assert [r.tags[TASK_TAG] for r in requests] == ["t1", "t2"]
    assert all(r.tags[TASK_BATCH_TAG] == "b1" for r in requests)
    assert inbox_seq(first.cursor) == 2

    # Scale redelivers t1's callback: the inbox keeps one event, and no new run is requested
    assert inbox.add("scale", source.dedup_key({}, bodies[0]), bodies[0]) is None
    assert inbox.count("scale") == 2
    second = run_tick(first.cursor)
    assert not getattr(second, "run_requests", None)
    # a rolled-back cursor yields the same run keys (Dagster dedups on them)
    assert [r.run_key for r in run_tick(None).run_requests] == [r.run_key for r in requests]

    # a new callback is picked up from the cursor
    third_body = callback_body("t3", "b2", "positive")
    inbox.add("scale", source.dedup_key({}, third_body), third_body)
    third = run_tick(first.cursor)
    assert [r.tags[TASK_TAG] for r in third.run_requests] == ["t3"] and inbox_seq(third.cursor) == 3


def test_task_callback_sensor_custom_mapping(tmp_path: Any, instance: dg.DagsterInstance) -> None:
    path = str(tmp_path / "inbox.db")
    inbox = CallbackInbox(path)
    for i, cat in enumerate(["positive", "negative", "positive"]):
        body = callback_body(f"t{i}", "b1", cat)
        inbox.add("scale", f"t{i}:x", body)
    sensor = build_scale_task_callback_sensor(
        name="scale_tasks", inbox_path=path, target="reviews_labels",
        run_request_for_task=lambda t: (dg.RunRequest(run_key=f"neg:{t.task_id}")
                                        if (t.response or {}).get("category") == "negative" else None),
    )
    with dg.build_sensor_context(cursor=None, instance=instance) as ctx:
        result = sensor(ctx)
    assert [r.run_key for r in result.run_requests] == ["neg:t1"]
    assert inbox_seq(result.cursor) == 3  # ignored events are consumed too
