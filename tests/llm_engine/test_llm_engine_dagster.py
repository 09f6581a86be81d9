"""The Dagster surface against the emulator: assets, asset check, sensors, bad input."""

import re
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from dagster_labeling._core import InvalidInput
from dagster_labeling.llm_engine import (
    LLMEngineClient,
    LLMEngineResource,
    build_llm_engine_batch_completion_sensor,
    build_llm_engine_completions_asset,
    build_llm_engine_fine_tune_asset,
    build_llm_engine_fine_tune_sensor,
    build_llm_engine_training_file_asset,
)
from dagster_labeling.testing.pytest_plugin import LLMEngineEmulatorHandle

FAST = {"poll_interval_seconds": 0.05}


def resource(emu: LLMEngineEmulatorHandle) -> LLMEngineResource:
    return LLMEngineResource(api_key=emu.api_key, base_url=emu.base_url.rstrip("/"), max_concurrency=8)


def pairs_asset(rows: int, **overrides: Any) -> dg.AssetsDefinition:
    @dg.asset(name="pairs")
    def pairs() -> pd.DataFrame:
        frame = pd.DataFrame({"prompt": [f"q{i}" for i in range(rows)], "response": [f"a{i}" for i in range(rows)]})
        for k, v in overrides.items():
            frame[k] = v
        return frame

    return pairs


def questions_asset(n: int) -> dg.AssetsDefinition:
    @dg.asset(name="questions")
    def questions() -> pd.DataFrame:
        return pd.DataFrame({"id": [f"q{i}" for i in range(n)], "prompt": [f"Question number {i}?" for i in range(n)]})

    return questions


def run(assets: list, emu: LLMEngineEmulatorHandle, run_config: dict | None = None,
        instance: dg.DagsterInstance | None = None, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, resources={"llm_engine": resource(emu), "io_manager": dg.mem_io_manager},
                          run_config=run_config, instance=instance, raise_on_error=raise_on_error)


