"""AdaptiveInteractionsComponent and AdaptiveABTestComponent: scaffolded into a defs folder, loaded by Dagster's
component loader, materialized against an empty emulator (create_project sets the project up); re-runs create
nothing twice; the A/B test sensor requests the promotion; options reach the assets; YAML errors name the line or
the attribute; schedules request the right partition."""

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster.components.core.package_entry import get_package_objects_in_module
from dagster.components.testing import create_defs_folder_sandbox

import dagster_labeling.adaptive
from dagster_labeling.adaptive import AdaptiveABTestComponent, AdaptiveClient, AdaptiveInteractionsComponent
from dagster_labeling.testing.components import component_load_error as load_error
from dagster_labeling.testing.components import materialize_selected, scaffold_component
from dagster_labeling.testing.pytest_plugin import AdaptiveEmulatorHandle

LLAMA, QWEN, GEMMA = "llama-3.1-8b-instruct", "qwen-2.5-7b", "gemma-3-4b-it"
PROJECT = "review-assistant"


@pytest.fixture
def adaptive_env(adaptive_emulator: AdaptiveEmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> AdaptiveEmulatorHandle:
    monkeypatch.setenv("ADAPTIVE_API_KEY", adaptive_emulator.api_key)
    monkeypatch.setenv("ADAPTIVE_BASE_URL", adaptive_emulator.base_url)
    adaptive_emulator.state.ab_min_scores = 5
    return adaptive_emulator


def scaffolded(sandbox: Any, component_cls: type, name: str, **changes: Any) -> Path:
    return scaffold_component(sandbox, component_cls, name, **changes)






def materialize(defs: dg.Definitions, *names: str, partition: str | None = None,
                instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    return materialize_selected(defs, *names, partition=partition, instance=instance)


def client(emu: AdaptiveEmulatorHandle) -> AdaptiveClient:
    return AdaptiveClient(emu.api_key, base_url=emu.base_url)


def traffic(emu: AdaptiveEmulatorHandle, n: int = 6) -> None:
    """Production traffic on both tested models, QWEN's answers accepted more often."""
    with client(emu) as adaptive:
        for i in range(n):
            for model, good in ((LLAMA, i % 3 == 0), (QWEN, True)):
                answer = adaptive.chat(PROJECT, [{"role": "user", "content": f"q{i}"}], model=model)
                adaptive.log_metric(str(answer.completion_id), "label_accepted", good)


def tick(sensor: dg.SensorDefinition, defs: dg.Definitions, instance: dg.DagsterInstance,
         cursor: str | None) -> tuple[Any, str | None]:
    with dg.build_sensor_context(cursor=cursor, instance=instance, resources=dict(defs.resources or {})) as ctx:
        result = sensor(ctx)
        return result, result.cursor if isinstance(result, dg.SensorResult) else ctx.cursor


def stored_interactions(emu: AdaptiveEmulatorHandle) -> list[dict[str, Any]]:
    return [c for c in emu.state.completions.values() if c["project"] == PROJECT]


# -- interactions -----------------------------------------------------------------------------------------------
def test_scaffolded_interactions_component_logs_each_row_once_with_its_feedback(
        adaptive_env: AdaptiveEmulatorHandle) -> None:
    assert PROJECT not in adaptive_env.state.projects  # an empty emulator: create_project sets it up
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, AdaptiveInteractionsComponent, "feedback")
        text = (path / "defs.yaml").read_text()
        assert '"{{ env.ADAPTIVE_API_KEY }}"' in text and (path / "interactions.jsonl").exists()
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, AdaptiveInteractionsComponent)
            # the key is read when a run starts: the definitions hold the variable's name, never its value
            assert isinstance(component.resource.api_key, dg.EnvVar)
            assert adaptive_env.api_key not in repr(defs.resources)
            assert {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()} == {
                "review_interactions_rows", "review_interactions"}
            instance = dg.DagsterInstance.ephemeral()
            result = materialize(defs, "review_interactions_rows", "review_interactions", instance=instance)
            assert result.success
            frame = result.output_for_node("review_interactions")
            assert list(frame["key"]) == ["r1", "r2", "r3"] and frame["completion_id"].notna().all()

            project = adaptive_env.state.projects[PROJECT]
            assert {k: s["isDefault"] for k, s in project["services"].items()} == {LLAMA: True}
            assert adaptive_env.state.metrics["label_accepted"]["kind"] == "BOOL"
            stored = stored_interactions(adaptive_env)
            by_row = {c["labels"]["dagster_row"]: c for c in stored}
            assert sorted(by_row) == ["review_interactions/r1", "review_interactions/r2", "review_interactions/r3"]
            assert by_row["review_interactions/r2"]["labels"]["channel"] == "app"
            assert {c["model"] for c in stored} == {LLAMA}
            scores = {row: [adaptive_env.state.scores[s]["value"] for s in c["scores"]] for row, c in by_row.items()}
            assert scores == {"review_interactions/r1": [1.0], "review_interactions/r2": [0.0],
                              "review_interactions/r3": [1.0]}

            again = materialize(defs, "review_interactions_rows", "review_interactions", instance=instance)
            assert again.success  # a re-run logs nothing twice
            assert len(stored_interactions(adaptive_env)) == 3
            meta = again.asset_materializations_for_node("review_interactions")[0].metadata
            assert meta["adaptive/already_logged"].value == 3 and meta["adaptive/logged"].value == 0


