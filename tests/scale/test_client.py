"""``ScaleClient`` operation by operation against the Scale emulator: typed results with the right values."""

import io
import re
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from dagster_labeling._core import InvalidInput, JobState, RetryPolicy, WaitOptions
from dagster_labeling.scale import (
    Batch,
    BatchStatusCounts,
    File,
    Project,
    QualityTask,
    ScaleClient,
    ScaleDuplicateResource,
    ScaleInvalidRequest,
    ScaleResourceNotFound,
    StudioBatch,
    StudioProjectGroup,
    Task,
    TaskReviewStatus,
    TaskStatus,
    TaskType,
    Teammate,
    TeammateRole,
)
from dagster_labeling.scale.models import TaskTemplate
from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
FAST = RetryPolicy(initial_backoff_seconds=0.01, max_backoff_seconds=0.05, max_retry_after_seconds=0.05)
CAT = {"instruction": "Red?", "attachment_type": "text", "attachment": "tomato", "categories": ["red", "blue"]}


@pytest.fixture
def emu(scale_emulator: ScaleEmulatorHandle) -> ScaleEmulatorHandle:
    """The emulator with tasks that stay pending until a test completes them."""
    scale_emulator.state.task_duration_seconds = 100_000
    scale_emulator.state.task_duration_jitter = 0
    return scale_emulator


@pytest.fixture
def client(emu: ScaleEmulatorHandle) -> Iterator[ScaleClient]:
    with ScaleClient(emu.api_key, base_url=emu.base_url, retry=FAST) as c:
        yield c


@pytest.fixture
def project(client: ScaleClient) -> str:
    client.create_project("proj", TaskType.Categorization, params={"instruction": "Pick a color"})
    return "proj"


def _queries(emu: ScaleEmulatorHandle, method: str, path: str) -> list[list[tuple[str, str]]]:
    return [parse_qsl(e.query) for e in emu.request_log.entries(method, path)]


def _stamp() -> str:
    """A time in the format the SDK documents for task filters; strictly between surrounding events."""
    time.sleep(0.02)
    value = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    time.sleep(0.02)
    return value


# -- tasks -----------------------------------------------------------------------------------------------
def test_create_task_of_several_types(client: ScaleClient, emu: ScaleEmulatorHandle, project: str) -> None:
    cat = client.create_task(TaskType.Categorization, project=project, unique_id="c-1", metadata={"row": 1},
                             tags=["t1"], callback_url="http://example.invalid/cb", **CAT)
    assert isinstance(cat, Task)
    assert (cat.type, cat.status, cat.project, cat.batch, cat.unique_id) == (
        "categorization", "pending", project, None, "c-1")
    assert cat.instruction == "Red?" and cat.metadata == {"row": 1} and cat.tags == ["t1"]
    assert cat.callback_url == "http://example.invalid/cb"
    # type parameters go flat and come back under params, with server defaults filled in
    assert cat.params == {"attachment_type": "text", "attachment": "tomato", "categories": ["red", "blue"],
                          "allow_multiple": False}
    assert ISO_MS.match(cat.created_at or "") and cat.completed_at is None

    text = client.create_task("textcollection", project=project, instruction="Collect",
                              attachments=[{"type": "text", "content": "x"}],
                              fields=[{"type": "text", "field_id": "name", "title": "Name"}])
    image = client.create_task(TaskType.ImageAnnotation, project=project, attachment="https://x/cat.png",
                               geometries={"box": {"objects_to_annotate": ["cat"]}})
    ner = client.create_task(TaskType.NamedEntityRecognition, project=project, text="Ada lives in London",
                             labels=[{"name": "PERSON"}])
    assert [t.type for t in (text, image, ner)] == ["textcollection", "imageannotation", "namedentityrecognition"]
    assert image.params["geometries"] == {"box": {"objects_to_annotate": ["cat"]}}
    assert ner.params["text"] == "Ada lives in London" and text.unique_id is None
    assert len({cat.task_id, text.task_id, image.task_id, ner.task_id}) == 4
    assert emu.state.task_count(project=project) == 4
    assert [e.path for e in emu.request_log.entries("POST")][-4:] == [
        "/v1/task/categorization", "/v1/task/textcollection", "/v1/task/imageannotation",
        "/v1/task/namedentityrecognition"]


