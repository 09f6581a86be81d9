"""The emulator's wire behaviour, checked with raw HTTP: auth, 422 bodies as the server answers, the 500 limit,
draft -> publish rules, external_id matching, ``include``, paging limits."""

import httpx
import pytest

from dagster_labeling.testing.pytest_plugin import ArgillaEmulatorHandle


@pytest.fixture
def http(argilla_emulator: ArgillaEmulatorHandle):  # type: ignore[no-untyped-def]
    argilla_emulator.state.auto_annotate = False
    with httpx.Client(base_url=argilla_emulator.api_url + "/api/v1",
                      headers={"X-Argilla-Api-Key": argilla_emulator.api_key}) as c:
        yield c


def _draft(http: httpx.Client) -> str:
    ws = http.get("/me/workspaces").json()["items"][0]["id"]
    r = http.post("/datasets", json={"name": "raw", "workspace_id": ws})
    assert r.status_code == 201 and r.json()["status"] == "draft"
    return str(r.json()["id"])


def test_auth_and_error_bodies(http: httpx.Client, argilla_emulator: ArgillaEmulatorHandle) -> None:
    r = httpx.get(argilla_emulator.api_url + "/api/v1/me", headers={"X-Argilla-Api-Key": "nope"})
    assert r.status_code == 401 and r.json() == {"detail": "Could not validate credentials"}
    assert http.get("/datasets/00000000-0000-0000-0000-000000000000").json()["detail"].startswith("Dataset with id")
    r = http.post("/workspaces", json={"name": "Bad Name"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "name"]


def test_settings_validation_and_publish_rules(http: httpx.Client) -> None:
    ds = _draft(http)
    assert http.put(f"/datasets/{ds}/publish").json()["detail"] == "Dataset cannot be published without fields"
    bad_rating = {"name": "q", "settings": {"type": "rating", "options": [{"value": 1}]}}
    r = http.post(f"/datasets/{ds}/questions", json=bad_rating)
    assert r.status_code == 422 and isinstance(r.json()["detail"], list)
    one_label = {"name": "l", "settings": {"type": "label_selection", "options": [{"value": "a", "text": "a"}]}}
    assert http.post(f"/datasets/{ds}/questions", json=one_label).status_code == 422
    span = {"name": "s", "settings": {"type": "span", "field": "missing", "options": [{"value": "A"}, {"value": "B"}]}}
    assert http.post(f"/datasets/{ds}/questions", json=span).status_code == 422
    assert http.post(f"/datasets/{ds}/fields", json={"name": "text", "settings": {"type": "text"}}).status_code == 201
    r = http.put(f"/datasets/{ds}/records/bulk", json={"items": [{"fields": {"text": "x"}}]})
    assert r.status_code == 422 and "non published" in r.json()["detail"]
    assert "required questions" in http.put(f"/datasets/{ds}/publish").json()["detail"]
    label = {"name": "l", "settings": {"type": "label_selection", "options": [{"value": "a"}, {"value": "b"}]}}
    assert http.post(f"/datasets/{ds}/questions", json=label).status_code == 201
    assert http.put(f"/datasets/{ds}/publish").json()["status"] == "ready"
    assert http.put(f"/datasets/{ds}/publish").status_code == 422
    assert http.post(f"/datasets/{ds}/fields", json={"name": "more", "settings": {"type": "text"}}).status_code == 422


def test_bulk_limit_external_id_matching_and_include(http: httpx.Client) -> None:
    ds = _draft(http)
    http.post(f"/datasets/{ds}/fields", json={"name": "text", "settings": {"type": "text"}})
    qid = http.post(f"/datasets/{ds}/questions", json={"name": "l", "settings": {
        "type": "label_selection", "options": [{"value": "a"}, {"value": "b"}]}}).json()["id"]
    http.put(f"/datasets/{ds}/publish")
    too_many = {"items": [{"fields": {"text": str(i)}, "external_id": str(i)} for i in range(501)]}
    assert http.put(f"/datasets/{ds}/records/bulk", json=too_many).status_code == 422
    assert http.put(f"/datasets/{ds}/records/bulk", json={"items": []}).status_code == 422
    items = {"items": [{"fields": {"text": "v1"}, "external_id": "e1",
                        "suggestions": [{"question_id": qid, "value": "a", "score": 0.5}]}]}
    first = http.put(f"/datasets/{ds}/records/bulk", json=items).json()["items"][0]
    items["items"][0]["fields"] = {"text": "v2"}
    items["items"][0]["suggestions"][0]["value"] = "b"
    second = http.put(f"/datasets/{ds}/records/bulk", json=items).json()["items"][0]
    assert second["id"] == first["id"] and second["fields"] == {"text": "v2"}
    assert [s["value"] for s in second["suggestions"]] == ["b"]  # replaced per question, not appended
    bad = {"items": [{"fields": {"text": "x"}, "suggestions": [{"question_id": qid, "value": "zzz"}]}]}
    assert http.put(f"/datasets/{ds}/records/bulk", json=bad).status_code == 422
    plain = http.get(f"/datasets/{ds}/records").json()["items"][0]
    assert "responses" not in plain and "suggestions" not in plain
    full = http.get(f"/datasets/{ds}/records", params=[("include", "responses"), ("include", "suggestions")])
    assert set(full.json()["items"][0]) >= {"responses", "suggestions"}
    assert http.get(f"/datasets/{ds}/records", params={"limit": 1001}).status_code == 422
    assert http.delete(f"/datasets/{ds}/records", params={"ids": first["id"]}).status_code == 204
    assert http.get(f"/datasets/{ds}/progress").json() == {"total": 0, "completed": 0, "pending": 0, "users": []}


def test_concurrent_creates_of_one_name_make_one_dataset(http: httpx.Client,
                                                         argilla_emulator: ArgillaEmulatorHandle) -> None:
    """Argilla keeps dataset names unique per workspace (409, the server's message), also under a race."""
    from dagster_labeling.testing import FaultConfig
    from dagster_labeling.testing.race import run_together

    argilla_emulator.set_faults(FaultConfig(latency_seconds=0.1))
    ws = http.get("/me/workspaces").json()["items"][0]["id"]
    answers = run_together(lambda i: http.post("/datasets", json={"name": "same", "workspace_id": ws}), 8)
    assert sorted(a.status_code for a in answers) == [201] + [409] * 7
    assert {a.json()["detail"] for a in answers if a.status_code == 409} == {
        f"Dataset with name `same` already exists for workspace with id `{ws}`"}
    assert len(argilla_emulator.state.datasets) == 1
    missing = http.post("/datasets", json={"name": "x", "workspace_id": "00000000-0000-0000-0000-000000000000"})
    assert missing.status_code == 422 and missing.json()["detail"].startswith("Workspace with id")
