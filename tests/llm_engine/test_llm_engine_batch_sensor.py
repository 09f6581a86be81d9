"""End to end: a handed-off batch (``wait_for_batch=False``) → the batch sensor → the run it requests → completions.

The sensor only requests a run of its ``target`` (tags: the job id and ``llm_engine/output_data_path``); no
library asset reads those tags, so the target here is a small downstream asset that does, as a user writes it.
"""

from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from dagster_labeling.llm_engine import (
    LLMEngineResource,
    build_llm_engine_batch_completion_sensor,
    build_llm_engine_completions_asset,
)
from dagster_labeling.llm_engine.pipeline import COMPLETION_COLUMNS, completions_frame_from_batch
from dagster_labeling.llm_engine.sensors import BATCH_TAG
from dagster_labeling.testing.pytest_plugin import LLMEngineEmulatorHandle

N = 4


@dg.asset(name="questions")
def questions() -> pd.DataFrame:
    return pd.DataFrame({"id": [f"q{i}" for i in range(N)], "prompt": [f"Question number {i}?" for i in range(N)]})


@dg.asset(name="batch_answers", ins={"answers": dg.AssetIn("answers")}, required_resource_keys={"llm_engine"})
def batch_answers(context: dg.AssetExecutionContext, answers: pd.DataFrame) -> pd.DataFrame:
    """The finished batch's completions, from the output path the sensor's run request carries."""
    output = context.run.tags["llm_engine/output_data_path"]
    with context.resources.llm_engine.get_client() as client:
        outputs = client.read_batch_output(output)
    return completions_frame_from_batch(dict(zip(answers["key"], answers["prompt"], strict=True)), outputs)


def test_handed_off_batch_to_sensor_run_to_completions(llm_engine_emulator: LLMEngineEmulatorHandle,
                                                       tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    llm_engine_emulator.state.batch_seconds = 1000  # stays running until complete_all()
    llm = LLMEngineResource(api_key=llm_engine_emulator.api_key, base_url=llm_engine_emulator.base_url)
    answers = build_llm_engine_completions_asset(
        name="answers", upstream=questions, model="llama-2-7b", key_column="id", mode="batch",
        batch_output_dir=str(tmp_path / "out"), wait_for_batch=False, max_new_tokens=6)
    sensor = build_llm_engine_batch_completion_sensor(name="batch_done", completions_asset=answers,
                                                      target=[batch_answers], minimum_interval_seconds=30)
    resources = {"llm_engine": llm, "io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path / "io"))}
    defs = dg.Definitions(assets=[questions, answers, batch_answers], sensors=[sensor], resources=resources)
    (tmp_path / "out").mkdir()

    # 1. the completions asset starts the batch and hands it off: rows without completions, job id in metadata
    handed = dg.materialize([questions, answers], instance=instance, resources=resources)
    mat = handed.asset_materializations_for_node("answers")[0]
    job_id = mat.metadata["llm_engine/batch_job_id"].value
    output = mat.metadata["llm_engine/output_data_path"].value
    assert mat.metadata["llm_engine/batch_state"].value in ("PENDING", "RUNNING")
    placeholder = handed.output_for_node("answers")
    assert list(placeholder.columns) == COMPLETION_COLUMNS and placeholder["completion"].isna().all()

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
    assert request.run_key == f"batch_done:{job_id}"
    assert request.tags[BATCH_TAG] == job_id and request.tags["llm_engine/output_data_path"] == output
    assert result.asset_events == []  # this sensor requests runs; it records no materialization itself

    # 4. the next ticks do not repeat it
    again, cursor = tick(cursor)
    assert isinstance(again, dg.SkipReason) and "0 batch job(s) still running" in (again.skip_message or "")
    again, cursor = tick(cursor)
    assert isinstance(again, dg.SkipReason)

    # 5. running what the request targets (the sensor's job, with the request's tags) yields the completions
    job = defs.resolve_job_def(sensor.job_name)
    run = job.execute_in_process(instance=instance, tags=request.tags)
    assert run.success
    frame = run.output_for_node("batch_answers")
    assert list(frame.columns) == COMPLETION_COLUMNS and list(frame["key"]) == [f"q{i}" for i in range(N)]
    assert frame["error"].isna().all() and frame["completion"].map(bool).all()
    with llm.get_client() as client:
        expected = [client.complete("llama-2-7b", f"Question number {i}?", max_new_tokens=6).output.text
                    for i in range(N)]
    assert list(frame["completion"]) == expected
    assert [r.asset_key for r in instance.fetch_materializations(dg.AssetKey("batch_answers"), limit=5).records] \
        == [dg.AssetKey("batch_answers")]
