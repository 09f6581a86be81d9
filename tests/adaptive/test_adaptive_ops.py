"""Adaptive ops in a real @dg.job against the emulator: dataset, recipe job (wait or hand off), interactions with
feedback, A/B test and its results; a re-run creates nothing twice, bad rows send nothing, a terminated wait
cancels the job."""

from typing import Any

import dagster as dg
import pandas as pd
import pytest
from dagster._core.errors import DagsterExecutionInterruptedError  # what Dagster raises in a terminated step

from dagster_labeling._core import JobHandle
from dagster_labeling.adaptive import (
    AdaptiveClient,
    AdaptiveResource,
    adaptive_ab_test_op,
    adaptive_ab_test_results_op,
    adaptive_log_interactions_op,
    adaptive_run_job_op,
    adaptive_upload_dataset_op,
)
from dagster_labeling.testing.pytest_plugin import AdaptiveEmulatorHandle

LLAMA, QWEN = "llama-3.1-8b-instruct", "qwen-2.5-7b"
PROJECT = "support"
REVIEWED = pd.DataFrame({"id": ["r1", "r2", "r3"], "text": ["Great phone", "Broke in a day", "Fine"],
                         "label": ["positive", "negative", "neutral"], "accepted": [True, False, True]})
FAST = {"poll_interval_seconds": 0.02, "wait_timeout_seconds": 30}


def resource(emu: AdaptiveEmulatorHandle) -> AdaptiveResource:
    return AdaptiveResource(api_key=emu.api_key, base_url=emu.base_url, max_concurrency=4)


@pytest.fixture
def emu(adaptive_emulator: AdaptiveEmulatorHandle) -> AdaptiveEmulatorHandle:
    adaptive_emulator.ensure_project(PROJECT, models=[LLAMA, QWEN], default=LLAMA)
    adaptive_emulator.state.ab_min_scores = 5
    with AdaptiveClient(adaptive_emulator.api_key, base_url=adaptive_emulator.base_url) as client:
        client.register_feedback_key(PROJECT, "acceptance", kind="bool")
    return adaptive_emulator


@dg.op
def reviewed_op() -> pd.DataFrame:
    return REVIEWED


@dg.job
def train_and_log() -> None:
    rows = reviewed_op()
    adaptive_run_job_op(start_after=adaptive_upload_dataset_op(rows))
    adaptive_log_interactions_op(rows)


def config(**job: Any) -> dict[str, Any]:
    return {"ops": {
        "adaptive_upload_dataset_op": {"config": {"project": PROJECT, "dataset_key": "reviews",
                                                  "prompt_column": "text", "completion_column": "label"}},
        "adaptive_run_job_op": {"config": {"project": PROJECT, "recipe": "sft", "job_name": "tune_on_reviews",
                                           "args": {"model": LLAMA, "dataset": "reviews"}, **FAST, **job}},
        "adaptive_log_interactions_op": {"config": {
            "project": PROJECT, "key_column": "id", "prompt_column": "text", "completion_column": "label",
            "model": LLAMA, "feedback_key": "acceptance", "feedback_column": "accepted"}},
    }}


def execute(emu: AdaptiveEmulatorHandle, run_config: dict[str, Any], **kwargs: Any) -> dg.ExecuteInProcessResult:
    return train_and_log.execute_in_process(run_config=run_config, resources={"adaptive": resource(emu)}, **kwargs)


def interactions(emu: AdaptiveEmulatorHandle) -> list[Any]:
    with AdaptiveClient(emu.api_key, base_url=emu.base_url) as client:
        return client.list_interactions(PROJECT, first=50)


def test_job_trains_logs_and_a_rerun_creates_nothing_twice(emu: AdaptiveEmulatorHandle) -> None:
    state = emu.state
    first = execute(emu, config())
    assert first.output_for_node("adaptive_upload_dataset_op") == "reviews"
    job_id = first.output_for_node("adaptive_run_job_op")
    assert state.jobs[job_id]["status"] == "COMPLETED"
    logged = first.output_for_node("adaptive_log_interactions_op")
    assert list(logged["key"]) == ["r1", "r2", "r3"] and logged["completion_id"].notna().all()
    stored = interactions(emu)
    assert {i.completion: [s.value for s in i.direct_scores] for i in stored} == {
        "positive": [1.0], "negative": [0.0], "neutral": [1.0]}

    again = execute(emu, config())  # a re-run: the dataset, the job and the interactions are found again
    assert again.output_for_node("adaptive_run_job_op") == job_id
    assert list(again.output_for_node("adaptive_log_interactions_op")["completion_id"]) == \
        list(logged["completion_id"])
    assert len(state.datasets) == 1 and len(state.jobs) == 1 and len(interactions(emu)) == 3

    changed = config(args={"model": QWEN, "dataset": "reviews"})  # other args: another job
    execute(emu, changed)
    assert len(state.jobs) == 2


