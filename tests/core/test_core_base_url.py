"""base_url: a malformed one fails at once, clearly; credentials written into it never show."""

import logging

import httpx
import pytest
from conftest import Script

from dagster_labeling._core import NO_RETRY, ConnectionFailed, HttpTransport, InvalidInput, RetryPolicy

USER, PASSWORD, QUERY_KEY = "alice-SECRETUSER", "pw-SECRET-42", "QK-SECRET-77"
SECRET_URL = f"https://{USER}:{PASSWORD}@api.example.test/v1?api_key={QUERY_KEY}"


def _assert_no_secret(text: str) -> None:
    for secret in (USER, PASSWORD, QUERY_KEY):
        assert secret not in text, f"{secret!r} leaked into {text!r}"


@pytest.mark.parametrize("base_url", [
    "http://", "https://", "http:///path", "ftp://x", "localhost:8080", "http://exa mple.test/v1",
    "https://api.example.test/v 1", "", "  ", "http://host:99999/v1", "http://:8080/v1",
])
def test_a_malformed_base_url_is_invalid_input_before_any_request(base_url: str) -> None:
    script = Script(httpx.Response(200, json={}))
    with pytest.raises(InvalidInput) as info:
        HttpTransport(platform="Demo", base_url=base_url, auth=None, transport=script.transport,
                      retry=RetryPolicy(max_attempts=5))
    err = info.value
    assert err.field == "base_url"
    assert f"base_url {base_url!r}" in str(err)  # names the value as given
    assert "e.g. 'http" in str(err)  # and the fix
    assert script.requests == []


def test_the_fix_for_a_missing_scheme_is_the_same_address_with_one() -> None:
    with pytest.raises(InvalidInput, match=r"no http:// or https:// scheme.*e\.g\. 'http://localhost:8080'"):
        HttpTransport(platform="Demo", base_url="localhost:8080", auth=None)
    with pytest.raises(InvalidInput, match=r"scheme 'ftp' is not http or https.*e\.g\. 'https://x/data'"):
        HttpTransport(platform="Demo", base_url="ftp://x/data", auth=None)


def test_a_malformed_base_url_holding_credentials_is_reported_masked() -> None:
    for base_url in (f"http://{USER}:{PASSWORD}@/v1", f"ftp://{USER}:{PASSWORD}@host/v1?token={QUERY_KEY}",
                     f"http://{USER}:{PASSWORD}@exa mple.test/?api_key={QUERY_KEY}"):
        with pytest.raises(InvalidInput) as info:
            HttpTransport(platform="Demo", base_url=base_url, auth=None)
        _assert_no_secret(str(info.value))
        assert "***@" in str(info.value)


def test_credentials_in_base_url_are_used_but_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    script = Script(httpx.Response(503, json={"error": f"down for {USER}"}), httpx.Response(200, json={"ok": 1}))
    t = HttpTransport(platform="Demo", base_url=SECRET_URL, auth=None, transport=script.transport,
                      retry=RetryPolicy(max_attempts=3, initial_backoff_seconds=0.001), sleep=lambda s: None)
    assert t.request("GET", "items", params={"limit": 2}).json() == {"ok": 1}
    sent = script.requests[-1]
    assert sent.url.params["api_key"] == QUERY_KEY and sent.url.params["limit"] == "2"  # still sent
    assert sent.url.userinfo == b"" and sent.headers["authorization"] == httpx.BasicAuth(USER, PASSWORD)._auth_header
    assert t.base_url == "https://***@api.example.test/v1?api_key=***"
    for text in (repr(t), t.base_url, caplog.text):
        _assert_no_secret(text)
    assert "retrying" in caplog.text and "api_key=***" in caplog.text  # httpx's own request log, masked
    t.close()


def test_connection_failures_name_the_base_url_masked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    script = Script(httpx.ConnectError(f"cannot reach {SECRET_URL}"))
    t = HttpTransport(platform="Demo", base_url=SECRET_URL, auth=None, transport=script.transport,
                      retry=RetryPolicy(max_attempts=2, initial_backoff_seconds=0.001), sleep=lambda s: None)
    with pytest.raises(ConnectionFailed) as info:
        t.request("GET", "items")
    assert "base_url (https://***@api.example.test/v1?api_key=***)" in str(info.value)
    for text in (str(info.value), repr(info.value), caplog.text):
        _assert_no_secret(text)
    t.close()


def test_platform_client_reprs_show_the_base_url_masked() -> None:
    from dagster_labeling.adaptive.client import AdaptiveClient
    from dagster_labeling.llm_engine.client import LLMEngineClient
    from dagster_labeling.refuel.client import RefuelClient
    from dagster_labeling.scale.client import ScaleClient

    clients = [ScaleClient("k", base_url=SECRET_URL, retry=NO_RETRY), LLMEngineClient("k", base_url=SECRET_URL),
               RefuelClient("k", project="p", base_url=SECRET_URL), AdaptiveClient("k", base_url=SECRET_URL)]
    for client in clients:
        with client:
            _assert_no_secret(repr(client))
            _assert_no_secret(client.base_url)
