"""The API key never leaks: not in reprs, errors, error bodies or logs (including its Basic-auth form)."""

import base64
import logging
import pickle

import httpx
import pytest
from conftest import API_KEY, Script

from dagster_labeling._core import APIError, ConnectionFailed, Redactor, RetryPolicy, mask, redact_headers

B64_FORMS = [base64.b64encode(f"{API_KEY}:".encode()).decode(),
             base64.b64encode(f"{API_KEY}:{API_KEY}".encode()).decode()]
SECRET_FORMS = [API_KEY, *B64_FORMS]


def _assert_clean(text: str) -> None:
    for form in SECRET_FORMS:
        assert form not in text, f"secret form {form!r} leaked into {text!r}"


def _echo_everything(request: httpx.Request) -> httpx.Response:
    auth = request.headers.get("authorization", "")
    return httpx.Response(
        401,
        headers={"x-request-id": "rid-1"},
        json={"error": f"Invalid API key {API_KEY} (header was {auth})",
              "echo": {"headers": {"Authorization": auth}, "keys": [API_KEY, (API_KEY, 1)]}},
    )


def test_key_is_sent_but_not_in_repr(make_transport):
    script = Script(httpx.Response(200, json={}))
    t = make_transport(script, auth=httpx.BasicAuth(API_KEY, ""))
    t.request("GET", "x")
    assert script.requests[0].headers["authorization"] == f"Basic {B64_FORMS[0]}"  # the test can see a leak
    _assert_clean(repr(t))
    _assert_clean(repr(t.redactor))


def test_error_echoing_key_is_redacted_everywhere(make_transport, caplog):
    caplog.set_level(logging.DEBUG, logger="dagster_labeling")
    script = Script(_echo_everything)
    t = make_transport(script, auth=httpx.BasicAuth(API_KEY, ""), retry=RetryPolicy(max_attempts=1))
    with pytest.raises(APIError) as info:
        t.request("GET", "me")
    err = info.value
    assert "Invalid API key ***" in str(err)
    assert "Basic ***" in err.message
    for text in (str(err), repr(err), repr(err.body), repr(err.args), err.message):
        _assert_clean(text)
    assert err.body["echo"]["keys"] == ["***", ["***", 1]]
    _assert_clean(repr(pickle.loads(pickle.dumps(err)).body))
    _assert_clean(caplog.text)
    assert caplog.records, "expected debug logs from the transport"


def test_text_error_body_echoing_key_is_redacted(make_transport):
    script = Script(httpx.Response(403, text=f"forbidden for key {API_KEY}"))
    with pytest.raises(APIError) as info:
        make_transport(script, retry=RetryPolicy(max_attempts=1)).request("GET", "x")
    assert info.value.body == "forbidden for key ***"
    _assert_clean(str(info.value))


def test_long_error_body_is_redacted_before_truncation(make_transport):
    # The key straddles the truncation point: a naive truncate-then-redact would leak its first characters.
    text = "x" * 990 + API_KEY + "y" * 1100
    script = Script(httpx.Response(400, text=text))
    with pytest.raises(APIError) as info:
        make_transport(script, retry=RetryPolicy(max_attempts=1)).request("GET", "x")
    err = info.value
    assert API_KEY[:8] not in err.message
    assert API_KEY[:8] not in str(err.body)


def test_logs_during_retries_and_connection_failures_are_clean(make_transport, caplog):
    caplog.set_level(logging.DEBUG, logger="dagster_labeling")
    script = Script(httpx.ConnectError(f"cannot connect with key {API_KEY}"), _echo_everything)
    t = make_transport(script, auth=httpx.BasicAuth(API_KEY, ""), retry=RetryPolicy(max_attempts=2))
    with pytest.raises(APIError):
        t.request("POST", "items", json_body={"api_key": API_KEY})
    script = Script(httpx.ConnectError(f"cannot connect with key {API_KEY}"))
    t = make_transport(script, auth=httpx.BasicAuth(API_KEY, ""), retry=RetryPolicy(max_attempts=2))
    with pytest.raises(ConnectionFailed) as info:
        t.request("GET", "items")
    _assert_clean(str(info.value))
    assert "***" in str(info.value)
    assert any("retrying" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        _assert_clean(record.getMessage())


def test_redact_headers():
    headers = {"Authorization": "Basic abc", "X-API-Key": API_KEY, "Cookie": "s=1", "Content-Type": "json",
               "x-argilla-api-key": "k"}
    assert redact_headers(headers) == {"Authorization": "***", "X-API-Key": "***", "Cookie": "***",
                                       "Content-Type": "json", "x-argilla-api-key": "***"}
    assert redact_headers(httpx.Headers({"authorization": "Bearer x"})) == {"authorization": "***"}


def test_redactor_nested_structures():
    r = Redactor([API_KEY, None, "", "other-secret"])
    value = {"a": [API_KEY, {"b": (f"Bearer {API_KEY}", 3)}], "c": f"Basic {B64_FORMS[0]}",
             "d": "other-secret-and-more", "n": None, "i": 1}
    assert r.redact_value(value) == {"a": ["***", {"b": ("Bearer ***", 3)}], "c": "Basic ***",
                                     "d": "***-and-more", "n": None, "i": 1}
    assert r.redact(f"{B64_FORMS[1]}") == "***"
    assert r.redact("nothing here") == "nothing here"
    _assert_clean(repr(r))


def test_redactor_replaces_longest_secret_whole():
    r = Redactor(["abc", "abcdef"])
    assert r.redact("xx abcdef yy abc") == "xx *** yy ***"


def test_empty_redactor_and_mask():
    assert Redactor().redact(API_KEY) == API_KEY
    assert mask(API_KEY) == "***"
    assert mask("") == "<unset>" and mask(None) == "<unset>"


def test_error_from_hand_built_response_redacts(make_transport):
    t = make_transport(Script(httpx.Response(200)))
    err = t.error_from_response("GET", "x", httpx.Response(500, text=f"oops {API_KEY}"))
    assert err.message == "oops ***" and err.body == "oops ***"


def test_key_in_a_request_path_is_redacted_from_errors() -> None:
    import httpx

    from dagster_labeling._core import NO_RETRY, HttpTransport, NotFound

    key = "sk-live-PATHSECRET"
    transport = HttpTransport(
        platform="Demo", base_url="http://demo.invalid/api", auth=None, secrets=[key], retry=NO_RETRY,
        transport=httpx.MockTransport(lambda request: httpx.Response(404, json={"error": "no such thing"})),
    )
    try:
        transport.request("GET", f"projects/{key}")
    except NotFound as err:
        assert key not in str(err) and key not in repr(err) and key not in err.path
    else:
        raise AssertionError("expected NotFound")


def test_redact_headers_recognises_credential_headers_by_name():
    credential = ["Proxy-Authorization", "Set-Cookie", "scale-callback-auth", "webhook-signature", "X-Refresh-Token",
                  "X-Client-Secret", "X-Custom-Auth", "X-Session-Key", "X-Password"]
    plain = ["Content-Type", "X-Request-Id", "Accept", "User-Agent", "Idempotency-Id"]
    headers = {name: API_KEY for name in credential + plain}
    assert redact_headers(headers) == {**dict.fromkeys(credential, "***"), **dict.fromkeys(plain, API_KEY)}
