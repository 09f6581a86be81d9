"""The official ``scaleapi`` SDK, unchanged, against the Scale emulator: every method of its README."""

import io
import re
from datetime import datetime, timedelta, timezone

import pytest
import scaleapi
from scaleapi.exceptions import (
    ScaleDuplicateResource,
    ScaleInvalidRequest,
    ScaleResourceNotFound,
    ScaleUnauthorized,
)
from scaleapi.tasks import TaskReviewStatus, TaskStatus, TaskType
from scaleapi.teams import TeammateRole

from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def client(scale_emulator: ScaleEmulatorHandle) -> scaleapi.ScaleClient:
    # tasks stay pending until the test calls complete_all() (the fixture restores the default after)
    scale_emulator.state.task_duration_seconds = 3600
    return scaleapi.ScaleClient(scale_emulator.api_key, api_instance_url=scale_emulator.base_url)


@pytest.fixture
def project(client: scaleapi.ScaleClient) -> str:
    client.create_project("proj", TaskType.TextCollection, params={"instruction": "Collect things"})
    return "proj"


def _textcollection(client: scaleapi.ScaleClient, i: int, **kw):
    return client.create_task(
        TaskType.TextCollection,
        project=kw.pop("project", "proj"),
        instruction="Collect",
        attachments=[{"type": "text", "content": f"t{i}"}],
        fields=[{"type": "category", "field_id": "color", "title": "Color", "choices": [{"label": "red"}]}],
        unique_id=kw.pop("unique_id", f"tc-{i}"),
        **kw,
    )


def test_auth_basic_and_bearer_and_wrong_key(scale_emulator: ScaleEmulatorHandle) -> None:
    bad = scaleapi.ScaleClient("wrong-key", api_instance_url=scale_emulator.base_url)
    with pytest.raises(ScaleUnauthorized) as err:
        bad.get_projects()
    assert err.value.code == 401
    import httpx

    r = httpx.get(f"{scale_emulator.base_url}/projects", headers={"Authorization": f"Bearer {scale_emulator.api_key}"})
    assert r.status_code == 200 and r.json() == []
    r = httpx.get(f"{scale_emulator.base_url}/projects")
    assert r.status_code == 401 and r.json()["status_code"] == 401 and r.json()["error"]


def test_projects(client: scaleapi.ScaleClient, scale_emulator: ScaleEmulatorHandle) -> None:
    p = client.create_project("proj", TaskType.ImageAnnotation, params={"instruction": "Label kittens"})
    assert p.name == "proj" and p.type == "imageannotation"
    with pytest.raises(ScaleDuplicateResource):
        client.create_project("proj", TaskType.ImageAnnotation)
    with pytest.raises(ScaleInvalidRequest):
        scale_emulator.request_log.clear()
        client.create_project("", TaskType.ImageAnnotation)
    assert client.get_project("proj").name == "proj"
    with pytest.raises(ScaleResourceNotFound):
        client.get_project("nope")
    client.create_project("other/one two", TaskType.Categorization)
    assert sorted(x.name for x in client.get_projects()) == ["other/one two", "proj"]
    assert client.get_project("other/one two").type == "categorization"
    updated = client.update_project("proj", patch=False, instruction="update: label all")
    assert updated.instruction == "update: label all" and updated.version == 1
    assert [h["version"] for h in updated.as_dict()["param_history"]] == [0, 1]
    assert client.get_project("proj").get_template().version == 1
    tmpl = client.get_project_template("proj")
    assert tmpl.id and tmpl.version == 1 and tmpl.template_variables == []


