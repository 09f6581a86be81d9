"""The retry policy as the transport applies it: what is retried, how long it waits, when it gives up."""

import email.utils
import random
import types

import httpx
import pytest
import tenacity
from conftest import BASE_URL, RecordingSleep, Script

from dagster_labeling._core import (
    BadRequest,
    ConnectionFailed,
    HttpTransport,
    RateLimited,
    RetryPolicy,
    ServerError,
    parse_retry_after,
)
from dagster_labeling._core.errors import APIError

OK = httpx.Response(200, json={"ok": True})


def test_429_then_200_is_retried_and_honours_retry_after_seconds(make_transport):
    script = Script(httpx.Response(429, headers={"Retry-After": "7"}), OK)
    sleep = RecordingSleep()
    t = make_transport(script, sleep=sleep)
    assert t.request("GET", "items").json() == {"ok": True}
    assert len(script.requests) == 2
    assert sleep.calls == [7.0]


def test_retry_after_ms_is_honoured(make_transport):
    script = Script(httpx.Response(429, headers={"retry-after-ms": "1500"}), OK)
    sleep = RecordingSleep()
    make_transport(script, sleep=sleep).request("GET", "items")
    assert sleep.calls == [1.5]


def test_retry_after_http_date_is_honoured(make_transport):
    when = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(httpx.Headers({"Retry-After": when}), now=1_000_000) == pytest.approx(30)
    # Through the transport: a date ~20 s ahead of the real clock gives a wait close to 20 s.
    import time

    future = email.utils.formatdate(time.time() + 20, usegmt=True)
    script = Script(httpx.Response(429, headers={"Retry-After": future}), OK)
    sleep = RecordingSleep()
    make_transport(script, sleep=sleep).request("GET", "items")
    assert len(sleep.calls) == 1 and 15 <= sleep.calls[0] <= 20


def test_retry_after_in_the_past_or_garbage():
    assert parse_retry_after(httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0
    assert parse_retry_after(httpx.Headers({"Retry-After": "soon"})) is None
    assert parse_retry_after(httpx.Headers({})) is None


def test_retry_after_is_capped(make_transport):
    script = Script(httpx.Response(429, headers={"Retry-After": "3600"}), OK)
    sleep = RecordingSleep()
    make_transport(script, sleep=sleep, retry=RetryPolicy(max_retry_after_seconds=12)).request("GET", "items")
    assert sleep.calls == [12.0]


def test_503_retry_after_is_honoured(make_transport):
    script = Script(httpx.Response(503, headers={"Retry-After": "4"}), OK)
    sleep = RecordingSleep()
    make_transport(script, sleep=sleep).request("GET", "items")
    assert sleep.calls == [4.0]


@pytest.mark.parametrize("status", [500, 502, 503])
@pytest.mark.parametrize(("method", "idempotent"), [("GET", None), ("POST", True), ("PUT", None)])
def test_5xx_retried_when_safe_to_repeat(make_transport, status, method, idempotent):
    script = Script(httpx.Response(status), OK)
    t = make_transport(script)
    assert t.request(method, "items", json_body={"a": 1}, idempotent=idempotent).status_code == 200
    assert len(script.requests) == 2


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_not_retried_for_plain_post(make_transport, status):
    script = Script(httpx.Response(status), OK)
    sleep = RecordingSleep()
    with pytest.raises(ServerError) as info:
        make_transport(script, sleep=sleep).request("POST", "items", json_body={"a": 1})
    assert info.value.status_code == status
    assert len(script.requests) == 1
    assert sleep.calls == []


def test_get_with_idempotent_false_is_not_retried_on_5xx(make_transport):
    script = Script(httpx.Response(500), OK)
    with pytest.raises(ServerError):
        make_transport(script).request("GET", "items", idempotent=False)
    assert len(script.requests) == 1


def test_429_retried_even_for_plain_post(make_transport):
    script = Script(httpx.Response(429), OK)
    assert make_transport(script).request("POST", "items", json_body={}).status_code == 200
    assert len(script.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_client_errors_never_retried(make_transport, status, method):
    script = Script(httpx.Response(status, json={"error": "nope"}), OK)
    sleep = RecordingSleep()
    with pytest.raises(APIError) as info:
        make_transport(script, sleep=sleep).request(method, "items", idempotent=True)
    assert info.value.status_code == status
    assert len(script.requests) == 1
    assert sleep.calls == []


def test_max_attempts_bound(make_transport):
    script = Script(httpx.Response(503))
    sleep = RecordingSleep()
    with pytest.raises(ServerError):
        make_transport(script, sleep=sleep, retry=RetryPolicy(max_attempts=3)).request("GET", "items")
    assert len(script.requests) == 3
    assert len(sleep.calls) == 2


def test_max_attempts_bound_on_429_raises_rate_limited_with_hint(make_transport):
    script = Script(httpx.Response(429, headers={"Retry-After": "2"}))
    with pytest.raises(RateLimited) as info:
        make_transport(script, retry=RetryPolicy(max_attempts=4)).request("POST", "items")
    assert len(script.requests) == 4
    assert info.value.retry_after == 2.0


def test_total_time_bound(make_transport, monkeypatch):
    # tenacity measures the total time with time.monotonic(); give it a fake clock that our sleep advances.
    now = [1000.0]
    monkeypatch.setattr(tenacity, "time", types.SimpleNamespace(monotonic=lambda: now[0]))

    def advance(seconds: float) -> None:
        now[0] += seconds

    script = Script(httpx.Response(429, headers={"Retry-After": "4"}))
    sleep = RecordingSleep(on_sleep=advance)
    policy = RetryPolicy(max_attempts=50, total_timeout_seconds=10)
    with pytest.raises(RateLimited):
        make_transport(script, sleep=sleep, retry=policy).request("GET", "items")
    # attempts at t=0 and 4 are retried; sleeping after the one at t=8 would end past the 10 s bound, so
    # it is the last (stop_before_delay never sleeps beyond total_timeout_seconds).
    assert len(script.requests) == 3
    assert sleep.calls == [4.0, 4.0]


def test_backoff_grows_exponentially_with_equal_jitter():
    policy = RetryPolicy(initial_backoff_seconds=1.0, max_backoff_seconds=10.0)
    rng = random.Random(1234)
    for attempt, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)]:
        for _ in range(50):
            wait = policy.backoff_seconds(attempt, rng)
            assert base / 2 <= wait <= base

    class Fixed(random.Random):
        def __init__(self, value: float) -> None:
            super().__init__()
            self.value = value

        def random(self) -> float:
            return self.value

    assert policy.backoff_seconds(3, Fixed(0.0)) == 2.0
    assert policy.backoff_seconds(3, Fixed(0.5)) == 3.0
    # Jitter really varies: not every draw is the same.
    assert len({round(policy.backoff_seconds(3, rng), 6) for _ in range(20)}) > 1


