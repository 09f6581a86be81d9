"""The official ``refuel`` SDK works unchanged against the emulator, and our client sends what it sends.

Each case runs the SDK and our client with the same arguments on the same state and compares the
requests that do the work (name lookups aside: the SDK repeats them, we cache ids) by method, path,
query pairs (as a multiset), JSON body or form fields, and Content-Type. Legitimate differences: the
User-Agent, header order, the multipart boundary, and the file part's Content-Type (httpx adds one).
"""

import email.parser
import email.policy
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from refuel_helpers import SENTIMENT, reviews_frame

from dagster_labeling._core import RetryPolicy
from dagster_labeling.refuel import RefuelClient
from dagster_labeling.testing.base import LoggedRequest
from dagster_labeling.testing.pytest_plugin import RefuelEmulatorHandle

refuel = pytest.importorskip("refuel")
import refuel.client as refuel_client  # noqa: E402

UUID = re.compile(r"^[0-9a-f-]{36}$")


@pytest.fixture
def sdk(refuel_emulator: RefuelEmulatorHandle, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setattr(refuel_client, "sleep", lambda s: time.sleep(0.05))
    monkeypatch.chdir(tmp_path)  # the SDK's download_dataset writes <dataset>.csv into the working directory
    return refuel.init(api_key=refuel_emulator.api_key, api_base_url=refuel_emulator.base_url,
                       project=refuel_emulator.project)


@pytest.fixture
def ours(refuel_emulator: RefuelEmulatorHandle) -> Iterator[RefuelClient]:
    with RefuelClient(refuel_emulator.api_key, project=refuel_emulator.project, base_url=refuel_emulator.base_url,
                      retry=RetryPolicy(max_attempts=1), label_rate_per_minute=None) as c:
        yield c


@pytest.fixture
def world(sdk: Any, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "reviews.csv"
    reviews_frame(12).to_csv(path, index=False)
    ds = sdk.upload_dataset(str(path), "reviews", wait_for_completion=True)
    task = sdk.create_task("sent", "reviews", "ctx", [SENTIMENT])
    sdk.start_task_run("sent", "reviews", wait_for_completion=True)
    app = sdk.deploy_task("sent")
    return {"path": path, "dataset": ds["id"], "task": task["id"], "app": app["id"]}


def _shape(e: LoggedRequest) -> tuple[Any, ...]:
    ctype = e.headers.get("content-type", "")
    if ctype.startswith("multipart/form-data"):
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode("latin-1") + e.body)
        body: Any = sorted((p.get_param("name", header="content-disposition"), p.get_filename(),
                            p.get_payload(decode=True)) for p in msg.iter_parts())
        ctype = "multipart/form-data"
    elif ctype.startswith("application/x-www-form-urlencoded"):
        body = sorted(parse_qsl(e.body.decode()))
    else:
        body = e.json()
    auth = e.headers.get("authorization", "")
    return e.method, e.path, Counter(parse_qsl(e.query, keep_blank_values=True)), body, ctype, auth.split(" ")[0]


def _work(emu: RefuelEmulatorHandle, keep: Callable[[LoggedRequest], bool]) -> list[tuple[Any, ...]]:
    return [_shape(e) for e in emu.request_log if keep(e)]


def _same(emu: RefuelEmulatorHandle, sdk_call: Callable[[], Any], our_call: Callable[[], Any],
          keep: Callable[[LoggedRequest], bool]) -> list[tuple[Any, ...]]:
    emu.request_log.clear()
    sdk_call()
    theirs = _work(emu, keep)
    emu.request_log.clear()
    our_call()
    mine = _work(emu, keep)
    assert theirs, "the SDK sent nothing the case looks at"
    assert mine == theirs
    return mine


def _post(e: LoggedRequest) -> bool:
    return e.method == "POST"


def _not_lookup(e: LoggedRequest) -> bool:
    return not (e.method == "GET" and (e.path in ("/projects", "/datasets", "/app_catalog")
                                       or e.path.endswith(("/tasks", "/applications"))
                                       or re.fullmatch(r"/(tasks|applications|datasets)/[0-9a-f-]+", e.path)
                                       and "offset" not in e.query))


def test_sdk_drives_the_emulator(sdk: Any, world: dict[str, Any], refuel_emulator: RefuelEmulatorHandle) -> None:
    assert sdk.get_projects()[0]["project_name"] == "emulator-project"
    assert sdk.get_dataset("reviews")["status"] == "success"
    items = sdk.get_items("reviews", max_items=50, task="sent")
    assert len(items) == 12 and set(items[items.text.str.startswith("a positive")]["sent_sentiment_llm_label"]) == {
        "positive"}
    out = sdk.label("sent", [{"text": "so negative"}], explain=True)
    assert out["refuel_output"][0]["refuel_fields"]["sentiment"]["label"] == ["negative"]
    run = sdk.get_task_run("sent", "reviews")
    assert run["status"] == "completed" and run["metrics"][0]["name"] == "num_labeled"
    stub = sdk.alabel("sent", [{"text": "positive"}])["refuel_output"][0]
    time.sleep(0.1)
    assert sdk.get_labeled_item("sent", stub["refuel_uuid"])["refuel_output"][0]["refuel_fields"]
    sdk.feedback("sent", stub["refuel_uuid"], {"sentiment": "neutral"})
    ft = sdk.finetune_model(world["task"], "refuel-llm-2-small")["data"]
    assert sdk.cancel_finetuning(ft["id"])["data"]["finetuning_run_status"] == "INTERRUPTED"
    assert [a["name"] for a in sdk.get_applications()] == ["sent"]


def test_wire_parity_datasets(sdk: Any, ours: RefuelClient, world: dict[str, Any],
                              refuel_emulator: RefuelEmulatorHandle) -> None:
    emu = refuel_emulator
    emu.request_log.clear()
    sdk.create_project("p2", "d")
    ours.create_project("p3", "d")
    a, b = _work(emu, _post)
    assert a[2] == Counter({("project_name", "p2"): 1, ("description", "d"): 1}) and a[3] is None
    assert b[2] == Counter({("project_name", "p3"): 1, ("description", "d"): 1}) and b[3] is None and a[4] == b[4]
    did = world["dataset"]
    item = [{"text": "x", "gt": "positive", "stars": 1}]
    _same(emu, lambda: sdk.add_items(did, item), lambda: ours.add_items(did, item), lambda e: e.method == "POST")
    filters = [{"field": "text", "operator": "ILIKE", "value": "positive"},
               {"field": "confidence", "operator": ">", "value": "0.5", "subtask": "sentiment"},
               {"field": "llm_label", "operator": "=", "value": "gt", "subtask": "sentiment"},
               {"field": "text", "operator": "SIMILAR", "value": "item-1"}]
    order = [{"field": "stars", "direction": "DESC"}, {"field": "confidence", "subtask": "sentiment"}]
    # offset 0: the SDK caps a page run by total_count, not total_count - offset (we fetch only what exists)
    pages = _same(emu, lambda: sdk.get_items(did, max_items=5, filters=filters, order_by=order, task="sent"),
                  lambda: ours.get_items(did, max_items=5, filters=filters, order_by=order, task="sent"),
                  lambda e: "offset" in e.query and "max_items=0" not in e.query)
    assert ("max_items", "4") in pages[0][2]  # the 4 "a positive review" rows whose label equals gt
    assert pages[0][4] == "application/json" and pages[0][5] == "Bearer"
    _same(emu, lambda: sdk.download_dataset("a@b.c", did, task="sent"),
          lambda: ours.start_export(did, "a@b.c", task="sent"), lambda e: e.method == "POST")


def test_wire_parity_uploads(sdk: Any, ours: RefuelClient, world: dict[str, Any],
                             refuel_emulator: RefuelEmulatorHandle) -> None:
    emu = refuel_emulator
    post = _post
    _same(emu, lambda: sdk.upload_dataset(str(world["path"]), "up"), lambda: ours.upload_dataset(world["path"], "up"),
          post)
    _same(emu, lambda: sdk.upload_dataset("s3://b/k.csv", "u2", source="uri"),
          lambda: ours.upload_dataset_from_uri("s3://b/k.csv", "u2"), post)
    ids = [d["id"] for d in sdk.get_datasets() if d["dataset_name"] in ("up", "u2")]
    emu.request_log.clear()
    sdk.delete_dataset(ids[0])
    ours.delete_dataset(ids[1])
    dels = [(_shape(e)[0], _shape(e)[2], _shape(e)[3]) for e in emu.request_log if e.method == "DELETE"]
    assert dels[0] == dels[1] == ("DELETE", Counter(), None)


def test_wire_parity_tasks_and_runs(sdk: Any, ours: RefuelClient, world: dict[str, Any],
                                    refuel_emulator: RefuelEmulatorHandle) -> None:
    emu = refuel_emulator
    tid, did = world["task"], world["dataset"]
    fields = [SENTIMENT, {"name": "who", "type": "attribute_extraction", "input_columns": ["text"],
                          "guidelines": "g", "fallback_value": "nobody"},
              {"name": "web", "type": "webpage_transform", "input_columns": ["text"], "guidelines": "g"}]
    emu.request_log.clear()
    sdk.create_task("t2", did, "ctx", fields, model="GPT-4o")
    ours.create_task("t3", did, "ctx", fields, model="GPT-4o")
    a, b = [_shape(e) for e in emu.request_log if e.method == "POST"]
    assert a[3] == b[3] and a[1] == b[1] and a[4] == b[4]
    assert a[2] == Counter({("task_name", "t2"): 1}) and b[2] == Counter({("task_name", "t3"): 1})
    _same(emu, lambda: sdk.start_task_run(tid, did, num_items=5), lambda: ours.start_task_run(tid, did, num_items=5),
          lambda e: e.method == "POST")
    _same(emu, lambda: sdk.cancel_task_run(tid, did), lambda: ours.cancel_task_run(tid, did),
          lambda e: e.method == "POST")
    _same(emu, lambda: sdk.get_task_run(tid, did), lambda: ours.get_task_run(tid, did),
          lambda e: "/runs/" in e.path)


def test_wire_parity_applications_and_finetunes(sdk: Any, ours: RefuelClient, world: dict[str, Any],
                                                refuel_emulator: RefuelEmulatorHandle) -> None:
    emu = refuel_emulator
    aid, tid = world["app"], world["task"]
    post = _post
    _same(emu, lambda: sdk.deploy_task(tid), lambda: ours.deploy_task(tid), post)
    _same(emu, lambda: sdk.label(aid, [{"text": "so negative"}], explain_fields=["sentiment"], telemetry=True,
                                 model_id="GPT-4o"),
          lambda: ours.label(aid, [{"text": "so negative"}], explain_fields=["sentiment"], telemetry=True,
                             model_id="GPT-4o"), post)
    _same(emu, lambda: sdk.alabel(aid, [{"text": "a"}, {"text": "b"}]),
          lambda: ours.alabel(aid, [{"text": "a"}, {"text": "b"}]), post)
    uid = ours.label(aid, [{"text": "x"}])[0].refuel_uuid or ""
    _same(emu, lambda: sdk.feedback(aid, uid, {"sentiment": "neutral"}),
          lambda: ours.feedback(aid, uid, {"sentiment": "neutral"}), post)
    _same(emu, lambda: sdk.finetune_model(tid, "refuel-llm-2-small", hyperparameters={"num_epochs": 2}),
          lambda: ours.finetune_model(tid, "refuel-llm-2-small", hyperparameters={"num_epochs": 2}), post)
    _same(emu, lambda: sdk.get_finetuned_models(task_id=tid), lambda: ours.get_finetuned_models(task=tid),
          lambda e: e.path.endswith("finetuned_models"))
    _same(emu, lambda: sdk.get_finetuned_models(), lambda: ours.get_finetuned_models(),
          lambda e: e.path.endswith("finetuned_models"))
    mid = ours.get_finetuned_models()[0].id
    _same(emu, lambda: sdk.cancel_finetuning(mid), lambda: ours.cancel_finetuning(mid),
          lambda e: e.method == "PATCH")
    assert UUID.match(mid)


S3_EVENT = {"event_type": "s3_file_uploaded", "event_category": "aws",
            "payload": {"dataset": "reviews", "project": "emulator-project", "s3_path": "s3://b/k.csv", "task": "t"}}


def test_wire_parity_catalog_apps_and_webhooks(sdk: Any, ours: RefuelClient,
                                               refuel_emulator: RefuelEmulatorHandle) -> None:
    emu = refuel_emulator
    listed = _same(emu, lambda: sdk.get_catalog_apps(), lambda: ours.get_catalog_apps(), lambda e: True)
    assert [s[:3] for s in listed] == [("GET", "/app_catalog", Counter())] and listed[0][3] is None
    assert [(a.id, a.app_name, a.description) for a in ours.get_catalog_apps()] == \
        [(a["id"], a["app_name"], a["description"]) for a in sdk.get_catalog_apps()]
    cid = ours.get_catalog_apps()[0].id
    pid = ours.project_id  # resolved once, as the SDK does when it is built
    # by name: the app_catalog lookup, then the POST with catalog_id and application_name (as given), no body
    by_name = _same(emu, lambda: sdk.import_app("catalog_sentiment"), lambda: ours.import_app("catalog_sentiment"),
                    lambda e: True)
    assert [s[:2] for s in by_name] == [("GET", "/app_catalog"), ("POST", f"/projects/{pid}/applications")]
    assert by_name[1][2] == Counter({("catalog_id", cid): 1, ("application_name", "catalog_sentiment"): 1})
    assert by_name[1][3] is None
    # by id: no lookup, and the SDK names the app after the id it was given
    by_id = _same(emu, lambda: sdk.import_app(cid), lambda: ours.import_app(cid), lambda e: True)
    assert len(by_id) == 1 and by_id[0][2] == Counter({("catalog_id", cid): 1, ("application_name", cid): 1})
    names = [a["name"] for a in sdk.get_applications()]
    assert names == ["catalog_sentiment", "catalog_sentiment", cid, cid]
    sent = _same(emu, lambda: sdk.send_webhook_event(S3_EVENT), lambda: ours.send_webhook_event(S3_EVENT), _post)
    assert sent == [("POST", "/webhook/events", Counter(), S3_EVENT, "application/json", "Bearer")]
