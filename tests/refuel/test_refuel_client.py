"""RefuelClient against the emulator: every operation, with real labels asserted."""

import json
import time
from pathlib import Path

import pandas as pd
import pytest
from refuel_fixtures import *  # noqa: F403  (the client and labeled fixtures; see refuel_fixtures)
from refuel_helpers import FAST, SENTIMENT, reviews_frame

from dagster_labeling._core import InvalidInput, JobState, JobTimeout, RateLimiter, WaitOptions
from dagster_labeling.refuel import (
    RefuelClient,
    RefuelConflict,
    RefuelNotFound,
    RefuelRateLimited,
    RefuelSoftError,
    RefuelUnauthorized,
)
from dagster_labeling.testing.pytest_plugin import RefuelEmulatorHandle


def test_projects(client: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    created = client.create_project("second", "another one")
    names = {p.project_name for p in client.get_projects()}
    assert names == {"emulator-project", "second"}
    assert client.get_project("second").id == created.id
    assert client.get_project(created.id).description == "another one"
    with pytest.raises(RefuelConflict):
        client.create_project("second", "dup")
    with pytest.raises(RefuelNotFound, match="No project with name='nope'"):
        client.get_project("nope")


def test_upload_csv_waits_for_ingestion_and_dataframe(client: RefuelClient, refuel_emulator: RefuelEmulatorHandle,
                                                     tmp_path: Path) -> None:
    refuel_emulator.state.ingest_seconds = 0.2
    path = tmp_path / "r.csv"
    reviews_frame(5).to_csv(path, index=False)
    pending = client.upload_dataset(path, "from_csv")
    assert pending.ingest_status == "processing"
    done = client.upload_dataset(reviews_frame(4), "from_df", wait_for_completion=True, wait=FAST)
    assert done.ingest_status == "success" and done.columns == ["text", "gt", "stars"]
    assert {d.name for d in client.get_datasets()} == {"from_csv", "from_df"}
    upload = refuel_emulator.request_log.entries("POST")[0]
    assert upload.headers["content-type"].startswith("multipart/form-data") and b'filename="r.csv"' in upload.body
    uri = client.upload_dataset_from_uri("s3://bucket/x.csv", "from_uri")
    assert uri.source == "uri"
    client.delete_dataset("from_uri")
    assert {d.name for d in client.get_datasets()} == {"from_csv", "from_df"}


def test_add_items_checks_schema_then_appends(client: RefuelClient) -> None:
    client.upload_dataset(reviews_frame(3), "ds", wait_for_completion=True, wait=FAST)
    assert client.add_items("ds", [{"text": "new", "gt": "positive", "stars": 5}]) == 1
    assert client.count_items("ds") == 4
    assert client.add_items("ds", reviews_frame(2)) == 2
    assert len(client.get_items("ds", max_items=None)) == 6


def test_task_run_progress_and_items_with_labels(client: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    refuel_emulator.state.items_per_second = 100.0
    client.upload_dataset(reviews_frame(60), "reviews", wait_for_completion=True, wait=FAST)
    task = client.create_task("sent", "reviews", "You are an expert.", [SENTIMENT], model="GPT-4o")
    assert [s.name for s in task.subtasks] == ["sentiment"] and task.model == "gpt-4o"  # type: ignore[attr-defined]
    run = client.start_task_run("sent", "reviews")
    first = run.refresh()
    assert first.state is JobState.RUNNING and first.total == 60 and first.done is not None and first.done < 60
    assert client.get_task_run("sent", "reviews").time_remaining_seconds is not None
    final = run.wait(FAST)
    assert final.state is JobState.SUCCEEDED and final.done == 60
    items = client.get_items("reviews", task="sent", max_items=None)
    assert len(items) == 60
    assert {"sentiment_llm_label", "sentiment_confidence", "sentiment_confirmed_label"} <= set(items.columns)
    pos = items[items.text.str.startswith("a positive")]
    assert set(pos.sentiment_llm_label) == {"positive"} and set(pos.sentiment_confidence) == {0.95}


def test_items_paging_filters_and_order(labeled: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    client = labeled
    client.page_size = 7
    refuel_emulator.request_log.clear()
    page = client.get_items("reviews", offset=5, max_items=20)
    assert len(page) == 20 and list(page.text)[0] == "meh #5"
    offsets = sorted(int(e.query.split("offset=")[1].split("&")[0]) for e in refuel_emulator.request_log
                     if "max_items=" in e.query and "max_items=0" not in e.query)
    assert offsets == [5, 12, 19]
    neg = client.get_items("reviews", task="sent", max_items=None, filters=[
        {"field": "llm_label", "operator": "=", "value": "negative", "subtask": "sentiment"}])
    assert set(neg.sentiment_llm_label) == {"negative"}
    assert neg.text.str.startswith("so negative").sum() == 10  # every "so negative" row, plus "meh" ones
    disagree = client.get_items("reviews", task="sent", max_items=None, filters=[
        {"field": "llm_label", "operator": "<>", "value": "gt", "subtask": "sentiment"}])
    assert set(disagree["gt"]) == {"neutral"}  # value "gt" is a column: compared row by row (value_type metadata)
    assert (disagree["sentiment_llm_label"] != disagree["gt"]).all() and len(disagree) == 10
    confident = client.get_items("reviews", task="sent", max_items=None, filters=[
        {"field": "confidence", "operator": ">=", "value": 0.9, "subtask": "sentiment"},
        {"field": "text", "operator": "ILIKE", "value": "POSITIVE"}])
    assert len(confident) == 10
    ordered = client.get_items("reviews", max_items=None, order_by=[{"field": "stars", "direction": "DESC"},
                                                                    {"field": "text"}])
    assert list(ordered.stars) == sorted(ordered.stars, reverse=True)
    top = ordered[ordered.stars == 4]
    assert list(top.text) == sorted(top.text)
    for op in ("IS NULL", "IS NOT NULL", "LIKE", "NOT LIKE", "NOT ILIKE", ">", "<", "<="):
        client.get_items("reviews", max_items=1, filters=[{"field": "stars", "operator": op, "value": 2}])


def test_items_across_many_chunks_keep_order_and_labels(labeled: RefuelClient,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("dagster_labeling.refuel.client.PAGES_PER_CHUNK", 4)
    labeled.page_size = 3  # 30 items: 10 pages, chunks of 4 + 4 + 2
    every = labeled.get_items("reviews", task="sent", max_items=None)
    assert len(every) == 30
    labeled.page_size = 100
    reference = labeled.get_items("reviews", task="sent", max_items=None)
    pd.testing.assert_frame_equal(every, reference)
    assert every.sentiment_llm_label.notna().all() and every.refuel_uuid.is_unique


def test_exports_poll_then_download(labeled: RefuelClient, tmp_path: Path) -> None:
    export = labeled.start_export("reviews", "me@example.com", task="sent")
    status = export.wait(FAST)
    assert status.state is JobState.SUCCEEDED and export.download_url
    frame = labeled.download(export.download_url)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 30 and "sentiment_llm_label" in frame.columns
    path = labeled.download(export.download_url, tmp_path / "out.csv")
    assert Path(str(path)).read_text().count("\n") == 31


def test_applications_label_async_feedback(labeled: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    client = labeled
    assert [a.name for a in client.get_applications()] == ["sent"]
    out = client.label("sent", [{"text": "so negative"}, {"text": "positive!"}], explain=True, telemetry=True)
    assert [o.refuel_fields["sentiment"].label for o in out] == [["negative"], ["positive"]]
    assert out[0].refuel_fields["sentiment"].explanation and out[0].usage and out[0].usage["total_tokens"] > 0
    explained = client.label("sent", [{"text": "meh"}], explain_fields=["sentiment"])
    assert explained[0].refuel_fields["sentiment"].explanation
    label_req = refuel_emulator.request_log.entries("POST")[-1]
    assert "explain=False" in label_req.query and "explain_fields=sentiment" in label_req.query
    stubs = client.alabel("sent", [{"text": "negative"}, {"text": "positive"}])
    assert all(s.uri and s.refuel_uuid for s in stubs)
    results = client.wait_for_labeled_items("sent", [s.refuel_uuid for s in stubs if s.refuel_uuid],
                                            poll_interval_seconds=0.02)
    assert [results[s.refuel_uuid].refuel_fields["sentiment"].label for s in stubs if s.refuel_uuid] == \
        [["negative"], ["positive"]]
    client.feedback("sent", stubs[0].refuel_uuid or "", {"sentiment": "neutral"})
    assert refuel_emulator.state.feedback_log[-1]["feedback"] == {
        client.get_application("sent").subtasks[0].id: {"label": "neutral"}}


def test_catalog_app_imported_then_listed_and_labels(client: RefuelClient) -> None:
    catalog = client.get_catalog_apps()
    assert [(a.app_name, a.description) for a in catalog] == [("catalog_sentiment", "Sentiment classifier")]
    assert client.get_applications() == []
    app = client.import_app("catalog_sentiment", "my_sentiment")
    assert (app.name, app.catalog_id, app.task_id, app.status) == ("my_sentiment", catalog[0].id, None, "active")
    assert app.id != catalog[0].id and [s.name for s in app.subtasks] == ["sentiment"]
    assert [(a.id, a.name, a.catalog_id) for a in client.get_applications()] == [(app.id, "my_sentiment",
                                                                                   catalog[0].id)]
    out = client.label("my_sentiment", [{"text": "so negative"}])
    assert out[0].refuel_fields["sentiment"].label == ["negative"]
    assert client.get_application(app.id).catalog_id == catalog[0].id
    by_id = client.import_app(catalog[0].id)  # named after the argument as given, as the SDK does
    assert by_id.name == catalog[0].id and by_id.catalog_id == catalog[0].id
    assert len(client.get_applications()) == 2
    with pytest.raises(RefuelNotFound, match="No catalog app with name='nope'"):
        client.import_app("nope")
    assert len(client.get_applications()) == 2


def test_catalog_apps_need_no_project(refuel_emulator: RefuelEmulatorHandle) -> None:
    with RefuelClient(refuel_emulator.api_key, base_url=refuel_emulator.base_url) as no_project:
        assert [a.app_name for a in no_project.get_catalog_apps()] == ["catalog_sentiment"]
        refuel_emulator.request_log.clear()
        with pytest.raises(InvalidInput, match="No project set") as info:
            no_project.import_app("catalog_sentiment")
        assert info.value.field == "project" and len(refuel_emulator.request_log) == 0


def test_send_webhook_event(client: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    event = {"event_type": "s3_file_uploaded", "event_category": "aws",
             "payload": {"dataset": "reviews", "project": "emulator-project", "s3_path": "s3://b/r.csv", "task": "t"}}
    result = client.send_webhook_event(event)
    assert (result.status, result.error) == (200, None)
    [sent] = refuel_emulator.request_log.entries("POST", "/webhook/events")
    assert sent.json() == event and sent.query == "" and sent.headers["content-type"] == "application/json"
    state = refuel_emulator.state
    original = state.router.match
    answers = iter([{"status": 400, "error": "unknown dataset reviews"}, {"status": 500, "error": None}])

    def failing(method: str, path: str):  # type: ignore[no-untyped-def]
        if path == "/webhook/events":
            return (lambda req: next(answers)), {}
        return original(method, path)

    state.router.match = failing
    try:
        with pytest.raises(RefuelSoftError, match="unknown dataset reviews"):
            client.send_webhook_event(event)
        with pytest.raises(RefuelSoftError, match="status 500"):
            client.send_webhook_event(event)
    finally:
        state.router.match = original
    assert len(refuel_emulator.request_log.entries("POST", "/webhook/events")) == 3  # a POST is never re-sent


def test_label_dataframe_bounded_and_rate_limited(labeled: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    df = reviews_frame(12)[["text"]]
    result = labeled.label_dataframe("sent", df, concurrency=4)
    assert result.ok and len(result.labels) == 12
    assert list(result.labels.sentiment_label[:3]) == ["positive", "negative", "negative"]
    refuel_emulator.state.label_rate_limit, refuel_emulator.state.label_rate_window_seconds = 5, 0.5
    slow = labeled.label_dataframe("sent", df, concurrency=8, rate_per_minute=None)  # no client limiter: 429s
    assert refuel_emulator.state.label_rejected > 0
    assert slow.ok or set(slow.failures) <= set(df.index)
    time.sleep(0.6)  # let the server's window forget the burst above
    refuel_emulator.state.label_rejected = 0
    labeled.label_limiter = RateLimiter(5, 0.7)
    limited = labeled.label_dataframe("sent", df, concurrency=8)
    assert limited.ok and refuel_emulator.state.label_rejected == 0


def test_label_dataframe_reports_failed_rows(labeled: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    refuel_emulator.set_faults(rate=1.0, weights={"500": 1.0}, path_prefixes=["/applications/"], methods=["POST"])
    result = labeled.label_dataframe("sent", reviews_frame(3)[["text"]], concurrency=2)
    assert set(result.failures) == {0, 1, 2}
    assert result.labels.refuel_uuid.isna().all()


def test_finetune_validated_started_listed_cancelled(labeled: RefuelClient) -> None:
    job = labeled.finetune_model("sent", "refuel-llm-2-small", hyperparameters={"num_epochs": 2, "lora_r": 8})
    assert job.wait(FAST).state is JobState.SUCCEEDED
    model = labeled.get_finetuned_models(task="sent")[0]
    assert model.training_stats and model.evaluation_stats and model.hyperparameters["lora_r"] == 8
    second = labeled.finetune_model("sent", "refuel-llm-v2-large")
    assert second.cancel().state is JobState.CANCELED


def test_task_run_cancel(client: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    refuel_emulator.state.items_per_second = 1.0
    client.upload_dataset(reviews_frame(50), "reviews", wait_for_completion=True, wait=FAST)
    client.create_task("sent", "reviews", "ctx", [SENTIMENT])
    run = client.start_task_run("sent", "reviews", num_items=40)
    assert run.refresh().total == 40
    assert run.cancel().state is JobState.CANCELED
    with pytest.raises(JobTimeout):
        client.start_task_run("sent", "reviews").wait(WaitOptions(timeout_seconds=0.05, poll_interval_seconds=0.02))


def test_errors_soft_and_auth(client: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    state = refuel_emulator.state
    original = state.router.match

    def soft(method: str, path: str):  # type: ignore[no-untyped-def]
        if path == "/projects":
            return (lambda req: {"success": False, "error_msg": "soft failure", "data": []}), {}
        return original(method, path)

    state.router.match = soft
    try:
        with pytest.raises(RefuelSoftError, match="soft failure"):
            client.get_projects()
    finally:
        state.router.match = original
    with RefuelClient("wrong-key-123", project="p", base_url=refuel_emulator.base_url) as bad:
        with pytest.raises(RefuelUnauthorized) as info:
            bad.get_projects()
        assert "wrong-key-123" not in str(info.value) and "wrong-key-123" not in repr(bad)
    refuel_emulator.set_faults(rate=1.0, weights={"429": 1.0}, retry_after_seconds=0.0)
    with pytest.raises(RefuelRateLimited):
        client.get_projects()
    assert json.loads(refuel_emulator.state.error_body(404, "x")) == {"detail": "x"}