def test_get_task_returns_the_current_state(client: ScaleClient, emu: ScaleEmulatorHandle, project: str) -> None:
    created = client.create_task("categorization", project=project, **CAT)
    got = client.get_task(created.task_id)
    assert isinstance(got, Task) and got.task_id == created.task_id and got.status == "pending"
    emu.state.complete_all()
    done = client.get_task(created.task_id)
    assert done.status == "completed" and done.response["category"] in ("red", "blue")
    assert ISO_MS.match(done.completed_at or "")


def test_get_tasks_is_lazy_across_pages(client: ScaleClient, emu: ScaleEmulatorHandle, project: str) -> None:
    client.create_batch(project, "many")
    rows = [(f"row-{i:03d}", {**CAT, "metadata": {"i": i}}) for i in range(230)]
    result = client.create_tasks("categorization", rows, batch="many", project=project, concurrency=8)
    assert not result.failures and len(result.created) == 230
    emu.request_log.clear()

    tasks = client.get_tasks(batch="many", page_size=25)
    assert emu.request_log.entries("GET", "/v1/tasks") == []  # nothing fetched before iterating
    first = next(tasks)
    assert isinstance(first, Task) and len(emu.request_log.entries("GET", "/v1/tasks")) == 1
    rest = list(tasks)
    everything = [first, *rest]
    assert len(everything) == 230 and len({t.task_id for t in everything}) == 230
    assert {t.unique_id for t in everything} == {k for k, _ in rows}
    queries = _queries(emu, "GET", "/v1/tasks")
    assert len(queries) == 10  # ceil(230 / 25)
    tokens = [dict(q).get("next_token") for q in queries]
    assert tokens[0] is None and len(set(tokens[1:])) == 9  # from page 2 on, each page's own (opaque) cursor
    assert all(dict(q)["limit"] == "25" and dict(q)["include_attachment_url"] == "True" for q in queries)

    emu.request_log.clear()
    limited = list(client.get_tasks(batch="many", page_size=20, limit=30))
    assert len(limited) == 30 and len(emu.request_log.entries("GET", "/v1/tasks")) == 2
    assert client.get_tasks_count(batch="many") == 230


def test_get_tasks_filters(client: ScaleClient, emu: ScaleEmulatorHandle, project: str) -> None:
    client.create_project("other", "categorization")
    client.create_batch(project, "fb1")
    client.create_batch(project, "fb2")
    t1 = client.create_task("categorization", batch="fb1", unique_id="f-1", tags=["red"], **CAT)
    t2 = client.create_task("categorization", batch="fb1", unique_id="f-2", tags=["red", "big"], **CAT)
    client.create_task("categorization", project="other", unique_id="o-1", tags=["red"], **CAT)
    emu.state.complete_all()
    mid = _stamp()
    t3 = client.create_task("textcollection", project=project, batch="fb2", unique_id="f-3", tags=["big"],
                            attachments=["a"], fields=[{"type": "text", "field_id": "x"}])
    t4 = client.create_task("categorization", project=project, batch="fb2", unique_id="f-4", **CAT)
    client.cancel_task(t4.task_id)
    emu.state.complete_all()  # t3
    client.audit_task(t1.task_id, True)
    client.audit_task(t2.task_id, False, comments="wrong")
    upd = _stamp()
    client.set_task_metadata(t2.task_id, {"touched": True})

    def ids(**filters: Any) -> set[str]:
        found = list(client.get_tasks(project=project, page_size=2, **filters))
        assert all(isinstance(t, Task) for t in found)
        return {t.unique_id or "" for t in found}

    assert ids() == {"f-1", "f-2", "f-3", "f-4"}
    assert ids(batch="fb1") == {"f-1", "f-2"}
    assert {t.unique_id for t in client.get_tasks(batch="fb2")} == {"f-3", "f-4"}
    assert ids(task_type=TaskType.TextCollection) == {"f-3"}
    assert ids(task_type="categorization") == {"f-1", "f-2", "f-4"}
    assert ids(status=TaskStatus.Canceled) == {"f-4"}
    assert ids(status="completed") == {"f-1", "f-2", "f-3"}
    assert ids(review_status=TaskReviewStatus.Accepted) == {"f-1"}
    assert ids(review_status=[TaskReviewStatus.Accepted, "rejected"]) == {"f-1", "f-2"}
    assert ids(unique_id="f-3") == {"f-3"}
    assert ids(unique_id=["f-1", "f-4"]) == {"f-1", "f-4"}
    assert ids(created_after=mid) == {"f-3", "f-4"}
    assert ids(created_before=mid) == {"f-1", "f-2"}
    assert ids(completed_after=mid) == {"f-3"}
    assert ids(completed_before=mid) == {"f-1", "f-2"}
    assert ids(updated_after=upd) == {"f-2"}
    assert ids(updated_before=upd) == {"f-1", "f-3", "f-4"}
    assert ids(tags="red") == {"f-1", "f-2"}
    assert ids(tags=["red", "big"]) == {"f-2"}
    assert ids(status="completed", tags="big") == {"f-2", "f-3"}
    assert client.get_tasks_count(project=project, status="completed") == 3
    assert client.get_tasks_count(project=project, review_status=["accepted", "rejected"]) == 2
    assert t3.type == "textcollection"

    # the renames and encodings Scale expects on the wire
    emu.request_log.clear()
    list(client.get_tasks(project=project, batch="fb1", task_type="categorization", status="completed",
                          review_status=["accepted", "fixed"], unique_id=["f-1", "f-2"], created_after=mid,
                          created_before=upd, completed_after=mid, completed_before=upd, updated_after=mid,
                          updated_before=upd, tags=["a", "b"], limited_response=True))
    (query,) = _queries(emu, "GET", "/v1/tasks")
    assert sorted(query) == sorted([
        ("project", project), ("batch", "fb1"), ("type", "categorization"), ("status", "completed"),
        ("customer_review_status", "accepted,fixed"), ("unique_id", "f-1"), ("unique_id", "f-2"),
        ("start_time", mid), ("end_time", upd), ("completed_after", mid), ("completed_before", upd),
        ("updated_after", mid), ("updated_before", upd), ("tags", "a"), ("tags", "b"),
        ("include_attachment_url", "True"), ("limited_response", "True"), ("limit", "100"),
    ])