def test_create_task_shape_and_validation(client: scaleapi.ScaleClient, scale_emulator: ScaleEmulatorHandle) -> None:
    client.create_project("img", TaskType.ImageAnnotation)
    task = client.create_task(
        TaskType.ImageAnnotation,
        project="img",
        callback_url="http://127.0.0.1:9/cb",
        instruction="Draw a box around each baby cow and big cow.",
        attachment_type="image",
        attachment="http://i.imgur.com/v4cBreD.jpg",
        unique_id="cow-1",
        metadata={"my_id": 42},
        tags=["t1"],
        geometries={"box": {"objects_to_annotate": ["Baby Cow", "Big Cow"], "min_height": 10, "min_width": 10}},
    )
    d = task.as_dict()
    assert re.fullmatch(r"[0-9a-f]{24}", task.id)
    assert d["status"] == "pending" and d["type"] == "imageannotation" and d["project"] == "img"
    assert d["params"]["attachment"] == "http://i.imgur.com/v4cBreD.jpg"
    assert "geometries" in d["params"] and "attachment" not in d and "unique_id" not in d["params"]
    assert d["unique_id"] == "cow-1" and d["metadata"] == {"my_id": 42} and d["tags"] == ["t1"]
    assert ISO_MS.match(d["created_at"]) and ISO_MS.match(d["updated_at"])
    with pytest.raises(ScaleDuplicateResource) as dup:
        client.create_task(
            TaskType.ImageAnnotation, project="img", attachment="x", geometries={"box": {}}, unique_id="cow-1"
        )
    assert "already used for a different task" in dup.value.message
    with pytest.raises(ScaleInvalidRequest):  # missing geometries
        client.create_task(TaskType.ImageAnnotation, project="img", attachment="http://x/y.jpg")
    r = __import__("httpx").post(f"{scale_emulator.base_url}/task/notatype", json={}, auth=(scale_emulator.api_key, ""))
    assert r.status_code == 400 and r.json()["status_code"] == 400
    with pytest.raises(ScaleResourceNotFound):
        client.create_task(
            TaskType.ImageAnnotation, project="img", batch="missing", attachment="a", geometries={"box": {}}
        )
    with pytest.raises(ScaleResourceNotFound):
        client.get_task("0" * 24)
    # the emulator completes it with boxes carrying the requested labels
    scale_emulator.state.complete_all()
    done = client.get_task(task.id).as_dict()
    assert done["status"] == "completed" and ISO_MS.match(done["completed_at"])
    assert sorted(a["label"] for a in done["response"]["annotations"]) == ["Baby Cow", "Big Cow"]
    assert all(a["type"] == "box" and a["width"] > 0 for a in done["response"]["annotations"])


def test_task_mutations(client: scaleapi.ScaleClient, project: str, scale_emulator: ScaleEmulatorHandle) -> None:
    t = _textcollection(client, 0)
    other = _textcollection(client, 1)
    assert client.set_task_metadata(t.id, {"myKey": "myValue"}).metadata == {"myKey": "myValue"}
    assert client.set_task_tags(t.id, ["tag1", "tag2", "tag3"]).tags == ["tag1", "tag2", "tag3"]
    assert client.add_task_tags(t.id, ["tag3", "tag4"]).tags == ["tag1", "tag2", "tag3", "tag4"]
    assert client.delete_task_tags(t.id, ["tag1", "tag2"]).tags == ["tag3", "tag4"]
    delete = scale_emulator.request_log.entries("DELETE", f"/v1/task/{t.id}/tags")
    assert delete and delete[-1].json() == ["tag1", "tag2"]
    assert delete[-1].headers["authorization"] == "Basic <redacted>"
    assert delete[-1].headers["user-agent"].startswith("scaleapi/")
    assert client.update_task_unique_id(t.id, "new_unique_id").unique_id == "new_unique_id"
    with pytest.raises(ScaleDuplicateResource):
        client.update_task_unique_id(other.id, "new_unique_id")
    assert client.clear_task_unique_id(t.id).unique_id is None
    assert client.update_task_unique_id(other.id, "new_unique_id").unique_id == "new_unique_id"
    # cancel: clear_unique_id frees the id; cancelling twice is a 400
    canceled = client.cancel_task(other.id, clear_unique_id=True)
    assert canceled.status == "canceled" and canceled.unique_id is None
    assert scale_emulator.request_log.entries("POST", f"/v1/task/{other.id}/cancel")[-1].query == "clear_unique_id=true"
    with pytest.raises(ScaleInvalidRequest):
        client.cancel_task(other.id)
    again = _textcollection(client, 2, unique_id="new_unique_id")
    assert again.id != other.id
    # audits need a completed task
    with pytest.raises(ScaleInvalidRequest):
        client.audit_task(t.id, True)
    scale_emulator.state.complete_all()
    assert client.audit_task(t.id, False, "Rejected due to quality") is None
    audited = client.get_task(t.id)
    assert audited.customer_review_status == "rejected"
    assert audited.audits[-1]["comments"] == "Rejected due to quality"
    client.get_task(t.id).audit(True)
    assert client.get_task(t.id).customer_review_status == "accepted"
    with pytest.raises(ScaleInvalidRequest):  # completed tasks cannot be canceled
        client.cancel_task(t.id)


