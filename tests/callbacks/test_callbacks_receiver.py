import json
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest

from dagster_labeling.callbacks import (
    CallbackInbox,
    CallbackRejected,
    CallbackSource,
    ScaleCallbackSource,
    build_callback_app,
)
from dagster_labeling.testing import serve_in_thread

from .callbacks_helpers import AUTH, SCALE_KEY, make_poster, scale_body


def test_good_callback_is_stored_and_acknowledged(post, inbox):
    r = post(json=scale_body(), headers={**AUTH, "user-agent": "scale-callbacks/1"})
    assert r.status_code == 200
    assert r.json() == {"accepted": True, "duplicate": False, "seq": 1}
    [event] = inbox.read(after_seq=0, limit=10)
    assert event.seq == 1 and event.source == "scale"
    assert event.payload == scale_body()
    assert event.dedup_key.startswith("576c41bf13e36b0600b02b34:")
    assert event.received_at.tzinfo is not None and event.received_at.utcoffset().total_seconds() == 0
    assert event.received_headers["user-agent"] == "scale-callbacks/1"
    assert "scale-callback-auth" not in event.received_headers


@pytest.mark.parametrize(
    "headers",
    [
        {},  # missing
        {"scale-callback-auth": ""},
        {"scale-callback-auth": "wrong"},
        {"scale-callback-auth": SCALE_KEY + "x"},
        {"scale-callback-auth": SCALE_KEY[:-1]},
        {"authorization": f"Bearer {SCALE_KEY}"},  # right secret, wrong header
    ],
)
def test_bad_or_missing_auth_is_401_and_nothing_stored(post, inbox, headers):
    r = post(json=scale_body(), headers=headers)
    assert r.status_code == 401
    assert r.json()["accepted"] is False
    assert SCALE_KEY not in r.text
    assert inbox.count() == 0


def test_header_name_is_case_insensitive(post, inbox):
    r = post(json=scale_body(), headers={"Scale-Callback-Auth": SCALE_KEY})
    assert r.status_code == 200 and inbox.count() == 1


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"\xff\xfe", b"[1, 2]", b'"a string"', b"42", b"null", b'{"task_id": NaN}'],
)
def test_malformed_or_non_object_json_is_400(post, inbox, body):
    r = post(content=body, headers={**AUTH, "content-type": "application/json"})
    assert r.status_code == 400
    assert inbox.count() == 0


def test_body_without_task_id_is_400(post, inbox):
    r = post(json={"response": {}}, headers=AUTH)
    assert r.status_code == 400
    assert inbox.count() == 0


def test_auth_is_checked_before_json(post, inbox):
    # An unauthenticated caller learns nothing about the body's validity.
    assert post(content=b"{not json", headers={"scale-callback-auth": "wrong"}).status_code == 401


def test_unknown_source_is_404(post, inbox):
    r = post("/callbacks/argilla", json=scale_body(), headers=AUTH)
    assert r.status_code == 404
    assert inbox.count() == 0


def test_healthz(post, inbox):
    app = build_callback_app(inbox, [ScaleCallbackSource(SCALE_KEY)])

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            return await c.get("/healthz")

    import asyncio

    r = asyncio.run(go())
    assert r.status_code == 200 and r.json()["ok"] is True


def test_oversized_body_with_content_length_is_413(post, inbox):
    big = {**scale_body(), "padding": "x" * 5000}  # limit in the fixture is 4096
    r = post(json=big, headers=AUTH)
    assert r.status_code == 413
    assert inbox.count() == 0


def test_oversized_content_length_is_refused_before_reading_the_body(inbox):
    """A declared Content-Length over the limit is answered 413 without reading a byte of the body."""
    import asyncio

    app = build_callback_app(inbox, [ScaleCallbackSource(SCALE_KEY)], max_body_bytes=4096)
    received_calls = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received_calls
        received_calls += 1
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/callbacks/scale", "raw_path": b"/callbacks/scale", "query_string": b"",
        "root_path": "", "server": ("test", 80), "client": ("127.0.0.1", 1234),
        "headers": [(b"content-length", b"10000000"), (b"scale-callback-auth", SCALE_KEY.encode())],
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert received_calls == 0
    assert inbox.count() == 0


