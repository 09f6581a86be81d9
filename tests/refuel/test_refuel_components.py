"""RefuelLabelingComponent: scaffolded into a defs folder, loaded by Dagster's component loader, materialized
against the emulator; the task-run sensor's requests collect the labels (per partition too); the export sensor
reports the export; YAML errors name the line or the attribute; schedules request the right partition."""

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster.components.testing import create_defs_folder_sandbox

from dagster_labeling.refuel import RefuelLabelingComponent
from dagster_labeling.testing.components import error_chain as error_text
from dagster_labeling.testing.components import materialize_selected
from dagster_labeling.testing.pytest_plugin import RefuelEmulatorHandle

PROJECT = "component-project"
RUN_TAG = "dagster-labeling/refuel-task-run"


@pytest.fixture
def refuel_env(refuel_emulator: RefuelEmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("REFUEL_API_KEY", refuel_emulator.api_key)
    monkeypatch.setenv("REFUEL_BASE_URL", refuel_emulator.base_url)
    monkeypatch.setenv("REFUEL_PROJECT", PROJECT)  # not the fixture's project: create_project makes it
    old = refuel_emulator.state.items_per_second
    yield refuel_emulator
    refuel_emulator.state.items_per_second = old


def scaffolded(sandbox: Any, name: str = "reviews", **changes: Any) -> Path:
    """Scaffold the component, then :func:`edit` it."""
    path: Path = sandbox.scaffold_component(component_cls=RefuelLabelingComponent, defs_path=name)
    edit(path, **changes)
    return path


def edit(path: Path, **changes: Any) -> None:
    """Apply ``changes`` to the attributes of ``path/defs.yaml`` (None deletes one). The resource keeps the
    scaffolded keys, with settle_seconds 0 (one process: nothing races) unless ``resource`` replaces them."""
    body = yaml.safe_load((path / "defs.yaml").read_text())
    attributes = body["attributes"]
    attributes["resource"]["settle_seconds"] = 0
    for key, value in changes.items():
        if value is None:
            attributes.pop(key, None)
        else:
            attributes[key] = value
    (path / "defs.yaml").write_text(yaml.safe_dump(body, sort_keys=False))




def materialize(defs: dg.Definitions, *names: str, instance: dg.DagsterInstance, partition: str | None = None,
                tags: dict[str, str] | None = None) -> dg.ExecuteInProcessResult:
    return materialize_selected(defs, *names, partition=partition, instance=instance, tags=tags)


def tick(sensor: dg.SensorDefinition, defs: dg.Definitions, instance: dg.DagsterInstance,
         cursor: str | None = None) -> dg.SensorResult:
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=dict(defs.resources or {})) as ctx:
        result = sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    return result


def only_schedule(defs: dg.Definitions) -> dg.ScheduleDefinition:
    [schedule] = [defs.resolve_schedule_def(s.name) for s in defs.schedules or []]
    assert isinstance(schedule, dg.ScheduleDefinition)
    return schedule


def meta(result: dg.ExecuteInProcessResult, node: str) -> dict[str, Any]:
    [*_, mat] = result.asset_materializations_for_node(node)
    return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}


def datasets(emu: RefuelEmulatorHandle, name: str = "reviews") -> list[dict[str, Any]]:
    return [d for d in emu.state.datasets.values() if d["name"] == name]


