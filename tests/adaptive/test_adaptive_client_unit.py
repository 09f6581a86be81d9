"""AdaptiveClient on a scripted transport: what goes on the wire (as the SDK sends it), typed errors, retries,
bad input refused before sending, and the A/B test winner."""

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from dagster_labeling._core import InvalidInput, RetryPolicy
from dagster_labeling.adaptive import (
    AbTest,
    AdaptiveClient,
    AdaptiveGraphQLError,
    AdaptiveNotFound,
    AdaptiveServerError,
    AdaptiveUnauthorized,
)

KEY = "sk-adaptive-SECRET-0123456789"
BASE = "https://adaptive.example.test"


class Recorder:
    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    def graphql(self, i: int = -1) -> dict[str, Any]:
        return json.loads(self.requests[i].content)


def client_with(answer: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> tuple[AdaptiveClient, Recorder]:
    recorder = Recorder(answer)
    retry = RetryPolicy(max_attempts=3, initial_backoff_seconds=0.001, max_backoff_seconds=0.002)
    client = AdaptiveClient(KEY, base_url=BASE + "/", transport=httpx.MockTransport(recorder), retry=retry, **kwargs)
    return client, recorder


def data(payload: dict[str, Any]) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(200, json={"data": payload})


PROJECT = {"id": "p1", "key": "support", "name": "Support", "createdAt": 1, "metrics": [],
           "modelServices": [{"id": "s1", "key": "model-a", "isDefault": True}]}


def test_graphql_request_carries_the_sdk_operation_and_variables() -> None:
    client, rec = client_with(data({"createProject": PROJECT}))
    project = client.create_project("support", "Support", description="desc")
    assert project.key == "support" and project.default_model == "model-a"
    request = rec.requests[0]
    assert request.method == "POST" and str(request.url) == f"{BASE}/api/graphql"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = rec.graphql()
    assert body["operationName"] == "CreateProject" and body["query"].startswith("mutation CreateProject(")
    assert body["variables"] == {"input": {"name": "Support", "team": None, "key": "support",
                                           "description": "desc", "settings": {"defaultMetric": None}}}


def test_feedback_variables_and_rest_bodies_match_the_sdk() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/comparison"):
            return httpx.Response(200, json={"comparison_id": "c1"})
        if request.url.path.endswith("/chat/completions"):
            return httpx.Response(200, json={"id": "x", "created": 1.0, "session_id": "s", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Hello"}, "completion_id": "cid",
                 "model": "model-a"}], "usage": {"completion_tokens": 1, "prompt_tokens": 2, "total_tokens": 3}})
        return httpx.Response(200, json={"data": {"addDirectScore": {"id": "f1"}}})

    client, rec = client_with(answer)
    assert client.log_metric("0577c780-1d3d-4be7-aa78-40268c9751db", "acceptance", True, details="thumbs up") == "f1"
    assert rec.graphql()["operationName"] == "AddDirectScore"
    assert rec.graphql()["variables"] == {"completionId_0": "0577c780-1d3d-4be7-aa78-40268c9751db",
                                          "metricId_0": "acceptance", "input_0": {"value": 1, "details": "thumbs up"}}
    a_id, b_id = "b3fb6def-fcaf-4083-8d7a-5e7bbe2a2cd4", "e261e25b-9c7f-4287-8dc4-cc89416337b9"
    assert client.log_preference("my-project", "pref", a_id, b_id) == "c1"  # ids are UUIDs, as the SDK checks
    assert json.loads(rec.requests[-1].content) == {"metric": "pref", "preferred_completion": a_id,
                                                    "other_completion": b_id, "project": "my-project"}
    answer_ = client.chat("my-project", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                          model="model-a", max_tokens=64, temperature=0.2, top_p=0.9, stop=["\n\n"],
                          labels={"env": "test"}, store=True)
    assert answer_.text == "Hello" and answer_.completion_id == "cid" and answer_.usage.total_tokens == 3
    assert json.loads(rec.requests[-1].content) == {  # the SDK's captured body, key for key
        "stop": ["\n\n"], "max_tokens": 64, "temperature": 0.2, "top_p": 0.9,
        "messages": [{"content": "Be brief.", "role": "system"}, {"content": "Hi", "role": "user"}],
        "model": "my-project/model-a", "stream_options": {}, "labels": {"env": "test"}, "store": True}
    client.chat("my-project", [{"role": "user", "content": "Hi"}])
    assert json.loads(rec.requests[-1].content)["model"] == "my-project"  # the project's default model


