"""Parallel first runs of one partition (a backfill, a double click) converge: one training file used by all, one
fine-tune, and a later re-run changes nothing. Workers are released together at a barrier, in threads and in
processes, against the emulator with latency so that the window between look-up and create is wide."""

import functools
import re
from collections import Counter
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from dagster_labeling._core import JobHandle
from dagster_labeling._dagster.config import RetryConfig
from dagster_labeling.llm_engine import (
    LLMEngineClient,
    LLMEngineResource,
    build_llm_engine_fine_tune_asset,
    build_llm_engine_training_file_asset,
)
from dagster_labeling.llm_engine.pipeline import write_training_csv
from dagster_labeling.llm_engine.reconcile import file_digest, training_file_name
from dagster_labeling.testing.faults import FaultConfig
from dagster_labeling.testing.pytest_plugin import LLMEngineEmulatorHandle
from dagster_labeling.testing.race import run_together

DAY = "2026-11-01"
DAYS = dg.StaticPartitionsDefinition([DAY, "2026-11-02"])
#: Latency on every request, and uploads and launches that take 1.5 s: the window between a run's look-up and its
#: record is wider than the spread of the racers' start (threads of one process start their runs one by one).
RACE = FaultConfig(latency_seconds=0.1, rate=1.0, weights={"slow": 1.0}, slow_seconds=1.5, methods=["POST"],
                   path_prefixes=["/v1/files", "/v1/llm/fine-tunes"])


def day_pairs(day: str) -> pd.DataFrame:
    return pd.DataFrame({"prompt": [f"{day} q{i}" for i in range(20)], "response": [f"a{i}" for i in range(20)]})


