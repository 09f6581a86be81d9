"""The example pipeline's definitions load (as `dagster dev -m example_repo.definitions` loads them) and wire
all five platforms."""

import importlib

import dagster as dg
import pytest


def test_example_definitions_load_with_every_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SCALE_API_KEY", "REFUEL_API_KEY", "ARGILLA_API_KEY", "ADAPTIVE_API_KEY"):
        monkeypatch.setenv(name, "emulator-key")
    monkeypatch.setenv("ADAPTIVE_BASE_URL", "http://127.0.0.1:9/adaptive")
    example = importlib.import_module("example_repo.definitions")
    dg.Definitions.validate_loadable(example.defs)
    assert set(example.defs.resources) == {"scale", "refuel", "argilla", "llm_engine", "adaptive"}
    groups = {spec.group_name for spec in example.defs.resolve_all_asset_specs()}
    assert {"scale", "refuel", "argilla", "llm_engine", "adaptive"} <= groups
    sensors = {s.name for s in example.defs.sensors or []}
    assert {"scale_batch_completed", "review_done", "llm_engine_fine_tune_done", "assistant_ab_test_done"} <= sensors