def test_limited_response(client: ScaleClient, project: str) -> None:
    client.create_task("categorization", project=project, metadata={"k": "v"}, **CAT)
    (task,) = client.get_tasks(project=project, limited_response=True)
    assert task.metadata == {"k": "v"} and task.status == "pending" and task.params == {}


def test_cancel_and_clear_unique_id_frees_it(client: ScaleClient, emu: ScaleEmulatorHandle, project: str) -> None:
    first = client.create_task("categorization", project=project, unique_id="reuse-me", **CAT)
    canceled = client.cancel_task(first.task_id, clear_unique_id=True)
    assert canceled.status == "canceled" and canceled.unique_id is None and canceled.task_id == first.task_id
    second = client.create_task("categorization", project=project, unique_id="reuse-me", **CAT)
    assert second.task_id != first.task_id and second.status == "pending" and second.unique_id == "reuse-me"
    assert emu.state.task_count(unique_id="reuse-me") == 1

    kept = client.cancel_task(second.task_id)
    assert kept.status == "canceled" and kept.unique_id == "reuse-me"
    # without clearing, the unique_id still names the canceled task: a keyed create returns it
    again = client.create_task("categorization", project=project, unique_id="reuse-me", **CAT)
    assert again.task_id == second.task_id and again.status == "canceled"
    assert emu.state.task_count(project=project) == 2
    with pytest.raises(ScaleInvalidRequest, match="already been canceled"):
        client.cancel_task(second.task_id)


def test_audit_task(client: ScaleClient, emu: ScaleEmulatorHandle, project: str) -> None:
    task = client.create_task("categorization", project=project, **CAT)
    emu.state.complete_all()
    assert client.audit_task(task.task_id, False, comments="nope") is None
    audited = client.get_task(task.task_id)
    assert audited.customer_review_status == "rejected"
    assert [(a["accepted"], a["comments"]) for a in audited.audits] == [(False, "nope")]
    client.audit_task(task.task_id, True)
    assert client.get_task(task.task_id).customer_review_status == "accepted"
    body = emu.request_log.entries("POST", f"/v1/task/{task.task_id}/audit")[-1].json()
    assert body == {"accepted": True, "comments": None}


def test_unique_id_update_and_clear(client: ScaleClient, emu: ScaleEmulatorHandle, project: str) -> None:
    a = client.create_task("categorization", project=project, unique_id="a", **CAT)
    b = client.create_task("categorization", project=project, **CAT)
    assert client.update_task_unique_id(b.task_id, "b").unique_id == "b"
    with pytest.raises(ScaleDuplicateResource, match="already used"):
        client.update_task_unique_id(b.task_id, "a")
    cleared = client.clear_task_unique_id(a.task_id)
    assert cleared.unique_id is None and client.get_task(a.task_id).unique_id is None
    assert client.update_task_unique_id(b.task_id, "a").unique_id == "a"
    assert [t["task_id"] for t in emu.state.tasks_by_unique_id("a")] == [b.task_id]
    assert emu.state.tasks_by_unique_id("b") == []


