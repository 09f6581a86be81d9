"""LLMEngineFineTuneComponent and LLMEngineCompletionsComponent: scaffolded into a defs folder, loaded by
Dagster's component loader, materialized against the emulator; the sensors collect handed-off work; YAML errors
name the line, the component and the attribute; schedules request the right partition."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster.components.testing import create_defs_folder_sandbox

from dagster_labeling.llm_engine import (
    LLMEngineClient,
    LLMEngineCompletionsComponent,
    LLMEngineFineTuneComponent,
    LLMEngineResource,
    build_llm_engine_fine_tune_asset,
    build_llm_engine_fine_tune_sensor,
)
from dagster_labeling.testing.components import component_load_error as load_error
from dagster_labeling.testing.components import error_chain as error_text
from dagster_labeling.testing.components import materialize_selected, scaffold_component
from dagster_labeling.testing.pytest_plugin import LLMEngineEmulatorHandle

FAST_POLL = 0.05


@pytest.fixture
def llm_env(llm_engine_emulator: LLMEngineEmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> LLMEngineEmulatorHandle:
    monkeypatch.setenv("LLM_ENGINE_API_KEY", llm_engine_emulator.api_key)
    monkeypatch.setenv("LLM_ENGINE_BASE_URL", llm_engine_emulator.base_url)
    return llm_engine_emulator


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    """A persistent instance: runs of one test share it, and the filesystem IO manager keeps outputs between them."""
    with dg.instance_for_test() as inst:
        yield inst


def scaffolded(sandbox: Any, component: type, name: str, **changes: Any) -> Path:
    return scaffold_component(sandbox, component, name, **changes)






def materialize(defs: dg.Definitions, instance: dg.DagsterInstance, *names: str, partition: str | None = None,
                run_config: dict | None = None) -> dg.ExecuteInProcessResult:
    return materialize_selected(defs, *names, partition=partition, instance=instance, run_config=run_config)


def tick(defs: dg.Definitions, instance: dg.DagsterInstance, name: str, cursor: str | None = None) -> Any:
    """(the tick's result, the cursor it leaves)."""
    sensor = next(s for s in defs.sensors or [] if s.name == name)
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources=dict(defs.resources or {})) as ctx:
        result = sensor(ctx)
        return result, result.cursor if isinstance(result, dg.SensorResult) else ctx.cursor


def meta(result: dg.ExecuteInProcessResult, node: str) -> dict[str, Any]:
    return {k: v.value for k, v in result.asset_materializations_for_node(node)[-1].metadata.items()}


# -- fine-tune ---------------------------------------------------------------------------------------------------


def test_scaffolded_fine_tune_hands_off_and_the_sensor_collects_the_model(
        llm_env: LLMEngineEmulatorHandle, instance: dg.DagsterInstance) -> None:
    llm_env.state.fine_tune_pending_seconds = 1000  # the fine-tune stays pending until complete_all
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, LLMEngineFineTuneComponent, "sentiment_model")
        text = (path / "defs.yaml").read_text()
        assert '"{{ env.LLM_ENGINE_API_KEY }}"' in text and (path / "training_pairs.csv").exists()
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, LLMEngineFineTuneComponent)
            # the key is read when a run starts: the definitions hold the variable's name, never its value
            assert isinstance(component.resource.api_key, dg.EnvVar)
            assert llm_env.api_key not in repr(defs.resources)
            [sensor] = list(defs.sensors or [])
            assert sensor.name == "sentiment_model_fine_tune" and sensor.job_name == "sentiment_model_collect"
            names = ("sentiment_model_rows", "sentiment_model_training_file", "sentiment_model")
            first = materialize(defs, instance, *names)
            [file_id] = llm_env.state.files
            assert llm_env.state.file_contents[file_id].startswith(b"prompt,response\r\nReview: Battery")
            launched = meta(first, "sentiment_model")
            [fine_tune_id] = llm_env.state.fine_tunes
            assert first.output_for_node("sentiment_model") == fine_tune_id  # handed off: the id, not a model yet
            assert launched["llm_engine/fine_tune_id"] == fine_tune_id and launched["llm_engine/state"] != "SUCCEEDED"
            assert llm_env.state.fine_tunes[fine_tune_id]["hyperparameters"] == {"epochs": 3}

            again = materialize(defs, instance, *names)  # a re-run uploads nothing and launches nothing
            assert again.output_for_node("sentiment_model") == fine_tune_id
            assert len(llm_env.state.files) == 1 and len(llm_env.state.fine_tunes) == 1

            pending, cursor = tick(defs, instance, "sentiment_model_fine_tune")
            assert isinstance(pending, dg.SkipReason)  # still pending
            llm_env.state.complete_all()
            result, cursor = tick(defs, instance, "sentiment_model_fine_tune", cursor)
            assert isinstance(result, dg.SensorResult)
            [request] = result.run_requests or []
            assert request.run_key == f"sentiment_model_fine_tune:{fine_tune_id}"

            collect = defs.resolve_job_def("sentiment_model_collect")
            run = collect.execute_in_process(instance=instance, tags=request.tags)
            model = run.output_for_node("sentiment_model")
            assert model.startswith("llama-2-7b.review-sentiment.") and model in llm_env.state.endpoints
            collected = meta(run, "sentiment_model")
            assert collected["llm_engine/state"] == "SUCCEEDED" and collected["llm_engine/fine_tune_id"] == fine_tune_id
            [check] = run.get_asset_check_evaluations()
            assert check.check_name == "eval_loss_below_threshold" and check.passed
            assert check.metadata["threshold"].value == 1.5
            assert len(llm_env.state.fine_tunes) == 1  # reattached to the finished fine-tune

            after, _ = tick(defs, instance, "sentiment_model_fine_tune", cursor)
            assert isinstance(after, dg.SkipReason)


