"""AdaptiveClient against the emulator: the same operations and variables as the official SDK (compared
request by request), real behaviour (A/B tests reach DONE with a winner, jobs progress), typed errors."""

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from adaptive_sdk import Adaptive

from dagster_labeling._core import JobState, WaitOptions
from dagster_labeling.adaptive import AdaptiveClient, AdaptiveNotFound, AdaptiveUnauthorized
from dagster_labeling.testing.pytest_plugin import AdaptiveEmulatorHandle

LLAMA, QWEN = "llama-3.1-8b-instruct", "qwen-2.5-7b"
FAST = WaitOptions(poll_interval_seconds=0.02, timeout_seconds=20)


@pytest.fixture
def ours(adaptive_emulator: AdaptiveEmulatorHandle) -> Iterator[AdaptiveClient]:
    with AdaptiveClient(adaptive_emulator.api_key, base_url=adaptive_emulator.base_url) as client:
        yield client


@pytest.fixture
def sdk(adaptive_emulator: AdaptiveEmulatorHandle) -> Iterator[Adaptive]:
    client = Adaptive(base_url=adaptive_emulator.base_url, api_key=adaptive_emulator.api_key)
    yield client
    client.close()


def sent(emu: AdaptiveEmulatorHandle, call: Callable[[], Any]) -> list[tuple[str, str, Any]]:
    """(method, path, operation and variables or REST body) of every request ``call`` makes."""
    emu.request_log.clear()
    call()
    out = []
    for entry in emu.request_log:
        body = entry.json() if entry.headers.get("content-type", "").startswith("application/json") else None
        if isinstance(body, dict) and "operationName" in body:
            body = (body["operationName"], body.get("variables"))
        out.append((entry.method, entry.path, body))
    return out


def test_wire_parity_with_the_sdk(ours: AdaptiveClient, sdk: Adaptive, adaptive_emulator: AdaptiveEmulatorHandle,
                                  tmp_path: Path) -> None:
    emu = adaptive_emulator
    same = [
        (lambda: sdk.projects.create("p1", name="P1", description="d"),
         lambda: ours.create_project("p2", name="P1", description="d")),
        (lambda: sdk.projects.get("p1"), lambda: ours.get_project("p1")),
        (lambda: sdk.projects.list(), lambda: ours.list_projects()),
        (lambda: sdk.feedback.register_key("p1", "acc", kind="bool", name="acc", description="x"),
         lambda: ours.register_feedback_key("p1", "acc2", kind="bool", name="acc", description="x")),
        (lambda: sdk.feedback.get_key("p1", "acc"), lambda: ours.get_feedback_key("p1", "acc")),
        (lambda: sdk.models.list(), lambda: ours.list_models()),
        (lambda: sdk.models.get(LLAMA), lambda: ours.get_model(LLAMA)),
        (lambda: sdk.models.attach(LLAMA, project="p1"), lambda: ours.attach_model("p2", LLAMA)),
        (lambda: sdk.ab_tests.list(project="p1"), lambda: ours.list_ab_tests("p1")),
        (lambda: sdk.datasets.list(project="p1"), lambda: ours.list_datasets("p1")),
    ]
    for theirs, mine in same:
        expected, got = sent(emu, theirs), sent(emu, mine)
        normalize = {"p2": "p1", "acc2": "acc"}
        got_text = json.dumps(got)
        for a, b in normalize.items():
            got_text = got_text.replace(f'"{a}"', f'"{b}"')
        assert json.loads(got_text) == json.loads(json.dumps(expected)), (expected, got)

    chat_sdk = sent(emu, lambda: sdk.chat.create(messages=[{"role": "user", "content": "Hi"}], model=LLAMA,
                                                 project="p1", max_tokens=8, temperature=0.2))
    chat_ours = sent(emu, lambda: ours.chat("p1", [{"role": "user", "content": "Hi"}], model=LLAMA, max_tokens=8,
                                            temperature=0.2))
    assert chat_ours == chat_sdk and chat_ours[0][1] == "/api/v1/chat/completions"


