"""The Dagster flows of dagster_labeling.adaptive.flows against the emulator: training and evaluation assets (wait,
reattach, hand-off to the job sensor, cancel on termination, results as numbers), feedback on existing
completions (exactly once), chat and embeddings over a DataFrame, the A/B sensor's cancelled tests and the
significance check, and the dataset asset above 5 MiB."""

import time
from typing import Any

import dagster as dg
import pandas as pd
import pytest
from dagster._core.errors import DagsterExecutionInterruptedError

from dagster_labeling._core import JobHandle, ServerError
from dagster_labeling.adaptive import (
    AdaptiveClient,
    AdaptiveResource,
    build_adaptive_ab_test_asset,
    build_adaptive_ab_test_sensor,
    build_adaptive_dataset_asset,
    build_adaptive_job_sensor,
)
from dagster_labeling.adaptive.flows import (
    build_adaptive_ab_significance_check,
    build_adaptive_chat_asset,
    build_adaptive_embeddings_asset,
    build_adaptive_evaluation_asset,
    build_adaptive_feedback_asset,
    build_adaptive_training_asset,
)
from dagster_labeling.adaptive.training import DatasetSource, EvaluationConfig, TrainingConfig
from dagster_labeling.testing.pytest_plugin import AdaptiveEmulatorHandle

LLAMA, QWEN, GEMMA = "llama-3.1-8b-instruct", "qwen-2.5-7b", "gemma-3-4b-it"
FAST = {"poll_interval_seconds": 0.02, "wait_timeout_seconds": 30}
TRAINING = TrainingConfig(model=LLAMA, data=DatasetSource(dataset="reviewed"), output_model_key="support-sft")
EVALUATION = EvaluationConfig(models=[LLAMA, QWEN], judge_model=GEMMA, method="answer_relevancy",
                              data=DatasetSource(dataset="faq"))


def resource(emu: AdaptiveEmulatorHandle) -> AdaptiveResource:
    return AdaptiveResource(api_key=emu.api_key, base_url=emu.base_url, max_concurrency=4)


def client(emu: AdaptiveEmulatorHandle) -> AdaptiveClient:
    return AdaptiveClient(emu.api_key, base_url=emu.base_url)


@pytest.fixture
def project(adaptive_emulator: AdaptiveEmulatorHandle) -> str:
    adaptive_emulator.ensure_project("support", models=[LLAMA, QWEN, GEMMA], default=LLAMA)
    state = adaptive_emulator.state
    state.ab_min_scores, state.job_pending_seconds, state.job_run_seconds = 5, 0.0, 0.2
    with client(adaptive_emulator) as c:
        c.register_feedback_key("support", "acceptance", kind="bool")
        c.register_feedback_key("support", "preference")
    return "support"


def materialize(assets: list[Any], emu: AdaptiveEmulatorHandle, instance: dg.DagsterInstance,
                config: dict[str, Any] | None = None, **kwargs: Any) -> dg.ExecuteInProcessResult:
    """Materialize ``assets`` (with checks), ``config`` being the first asset's run config."""
    run_config = {"ops": {assets[0].key.path[-1]: {"config": config}}} if config is not None else None
    return dg.materialize(assets, instance=instance, resources={"adaptive": resource(emu)}, run_config=run_config,
                          **kwargs)


def sensor_tick(sensor: dg.SensorDefinition, emu: AdaptiveEmulatorHandle, instance: dg.DagsterInstance,
                cursor: str | None) -> tuple[Any, str | None]:
    with dg.build_sensor_context(cursor=cursor, instance=instance, resources={"adaptive": resource(emu)}) as ctx:
        result = sensor(ctx)
        return result, result.cursor if isinstance(result, dg.SensorResult) else ctx.cursor


# -- training and evaluation ------------------------------------------------------------------------------
def test_training_asset_waits_outputs_the_model_and_reattaches(adaptive_emulator: AdaptiveEmulatorHandle,
                                                               project: str) -> None:
    tuned = build_adaptive_training_asset(name="support_sft", project=project, config=TRAINING, **FAST)
    instance = dg.DagsterInstance.ephemeral()
    first = materialize([tuned], adaptive_emulator, instance)
    assert first.output_for_node("support_sft") == "support-sft"
    meta = first.asset_materializations_for_node("support_sft")[0].metadata
    assert meta["adaptive/model"].value == "support-sft" and meta["adaptive/status"].value == "COMPLETED"
    assert meta["adaptive/alignment_method"].value == "SFT"
    [job] = adaptive_emulator.state.jobs.values()
    assert job["recipe"] == "sft" and job["name"] == "support_sft" and job["args"] == TRAINING.to_recipe_args()
    again = materialize([tuned], adaptive_emulator, instance)  # a re-run: the same job, no second one
    assert again.output_for_node("support_sft") == "support-sft" and len(adaptive_emulator.state.jobs) == 1