def test_task_listing_filters_and_paging(
    client: scaleapi.ScaleClient, project: str, scale_emulator: ScaleEmulatorHandle
) -> None:
    client.create_batch(project, "b1")
    ids = [
        _textcollection(client, i, batch="b1" if i < 3 else None, tags=["a", "b"] if i % 2 else ["a"]).id
        for i in range(5)
    ]
    page = client.tasks(project=project, limit=2)
    assert (page.total, page.limit, page.offset, page.has_more) == (5, 2, 0, True)
    assert [t.id for t in page.docs] == ids[:2] and page.next_token and not page.next_token.isdigit()  # opaque
    assert [t.id for t in client.get_tasks(project_name=project, limit=2)] == ids
    assert "next_token=" in scale_emulator.request_log.entries("GET", "/v1/tasks")[-1].query
    assert client.get_tasks_count(project_name=project) == 5
    assert client.get_tasks_count(project_name=project, batch_name="b1") == 3
    assert [t.id for t in client.get_tasks(batch_name="b1")] == ids[:3]
    assert client.get_tasks_count(project_name=project, tags=["a", "b"]) == 2
    assert [t.id for t in client.get_tasks(project_name=project, unique_id=["tc-1", "tc-3"])] == [ids[1], ids[3]]
    assert client.get_tasks_count(project_name=project, task_type=TaskType.Categorization) == 0
    assert client.get_tasks_count(project_name=project, status=TaskStatus.Pending) == 5
    with pytest.raises(ValueError):
        list(client.get_tasks())
    limited = list(client.get_tasks(project_name=project, limited_response=True))
    assert set(limited[0].as_dict()) == {"task_id", "status", "metadata", "project", "otherVersion"}

    now = datetime.now(timezone.utc)
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    before, after = (now - timedelta(hours=1)).strftime(fmt), (now + timedelta(hours=1)).strftime(fmt)
    assert client.get_tasks_count(project_name=project, created_after=before, created_before=after) == 5
    assert client.get_tasks_count(project_name=project, created_after=after) == 0
    assert client.get_tasks_count(project_name=project, completed_after=before) == 0
    assert client.get_tasks_count(project_name=project, updated_before=before) == 0
    scale_emulator.state.complete_all()
    client.audit_task(ids[0], True)
    client.audit_task(ids[1], False)
    # the README example: completed, accepted, in a created/completed window
    found = client.get_tasks(
        project_name=project,
        created_after=before,
        completed_before=after,
        status=TaskStatus.Completed,
        review_status=TaskReviewStatus.Accepted,
    )
    assert [t.id for t in found] == [ids[0]]
    assert (
        client.get_tasks_count(
            project_name=project, review_status=[TaskReviewStatus.Accepted, TaskReviewStatus.Rejected]
        )
        == 2
    )
    assert (
        "customer_review_status=accepted%2Crejected" in scale_emulator.request_log.entries("GET", "/v1/tasks")[-1].query
    )
    assert client.get_tasks_count(project_name=project, completed_after=before, updated_after=before) == 5
    with pytest.raises(ScaleInvalidRequest):
        client.tasks(project=project, limit=101)
    with pytest.raises(ScaleInvalidRequest):
        client.tasks(project=project, limit=0)