def test_feedback_ab_test_to_a_winner(ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    adaptive_emulator.ensure_project("support", models=[LLAMA, QWEN], default=LLAMA)
    adaptive_emulator.state.ab_min_scores = 5
    ours.register_feedback_key("support", "acceptance", kind="bool")
    handle = ours.create_ab_test("support", "ab-1", "acceptance", [LLAMA, QWEN], auto_deploy=True)
    assert handle.refresh().state is JobState.RUNNING
    for i in range(12):  # production traffic: QWEN's answers are accepted, LLAMA's are not
        for model, good in ((LLAMA, i % 4 == 0), (QWEN, True)):
            answer = ours.chat("support", [{"role": "user", "content": f"question {i}"}], model=model)
            assert answer.text and answer.completion_id
            ours.log_metric(answer.completion_id, "acceptance", good)
    status = handle.wait(FAST)
    assert status.state is JobState.SUCCEEDED and status.details["winner"] == QWEN
    test = ours.get_ab_test("ab-1")
    assert test.status == "DONE" and test.report is not None and test.report.p_value is not None
    assert ours.get_project("support").default_model == QWEN  # auto_deploy promoted the winner
    assert [t.key for t in ours.list_ab_tests("support", status="done")] == ["ab-1"]
    interactions = ours.list_interactions("support", models=[QWEN], first=50)
    assert len(interactions) == 12 and all(i.direct_scores for i in interactions)


def test_interactions_datasets_and_jobs(ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle,
                                       tmp_path: Path) -> None:
    adaptive_emulator.ensure_project("support", models=[LLAMA], default=LLAMA)
    created = ours.create_interaction("support", [{"role": "user", "content": "Refund?"}], "Yes, within 30 days.",
                                      model=LLAMA, labels={"dagster_row": "r1"})
    got = ours.get_interaction("support", created.completion_id)
    assert got.completion == "Yes, within 30 days." and {(lb.key, lb.value) for lb in got.labels} == {
        ("dagster_row", "r1")}
    assert [i.id for i in ours.list_interactions("support", labels={"dagster_row": ["r1", "r2"]})] == [got.id]
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}], "completion": f"a{i}"} for i in range(3)]
    dataset = ours.upload_dataset("support", "faq", rows, name="FAQ")
    assert dataset.records == 3 and [d.key for d in ours.list_datasets("support")] == ["faq"]
    assert ours.delete_dataset("support", "faq") and ours.list_datasets("support") == []
    job = ours.run_job("support", "eval-judge", args={"model": LLAMA, "dataset": "faq"}, name="eval")
    assert job.wait(FAST).state is JobState.SUCCEEDED
    assert job.job is not None and job.job.eval_results and job.job.eval_results[0].mean is not None
    cancelled = ours.run_job("support", "sft", args={"model": LLAMA})
    assert cancelled.cancel() and cancelled.refresh().state is JobState.CANCELED


