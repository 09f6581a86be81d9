"""LLM Engine ops in a real @dg.job against the emulator: training file, fine-tune (wait or hand off), completions
and batch completions; a re-run creates nothing twice, bad input sends nothing, a terminated wait cancels."""

from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
from dagster._core.errors import DagsterExecutionInterruptedError  # what Dagster raises in a terminated step

from dagster_labeling._core import JobHandle
from dagster_labeling.llm_engine import (
    LLMEngineResource,
    llm_engine_batch_completions_op,
    llm_engine_completions_op,
    llm_engine_fine_tune_op,
    llm_engine_upload_training_file_op,
)
from dagster_labeling.testing.pytest_plugin import LLMEngineEmulatorHandle

PAIRS = pd.DataFrame({"prompt": [f"q{i}" for i in range(20)], "response": [f"a{i}" for i in range(20)]})
QUESTIONS = pd.DataFrame({"id": [f"k{i}" for i in range(5)], "prompt": [f"Question {i}?" for i in range(5)]})
FINE_TUNE = {"base_model": "llama-2-7b", "hyperparameters": {"epochs": 2}, "suffix": "ops",
             "poll_interval_seconds": 0.02, "wait_timeout_seconds": 30}


def resource(emu: LLMEngineEmulatorHandle) -> LLMEngineResource:
    return LLMEngineResource(api_key=emu.api_key, base_url=emu.base_url, max_concurrency=4)


@dg.op
def pairs_op() -> pd.DataFrame:
    return PAIRS


@dg.op
def questions_op() -> pd.DataFrame:
    return QUESTIONS


@dg.job
def tune_and_answer() -> None:
    model = llm_engine_fine_tune_op(llm_engine_upload_training_file_op(pairs_op()))
    llm_engine_completions_op(questions_op(), model_name=model)


@dg.job
def tune_only() -> None:
    llm_engine_fine_tune_op(llm_engine_upload_training_file_op(pairs_op()))


@dg.job
def batch_answers() -> None:
    llm_engine_batch_completions_op(questions_op())


def tune_config(*, answer: bool = False, **fine_tune: Any) -> dict[str, Any]:
    ops: dict[str, Any] = {"llm_engine_upload_training_file_op": {"config": {"file_name": "pairs"}},
                           "llm_engine_fine_tune_op": {"config": {**FINE_TUNE, **fine_tune}}}
    if answer:
        ops["llm_engine_completions_op"] = {"config": {"key_column": "id", "max_new_tokens": 6}}
    return {"ops": ops}


def batch_config(tmp_path: Path, **wait: Any) -> dict[str, Any]:
    return {"ops": {"llm_engine_batch_completions_op": {"config": {
        "model": "llama-2-7b", "key_column": "id", "max_new_tokens": 6, "output_dir": str(tmp_path),
        "poll_interval_seconds": 0.02, "wait_timeout_seconds": 30, **wait}}}}