def test_metadata_and_tags(client: ScaleClient, project: str) -> None:
    task = client.create_task("categorization", project=project, metadata={"old": 1}, tags=["x"], **CAT)
    assert client.set_task_metadata(task.task_id, {"new": {"nested": [1, 2]}}).metadata == {"new": {"nested": [1, 2]}}
    assert client.get_task(task.task_id).metadata == {"new": {"nested": [1, 2]}}  # replaced, not merged
    assert client.set_task_tags(task.task_id, ["a", "b"]).tags == ["a", "b"]
    assert client.add_task_tags(task.task_id, ["b", "c"]).tags == ["a", "b", "c"]
    assert client.delete_task_tags(task.task_id, ["a", "c"]).tags == ["b"]
    assert client.get_task(task.task_id).tags == ["b"]


# -- batches ---------------------------------------------------------------------------------------------
def test_batches(client: ScaleClient, emu: ScaleEmulatorHandle, project: str) -> None:
    batch = client.create_batch(project, "b/1 two", callback="ops@example.com", metadata={"run": 7})
    assert isinstance(batch, Batch)
    assert (batch.name, batch.project, batch.status, batch.metadata, batch.callback) == (
        "b/1 two", project, "staging", {"run": 7}, "ops@example.com")
    assert ISO_MS.match(batch.created_at or "")

    again, created = client.get_or_create_batch(project, "b/1 two")
    assert created is False and again.name == "b/1 two" and again.metadata == {"run": 7}
    fresh, created = client.get_or_create_batch(project, "b2")
    assert created is True and fresh.status == "staging"
    assert sorted(emu.state.batches) == ["b/1 two", "b2"]
    client.create_project("elsewhere", "categorization")
    with pytest.raises(InvalidInput, match="already exists in project 'proj'"):
        client.get_or_create_batch("elsewhere", "b2")

    for i in range(3):
        client.create_task("categorization", batch="b/1 two", unique_id=f"bt-{i}", **CAT)
    client.cancel_task(emu.state.tasks_by_unique_id("bt-2")[0]["task_id"])
    status = client.batch_status("b/1 two")
    assert isinstance(status, BatchStatusCounts)
    assert (status.status, status.pending, status.completed, status.canceled, status.total) == ("staging", 2, 0, 1, 3)

    finalized = client.finalize_batch("b/1 two")
    assert finalized.status == "in_progress" and client.get_batch("b/1 two").status == "in_progress"
    assert client.finalize_batch("b/1 two").status == "in_progress"  # a no-op the second time
    assert client.set_batch_metadata("b/1 two", {"run": 8}).metadata == {"run": 8}
    assert client.get_batch("b/1 two").metadata == {"run": 8}
    emu.state.complete_all()
    assert client.batch_status("b/1 two").status == "completed"
    assert client.get_batch("b/1 two").status == "completed"


def test_get_batches_pages_by_offset(client: ScaleClient, emu: ScaleEmulatorHandle, project: str) -> None:
    client.create_project("p2", "categorization")
    for i in range(103):
        client.create_batch(project, f"page-{i:03d}")
    client.create_batch("p2", "not-mine")
    client.finalize_batch("page-000")
    emu.request_log.clear()
    names = [b.name for b in client.get_batches(project=project)]
    assert names == [f"page-{i:03d}" for i in range(103)]
    assert [dict(q)["offset"] for q in _queries(emu, "GET", "/v1/batches")] == ["0", "100"]
    assert all("limit" not in dict(q) for q in _queries(emu, "GET", "/v1/batches"))  # as the SDK: no limit
    assert [b.name for b in client.get_batches(project=project, status="in_progress")] == ["page-000"]
    assert all(isinstance(b, Batch) for b in client.get_batches(project="p2"))
    assert [b.name for b in client.get_batches(project="p2", exclude_archived=True)] == ["not-mine"]
    assert len(list(client.get_batches())) == 104


def test_batch_job_wait(client: ScaleClient, emu: ScaleEmulatorHandle, project: str) -> None:
    emu.state.task_duration_seconds = 0.05
    client.create_batch(project, "jobbed")
    for i in range(4):
        client.create_task("categorization", batch="jobbed", unique_id=f"j-{i}", **CAT)
    job = client.batch_job("jobbed")
    assert job.url == f"{emu.server.url}/scale/dashboard/batches/jobbed"  # the emulator's page
    assert job.refresh().state is JobState.PENDING  # staging
    client.finalize_batch("jobbed")
    status = job.wait(WaitOptions(timeout_seconds=15, poll_interval_seconds=0.05, max_poll_interval_seconds=0.1))
    assert status.state is JobState.SUCCEEDED and status.raw_status == "completed"
    assert (status.done, status.total) == (4, 4)
    assert all(t.status == "completed" for t in client.get_tasks(batch="jobbed"))


