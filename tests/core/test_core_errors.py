"""Status → error class, what an error says, and that errors survive pickling."""

import enum
import pickle

import httpx
import pytest
from conftest import Script

from dagster_labeling._core import (
    APIError,
    BadRequest,
    Conflict,
    ConnectionFailed,
    InvalidInput,
    JobFailed,
    JobTimeout,
    LabelingError,
    NotFound,
    RateLimited,
    RetryPolicy,
    ServerError,
    Unauthorized,
    encode_query,
    quote_path_segment,
)

NO_RETRY = RetryPolicy(max_attempts=1)


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequest), (401, Unauthorized), (403, Unauthorized), (404, NotFound), (409, Conflict),
     (422, BadRequest), (429, RateLimited), (500, ServerError), (502, ServerError), (503, ServerError),
     (504, ServerError), (418, APIError)],
)
def test_status_maps_to_class(make_transport, status, cls):
    script = Script(httpx.Response(status, json={"error": "boom"}))
    with pytest.raises(APIError) as info:
        make_transport(script, retry=NO_RETRY).request("GET", "things")
    assert type(info.value) is cls
    assert isinstance(info.value, LabelingError)
    assert info.value.status_code == status


def test_rate_limited_carries_retry_after(make_transport):
    script = Script(httpx.Response(429, headers={"Retry-After": "9"}))
    with pytest.raises(RateLimited) as info:
        make_transport(script, retry=NO_RETRY).request("GET", "things")
    assert info.value.retry_after == 9.0


@pytest.mark.parametrize(
    "body",
    [{"json": {"error": "Project xyz not found"}}, {"json": {"detail": "Project xyz not found"}},
     {"json": {"message": "Project xyz not found"}}, {"text": "Project xyz not found"}],
)
def test_str_carries_platform_method_path_status_message_request_id(make_transport, body):
    script = Script(httpx.Response(404, headers={"x-request-id": "req-42"}, **body))
    with pytest.raises(NotFound) as info:
        make_transport(script, retry=NO_RETRY).request("GET", "projects/xyz")
    err = info.value
    text = str(err)
    for part in ("Demo", "GET", "projects/xyz", "404", "Project xyz not found", "req-42"):
        assert part in text, (part, text)
    assert err.message == "Project xyz not found"
    assert err.request_id == "req-42"
    assert (err.platform, err.method, err.path) == ("Demo", "GET", "projects/xyz")


def test_message_falls_back_to_reason_phrase_and_structured_detail(make_transport):
    script = Script(httpx.Response(404))
    with pytest.raises(NotFound) as info:
        make_transport(script, retry=NO_RETRY).request("GET", "x")
    assert "Not Found" in str(info.value)
    assert "request id" not in str(info.value)

    script = Script(httpx.Response(422, json={"detail": [{"loc": ["body", "name"], "msg": "field required"}]}))
    with pytest.raises(BadRequest) as info2:
        make_transport(script, retry=NO_RETRY).request("POST", "x")
    assert "field required" in str(info2.value)
    assert info2.value.body == {"detail": [{"loc": ["body", "name"], "msg": "field required"}]}


def test_success_statuses_makes_201_an_error(make_transport):
    script = Script(httpx.Response(201, json={"id": "1"}))
    with pytest.raises(APIError) as info:
        make_transport(script, retry=NO_RETRY, success_statuses=frozenset({200})).request("POST", "x")
    assert info.value.status_code == 201
    # Without the override a 201 is a success.
    script = Script(httpx.Response(201, json={"id": "1"}))
    assert make_transport(script, retry=NO_RETRY).request("POST", "x").status_code == 201


def _roundtrip(err):
    return pickle.loads(pickle.dumps(err))