def test_evaluation_results_are_numbers_per_model_and_metric(adaptive_emulator: AdaptiveEmulatorHandle,
                                                             project: str) -> None:
    evaluation = build_adaptive_evaluation_asset(name="support_eval", project=project, config=EVALUATION, **FAST)
    result = materialize([evaluation], adaptive_emulator, dg.DagsterInstance.ephemeral())
    frame = result.output_for_node("support_eval")
    assert sorted(zip(frame["model"], frame["metric"], strict=True)) == [(LLAMA, "answer_relevancy"),
                                                                         (QWEN, "answer_relevancy")]
    meta = result.asset_materializations_for_node("support_eval")[0].metadata
    for model, mean in zip(frame["model"], frame["mean"], strict=True):
        value = meta[f"adaptive/mean/{model}/answer_relevancy"]
        assert isinstance(value, dg.FloatMetadataValue) and value.value == mean
    observations = [e.event_specific_data.asset_observation for e in result.all_events
                    if e.event_type_value == "ASSET_OBSERVATION"]
    per_model = {o.metadata["adaptive/model"].value: o.metadata for o in observations
                 if "adaptive/model" in o.metadata}
    assert set(per_model) == {LLAMA, QWEN}
    assert all(isinstance(m["adaptive/score/answer_relevancy"], dg.FloatMetadataValue) for m in per_model.values())


def test_handed_off_jobs_are_recorded_by_the_job_sensor(adaptive_emulator: AdaptiveEmulatorHandle,
                                                        project: str) -> None:
    adaptive_emulator.state.job_run_seconds = 3600.0
    weeks = dg.StaticPartitionsDefinition(["w1", "w2"])
    evaluation = build_adaptive_evaluation_asset(name="weekly_eval", project=project, config=EVALUATION,
                                                 partitions_def=weeks, wait_for_completion=False)
    sensor = build_adaptive_job_sensor(name="eval_done", project=project, job_asset=evaluation)
    instance = dg.DagsterInstance.ephemeral()
    _, cursor = sensor_tick(sensor, adaptive_emulator, instance, None)
    handed = materialize([evaluation], adaptive_emulator, instance, partition_key="w2")
    assert handed.output_for_node("weekly_eval").empty  # no results yet
    job_id = handed.asset_materializations_for_node("weekly_eval")[0].metadata["adaptive/job_id"].value
    again = materialize([evaluation], adaptive_emulator, instance, partition_key="w2")  # reattached
    assert again.asset_materializations_for_node("weekly_eval")[0].metadata["adaptive/job_id"].value == job_id
    assert len(adaptive_emulator.state.jobs) == 1
    running, cursor = sensor_tick(sensor, adaptive_emulator, instance, cursor)
    assert isinstance(running, dg.SkipReason)
    adaptive_emulator.complete_all()
    done, cursor = sensor_tick(sensor, adaptive_emulator, instance, cursor)
    assert isinstance(done, dg.SensorResult)
    [mat] = [e for e in done.asset_events if isinstance(e, dg.AssetMaterialization)]
    assert mat.partition == "w2" and mat.metadata["adaptive/job_id"].value == job_id
    assert isinstance(mat.metadata[f"adaptive/mean/{LLAMA}/answer_relevancy"], dg.FloatMetadataValue)
    observed = [e for e in done.asset_events if isinstance(e, dg.AssetObservation)]
    assert sorted(o.metadata["adaptive/model"].value for o in observed) == [LLAMA, QWEN]
    assert all(o.partition == "w2" for o in observed)
    quiet, _ = sensor_tick(sensor, adaptive_emulator, instance, cursor)
    assert isinstance(quiet, dg.SkipReason)