def pipeline() -> list[dg.AssetsDefinition]:
    @dg.asset(name="pairs", partitions_def=DAYS)
    def pairs(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return day_pairs(context.partition_key)

    train = build_llm_engine_training_file_asset(name="train_file", upstream=pairs)
    tuned = build_llm_engine_fine_tune_asset(name="tuned_model", training_file_asset=train, base_model="llama-2-7b",
                                             hyperparameters={"epochs": 2}, poll_interval_seconds=0.05)
    return [pairs, train, tuned]


def first_run(instance_ref: Any, base_url: str, api_key: str, i: int, wait: bool = False) -> tuple[str, str]:
    """One run of the partition (module level: it also runs in spawned processes); its file and fine-tune ids."""
    resource = LLMEngineResource(api_key=api_key, base_url=base_url,
                                 retry=RetryConfig(initial_backoff_seconds=0.01, max_backoff_seconds=0.05))
    with dg.DagsterInstance.from_ref(instance_ref) as instance:
        result = dg.materialize(pipeline(), partition_key=DAY, instance=instance, tags={"racer": str(i)},
                                resources={"llm_engine": resource, "io_manager": dg.mem_io_manager},
                                run_config={"ops": {"tuned_model": {"config": {"wait_for_completion": wait}}}})
    fine_tune = result.asset_materializations_for_node("tuned_model")[0].metadata["llm_engine/fine_tune_id"]
    return str(result.output_for_node("train_file")), str(fine_tune.value)


@pytest.fixture
def instance(tmp_path: Any) -> Any:
    """A persistent instance that racing processes share. With no settings: a test instance's settings make each
    run re-apply a logging configuration, which deadlocks runs started together in threads of one process."""
    with dg.DagsterInstance.local_temp(str(tmp_path)) as inst:
        inst.get_runs()  # its storage is created before the race
        yield inst


def assert_converged(emu: LLMEngineEmulatorHandle, outcomes: list[tuple[str, str]]) -> tuple[str, str]:
    assert len(set(outcomes)) == 1, Counter(outcomes)
    file_id, fine_tune_id = outcomes[0]
    files = emu.state.files
    assert list(files) == [file_id], "the racers' duplicate uploads are deleted"
    assert re.fullmatch(r"train_file__2026-11-01\.[0-9a-f]{16}\.csv", files[file_id]["filename"])
    assert emu.state.file_contents[file_id].startswith(b"prompt,response\r\n2026-11-01 q0,a0")
    statuses = {ft_id: ft["status"] for ft_id, ft in emu.state.fine_tunes.items()}
    running = [ft_id for ft_id, status in statuses.items() if status != "CANCELLED"]
    assert running == [fine_tune_id], statuses
    assert all(emu.state.fine_tunes[i]["training_file"] == file_id for i in running)
    return file_id, fine_tune_id


def assert_rerun_changes_nothing(emu: LLMEngineEmulatorHandle, instance: dg.DagsterInstance,
                                 converged: tuple[str, str]) -> None:
    emu.request_log.clear()
    fine_tunes = dict(emu.state.fine_tunes)
    assert first_run(instance.get_ref(), emu.base_url, emu.api_key, 99, wait=True) == converged
    assert emu.request_log.entries("POST") == [] and emu.request_log.entries("DELETE") == []
    assert list(emu.state.files) == [converged[0]] and emu.state.fine_tunes.keys() == fine_tunes.keys()
    assert emu.state.fine_tunes[converged[1]]["status"] == "SUCCESS"


def test_eight_threads_first_runs_converge(llm_engine_emulator: LLMEngineEmulatorHandle,
                                           instance: dg.DagsterInstance) -> None:
    """Also under LLM Engine's limit of fine-tunes (here 3 of the 8 launches are accepted): a run whose launch is
    refused joins the fine-tune a parallel run launched."""
    llm_engine_emulator.state.fine_tune_pending_seconds = 3600.0  # still pending while the racers compare
    llm_engine_emulator.state.fine_tune_quota = 3
    llm_engine_emulator.set_faults(RACE)
    race = functools.partial(first_run, instance.get_ref(), llm_engine_emulator.base_url, llm_engine_emulator.api_key)

    outcomes = run_together(race, 8)

    llm_engine_emulator.set_faults(None)
    assert len(llm_engine_emulator.request_log.entries("POST", "/v1/files")) > 1, "no upload race"
    assert len(llm_engine_emulator.state.fine_tunes) > 1, "no launch race"
    assert len(llm_engine_emulator.request_log.entries("POST", "/v1/llm/fine-tunes")) > 3, "no launch refused"
    converged = assert_converged(llm_engine_emulator, outcomes)
    llm_engine_emulator.state.fine_tune_pending_seconds = 0.05
    llm_engine_emulator.state.complete_all()
    assert_rerun_changes_nothing(llm_engine_emulator, instance, converged)


def test_four_processes_first_runs_converge(llm_engine_emulator: LLMEngineEmulatorHandle,
                                            instance: dg.DagsterInstance) -> None:
    llm_engine_emulator.state.fine_tune_pending_seconds = 3600.0
    llm_engine_emulator.set_faults(RACE)
    race = functools.partial(first_run, instance.get_ref(), llm_engine_emulator.base_url, llm_engine_emulator.api_key)

    outcomes = run_together(race, 4, processes=True)

    llm_engine_emulator.set_faults(None)
    converged = assert_converged(llm_engine_emulator, outcomes)
    llm_engine_emulator.state.fine_tune_pending_seconds = 0.05
    llm_engine_emulator.state.complete_all()
    assert_rerun_changes_nothing(llm_engine_emulator, instance, converged)


def test_a_run_that_dies_while_waiting_is_reattached_to(llm_engine_emulator: LLMEngineEmulatorHandle,
                                                        instance: dg.DagsterInstance,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The launch is recorded before the wait (not when the asset ends): a re-run after a crash reattaches."""
    llm_engine_emulator.state.fine_tune_pending_seconds = 3600.0

    def worker_dies(self: Any, seconds: float) -> None:
        raise RuntimeError("the run worker died")  # not an interrupt: nothing is canceled

    with monkeypatch.context() as patch:
        patch.setattr(JobHandle, "sleep", worker_dies)
        with pytest.raises(RuntimeError, match="the run worker died"):
            first_run(instance.get_ref(), llm_engine_emulator.base_url, llm_engine_emulator.api_key, 0, wait=True)
    [launched] = llm_engine_emulator.state.fine_tunes
    llm_engine_emulator.state.fine_tune_pending_seconds = 0.05
    llm_engine_emulator.state.complete_all()

    _, fine_tune_id = first_run(instance.get_ref(), llm_engine_emulator.base_url, llm_engine_emulator.api_key, 1,
                                wait=True)
    assert fine_tune_id == launched and list(llm_engine_emulator.state.fine_tunes) == [launched]


def test_a_file_uploaded_by_a_run_that_died_before_recording_it_is_adopted(
    llm_engine_emulator: LLMEngineEmulatorHandle, instance: dg.DagsterInstance, tmp_path: Any
) -> None:
    path = write_training_csv(day_pairs(DAY), directory=str(tmp_path))
    with LLMEngineClient(llm_engine_emulator.api_key, base_url=llm_engine_emulator.base_url) as client:
        orphan = client.upload_file(path, filename=training_file_name("train_file", DAY, file_digest(path)))

    file_id, _ = first_run(instance.get_ref(), llm_engine_emulator.base_url, llm_engine_emulator.api_key, 0)

    assert file_id == orphan and list(llm_engine_emulator.state.files) == [orphan]
