"""ArgillaReviewComponent: scaffolded into a defs folder, loaded by Dagster's component loader, materialized
against the emulator for each template; the sensors request the right runs; YAML errors name the line;
schedules request the right partition."""

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster.components.core.package_entry import get_package_objects_in_module
from dagster.components.testing import create_defs_folder_sandbox

import dagster_labeling.argilla as argilla_package
from dagster_labeling.argilla import ArgillaClient, ArgillaReviewComponent
from dagster_labeling.argilla.ids import in_partition
from dagster_labeling.callbacks import CallbackInbox
from dagster_labeling.testing.components import YAML_NULL, materialize_selected, scaffold_component
from dagster_labeling.testing.components import component_load_error as load_error
from dagster_labeling.testing.pytest_plugin import ArgillaEmulatorHandle


@pytest.fixture
def argilla_env(argilla_emulator: ArgillaEmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> ArgillaEmulatorHandle:
    monkeypatch.setenv("ARGILLA_API_KEY", argilla_emulator.api_key)
    monkeypatch.setenv("ARGILLA_API_URL", argilla_emulator.api_url)
    state = argilla_emulator.state
    state.auto_annotate, state.annotation_seconds = True, 100_000  # reviews are scheduled, given on demand
    state.responses_per_record, state.agreement = 2, 1.0  # two annotators who agree with the suggestion
    return argilla_emulator


NULL = YAML_NULL


def scaffolded(sandbox: Any, name: str = "reviews", **changes: Any) -> Path:
    return scaffold_component(sandbox, ArgillaReviewComponent, name, **changes)






def materialize(defs: dg.Definitions, *names: str, partition: str | None = None,
                instance: dg.DagsterInstance | None = None) -> dg.ExecuteInProcessResult:
    return materialize_selected(defs, *names, partition=partition, instance=instance)


def tick(sensor: Any, defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None = None) -> Any:
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=dict(defs.resources or {})) as ctx:
        return sensor(ctx)


def test_the_registry_module_lists_the_component() -> None:
    # dg finds components with dir(); the package loads its names lazily, so dir() must list them anyway
    assert [name for name, _ in get_package_objects_in_module(argilla_package)] == ["ArgillaReviewComponent"]


def test_scaffolded_generic_review_materializes_and_the_sensor_collects_it(argilla_env: ArgillaEmulatorHandle) -> None:
    state = argilla_env.state
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox)
        text = (path / "defs.yaml").read_text()
        assert '"{{ env.ARGILLA_API_KEY }}"' in text and (path / "reviews.csv").exists()
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, ArgillaReviewComponent)
            # the key is read when a run starts: the definitions hold the variable's name, never its value
            assert isinstance(component.resource.api_key, dg.EnvVar)
            assert argilla_env.api_key not in repr(defs.resources)
            [sensor] = list(defs.sensors or [])
            assert sensor.name == "review_queue_progress"
            assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
            instance = dg.DagsterInstance.ephemeral()
            assert materialize(defs, "review_queue_rows", "review_queue", instance=instance).success
            ds = state.dataset_by_name("low-confidence-reviews")
            assert [f["name"] for f in ds["fields"]] == ["text"]
            assert [q["name"] for q in ds["questions"]] == ["sentiment"]
            assert ds["json"]["guidelines"].startswith("Check the model's sentiment label")
            assert sorted(state.external_ids(ds["json"]["id"])) == ["r1", "r2", "r3"]
            assert materialize(defs, "review_queue_rows", "review_queue").success  # a re-run creates nothing
            assert len(state.datasets) == 1 and state.record_count(ds["json"]["id"]) == 3

            first = tick(sensor, defs, instance)
            assert not first.run_requests  # nobody has reviewed yet
            state.annotate_all()
            second = tick(sensor, defs, instance, cursor=first.cursor)
            [request] = second.run_requests
            assert request.run_key == f"argilla:{ds['json']['id']}:3/3"
            assert not tick(sensor, defs, instance, cursor=second.cursor).run_requests  # reported once

            result = materialize(defs, "review_queue_annotations", instance=instance)
            assert result.success
            frame = result.output_for_node("review_queue_annotations")
            assert dict(zip(frame["external_id"], frame["sentiment"], strict=True)) == {
                "r1": "positive", "r2": "negative", "r3": "positive"}
            [evaluation] = result.get_asset_check_evaluations()
            assert evaluation.check_name == "argilla_review_quality" and evaluation.passed


