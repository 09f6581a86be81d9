"""The components example (`example_components/`): a dg project built only from this package's YAML components,
telling the example pipeline's story. dg's own loader loads it with every platform, what a user launches for a
day materializes against the emulator (a re-run creates nothing twice), the sensors collect the Scale responses
and the Argilla reviews, and `dg check defs` passes on it."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import dagster as dg
import pytest

from dagster_labeling.testing import (
    AdaptiveEmulator,
    ArgillaEmulator,
    EmulatorServer,
    LLMEngineEmulator,
    RefuelEmulator,
    ScaleEmulator,
)
from dagster_labeling.testing.components import collected_by_sensors

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ROOT / "example_components"
PACKAGE = PROJECT / "src" / "review_labeling"
DAY = "2026-11-02"
DG = str(Path(sys.executable).with_name("dg"))

RESOURCES = {"scale", "refuel", "argilla", "llm_engine", "adaptive"}
SENSORS = {"scale_batch_completed", "review_done", "llm_engine_fine_tune_done", "assistant_ab_test_done"}
SCHEDULES = {"daily_llm_labels", "daily_human_labels", "daily_review_queue", "daily_feedback", "weekly_ab_test"}
ASSETS = {
    "refuel": {"reviews_rows", "reviews_dataset", "reviews_labels"},
    "scale": {"review_sentiment_batch", "review_sentiment_labels"},
    "argilla": {"review_queue_selected", "review_queue", "reviewed_labels"},
    "llm_engine": {"sentiment_model_rows", "sentiment_training_file", "sentiment_model", "model_labels"},
    "adaptive": {"review_label_interactions_rows", "review_label_interactions", "assistant_ab_test",
                 "assistant_default_model"},
}
# What a user launches: everything but what a sensor collects (and what runs after it).
LAUNCHED = {
    "reviews_rows", "reviews_dataset", "reviews_labels", "review_sentiment_batch", "review_queue_selected",
    "review_queue", "sentiment_model_rows", "sentiment_training_file", "sentiment_model",
    "review_label_interactions_rows", "review_label_interactions", "assistant_ab_test",
}


def emulator_environment(server: EmulatorServer) -> dict[str, str]:
    """The variables of `.env.example`, pointing at ``server``."""
    return {
        "SCALE_API_KEY": server.platform("scale").api_key, "SCALE_BASE_URL": server.platform_url("scale") + "/v1",
        "REFUEL_API_KEY": server.platform("refuel").api_key, "REFUEL_BASE_URL": server.platform_url("refuel"),
        "ARGILLA_API_KEY": server.platform("argilla").api_key, "ARGILLA_API_URL": server.platform_url("argilla"),
        "LLM_ENGINE_API_KEY": server.platform("llm-engine").api_key,
        "LLM_ENGINE_BASE_URL": server.platform_url("llm-engine") + "/",
        "ADAPTIVE_API_KEY": server.platform("adaptive").api_key, "ADAPTIVE_BASE_URL": server.platform_url("adaptive"),
    }


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(port=0).start()
    yield server
    server.stop()


@pytest.fixture
def defs(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> dg.Definitions:
    """The project loaded as `dg dev` loads it: its definitions.py, i.e. `load_from_defs_folder`."""
    for name, value in emulator_environment(emulator).items():
        monkeypatch.setenv(name, value)
    monkeypatch.syspath_prepend(str(PROJECT / "src"))
    from review_labeling.definitions import defs as load

    loaded = load()
    assert isinstance(loaded, dg.Definitions)
    return loaded


def keys(names: set[str]) -> set[dg.AssetKey]:
    return {dg.AssetKey.from_user_string(n) for n in names}


def test_dg_loader_loads_every_platform(defs: dg.Definitions) -> None:
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    groups: dict[str, set[str]] = {}
    for spec in defs.resolve_all_asset_specs():
        groups.setdefault(str(spec.group_name), set()).add(spec.key.to_user_string())
    assert groups == ASSETS
    assert {s.name for s in defs.sensors or []} == SENSORS
    assert {s.name for s in defs.schedules or []} == SCHEDULES
    # one resource per platform, each under its own key: the components of one platform share it
    assert set(defs.resources or {}) == RESOURCES
    assert len({type(r) for r in (defs.resources or {}).values()}) == len(RESOURCES)
    # secrets stay environment variables, read when a run starts
    for resource in (defs.resources or {}).values():
        assert isinstance(resource.api_key, dg.EnvVar), resource
    # cross-component wiring: the components read each other's assets
    parents = {k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys}
               for k in graph.get_all_asset_keys()}
    assert parents["review_sentiment_batch"] == {"reviews_rows"}
    assert parents["review_queue_selected"] == {"reviews_labels"}
    assert parents["model_labels"] == {"reviews_rows", "sentiment_model"}
    assert parents["assistant_ab_test"] == {"review_label_interactions"}
    assert {k.to_user_string() for k in graph.materializable_asset_keys} - {
        k.to_user_string() for k in collected_by_sensors(defs)} == LAUNCHED
    # schedules start the work, sensors finish it: no schedule runs what a sensor collects
    scheduled: set[str] = set()
    for schedule in defs.schedules or []:
        job = defs.resolve_job_def(defs.resolve_schedule_def(schedule.name).job_name)
        scheduled |= {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert scheduled == LAUNCHED - {"sentiment_model_rows", "sentiment_training_file", "sentiment_model"}


def test_what_a_user_launches_materializes_once_and_the_sensors_collect_the_rest(
        defs: dg.Definitions, emulator: EmulatorServer, tmp_path: Path) -> None:
    graph = defs.resolve_asset_graph()
    launched = keys(LAUNCHED)
    partitioned = {k for k in launched if graph.get(k).partitions_def is not None}
    everything: list[Any] = [*(defs.assets or []), *(defs.asset_checks or [])]
    instance = dg.DagsterInstance.ephemeral()
    # one storage for every run, as under `dg dev`: the sensors' runs read what the launched runs stored
    resources = {**(defs.resources or {}), "io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path))}

    def launch() -> None:
        day = dg.materialize(everything, selection=sorted(partitioned), partition_key=DAY, resources=resources,
                             instance=instance)
        assert day.success
        rest = dg.materialize(everything, selection=sorted(launched - partitioned), resources=resources,
                              instance=instance)
        assert rest.success

    scale = cast(ScaleEmulator, emulator.platform("scale"))
    refuel = cast(RefuelEmulator, emulator.platform("refuel"))
    argilla = cast(ArgillaEmulator, emulator.platform("argilla"))
    llm_engine = cast(LLMEngineEmulator, emulator.platform("llm-engine"))
    adaptive = cast(AdaptiveEmulator, emulator.platform("adaptive"))
    # people label and review when the test says so (Scale: complete_all, Argilla: annotate_all)
    scale.task_duration_seconds, scale.task_duration_jitter = 3600.0, 0.0
    argilla.auto_annotate, argilla.annotation_seconds = True, 100_000.0

    def remote() -> dict[str, object]:
        queue = argilla.dataset_by_name("low-confidence-reviews")
        return {
            "scale batches": sorted({t["batch"] for t in scale.tasks.values()}), "scale tasks": len(scale.tasks),
            "refuel datasets": sorted(d["name"] for d in refuel.datasets.values()),
            "refuel rows": sum(len(d["rows"]) for d in refuel.datasets.values()), "refuel runs": len(refuel.runs),
            "argilla records": sorted(argilla.external_ids(queue["json"]["id"])) if queue else [],
            "llm engine fine-tunes": len(llm_engine.fine_tunes), "adaptive interactions": len(adaptive.completions),
            "adaptive a/b tests": len(adaptive.ab_campaigns),
        }

    launch()
    first = remote()
    reviews = 12  # reviews/2026-11-02.csv
    assert first["scale batches"] == [f"review_sentiment_batch__{DAY}"] and first["scale tasks"] == reviews
    assert first["refuel datasets"] == ["product-reviews"] and first["refuel rows"] == reviews
    assert first["refuel runs"] == 1
    doubtful = first["argilla records"]
    assert isinstance(doubtful, list) and 0 < len(doubtful) < reviews  # only the labels below the confidence bar
    assert all(i.startswith(f"{DAY}/") for i in doubtful)
    assert first["llm engine fine-tunes"] == 1 and first["adaptive a/b tests"] == 1
    assert first["adaptive interactions"] == 4  # feedback/2026-11-02.jsonl

    launch()  # a re-run creates nothing twice
    assert remote() == first
    # Refuel's labels asset starts a task run each time: on a labeled dataset it labels nothing again
    [rerun] = refuel.runs.values()
    assert rerun["_total"] == 0 and rerun["status"] == "completed"

    # the hand-off: the Scale batch completes, the reviewers answer; the sensors request the collecting runs
    scale.complete_all()
    argilla.annotate_all()
    collected = {}
    for name, asset in (("scale_batch_completed", "review_sentiment_labels"), ("review_done", "reviewed_labels")):
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            result = defs.resolve_sensor_def(name)(context)
        [request] = getattr(result, "run_requests", None) or []
        assert request.partition_key == DAY, name
        run = dg.materialize(everything, selection=[asset], partition_key=DAY, resources=resources,
                             instance=instance, tags=request.tags)
        assert run.success
        collected[asset] = run.output_for_node(asset)
    assert list(collected["review_sentiment_labels"]["status"]) == ["completed"] * reviews
    assert set(collected["review_sentiment_labels"]["response.category"]) <= {"positive", "negative", "neutral"}
    assert sorted(collected["reviewed_labels"]["external_id"]) == doubtful


def test_dg_check_defs_passes(emulator: EmulatorServer, tmp_path: Path) -> None:
    # PYTHONPATH stands for `pip install -e .` (`dg dev` and `dg list defs` import the installed package)
    env = {**os.environ, **emulator_environment(emulator), "NO_COLOR": "1", "PYTHONPATH": str(PROJECT / "src"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "DAGSTER_HOME": str(tmp_path)}
    done = subprocess.run([DG, "check", "defs"], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert "All definitions loaded successfully" in done.stdout + done.stderr