def test_typed_errors_and_no_secret(ours: AdaptiveClient, adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    with pytest.raises(AdaptiveNotFound):
        ours.get_project("nope")
    with pytest.raises(AdaptiveNotFound):
        ours.register_feedback_key("nope", "k")
    with AdaptiveClient("sk-wrong-key-123456", base_url=adaptive_emulator.base_url) as bad:
        with pytest.raises(AdaptiveUnauthorized) as info:
            bad.list_projects()
    assert "sk-wrong-key-123456" not in str(info.value) and "sk-wrong-key-123456" not in repr(info.value.body)



def multipart_parts(entry: Any) -> list[tuple[str, Any]]:
    """(part header, content) of a multipart request; the ``operations`` part as (operation, variables)."""
    boundary = entry.headers["content-type"].split("boundary=")[1].encode()
    out = []
    for chunk in entry.body.split(b"--" + boundary)[1:-1]:
        head, _, content = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
        value: Any = content
        if b'name="operations"' in head:
            operations = json.loads(content)
            value = (operations["operationName"], operations["variables"])
        out.append((head.split(b"\r\n")[0].decode().lower(), value))
    return out


def test_wire_parity_of_writes(ours: AdaptiveClient, sdk: Adaptive, adaptive_emulator: AdaptiveEmulatorHandle,
                               tmp_path: Path) -> None:
    """Every write our client makes, beside the SDK's same call: same method, path, operation and variables
    (or REST body); the multipart dataset upload compared part by part. Where both calls would act on one
    object, ours acts on a twin (``ab-2``, ``ds-2``) and names are mapped back before comparing."""
    emu = adaptive_emulator
    emu.ensure_project("p1", models=[LLAMA, QWEN], default=LLAMA)
    sdk.feedback.register_key("p1", "acc", kind="bool")
    messages = [{"role": "user", "content": "Hi"}]
    completion = ours.chat("p1", messages, model=LLAMA).completion_id
    assert completion is not None
    session = "12804d3f-efb1-4fc1-84d8-7a59ddf31fd6"
    for name in ("ds-1", "ds-2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "small.jsonl").write_text(
            '{"messages": [{"role": "user", "content": "hi"}], "completion": "hello"}\n')
    feedbacks = [{"feedback_key": "acc", "value": True, "details": "ok"}]
    pairs: list[tuple[Callable[[], Any], Callable[[], Any]]] = [
        (lambda: sdk.feedback.log_metric(1, completion, "acc", details="ok"),
         lambda: ours.log_metric(completion, "acc", 1, details="ok")),
        (lambda: sdk.interactions.create(messages, "Hello!", model=LLAMA, project="p1", session_id=session,
                                         feedbacks=feedbacks, labels={"env": "test"}),
         lambda: ours.create_interaction("p1", messages, "Hello!", model=LLAMA, session_id=session,
                                         feedbacks=feedbacks, labels={"env": "test"})),
        (lambda: sdk.interactions.get(completion, project="p1"), lambda: ours.get_interaction("p1", completion)),
        (lambda: sdk.ab_tests.create("ab-1", "acc", [LLAMA, QWEN], traffic_split=0.5, auto_deploy=True,
                                     project="p1"),
         lambda: ours.create_ab_test("p1", "ab-2", "acc", [LLAMA, QWEN], traffic_split=0.5, auto_deploy=True)),
        (lambda: sdk.ab_tests.get("ab-1"), lambda: ours.get_ab_test("ab-2")),
        (lambda: sdk.ab_tests.cancel("ab-1"), lambda: ours.cancel_ab_test("ab-2")),
        (lambda: sdk.jobs.run("eval-judge", 1, args={"model": LLAMA}, name="j", project="p1"),
         lambda: ours.run_job("p1", "eval-judge", args={"model": LLAMA}, name="j")),
        (lambda: sdk.datasets.upload(str(tmp_path / "ds-1" / "small.jsonl"), "ds-1", project="p1"),
         lambda: ours.upload_dataset("p1", "ds-2", tmp_path / "ds-2" / "small.jsonl")),
        (lambda: sdk.datasets.get("ds-1", project="p1"), lambda: ours.get_dataset("p1", "ds-2")),
        (lambda: sdk.datasets.delete("ds-1", project="p1"), lambda: ours.delete_dataset("p1", "ds-2")),
        (lambda: sdk.models.detach(QWEN, project="p1"), lambda: ours.detach_model("p1", QWEN)),
    ]
    for theirs, mine in pairs:
        emu.ensure_project("p1", models=[LLAMA, QWEN], default=LLAMA)  # a detached model is back for each pair
        emu.request_log.clear()
        theirs()
        expected = list(emu.request_log)
        emu.ensure_project("p1", models=[LLAMA, QWEN], default=LLAMA)
        emu.request_log.clear()
        mine()
        got = list(emu.request_log)
        assert [(e.method, e.path) for e in got] == [(e.method, e.path) for e in expected]
        for theirs_entry, mine_entry in zip(expected, got, strict=True):
            if mine_entry.headers.get("content-type", "").startswith("multipart/"):
                normalized = json.loads(json.dumps(multipart_parts(mine_entry), default=bytes.decode)
                                        .replace("ds-2", "ds-1"))
                assert normalized == json.loads(json.dumps(multipart_parts(theirs_entry), default=bytes.decode))
                continue
            want, have = theirs_entry.json(), mine_entry.json()
            if isinstance(want, dict) and "operationName" in want:
                want, have = [want["operationName"], want["variables"]], [have["operationName"], have["variables"]]
            have = json.loads(json.dumps(have).replace("ab-2", "ab-1").replace("ds-2", "ds-1"))
            assert have == want, (want, have)


def test_stream_chat_matches_the_sdk_and_the_whole_answer(ours: AdaptiveClient, sdk: Adaptive,
                                                         adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    adaptive_emulator.ensure_project("p1", models=[LLAMA], default=LLAMA)
    messages = [{"role": "user", "content": "Tell me about refunds"}]
    for include_usage in (False, True):
        theirs = sent(adaptive_emulator, lambda usage=include_usage: list(sdk.chat.create(
            messages=messages, model=LLAMA, project="p1", stream=True, stream_include_usage=usage or None)))
        mine = sent(adaptive_emulator, lambda usage=include_usage: list(ours.stream_chat(
            "p1", messages, model=LLAMA, include_usage=usage)))
        assert mine == theirs
    adaptive_emulator.request_log.clear()
    chunks = list(ours.stream_chat("p1", messages, model=LLAMA, include_usage=True))
    assert adaptive_emulator.request_log.entries("POST")[0].headers["accept"] == "text/event-stream"
    whole = ours.chat("p1", messages, model=LLAMA)
    assert len(chunks) > 2 and "".join(c.text for c in chunks) == whole.text
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_stream_broken_midway_raises_connection_failed(ours: AdaptiveClient,
                                                       adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    from dagster_labeling._core import ConnectionFailed

    adaptive_emulator.ensure_project("p1", models=[LLAMA], default=LLAMA)
    adaptive_emulator.set_faults(rate=1.0, weights={"stream_break": 1.0}, path_prefixes=["/api/v1/chat"])
    with pytest.raises(ConnectionFailed, match="stream broke"):
        list(ours.stream_chat("p1", [{"role": "user", "content": "Tell me a long story"}], max_tokens=40))


def test_embeddings_match_the_sdk(ours: AdaptiveClient, sdk: Adaptive,
                                  adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    adaptive_emulator.ensure_project("p1", models=["bge-embed"], default="bge-embed")
    theirs = sent(adaptive_emulator, lambda: sdk.embeddings.create("hello world", model="bge-embed", project="p1"))
    mine = sent(adaptive_emulator, lambda: ours.embed("p1", "hello world", model="bge-embed"))
    assert mine == theirs
    vector = ours.embed("p1", "hello world", model="bge-embed")
    expected = sdk.embeddings.create("hello world", model="bge-embed", project="p1").data[0].embedding
    assert vector == expected and len(vector) >= 8 and any(vector)


def test_list_jobs_sends_what_the_sdk_sends(ours: AdaptiveClient, sdk: Adaptive,
                                            adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    adaptive_emulator.ensure_project("p1", models=[LLAMA], default=LLAMA)
    job = ours.run_job("p1", "eval-judge", args={"model": LLAMA})

    def sdk_list() -> None:
        with pytest.raises(Exception):  # noqa: B017  the SDK sends the request, then fails to parse a non-empty list
            sdk.jobs.list(first=100, project="p1")

    assert sent(adaptive_emulator, lambda: ours.list_jobs("p1")) == sent(adaptive_emulator, sdk_list)
    assert [j.id for j in ours.list_jobs("p1")] == [job.id]


def test_chunked_upload_matches_the_sdk_and_lands_whole(ours: AdaptiveClient, sdk: Adaptive,
                                                       adaptive_emulator: AdaptiveEmulatorHandle,
                                                       tmp_path: Path) -> None:
    adaptive_emulator.ensure_project("p1", models=[LLAMA], default=LLAMA)
    line = json.dumps({"messages": [{"role": "user", "content": "q" * 500}], "completion": "a"}) + "\n"
    lines = 6 * 1024 * 1024 // len(line) + 10
    for name in ("big-1", "big-2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "big.jsonl").write_text(line * lines)
    adaptive_emulator.request_log.clear()
    sdk.datasets.upload(str(tmp_path / "big-1" / "big.jsonl"), "big-1", project="p1")
    theirs = list(adaptive_emulator.request_log)
    adaptive_emulator.request_log.clear()
    dataset = ours.upload_dataset("p1", "big-2", tmp_path / "big-2" / "big.jsonl")
    mine = list(adaptive_emulator.request_log)

    def shape(entries: list[Any]) -> list[Any]:
        out = []
        for e in entries:
            body: Any = e.body if e.headers.get("content-type") == "application/octet-stream" else e.json()
            if isinstance(body, dict) and "operationName" in body:
                body = [body["operationName"], body["variables"]]
            query = re.sub(r"upl-[0-9a-f]+", "S", e.query)
            text = body if isinstance(body, bytes) else json.loads(re.sub(
                r'"(upl-[0-9a-f]+|[0-9a-f-]{36})"', '"X"', json.dumps(body).replace("big-2", "big-1")))
            out.append((e.method, e.path, query, text))
        return out

    assert shape(mine) == shape(theirs)
    assert dataset.key == "big-2" and dataset.records == lines


def test_download_dataset_matches_the_sdk_and_the_upload(ours: AdaptiveClient, sdk: Adaptive,
                                                        adaptive_emulator: AdaptiveEmulatorHandle,
                                                        tmp_path: Path) -> None:
    adaptive_emulator.ensure_project("p1", models=[LLAMA], default=LLAMA)
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}], "completion": f"a{i}"} for i in range(5)]
    ours.upload_dataset("p1", "faq", rows)
    theirs = sent(adaptive_emulator, lambda: sdk.datasets.download("faq", str(tmp_path / "sdk.jsonl"), project="p1"))
    mine = sent(adaptive_emulator, lambda: ours.download_dataset("p1", "faq", tmp_path / "ours.jsonl"))
    assert mine == theirs
    assert [json.loads(line) for line in (tmp_path / "ours.jsonl").read_text().splitlines()] == rows
    assert (tmp_path / "ours.jsonl").read_bytes() == (tmp_path / "sdk.jsonl").read_bytes()
    assert not list(tmp_path.glob("*.part"))
    with pytest.raises(AdaptiveNotFound):
        ours.download_dataset("p1", "missing", tmp_path / "x.jsonl")