def test_pipeline_train_fine_tune_complete(llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    pairs = pairs_asset(250)
    train = build_llm_engine_training_file_asset(name="train_file", upstream=pairs)
    tuned = build_llm_engine_fine_tune_asset(name="tuned_model", training_file_asset=train, base_model="llama-2-7b",
                                             hyperparameters={"epochs": 3}, suffix="dg", eval_loss_threshold=5.0)
    answers = build_llm_engine_completions_asset(name="answers", upstream=questions_asset(30), model_asset=tuned,
                                                 key_column="id", max_new_tokens=6, mode="concurrent")
    result = run([pairs, train, tuned, questions_asset(30), answers], llm_engine_emulator,
                 {"ops": {"tuned_model": {"config": FAST}}})
    file_id = result.output_for_node("train_file")
    assert file_id in llm_engine_emulator.state.files
    assert llm_engine_emulator.state.file_contents[file_id].startswith(b"prompt,response\r\nq0,a0")
    model = result.output_for_node("tuned_model")
    assert model.startswith("llama-2-7b.dg.") and model in llm_engine_emulator.state.endpoints
    meta = result.asset_materializations_for_node("tuned_model")[0].metadata
    assert isinstance(meta["final_eval_loss"].value, float) and isinstance(meta["final_train_loss"].value, float)
    assert meta["final_eval_loss"].value < meta["first_eval_loss"].value
    assert len(meta["llm_engine/loss_per_epoch"].value.records) == 3
    # the loss curve as numbers Dagster plots: one observation per epoch, in order, ending at the final losses
    epochs = [o.metadata for o in result.asset_observations_for_node("tuned_model") if "epoch" in o.metadata]
    assert [e["epoch"].value for e in epochs] == [1.0, 2.0, 3.0]
    assert all(isinstance(e["train_loss"].value, float) for e in epochs)
    assert epochs[-1]["eval_loss"].value == meta["final_eval_loss"].value
    assert meta["llm_engine/state"].value == "SUCCEEDED" and meta["llm_engine/fine_tune_id"].value.startswith("ft-")
    check = result.get_asset_check_evaluations()[0]
    assert check.passed and check.check_name == "eval_loss_below_threshold"
    frame = result.output_for_node("answers")
    assert list(frame["key"]) == [f"q{i}" for i in range(30)] and frame["error"].isna().all()
    assert (frame["num_completion_tokens"] > 0).all() and frame["completion"].str.len().min() > 0
    ameta = result.asset_materializations_for_node("answers")[0].metadata
    assert ameta["llm_engine/completion_tokens"].value == int(frame["num_completion_tokens"].sum())
    assert ameta["llm_engine/mode"].value == "concurrent"


def test_small_training_set_warns_and_check_fails_on_threshold(llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    pairs = pairs_asset(5)
    train = build_llm_engine_training_file_asset(name="train_file", upstream=pairs)
    tuned = build_llm_engine_fine_tune_asset(name="tuned_model", training_file_asset=train, base_model="mistral-7b",
                                             hyperparameters={"epochs": 2}, eval_loss_threshold=0.01)
    result = run([pairs, train, tuned], llm_engine_emulator, {"ops": {"tuned_model": {"config": FAST}}})
    warnings = result.asset_materializations_for_node("train_file")[0].metadata["llm_engine/warnings"].value
    assert warnings and "at least 200" in warnings[0]
    check = result.get_asset_check_evaluations()[0]
    assert not check.passed and check.metadata["threshold"].value == 0.01


@pytest.mark.parametrize("overrides, match", [
    ({"response": None}, "column 'response' (required) has no value — 3 row(s): [0, 1, 2]"),
    ({"prompt": " "}, "column 'prompt' is blank text — 3 row(s): [0, 1, 2]"),
])
def test_bad_training_data_fails_before_sending(llm_engine_emulator: LLMEngineEmulatorHandle, overrides: dict,
                                               match: str) -> None:
    pairs = pairs_asset(3, **overrides)
    train = build_llm_engine_training_file_asset(name="train_file", upstream=pairs)
    result = run([pairs, train], llm_engine_emulator, raise_on_error=False)
    assert not result.success
    assert match in str(result.get_step_failure_events()[0].event_specific_data.error)  # type: ignore[union-attr]
    assert len(llm_engine_emulator.request_log) == 0


def test_training_data_column_and_size_limits() -> None:
    from dagster_labeling.llm_engine.pipeline import validate_training_frame

    with pytest.raises(InvalidInput, match="'response' is not in the DataFrame") as err:
        validate_training_frame(pd.DataFrame({"prompt": ["a"], "answer": ["b"]}))
    assert err.value.field == "response"
    big = pd.DataFrame({"prompt": ["a"] * 100_001, "response": ["b"] * 100_001})
    with pytest.raises(InvalidInput, match="100,000"):
        validate_training_frame(big)


def test_factories_refuse_bad_input_at_definition_time() -> None:
    with pytest.raises(InvalidInput, match="Unknown base model"):
        build_llm_engine_fine_tune_asset(name="t", training_file_asset="f", base_model="gpt-5")
    with pytest.raises(InvalidInput, match="temperature"):
        build_llm_engine_completions_asset(name="c", upstream="q", model="llama-2-7b", temperature=2.0)
    with pytest.raises(InvalidInput, match="not a valid"):
        build_llm_engine_completions_asset(name="c", upstream="q", model="llama 2/7b")


def test_completions_batch_path(llm_engine_emulator: LLMEngineEmulatorHandle, tmp_path: Path) -> None:
    answers = build_llm_engine_completions_asset(name="answers", upstream=questions_asset(12), model="llama-2-7b",
                                                 mode="auto", batch_threshold=10, batch_output_dir=str(tmp_path),
                                                 max_new_tokens=5, poll_interval_seconds=0.05)
    result = run([questions_asset(12), answers], llm_engine_emulator)
    frame = result.output_for_node("answers")
    meta = result.asset_materializations_for_node("answers")[0].metadata
    assert meta["llm_engine/mode"].value == "batch" and meta["llm_engine/batch_job_id"].value.startswith("batch-")
    with LLMEngineClient(llm_engine_emulator.api_key, base_url=llm_engine_emulator.base_url) as c:
        assert frame["completion"][3] == c.complete("llama-2-7b", "Question number 3?", max_new_tokens=5).output.text


def tick(sensor: dg.SensorDefinition, emu: LLMEngineEmulatorHandle, instance: dg.DagsterInstance,
         cursor: str | None) -> Any:
    with dg.build_sensor_context(cursor=cursor, instance=instance, resources={"llm_engine": resource(emu)}) as ctx:
        result = sensor(ctx)
        return result, result.cursor if isinstance(result, dg.SensorResult) else ctx.cursor


def test_fine_tune_sensor_reports_each_success_once(llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    instance = dg.DagsterInstance.ephemeral()
    llm_engine_emulator.state.fine_tune_pending_seconds = 1000
    sensor = build_llm_engine_fine_tune_sensor(name="ft_done", model_asset_key="tuned_model", target="answers",
                                               max_fine_tunes_per_tick=1)
    with LLMEngineClient(llm_engine_emulator.api_key, base_url=llm_engine_emulator.base_url) as c:
        old = c.create_fine_tune("llama-2-7b", "https://x.test/d.csv", hyperparameters={"epochs": 1})
        llm_engine_emulator.state.complete_all()
        first, cursor = tick(sensor, llm_engine_emulator, instance, None)
        assert isinstance(first, dg.SkipReason)  # already finished before the sensor started: only recorded
        a = c.create_fine_tune("llama-2-7b", "https://x.test/d.csv", hyperparameters={"epochs": 2})
        b = c.create_fine_tune("mistral-7b", "https://x.test/d.csv", hyperparameters={"epochs": 2})
        second, cursor = tick(sensor, llm_engine_emulator, instance, cursor)
        assert isinstance(second, dg.SkipReason)
        llm_engine_emulator.state.complete_all()
        third, cursor = tick(sensor, llm_engine_emulator, instance, cursor)
        fourth, cursor = tick(sensor, llm_engine_emulator, instance, cursor)
        fifth, cursor = tick(sensor, llm_engine_emulator, instance, cursor)
    reported = [r.run_key for r in third.run_requests + fourth.run_requests]
    assert reported == [f"ft_done:{a.id}", f"ft_done:{b.id}"] and old.id not in str(reported)
    mat = third.asset_events[0]
    assert mat.asset_key == dg.AssetKey("tuned_model")
    assert mat.metadata["llm_engine/fine_tuned_model"].value.startswith("llama-2-7b.")
    assert isinstance(mat.metadata["final_eval_loss"].value, float)
    assert isinstance(fifth, dg.SkipReason)


def test_batch_sensor_requests_run_when_handed_off_batch_finishes(llm_engine_emulator: LLMEngineEmulatorHandle,
                                                                  tmp_path: Path) -> None:
    instance = dg.DagsterInstance.ephemeral()
    llm_engine_emulator.state.batch_seconds = 1000
    answers = build_llm_engine_completions_asset(name="answers", upstream=questions_asset(3), model="llama-2-7b",
                                                 mode="batch", batch_output_dir=str(tmp_path), wait_for_batch=False)
    result = run([questions_asset(3), answers], llm_engine_emulator, instance=instance)
    job_id = result.asset_materializations_for_node("answers")[0].metadata["llm_engine/batch_job_id"].value
    sensor = build_llm_engine_batch_completion_sensor(name="batch_done", completions_asset=answers, target="x")
    first, cursor = tick(sensor, llm_engine_emulator, instance, None)
    assert isinstance(first, dg.SkipReason) and "1 batch job(s) still running" in first.skip_message
    llm_engine_emulator.state.complete_all()
    second, cursor = tick(sensor, llm_engine_emulator, instance, cursor)
    assert [r.run_key for r in second.run_requests] == [f"batch_done:{job_id}"]
    third, cursor = tick(sensor, llm_engine_emulator, instance, cursor)
    assert isinstance(third, dg.SkipReason)


def test_fine_tune_rerun_reattaches_instead_of_launching_twice(llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    """A retry or re-run of the fine-tune step with the same inputs reattaches to the earlier fine-tune."""
    tuned = build_llm_engine_fine_tune_asset(name="tuned_model", training_file_asset="train_file",
                                             base_model="llama-2-7b", hyperparameters={"epochs": 2}, suffix="re")
    file_id = "file-reattach"
    llm_engine_emulator.state.files[file_id] = {"id": file_id, "filename": "t.csv", "size": 1}
    instance = dg.DagsterInstance.ephemeral()

    def materialize(config: dict) -> dg.ExecuteInProcessResult:
        @dg.asset(name="train_file")
        def train_file() -> str:
            return file_id

        return dg.materialize([train_file, tuned], instance=instance, run_config={"ops": {"tuned_model": {
            "config": config}}}, resources={"llm_engine": resource(llm_engine_emulator),
                                            "io_manager": dg.mem_io_manager})

    first = materialize({"wait_for_completion": False})  # launched, then the run ends (or the worker dies)
    first_id = first.asset_materializations_for_node("tuned_model")[0].metadata["llm_engine/fine_tune_id"].value
    second = materialize(FAST)
    second_meta = second.asset_materializations_for_node("tuned_model")[0].metadata
    assert second_meta["llm_engine/fine_tune_id"].value == first_id
    assert second_meta["llm_engine/state"].value == "SUCCEEDED"
    assert len(llm_engine_emulator.state.fine_tunes) == 1

    # A fine-tune that failed is not reattached to: a new launch replaces it.
    llm_engine_emulator.state.fine_tunes[first_id]["status"] = "FAILURE"
    third = materialize(FAST)
    assert third.asset_materializations_for_node("tuned_model")[0].metadata["llm_engine/fine_tune_id"].value != first_id
    assert len(llm_engine_emulator.state.fine_tunes) == 2


def test_partitioned_training_and_fine_tunes_one_per_partition(llm_engine_emulator: LLMEngineEmulatorHandle,
                                                               tmp_path: Path) -> None:
    """Backfill over days: a file and a fine-tune per partition; a re-run reattaches to its own partition's
    fine-tune; the sensor reports a handed-off fine-tune for the partition that launched it."""
    days = dg.StaticPartitionsDefinition(["2026-11-01", "2026-11-02"])

    @dg.asset(name="pairs", partitions_def=days)
    def pairs(context: dg.AssetExecutionContext) -> pd.DataFrame:
        day = context.partition_key
        return pd.DataFrame({"prompt": [f"{day} q{i}" for i in range(5)], "response": [f"a{i}" for i in range(5)]})

    train = build_llm_engine_training_file_asset(name="train_file", upstream=pairs)
    tuned = build_llm_engine_fine_tune_asset(name="tuned_model", training_file_asset=train, base_model="llama-2-7b",
                                             hyperparameters={"epochs": 2})
    assert train.partitions_def == days and tuned.partitions_def == days
    instance = dg.DagsterInstance.ephemeral()
    llm_engine_emulator.state.fine_tune_pending_seconds = 1000

    def materialize(day: str, config: dict, only_fine_tune: bool = False) -> dg.ExecuteInProcessResult:
        return dg.materialize([pairs, train, tuned], instance=instance, partition_key=day,
                              selection=[tuned] if only_fine_tune else None,
                              run_config={"ops": {"tuned_model": {"config": config}}},
                              resources={"llm_engine": resource(llm_engine_emulator),
                                         "io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path))})

    launched = {}
    for day in days.get_partition_keys():
        mat = materialize(day, {"wait_for_completion": False}).asset_materializations_for_node("tuned_model")[0]
        assert mat.partition == day
        launched[day] = mat.metadata["llm_engine/fine_tune_id"].value
    names = sorted(f["filename"] for f in llm_engine_emulator.state.files.values())
    assert [re.sub(r"\.[0-9a-f]{16}\.csv$", ".<digest>.csv", n) for n in names] == [
        "train_file__2026-11-01.<digest>.csv", "train_file__2026-11-02.<digest>.csv"]
    assert len(set(launched.values())) == 2 and len(llm_engine_emulator.state.fine_tunes) == 2

    sensor = build_llm_engine_fine_tune_sensor(name="ft_done", model_asset_key="tuned_model", fine_tune_asset=tuned,
                                               report_existing=True)
    llm_engine_emulator.state.complete_all()
    with dg.build_sensor_context(instance=instance, resources={"llm_engine": resource(llm_engine_emulator)}) as ctx:
        result = sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    by_partition = {e.partition: e.metadata["llm_engine/fine_tune_id"].value for e in result.asset_events}
    assert by_partition == launched

    rerun = materialize("2026-11-02", FAST, only_fine_tune=True).asset_materializations_for_node("tuned_model")[0]
    assert rerun.metadata["llm_engine/fine_tune_id"].value == launched["2026-11-02"]  # its own, not the other day's
    assert rerun.metadata["llm_engine/state"].value == "SUCCEEDED"
    assert len(llm_engine_emulator.state.fine_tunes) == 2