def test_oversized_chunked_body_without_content_length_is_413_and_not_read_to_the_end(post, inbox):
    chunks_pulled = 0

    async def endless_body() -> AsyncIterator[bytes]:
        nonlocal chunks_pulled
        for _ in range(1000):  # 1000 KiB in all, far over the 4 KiB limit
            chunks_pulled += 1
            yield b"x" * 1024

    r = post(content=endless_body, headers=AUTH)
    assert r.status_code == 413
    assert chunks_pulled < 10  # stopped while streaming, not after buffering everything
    assert inbox.count() == 0


def test_chunked_body_within_limit_is_accepted(post, inbox):
    payload = json.dumps(scale_body()).encode()

    async def body() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 100):
            yield payload[i : i + 100]

    r = post(content=body, headers=AUTH)
    assert r.status_code == 200 and inbox.count() == 1


def test_five_redeliveries_store_exactly_one_event(post, inbox):
    results = [post(json=scale_body(), headers=AUTH).json() for _ in range(5)]
    assert results[0] == {"accepted": True, "duplicate": False, "seq": 1}
    assert all(r == {"accepted": True, "duplicate": True, "seq": None} for r in results[1:])
    assert inbox.count() == 1


def test_redelivery_with_different_key_order_and_whitespace_is_still_a_duplicate(post, inbox):
    body = scale_body()
    assert post(json=body, headers=AUTH).json()["duplicate"] is False
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2).encode()
    assert post(content=reordered, headers=AUTH).json()["duplicate"] is True
    assert inbox.count() == 1


def test_changed_body_for_the_same_task_is_a_second_event(post, inbox):
    assert post(json=scale_body(category="red"), headers=AUTH).json()["seq"] == 1
    assert post(json=scale_body(category="blue"), headers=AUTH).json()["seq"] == 2
    events = inbox.read(after_seq=0, limit=10)
    assert [e.payload["response"]["category"] for e in events] == ["red", "blue"]
    assert events[0].dedup_key.split(":")[0] == events[1].dedup_key.split(":")[0]


def test_restart_keeps_events_and_dedup(inbox_path):
    first = make_poster(build_callback_app(CallbackInbox(inbox_path), [ScaleCallbackSource(SCALE_KEY)]))
    assert first(json=scale_body("t1"), headers=AUTH).json()["seq"] == 1
    assert first(json=scale_body("t2"), headers=AUTH).json()["seq"] == 2

    # "Restart": a new inbox object and a new app on the same file.
    inbox2 = CallbackInbox(inbox_path)
    second = make_poster(build_callback_app(inbox2, [ScaleCallbackSource(SCALE_KEY)]))
    assert [e.payload["task_id"] for e in inbox2.read(0, 10)] == ["t1", "t2"]
    assert second(json=scale_body("t1"), headers=AUTH).json() == {"accepted": True, "duplicate": True, "seq": None}
    assert second(json=scale_body("t3"), headers=AUTH).json()["seq"] == 3
    assert inbox2.count() == 3


@pytest.fixture
def live_server(inbox):
    """The receiver under a real uvicorn on a free 127.0.0.1 port, in a thread."""
    with serve_in_thread(build_callback_app(inbox, [ScaleCallbackSource(SCALE_KEY)])) as url:
        yield url