@pytest.mark.parametrize("cls", [APIError, BadRequest, Unauthorized, NotFound, Conflict, RateLimited, ServerError])
def test_api_errors_pickle(cls):
    err = cls("msg", platform="Demo", method="POST", path="/p", status_code=499, request_id="r1",
              body={"error": "msg"})
    back = _roundtrip(err)
    assert type(back) is cls
    assert (back.message, back.platform, back.method, back.path, back.status_code, back.request_id, back.body) == (
        "msg", "Demo", "POST", "/p", 499, "r1", {"error": "msg"})
    assert str(back) == str(err)


def test_rate_limited_pickles_retry_after():
    err = RateLimited("slow down", platform="Demo", method="GET", path="/p", status_code=429)
    err.retry_after = 12.5
    assert _roundtrip(err).retry_after == 12.5


def test_connection_failed_pickles():
    err = ConnectionFailed("unreachable", platform="Demo", method="GET", path="/p", attempts=3)
    back = _roundtrip(err)
    assert type(back) is ConnectionFailed
    assert str(back) == "unreachable"
    assert (back.platform, back.method, back.path, back.attempts) == ("Demo", "GET", "/p", 3)


def test_job_errors_and_invalid_input_pickle():
    failed = _roundtrip(JobFailed("it failed", job_id="j1", state="FAILED", raw_status="error", url="http://ui/j1",
                                  reason="bad data"))
    assert (str(failed), failed.job_id, failed.state, failed.raw_status, failed.url, failed.reason) == (
        "it failed", "j1", "FAILED", "error", "http://ui/j1", "bad data")
    timeout = _roundtrip(JobTimeout("too slow", job_id="j2", timeout_name="wait_timeout", timeout_seconds=60.0,
                                    url=None))
    assert (str(timeout), timeout.job_id, timeout.timeout_name, timeout.timeout_seconds) == (
        "too slow", "j2", "wait_timeout", 60.0)
    invalid = _roundtrip(InvalidInput("bad", field="name"))
    assert (str(invalid), invalid.field) == ("bad", "name")
    assert isinstance(invalid, ValueError)


def test_errors_from_transport_pickle_with_redacted_fields(make_transport):
    script = Script(httpx.Response(429, headers={"Retry-After": "3", "request-id": "abc"}, json={"message": "x"}))
    with pytest.raises(RateLimited) as info:
        make_transport(script, retry=NO_RETRY).request("GET", "x")
    back = _roundtrip(info.value)
    assert (back.retry_after, back.request_id, back.body) == (3.0, "abc", {"message": "x"})


class Color(enum.Enum):
    RED = "red"


class Size(str, enum.Enum):
    BIG = "big"


def test_encode_query():
    assert encode_query({"a": None, "b": 1, "c": [1, None, 2], "d": True, "e": False, "f": Color.RED,
                         "g": [Size.BIG], "h": "x y"}) == [
        ("b", "1"), ("c", "1"), ("c", "2"), ("d", "true"), ("e", "false"), ("f", "red"), ("g", "big"),
        ("h", "x y")]
    assert encode_query({"d": True, "e": False}, true="True", false="False") == [("d", "True"), ("e", "False")]
    assert encode_query({"d": [True, False]}, true="1", false="0") == [("d", "1"), ("d", "0")]
    assert encode_query(None) == []
    assert encode_query({"t": ("a", "b")}) == [("t", "a"), ("t", "b")]


def test_encode_query_sends_repeated_keys(make_transport):
    script = Script(httpx.Response(200, json={}))
    make_transport(script).request("GET", "x", params=encode_query({"tag": ["a", "b"], "skip": None}))
    assert script.requests[0].url.query == b"tag=a&tag=b"


def test_quote_path_segment():
    assert quote_path_segment("batch/02 special") == "batch%2F02%20special"
    assert quote_path_segment("a?b#c%d") == "a%3Fb%23c%25d"
    assert quote_path_segment(42) == "42"  # type: ignore[arg-type]


def test_quoted_segment_reaches_the_server_as_one_segment(make_transport):
    script = Script(httpx.Response(200, json={}))
    make_transport(script).request("GET", f"batches/{quote_path_segment('batch/02 special')}")
    assert script.requests[0].url.raw_path == b"/v1/batches/batch%2F02%20special"