def test_batches(client: scaleapi.ScaleClient, project: str, scale_emulator: ScaleEmulatorHandle) -> None:
    b = client.create_batch(project, "batch_01", metadata={"k": 1})
    assert (b.name, b.status, b.project, b.metadata) == ("batch_01", "staging", project, {"k": 1})
    special = client.create_batch(project, "batch/02 special")
    assert special.name == "batch/02 special"
    assert scale_emulator.request_log.entries("POST", "/v1/batches")
    assert client.get_batch("batch/02 special").name == "batch/02 special"
    assert scale_emulator.request_log.entries("GET", "/v1/batches/batch%2F02%20special")
    with pytest.raises(ScaleDuplicateResource):
        client.create_batch(project, "batch_01")
    with pytest.raises(ScaleResourceNotFound):
        client.get_batch("nope")
    with pytest.raises(ScaleResourceNotFound):
        client.create_batch("no-such-project", "x")
    assert client.set_batch_metadata("batch_01", {"new": "meta"}).metadata == {"new": "meta"}
    t1 = _textcollection(client, 1, batch="batch_01")
    t2 = _textcollection(client, 2, batch="batch_01")
    t3 = _textcollection(client, 3, batch="batch_01")
    client.cancel_task(t3.id)
    assert client.batch_status("batch_01") == {
        "status": "staging",
        "pending": 2,
        "completed": 0,
        "error": 0,
        "canceled": 1,
    }
    assert client.finalize_batch("batch_01").status == "in_progress"
    scale_emulator.state.inject_error(t2.id)
    scale_emulator.state.complete_all()
    batch = client.get_batch("batch_01")
    assert batch.get_status()["status"] == "completed"
    assert (batch.tasks_completed, batch.tasks_error, batch.tasks_canceled, batch.tasks_pending) == (1, 1, 1, 0)
    assert client.get_task(t1.id).status == "completed" and client.get_task(t2.id).status == "error"
    with pytest.raises(ScaleInvalidRequest):  # a completed batch takes no tasks
        _textcollection(client, 9, batch="batch_01")
    for i in range(3):
        client.create_batch(project, f"more_{i}")
    page = client.batches(project=project, limit=2, offset=0)
    assert (page.total, page.limit, page.offset, page.has_more) == (5, 2, 0, True)
    assert [x.name for x in client.get_batches(project_name=project)] == [
        "batch_01",
        "batch/02 special",
        "more_0",
        "more_1",
        "more_2",
    ]
    assert [x.name for x in client.get_batches(project_name=project, batch_status=scaleapi.BatchStatus.Completed)] == [
        "batch_01"
    ]
    assert [x.name for x in client.get_batches(project_name=project, created_after="2099-01-01")] == []


def test_files(client: scaleapi.ScaleClient, project: str, scale_emulator: ScaleEmulatorHandle) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20
    f = io.BytesIO(png)
    f.name = "/tmp/pixel.png"
    uploaded = client.upload_file(file=f, project_name=project)
    assert uploaded.attachment_url.startswith("scaledata://") and uploaded.id
    assert scale_emulator.state.file_contents[uploaded.id] == png
    assert scale_emulator.state.files[uploaded.id]["project_names"] == [project]
    assert scale_emulator.state.files[uploaded.id]["attachment_url"].endswith("/pixel.png")
    imported = client.import_file("http://i.imgur.com/v4cBreD.jpg", project_name=project)
    assert imported.id != uploaded.id and imported.attachment_url.startswith("scaledata://")
    assert scale_emulator.request_log.entries("POST", "/v1/files/import")[-1].json()["file_url"].endswith(".jpg")