def test_scaffolded_component_hands_off_and_the_sensor_collects(refuel_env: RefuelEmulatorHandle) -> None:
    refuel_env.state.items_per_second = 0.001  # nothing gets labeled until complete_all()
    with create_defs_folder_sandbox() as sandbox, dg.instance_for_test() as instance:
        path = sandbox.scaffold_component(component_cls=RefuelLabelingComponent, defs_path="reviews")
        text = (path / "defs.yaml").read_text()
        assert '"{{ env.REFUEL_API_KEY }}"' in text and (path / "reviews.csv").exists()
        edit(path)
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, RefuelLabelingComponent)
            # the key is read when a run starts: the definitions hold the variable's name, never its value
            assert isinstance(component.resource.api_key, dg.EnvVar)
            assert refuel_env.api_key not in repr(defs.resources)
            assert component.resource.project == PROJECT
            assert {s.name for s in defs.sensors or []} == {"reviews_task_run"}
            result = materialize(defs, "reviews_rows", "reviews_dataset", "reviews_labels", instance=instance)
            assert result.success
            # create_project and create_task defined what the YAML names
            assert [p["project_name"] for p in refuel_env.state.projects.values()].count(PROJECT) == 1
            [task] = [t for t in refuel_env.state.tasks.values() if t["task_name"] == "review-sentiment"]
            [dataset] = datasets(refuel_env)
            assert len(dataset["rows"]) == 3 and task["dataset_id"] == dataset["id"]
            handed = meta(result, "reviews_labels")
            assert handed["refuel/run_state"] == "RUNNING"  # handed off: the run goes on
            # nothing labeled yet: the checks fail (they do not error) and are evaluated again on collection
            assert {(e.check_name, e.passed) for e in result.get_asset_check_evaluations()} == {
                ("sentiment_confidence_at_least_80", False), ("sentiment_agrees_with_expected", False)}
            again = materialize(defs, "reviews_rows", "reviews_dataset", instance=instance)  # a re-run
            assert again.success
            assert [len(d["rows"]) for d in datasets(refuel_env)] == [3]
            assert len([t for t in refuel_env.state.tasks.values() if t["task_name"] == "review-sentiment"]) == 1

            sensor = next(iter(defs.sensors or []))
            first = tick(sensor, defs, instance)
            assert not first.run_requests  # still running
            refuel_env.state.complete_all()
            second = tick(sensor, defs, instance, first.cursor)
            [request] = second.run_requests or []
            run_id = handed["refuel/run_id"]
            assert request.run_key == f"reviews_task_run:{run_id}" and request.tags[RUN_TAG] == run_id
            runs_before = [r["id"] for r in refuel_env.state.runs.values()]
            # what the daemon would launch: the labels asset with the request's tags
            collected = materialize(defs, "reviews_labels", instance=instance, tags=dict(request.tags))
            assert collected.success
            frame = collected.output_for_node("reviews_labels")
            assert sorted(frame["id"]) == ["r1", "r2", "r3"]
            assert list(frame["sentiment_llm_label"]) == list(frame["expected"])
            m = meta(collected, "reviews_labels")
            assert m["refuel/run_state"] == "SUCCEEDED" and m["refuel/run_id"] == run_id
            assert [r["id"] for r in refuel_env.state.runs.values()] == runs_before  # collected, none started
            checks = {e.check_name: e.passed for e in collected.get_asset_check_evaluations()}
            assert checks == {"sentiment_confidence_at_least_80": True, "sentiment_agrees_with_expected": True}
            third = tick(sensor, defs, instance, second.cursor)
            assert not third.run_requests


