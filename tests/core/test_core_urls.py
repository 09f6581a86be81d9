"""Prepared URLs: the same URL httpx builds from path + params, built once per distinct (path, params)."""

import httpx
from conftest import BASE_URL, Script

from dagster_labeling._core import transport as transport_module

OK = httpx.Response(200, json={"ok": True})


def test_prepared_url_equals_what_httpx_builds_and_is_reused(make_transport):
    script = Script(OK)
    t = make_transport(script)
    params = {"application_id": "a/b c", "explain": "False", "fields": ["x", "y"], "empty": None}
    for _ in range(3):
        t.request("POST", "applications/a b/label", params=params, json_body=[{"text": "hi"}])
    expected = httpx.Request("POST", f"{BASE_URL}/applications/a b/label", params=params).url
    assert [str(r.url) for r in script.requests] == [str(expected)] * 3
    assert t.prepared_url("applications/a b/label", params) is t.prepared_url("applications/a b/label",
                                                                             dict(params))
    other = t.prepared_url("applications/a b/label", {**params, "explain": "True"})
    assert "explain=True" in str(other) and other is not t.prepared_url("applications/a b/label", params)


def test_unhashable_params_are_sent_uncached(make_transport):
    script = Script(OK)
    t = make_transport(script)
    t.request("GET", "items", params={"ids": [{"a": 1}.keys()]})  # a value no cache key can hold
    assert len(script.requests) == 1 and t._prepared_urls == {}


def test_the_cache_starts_over_when_full(make_transport, monkeypatch):
    monkeypatch.setattr(transport_module, "MAX_PREPARED_URLS", 3)
    t = make_transport(Script(OK))
    for offset in range(7):  # a paged listing adds one entry per page
        t.request("GET", "items", params={"offset": offset})
    assert 1 <= len(t._prepared_urls) <= 3
    assert str(t.prepared_url("items", {"offset": 6})) == f"{BASE_URL}/items?offset=6"
