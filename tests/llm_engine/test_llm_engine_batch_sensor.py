"""End to end: a handed-off batch (``wait_for_batch=False``) → the batch sensor → the run it requests → the
library's batch output asset → completions; unpartitioned, and per partition of a backfill."""

from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from dagster_labeling.llm_engine import (
    LLMEngineResource,
    build_llm_engine_batch_completion_sensor,
    build_llm_engine_batch_output_asset,
    build_llm_engine_completions_asset,
)
from dagster_labeling.llm_engine.pipeline import COMPLETION_COLUMNS
from dagster_labeling.llm_engine.sensors import BATCH_TAG
from dagster_labeling.testing.pytest_plugin import LLMEngineEmulatorHandle

N = 4
DAYS = dg.StaticPartitionsDefinition(["2026-11-01", "2026-11-02"])


def build(tmp_path: Path, llm: LLMEngineResource, partitions: dg.PartitionsDefinition | None) -> dict[str, Any]:
    @dg.asset(name="questions", partitions_def=partitions)
    def questions(context: dg.AssetExecutionContext) -> pd.DataFrame:
        day = context.partition_key if context.has_partition_key else "all"
        return pd.DataFrame({"id": [f"{day}-q{i}" for i in range(N)],
                             "prompt": [f"Question {i} of {day}?" for i in range(N)]})

    answers = build_llm_engine_completions_asset(
        name="answers", upstream=questions, model="llama-2-7b", key_column="id", mode="batch",
        batch_output_dir=str(tmp_path / "out"), wait_for_batch=False, max_new_tokens=6)
    collected = build_llm_engine_batch_output_asset(name="batch_answers", completions_asset=answers,
                                                    wait_for_completion=False)
    sensor = build_llm_engine_batch_completion_sensor(name="batch_done", completions_asset=answers,
                                                      target=[collected], minimum_interval_seconds=30)
    resources = {"llm_engine": llm, "io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path / "io"))}
    (tmp_path / "out").mkdir()
    defs = dg.Definitions(assets=[questions, answers, collected], sensors=[sensor], resources=resources)
    return {"questions": questions, "answers": answers, "collected": collected, "sensor": sensor,
            "resources": resources, "defs": defs}


def expected_completions(llm: LLMEngineResource, day: str) -> list[str]:
    with llm.get_client() as client:
        return [client.complete("llama-2-7b", f"Question {i} of {day}?", max_new_tokens=6).output.text
                for i in range(N)]


def test_handed_off_batch_to_sensor_run_to_completions(llm_engine_emulator: LLMEngineEmulatorHandle,
                                                       tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    llm_engine_emulator.state.batch_seconds = 1000  # stays running until complete_all()
    llm = LLMEngineResource(api_key=llm_engine_emulator.api_key, base_url=llm_engine_emulator.base_url)
    parts = build(tmp_path, llm, None)
    sensor, defs = parts["sensor"], parts["defs"]

    # 1. the completions asset starts the batch and hands it off: rows without completions, job id in metadata
    handed = dg.materialize([parts["questions"], parts["answers"]], instance=instance, resources=parts["resources"])
    mat = handed.asset_materializations_for_node("answers")[0]
    job_id = mat.metadata["llm_engine/batch_job_id"].value
    output = mat.metadata["llm_engine/output_data_path"].value
    assert mat.metadata["llm_engine/batch_state"].value in ("PENDING", "RUNNING")
    placeholder = handed.output_for_node("answers")
    assert list(placeholder.columns) == COMPLETION_COLUMNS and placeholder["completion"].isna().all()

    # 1b. collecting too early fails with the reason, and the sensor is named as the way to wait
    early = dg.materialize([parts["questions"], parts["answers"], parts["collected"]], instance=instance,
                           resources=parts["resources"],
                           selection=[parts["collected"]], raise_on_error=False)
    assert not early.success
    failure = next(e for e in early.all_events if e.is_step_failure)
    assert "is still" in str(failure.step_failure_data.error) and "sensor" in str(failure.step_failure_data.error)

    def tick(cursor: str | None) -> tuple[Any, str | None]:
        with dg.build_sensor_context(cursor=cursor, instance=instance, resources={"llm_engine": llm},
                                     definitions=defs) as ctx:
            result = sensor(ctx)
            return result, result.cursor if isinstance(result, dg.SensorResult) else ctx.cursor

    # 2. ticks while the job runs: nothing requested, the job stays pending in the cursor
    result, cursor = tick(None)
    assert isinstance(result, dg.SkipReason) and "1 batch job(s) still running" in (result.skip_message or "")
    result, cursor = tick(cursor)
    assert isinstance(result, dg.SkipReason)

    # 3. the job completes: exactly one run request with a stable run key and the output path
    llm_engine_emulator.state.complete_all()
    result, cursor = tick(cursor)
    assert isinstance(result, dg.SensorResult) and len(result.run_requests or []) == 1
    request = (result.run_requests or [])[0]
    assert request.run_key == f"batch_done:{job_id}" and request.partition_key is None
    assert request.tags[BATCH_TAG] == job_id and request.tags["llm_engine/output_data_path"] == output

    # 4. the next ticks do not repeat it
    again, cursor = tick(cursor)
    assert isinstance(again, dg.SkipReason) and "0 batch job(s) still running" in (again.skip_message or "")

    # 5. the requested run (the sensor's job: the library's batch output asset) yields the completions
    run = defs.resolve_job_def(sensor.job_name).execute_in_process(instance=instance, tags=request.tags)
    assert run.success
    frame = run.output_for_node("batch_answers")
    assert list(frame.columns) == COMPLETION_COLUMNS and list(frame["key"]) == [f"all-q{i}" for i in range(N)]
    assert frame["error"].isna().all() and list(frame["completion"]) == expected_completions(llm, "all")
    meta = run.asset_materializations_for_node("batch_answers")[0].metadata
    assert meta["llm_engine/batch_job_id"].value == job_id and meta["dagster/row_count"].value == N
    assert meta["llm_engine/completion_tokens"].value > 0 and meta["llm_engine/model"].value == "llama-2-7b"


def test_partitioned_batches_are_collected_per_partition(llm_engine_emulator: LLMEngineEmulatorHandle,
                                                         tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    llm_engine_emulator.state.batch_seconds = 1000
    llm = LLMEngineResource(api_key=llm_engine_emulator.api_key, base_url=llm_engine_emulator.base_url)
    parts = build(tmp_path, llm, DAYS)
    assert parts["answers"].partitions_def == DAYS and parts["collected"].partitions_def == DAYS
    jobs = {}
    for day in DAYS.get_partition_keys():
        handed = dg.materialize([parts["questions"], parts["answers"]], instance=instance, partition_key=day,
                                resources=parts["resources"])
        mat = handed.asset_materializations_for_node("answers")[0]
        assert mat.partition == day and day in mat.metadata["llm_engine/output_data_path"].value
        jobs[day] = mat.metadata["llm_engine/batch_job_id"].value
    assert len(set(jobs.values())) == 2

    llm_engine_emulator.state.complete_all()
    with dg.build_sensor_context(instance=instance, resources={"llm_engine": llm}, definitions=parts["defs"]) as ctx:
        result = parts["sensor"](ctx)
    assert isinstance(result, dg.SensorResult)
    requested = {r.partition_key: r for r in result.run_requests or []}
    assert set(requested) == set(jobs) and all(requested[d].tags[BATCH_TAG] == jobs[d] for d in jobs)

    job = parts["defs"].resolve_job_def(parts["sensor"].job_name)
    for day in reversed(DAYS.get_partition_keys()):  # any order: each run reads its own partition's job
        run = job.execute_in_process(instance=instance, partition_key=day, tags=requested[day].tags)
        frame = run.output_for_node("batch_answers")
        assert list(frame["key"]) == [f"{day}-q{i}" for i in range(N)]
        assert list(frame["completion"]) == expected_completions(llm, day)


@pytest.mark.parametrize("mode", ["concurrent", "waited batch"])
def test_batch_output_asset_passes_completions_through(llm_engine_emulator: LLMEngineEmulatorHandle,
                                                       tmp_path: Path, mode: str) -> None:
    llm = LLMEngineResource(api_key=llm_engine_emulator.api_key, base_url=llm_engine_emulator.base_url)

    @dg.asset(name="questions")
    def questions() -> pd.DataFrame:
        return pd.DataFrame({"prompt": [f"Question {i} of all?" for i in range(N)]})

    answers = build_llm_engine_completions_asset(
        name="answers", upstream=questions, model="llama-2-7b", max_new_tokens=6,
        mode="concurrent" if mode == "concurrent" else "batch", batch_output_dir=str(tmp_path))
    collected = build_llm_engine_batch_output_asset(name="collected", completions_asset=answers)
    result = dg.materialize([questions, answers, collected], resources={"llm_engine": llm})
    assert list(result.output_for_node("collected")["completion"]) == expected_completions(llm, "all")
    assert result.asset_materializations_for_node("collected")[0].metadata["llm_engine/mode"].value == \
        "pass-through"
