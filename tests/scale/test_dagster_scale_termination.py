"""A Dagster run terminated while the batch asset waits cancels the batch's pending tasks on Scale."""

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
import scale_terminated_run as terminated_run
from dagster._core.errors import DagsterExecutionInterruptedError  # what Dagster raises in a terminated step

from dagster_labeling._core import JobHandle
from dagster_labeling._dagster.config import RetryConfig
from dagster_labeling.scale import (
    ScaleClient,
    ScaleResource,
    build_scale_batch_asset,
    scale_create_batch_op,
    scale_create_tasks_op,
    scale_finalize_batch_op,
    scale_wait_for_batch_op,
)
from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle

STATIC = {"instruction": "Sentiment?", "attachment_type": "text", "categories": ["positive", "negative"]}


@pytest.mark.parametrize("cancel_on_termination", [True, False])
def test_terminated_wait_cancels_pending_tasks(
    scale_emulator: ScaleEmulatorHandle, monkeypatch: pytest.MonkeyPatch, cancel_on_termination: bool
) -> None:
    scale_emulator.state.task_duration_seconds = 3600.0  # humans take their time: nothing completes
    with ScaleClient(scale_emulator.api_key, base_url=scale_emulator.base_url) as client:
        client.create_project("p", "categorization")

    @dg.asset
    def rows() -> pd.DataFrame:
        return pd.DataFrame({"id": ["a", "b", "c"], "text": ["x", "y", "z"]})

    batch = build_scale_batch_asset(
        name="terminated_batch", upstream=rows, project="p", task_type="categorization", row_key_column="id",
        payload_columns={"attachment": "text"}, static_payload=STATIC, wait_for_completion=True,
        poll_interval_seconds=0.01, cancel_on_termination=cancel_on_termination,
    )
    polls: list[float] = []

    def terminate_on_second_poll(self: Any, seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:
            raise DagsterExecutionInterruptedError()  # the run was terminated from the UI

    monkeypatch.setattr(JobHandle, "sleep", terminate_on_second_poll)
    resource = ScaleResource(api_key=scale_emulator.api_key, base_url=scale_emulator.base_url,
                             retry=RetryConfig(initial_backoff_seconds=0.001, max_backoff_seconds=0.01))
    with pytest.raises(DagsterExecutionInterruptedError):
        dg.materialize([rows, batch], resources={"scale": resource}, raise_on_error=True)

    with ScaleClient(scale_emulator.api_key, base_url=scale_emulator.base_url) as client:
        statuses = sorted(t.status or "" for t in client.get_tasks(batch="terminated_batch"))
    assert statuses == (["canceled"] * 3 if cancel_on_termination else ["pending"] * 3)


def test_a_terminated_run_cancels_every_pending_task_and_logs_the_outcome(
    scale_emulator: ScaleEmulatorHandle, tmp_path: Path
) -> None:
    """A real run (its own process) is sent the interrupt Dagster's termination sends while the batch asset waits:
    no task is left pending, and the run's log says how many were canceled and how many had finished."""
    rows, finished = 300, 40
    state = scale_emulator.state
    state.task_duration_seconds = 3600.0
    with ScaleClient(scale_emulator.api_key, base_url=scale_emulator.base_url) as client:
        client.create_project(terminated_run.PROJECT, "categorization")
    run = subprocess.Popen([sys.executable, str(Path(terminated_run.__file__)), scale_emulator.base_url,
                            scale_emulator.api_key, str(tmp_path), str(rows)])
    try:
        status_path = f"/v1/batches/{terminated_run.BATCH}/status"
        deadline = time.monotonic() + 120
        while len(scale_emulator.request_log.entries("GET", status_path)) < 2:  # created, finalized, waiting
            assert run.poll() is None and time.monotonic() < deadline, "the run never started waiting"
            time.sleep(0.05)
        ids = [t["task_id"] for t in state.tasks.values() if t["batch"] == terminated_run.BATCH]
        assert len(ids) == rows
        state.complete(*ids[:finished])  # labelers finished some before the run was terminated
        with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:  # as the UI's "Terminate" does:
            instance.report_run_canceling(instance.get_run_records()[0].dagster_run)  # mark the run canceling,
        run.send_signal(signal.SIGINT)  # then interrupt its run worker
        assert run.wait(timeout=120) == 0
    finally:
        if run.poll() is None:
            run.kill()
    assert state.task_count(batch=terminated_run.BATCH, status="pending") == 0
    assert state.task_count(batch=terminated_run.BATCH, status="canceled") == rows - finished
    with dg.DagsterInstance.local_temp(str(tmp_path)) as instance:
        (record,) = instance.get_run_records()
        messages = [entry.user_message for entry in instance.all_logs(record.dagster_run.run_id)]
    assert record.dagster_run.status is dg.DagsterRunStatus.CANCELED
    expected = (f"canceled Scale batch {terminated_run.BATCH}: {rows - finished} canceled, "
                f"{finished} had already finished")
    assert any(expected in message for message in messages), [m for m in messages if "Scale batch" in m]


@dg.op
def five_rows() -> pd.DataFrame:
    return pd.DataFrame({"id": [f"o{i}" for i in range(5)], "text": [f"text {i}" for i in range(5)]})


@dg.job
def ops_waiting_for_a_batch() -> None:
    scale_wait_for_batch_op(scale_finalize_batch_op(scale_create_tasks_op(scale_create_batch_op(), five_rows())))


def test_a_terminated_wait_op_cancels_every_pending_task_and_logs_the_outcome(
    scale_emulator: ScaleEmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = scale_emulator.state
    state.task_duration_seconds = 3600.0
    with ScaleClient(scale_emulator.api_key, base_url=scale_emulator.base_url) as client:
        client.create_project("p", "categorization")

    def finish_two_then_terminate(self: Any, seconds: float) -> None:
        state.complete(*[t["task_id"] for t in state.tasks.values()][:2])
        raise DagsterExecutionInterruptedError()  # the run was terminated while the op waited

    monkeypatch.setattr(JobHandle, "sleep", finish_two_then_terminate)
    config = {"ops": {
        "scale_create_batch_op": {"config": {"project": "p", "batch_name": "ops_terminated"}},
        "scale_create_tasks_op": {"config": {"task_type": "categorization", "row_key_column": "id",
                                             "payload_columns": {"attachment": "text"}, "static_payload": STATIC}},
        "scale_wait_for_batch_op": {"config": {"poll_interval_seconds": 0.01}},
    }}
    instance = dg.DagsterInstance.ephemeral()
    resource = ScaleResource(api_key=scale_emulator.api_key, base_url=scale_emulator.base_url)
    with pytest.raises(DagsterExecutionInterruptedError):
        ops_waiting_for_a_batch.execute_in_process(run_config=config, resources={"scale": resource},
                                                   instance=instance)
    assert state.task_count(batch="ops_terminated", status="pending") == 0
    assert state.task_count(batch="ops_terminated", status="canceled") == 3
    messages = [e.user_message for e in instance.all_logs(instance.get_run_records()[0].dagster_run.run_id)]
    assert any("canceled Scale batch ops_terminated: 3 canceled, 2 had already finished" in m for m in messages)
