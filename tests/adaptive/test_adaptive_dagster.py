"""The Dagster surface against the emulator: the A/B test asset (wait, reattach, hand-off to the sensor), the
sensor (each finished test once, partition kept), the interactions asset (a re-run logs nothing twice)."""

from typing import Any

import dagster as dg
import pandas as pd
import pytest

from dagster_labeling._core import InvalidInput
from dagster_labeling.adaptive import (
    AdaptiveClient,
    AdaptiveResource,
    build_adaptive_ab_test_asset,
    build_adaptive_ab_test_sensor,
    build_adaptive_interactions_asset,
)
from dagster_labeling.testing.pytest_plugin import AdaptiveEmulatorHandle

LLAMA, QWEN = "llama-3.1-8b-instruct", "qwen-2.5-7b"
FAST = {"poll_interval_seconds": 0.02, "wait_timeout_seconds": 30}


def resource(emu: AdaptiveEmulatorHandle) -> AdaptiveResource:
    return AdaptiveResource(api_key=emu.api_key, base_url=emu.base_url, max_concurrency=4)


def traffic(emu: AdaptiveEmulatorHandle, n: int = 6, project: str = "support") -> None:
    """Production traffic on both models, QWEN's answers accepted more often."""
    with AdaptiveClient(emu.api_key, base_url=emu.base_url) as client:
        for i in range(n):
            for model, good in ((LLAMA, i % 3 == 0), (QWEN, True)):
                answer = client.chat(project, [{"role": "user", "content": f"q{i}"}], model=model)
                client.log_metric(str(answer.completion_id), "acceptance", good)


@pytest.fixture
def project(adaptive_emulator: AdaptiveEmulatorHandle) -> str:
    adaptive_emulator.ensure_project("support", models=[LLAMA, QWEN], default=LLAMA)
    adaptive_emulator.state.ab_min_scores = 5
    with AdaptiveClient(adaptive_emulator.api_key, base_url=adaptive_emulator.base_url) as client:
        client.register_feedback_key("support", "acceptance", kind="bool")
    return "support"


def test_ab_test_asset_waits_for_the_winner_and_reattaches(adaptive_emulator: AdaptiveEmulatorHandle,
                                                           project: str) -> None:
    ab = build_adaptive_ab_test_asset(name="support_ab_test", project=project, feedback_key="acceptance",
                                      models=[LLAMA, QWEN], auto_deploy=True)
    instance = dg.DagsterInstance.ephemeral()

    def materialize(config: dict[str, Any]) -> dg.ExecuteInProcessResult:
        return dg.materialize([ab], instance=instance, resources={"adaptive": resource(adaptive_emulator)},
                              run_config={"ops": {"support_ab_test": {"config": config}}})

    handed = materialize({"wait_for_completion": False})
    assert handed.output_for_node("support_ab_test") == "support_ab_test"
    assert handed.asset_materializations_for_node("support_ab_test")[0].metadata["adaptive/status"].value in (
        "WARMUP", "IN_PROGRESS")
    traffic(adaptive_emulator)
    waited = materialize(FAST)  # the same test: reattached, not created twice
    assert waited.output_for_node("support_ab_test") == QWEN
    meta = waited.asset_materializations_for_node("support_ab_test")[0].metadata
    assert meta["adaptive/status"].value == "DONE" and meta["adaptive/winner"].value == QWEN
    assert isinstance(meta["adaptive/p_value"].value, float)
    assert {r["model"] for r in (dict(rec.data) for rec in meta["adaptive/variants"].value.records)} == {LLAMA, QWEN}
    assert len(adaptive_emulator.state.ab_campaigns) == 1


