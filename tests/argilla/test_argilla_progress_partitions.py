"""The progress sensor on a partitioned target: one run per partition whose records crossed the threshold, each
with its partition key, a real run of the target that succeeds; a failed run is requested again."""

import dagster as dg
import pandas as pd
import pytest

from dagster_labeling._dagster.sensors import RUN_ATTEMPT_TAG
from dagster_labeling.argilla import (
    ArgillaClient,
    ArgillaResource,
    RecordMapping,
    build_argilla_annotations_asset,
    build_argilla_dataset_asset,
    build_argilla_progress_sensor,
)
from dagster_labeling.argilla.ids import in_partition
from dagster_labeling.testing.pytest_plugin import ArgillaEmulatorHandle

from .argilla_helpers import simple_settings

DAYS = ["2026-11-01", "2026-11-02", "2026-11-03"]
daily = dg.DailyPartitionsDefinition(start_date=DAYS[0], end_date="2026-11-04")


@dg.asset(partitions_def=daily)
def doubtful(context: dg.AssetExecutionContext) -> pd.DataFrame:
    day = context.partition_key
    return pd.DataFrame({"id": [1, 2, 3], "prompt": [f"{day} q{i}" for i in range(3)], "answer": ["x", "y", "z"]})


queue = build_argilla_dataset_asset(
    name="queue", upstream=doubtful, dataset_name="review-queue", settings=simple_settings(),
    mapping=RecordMapping(fields={"prompt": "prompt", "answer": "answer"}, key_column="id"))
reviewed = build_argilla_annotations_asset(name="reviewed", dataset_name="review-queue", dataset_asset=queue,
                                           submitted_only=True)


@pytest.fixture
def resource(argilla_emulator: ArgillaEmulatorHandle) -> ArgillaResource:
    argilla_emulator.state.auto_annotate = False
    return ArgillaResource(api_key=argilla_emulator.api_key, api_url=argilla_emulator.api_url)


@pytest.fixture
def instance(resource: ArgillaResource) -> dg.DagsterInstance:
    """An instance holding the review queue's three days of records, none reviewed."""
    inst = dg.DagsterInstance.ephemeral()
    for day in DAYS:
        assert dg.materialize([doubtful, queue], partition_key=day, instance=inst,
                              resources={"argilla": resource, "io_manager": dg.mem_io_manager}).success
    return inst


def review(resource: ArgillaResource, day: str, count: int) -> None:
    """Submit a response to the first ``count`` records of ``day`` (one response completes a record)."""
    with ArgillaClient(resource.api_key, api_url=resource.api_url) as client:
        dataset = client.get_dataset("review-queue")
        assert dataset is not None
        records = sorted((r for r in client.list_records(dataset.id) if in_partition(r.external_id, day)),
                         key=lambda r: r.external_id or "")
        for record in records[:count]:
            if record.status.value != "completed":
                client.add_response(record.id, {"quality": 4, "topic": "math"})


def tick(sensor: dg.SensorDefinition, resource: ArgillaResource, instance: dg.DagsterInstance,
         cursor: str | None) -> dg.SensorResult:
    with dg.build_sensor_context(resources={"argilla": resource}, instance=instance, cursor=cursor) as ctx:
        result = sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    return result


