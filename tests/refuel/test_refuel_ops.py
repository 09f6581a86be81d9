"""Refuel ops in a real @dg.job against the emulator: upload, run the task (wait or hand off), fetch, export;
a re-run creates nothing twice, bad rows fail before any request, a terminated wait cancels the task run."""

from typing import Any

import dagster as dg
import pandas as pd
import pytest
from dagster._core.errors import DagsterExecutionInterruptedError  # what Dagster raises in a terminated step
from refuel_helpers import SENTIMENT, reviews_frame

from dagster_labeling._core import JobHandle
from dagster_labeling._dagster.config import RetryConfig
from dagster_labeling.refuel import (
    RefuelResource,
    refuel_export_op,
    refuel_fetch_labels_op,
    refuel_run_task_op,
    refuel_upload_dataset_op,
)
from dagster_labeling.testing.pytest_plugin import RefuelEmulatorHandle

ROWS = 12
TASK = {"task": "sent", "task_context": "You label reviews.", "task_fields": [SENTIMENT],
        "poll_interval_seconds": 0.02, "wait_timeout_seconds": 30}


def resource(emu: RefuelEmulatorHandle) -> RefuelResource:
    return RefuelResource(api_key=emu.api_key, project=emu.project, base_url=emu.base_url, settle_seconds=0.0,
                          retry=RetryConfig(initial_backoff_seconds=0.001, max_backoff_seconds=0.01))


@dg.op
def reviews_op() -> pd.DataFrame:
    return reviews_frame(ROWS)


@dg.job
def label_with_refuel() -> None:
    run = refuel_run_task_op(refuel_upload_dataset_op(reviews_op()))
    refuel_fetch_labels_op(run)
    refuel_export_op(run)


def config(**run: Any) -> dict[str, Any]:
    return {"ops": {
        "refuel_upload_dataset_op": {"config": {"dataset_name": "reviews"}},
        "refuel_run_task_op": {"config": {**TASK, **run}},
        "refuel_fetch_labels_op": {"config": {"fields": ["sentiment"]}},
        "refuel_export_op": {"config": {"email_address": "me@example.com", "poll_interval_seconds": 0.02}},
    }}


def execute(emu: RefuelEmulatorHandle, run_config: dict[str, Any], **kwargs: Any) -> dg.ExecuteInProcessResult:
    return label_with_refuel.execute_in_process(run_config=run_config, resources={"refuel": resource(emu)}, **kwargs)


def output_metadata(result: dg.ExecuteInProcessResult, step: str) -> dict[str, Any]:
    (event,) = [e for e in result.all_events if e.is_successful_output and e.step_key == step]
    return dict(event.step_output_data.metadata)


def test_job_waits_for_the_labels_and_a_rerun_creates_nothing_twice(refuel_emulator: RefuelEmulatorHandle) -> None:
    state = refuel_emulator.state
    result = execute(refuel_emulator, config())
    assert result.success
    assert result.output_for_node("refuel_run_task_op")["state"] == "SUCCEEDED"
    labels = result.output_for_node("refuel_fetch_labels_op")
    assert len(labels) == ROWS and labels["sentiment_llm_label"].notna().all()
    assert set(labels["sentiment_llm_label"]) <= {"positive", "negative", "neutral"}
    assert result.output_for_node("refuel_export_op").startswith("http")
    distribution = output_metadata(result, "refuel_fetch_labels_op")["refuel/sentiment/label_distribution"].value
    assert sum(distribution.values()) == ROWS

    again = execute(refuel_emulator, config())  # a re-run: same dataset, same task, no row sent twice
    assert again.success
    assert len(state.datasets) == 1 and len(state.tasks) == 1
    (dataset,) = state.datasets.values()
    assert len(dataset["rows"]) == ROWS
    assert len(again.output_for_node("refuel_fetch_labels_op")) == ROWS
    upload_meta = output_metadata(again, "refuel_upload_dataset_op")
    assert upload_meta["refuel/action"].value == "skipped" and upload_meta["refuel/rows_sent"].value == 0