def test_interactions_options_reach_the_assets(adaptive_env: AdaptiveEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(
            sandbox, AdaptiveInteractionsComponent, "feedback",
            partitions={"type": "static", "partition_keys": ["en", "fr"]},
            rows={"file": "rows_{partition_key}.jsonl"}, pool="adaptive_api", group_name="feedback",
            key_prefix=["assistant"], label_columns=None, feedback_kind="scalar", completion_model=None,
            dataset={"name": "review_dataset", "include_completion": False},
        )
        for lang in ("en", "fr"):
            (path / f"rows_{lang}.jsonl").write_text("".join(
                json.dumps({"id": f"{lang}{i}", "prompt": f"q{i}", "completion": f"a{i}", "accepted": 0.5 * i}) + "\n"
                for i in (1, 2)))
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            interactions = defs.get_assets_def(dg.AssetKey(["assistant", "review_interactions"]))
            dataset = defs.get_assets_def(dg.AssetKey(["assistant", "review_dataset"]))
            for asset in (interactions, dataset):
                assert asset.partitions_def == dg.StaticPartitionsDefinition(["en", "fr"])
                assert asset.group_names_by_key[asset.key] == "feedback"
                assert asset.op.pool == "adaptive_api"
                rows_key = dg.AssetKey(["assistant", "review_interactions_rows"])
                assert set(asset.keys_by_input_name.values()) == {rows_key}
            result = materialize(defs, "assistant/review_interactions_rows", "assistant/review_interactions",
                                 "assistant/review_dataset", partition="fr")
            assert result.success
        assert adaptive_env.state.metrics["label_accepted"]["kind"] == "SCALAR"
        stored = stored_interactions(adaptive_env)
        assert sorted(c["labels"]["dagster_row"] for c in stored) == [
            "review_interactions__fr/fr1", "review_interactions__fr/fr2"]
        assert sorted(adaptive_env.state.scores[s]["value"] for c in stored for s in c["scores"]) == [0.5, 1.0]
        [uploaded] = adaptive_env.state.datasets.values()
        assert uploaded["key"] == "review_dataset__fr" and uploaded["records"] == 2
        lines = [json.loads(line) for line in uploaded["content"].decode().splitlines()]
        assert lines == [{"messages": [{"role": "user", "content": "q1"}]},
                         {"messages": [{"role": "user", "content": "q2"}]}]  # include_completion: false


def test_interactions_refusals_name_the_component_and_attribute(adaptive_env: AdaptiveEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, AdaptiveInteractionsComponent, "feedback", feedback_column=None)
        assert ("component 'review_interactions': feedback_key: Give both feedback_key and feedback_column, "
                "or neither.") in load_error(sandbox, path)
        literal = scaffolded(sandbox, AdaptiveInteractionsComponent, "literal",
                             resource={"api_key": "live_abc123", "base_url": "{{ env.ADAPTIVE_BASE_URL }}"})
        text = load_error(sandbox, literal)
        assert "defs.yaml:4 - attributes.resource.api_key: api_key must name an environment variable" in text
        assert "live_abc123" not in text  # the secret is not echoed into logs
        kind = scaffolded(sandbox, AdaptiveInteractionsComponent, "kind", feedback_kind="text")
        assert "feedback_kind\n  Input should be 'scalar' or 'bool'" in load_error(sandbox, kind)


def test_interactions_schedule_requests_the_day_that_ended(adaptive_env: AdaptiveEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, AdaptiveInteractionsComponent, "feedback",
                          partitions={"type": "daily", "start_date": "2026-11-01"},
                          dataset={"dataset_key_prefix": "reviews"},
                          schedule={"hour_of_day": 3, "default_status": "running"})
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            [name] = [s.name for s in defs.schedules or []]
            schedule = defs.resolve_schedule_def(name)
            assert schedule.name == "review_interactions_schedule" and schedule.cron_schedule == "0 3 * * *"
            when = dt.datetime(2026, 12, 2, 3, 0, tzinfo=dt.timezone.utc)
            with dg.build_schedule_context(scheduled_execution_time=when) as ctx:
                [request] = list(schedule.evaluate_tick(ctx).run_requests or [])
            assert request.partition_key == "2026-12-01"
            job = defs.resolve_job_def(schedule.job_name)
            assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
                "review_interactions_rows", "review_interactions", "review_interactions_dataset"}