def test_job_fine_tunes_answers_and_a_rerun_creates_nothing_twice(llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    state = llm_engine_emulator.state
    instance = dg.DagsterInstance.ephemeral()
    resources = {"llm_engine": resource(llm_engine_emulator)}
    first = tune_and_answer.execute_in_process(run_config=tune_config(answer=True), resources=resources,
                                              instance=instance)
    model = first.output_for_node("llm_engine_fine_tune_op")
    assert model.startswith("llama-2-7b.ops.") and model in state.endpoints
    file_id = first.output_for_node("llm_engine_upload_training_file_op")
    assert state.file_contents[file_id].startswith(b"prompt,response\r\nq0,a0")
    answers = first.output_for_node("llm_engine_completions_op")
    assert list(answers["key"]) == list(QUESTIONS["id"]) and answers["error"].isna().all()
    assert (answers["completion"].str.len() > 0).all()

    again = tune_and_answer.execute_in_process(run_config=tune_config(answer=True), resources=resources,
                                               instance=instance)
    assert again.output_for_node("llm_engine_upload_training_file_op") == file_id
    assert again.output_for_node("llm_engine_fine_tune_op") == model
    assert len(state.files) == 1 and len(state.fine_tunes) == 1  # reused, reattached: nothing twice

    other = tune_config(hyperparameters={"epochs": 1})  # other inputs: a new fine-tune
    tune_only.execute_in_process(run_config=other, resources=resources, instance=instance)
    assert len(state.files) == 1 and len(state.fine_tunes) == 2


def test_hand_off_returns_at_once_and_a_later_run_reattaches(llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    state = llm_engine_emulator.state
    state.fine_tune_epoch_seconds = 3600.0  # still training while the op runs
    instance = dg.DagsterInstance.ephemeral()
    resources = {"llm_engine": resource(llm_engine_emulator)}
    handed = tune_only.execute_in_process(run_config=tune_config(wait_for_completion=False), resources=resources,
                                          instance=instance)
    fine_tune_id = handed.output_for_node("llm_engine_fine_tune_op")
    assert fine_tune_id.startswith("ft-") and state.fine_tunes[fine_tune_id]["status"] in ("PENDING", "RUNNING")

    state.fine_tune_epoch_seconds = 0.05
    waited = tune_only.execute_in_process(run_config=tune_config(), resources=resources, instance=instance)
    assert waited.output_for_node("llm_engine_fine_tune_op").startswith("llama-2-7b.ops.")
    assert list(state.fine_tunes) == [fine_tune_id]


def test_bad_training_rows_fail_before_any_request(llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    @dg.op
    def blank_pairs() -> pd.DataFrame:
        return PAIRS.assign(response=["a"] * 19 + ["  "])

    @dg.job
    def bad_job() -> None:
        llm_engine_fine_tune_op(llm_engine_upload_training_file_op(blank_pairs()))

    llm_engine_emulator.request_log.clear()
    result = bad_job.execute_in_process(run_config=tune_config(),
                                        resources={"llm_engine": resource(llm_engine_emulator)}, raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    assert failure.step_key == "llm_engine_upload_training_file_op"
    assert "blank" in str(failure.step_failure_data.error)
    assert len(llm_engine_emulator.request_log) == 0


@pytest.mark.parametrize(("ops_config", "reason"), [
    ({"model": "llama-2-7b", "temperature": 3.0}, "temperature must be in [0, 1]"),
    ({}, "exactly one of the model config field or the model_name input"),
    ({"model": "llama-2-7b", "prompt_column": "question"}, "question"),
], ids=["bad-temperature", "no-model", "missing-column"])
def test_bad_completion_config_fails_before_any_request(llm_engine_emulator: LLMEngineEmulatorHandle,
                                                        ops_config: dict[str, Any], reason: str) -> None:
    @dg.job
    def answer() -> None:
        llm_engine_completions_op(questions_op())

    llm_engine_emulator.request_log.clear()
    result = answer.execute_in_process(run_config={"ops": {"llm_engine_completions_op": {"config": ops_config}}},
                                       resources={"llm_engine": resource(llm_engine_emulator)}, raise_on_error=False)
    assert not result.success
    assert reason in str(result.get_step_failure_events()[0].step_failure_data.error)
    assert len(llm_engine_emulator.request_log) == 0


def test_a_terminated_wait_cancels_the_fine_tune(llm_engine_emulator: LLMEngineEmulatorHandle,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    state = llm_engine_emulator.state
    state.fine_tune_epoch_seconds = 3600.0

    def terminate(self: Any, seconds: float) -> None:
        raise DagsterExecutionInterruptedError()  # the run was terminated while the op waited

    monkeypatch.setattr(JobHandle, "sleep", terminate)
    instance = dg.DagsterInstance.ephemeral()
    with pytest.raises(DagsterExecutionInterruptedError):
        tune_only.execute_in_process(run_config=tune_config(), resources={"llm_engine": resource(llm_engine_emulator)},
                                     instance=instance)
    (fine_tune,) = state.fine_tunes.values()
    assert fine_tune["status"] == "CANCELLED"
    messages = [e.user_message for e in instance.all_logs(instance.get_run_records()[0].dagster_run.run_id)]
    assert any("Run interrupted; canceled LLM Engine fine-tune" in m for m in messages)


def test_batch_op_waits_hands_off_and_reattaches(llm_engine_emulator: LLMEngineEmulatorHandle, tmp_path: Path) -> None:
    state = llm_engine_emulator.state
    instance = dg.DagsterInstance.ephemeral()
    resources = {"llm_engine": resource(llm_engine_emulator)}
    state.batch_seconds = 3600.0
    handed = batch_answers.execute_in_process(run_config=batch_config(tmp_path, wait_for_completion=False),
                                              resources=resources, instance=instance)
    frame = handed.output_for_node("llm_engine_batch_completions_op")
    assert list(frame["key"]) == list(QUESTIONS["id"]) and frame["completion"].isna().all()
    assert len(state.batches) == 1

    state.batch_seconds = 0.05
    waited = batch_answers.execute_in_process(run_config=batch_config(tmp_path), resources=resources,
                                              instance=instance)
    answers = waited.output_for_node("llm_engine_batch_completions_op")
    assert answers["error"].isna().all() and (answers["completion"].str.len() > 0).all()
    assert len(state.batches) == 1  # the handed-off job, reattached


def test_a_terminated_batch_wait_cancels_the_batch_job(llm_engine_emulator: LLMEngineEmulatorHandle,
                                                       monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    llm_engine_emulator.state.batch_seconds = 3600.0

    def terminate(self: Any, seconds: float) -> None:
        raise DagsterExecutionInterruptedError()

    monkeypatch.setattr(JobHandle, "sleep", terminate)
    with pytest.raises(DagsterExecutionInterruptedError):
        batch_answers.execute_in_process(run_config=batch_config(tmp_path),
                                         resources={"llm_engine": resource(llm_engine_emulator)})
    (batch,) = llm_engine_emulator.state.batches.values()
    assert batch["status"] == "cancelled"