# -- projects --------------------------------------------------------------------------------------------
def test_projects(client: ScaleClient, emu: ScaleEmulatorHandle) -> None:
    created = client.create_project("p/one two", TaskType.TextCollection,
                                    params={"instruction": "v0", "template_variables": {"lang": "en"}})
    assert isinstance(created, Project)
    assert (created.name, created.type) == ("p/one two", "textcollection")
    assert [h["version"] for h in created.param_history] == [0]
    client.create_project("plain", "categorization")
    got = client.get_project("p/one two")
    assert got.name == "p/one two" and got.param_history[-1]["instruction"] == "v0"
    listed = client.get_projects()
    assert all(isinstance(p, Project) for p in listed) and [p.name for p in listed] == ["p/one two", "plain"]

    patched = client.update_project("p/one two", patch=True, instruction="v1")
    assert [h["version"] for h in patched.param_history] == [0, 1]
    assert patched.param_history[-1]["instruction"] == "v1" and "template_variables" in patched.param_history[-1]
    replaced = client.update_project("p/one two", patch=False, instruction="v2")
    assert replaced.param_history[-1] == {**replaced.param_history[-1], "instruction": "v2", "version": 2}
    assert "template_variables" not in replaced.param_history[-1]

    client.update_project("plain", patch=False, template_variables={"a": 1, "b": 2})
    template = client.get_project_template("plain")
    assert isinstance(template, TaskTemplate) and template.version == 1 and template.id
    assert sorted(template.template_variables) == ["a", "b"]
    assert emu.request_log.entries("GET", "/v1/projects/p%2Fone%20two")


# -- files -----------------------------------------------------------------------------------------------
def test_upload_file_from_path_and_object(client: ScaleClient, emu: ScaleEmulatorHandle, project: str,
                                          tmp_path: Path) -> None:
    path = tmp_path / "cat.png"
    path.write_bytes(b"\x89PNG fake image bytes")
    uploaded = client.upload_file(path, project_name=project)
    assert isinstance(uploaded, File)
    assert uploaded.attachment_url == f"scaledata://{uploaded.id}/cat.png"
    assert uploaded.size == len(b"\x89PNG fake image bytes") and uploaded.project_names == [project]
    assert uploaded.mime_type == "image/png"
    assert emu.state.file_contents[uploaded.id] == b"\x89PNG fake image bytes"

    with path.open("rb") as handle:
        from_handle = client.upload_file(handle)
    assert from_handle.attachment_url.endswith("/cat.png") and from_handle.project_names == []
    anonymous = client.upload_file(io.BytesIO(b"hello"), project_name=project)
    assert anonymous.attachment_url == f"scaledata://{anonymous.id}/file"  # requests' fallback name
    assert emu.state.file_contents[anonymous.id] == b"hello" and anonymous.size == 5

    before = len(emu.request_log)
    with pytest.raises(InvalidInput, match="no such file"):
        client.upload_file(tmp_path / "missing.png")
    assert len(emu.request_log) == before


def test_import_file(client: ScaleClient, emu: ScaleEmulatorHandle, project: str) -> None:
    imported = client.import_file("https://example.com/img/dog.jpg", project_name=project)
    assert isinstance(imported, File)
    assert imported.attachment_url == f"scaledata://{imported.id}/dog.jpg"
    assert imported.mime_type == "image/jpeg" and imported.project_names == [project]
    body = emu.request_log.entries("POST", "/v1/files/import")[-1].json()
    assert body == {"file_url": "https://example.com/img/dog.jpg", "project_name": project}