def test_append_key_appends_each_batch_once(refuel_emulator: RefuelEmulatorHandle) -> None:
    for key in ["day1", "day2", "day1"]:
        run_config = config()
        run_config["ops"]["refuel_upload_dataset_op"]["config"]["append_key"] = key
        run_config["ops"]["refuel_fetch_labels_op"]["config"]["append_key"] = key
        result = execute(refuel_emulator, run_config)
        assert len(result.output_for_node("refuel_fetch_labels_op")) == ROWS
        assert set(result.output_for_node("refuel_fetch_labels_op")["dagster_partition"]) == {key}
    (dataset,) = refuel_emulator.state.datasets.values()
    assert len(dataset["rows"]) == 2 * ROWS


def test_hand_off_returns_without_waiting(refuel_emulator: RefuelEmulatorHandle) -> None:
    refuel_emulator.state.items_per_second = 0.01  # nothing gets labeled while the op runs
    result = execute(refuel_emulator, config(wait_for_completion=False))
    assert result.success
    handed = result.output_for_node("refuel_run_task_op")
    assert handed["state"] in ("PENDING", "RUNNING")
    (run,) = refuel_emulator.state.runs.values()
    assert run["status"] == "active"  # still labeling on Refuel: handed off
    fetched = result.output_for_node("refuel_fetch_labels_op")  # the rows, none labeled yet
    assert len(fetched) == ROWS
    assert "sentiment_llm_label" not in fetched or fetched["sentiment_llm_label"].isna().all()


def test_bad_rows_fail_before_any_request(refuel_emulator: RefuelEmulatorHandle) -> None:
    @dg.op
    def bad_rows() -> pd.DataFrame:
        return pd.DataFrame({"text": ["fine", "not json"], "score": [1.0, float("inf")]})

    @dg.job
    def bad_job() -> None:
        refuel_fetch_labels_op(refuel_run_task_op(refuel_upload_dataset_op(bad_rows())))

    refuel_emulator.request_log.clear()
    run_config = config()
    del run_config["ops"]["refuel_export_op"]
    result = bad_job.execute_in_process(run_config=run_config, resources={"refuel": resource(refuel_emulator)},
                                        raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert failure.step_key == "refuel_upload_dataset_op" and "score" in str(failure.step_failure_data.error)
    assert len(refuel_emulator.request_log) == 0
    assert not refuel_emulator.state.datasets


def test_task_fields_without_context_fail_before_any_request(refuel_emulator: RefuelEmulatorHandle) -> None:
    @dg.job
    def run_only() -> None:
        refuel_run_task_op()

    refuel_emulator.request_log.clear()
    result = run_only.execute_in_process(
        run_config={"ops": {"refuel_run_task_op": {"config": {"task": "sent", "task_fields": [SENTIMENT]},
                                                   "inputs": {"dataset_name": "reviews"}}}},
        resources={"refuel": resource(refuel_emulator)}, raise_on_error=False)
    assert not result.success and "task_context" in str(result.get_step_failure_events()[0].step_failure_data.error)
    assert len(refuel_emulator.request_log) == 0


@pytest.mark.parametrize("cancel_on_termination", [True, False])
def test_a_terminated_wait_cancels_the_task_run(refuel_emulator: RefuelEmulatorHandle,
                                                monkeypatch: pytest.MonkeyPatch, cancel_on_termination: bool) -> None:
    refuel_emulator.state.items_per_second = 0.01  # the run would take an hour

    def terminate(self: Any, seconds: float) -> None:
        raise DagsterExecutionInterruptedError()  # the run was terminated while the op waited

    monkeypatch.setattr(JobHandle, "sleep", terminate)
    instance = dg.DagsterInstance.ephemeral()
    with pytest.raises(DagsterExecutionInterruptedError):
        execute(refuel_emulator, config(cancel_on_termination=cancel_on_termination), instance=instance)
    (run,) = refuel_emulator.state.runs.values()
    assert run["status"] == ("cancelled" if cancel_on_termination else "active")
    if cancel_on_termination:
        messages = [e.user_message for e in instance.all_logs(instance.get_run_records()[0].dagster_run.run_id)]
        assert any("Run interrupted; canceled Refuel task run" in m for m in messages)