def test_text_generation_template(argilla_env: ArgillaEmulatorHandle) -> None:
    state = argilla_env.state
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, template="text_generation", rows={"file": "generations.jsonl"},
                          dataset_name="tg-review", guidelines="Is the answer right?", settings=None, mapping=None)
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            assert materialize(defs, "review_queue_rows", "review_queue").success
        ds = state.dataset_by_name("tg-review")
        assert [f["name"] for f in ds["fields"]] == ["instruction", "generation"]
        assert [q["name"] for q in ds["questions"]] == ["quality"]
        assert ds["json"]["guidelines"] == "Is the answer right?"
        assert state.record_count(ds["json"]["id"]) == 2


def test_preference_template_with_column_names(argilla_env: ArgillaEmulatorHandle) -> None:
    state = argilla_env.state
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, template="preference", rows={"file": "generations.jsonl"}, num_generations=2,
                          generations="generations", ratings="ratings", dataset_name="pref", settings=None,
                          mapping=None)
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            assert materialize(defs, "review_queue_rows", "review_queue").success
        ds = state.dataset_by_name("pref")
        assert [f["name"] for f in ds["fields"]] == ["instruction", "generations-1", "generations-2"]
        assert state.record_count(ds["json"]["id"]) == 2
        suggested = [r["suggestions"] for r in ds["records"].values()]
        assert sorted(len(s) for s in suggested) == [0, 2]  # the first row's ratings [5, 1] became suggestions


def test_every_factory_option_reaches_the_assets_and_the_sensor_requests_partitions(
        argilla_env: ArgillaEmulatorHandle) -> None:
    state = argilla_env.state
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(
            sandbox, partitions={"type": "static", "partition_keys": ["en", "fr"]},
            rows={"file": "rows_{partition_key}.csv"}, pool="argilla_api", group_name="review",
            key_prefix=["labels"], workspace="team-a", create_workspace=True,
            annotations={"name": "reviewed", "submitted_only": True, "pool": "argilla_reads",
                         "check": {"name": "quality", "min_completed_fraction": 0.5, "blocking": True}},
            progress_sensor={"name": "reviewed_sensor", "threshold": 0.5, "minimum_interval_seconds": 5},
        )
        for lang in ("en", "fr"):
            (path / f"rows_{lang}.csv").write_text(
                f"id,text,model_label,confidence,source\n{lang}1,good,positive,0.5,web\n{lang}2,bad,negative,0.4,web\n")
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            dataset = defs.get_assets_def(dg.AssetKey(["labels", "review_queue"]))
            assert dataset.partitions_def == dg.StaticPartitionsDefinition(["en", "fr"])
            assert dataset.group_names_by_key[dataset.key] == "review"
            assert dataset.op.pool == "argilla_api"
            reviewed = defs.get_assets_def(dg.AssetKey(["labels", "reviewed"]))
            assert reviewed.partitions_def == dataset.partitions_def and reviewed.op.pool == "argilla_reads"
            [check] = list(defs.asset_checks or [])
            [check_spec] = list(check.check_specs)
            assert check_spec.name == "quality" and check_spec.blocking
            [sensor] = list(defs.sensors or [])
            assert sensor.name == "reviewed_sensor" and sensor.minimum_interval_seconds == 5

            instance = dg.DagsterInstance.ephemeral()
            for lang in ("fr", "en"):
                assert materialize(defs, "labels/review_queue_rows", "labels/review_queue", partition=lang,
                                   instance=instance).success
            ds = state.dataset_by_name("low-confidence-reviews")
            assert [w["name"] for w in state.workspaces.values() if w["id"] == ds["json"]["workspace_id"]] == [
                "team-a"]
            assert sorted(state.external_ids(ds["json"]["id"])) == ["en/en1", "en/en2", "fr/fr1", "fr/fr2"]

            with ArgillaClient(argilla_env.api_key, api_url=argilla_env.api_url) as client:
                for record in client.list_records(ds["json"]["id"]):  # only fr's records are reviewed
                    if in_partition(record.external_id, "fr"):
                        client.add_response(record.id, {"sentiment": "positive"})
            [request] = tick(sensor, defs, instance).run_requests
            assert request.partition_key == "fr"
            assert request.run_key == f"argilla:{ds['json']['id']}:fr:2/2"
            result = materialize(defs, "labels/reviewed", partition="fr", instance=instance)
            assert sorted(result.output_for_node("labels__reviewed")["external_id"]) == ["fr/fr1", "fr/fr2"]
            assert result.get_asset_check_evaluations()[0].passed