def test_graphql_errors_are_typed_and_redacted() -> None:
    client, _ = client_with(lambda r: httpx.Response(200, json={"data": None, "errors": [
        {"message": f"EntityNotFound: project 'nope' (key {KEY})"}]}))
    with pytest.raises(AdaptiveNotFound) as info:
        client.get_project("nope")
    assert "EntityNotFound" in str(info.value) and KEY not in str(info.value) and KEY not in repr(info.value.body)
    client, _ = client_with(lambda r: httpx.Response(200, json={"errors": [{"message": "Field 'x' is unknown"}]}))
    with pytest.raises(AdaptiveGraphQLError, match="ListProjects: Field 'x' is unknown"):
        client.list_projects()
    client, _ = client_with(lambda r: httpx.Response(200, json={"data": {"project": None}}))
    with pytest.raises(AdaptiveNotFound, match="No project 'gone'"):
        client.get_project("gone")
    client, _ = client_with(lambda r: httpx.Response(200, text="<html>proxy</html>"))
    with pytest.raises(AdaptiveGraphQLError, match="not a GraphQL result"):
        client.list_projects()
    client, _ = client_with(lambda r: httpx.Response(401, json={"error": "invalid api key"}))
    with pytest.raises(AdaptiveUnauthorized, match="invalid api key"):
        client.list_projects()


def test_queries_are_retried_on_5xx_but_mutations_are_not() -> None:
    answers = iter([httpx.Response(503), httpx.Response(200, json={"data": {"projects": [PROJECT]}})])
    client, rec = client_with(lambda r: next(answers))
    assert [p.key for p in client.list_projects()] == ["support"] and len(rec.requests) == 2
    client, rec = client_with(lambda r: httpx.Response(503))
    with pytest.raises(AdaptiveServerError):
        client.create_ab_test("support", "ab-1", "acceptance", ["model-a", "model-b"])
    assert len(rec.requests) == 1  # an A/B test created on a 503 must not be created twice


def test_bad_input_is_refused_before_sending(tmp_path: Any) -> None:
    client, rec = client_with(data({}))
    bad: list[tuple[Callable[[], Any], str]] = [
        (lambda: client.create_ab_test("p", "ab", "m", ["model-a"]), "models"),
        (lambda: client.create_ab_test("p", "ab", "m", ["a", "b"], traffic_split=1.5), "traffic_split"),
        (lambda: client.create_ab_test("p", "ab", "m", ["a", "b"], feedback_type="vote"), "feedback_type"),
        (lambda: client.register_feedback_key("p", "k", kind="percent"), "kind"),
        (lambda: client.log_metric("c", "k", float("nan")), "value"),
        (lambda: client.chat("p", []), "messages"),
        (lambda: client.chat("p", [{"role": "user", "content": "x"}], temperature=3), "temperature"),
        (lambda: client.log_preference("p", "k", {"text": "a", "model": "m"}, "b"), "messages"),
        (lambda: client.get_project(""), "project"),
        (lambda: client.upload_dataset("p", "ds", []), "source"),
        (lambda: client.upload_dataset("p", "ds", tmp_path / "missing.jsonl"), "source"),
        (lambda: client.list_ab_tests("p", status="finished"), "status"),
        (lambda: client.run_job("p", "sft", num_gpus=0), "num_gpus"),
    ]
    for call, field in bad:
        with pytest.raises(InvalidInput) as info:
            call()
        assert info.value.field == field, (field, str(info.value))
    assert rec.requests == []


def test_dataset_upload_is_a_graphql_multipart_request(tmp_path: Any) -> None:
    path = tmp_path / "small.jsonl"
    path.write_text('{"messages": [{"role": "user", "content": "hi"}], "completion": "hello"}\n')
    client, rec = client_with(data({"createDataset": {"id": "d1", "key": "ds-small", "records": 1}}))
    assert client.upload_dataset("my-project", "ds-small", path, name="Small DS").records == 1
    request = rec.requests[0]
    assert request.headers["content-type"].startswith("multipart/form-data")
    body = request.content
    operations = json.loads(body.split(b'name="operations"\r\n\r\n')[1].split(b"\r\n--")[0])
    assert operations["operationName"] == "LoadDataset"
    assert operations["variables"] == {"input": {"project": "my-project", "name": "Small DS", "key": "ds-small"},
                                       "file": None}
    assert b'name="map"\r\n\r\n{"0": ["variables.file"]}' in body
    assert b'name="0"; filename="small"\r\nContent-Type: application/jsonl' in body


def test_ab_test_winner_follows_the_metric_and_the_score_type() -> None:
    report = {"pValue": 0.02, "variants": [
        {"variant": {"id": "a", "key": "model-a"}, "interval": {"start": 0.4, "middle": 0.5, "end": 0.6}, "scores": 30,
         "comparisons": [{"variant": {"id": "b", "key": "model-b"}, "wins": 12, "losses": 3}]},
        {"variant": {"id": "b", "key": "model-b"}, "interval": {"start": 0.6, "middle": 0.7, "end": 0.8}, "scores": 30,
         "comparisons": [{"variant": {"id": "a", "key": "model-a"}, "wins": 3, "losses": 12}]}]}
    direct = AbTest.model_validate({"id": "1", "key": "ab", "status": "DONE", "scoreType": "DIRECT", "report": report,
                                    "metric": {"id": "m", "key": "latency", "scoringType": "LOWER_IS_BETTER"}})
    assert direct.winner() == "model-a" and direct.winner(higher_is_better=True) == "model-b"
    comparison = AbTest.model_validate({"id": "2", "key": "ab2", "status": "DONE", "scoreType": "COMPARISON",
                                        "report": report})
    assert comparison.winner() == "model-a"  # most head-to-head wins
    assert AbTest.model_validate({"id": "3", "key": "ab3", "status": "WARMUP"}).winner() is None


