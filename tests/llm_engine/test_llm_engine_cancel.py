"""Cancel ends with nothing running: fine-tunes and batch jobs, under faults, also when the service deletes a
canceled job (model-engine does: reading it then answers 404), and through a terminated Dagster run."""

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.errors import DagsterExecutionInterruptedError  # what Dagster raises in a terminated step

from dagster_labeling._core import CancelCounts, JobHandle, JobState, RetryPolicy
from dagster_labeling._dagster.config import RetryConfig
from dagster_labeling.llm_engine import LLMEngineClient, LLMEngineResource, build_llm_engine_fine_tune_asset
from dagster_labeling.llm_engine.handles import GONE_STATUS
from dagster_labeling.testing.faults import FaultConfig
from dagster_labeling.testing.pytest_plugin import LLMEngineEmulatorHandle

#: 20% faults of every kind, kept short (Retry-After and slow answers) so that the test stays fast.
FAULTS = FaultConfig(rate=0.2, seed=7, retry_after_seconds=0.01, slow_seconds=0.05)


@pytest.fixture
def llm(llm_engine_emulator: LLMEngineEmulatorHandle) -> Iterator[LLMEngineClient]:
    with LLMEngineClient(llm_engine_emulator.api_key, base_url=llm_engine_emulator.base_url,
                         retry=RetryPolicy(max_attempts=8, initial_backoff_seconds=0.01, max_backoff_seconds=0.05),
                         ) as client:
        yield client


def slow_cancels(emu: LLMEngineEmulatorHandle, vanish: bool) -> None:
    """Jobs that never finish by themselves, and cancels that take 0.4 s to take effect."""
    emu.state.fine_tune_epoch_seconds = 3600.0
    emu.state.batch_seconds = 3600.0
    emu.state.cancel_seconds = 0.4
    emu.state.canceled_jobs_vanish = vanish


@pytest.mark.parametrize("vanish", [False, True], ids=["stays-cancelled", "deleted-404"])
def test_cancel_running_fine_tune_under_faults(llm: LLMEngineClient, llm_engine_emulator: LLMEngineEmulatorHandle,
                                               vanish: bool) -> None:
    slow_cancels(llm_engine_emulator, vanish)
    job = llm.create_fine_tune("llama-2-7b", "https://data.test/train.csv", hyperparameters={"epochs": 2})
    time.sleep(0.1)  # past the pending phase
    assert job.refresh().state is JobState.RUNNING
    llm_engine_emulator.set_faults(FAULTS)

    outcome = job.cancel()

    llm_engine_emulator.set_faults(None)
    assert outcome.complete and outcome.canceled == 1 and outcome.state is JobState.CANCELED
    assert outcome.describe() == "1 canceled, 0 had already finished"
    if vanish:
        assert job.id not in llm_engine_emulator.state.fine_tunes and outcome.status.raw_status == GONE_STATUS
    else:
        assert llm_engine_emulator.state.fine_tunes[job.id]["status"] == "CANCELLED"


@pytest.mark.parametrize("vanish", [False, True], ids=["stays-cancelled", "deleted-404"])
def test_cancel_running_batch_job_under_faults(llm: LLMEngineClient, llm_engine_emulator: LLMEngineEmulatorHandle,
                                               tmp_path: Path, vanish: bool) -> None:
    slow_cancels(llm_engine_emulator, vanish)
    job = llm.create_batch_completions("llama-2-7b", ["a", "b", "c"], output_data_path=str(tmp_path / "o.json"),
                                       use_v2=True)
    time.sleep(0.3)  # queued, then running
    assert job.refresh().state is JobState.RUNNING
    llm_engine_emulator.set_faults(FAULTS)

    outcome = job.cancel()

    llm_engine_emulator.set_faults(None)
    assert outcome.complete and outcome.canceled == 1 and outcome.state is JobState.CANCELED
    if vanish:
        assert job.id not in llm_engine_emulator.state.batches
    else:
        assert llm_engine_emulator.state.batches[job.id]["status"] == "cancelled"
    assert not (tmp_path / "o.json").exists()


def test_a_refused_cancel_reports_what_the_job_became(llm: LLMEngineClient,
                                                      llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    """``success: false`` answers a job that finished between our look and the cancel, and a cancel that an
    earlier attempt (whose answer was lost) already made: the counts say which."""
    finished = llm.create_fine_tune("llama-2-7b", "https://data.test/train.csv", hyperparameters={"epochs": 1})
    llm_engine_emulator.state.complete_all()
    assert finished.cancel_remote() == CancelCounts(already_finished=1)

    llm_engine_emulator.state.canceled_jobs_vanish = True
    canceled = llm.create_fine_tune("llama-2-7b", "https://data.test/train.csv", hyperparameters={"epochs": 1})
    assert llm.cancel_fine_tune(canceled.id) is True  # then the answer is lost, and the cancel is sent again
    assert canceled.cancel_remote() == CancelCounts(canceled=1)
    assert canceled.refresh().raw_status == GONE_STATUS


def test_terminated_run_cancels_the_fine_tune_and_logs_the_outcome(
    llm_engine_emulator: LLMEngineEmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_cancels(llm_engine_emulator, vanish=True)
    tuned = build_llm_engine_fine_tune_asset(name="tuned_model", training_file_asset="train_file",
                                             base_model="llama-2-7b", hyperparameters={"epochs": 2},
                                             poll_interval_seconds=0.01)

    @dg.asset(name="train_file")
    def train_file() -> str:
        return "https://data.test/train.csv"

    polls: list[float] = []

    def terminate_on_second_poll(self: Any, seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:
            raise DagsterExecutionInterruptedError()  # the run was terminated from the UI
        time.sleep(min(seconds, 0.05))

    monkeypatch.setattr(JobHandle, "sleep", terminate_on_second_poll)
    resource = LLMEngineResource(api_key=llm_engine_emulator.api_key, base_url=llm_engine_emulator.base_url,
                                 retry=RetryConfig(initial_backoff_seconds=0.001, max_backoff_seconds=0.01))
    instance = dg.DagsterInstance.ephemeral()
    with pytest.raises(DagsterExecutionInterruptedError):
        dg.materialize([train_file, tuned], resources={"llm_engine": resource}, instance=instance)

    assert llm_engine_emulator.state.fine_tunes == {}  # canceled, hence deleted
    [run] = instance.get_runs()
    messages = [e.user_message for e in instance.all_logs(run.run_id)]
    [logged] = [m for m in messages if m.startswith("Run interrupted")]
    assert logged.startswith("Run interrupted; canceled LLM Engine fine-tune ft-")
    assert "1 canceled, 0 had already finished" in logged and GONE_STATUS in logged