def test_webhook_sensor_requests_the_partition_of_the_record(argilla_env: ArgillaEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, partitions={"type": "static", "partition_keys": ["en", "fr"]},
                          rows={"file": "reviews.csv"}, progress_sensor=None,
                          webhook_sensor={"inbox_path": "inbox.db", "events": ["record.completed"]})
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            [sensor] = list(defs.sensors or [])
            assert sensor.name == "review_queue_webhooks"
            inbox = CallbackInbox(path / "inbox.db")  # relative to defs.yaml
            for n, (kind, external_id) in enumerate([("record.completed", "fr/r1"), ("record.updated", "fr/r2"),
                                                     ("record.completed", "de/r3"), ("record.completed", "en/r4")]):
                inbox.add("argilla", f"event-{n}", {"type": kind, "timestamp": f"2026-11-23T10:00:0{n}Z", "data": {
                    "id": f"rec-{n}", "external_id": external_id, "dataset": {"name": "low-confidence-reviews"}}})
            result = tick(sensor, defs, dg.DagsterInstance.ephemeral())
            assert [(r.partition_key, r.tags["dagster-labeling/argilla-record"]) for r in result.run_requests] == [
                ("fr", "rec-0"), ("en", "rec-3")]  # other event types and records of no partition: no run


def test_a_literal_key_is_refused_naming_the_yaml_line(argilla_env: ArgillaEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, resource={"api_key": "argilla_live_abc123"})
        text = load_error(sandbox, path)
        assert "defs.yaml:4 - attributes.resource.api_key: api_key must name an environment variable" in text
        assert "argilla_live_abc123" not in text  # the secret is not echoed into logs