def test_fine_tune_sensor_ignores_fine_tunes_the_component_did_not_launch(
        llm_env: LLMEngineEmulatorHandle, instance: dg.DagsterInstance) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, LLMEngineFineTuneComponent, "sentiment_model")
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            with LLMEngineClient(llm_env.api_key, base_url=llm_env.base_url) as client:
                client.create_fine_tune("llama-2-7b", "https://x.test/other.csv", hyperparameters={"epochs": 1})
            llm_env.state.complete_all()
            result, _ = tick(defs, instance, "sentiment_model_fine_tune")  # report_existing, but not ours
            assert isinstance(result, dg.SkipReason)


def test_launched_only_needs_the_fine_tune_asset_and_filters_the_account(
        llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    with pytest.raises(ValueError, match="launched_only needs fine_tune_asset"):
        build_llm_engine_fine_tune_sensor(name="s", model_asset_key="m", launched_only=True)
    tuned = build_llm_engine_fine_tune_asset(name="tuned", training_file_asset="f", base_model="llama-2-7b")
    sensor = build_llm_engine_fine_tune_sensor(name="s", model_asset_key="tuned", fine_tune_asset=tuned,
                                               report_existing=True, launched_only=True)
    everything = build_llm_engine_fine_tune_sensor(name="s", model_asset_key="tuned", fine_tune_asset=tuned,
                                                   report_existing=True)
    with LLMEngineClient(llm_engine_emulator.api_key, base_url=llm_engine_emulator.base_url) as client:
        client.create_fine_tune("llama-2-7b", "https://x.test/other.csv", hyperparameters={"epochs": 1})
    llm_engine_emulator.state.complete_all()
    resources = {"llm_engine": LLMEngineResource(api_key=llm_engine_emulator.api_key,
                                                 base_url=llm_engine_emulator.base_url)}
    instance = dg.DagsterInstance.ephemeral()
    with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        assert isinstance(sensor(ctx), dg.SkipReason)
    with dg.build_sensor_context(instance=instance, resources=resources) as ctx:
        reported = everything(ctx)
        # without the switch, any finished fine-tune of the account is reported
        assert isinstance(reported, dg.SensorResult) and len(reported.asset_events) == 1


def test_fine_tune_options_reach_the_assets(llm_env: LLMEngineEmulatorHandle, instance: dg.DagsterInstance) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(
            sandbox, LLMEngineFineTuneComponent, "sentiment_model",
            partitions={"type": "static", "partition_keys": ["en", "fr"]}, rows={"file": "pairs_{partition_key}.csv"},
            pool="llm_engine_api", group_name="tuning", key_prefix=["models"], wait_for_completion=True,
            poll_interval_seconds=FAST_POLL, eval_loss_threshold=0.01, check_severity="error",
            hyperparameters={"epochs": 2}, suffix=None, training_file={"name": "pairs_file"},
            prompt_column="question", response_column="answer", fine_tune_sensor=None,
        )
        for lang in ("en", "fr"):
            (path / f"pairs_{lang}.csv").write_text(f"question,answer\n{lang} hi,{lang} hello\n{lang} bye,ciao\n")
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            assert not list(defs.sensors or [])
            tuned = defs.get_assets_def(dg.AssetKey(["models", "sentiment_model"]))
            training = defs.get_assets_def(dg.AssetKey(["models", "pairs_file"]))
            for asset in (tuned, training):
                assert asset.partitions_def == dg.StaticPartitionsDefinition(["en", "fr"])
                assert asset.group_names_by_key[asset.key] == "tuning"
                assert "llm_engine" in asset.specs_by_key[asset.key].kinds
            assert tuned.op.pool == "llm_engine_api"
            result = materialize(defs, instance, "models/sentiment_model_rows", "models/pairs_file",
                                 "models/sentiment_model", partition="fr")
            [file] = llm_env.state.files.values()
            assert file["filename"].startswith("pairs_file__fr.")
            [file_id] = llm_env.state.file_contents
            assert llm_env.state.file_contents[file_id] == b"prompt,response\r\nfr hi,fr hello\r\nfr bye,ciao\r\n"
            assert result.output_for_node("models__sentiment_model").startswith("llama-2-7b.")  # waited
            [fine_tune] = llm_env.state.fine_tunes.values()
            assert fine_tune["hyperparameters"] == {"epochs": 2}
            [check] = result.get_asset_check_evaluations()
            assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR


def test_fine_tune_bad_base_model_names_the_component_and_attribute(llm_env: LLMEngineEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, LLMEngineFineTuneComponent, "sentiment_model", base_model="gpt-5")
        assert "component 'sentiment_model': base_model: Unknown base model 'gpt-5'" in load_error(sandbox, path)


def test_a_literal_key_is_refused_naming_the_yaml_line(llm_env: LLMEngineEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        for component, name in ((LLMEngineFineTuneComponent, "tuned"), (LLMEngineCompletionsComponent, "answers")):
            path = scaffolded(sandbox, component, name, resource={"api_key": "live_abc123"})
            text = load_error(sandbox, path)
            assert "defs.yaml:4 - attributes.resource.api_key: api_key must name an environment variable" in text
            assert "live_abc123" not in text  # the secret is not echoed into logs


def test_fine_tune_schedule_tick_requests_the_day_that_ended(llm_env: LLMEngineEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, LLMEngineFineTuneComponent, "sentiment_model",
                          partitions={"type": "daily", "start_date": "2026-11-01"},
                          schedule={"hour_of_day": 3, "minute_of_hour": 15})
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            [schedule] = [defs.resolve_schedule_def(s.name) for s in defs.schedules or []]
            assert isinstance(schedule, dg.ScheduleDefinition)
            assert schedule.name == "sentiment_model_schedule" and schedule.cron_schedule == "15 3 * * *"
            when = dt.datetime(2026, 12, 2, 3, 15, tzinfo=dt.timezone.utc)
            with dg.build_schedule_context(scheduled_execution_time=when) as ctx:
                [request] = list(schedule.evaluate_tick(ctx).run_requests or [])
            assert request.partition_key == "2026-12-01"
            job = defs.resolve_job_def(schedule.job_name)
            # the fine-tune asset starts the work even when it hands off; the sensor's collect job is separate
            assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
                "sentiment_model_rows", "sentiment_model_training_file", "sentiment_model"}
            collect = defs.resolve_job_def("sentiment_model_collect")
            assert collect.partitions_def == dg.DailyPartitionsDefinition(start_date="2026-11-01")


# -- completions -------------------------------------------------------------------------------------------------


def test_scaffolded_completions_materialize_against_the_emulator(
        llm_env: LLMEngineEmulatorHandle, instance: dg.DagsterInstance) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, LLMEngineCompletionsComponent, "answers")
        assert (path / "prompts.csv").exists()
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, LLMEngineCompletionsComponent)
            assert isinstance(component.resource.api_key, dg.EnvVar)
            assert {s.name for s in defs.sensors or []} == {"answers_batch"}
            result = materialize(defs, instance, "answers_rows", "answers", "answers_batch_output")
            frame = result.output_for_node("answers")
            assert list(frame["key"]) == ["q1", "q2", "q3"] and frame["error"].isna().all()
            with LLMEngineClient(llm_env.api_key, base_url=llm_env.base_url) as client:
                expected = client.complete("llama-2-7b", "Review: Screen cracked in a week. Sentiment:",
                                           max_new_tokens=20, temperature=0.2).output.text
            assert frame["completion"][1] == expected
            assert meta(result, "answers")["llm_engine/mode"] == "concurrent"  # 3 rows, below batch_threshold
            collected = result.output_for_node("answers_batch_output")  # nothing handed off: passes through
            assert list(collected["completion"]) == list(frame["completion"])