def test_concurrent_deliveries_lose_nothing_and_store_no_duplicates(live_server, inbox):
    n_tasks, n_threads = 40, 8
    statuses: list[int] = []
    lock = threading.Lock()

    def worker(offset: int) -> None:
        with httpx.Client(base_url=live_server, timeout=30) as client:
            # Every thread delivers every task (so each task arrives 8 times, concurrently).
            for i in range(n_tasks):
                task = f"task-{(i + offset) % n_tasks}"
                r = client.post("/callbacks/scale", json=scale_body(task), headers=AUTH)
                with lock:
                    statuses.append(r.status_code)

    threads = [threading.Thread(target=worker, args=(k * 5,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert statuses == [200] * (n_tasks * n_threads)
    events = inbox.read(0, 1000)
    assert sorted(e.payload["task_id"] for e in events) == sorted(f"task-{i}" for i in range(n_tasks))
    assert [e.seq for e in events] == list(range(1, n_tasks + 1))


def test_secret_never_in_repr_rows_or_logs(post, inbox, inbox_path, caplog):
    source = ScaleCallbackSource(SCALE_KEY)
    assert SCALE_KEY not in repr(source) and SCALE_KEY not in str(source)
    assert SCALE_KEY not in repr(vars(source))
    with pytest.raises(CallbackRejected) as exc_info:
        source.verify({"scale-callback-auth": "wrong"}, b"{}")
    assert SCALE_KEY not in str(exc_info.value) and "wrong" not in str(exc_info.value)

    caplog.set_level(logging.DEBUG)
    post(json=scale_body("t1"), headers={**AUTH, "authorization": f"Bearer {SCALE_KEY}"})
    post(json=scale_body("t1"), headers=AUTH)  # duplicate
    post(json=scale_body("t2"), headers={"scale-callback-auth": SCALE_KEY + "-near-miss"})
    post(content=b"{bad", headers=AUTH)
    assert inbox.count() == 1
    logged = [r for r in caplog.records if r.name.startswith("dagster_labeling")]
    assert len(logged) == 4  # one line per delivery
    for record in caplog.records:
        assert SCALE_KEY not in record.getMessage()
        assert SCALE_KEY not in repr(record.args)

    with sqlite3.connect(inbox_path) as conn:
        dump = "\n".join(conn.iterdump())
    assert "t1" in dump  # the dump does contain the rows
    assert SCALE_KEY not in dump
    assert "scale-callback-auth" not in dump and "authorization" not in dump


def test_a_new_platform_is_one_small_subclass(inbox):
    """The plug-in point: an HMAC-signed source (Standard-Webhooks-like) mounts beside Scale."""
    import base64
    import hashlib
    import hmac

    secret = b"whsec-test-secret"

    class SignedSource(CallbackSource):
        name = "signed"

        def verify(self, headers: Mapping[str, str], body: bytes) -> None:
            msg = f"{headers.get('webhook-id')}.{headers.get('webhook-timestamp')}.".encode() + body
            expected = "v1," + base64.b64encode(hmac.new(secret, msg, hashlib.sha256).digest()).decode()
            if not hmac.compare_digest(headers.get("webhook-signature", ""), expected):
                raise CallbackRejected(401, "bad signature")

        def dedup_key(self, headers: Mapping[str, str], payload: dict[str, Any]) -> str:
            return f"{payload['type']}:{payload['data']['id']}:{payload['timestamp']}"

    post = make_poster(build_callback_app(inbox, [ScaleCallbackSource(SCALE_KEY), SignedSource()]))
    body = json.dumps({"type": "record.completed", "version": 1, "timestamp": "2026-01-01T00:00:00.0Z",
                       "data": {"id": "r1"}}).encode()
    sig = "v1," + base64.b64encode(hmac.new(secret, b"msg_1.1700000000." + body, hashlib.sha256).digest()).decode()
    headers = {"webhook-id": "msg_1", "webhook-timestamp": "1700000000", "webhook-signature": sig}
    assert post("/callbacks/signed", content=body, headers=headers).status_code == 200
    forged = {**headers, "webhook-signature": "v1,AAAA"}
    assert post("/callbacks/signed", content=body, headers=forged).status_code == 401
    [event] = inbox.read(0, 10, source="signed")
    assert event.dedup_key == "record.completed:r1:2026-01-01T00:00:00.0Z"
    assert event.received_headers["webhook-id"] == "msg_1"
    assert event.received_headers["webhook-timestamp"] == "1700000000"
    assert "webhook-signature" not in event.received_headers
    assert inbox.read(0, 10, source="scale") == []


def test_a_source_can_declare_extra_secret_headers(inbox):
    class TokenSource(CallbackSource):
        name = "tok"
        secret_headers = frozenset({"x-hmac"})  # matches none of the inbox's built-in markers

        def verify(self, headers: Mapping[str, str], body: bytes) -> None:
            if headers.get("x-hmac") != "expected-value":
                raise CallbackRejected(401, "bad x-hmac")

        def dedup_key(self, headers: Mapping[str, str], payload: dict[str, Any]) -> str:
            return str(payload["id"])

    post = make_poster(build_callback_app(inbox, [TokenSource()]))
    r = post("/callbacks/tok", json={"id": 1}, headers={"x-hmac": "expected-value", "x-request-id": "rq1"})
    assert r.status_code == 200
    [event] = inbox.read(0, 10)
    assert "x-hmac" not in event.received_headers
    assert event.received_headers["x-request-id"] == "rq1"