def test_terminated_run_cancels_the_training_job(adaptive_emulator: AdaptiveEmulatorHandle, project: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    adaptive_emulator.state.job_run_seconds = 3600.0
    tuned = build_adaptive_training_asset(name="support_sft", project=project, config=TRAINING,
                                          poll_interval_seconds=0.01)
    polls: list[float] = []

    def terminate_on_second_poll(self: Any, seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:
            raise DagsterExecutionInterruptedError()
        time.sleep(seconds)

    monkeypatch.setattr(JobHandle, "sleep", terminate_on_second_poll)
    with pytest.raises(DagsterExecutionInterruptedError):
        materialize([tuned], adaptive_emulator, dg.DagsterInstance.ephemeral())
    [job] = adaptive_emulator.state.jobs.values()
    assert job["status"] == "CANCELED"


def test_failed_training_fails_the_step_with_the_reason(adaptive_emulator: AdaptiveEmulatorHandle,
                                                        project: str) -> None:
    adaptive_emulator.state.fail_jobs = True
    tuned = build_adaptive_training_asset(name="support_sft", project=project, config=TRAINING, **FAST)
    result = materialize([tuned], adaptive_emulator, dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert "ended FAILED: Recipe failed" in str(failure.step_failure_data.user_failure_data.description)


# -- feedback ---------------------------------------------------------------------------------------------
def _completions(emu: AdaptiveEmulatorHandle, project: str, n: int) -> list[str]:
    with client(emu) as c:
        return [str(c.chat(project, [{"role": "user", "content": f"q{i}"}], model=LLAMA).choices[0].completion_id)
                for i in range(n)]


def test_feedback_asset_scores_each_completion_once(adaptive_emulator: AdaptiveEmulatorHandle, project: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _completions(adaptive_emulator, project, 4)
    missing = "00000000-0000-4000-8000-000000000000"

    @dg.asset(name="judged")
    def judged() -> pd.DataFrame:
        return pd.DataFrame({"completion_id": [*ids, missing], "value": [True, False, True, 1, 0],
                             "why": ["ok", "wrong", None, "ok", "x"]})

    scored = build_adaptive_feedback_asset(name="judged_feedback", upstream=judged, project=project,
                                           feedback_key="acceptance", details_column="why", allow_partial=True)
    instance = dg.DagsterInstance.ephemeral()
    log_metric = AdaptiveClient.log_metric
    lost: list[str] = []

    def stored_then_lost(self: AdaptiveClient, completion_id: str, *args: Any, **kwargs: Any) -> str:
        feedback_id = log_metric(self, completion_id, *args, **kwargs)
        if completion_id == ids[0] and not lost:  # the server stored it, the answer never came back
            lost.append(feedback_id)
            raise ServerError("502 Bad Gateway", platform="Adaptive ML", method="POST", path="api/graphql",
                              status_code=502)
        return feedback_id

    monkeypatch.setattr(AdaptiveClient, "log_metric", stored_then_lost)
    first = dg.materialize([judged, scored], instance=instance, resources={"adaptive": resource(adaptive_emulator)})
    frame = first.output_for_node("judged_feedback").set_index("key")
    assert frame.loc[ids[0], "feedback_id"] == lost[0]  # found by the look-up, not sent twice
    assert frame.loc[ids, "feedback_id"].notna().all() and frame.loc[missing, "error"]
    meta = first.asset_materializations_for_node("judged_feedback")[0].metadata
    assert meta["adaptive/sent"].value == 4 and meta["adaptive/failed"].value == 1

    def scores() -> dict[str, list[tuple[float, str | None]]]:
        state = adaptive_emulator.state
        return {cid: [(state.scores[s]["value"], state.scores[s]["details"]) for s in state.completions[cid]["scores"]]
                for cid in ids}

    assert scores() == {ids[0]: [(1.0, "ok")], ids[1]: [(0.0, "wrong")], ids[2]: [(1.0, None)], ids[3]: [(1.0, "ok")]}
    second = dg.materialize([judged, scored], instance=instance, resources={"adaptive": resource(adaptive_emulator)})
    meta = second.asset_materializations_for_node("judged_feedback")[0].metadata
    assert meta["adaptive/already_sent"].value == 4 and meta["adaptive/sent"].value == 0
    assert all(len(v) == 1 for v in scores().values())  # nothing twice


def test_feedback_asset_logs_preferences_once_and_checks_rows_first(adaptive_emulator: AdaptiveEmulatorHandle,
                                                                    project: str) -> None:
    a, b, c = _completions(adaptive_emulator, project, 3)
    rows = pd.DataFrame({"preferred_completion_id": [a, c], "other_completion_id": [b, b]})

    @dg.asset(name="pairs")
    def pairs() -> pd.DataFrame:
        return rows

    prefs = build_adaptive_feedback_asset(name="pair_feedback", upstream=pairs, project=project,
                                          feedback_key="preference", kind="preference")
    instance = dg.DagsterInstance.ephemeral()
    for _ in range(2):
        result = dg.materialize([pairs, prefs], instance=instance, resources={"adaptive": resource(adaptive_emulator)})
    assert result.asset_materializations_for_node("pair_feedback")[0].metadata["adaptive/already_sent"].value == 2
    stored = sorted((x["preferred"], x["other"]) for x in adaptive_emulator.state.comparisons.values())
    assert stored == sorted([(a, b), (c, b)])
    rows = pd.DataFrame({"preferred_completion_id": [a, a, "not-an-id"], "other_completion_id": [b, b, "x"]})
    bad = dg.materialize([pairs, prefs], instance=instance, resources={"adaptive": resource(adaptive_emulator)},
                         raise_on_error=False)
    assert not bad.success and len(adaptive_emulator.state.comparisons) == 2  # nothing sent
    message = str(bad.get_step_failure_events()[0].step_failure_data.error)
    assert "repeats a preferred/other pair" in message and "not completion ids" in message


# -- chat and embeddings ----------------------------------------------------------------------------------
def test_chat_asset_answers_each_row_and_a_rerun_reuses_the_answers(adaptive_emulator: AdaptiveEmulatorHandle,
                                                                   project: str) -> None:
    @dg.asset(name="questions")
    def questions() -> pd.DataFrame:
        return pd.DataFrame({"id": [f"q{i}" for i in range(6)], "prompt": [f"Question {i}?" for i in range(6)]})

    answers = build_adaptive_chat_asset(name="answers", upstream=questions, project=project, key_column="id",
                                        model=QWEN, system_prompt="Be brief.", concurrency=3)
    instance = dg.DagsterInstance.ephemeral()
    first = dg.materialize([questions, answers], instance=instance, resources={"adaptive": resource(adaptive_emulator)})
    frame = first.output_for_node("answers")
    assert list(frame["key"]) == [f"q{i}" for i in range(6)]
    assert frame["completion"].str.len().gt(0).all() and frame["error"].isna().all()
    stored = adaptive_emulator.state.completions
    assert len(stored) == 6 and {stored[cid]["model"] for cid in frame["completion_id"]} == {QWEN}
    assert stored[frame["completion_id"][0]]["messages"][0] == {"role": "system", "content": "Be brief."}
    second = dg.materialize([questions, answers], instance=instance,
                            resources={"adaptive": resource(adaptive_emulator)})
    assert len(adaptive_emulator.state.completions) == 6  # nothing asked twice
    assert second.output_for_node("answers")[["completion_id", "completion"]].equals(
        frame[["completion_id", "completion"]])
    assert second.asset_materializations_for_node("answers")[0].metadata["adaptive/reused"].value == 6


def test_embeddings_asset_lists_failed_rows(adaptive_emulator: AdaptiveEmulatorHandle, project: str) -> None:
    adaptive_emulator.ensure_project(project, models=["bge-embed"])

    @dg.asset(name="texts")
    def texts() -> pd.DataFrame:
        return pd.DataFrame({"id": [1, 2, 3], "text": ["sky", "blue", "light"]})

    embedded = build_adaptive_embeddings_asset(name="embedded", upstream=texts, project=project, key_column="id",
                                               model="bge-embed")
    result = dg.materialize([texts, embedded], resources={"adaptive": resource(adaptive_emulator)})
    frame = result.output_for_node("embedded")
    assert list(frame["key"]) == ["1", "2", "3"] and all(len(e) > 0 for e in frame["embedding"])
    unknown = build_adaptive_embeddings_asset(name="embedded", upstream=texts, project=project, key_column="id",
                                              model="no-such-model", allow_partial=False)
    failed = dg.materialize([texts, unknown], resources={"adaptive": resource(adaptive_emulator)},
                            raise_on_error=False)
    assert not failed.success
    assert "3 of 3 rows were not embedded" in str(
        failed.get_step_failure_events()[0].step_failure_data.user_failure_data.description)


# -- A/B tests --------------------------------------------------------------------------------------------
def traffic(emu: AdaptiveEmulatorHandle, project: str, n: int = 12) -> None:
    with client(emu) as c:
        for i in range(n):
            for model, good in ((LLAMA, i % 3 == 0), (QWEN, True)):
                answer = c.chat(project, [{"role": "user", "content": f"q{i}"}], model=model)
                c.log_metric(str(answer.completion_id), "acceptance", good)


def test_ab_sensor_reports_a_cancelled_test(adaptive_emulator: AdaptiveEmulatorHandle, project: str,
                                            capfd: pytest.CaptureFixture[str]) -> None:
    ab = build_adaptive_ab_test_asset(name="support_ab", project=project, feedback_key="acceptance",
                                      models=[LLAMA, QWEN], wait_for_completion=False)
    sensor = build_adaptive_ab_test_sensor(name="ab_done", project=project, ab_test_asset=ab, target=[ab])
    instance = dg.DagsterInstance.ephemeral()
    _, cursor = sensor_tick(sensor, adaptive_emulator, instance, None)
    materialize([ab], adaptive_emulator, instance)
    with client(adaptive_emulator) as c:
        c.cancel_ab_test("support_ab")
    result, cursor = sensor_tick(sensor, adaptive_emulator, instance, cursor)
    assert isinstance(result, dg.SensorResult)
    [event] = result.asset_events
    assert event.metadata["adaptive/status"].value == "CANCELLED"
    assert event.metadata["adaptive/significant"].value is False
    assert not result.run_requests  # nothing to promote
    assert any("A/B test support_ab was cancelled: no result" in line for line in capfd.readouterr().err.splitlines())
    again, _ = sensor_tick(sensor, adaptive_emulator, instance, cursor)
    assert isinstance(again, dg.SkipReason)


def test_significance_check_passes_fails_and_waits(adaptive_emulator: AdaptiveEmulatorHandle, project: str) -> None:
    ab = build_adaptive_ab_test_asset(name="support_ab", project=project, feedback_key="acceptance",
                                      models=[LLAMA, QWEN], **FAST)
    check = build_adaptive_ab_significance_check(ab)
    strict = build_adaptive_ab_significance_check(ab, max_p_value=1e-12, name="very_significant")
    instance = dg.DagsterInstance.ephemeral()
    handed = materialize([ab, check], adaptive_emulator, instance, config={"wait_for_completion": False})
    [pending] = handed.get_asset_check_evaluations()
    assert not pending.passed and pending.severity == dg.AssetCheckSeverity.WARN
    assert "has not finished" in (pending.description or "")
    traffic(adaptive_emulator, project)
    waited = materialize([ab, check, strict], adaptive_emulator, instance, config=FAST)
    meta = waited.asset_materializations_for_node("support_ab")[0].metadata
    assert meta["adaptive/significant"].value is True and meta["adaptive/p_value"].value <= 0.05
    results = {e.check_name: e for e in waited.get_asset_check_evaluations()}
    assert results["adaptive_ab_significant"].passed
    strict_result = results["very_significant"]
    assert not strict_result.passed and strict_result.severity == dg.AssetCheckSeverity.ERROR
    assert f"{QWEN} leads with p=" in (strict_result.description or "")
    assert "not significant" in (strict_result.description or "")


# -- dataset asset above 5 MiB ----------------------------------------------------------------------------
def test_dataset_asset_uploads_in_parts_above_5_mib_once_per_partition(adaptive_emulator: AdaptiveEmulatorHandle,
                                                                       project: str) -> None:
    days = dg.StaticPartitionsDefinition(["d1", "d2"])
    text = "x" * 8000

    @dg.asset(name="pairs", partitions_def=days)
    def pairs(context: dg.AssetExecutionContext) -> pd.DataFrame:
        n = 700 if context.partition_key == "d1" else 3  # d1: ~5.6 MB of JSONL
        return pd.DataFrame({"prompt": [f"{context.partition_key} q{i}" for i in range(n)], "completion": [text] * n})

    faq = build_adaptive_dataset_asset(name="faq", upstream=pairs, project=project)
    instance = dg.DagsterInstance.ephemeral()
    log = adaptive_emulator.request_log
    for day, parts in (("d1", 2), ("d2", 0)):
        log.clear()
        result = materialize([pairs, faq], adaptive_emulator, instance, partition_key=day)
        assert result.output_for_node("faq") == f"faq__{day}"
        assert len(log.entries("POST", "/api/v1/upload/init")) == (1 if parts else 0)
        assert len(log.entries("POST", "/api/v1/upload/part")) == parts
        log.clear()
        again = materialize([pairs, faq], adaptive_emulator, instance, partition_key=day)
        assert again.asset_materializations_for_node("faq")[0].metadata["adaptive/uploaded"].value is False
        assert not log.entries("POST", "/api/v1/upload/init") and not log.entries("POST", "/api/v1/upload/part")
    datasets = {d["key"]: d["records"] for d in adaptive_emulator.state.datasets.values()}
    assert datasets == {"faq__d1": 700, "faq__d2": 3}