def test_large_dataset_goes_in_parts_then_waits_for_processing(tmp_path: Any) -> None:
    from dagster_labeling._core import WaitOptions

    path = tmp_path / "big.jsonl"
    line = json.dumps({"messages": [{"role": "user", "content": "x" * 1000}], "completion": "y"}) + "\n"
    path.write_text(line * (12 * 1024 * 1024 // len(line) + 1))
    size = path.stat().st_size
    polls = iter(["PENDING", "DONE"])

    def answer(request: httpx.Request) -> httpx.Response:
        route = request.url.path
        if route.endswith("/upload/init"):
            return httpx.Response(200, json={"session_id": "upl-1"})
        if route.endswith("/upload/part"):
            return httpx.Response(200, json={})
        operation = json.loads(request.content)["operationName"]
        if operation == "CreateDatasetFromMultipartUpload":
            return httpx.Response(200, json={"data": {"createDatasetFromMultipartUpload": {
                "datasetId": "ds-id", "status": "PENDING", "progress": 0.0, "error": None}}})
        if operation == "DatasetUploadProcessingStatus":
            return httpx.Response(200, json={"data": {"datasetUploadProcessingStatus": {
                "datasetId": "ds-id", "status": next(polls), "progress": 1.0, "error": None}}})
        return httpx.Response(200, json={"data": {"dataset": {"id": "ds-id", "key": "big", "records": 3}}})

    client, rec = client_with(answer)
    dataset = client.upload_dataset("p", "big", path, wait=WaitOptions(poll_interval_seconds=0.001))
    assert dataset.id == "ds-id"
    init = json.loads(rec.requests[0].content)
    assert init == {"content_type": "application/jsonl", "metadata": None, "total_parts_count": 3}
    parts = [r for r in rec.requests if r.url.path.endswith("/upload/part")]
    assert [dict(r.url.params) for r in parts] == [{"session_id": "upl-1", "part_number": str(n)} for n in (1, 2, 3)]
    assert [len(r.content) for r in parts] == [5 * 1024 * 1024, 5 * 1024 * 1024, size - 10 * 1024 * 1024]
    assert b"".join(r.content for r in parts) == path.read_bytes()
    assert all(r.headers["content-type"] == "application/octet-stream" for r in parts)
    create = json.loads(rec.requests[4].content)
    assert create["variables"] == {"input": {"project": "p", "name": "big", "key": "big", "uploadSessionId": "upl-1"}}


def test_a_part_that_fails_aborts_the_upload_session(tmp_path: Any) -> None:
    path = tmp_path / "big.jsonl"
    path.write_bytes(b'{"completion": "y"}\n' * (6 * 1024 * 1024 // 20 + 1))

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/upload/init"):
            return httpx.Response(200, json={"session_id": "upl-2"})
        if request.url.path.endswith("/upload/part"):
            return httpx.Response(400, json={"error": "part too large"})
        return httpx.Response(200, json={})

    client, rec = client_with(answer)
    with pytest.raises(Exception, match="part too large"):
        client.upload_dataset("p", "big", path)
    abort = rec.requests[-1]
    assert abort.method == "DELETE" and abort.url.path.endswith("/upload/abort")
    assert json.loads(abort.content) == {"session_id": "upl-2"}


def test_a_create_refused_in_other_words_is_resolved_by_a_look_up() -> None:
    """The duplicate-key wording of the real server is not documented: any refused create looks the key up."""
    described = []

    def answer(request: httpx.Request) -> httpx.Response:
        operation = json.loads(request.content)["operationName"]
        if operation == "CreateProject":
            return httpx.Response(200, json={"errors": [{"message": "duplicate key violates unique constraint"}],
                                             "data": None})
        described.append(operation)
        return httpx.Response(200, json={"data": {"project": None if len(described) == 1 else PROJECT}})

    client, recorder = client_with(answer)
    project, created = client.ensure_project("support")
    assert (project.key, created) == ("support", False)
    assert [json.loads(r.content)["operationName"] for r in recorder.requests] == \
        ["DescribeProject", "CreateProject", "DescribeProject"]

    nothing, _ = client_with(lambda request: httpx.Response(200, json={"errors": [{"message": "Invalid key"}],
                                                                             "data": None} if b"Create" in
                                                                  request.content else {"data": {"project": None}}))
    with pytest.raises(AdaptiveGraphQLError, match="Invalid key"):
        nothing.ensure_project("bad key")