# -- A/B test ---------------------------------------------------------------------------------------------------
def test_scaffolded_ab_test_hands_off_to_the_sensor_which_requests_the_promotion(
        adaptive_env: AdaptiveEmulatorHandle) -> None:
    # a project that exists with another default model: create_project attaches the tested models, keeps the default
    adaptive_env.ensure_project(PROJECT, models=[GEMMA], default=GEMMA)
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, AdaptiveABTestComponent, "ab_test")
        assert '"{{ env.ADAPTIVE_API_KEY }}"' in (path / "defs.yaml").read_text()
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, AdaptiveABTestComponent)
            assert isinstance(component.resource.api_key, dg.EnvVar)
            assert adaptive_env.api_key not in repr(defs.resources)
            [sensor] = list(defs.sensors or [])
            assert sensor.name == "assistant_ab_test_done" and sensor.minimum_interval_seconds == 60
            assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
            promote_key = dg.AssetKey("assistant_ab_test_default_model")
            target = defs.resolve_job_def(str(sensor.job_name))  # the sensor's runs materialize the promote asset only
            assert set(target.asset_layer.executable_asset_keys) == {promote_key}

            instance = dg.DagsterInstance.ephemeral()
            started = materialize(defs, "assistant_ab_test", instance=instance)
            assert started.output_for_node("assistant_ab_test") == "assistant_ab_test"  # handed off: the test's key
            services = adaptive_env.state.projects[PROJECT]["services"]
            assert {k: s["isDefault"] for k, s in services.items()} == {GEMMA: True, LLAMA: False, QWEN: False}
            assert adaptive_env.state.metrics["label_accepted"]["kind"] == "BOOL"
            assert adaptive_env.state.ab_campaigns["assistant_ab_test"]["models"] == [LLAMA, QWEN]
            assert materialize(defs, "assistant_ab_test", instance=instance).success  # reattached
            assert len(adaptive_env.state.ab_campaigns) == 1

            early = materialize(defs, "assistant_ab_test_default_model", instance=instance)
            assert early.success and early.asset_materializations_for_node("assistant_ab_test_default_model") == []
            quiet, cursor = tick(sensor, defs, instance, None)
            assert isinstance(quiet, dg.SkipReason)
            traffic(adaptive_env)
            assert adaptive_env.state.ab_campaigns["assistant_ab_test"]["status"] == "DONE"
            done, cursor = tick(sensor, defs, instance, cursor)
            assert isinstance(done, dg.SensorResult)
            [request] = done.run_requests or []
            assert request.run_key == "assistant_ab_test_done:assistant_ab_test"
            assert request.tags["adaptive/winner"] == QWEN
            [event] = done.asset_events
            assert event.asset_key == dg.AssetKey("assistant_ab_test")
            for event in done.asset_events:  # what the daemon does with a sensor's asset events
                instance.report_runless_asset_event(event)
            promoted = materialize(defs, "assistant_ab_test_default_model", instance=instance)
            assert promoted.output_for_node("assistant_ab_test_default_model") == QWEN
            with client(adaptive_env) as adaptive:
                assert adaptive.get_project(PROJECT).default_model == QWEN
            again, _ = tick(sensor, defs, instance, cursor)
            assert isinstance(again, dg.SkipReason)  # each finished test once


