"""The Scale batch completion sensor does not lose a completed batch when the run it requested fails: the next
tick requests it again (a new run_key, same partition), until it succeeds."""

import dagster as dg
import pytest
from test_dagster_scale_ops_sensors import (  # the module's emulator helpers (tests/scale is on sys.path)
    PARTS,
    PROJECT,
    completion_sensor,
    materialize_partition,
    task_speed,
    tick,
    wait_batch_completed,
)

from dagster_labeling._dagster.sensors import RUN_ATTEMPT_TAG
from dagster_labeling.scale import ScaleClient
from dagster_labeling.scale.sensors import BATCH_TAG
from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle

FAILURES = {"left": 0}


@pytest.fixture
def emu(scale_emulator: ScaleEmulatorHandle) -> ScaleEmulatorHandle:
    with ScaleClient(scale_emulator.api_key, base_url=scale_emulator.base_url) as client:
        client.create_project(PROJECT, "categorization")
    return scale_emulator


@pytest.fixture
def instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.ephemeral()


@dg.asset(name="reviews_labels", partitions_def=PARTS)
def reviews_labels() -> None:
    """The sensor's target; fails while FAILURES["left"] > 0."""
    if FAILURES["left"] > 0:
        FAILURES["left"] -= 1
        raise RuntimeError("the labels could not be fetched")


def launch(request: dg.RunRequest, instance: dg.DagsterInstance) -> bool:
    return dg.materialize([reviews_labels], partition_key=request.partition_key, tags=request.tags,
                          instance=instance, raise_on_error=False).success


def test_a_failed_batch_run_is_requested_again(emu: ScaleEmulatorHandle, instance: dg.DagsterInstance) -> None:
    task_speed(emu, 0.0)
    materialize_partition(emu, "a")
    wait_batch_completed(emu, "reviews_batch__a")
    sensor = completion_sensor()
    first = tick(sensor, emu, instance, None)
    [request] = first.run_requests or []
    assert request.partition_key == "a" and request.run_key == "scale_done:reviews_batch__a"
    FAILURES["left"] = 1
    assert not launch(request, instance)
    second = tick(sensor, emu, instance, first.cursor)
    [again] = second.run_requests or []
    assert again.run_key == "scale_done:reviews_batch__a:attempt-2" and again.partition_key == "a"
    assert again.tags[BATCH_TAG] == "reviews_batch__a" and again.tags[RUN_ATTEMPT_TAG] == "2"
    assert launch(again, instance)
    assert not tick(sensor, emu, instance, second.cursor).run_requests