def test_hand_off_returns_at_once_and_a_later_run_follows_the_job(emu: AdaptiveEmulatorHandle) -> None:
    state = emu.state
    state.job_run_seconds = 3600.0
    handed = execute(emu, config(wait_for_completion=False))
    job_id = handed.output_for_node("adaptive_run_job_op")
    assert state.jobs[job_id]["status"] in ("PENDING", "RUNNING")
    emu.complete_all()
    waited = execute(emu, config())
    assert waited.output_for_node("adaptive_run_job_op") == job_id and len(state.jobs) == 1


def test_bad_rows_fail_before_any_request(emu: AdaptiveEmulatorHandle) -> None:
    @dg.op
    def bad_rows() -> pd.DataFrame:
        return REVIEWED.assign(accepted=[True, "maybe", None])  # a feedback that is no number or bool

    @dg.job
    def log_only() -> None:
        adaptive_log_interactions_op(bad_rows())

    emu.request_log.clear()
    run_config = {"ops": {"adaptive_log_interactions_op": config()["ops"]["adaptive_log_interactions_op"]}}
    result = log_only.execute_in_process(run_config=run_config, resources={"adaptive": resource(emu)},
                                         raise_on_error=False)
    assert not result.success
    assert "accepted" in str(result.get_step_failure_events()[0].step_failure_data.error)
    assert len(emu.request_log) == 0 and not interactions(emu)


@pytest.mark.parametrize("cancel_on_termination", [True, False])
def test_a_terminated_wait_cancels_the_job(emu: AdaptiveEmulatorHandle, monkeypatch: pytest.MonkeyPatch,
                                           cancel_on_termination: bool) -> None:
    state = emu.state
    state.job_run_seconds, state.job_cancel_seconds = 3600.0, 0.0

    def terminate(self: Any, seconds: float) -> None:
        raise DagsterExecutionInterruptedError()  # the run was terminated while the op waited

    monkeypatch.setattr(JobHandle, "sleep", terminate)
    instance = dg.DagsterInstance.ephemeral()
    with pytest.raises(DagsterExecutionInterruptedError):
        execute(emu, config(cancel_on_termination=cancel_on_termination), instance=instance)
    (job,) = state.jobs.values()
    assert job["status"] == "CANCELED" if cancel_on_termination else job["status"] in ("PENDING", "RUNNING")
    messages = [e.user_message for e in instance.all_logs(instance.get_run_records()[0].dagster_run.run_id)]
    assert any("Run interrupted; canceled Adaptive job" in m for m in messages) is cancel_on_termination


@dg.job
def ab_test_job() -> None:
    adaptive_ab_test_results_op(adaptive_ab_test_op())


def ab_config(**wait: Any) -> dict[str, Any]:
    return {"ops": {"adaptive_ab_test_op": {"config": {
        "project": PROJECT, "ab_test_key": "support_ab", "feedback_key": "acceptance", "models": [LLAMA, QWEN],
        **FAST, **wait}}}}


def test_ab_test_hands_off_then_a_rerun_waits_for_the_winner(emu: AdaptiveEmulatorHandle) -> None:
    resources = {"adaptive": resource(emu)}
    handed = ab_test_job.execute_in_process(run_config=ab_config(wait_for_completion=False), resources=resources)
    assert handed.output_for_node("adaptive_ab_test_op") == "support_ab"
    assert emu.state.ab_campaigns["support_ab"]["status"] in ("WARMUP", "IN_PROGRESS")
    with AdaptiveClient(emu.api_key, base_url=emu.base_url) as client:  # traffic: QWEN accepted more often
        for i in range(6):
            for model, good in ((LLAMA, i % 3 == 0), (QWEN, True)):
                answer = client.chat(PROJECT, [{"role": "user", "content": f"q{i}"}], model=model)
                client.log_metric(str(answer.completion_id), "acceptance", good)

    waited = ab_test_job.execute_in_process(run_config=ab_config(), resources=resources)
    assert len(emu.state.ab_campaigns) == 1  # reattached, not started twice
    results = waited.output_for_node("adaptive_ab_test_results_op")
    assert set(results["model"]) == {LLAMA, QWEN}
    assert results.set_index("model")["estimate"].idxmax() == QWEN
    (event,) = [e for e in waited.all_events if e.is_successful_output and e.step_key == "adaptive_ab_test_results_op"]
    meta = event.step_output_data.metadata
    assert meta["adaptive/status"].value == "DONE" and meta["adaptive/winner"].value == QWEN


def test_ab_test_with_one_model_fails_before_any_request(emu: AdaptiveEmulatorHandle) -> None:
    emu.request_log.clear()
    run_config = ab_config()
    run_config["ops"]["adaptive_ab_test_op"]["config"]["models"] = [LLAMA, LLAMA]
    result = ab_test_job.execute_in_process(run_config=run_config, resources={"adaptive": resource(emu)},
                                            raise_on_error=False)
    assert not result.success
    assert "two distinct models" in str(result.get_step_failure_events()[0].step_failure_data.error)
    assert len(emu.request_log) == 0