def run(request: dg.RunRequest, resource: ArgillaResource, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """What the daemon would launch for ``request``: a run of the sensor's target in the requested partition."""
    return dg.materialize([reviewed], partition_key=request.partition_key, tags=request.tags, instance=instance,
                          resources={"argilla": resource}, raise_on_error=False)


def test_one_run_per_completed_partition_with_its_key_and_the_run_succeeds(resource, instance) -> None:
    sensor = build_argilla_progress_sensor(name="review_done", dataset_name="review-queue", threshold=1.0,
                                           target=reviewed)
    review(resource, DAYS[0], 3)
    review(resource, DAYS[1], 2)
    first = tick(sensor, resource, instance, None)
    assert [r.partition_key for r in first.run_requests] == [DAYS[0]]
    request = first.run_requests[0]
    assert DAYS[0] in (request.run_key or "") and request.run_key.endswith(":3/3")
    result = run(request, resource, instance)
    assert result.success
    frame = result.output_for_node("reviewed")
    assert len(frame) == 3 and set(frame["record_status"]) == {"completed"}
    assert all(in_partition(e, DAYS[0]) for e in frame["external_id"])
    again = tick(sensor, resource, instance, first.cursor)
    assert not again.run_requests and again.skip_reason  # reported once, the run succeeded
    review(resource, DAYS[1], 3)
    second = tick(sensor, resource, instance, again.cursor)
    assert [r.partition_key for r in second.run_requests] == [DAYS[1]]
    assert run(second.run_requests[0], resource, instance).success
    assert not tick(sensor, resource, instance, second.cursor).run_requests


def test_a_partition_below_the_threshold_gets_no_run(resource, instance) -> None:
    """7 of 9 records completed cross 75% for the whole dataset, but the third day (1 of 3) has not."""
    sensor = build_argilla_progress_sensor(name="mostly_done", dataset_name="review-queue", threshold=0.75,
                                           target=reviewed)
    review(resource, DAYS[0], 3)
    review(resource, DAYS[1], 3)
    review(resource, DAYS[2], 1)
    result = tick(sensor, resource, instance, None)
    assert sorted(r.partition_key or "" for r in result.run_requests) == DAYS[:2]
    assert all(run(r, resource, instance).success for r in result.run_requests)


def test_nothing_completed_requests_nothing(resource, instance) -> None:
    sensor = build_argilla_progress_sensor(name="review_done", dataset_name="review-queue", target=reviewed)
    result = tick(sensor, resource, instance, None)
    assert not result.run_requests and result.skip_reason is not None
    assert "0/9 records completed" in (result.skip_reason.skip_message or "")


def test_a_failed_partition_run_is_requested_again(resource, instance, argilla_emulator) -> None:
    sensor = build_argilla_progress_sensor(name="review_done", dataset_name="review-queue", target=reviewed,
                                           max_attempts=2)
    review(resource, DAYS[0], 3)
    first = tick(sensor, resource, instance, None)
    [request] = first.run_requests
    assert request.partition_key == DAYS[0]
    broken = ArgillaResource(api_key="wrong-key", api_url=argilla_emulator.api_url)
    assert not dg.materialize([reviewed], partition_key=request.partition_key, tags=request.tags,
                              instance=instance, resources={"argilla": broken}, raise_on_error=False).success
    retry = tick(sensor, resource, instance, first.cursor)
    [again] = retry.run_requests
    assert again.partition_key == DAYS[0] and again.run_key == f"{request.run_key}:attempt-2"
    assert again.tags[RUN_ATTEMPT_TAG] == "2"
    assert not dg.materialize([reviewed], partition_key=again.partition_key, tags=again.tags,
                              instance=instance, resources={"argilla": broken}, raise_on_error=False).success
    gave_up = tick(sensor, resource, instance, retry.cursor)  # max_attempts=2: no third run
    assert not gave_up.run_requests and gave_up.skip_reason is not None
    assert "Gave up on 1 run(s) after 2 attempt(s)" in (gave_up.skip_reason.skip_message or "")
    assert not tick(sensor, resource, instance, gave_up.cursor).run_requests


def test_unpartitioned_target_keeps_one_run_for_the_dataset_and_retries_it(resource, instance) -> None:
    everything = build_argilla_annotations_asset(name="everything", dataset_name="review-queue")
    sensor = build_argilla_progress_sensor(name="all_done", dataset_name="review-queue", target=everything)
    for day in DAYS:
        review(resource, day, 3)
    first = tick(sensor, resource, instance, None)
    [request] = first.run_requests
    assert request.partition_key is None and request.run_key.endswith(":9/9")
    failed = dg.materialize([everything], tags=request.tags, instance=instance, raise_on_error=False,
                            resources={"argilla": ArgillaResource(api_key="wrong", api_url=resource.api_url)})
    assert not failed.success
    retry = tick(sensor, resource, instance, first.cursor)
    [again] = retry.run_requests
    assert again.partition_key is None and again.run_key == f"{request.run_key}:attempt-2"
    assert dg.materialize([everything], tags=again.tags, instance=instance, resources={"argilla": resource}).success
    assert not tick(sensor, resource, instance, retry.cursor).run_requests  # the retry succeeded: watched no more


def test_the_tick_resolves_against_definitions_as_the_daemon_does(resource, instance) -> None:
    """The requests pass Dagster's own tick evaluation (partition key valid for the target's job)."""
    sensor = build_argilla_progress_sensor(name="review_done", dataset_name="review-queue", target=reviewed)
    defs = dg.Definitions(assets=[doubtful, queue, reviewed], sensors=[sensor], resources={"argilla": resource})
    review(resource, DAYS[1], 3)
    with dg.build_sensor_context(instance=instance, resources={"argilla": resource}, definitions=defs) as ctx:
        data = defs.resolve_sensor_def("review_done").evaluate_tick(ctx)
    [request] = data.run_requests or []
    assert request.partition_key == DAYS[1] and request.tags[RUN_ATTEMPT_TAG] == "1"