def test_sensor_reports_each_finished_test_once_in_its_partition(adaptive_emulator: AdaptiveEmulatorHandle,
                                                                 project: str) -> None:
    weeks = dg.StaticPartitionsDefinition(["w1", "w2"])
    ab = build_adaptive_ab_test_asset(name="weekly_ab", project=project, feedback_key="acceptance",
                                      models=[LLAMA, QWEN], partitions_def=weeks, wait_for_completion=False)
    sensor = build_adaptive_ab_test_sensor(name="ab_done", project=project, ab_test_asset=ab, target=[ab])
    instance = dg.DagsterInstance.ephemeral()
    res = resource(adaptive_emulator)

    def tick(cursor: str | None) -> tuple[Any, str | None]:
        with dg.build_sensor_context(cursor=cursor, instance=instance, resources={"adaptive": res}) as ctx:
            result = sensor(ctx)
            return result, result.cursor if isinstance(result, dg.SensorResult) else ctx.cursor

    first, cursor = tick(None)
    assert isinstance(first, dg.SkipReason)
    dg.materialize([ab], instance=instance, partition_key="w2", resources={"adaptive": res})
    assert adaptive_emulator.state.ab_campaigns  # weekly_ab__w2 started, handed off
    quiet, cursor = tick(cursor)
    assert isinstance(quiet, dg.SkipReason)
    adaptive_emulator.complete_all()
    done, cursor = tick(cursor)
    assert isinstance(done, dg.SensorResult)
    [event] = done.asset_events
    assert event.asset_key == ab.key and event.partition == "w2"
    assert event.metadata["adaptive/ab_test"].value == "weekly_ab__w2"
    assert event.metadata["adaptive/status"].value == "DONE"
    [request] = done.run_requests or []
    assert request.run_key == "ab_done:weekly_ab__w2" and request.partition_key == "w2"
    again, cursor = tick(cursor)
    assert isinstance(again, dg.SkipReason)


def test_interactions_asset_logs_each_row_once(adaptive_emulator: AdaptiveEmulatorHandle, project: str) -> None:
    @dg.asset(name="reviewed")
    def reviewed() -> pd.DataFrame:
        return pd.DataFrame({"id": ["r1", "r2", "r3"], "text": ["Great phone", "Broke in a day", "Fine"],
                             "label": ["positive", "negative", "neutral"], "accepted": [True, False, True]})

    logged = build_adaptive_interactions_asset(
        name="reviewed_interactions", upstream=reviewed, project=project, key_column="id", prompt_column="text",
        completion_column="label", model=LLAMA, feedback_key="acceptance", feedback_column="accepted")
    instance = dg.DagsterInstance.ephemeral()
    resources = {"adaptive": resource(adaptive_emulator)}
    first = dg.materialize([reviewed, logged], instance=instance, resources=resources)
    frame = first.output_for_node("reviewed_interactions")
    assert list(frame["key"]) == ["r1", "r2", "r3"] and frame["completion_id"].notna().all()
    with AdaptiveClient(adaptive_emulator.api_key, base_url=adaptive_emulator.base_url) as client:
        stored = client.list_interactions(project, first=50)
        assert sorted(i.completion or "" for i in stored) == ["negative", "neutral", "positive"]
        scores = {i.completion: [s.value for s in i.direct_scores] for i in stored}
        assert scores == {"positive": [1.0], "negative": [0.0], "neutral": [1.0]}
    second = dg.materialize([reviewed, logged], instance=instance, resources=resources)  # a re-run
    meta = second.asset_materializations_for_node("reviewed_interactions")[0].metadata
    assert meta["adaptive/already_logged"].value == 3 and meta["adaptive/logged"].value == 0
    assert list(second.output_for_node("reviewed_interactions")["completion_id"]) == list(frame["completion_id"])
    with AdaptiveClient(adaptive_emulator.api_key, base_url=adaptive_emulator.base_url) as client:
        assert len(client.list_interactions(project, first=50)) == 3


