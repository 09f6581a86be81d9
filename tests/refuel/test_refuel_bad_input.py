"""Bad input is rejected before anything is sent, with an error naming the field and the fix."""

from pathlib import Path

import pandas as pd
import pytest
from refuel_fixtures import *  # noqa: F403  (the client and labeled fixtures; see refuel_fixtures)
from refuel_helpers import FAST, SENTIMENT, reviews_frame

from dagster_labeling._core import InvalidInput
from dagster_labeling.refuel import RefuelClient
from dagster_labeling.testing.pytest_plugin import RefuelEmulatorHandle


def _no_post_or_patch(emu: RefuelEmulatorHandle) -> None:
    assert [e for e in emu.request_log if e.method != "GET"] == []


@pytest.fixture
def ds(client: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> RefuelClient:
    client.upload_dataset(reviews_frame(6), "reviews", wait_for_completion=True, wait=FAST)
    client.create_task("sent", "reviews", "ctx", [SENTIMENT])
    refuel_emulator.request_log.clear()
    return client


def test_csv_that_does_not_parse(client: RefuelClient, refuel_emulator: RefuelEmulatorHandle, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text('text,gt\n"unterminated,positive\n')
    with pytest.raises(InvalidInput, match="does not parse") as info:
        client.upload_dataset(bad, "x")
    assert info.value.field == "file_path"
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2,3\n")
    with pytest.raises(InvalidInput, match=r"line\(s\) \[2\]"):
        client.upload_dataset(ragged, "x")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00a")
    with pytest.raises(InvalidInput, match="does not parse"):
        client.upload_dataset(binary, "x")
    _no_post_or_patch(refuel_emulator)


def test_dataframe_with_duplicate_or_missing_columns(client: RefuelClient,
                                                     refuel_emulator: RefuelEmulatorHandle) -> None:
    dup = pd.DataFrame([[1, 2]], columns=["text", "text"])
    with pytest.raises(InvalidInput, match=r"duplicate column\(s\) \['text'\]"):
        client.upload_dataset(dup, "x")
    with pytest.raises(InvalidInput, match="no columns"):
        client.upload_dataset(pd.DataFrame(), "x")
    with pytest.raises(InvalidInput, match="unnamed"):
        client.upload_dataset(pd.DataFrame([[1]], columns=[""]), "x")
    _no_post_or_patch(refuel_emulator)


def test_append_with_other_columns_names_them(ds: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    with pytest.raises(InvalidInput, match=r"not in the schema \['colour'\], missing \['stars'\]"):
        ds.add_items("reviews", [{"text": "t", "gt": "positive", "colour": "red"}])
    with pytest.raises(InvalidInput, match=r"missing \['gt'\]"):
        ds.add_items("reviews", pd.DataFrame({"text": ["t"], "stars": [1]}))
    _no_post_or_patch(refuel_emulator)


@pytest.mark.parametrize(("field", "message"), [
    ({**SENTIMENT, "labels": []}, "needs a non-empty `labels`"),
    ({**SENTIMENT, "input_columns": ["nope"]}, r"input column\(s\) \['nope'\]"),
    ({**SENTIMENT, "type": "summarize"}, "unknown type 'summarize'"),
    ({**SENTIMENT, "name": "text"}, "clash with dataset columns"),
    ({**SENTIMENT, "ground_truth_column": "truth"}, "ground_truth_column 'truth'"),
    ({"name": "x", "type": "classification"}, "missing 'input_columns'"),
])
def test_task_fields_validated(ds: RefuelClient, refuel_emulator: RefuelEmulatorHandle, field: dict, message: str
                               ) -> None:
    with pytest.raises(InvalidInput, match=message):
        ds.create_task("t2", "reviews", "ctx", [field])
    _no_post_or_patch(refuel_emulator)


def test_every_field_type_accepted(ds: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    fields = [
        SENTIMENT,
        {"name": "topics", "type": "multilabel_classification", "labels": ["a", "b"], "input_columns": ["text"],
         "guidelines": "g", "fallback_value": "none"},
        {"name": "who", "type": "attribute_extraction", "input_columns": ["text", "sentiment"], "guidelines": "g"},
        {"name": "web", "type": "web_search", "input_columns": ["text"], "guidelines": "{text}"},
    ]
    task = ds.create_task("all_types", "reviews", "ctx", fields, model="Claude 3 (Haiku)")
    assert [s.name for s in task.subtasks] == ["sentiment", "topics", "who"]
    body = refuel_emulator.request_log.entries("POST")[-1].json()
    assert body["transforms"] == [fields[3]] and body["model"] == "claude-3-haiku-20240307"
    assert body["subtasks"][1]["default_value"] == "none" and body["subtasks"][0]["label_column"] == "gt"
    assert "labels" not in body["subtasks"][2]


def test_filters_and_order_validated(ds: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    with pytest.raises(InvalidInput, match="column 'colour' does not exist"):
        ds.get_items("reviews", filters=[{"field": "colour", "operator": "=", "value": "red"}])
    with pytest.raises(InvalidInput, match="unknown operator 'CONTAINS'"):
        ds.get_items("reviews", filters=[{"field": "text", "operator": "CONTAINS", "value": "a"}])
    with pytest.raises(InvalidInput, match="needs a task"):
        ds.get_items("reviews", filters=[{"field": "llm_label", "operator": "=", "value": "a"}])
    with pytest.raises(InvalidInput, match="has no field 'mood'"):
        ds.get_items("reviews", task="sent", filters=[{"field": "llm_label", "operator": "=", "value": "a",
                                                       "subtask": "mood"}])
    with pytest.raises(InvalidInput, match="direction must be ASC or DESC"):
        ds.get_items("reviews", order_by=[{"field": "text", "direction": "UP"}])
    with pytest.raises(InvalidInput, match="needs task= and a subtask"):
        ds.get_items("reviews", order_by=[{"field": "confidence"}])
    assert not any("max_items=0" in e.query for e in refuel_emulator.request_log)


def test_finetune_and_other_inputs(ds: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    with pytest.raises(InvalidInput, match="not offered") as info:
        ds.finetune_model("sent", "gpt-4o")
    assert info.value.field == "base_model"
    with pytest.raises(InvalidInput, match="Unknown hyperparameter 'epochs'"):
        ds.finetune_model("sent", "refuel-llm-2-small", hyperparameters={"epochs": 3})
    with pytest.raises(InvalidInput, match="non-negative number"):
        ds.finetune_model("sent", "refuel-llm-2-small", hyperparameters={"learning_rate": "fast"})
    with pytest.raises(InvalidInput, match="Unknown model"):
        ds.create_task("t3", "reviews", "ctx", [SENTIMENT], model="gpt-5")
    with pytest.raises(InvalidInput, match="email"):
        ds.start_export("reviews", "nobody")
    with pytest.raises(InvalidInput, match="num_items"):
        ds.start_task_run("sent", "reviews", num_items=0)
    with pytest.raises(InvalidInput, match="api_key"):
        RefuelClient("", project="p")
    _no_post_or_patch(refuel_emulator)


def test_import_app_and_webhook_event_bad_input(client: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    refuel_emulator.request_log.clear()
    for bad in ("", "   "):
        with pytest.raises(InvalidInput, match="catalog_app is empty") as info:
            client.import_app(bad)
        assert info.value.field == "catalog_app"
    with pytest.raises(InvalidInput, match="application_name is empty") as info:
        client.import_app("catalog_sentiment", " ")
    assert info.value.field == "application_name"
    event = {"event_type": "s3_file_uploaded", "event_category": "aws", "payload": {"s3_path": "s3://b/k.csv"}}
    with pytest.raises(InvalidInput, match="JSON object") as info:
        client.send_webhook_event([event])  # type: ignore[arg-type]
    assert info.value.field == "payload"
    with pytest.raises(InvalidInput, match=r"missing \['event_category'\]") as info:
        client.send_webhook_event({**event, "event_category": ""})
    assert info.value.field == "payload.event_category"
    with pytest.raises(InvalidInput, match=r"missing \['event_type', 'payload'\]") as info:
        client.send_webhook_event({"event_category": "aws"})
    assert info.value.field == "payload.event_type"
    with pytest.raises(InvalidInput, match="must be an object") as info:
        client.send_webhook_event({**event, "payload": "s3://b/k.csv"})
    assert info.value.field == "payload.payload"
    with pytest.raises(InvalidInput, match="not JSON-serializable") as info:
        client.send_webhook_event({**event, "payload": {"at": object()}})
    assert info.value.field == "payload"
    assert len(refuel_emulator.request_log) == 0