def test_ab_test_options_reach_the_assets(adaptive_env: AdaptiveEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(
            sandbox, AdaptiveABTestComponent, "ab_test",
            partitions={"type": "static", "partition_keys": ["w1", "w2"]}, pool="adaptive_api",
            group_name="experiments", key_prefix=["assistant"], deps=["assistant/review_interactions"],
            ab_test_key_prefix="weekly", traffic_split=0.5, feedback_kind="scalar",
            promote={"name": "default_model", "max_p_value": 0.2},
            ab_test_sensor={"name": "weekly_done", "default_status": "stopped", "max_tests_per_tick": 3},
        )
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            ab = defs.get_assets_def(dg.AssetKey(["assistant", "assistant_ab_test"]))
            promote = defs.get_assets_def(dg.AssetKey(["assistant", "default_model"]))
            for asset in (ab, promote):
                assert asset.partitions_def == dg.StaticPartitionsDefinition(["w1", "w2"])
                assert asset.group_names_by_key[asset.key] == "experiments"
                assert asset.op.pool == "adaptive_api"
            assert dg.AssetKey(["assistant", "review_interactions"]) in ab.asset_deps[ab.key]
            assert ab.key in promote.asset_deps[promote.key]
            [sensor] = list(defs.sensors or [])
            assert sensor.name == "weekly_done" and sensor.default_status == dg.DefaultSensorStatus.STOPPED
            instance = dg.DagsterInstance.ephemeral()
            assert materialize(defs, "assistant/assistant_ab_test", partition="w2", instance=instance).success
            campaign = adaptive_env.state.ab_campaigns["weekly__w2"]
            assert campaign["trafficSplit"] == 0.5 and not campaign["autoDeploy"]
            assert adaptive_env.state.metrics["label_accepted"]["kind"] == "SCALAR"
            _, cursor = tick(sensor, defs, instance, None)
            adaptive_env.complete_all()
            done, _ = tick(sensor, defs, instance, cursor)
            [request] = done.run_requests or []
            assert request.run_key == "weekly_done:weekly__w2" and request.partition_key == "w2"
            assert [e.partition for e in done.asset_events] == ["w2"]


def test_ab_test_waits_for_the_winner_when_asked(adaptive_env: AdaptiveEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, AdaptiveABTestComponent, "ab_test", wait_for_completion=True,
                          poll_interval_seconds=0.05, wait_timeout_seconds=60, ab_test_sensor=None)
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            assert not list(defs.sensors or [])

            def score_once_started() -> None:
                deadline = time.monotonic() + 30
                while "assistant_ab_test" not in adaptive_env.state.ab_campaigns and time.monotonic() < deadline:
                    time.sleep(0.05)
                traffic(adaptive_env)

            scorer = threading.Thread(target=score_once_started)
            scorer.start()
            try:
                result = materialize(defs, "assistant_ab_test", "assistant_ab_test_default_model")
            finally:
                scorer.join()
            assert result.output_for_node("assistant_ab_test") == QWEN  # the run waited for the winner
            assert result.output_for_node("assistant_ab_test_default_model") == QWEN  # and promoted it


def test_ab_test_refusals_name_the_component_and_attribute(adaptive_env: AdaptiveEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        one = scaffolded(sandbox, AdaptiveABTestComponent, "one", models=[LLAMA])
        assert "component 'assistant_ab_test': models: An A/B test needs at least two distinct models" in load_error(
            sandbox, one)
        split = scaffolded(sandbox, AdaptiveABTestComponent, "split", traffic_split=1.5)
        assert "component 'assistant_ab_test': traffic_split: traffic_split is the share" in load_error(sandbox, split)
        p_value = scaffolded(sandbox, AdaptiveABTestComponent, "p_value", promote={"max_p_value": 0})
        assert "component 'assistant_ab_test': promote.max_p_value: max_p_value must be in (0, 1]" in load_error(
            sandbox, p_value)
        literal = scaffolded(sandbox, AdaptiveABTestComponent, "literal",
                             resource={"api_key": "live_abc123", "base_url": "{{ env.ADAPTIVE_BASE_URL }}"})
        text = load_error(sandbox, literal)
        assert "defs.yaml:4 - attributes.resource.api_key: api_key must name an environment variable" in text
        assert "live_abc123" not in text


def test_ab_test_schedule_starts_the_test_and_leaves_the_promotion_to_the_sensor(
        adaptive_env: AdaptiveEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, AdaptiveABTestComponent, "ab_test",
                          partitions={"type": "weekly", "start_date": "2026-11-02"},
                          schedule={"hour_of_day": 6, "default_status": "running"})
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            [name] = [s.name for s in defs.schedules or []]
            schedule = defs.resolve_schedule_def(name)
            assert schedule.name == "assistant_ab_test_schedule"
            assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
            when = dt.datetime(2026, 11, 15, 6, 0, tzinfo=dt.timezone.utc)  # a Sunday: the week of the 8th ended
            with dg.build_schedule_context(scheduled_execution_time=when) as ctx:
                [request] = list(schedule.evaluate_tick(ctx).run_requests or [])
            assert request.partition_key == "2026-11-08"
            job = defs.resolve_job_def(schedule.job_name)
            assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {"assistant_ab_test"}


# -- both -------------------------------------------------------------------------------------------------------
def test_both_components_share_one_resource_in_a_defs_folder(adaptive_env: AdaptiveEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        scaffolded(sandbox, AdaptiveInteractionsComponent, "feedback")
        scaffolded(sandbox, AdaptiveABTestComponent, "ab_test", deps=["review_interactions"])
        with sandbox.build_all_defs() as defs:  # Dagster refuses two different objects under one resource key
            assert set(defs.resources or {}) == {"adaptive"}
            keys = {a.key.to_user_string() for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)}
            assert {"review_interactions", "assistant_ab_test", "assistant_ab_test_default_model"} <= keys


def test_dg_lists_both_components() -> None:
    found = dict(get_package_objects_in_module(dagster_labeling.adaptive))  # what `dg list components` reads
    assert found["AdaptiveInteractionsComponent"] is AdaptiveInteractionsComponent
    assert found["AdaptiveABTestComponent"] is AdaptiveABTestComponent