def test_factories_refuse_bad_input() -> None:
    with pytest.raises(InvalidInput) as info:
        build_adaptive_ab_test_asset(name="x", project="p", feedback_key="k", models=["a", "a"])
    assert info.value.field == "models"
    with pytest.raises(InvalidInput) as info:
        build_adaptive_interactions_asset(name="x", upstream="u", project="p", key_column="id", feedback_key="k")
    assert info.value.field == "feedback_key"



def test_job_asset_waits_reattaches_and_fails_with_the_reason(adaptive_emulator: AdaptiveEmulatorHandle,
                                                              project: str) -> None:
    from dagster_labeling.adaptive import build_adaptive_job_asset

    evaluation = build_adaptive_job_asset(name="support_eval", project=project, recipe="eval-judge",
                                          args={"models": [LLAMA, QWEN], "dataset": "faq"})
    instance = dg.DagsterInstance.ephemeral()

    def materialize(config: dict[str, Any], raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
        return dg.materialize([evaluation], instance=instance, resources={"adaptive": resource(adaptive_emulator)},
                              run_config={"ops": {"support_eval": {"config": config}}}, raise_on_error=raise_on_error)

    handed = materialize({"wait_for_completion": False})
    job_id = handed.output_for_node("support_eval")
    waited = materialize(FAST)  # a re-run: the same job, waited for
    assert waited.output_for_node("support_eval") == job_id and len(adaptive_emulator.state.jobs) == 1
    meta = waited.asset_materializations_for_node("support_eval")[0].metadata
    assert meta["adaptive/status"].value == "COMPLETED"
    means = {k: v.value for k, v in meta.items() if k.startswith("adaptive/mean/")}
    assert means and all(isinstance(v, float) for v in means.values())
    assert len(meta["adaptive/eval_results"].value.records) == len(means)

    adaptive_emulator.state.fail_jobs = True
    changed = build_adaptive_job_asset(name="support_eval", project=project, recipe="eval-judge",
                                       args={"models": [LLAMA], "dataset": "faq"})  # other args: a new job
    failed = dg.materialize([changed], instance=instance, resources={"adaptive": resource(adaptive_emulator)},
                            run_config={"ops": {"support_eval": {"config": FAST}}}, raise_on_error=False)
    assert not failed.success and len(adaptive_emulator.state.jobs) == 2
    failure = next(e for e in failed.all_events if e.is_step_failure)
    assert "ended FAILED" in str(failure.step_failure_data.error)


def test_one_run_under_faults_logs_each_row_exactly_once(adaptive_emulator: AdaptiveEmulatorHandle,
                                                        project: str) -> None:
    """20% faults on every request (429, 5xx, slow, drops before and after the server stored the interaction):
    ONE run logs 1,000 rows, each exactly once. A POST whose answer is lost is looked up by its row label
    and sent again only if it is absent."""
    n = 1000
    rows = pd.DataFrame({"id": [f"r{i}" for i in range(n)], "q": [f"question {i}" for i in range(n)],
                         "a": [f"answer {i}" for i in range(n)], "ok": [i % 2 == 0 for i in range(n)]})

    @dg.asset(name="answers")
    def answers() -> pd.DataFrame:
        return rows

    logged = build_adaptive_interactions_asset(name="answers_logged", upstream=answers, project=project,
                                               key_column="id", prompt_column="q", completion_column="a",
                                               feedback_key="acceptance", feedback_column="ok")
    resources = {"adaptive": AdaptiveResource(api_key=adaptive_emulator.api_key, base_url=adaptive_emulator.base_url,
                                              max_concurrency=16, retry={"max_attempts": 8, "initial_backoff_seconds":
                                                                         0.01, "max_backoff_seconds": 0.05})}
    adaptive_emulator.set_faults(rate=0.2, seed=11, retry_after_seconds=0, slow_seconds=0.05)
    result = dg.materialize([answers, logged], resources=resources)
    adaptive_emulator.set_faults(None)
    counters = adaptive_emulator.fault_counters()
    assert counters.get("drop_after", 0) > 10 and counters.get("500", 0) > 10  # stored-but-unanswered rows
    frame = result.output_for_node("answers_logged")
    assert frame["completion_id"].notna().all() and frame["error"].isna().all()
    stored = list(adaptive_emulator.state.completions.values())
    assert sorted(c["labels"]["dagster_row"] for c in stored) == sorted(f"answers_logged/r{i}" for i in range(n))
    assert set(frame["completion_id"]) == {c["id"] for c in stored}  # each row's id is the stored one
    assert all(len(c["scores"]) == 1 for c in stored)  # and its feedback once


def test_job_sensor_reports_a_handed_off_job_in_its_partition(adaptive_emulator: AdaptiveEmulatorHandle,
                                                              project: str) -> None:
    from dagster_labeling.adaptive import build_adaptive_job_asset, build_adaptive_job_sensor

    weeks = dg.StaticPartitionsDefinition(["w1", "w2"])
    evaluation = build_adaptive_job_asset(name="weekly_eval", project=project, recipe="eval-judge",
                                          args={"models": [LLAMA, QWEN]}, partitions_def=weeks,
                                          wait_for_completion=False)
    sensor = build_adaptive_job_sensor(name="eval_done", project=project, job_asset=evaluation)
    instance = dg.DagsterInstance.ephemeral()
    res = resource(adaptive_emulator)

    def tick(cursor: str | None) -> tuple[Any, str | None]:
        with dg.build_sensor_context(cursor=cursor, instance=instance, resources={"adaptive": res}) as ctx:
            result = sensor(ctx)
            return result, result.cursor if isinstance(result, dg.SensorResult) else ctx.cursor

    _, cursor = tick(None)
    handed = dg.materialize([evaluation], instance=instance, partition_key="w1", resources={"adaptive": res})
    job_id = handed.output_for_node("weekly_eval")
    with AdaptiveClient(adaptive_emulator.api_key, base_url=adaptive_emulator.base_url) as client:
        other = client.run_job(project, "sft", args={"model": LLAMA})  # not the asset's: no event
        other.cancel()
    running, cursor = tick(cursor)
    assert isinstance(running, dg.SkipReason)
    adaptive_emulator.complete_all()
    done, cursor = tick(cursor)
    assert isinstance(done, dg.SensorResult)
    [event] = [e for e in done.asset_events if isinstance(e, dg.AssetMaterialization)]
    observed = [e for e in done.asset_events if isinstance(e, dg.AssetObservation)]  # one per evaluated model
    assert sorted(o.metadata["adaptive/model"].value for o in observed) == sorted([LLAMA, QWEN])
    assert event.asset_key == evaluation.key and event.partition == "w1"
    assert event.metadata["adaptive/job_id"].value == job_id and event.metadata["adaptive/status"].value == "COMPLETED"
    assert any(k.startswith("adaptive/mean/") for k in event.metadata)
    again, cursor = tick(cursor)
    assert isinstance(again, dg.SkipReason)


def test_logged_row_lookup_spans_chunks(adaptive_emulator: AdaptiveEmulatorHandle, project: str) -> None:
    from dagster_labeling.adaptive.assets import ROW_LABEL, _logged_rows

    with AdaptiveClient(adaptive_emulator.api_key, base_url=adaptive_emulator.base_url, max_concurrency=4) as client:
        ids = {f"a/r{i}": client.create_interaction(project, [{"role": "user", "content": f"q{i}"}], f"a{i}",
                                                    labels={ROW_LABEL: f"a/r{i}"}).completion_id for i in range(10)}
        asked = [f"a/r{i}" for i in range(12)]  # two never logged
        assert _logged_rows(client, project, asked, chunk=3) == ids  # four concurrent queries, merged


def test_promote_winner_after_the_sensor_recorded_the_test(adaptive_emulator: AdaptiveEmulatorHandle,
                                                            project: str) -> None:
    from dagster_labeling.adaptive import build_adaptive_promote_winner_asset

    ab = build_adaptive_ab_test_asset(name="support_ab_test", project=project, feedback_key="acceptance",
                                      models=[LLAMA, QWEN], wait_for_completion=False)  # no auto_deploy
    promote = build_adaptive_promote_winner_asset(name="support_default_model", ab_test_asset=ab, project=project)
    sensor = build_adaptive_ab_test_sensor(name="ab_done", project=project, ab_test_asset=ab)
    instance = dg.DagsterInstance.ephemeral()
    resources = {"adaptive": resource(adaptive_emulator)}
    dg.materialize([ab], instance=instance, resources=resources)
    early = dg.materialize([ab, promote], selection=[promote], instance=instance, resources=resources)
    # the test is still running: nothing to promote, a green step that materializes nothing
    assert early.success and early.asset_materializations_for_node("support_default_model") == []
    with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        sensor(ctx)
        cursor = ctx.cursor
    traffic(adaptive_emulator, n=12)
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor) as ctx:
        result = sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    for event in result.asset_events:  # what the daemon does with a sensor's asset events
        instance.report_runless_asset_event(event)
    with AdaptiveClient(adaptive_emulator.api_key, base_url=adaptive_emulator.base_url) as client:
        assert client.get_project(project).default_model == LLAMA  # not promoted by Adaptive itself
    promoted = dg.materialize([ab, promote], selection=[promote], instance=instance, resources=resources)
    assert promoted.output_for_node("support_default_model") == QWEN
    meta = promoted.asset_materializations_for_node("support_default_model")[0].metadata
    assert meta["adaptive/promoted"].value is True and meta["adaptive/p_value"].value <= 0.05

    strict = build_adaptive_promote_winner_asset(name="strict_default", ab_test_asset=ab, project=project,
                                                 max_p_value=1e-12)
    with AdaptiveClient(adaptive_emulator.api_key, base_url=adaptive_emulator.base_url) as client:
        client.update_model(project, LLAMA, is_default=True)
    kept = dg.materialize([ab, strict], selection=[strict], instance=instance, resources=resources)
    assert kept.output_for_node("strict_default") == LLAMA  # not significant enough: unchanged
    assert kept.asset_materializations_for_node("strict_default")[0].metadata["adaptive/promoted"].value is False