def test_transport_backoff_uses_injected_rng(make_transport):
    script = Script(httpx.Response(503))
    sleep = RecordingSleep()
    policy = RetryPolicy(max_attempts=4, initial_backoff_seconds=1.0, max_backoff_seconds=100)
    with pytest.raises(ServerError):
        make_transport(script, sleep=sleep, retry=policy, rng=random.Random(7)).request("GET", "items")
    expected_rng = random.Random(7)
    expected = [policy.backoff_seconds(n, expected_rng) for n in (1, 2, 3)]
    assert sleep.calls == pytest.approx(expected)
    for n, wait in enumerate(sleep.calls, start=1):
        base = 2 ** (n - 1)
        assert base / 2 <= wait <= base


def test_connect_error_retried_even_for_plain_post(make_transport):
    script = Script(httpx.ConnectError("refused"), OK)
    assert make_transport(script).request("POST", "items", json_body={}).status_code == 200
    assert len(script.requests) == 2


@pytest.mark.parametrize("error", [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("reset")])
def test_mid_request_network_errors_retried_only_when_idempotent(make_transport, error):
    script = Script(error, OK)
    assert make_transport(script).request("POST", "items", json_body={}, idempotent=True).status_code == 200
    assert len(script.requests) == 2

    script = Script(error, OK)
    assert make_transport(script).request("GET", "items").status_code == 200
    assert len(script.requests) == 2

    script = Script(error, OK)
    with pytest.raises(ConnectionFailed) as info:
        make_transport(script).request("POST", "items", json_body={})
    assert len(script.requests) == 1
    assert info.value.attempts == 1
    assert type(error).__name__ in str(info.value)


def test_connection_failed_after_exhausting_retries(make_transport):
    script = Script(httpx.ConnectError("[Errno 111] Connection refused"))
    sleep = RecordingSleep()
    with pytest.raises(ConnectionFailed) as info:
        make_transport(script, sleep=sleep, retry=RetryPolicy(max_attempts=3)).request("GET", "items/1")
    err = info.value
    assert len(script.requests) == 3
    assert len(sleep.calls) == 2
    assert err.attempts == 3
    assert (err.platform, err.method, err.path) == ("Demo", "GET", "items/1")
    msg = str(err)
    assert BASE_URL in msg
    assert "base_url" in msg and "reachable" in msg
    assert "ConnectError" in msg and "3 attempt" in msg
    assert err.__cause__ is None and err.__suppress_context__


def test_unreachable_base_url_gives_connection_failed_quickly():
    sleep = RecordingSleep()
    t = HttpTransport(platform="Demo", base_url="http://127.0.0.1:1", auth=None,
                      retry=RetryPolicy(max_attempts=3), sleep=sleep)
    try:
        with pytest.raises(ConnectionFailed) as info:
            t.request("POST", "items", json_body={})
    finally:
        t.close()
    assert info.value.attempts == 3
    assert len(sleep.calls) == 2
    assert "http://127.0.0.1:1" in str(info.value)


def test_bad_base_url_rejected():
    from dagster_labeling._core import InvalidInput

    with pytest.raises(InvalidInput) as info:
        HttpTransport(platform="Demo", base_url="api.example.test", auth=None)
    assert info.value.field == "base_url"


def test_bad_request_is_not_a_retry_candidate_even_with_retry_after(make_transport):
    script = Script(httpx.Response(400, headers={"Retry-After": "1"}), OK)
    with pytest.raises(BadRequest):
        make_transport(script).request("GET", "items")
    assert len(script.requests) == 1


def test_stream_returns_unread_body_after_retrying_before_the_first_byte(make_transport):
    class Body(httpx.SyncByteStream):
        def __init__(self) -> None:
            self.read = False
            self.closed = False

        def __iter__(self):  # type: ignore[no-untyped-def]
            self.read = True
            yield b"data: 1\n\ndata: 2\n\n"

        def close(self) -> None:
            self.closed = True

    refused, streamed = Body(), Body()
    script = Script(httpx.Response(503, stream=refused), httpx.Response(200, stream=streamed))
    sleep = RecordingSleep()
    t = make_transport(script, sleep=sleep)
    response = t.request("POST", "stream", json_body={"a": 1}, idempotent=True, stream=True)
    assert len(script.requests) == 2 and len(sleep.calls) == 1
    assert refused.read and refused.closed  # the error answer was read (for its message) and released
    assert not streamed.read  # the caller gets the body unread, to iterate as it arrives
    assert list(response.iter_lines()) == ["data: 1", "", "data: 2", ""]
    response.close()
    assert streamed.closed