# -- quality tasks ---------------------------------------------------------------------------------------
def test_evaluation_and_training_tasks(client: ScaleClient, emu: ScaleEmulatorHandle, project: str) -> None:
    evaluation = client.create_evaluation_task(TaskType.Categorization, project=project,
                                               expected_response={"category": "red"},
                                               initial_response={"category": "blue"}, **CAT)
    training = client.create_training_task("categorization", project=project,
                                           expected_response={"category": "blue"}, **CAT)
    assert isinstance(evaluation, QualityTask) and isinstance(training, QualityTask)
    assert evaluation.expected_response == {"category": "red"}
    assert evaluation.initial_response == {"category": "blue"}
    assert training.expected_response == {"category": "blue"} and training.initial_response is None
    assert emu.state.quality_tasks[evaluation.id]["kind"] == "evaluation"
    assert emu.state.quality_tasks[training.id]["kind"] == "training"
    assert emu.request_log.entries("POST", "/v1/evaluation_tasks/categorization")
    assert emu.request_log.entries("POST", "/v1/training_tasks/categorization")
    with pytest.raises(ScaleInvalidRequest, match="expected_response"):
        client.create_training_task("categorization", project=project)


# -- teams -----------------------------------------------------------------------------------------------
def test_teammates(client: ScaleClient) -> None:
    (admin,) = client.list_teammates()
    assert isinstance(admin, Teammate)
    assert (admin.email, admin.role, admin.first_name, admin.is_studio_labeler) == (
        "admin@emulator.local", "admin", "Ada", False)
    team = client.invite_teammates(["l1@x.com", "l2@x.com"], TeammateRole.Labeler)
    assert {t.email: t.role for t in team} == {"admin@emulator.local": "admin", "l1@x.com": "labeler",
                                                "l2@x.com": "labeler"}
    team = client.update_teammates_role(["l2@x.com"], "manager")
    assert {t.email: t.role for t in team}["l2@x.com"] == "manager"
    assert {t.email: t.role for t in client.list_teammates()}["l2@x.com"] == "manager"
    with pytest.raises(ScaleResourceNotFound, match="Not on the team"):
        client.update_teammates_role(["stranger@x.com"], "member")


# -- studio ----------------------------------------------------------------------------------------------
def test_studio(client: ScaleClient, emu: ScaleEmulatorHandle, project: str) -> None:
    assert client.list_studio_assignments() == {}
    client.create_project("p2", "categorization")
    assert client.add_studio_assignments(["a@x.com", "b@x.com"], [project, "p2"]) == {
        "a@x.com": [project, "p2"], "b@x.com": [project, "p2"]}
    assert client.remove_studio_assignments(["a@x.com"], ["p2"]) == {"a@x.com": [project], "b@x.com": [project, "p2"]}
    assert client.list_studio_assignments()["a@x.com"] == [project]

    assert client.list_project_groups(project) == []
    group = client.create_project_group(project, ["a@x.com"], "night/shift A")
    assert isinstance(group, StudioProjectGroup)
    assert (group.name, group.num_workers, group.is_singleton) == ("night/shift A", 1, False)
    updated = client.update_project_group(project, "night/shift A", add_emails=["b@x.com"], remove_emails=["a@x.com"])
    assert [w.email for w in updated.workers] == ["b@x.com"] and updated.id == group.id
    assert emu.request_log.entries("PUT", f"/v1/studio/projects/{project}/groups/night%2Fshift%20A")
    (listed,) = client.list_project_groups(project)
    assert listed.name == "night/shift A" and listed.num_workers == 1

    client.create_batch(project, "sb/1")
    client.create_batch(project, "sb 2")
    client.create_task("categorization", batch="sb/1", **CAT)
    batches = client.list_studio_batches()
    assert all(isinstance(b, StudioBatch) for b in batches)
    assert [(b.name, b.project_name, b.total, b.completed, b.studio_priority) for b in batches] == [
        ("sb/1", project, 1, 0, None), ("sb 2", project, 0, 0, None)]
    assigned = client.assign_studio_batches("sb/1", ["night/shift A"])
    assert assigned.groups == ["night/shift A"] and assigned.batch_type == "Production"
    prioritized = client.set_studio_batches_priorities(["sb 2", "sb/1"])
    assert {b.name: b.studio_priority for b in prioritized} == {"sb 2": 1, "sb/1": 2}
    reset = client.reset_studio_batches_priorities()
    assert {b.name: b.studio_priority for b in reset} == {"sb 2": None, "sb/1": None}
    assert client.list_studio_batches()[0].groups == ["night/shift A"]


def test_task_url_and_repr(client: ScaleClient, emu: ScaleEmulatorHandle) -> None:
    assert client.task_url("abc") == f"{emu.server.url}/scale/dashboard/tasks/abc"  # on the emulator: its pages
    assert client.batch_url("a/b c") == f"{emu.server.url}/scale/dashboard/batches/a%2Fb%20c"
    assert client.base_url == emu.base_url
    assert emu.api_key not in repr(client)