def test_completions_batch_hand_off_is_collected_by_the_sensor(
        llm_env: LLMEngineEmulatorHandle, instance: dg.DagsterInstance) -> None:
    llm_env.state.batch_seconds = 1000
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, LLMEngineCompletionsComponent, "answers", batch_threshold=2,
                          parameters={"max_new_tokens": 5})
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            handed = materialize(defs, instance, "answers_rows", "answers")
            handed_meta = meta(handed, "answers")
            assert handed_meta["llm_engine/mode"] == "batch"
            job_id = handed_meta["llm_engine/batch_job_id"]
            # a relative batch_output_dir is relative to the defs.yaml
            assert handed_meta["llm_engine/output_data_path"].startswith(str(path / "batch_outputs") + "/")
            assert handed.output_for_node("answers")["completion"].isna().all()
            [job] = llm_env.state.batches.values()
            assert job["_content"]["max_new_tokens"] == 5

            waiting, cursor = tick(defs, instance, "answers_batch")
            assert isinstance(waiting, dg.SkipReason) and "1 batch job(s) still running" in str(waiting.skip_message)
            llm_env.state.complete_all()
            result, cursor = tick(defs, instance, "answers_batch", cursor)
            [request] = result.run_requests
            assert request.run_key == f"answers_batch:{job_id}"
            target = defs.resolve_job_def(str(defs.resolve_sensor_def("answers_batch").job_name))
            assert {k.to_user_string() for k in target.asset_layer.executable_asset_keys} == {"answers_batch_output"}
            collected = materialize(defs, instance, "answers_batch_output")
            frame = collected.output_for_node("answers_batch_output")
            assert list(frame["key"]) == ["q1", "q2", "q3"] and frame["completion"].str.len().min() > 0
            assert meta(collected, "answers_batch_output")["llm_engine/batch_job_id"] == job_id



