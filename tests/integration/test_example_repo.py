"""The example pipeline's definitions load (as `dagster dev -m example_repo.definitions` loads them) and wire
all five platforms."""

import datetime as dt
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


def test_daily_schedule_requests_the_current_day(monkeypatch: pytest.MonkeyPatch) -> None:
    """The example's schedule starts a day's labeling once a night; the sensors finish what it starts."""
    for name in ("SCALE_API_KEY", "REFUEL_API_KEY", "ARGILLA_API_KEY", "ADAPTIVE_API_KEY"):
        monkeypatch.setenv(name, "emulator-key")
    monkeypatch.setenv("ADAPTIVE_BASE_URL", "http://127.0.0.1:9/adaptive")
    example = importlib.import_module("example_repo.definitions")
    schedule = example.defs.resolve_schedule_def("daily_labeling")
    assert schedule.cron_schedule == "0 1 * * *"
    tick_time = dt.datetime(2026, 12, 2, 1, 0, tzinfo=dt.timezone.utc)
    with dg.build_schedule_context(scheduled_execution_time=tick_time) as context:
        [request] = list(schedule.evaluate_tick(context).run_requests or [])
    # the example's days end a day ahead (end_offset=1), so the night's tick labels the day that just began
    assert request.partition_key == "2026-12-02"
    job = example.defs.resolve_job_def(schedule.job_name)
    keys = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert keys == {"raw_reviews", "review_sentiment_batch", "reviews_refuel_dataset", "review_llm_labels",
                    "low_confidence_reviews", "review_queue"}
    # what the schedule hands off, a sensor collects
    targets = {s.name for s in example.defs.sensors or []}
    assert {"scale_batch_completed", "review_done"} <= targets


def test_every_example_asset_has_an_owner_and_the_pipeline_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SCALE_API_KEY", "REFUEL_API_KEY", "ARGILLA_API_KEY", "ADAPTIVE_API_KEY"):
        monkeypatch.setenv(name, "emulator-key")
    monkeypatch.setenv("ADAPTIVE_BASE_URL", "http://127.0.0.1:9/adaptive")
    example = importlib.import_module("example_repo.definitions")
    specs = list(example.defs.resolve_all_asset_specs())
    assert len(specs) >= 20
    for spec in specs:
        assert spec.owners and spec.owners[0].startswith("team:"), spec.key
        assert spec.tags["pipeline"] == "review-sentiment" and spec.tags["platform"] == spec.group_name, spec.key
    owners = {spec.key.to_user_string(): spec.owners[0] for spec in specs}
    assert owners["review_sentiment_batch"] == "team:human-labeling"
    assert owners["sentiment_model"] == "team:ml-platform"


def test_loading_the_example_makes_no_http_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """Definitions load in every run worker and step process: they must not call any platform (issue 14)."""
    import sys

    import httpx

    sent: list[str] = []

    def record(self: object, request: httpx.Request, *args: object, **kwargs: object) -> httpx.Response:
        sent.append(str(request.url))
        raise AssertionError(f"HTTP request while loading definitions: {request.url}")

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", record)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", record)
    for name in ("SCALE_API_KEY", "REFUEL_API_KEY", "ARGILLA_API_KEY", "ADAPTIVE_API_KEY"):
        monkeypatch.setenv(name, "emulator-key")
    monkeypatch.setenv("ADAPTIVE_BASE_URL", "http://127.0.0.1:9/adaptive")
    monkeypatch.delitem(sys.modules, "example_repo.definitions", raising=False)
    example = importlib.import_module("example_repo.definitions")
    dg.Definitions.validate_loadable(example.defs)
    example.defs.resolve_asset_graph()
    assert sent == []
