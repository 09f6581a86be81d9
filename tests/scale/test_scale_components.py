"""ScaleBatchComponent: scaffolded into a defs folder, loaded by Dagster's component loader, materialized
against the emulator; YAML errors name the line; schedules request the right partition."""

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster.components.testing import create_defs_folder_sandbox

from dagster_labeling.scale import ScaleBatchComponent
from dagster_labeling.testing.components import error_chain as error_text
from dagster_labeling.testing.components import materialize_selected, scaffold_component
from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle


@pytest.fixture
def scale_env(scale_emulator: ScaleEmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> ScaleEmulatorHandle:
    monkeypatch.setenv("SCALE_API_KEY", scale_emulator.api_key)
    monkeypatch.setenv("SCALE_BASE_URL", scale_emulator.base_url)
    scale_emulator.state.task_duration_seconds = 0.0
    scale_emulator.state.task_duration_jitter = 0.0
    return scale_emulator


def scaffolded(sandbox: Any, name: str = "reviews", **changes: Any) -> Path:
    return scaffold_component(sandbox, ScaleBatchComponent, name, **changes)




def materialize(defs: dg.Definitions, *names: str, partition: str | None = None,
                instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    return materialize_selected(defs, *names, partition=partition, instance=instance)


def test_scaffolded_component_materializes_against_the_emulator(scale_env: ScaleEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox)
        text = (path / "defs.yaml").read_text()
        assert '"{{ env.SCALE_API_KEY }}"' in text and (path / "reviews.csv").exists()
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, ScaleBatchComponent)
            # the key is read when a run starts: the definitions hold the variable's name, never its value
            assert isinstance(component.resource.api_key, dg.EnvVar)
            assert scale_env.api_key not in repr(defs.resources)
            assert {s.name for s in defs.sensors} == {"reviews_batch_completion"}
            instance = dg.DagsterInstance.ephemeral()
            result = materialize(defs, "reviews_batch_rows", "reviews_batch", instance=instance)
            assert result.success
            assert scale_env.state.projects["review-sentiment"]["type"] == "categorization"
            tasks = [t for t in scale_env.state.tasks.values() if t["batch"] == "reviews_batch"]
            assert sorted(t["unique_id"] for t in tasks) == ["reviews_batch/r1", "reviews_batch/r2", "reviews_batch/r3"]
            again = materialize(defs, "reviews_batch_rows", "reviews_batch")  # a re-run creates nothing
            assert again.success
            assert len([t for t in scale_env.state.tasks.values() if t["batch"] == "reviews_batch"]) == 3

            scale_env.state.complete_all()
            sensor = next(iter(defs.sensors))
            with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(),
                                         resources=dict(defs.resources or {})) as ctx:
                tick = sensor(ctx)
            assert isinstance(tick, dg.SensorResult)
            [request] = tick.run_requests or []
            assert request.run_key == "reviews_batch_completion:reviews_batch"
            responses = materialize(defs, "reviews_batch_responses", instance=instance)
            assert responses.success
            assert sorted(responses.output_for_node("reviews_batch_responses")["row_key"]) == ["r1", "r2", "r3"]


def test_every_factory_option_reaches_the_assets(scale_env: ScaleEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(
            sandbox, partitions={"type": "static", "partition_keys": ["en", "fr"]},
            rows={"file": "rows_{partition_key}.csv"}, pool="scale_api", group_name="labeling",
            key_prefix=["labels"], wait_for_completion=True, poll_interval_seconds=0.05,
            responses={"name": "labels", "min_completed_share": 0.5, "check_severity": "error"},
        )
        for lang in ("en", "fr"):
            (path / f"rows_{lang}.csv").write_text(f"id,text\n{lang}1,hello\n{lang}2,world\n")
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            batch = defs.get_assets_def(dg.AssetKey(["labels", "reviews_batch"]))
            assert batch.partitions_def == dg.StaticPartitionsDefinition(["en", "fr"])
            assert batch.group_names_by_key[batch.key] == "labeling"
            assert batch.op.pool == "scale_api"
            labels = defs.get_assets_def(dg.AssetKey(["labels", "labels"]))
            assert labels.check_keys
            result = materialize(defs, "labels/reviews_batch_rows", "labels/reviews_batch", partition="fr")
            assert result.success  # waited for completion: the tasks are done
            tasks = [t for t in scale_env.state.tasks.values() if t["batch"] == "reviews_batch__fr"]
            assert sorted(t["status"] for t in tasks) == ["completed", "completed"]
            assert sorted(t["unique_id"] for t in tasks) == ["reviews_batch__fr/fr1", "reviews_batch__fr/fr2"]


def test_a_literal_key_is_refused_naming_the_yaml_line(scale_env: ScaleEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, resource={"api_key": "live_abc123"})
        with pytest.raises(Exception) as raised:
            with sandbox.load_component_and_build_defs(defs_path=path):
                pass
        text = error_text(raised.value)
        assert "defs.yaml:4 - attributes.resource.api_key: api_key must name an environment variable" in text
        assert "live_abc123" not in text  # the secret is not echoed into logs


def test_schedule_tick_requests_the_day_that_ended(scale_env: ScaleEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, partitions={"type": "daily", "start_date": "2026-11-01"},
                          rows={"file": "reviews.csv"},
                          schedule={"hour_of_day": 2, "minute_of_hour": 30, "default_status": "running"})
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            [schedule] = [defs.resolve_schedule_def(s.name) for s in defs.schedules or []]
            assert schedule.name == "reviews_batch_schedule" and schedule.cron_schedule == "30 2 * * *"
            assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
            when = dt.datetime(2026, 12, 2, 2, 30, tzinfo=dt.timezone.utc)
            with dg.build_schedule_context(scheduled_execution_time=when) as ctx:
                [request] = list(schedule.evaluate_tick(ctx).run_requests or [])
            assert request.partition_key == "2026-12-01"
            job = defs.resolve_job_def(schedule.job_name)
            # without waiting, the schedule sends the rows; the completion sensor collects the responses
            assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
                "reviews_batch_rows", "reviews_batch"}


def test_unpartitioned_schedule_needs_a_cron(scale_env: ScaleEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, schedule={"hour_of_day": 2})
        with pytest.raises(Exception) as raised:
            with sandbox.load_component_and_build_defs(defs_path=path):
                pass
        assert "schedule 'reviews_batch_schedule': unpartitioned assets need cron_schedule" in error_text(raised.value)