# -- both together -----------------------------------------------------------------------------------------------


def test_completions_of_the_fine_tuned_model_in_one_defs_folder(
        llm_env: LLMEngineEmulatorHandle, instance: dg.DagsterInstance) -> None:
    """The two components side by side (one resource key), the completions reading the fine-tune asset's model."""
    with create_defs_folder_sandbox() as sandbox:
        scaffolded(sandbox, LLMEngineFineTuneComponent, "sentiment_model", wait_for_completion=True,
                   poll_interval_seconds=FAST_POLL)
        scaffolded(sandbox, LLMEngineCompletionsComponent, "answers", model_name=None,
                   model_asset="sentiment_model")
        with sandbox.build_all_defs() as defs:
            answers = defs.get_assets_def("answers")
            assert dg.AssetKey("sentiment_model") in answers.dependency_keys
            assets: list[Any] = list(defs.assets or [])
            result = dg.materialize(assets, resources=defs.resources, instance=instance,
                                    selection=["sentiment_model_rows", "sentiment_model_training_file",
                                               "sentiment_model", "answers_rows", "answers"])
            model = result.output_for_node("sentiment_model")
            assert model.startswith("llama-2-7b.review-sentiment.")
            assert meta(result, "answers")["llm_engine/model"] == model
            assert result.output_for_node("answers")["error"].isna().all()


def test_completions_errors_name_the_component_and_attribute(llm_env: LLMEngineEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, LLMEngineCompletionsComponent, "answers", parameters={"temperature": 2.0})
        assert "component 'answers': parameters.temperature: temperature must be in [0, 1], got 2.0" in load_error(
            sandbox, path)
        path = scaffolded(sandbox, LLMEngineCompletionsComponent, "both", model_asset="tuned")
        assert "component 'answers': model: Give exactly one of model" in load_error(sandbox, path)
        path = scaffolded(sandbox, LLMEngineCompletionsComponent, "no_output", batch_output=None, batch_sensor=None)
        assert "component 'answers': wait_for_batch: false hands batch jobs off; set batch_output" in load_error(
            sandbox, path)


def test_completions_schedule_starts_the_completions_and_leaves_the_batch_output_to_the_sensor(
        llm_env: LLMEngineEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        path = scaffolded(sandbox, LLMEngineCompletionsComponent, "answers", schedule={"cron_schedule": "0 6 * * *"},
                          concurrency=2, key_prefix=["llm"], group_name="answers_group")
        with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
            [schedule] = [defs.resolve_schedule_def(s.name) for s in defs.schedules or []]
            assert isinstance(schedule, dg.ScheduleDefinition)
            assert schedule.cron_schedule == "0 6 * * *"
            job = defs.resolve_job_def(schedule.job_name)
            assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == {
                "llm/answers_rows", "llm/answers"}
            answers = defs.get_assets_def(dg.AssetKey(["llm", "answers"]))
            assert answers.group_names_by_key[answers.key] == "answers_group"
            assert answers.specs_by_key[answers.key].kinds == {"scale", "llm_engine", "pandas"}


def test_components_sharing_a_resource_key_must_configure_it_alike(llm_env: LLMEngineEmulatorHandle) -> None:
    with create_defs_folder_sandbox() as sandbox:
        scaffolded(sandbox, LLMEngineFineTuneComponent, "sentiment_model")
        scaffolded(sandbox, LLMEngineCompletionsComponent, "answers",
                   resource={"api_key": "{{ env.LLM_ENGINE_API_KEY }}", "base_url": "http://127.0.0.1:1/other/"})
        with pytest.raises(Exception) as raised:
            with sandbox.build_all_defs():
                pass
        assert "different resources with same key 'llm_engine'" in error_text(raised.value)