def test_quality_tasks(client: scaleapi.ScaleClient, project: str) -> None:
    expected = {"annotations": {"color": ["red"]}}
    ev = client.create_evaluation_task(
        TaskType.TextCollection,
        project=project,
        attachments=[{"type": "text", "content": "x"}],
        expected_response=expected,
        initial_response={"annotations": {}},
    )
    assert ev.id and ev.expected_response == expected and ev.as_dict()["initial_response"] == {"annotations": {}}
    tr = client.create_training_task(TaskType.TextCollection, project=project, expected_response=expected)
    assert tr.id and tr.id != ev.id and tr.expected_response == expected
    with pytest.raises(ScaleInvalidRequest):
        client.create_training_task(TaskType.TextCollection, project=project)


def test_teams(client: scaleapi.ScaleClient) -> None:
    assert [m.email for m in client.list_teammates()] == ["admin@emulator.local"]
    team = client.invite_teammates(["e1@example.com", "e2@example.com"], TeammateRole.Member)
    assert {m.email: m.role for m in team}["e2@example.com"] == "member"
    team = client.update_teammates_role(["e1@example.com"], TeammateRole.Manager)
    assert {m.email: m.role for m in team} == {
        "admin@emulator.local": "admin",
        "e1@example.com": "manager",
        "e2@example.com": "member",
    }
    with pytest.raises(ScaleResourceNotFound):
        client.update_teammates_role(["ghost@example.com"], TeammateRole.Admin)


def test_studio(client: scaleapi.ScaleClient, project: str) -> None:
    assert client.list_studio_assignments() == {}
    added = client.add_studio_assignments(["e1@example.com"], [project])
    assert {e: a.assigned_projects for e, a in added.items()} == {"e1@example.com": [project]}
    listed = client.list_studio_assignments()
    assert {e: a.assigned_projects for e, a in listed.items()} == {"e1@example.com": [project]}
    assert client.remove_studio_assignments(["e1@example.com"], [project]) == {}
    g = client.create_project_group(project, ["e1@example.com"], "group/a")
    assert (g.name, g.numWorkers, g.isSingleton) == ("group/a", 1, False)
    with pytest.raises(ScaleDuplicateResource):
        client.create_project_group(project, [], "group/a")
    g = client.update_project_group(project, "group/a", ["e2@example.com"], ["e1@example.com"])
    assert g.numWorkers == 1 and [w["email"] for w in g.as_dict()["workers"]] == ["e2@example.com"]
    assert [x.name for x in client.list_project_groups(project)] == ["group/a"]
    client.create_batch(project, "sb/1")
    client.create_batch(project, "sb2")
    _textcollection(client, 1, batch="sb/1")
    sb = client.assign_studio_batches("sb/1", ["group/a"])
    assert (sb.name, sb.groups, sb.total, sb.completed, sb.project_name) == ("sb/1", ["group/a"], 1, 0, project)
    prio = client.set_studio_batches_priorities(["sb2", "sb/1"])
    assert {b.name: b.studio_priority for b in prio} == {"sb2": 1, "sb/1": 2}
    assert all(b.studio_priority is None for b in client.reset_studio_batches_priorities())
    assert [b.name for b in client.list_studio_batches()] == ["sb/1", "sb2"]


def test_v2_get_task_and_tasks(client: scaleapi.ScaleClient, project: str, scale_emulator: ScaleEmulatorHandle) -> None:
    t = _textcollection(client, 0)
    _textcollection(client, 1)
    _textcollection(client, 2)
    client.v2.api_client.configuration.host = scale_emulator.base_url[: -len("/v1")]
    v2 = client.v2.get_task(task_id=t.id)
    assert v2.task_id == t.id and v2.status == "pending"
    ids = [x.task_id for x in client.v2_get_tasks(project_name=project, limit=2)]
    assert len(ids) == 3 and ids[0] == t.id