def test_bad_settings_name_the_yaml_line(argilla_env: ArgillaEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        settings: dict[str, Any] = {"fields": [{"name": "text"}],
                    "questions": [{"name": "stars", "type": "rating", "values": [1, 2, 3, 4, 5]},
                                  {"name": "sentiment", "type": "label_selection", "labels": ["positive"]}]}
        text = load_error(sandbox, scaffolded(sandbox, settings=settings))
        assert "attributes.settings.questions.1: invalid label_selection question 'sentiment': question " \
               "'sentiment': give at least 2 distinct labels" in text
        assert "defs.yaml:" in text
        settings["questions"][1] = {"name": "sentiment", "type": "rating", "labels": ["a", "b"]}
        text = load_error(sandbox, scaffolded(sandbox, "other", settings=settings))
        assert "attributes.settings.questions.1: invalid rating question 'sentiment': values: Field required; " \
               "labels: Extra inputs are not permitted" in text
        settings["questions"] = [{"name": "text", "type": "text"}]  # the name of a field
        text = load_error(sandbox, scaffolded(sandbox, "third", settings=settings))
        assert "attributes.settings: invalid settings: Settings: the name 'text' is used twice" in text


def test_template_options_are_checked_naming_the_component_and_attribute(argilla_env: ArgillaEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        text = load_error(sandbox, scaffolded(sandbox, "a", template="preference", settings=None, mapping=None))
        assert "component 'review_queue' (ArgillaReviewComponent): num_generations: template: preference needs " \
               "num_generations" in text
        text = load_error(sandbox, scaffolded(sandbox, "b", template="text_generation"))
        assert "component 'review_queue' (ArgillaReviewComponent): settings: only template: generic takes it" in text
        text = load_error(sandbox, scaffolded(sandbox, "c", mapping={"fields": {"body": "text"}}))
        assert "mapping.fields: 'body' is not among the settings' fields ['text']" in text
        text = load_error(sandbox, scaffolded(sandbox, "e", template="generic", instruction="prompt"))
        assert "instruction: only template: text_generation or preference takes it (this component's template is " \
               "generic)" in text
        text = load_error(sandbox, scaffolded(sandbox, "d", annotations=NULL))
        assert "progress_sensor: the sensor materializes the annotations asset; keep annotations set" in text


def test_schedule_sends_the_rows_of_the_day_that_ended(argilla_env: ArgillaEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, partitions={"type": "daily", "start_date": "2026-11-01"},
                          schedule={"hour_of_day": 2, "minute_of_hour": 30, "default_status": "running"})
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            [schedule] = [defs.resolve_schedule_def(s.name) for s in defs.schedules or []]
            assert schedule.name == "review_queue_schedule" and schedule.cron_schedule == "30 2 * * *"
            assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
            when = dt.datetime(2026, 12, 2, 2, 30, tzinfo=dt.timezone.utc)
            with dg.build_schedule_context(scheduled_execution_time=when) as ctx:
                [request] = list(schedule.evaluate_tick(ctx).run_requests or [])
            assert request.partition_key == "2026-12-01"
            job = defs.resolve_job_def(schedule.job_name)
            # review is a hand-off: the schedule sends the rows, the progress sensor collects the reviews
            assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
                "review_queue_rows", "review_queue"}
            result = job.execute_in_process(partition_key="2026-12-01", instance=dg.DagsterInstance.ephemeral())
            assert result.success
            ds = argilla_env.state.dataset_by_name("low-confidence-reviews")
            assert sorted(argilla_env.state.external_ids(ds["json"]["id"])) == [
                "2026-12-01/r1", "2026-12-01/r2", "2026-12-01/r3"]


TEMPLATE_VARS = '''
import dagster as dg
from dagster_labeling.argilla import RecordInput


def _records(df, partition_key, where):
    return [RecordInput(fields={"text": f"[{row.source}] {row.text}"}, external_id=f"custom-{row.id}")
            for row in df.itertuples()]


@dg.template_var
def custom_records():
    return _records
'''


def test_generic_template_with_frame_to_records_from_a_template_var(argilla_env: ArgillaEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, mapping=None, frame_to_records="{{ custom_records }}")
        (path / "template_vars.py").write_text(TEMPLATE_VARS)
        body = yaml.safe_load((path / "defs.yaml").read_text())
        (path / "defs.yaml").write_text(yaml.safe_dump({"type": body["type"], "template_vars_module": ".template_vars",
                                                        "attributes": body["attributes"]}, sort_keys=False))
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, ArgillaReviewComponent) and callable(component.frame_to_records)
            assert materialize(defs, "review_queue_rows", "review_queue").success
        state = argilla_env.state
        ds = state.dataset_by_name("low-confidence-reviews")
        assert sorted(state.external_ids(ds["json"]["id"])) == ["custom-r1", "custom-r2", "custom-r3"]
        texts = sorted(r["fields"]["text"] for r in ds["records"].values())
        assert texts[0] == "[store] Does what it says, nothing more."


def test_where_sends_only_the_matching_rows(argilla_env: ArgillaEmulatorHandle) -> None:
    """``where`` (a pandas query) puts an asset <name>_selected between the rows and the dataset: only the rows
    matching it become records; a query naming a missing column fails the run naming the attribute."""
    state = argilla_env.state
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, where="source == 'web' and model_label == 'negative'")
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            graph = defs.resolve_asset_graph()
            selected = dg.AssetKey("review_queue_selected")
            assert graph.get(dg.AssetKey("review_queue")).parent_keys == {selected}
            assert graph.get(selected).parent_keys == {dg.AssetKey("review_queue_rows")}
            result = materialize(defs, "review_queue_rows", "review_queue_selected", "review_queue")
            assert result.success
            assert list(result.output_for_node("review_queue_selected")["id"]) == ["r2"]
        ds = state.dataset_by_name("low-confidence-reviews")
        assert state.external_ids(ds["json"]["id"]) == ["r2"]

        bad = scaffolded(sandbox, name="bad", where="confidence_score < 0.5", dataset_name="other")
        with sandbox.load_component_and_build_defs(defs_path=bad) as (_, defs):
            with pytest.raises(Exception, match="where 'confidence_score < 0.5' cannot filter") as raised:
                materialize(defs, "review_queue_rows", "review_queue_selected")
            assert "'source'" in str(raised.value)  # the columns there are
        assert state.dataset_by_name("other") is None