def test_ab_test_sensor_ticks_say_what_they_recorded(adaptive_emulator: AdaptiveEmulatorHandle, project: str,
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    first = build_adaptive_ab_test_asset(name="first_ab", project=project, feedback_key="acceptance",
                                         models=[LLAMA, QWEN], wait_for_completion=False)
    second = build_adaptive_ab_test_asset(name="second_ab", project=project, feedback_key="acceptance",
                                          models=[LLAMA, QWEN], wait_for_completion=False)
    sensor = build_adaptive_ab_test_sensor(name="ab_done", project=project, asset_key="ab_results")
    instance = dg.DagsterInstance.ephemeral()
    resources = {"adaptive": resource(adaptive_emulator)}
    dg.materialize([first], instance=instance, resources=resources)
    traffic(adaptive_emulator, n=12)  # the first test finishes before the sensor is turned on
    with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        baseline = sensor(ctx)
        cursor = ctx.cursor
    assert isinstance(baseline, dg.SkipReason)
    assert "First tick: 1 A/B test(s) of support had already finished" in (baseline.skip_message or "")

    dg.materialize([second], instance=instance, resources=resources)
    traffic(adaptive_emulator, n=12)
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor) as ctx:
        result = sensor(ctx)
    assert isinstance(result, dg.SensorResult) and len(result.asset_events) == 1
    [line] = [line for line in capfd.readouterr().err.splitlines() if "A/B test second_ab finished" in line]
    assert f"finished: {QWEN} leads (p=" in line and "significant" in line and "scores)" in line