def test_options_reach_the_assets_and_a_partition_waits(refuel_env: RefuelEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox, dg.instance_for_test() as instance:
        path = scaffolded(
            sandbox, partitions={"type": "static", "partition_keys": ["en", "fr"]},
            rows={"file": "rows_{partition_key}.csv"}, pool="refuel_api", group_name="labeling",
            key_prefix=["llm"], wait_for_completion=True, poll_interval_seconds=0.05, labels_name="sentiment",
            dataset_name="multilingual", partition_column="lang",
            confidence_checks=[{"field": "sentiment", "threshold": 0.9, "min_share": 0.1, "severity": "error",
                                "blocking": True, "name": "confident"}],
            agreement_checks=None, task_run_sensor=None,
        )
        for lang in ("en", "fr"):
            (path / f"rows_{lang}.csv").write_text(f"id,text\n{lang}1,a positive one\n{lang}2,quite negative\n")
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            assert not defs.sensors
            dataset = defs.get_assets_def(dg.AssetKey(["llm", "reviews_dataset"]))
            labels = defs.get_assets_def(dg.AssetKey(["llm", "sentiment"]))
            for asset in (dataset, labels):
                assert asset.partitions_def == dg.StaticPartitionsDefinition(["en", "fr"])
                assert asset.group_names_by_key[asset.key] == "labeling"
                assert asset.op.pool == "refuel_api"
            [check] = list(defs.asset_checks or [])
            [spec] = list(check.check_specs)
            assert spec.name == "confident" and spec.blocking
            result = materialize(defs, "llm/reviews_rows", "llm/reviews_dataset", "llm/sentiment", partition="fr",
                                 instance=instance)
            assert result.success
            m = meta(result, "llm__sentiment")
            assert m["refuel/run_state"] == "SUCCEEDED"  # waited for the run
            assert sorted(result.output_for_node("llm__sentiment")["id"]) == ["fr1", "fr2"]  # the partition's rows
            assert materialize(defs, "llm/reviews_rows", "llm/reviews_dataset", partition="en",
                               instance=instance).success
            [stored] = datasets(refuel_env, "multilingual")
            assert sorted(r["lang"] for r in stored["rows"]) == ["en", "en", "fr", "fr"]


def test_partitioned_hand_off_gets_one_run_per_partition(refuel_env: RefuelEmulatorHandle) -> None:
    refuel_env.state.items_per_second = 0.001
    with create_defs_folder_sandbox() as sandbox, dg.instance_for_test() as instance:
        path = scaffolded(sandbox, partitions={"type": "static", "partition_keys": ["en", "fr", "de"]},
                          rows={"file": "rows_{partition_key}.csv"}, agreement_checks=None)
        for lang in ("en", "fr", "de"):
            (path / f"rows_{lang}.csv").write_text(f"id,text\n{lang}1,so positive\n")
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            sensor = next(iter(defs.sensors or []))
            for lang in ("en", "fr"):  # "de" is never materialized: nothing of it to collect
                assert materialize(defs, "reviews_rows", "reviews_dataset", "reviews_labels", partition=lang,
                                   instance=instance).success
            refuel_env.state.complete_all()
            first = tick(sensor, defs, instance)
            requests = first.run_requests or []
            assert sorted(r.partition_key or "" for r in requests) == ["en", "fr"]
            [run_id] = {r.tags[RUN_TAG] for r in requests}
            assert {r.run_key for r in requests} == {f"reviews_task_run:{run_id}:en", f"reviews_task_run:{run_id}:fr"}
            en = next(r for r in requests if r.partition_key == "en")
            collected = materialize(defs, "reviews_labels", partition="en", instance=instance, tags=dict(en.tags))
            assert collected.success
            assert meta(collected, "reviews_labels")["refuel/run_state"] == "SUCCEEDED"
            assert list(collected.output_for_node("reviews_labels")["id"]) == ["en1"]
            second = tick(sensor, defs, instance, first.cursor)
            assert not second.run_requests  # each partition requested once


def test_export_and_its_sensor_report_the_url(refuel_env: RefuelEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox, dg.instance_for_test() as instance:
        path = scaffolded(sandbox, wait_for_completion=True, poll_interval_seconds=0.05, task_run_sensor=None,
                          export={"email_address": "me@example.com"},
                          export_sensor={"minimum_interval_seconds": 15, "default_status": "running"},
                          schedule={"cron_schedule": "0 6 * * *"})
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            [sensor] = list(defs.sensors or [])
            assert sensor.name == "reviews_export" and sensor.minimum_interval_seconds == 15
            assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
            schedule = only_schedule(defs)
            job = defs.resolve_job_def(schedule.job_name)
            # the labels were waited for: the unpartitioned schedule exports them in the same run
            assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
                "reviews_rows", "reviews_dataset", "reviews_labels", "reviews_export"}
            result = materialize(defs, "reviews_rows", "reviews_dataset", "reviews_labels", "reviews_export",
                                 instance=instance)
            assert result.success
            export_id = meta(result, "reviews_export")["refuel/export_id"]
            events: list[Any] = []
            cursor = None
            for _ in range(50):
                outcome = tick(sensor, defs, instance, cursor)
                cursor, events = outcome.cursor, list(outcome.asset_events or [])
                if events:
                    break
                time.sleep(0.05)
            [event] = events
            assert event.asset_key == dg.AssetKey("reviews_export_ready")
            assert event.metadata["refuel/export_id"].value == export_id
            assert "/_exports/" in str(event.metadata["refuel/export_url"].value)
            assert not tick(sensor, defs, instance, cursor).asset_events  # once


def test_a_literal_key_is_refused_naming_the_yaml_line(refuel_env: RefuelEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, resource={"api_key": "live_abc123", "project": PROJECT})
        with pytest.raises(Exception) as raised:
            with sandbox.load_component_and_build_defs(defs_path=path):
                pass
        text = error_text(raised.value)
        assert "defs.yaml:4 - attributes.resource.api_key: api_key must name an environment variable" in text
        assert "live_abc123" not in text  # the secret is not echoed into logs


@pytest.mark.parametrize(("changes", "message"), [
    ({"create_task": False}, "RefuelLabelingComponent 'reviews', task_context: only used to define the task"),
    ({"task_context": None}, "RefuelLabelingComponent 'reviews', task_context: create_task needs"),
    ({"export_sensor": {"default_status": "running"}},
     "RefuelLabelingComponent 'reviews', export_sensor: reports the export asset's exports"),
    ({"confidence_checks": [{"field": "sentiment", "threshold": 80}]},
     "RefuelLabelingComponent 'reviews', confidence_checks[0]: threshold must be between 0 and 1"),
])
def test_errors_name_the_component_and_the_attribute(refuel_env: RefuelEmulatorHandle, changes: dict[str, Any],
                                                     message: str) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, **changes)
        with pytest.raises(Exception) as raised:
            with sandbox.load_component_and_build_defs(defs_path=path):
                pass
        assert message in error_text(raised.value)


def test_schedule_tick_requests_the_day_that_ended(refuel_env: RefuelEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, partitions={"type": "daily", "start_date": "2026-11-01"},
                          export={"email_address": "me@example.com"},
                          schedule={"hour_of_day": 2, "minute_of_hour": 30, "default_status": "running"})
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            schedule = only_schedule(defs)
            assert schedule.name == "reviews_schedule" and schedule.cron_schedule == "30 2 * * *"
            assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
            when = dt.datetime(2026, 12, 2, 2, 30, tzinfo=dt.timezone.utc)
            with dg.build_schedule_context(scheduled_execution_time=when) as ctx:
                [request] = list(schedule.evaluate_tick(ctx).run_requests or [])
            assert request.partition_key == "2026-12-01"
            job = defs.resolve_job_def(schedule.job_name)
            # the labels asset starts the day's task run; the task-run sensor collects it; the export is not run
            # before the labels are in
            assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
                "reviews_rows", "reviews_dataset", "reviews_labels"}
