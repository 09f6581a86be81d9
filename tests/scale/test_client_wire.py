"""Wire parity: our ``ScaleClient`` sends what the official ``scaleapi`` SDK sends, as the emulator logs it.

Each case calls the SDK and our client with the same arguments and compares method, raw (percent-encoded)
path, query pairs, JSON body and headers. Legitimate differences:

* ``User-Agent``: the SDK sends ``scaleapi/2.18.4 Python/… OS/…``; we identify as ``dagster-labeling/…``.
* Header order, ``Host``, ``Content-Length`` (and the multipart boundary) are not part of the contract.
* Query *order*: pairs are compared as a multiset; a server must not care about order.
* In a multipart upload httpx adds a ``Content-Type`` to the file part (requests sends none).
"""

import base64
import email.parser
import email.policy
import io
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import scaleapi
from scaleapi.tasks import TaskReviewStatus as SdkReviewStatus
from scaleapi.tasks import TaskStatus as SdkTaskStatus
from scaleapi.tasks import TaskType as SdkTaskType
from scaleapi.teams import TeammateRole as SdkRole

from dagster_labeling._core import RetryPolicy
from dagster_labeling.scale import ScaleClient
from dagster_labeling.testing.base import LoggedRequest
from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle

CAT = {"instruction": "Red?", "attachment_type": "text", "attachment": "tomato", "categories": ["red", "blue"]}
IGNORED_HEADERS = {"user-agent", "host", "content-length"}


@pytest.fixture
def emu(scale_emulator: ScaleEmulatorHandle) -> ScaleEmulatorHandle:
    scale_emulator.state.task_duration_seconds = 100_000
    return scale_emulator


@pytest.fixture
def sdk(emu: ScaleEmulatorHandle) -> scaleapi.ScaleClient:
    return scaleapi.ScaleClient(emu.api_key, api_instance_url=emu.base_url)


@pytest.fixture
def ours(emu: ScaleEmulatorHandle) -> Iterator[ScaleClient]:
    with ScaleClient(emu.api_key, base_url=emu.base_url, retry=RetryPolicy(max_attempts=1)) as c:
        yield c


@pytest.fixture
def setup(sdk: scaleapi.ScaleClient, emu: ScaleEmulatorHandle) -> dict[str, str]:
    """A project, a batch whose name needs percent-encoding, and two tasks; the log is cleared after."""
    sdk.create_project("wire proj", SdkTaskType.Categorization)
    sdk.create_batch("wire proj", "wire/batch 1")
    t1 = sdk.create_task(SdkTaskType.Categorization, project="wire proj", batch="wire/batch 1", unique_id="w-1",
                         tags=["a", "b", "c"], **CAT)
    t2 = sdk.create_task(SdkTaskType.Categorization, project="wire proj", unique_id="w-2", **CAT)
    emu.request_log.clear()
    return {"t1": t1.id, "t2": t2.id}


def _record(emu: ScaleEmulatorHandle, call: Callable[[], Any]) -> list[LoggedRequest]:
    emu.request_log.clear()
    call()
    entries = emu.request_log.entries()
    emu.request_log.clear()
    return entries


def _query_pairs(raw: str) -> list[str]:
    return sorted(p for p in raw.split("&") if p)  # raw, still percent-encoded


def _headers(entry: LoggedRequest) -> dict[str, str]:
    headers = {k: v for k, v in entry.headers.items() if k not in IGNORED_HEADERS}
    if headers.get("content-type", "").startswith("multipart/form-data"):
        headers["content-type"] = "multipart/form-data"  # the boundary is random
    return headers


def _body(entry: LoggedRequest) -> Any:
    return entry.json() if entry.body else None


def assert_same_wire(theirs: list[LoggedRequest], mine: list[LoggedRequest], *, body_too: bool = True) -> None:
    assert len(theirs) == len(mine) >= 1
    for t, m in zip(theirs, mine, strict=True):
        assert (m.method, m.path) == (t.method, t.path)
        assert _query_pairs(m.query) == _query_pairs(t.query)
        assert _headers(m) == _headers(t)
        assert t.headers["authorization"] == m.headers["authorization"] == "Basic <redacted>"
        assert t.headers["user-agent"].startswith("scaleapi/2.18.4")  # the one legitimate header difference
        assert m.headers["user-agent"].startswith("dagster-labeling/")
        if body_too:
            assert m.body == t.body or _body(m) == _body(t)


def test_create_task_with_unique_id(sdk: scaleapi.ScaleClient, ours: ScaleClient, emu: ScaleEmulatorHandle,
                                    setup: dict[str, str]) -> None:
    kwargs: dict[str, Any] = {"project": "wire proj", "batch": "wire/batch 1", "unique_id": "same-key",
                              "callback_url": "http://cb.invalid/x", "metadata": {"row": 1, "none": None},
                              "tags": ["t"], "priority": 30, **CAT}
    theirs = _record(emu, lambda: sdk.create_task(SdkTaskType.Categorization, **kwargs))
    sdk.cancel_task(emu.state.tasks_by_unique_id("same-key")[0]["task_id"], clear_unique_id=True)  # free the key
    mine = _record(emu, lambda: ours.create_task("categorization", **kwargs))
    assert_same_wire(theirs, mine)
    assert mine[0].path == "/v1/task/categorization" and mine[0].json() == kwargs  # verbatim, None kept
    assert mine[0].headers["content-type"] == "application/json"


def test_get_tasks_with_filters(sdk: scaleapi.ScaleClient, ours: ScaleClient, emu: ScaleEmulatorHandle,
                                setup: dict[str, str]) -> None:
    theirs = _record(emu, lambda: list(sdk.get_tasks(
        project_name="wire proj", batch_name="wire/batch 1", task_type=SdkTaskType.Categorization,
        status=SdkTaskStatus.Pending, review_status=[SdkReviewStatus.Accepted, SdkReviewStatus.Pending],
        unique_id=["w-1", "w-2"], created_after="2020-01-01 00:00:00.000000", completed_before="2999-01-01",
        updated_after="2020-01-01", tags=["a", "b"], include_attachment_url=False, limited_response=True, limit=1)))
    mine = _record(emu, lambda: list(ours.get_tasks(
        project="wire proj", batch="wire/batch 1", task_type="categorization", status="pending",
        review_status=["accepted", "pending"], unique_id=["w-1", "w-2"], created_after="2020-01-01 00:00:00.000000",
        completed_before="2999-01-01", updated_after="2020-01-01", tags=["a", "b"], include_attachment_url=False,
        limited_response=True, page_size=1)))
    assert_same_wire(theirs, mine)
    # booleans as True/False, review statuses comma-joined, lists repeated; next_token from page 2 on
    assert "include_attachment_url=False" in mine[0].query and "limited_response=True" in mine[0].query
    assert "customer_review_status=accepted%2Cpending" in mine[0].query
    assert "start_time=2020-01-01+00%3A00%3A00.000000" in mine[0].query and "batch=wire%2Fbatch+1" in mine[0].query


def test_get_tasks_default_page_and_count(sdk: scaleapi.ScaleClient, ours: ScaleClient, emu: ScaleEmulatorHandle,
                                          setup: dict[str, str]) -> None:
    theirs = _record(emu, lambda: list(sdk.get_tasks(project_name="wire proj", limit=100)))
    mine = _record(emu, lambda: list(ours.get_tasks(project="wire proj")))
    assert_same_wire(theirs, mine)
    # the SDK sends no limit unless given one; we always send our page size (100 by default, the server's max)
    theirs = _record(emu, lambda: sdk.get_tasks_count(project_name="wire proj", status=SdkTaskStatus.Pending,
                                                      review_status=SdkReviewStatus.Fixed))
    mine = _record(emu, lambda: ours.get_tasks_count(project="wire proj", status="pending", review_status="fixed"))
    assert_same_wire(theirs, mine)
    assert "limit=1" in mine[0].query and "include_attachment_url=True" in mine[0].query


def test_cancel_task_clearing_unique_id(sdk: scaleapi.ScaleClient, ours: ScaleClient, emu: ScaleEmulatorHandle,
                                       setup: dict[str, str]) -> None:
    theirs = _record(emu, lambda: sdk.cancel_task(setup["t1"], clear_unique_id=True))
    mine = _record(emu, lambda: ours.cancel_task(setup["t2"], clear_unique_id=True))
    assert (mine[0].method, mine[0].path.replace(setup["t2"], "ID"), mine[0].query) == (
        theirs[0].method, theirs[0].path.replace(setup["t1"], "ID"), theirs[0].query)
    assert mine[0].query == "clear_unique_id=true" and mine[0].body == theirs[0].body == b""
    assert _headers(mine[0]) == _headers(theirs[0])


@pytest.mark.parametrize("operation", ["set_task_metadata", "set_task_tags", "add_task_tags", "delete_task_tags",
                                       "update_task_unique_id", "clear_task_unique_id", "get_task", "audit"])
def test_task_operations(operation: str, sdk: scaleapi.ScaleClient, ours: ScaleClient, emu: ScaleEmulatorHandle,
                         setup: dict[str, str]) -> None:
    tid = setup["t1"]
    args: dict[str, tuple[Any, ...]] = {
        "set_task_metadata": (tid, {"k": [1, {"n": None}]}),
        "set_task_tags": (tid, ["x", "y"]),
        "add_task_tags": (tid, ["z"]),
        "delete_task_tags": (tid, ["a", "b"]),
        "update_task_unique_id": (tid, "renamed"),
        "clear_task_unique_id": (tid,),
        "get_task": (tid,),
    }
    if operation == "audit":
        emu.state.complete_all()
        theirs = _record(emu, lambda: sdk.audit_task(tid, True))
        mine = _record(emu, lambda: ours.audit_task(tid, True))
    else:
        theirs = _record(emu, lambda: getattr(sdk, operation)(*args[operation]))
        mine = _record(emu, lambda: getattr(ours, operation)(*args[operation]))
    assert_same_wire(theirs, mine)
    if operation == "delete_task_tags":
        assert mine[0].method == "DELETE" and mine[0].json() == ["a", "b"]  # a JSON array in a DELETE body
    if operation == "set_task_metadata":
        assert mine[0].json() == {"k": [1, {"n": None}]}  # the object itself, not wrapped


def test_create_batch(sdk: scaleapi.ScaleClient, ours: ScaleClient, emu: ScaleEmulatorHandle,
                      setup: dict[str, str]) -> None:
    theirs = _record(emu, lambda: sdk.create_batch("wire proj", "made/here 1", metadata={"m": 1}))
    mine = _record(emu, lambda: ours.create_batch("wire proj", "made/here 2", metadata={"m": 1}))
    assert_same_wire(theirs, mine, body_too=False)
    assert mine[0].json() == {**theirs[0].json(), "name": "made/here 2"} == {
        "project": "wire proj", "name": "made/here 2", "calibration_batch": False, "self_label_batch": False,
        "callback": "", "metadata": {"m": 1}}


@pytest.mark.parametrize("operation", ["finalize_batch", "batch_status", "get_batch", "set_batch_metadata"])
def test_batch_operations_encode_the_name(operation: str, sdk: scaleapi.ScaleClient, ours: ScaleClient,
                                          emu: ScaleEmulatorHandle, setup: dict[str, str]) -> None:
    args: tuple[Any, ...] = ("wire/batch 1", {"x": 1}) if operation == "set_batch_metadata" else ("wire/batch 1",)
    theirs = _record(emu, lambda: getattr(sdk, operation)(*args))
    mine = _record(emu, lambda: getattr(ours, operation)(*args))
    assert_same_wire(theirs, mine)
    assert mine[0].path.startswith("/v1/batches/wire%2Fbatch%201")


def test_get_batches(sdk: scaleapi.ScaleClient, ours: ScaleClient, emu: ScaleEmulatorHandle,
                     setup: dict[str, str]) -> None:
    from scaleapi.batches import BatchStatus as SdkBatchStatus

    theirs = _record(emu, lambda: list(sdk.get_batches(project_name="wire proj", batch_status=SdkBatchStatus.Staging,
                                                       created_after="2020-01-01", exclude_archived=True)))
    mine = _record(emu, lambda: list(ours.get_batches(project="wire proj", status="staging",
                                                      created_after="2020-01-01", exclude_archived=True)))
    assert_same_wire(theirs, mine)


def test_create_and_update_project(sdk: scaleapi.ScaleClient, ours: ScaleClient, emu: ScaleEmulatorHandle) -> None:
    args = ("new/proj x", SdkTaskType.TextCollection)
    theirs = _record(emu, lambda: sdk.create_project(*args, params={"instruction": "i"}, rapid=True))
    with emu.state.lock:
        del emu.state.projects["new/proj x"]
    mine = _record(emu, lambda: ours.create_project("new/proj x", "textcollection", params={"instruction": "i"},
                                                    rapid=True))
    assert_same_wire(theirs, mine)
    assert mine[0].json() == {"type": "textcollection", "name": "new/proj x", "params": {"instruction": "i"},
                              "rapid": True, "studio": False, "datasetId": None}
    theirs = _record(emu, lambda: sdk.update_project("new/proj x", patch=False, instruction="v2"))
    mine = _record(emu, lambda: ours.update_project("new/proj x", patch=False, instruction="v2"))
    assert_same_wire(theirs, mine)
    assert mine[0].path == "/v1/projects/new%2Fproj%20x/setParams" and mine[0].json() == {"patch": False,
                                                                                          "instruction": "v2"}
    assert_same_wire(_record(emu, lambda: sdk.get_project("new/proj x")),
                     _record(emu, lambda: ours.get_project("new/proj x")))
    assert_same_wire(_record(emu, lambda: sdk.get_project_template("new/proj x")),
                     _record(emu, lambda: ours.get_project_template("new/proj x")))
    assert_same_wire(_record(emu, sdk.get_projects), _record(emu, ours.get_projects))


def _multipart(entry: LoggedRequest) -> list[tuple[str | None, str | None, bytes]]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {entry.headers['content-type']}\r\n\r\n".encode() + entry.body)
    out = []
    for part in msg.iter_parts():
        payload = part.get_payload(decode=True)
        out.append((part.get_param("name", header="content-disposition"), part.get_filename(),
                    payload if isinstance(payload, bytes) else b""))
    return sorted(out, key=lambda p: str(p[0]))


def test_upload_file_multipart(sdk: scaleapi.ScaleClient, ours: ScaleClient, emu: ScaleEmulatorHandle,
                               setup: dict[str, str], tmp_path: Any) -> None:
    path = tmp_path / "pic.png"
    path.write_bytes(b"\x89PNG data")
    with path.open("rb") as handle:
        theirs = _record(emu, lambda: sdk.upload_file(handle, project_name="wire proj"))
    mine = _record(emu, lambda: ours.upload_file(path, project_name="wire proj"))
    assert_same_wire(theirs, mine, body_too=False)
    assert mine[0].headers["content-type"].startswith("multipart/form-data; boundary=")
    assert _multipart(mine[0]) == _multipart(theirs[0]) == [
        ("file", "pic.png", b"\x89PNG data"), ("project_name", None, b"wire proj")]
    # an unnamed file object: requests names the part after its field, and so do we
    theirs = _record(emu, lambda: sdk.upload_file(io.BytesIO(b"raw")))
    mine = _record(emu, lambda: ours.upload_file(io.BytesIO(b"raw")))
    assert _multipart(mine[0]) == _multipart(theirs[0]) == [("file", "file", b"raw")]


@pytest.mark.parametrize("operation", ["import_file", "evaluation", "training"])
def test_files_and_quality_tasks(operation: str, sdk: scaleapi.ScaleClient, ours: ScaleClient,
                                 emu: ScaleEmulatorHandle, setup: dict[str, str]) -> None:
    kw = {"project": "wire proj", "expected_response": {"category": "red"}, **CAT}
    calls: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
        "import_file": (lambda: sdk.import_file("https://x.invalid/a.png", project_name="wire proj"),
                        lambda: ours.import_file("https://x.invalid/a.png", project_name="wire proj")),
        "evaluation": (lambda: sdk.create_evaluation_task(SdkTaskType.Categorization, **kw),
                       lambda: ours.create_evaluation_task("categorization", **kw)),
        "training": (lambda: sdk.create_training_task(SdkTaskType.Categorization, **kw),
                     lambda: ours.create_training_task("categorization", **kw)),
    }
    theirs_call, our_call = calls[operation]
    assert_same_wire(_record(emu, theirs_call), _record(emu, our_call))


def test_teams(sdk: scaleapi.ScaleClient, ours: ScaleClient, emu: ScaleEmulatorHandle) -> None:
    theirs = _record(emu, lambda: sdk.invite_teammates(["a@x.com", "b@x.com"], SdkRole.Labeler))
    mine = _record(emu, lambda: ours.invite_teammates(["a@x.com", "b@x.com"], "labeler"))
    assert_same_wire(theirs, mine)
    assert mine[0].json() == {"emails": ["a@x.com", "b@x.com"], "team_role": "labeler"}
    assert_same_wire(_record(emu, lambda: sdk.update_teammates_role(["a@x.com"], SdkRole.Manager)),
                     _record(emu, lambda: ours.update_teammates_role(["a@x.com"], "manager")))
    assert_same_wire(_record(emu, sdk.list_teammates), _record(emu, ours.list_teammates))


def test_studio(sdk: scaleapi.ScaleClient, ours: ScaleClient, emu: ScaleEmulatorHandle,
                setup: dict[str, str]) -> None:
    sdk.create_batch("wire proj", "second one")
    pairs: list[tuple[Callable[[], Any], Callable[[], Any]]] = [
        (lambda: sdk.set_studio_batches_priorities(["wire/batch 1", "second one"]),
         lambda: ours.set_studio_batches_priorities(["wire/batch 1", "second one"])),
        (sdk.reset_studio_batches_priorities, ours.reset_studio_batches_priorities),
        (sdk.list_studio_batches, ours.list_studio_batches),
        (lambda: sdk.add_studio_assignments(["a@x.com"], ["wire proj"]),
         lambda: ours.add_studio_assignments(["a@x.com"], ["wire proj"])),
        (lambda: sdk.remove_studio_assignments(["a@x.com"], ["wire proj"]),
         lambda: ours.remove_studio_assignments(["a@x.com"], ["wire proj"])),
        (sdk.list_studio_assignments, ours.list_studio_assignments),
        (lambda: sdk.list_project_groups("wire proj"), lambda: ours.list_project_groups("wire proj")),
    ]
    for theirs_call, our_call in pairs:
        assert_same_wire(_record(emu, theirs_call), _record(emu, our_call))
    theirs = _record(emu, lambda: sdk.create_project_group("wire proj", ["a@x.com"], "g/1 x"))
    mine = _record(emu, lambda: ours.create_project_group("wire proj", ["a@x.com"], "g/2 x"))
    assert_same_wire(theirs, mine, body_too=False)
    assert mine[0].json() == {**theirs[0].json(), "name": "g/2 x"}
    assert_same_wire(_record(emu, lambda: sdk.update_project_group("wire proj", "g/1 x", ["b@x.com"], ["a@x.com"])),
                     _record(emu, lambda: ours.update_project_group("wire proj", "g/1 x", ["b@x.com"], ["a@x.com"])))
    assert_same_wire(_record(emu, lambda: sdk.assign_studio_batches("wire/batch 1", ["g/1 x"])),
                     _record(emu, lambda: ours.assign_studio_batches("wire/batch 1", ["g/1 x"])))
    prio = _record(emu, lambda: ours.set_studio_batches_priorities(["second one", "wire/batch 1"]))
    assert prio[0].json() == {"batches": [{"name": "second one"}, {"name": "wire/batch 1"}]}


def test_authorization_is_basic_with_the_key_as_username(emu: ScaleEmulatorHandle) -> None:
    seen: list[str] = []

    class Recording(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request.headers["authorization"])
            return super().handle_request(request)

    with ScaleClient(emu.api_key, base_url=emu.base_url, transport=Recording()) as client:
        assert client.get_projects() == []
    assert seen == ["Basic " + base64.b64encode(f"{emu.api_key}:".encode()).decode()]
    assert base64.b64encode(f"{emu.api_key}:".encode()).decode() == scaleapi_basic_token(emu)


def scaleapi_basic_token(emu: ScaleEmulatorHandle) -> str:
    """The token the SDK sends, from requests' own Basic-auth helper with the SDK's (key, "") pair."""
    from requests.auth import _basic_auth_str

    sdk = scaleapi.ScaleClient(emu.api_key, api_instance_url=emu.base_url)
    assert sdk.get_projects() == []  # the emulator accepted it
    return _basic_auth_str(emu.api_key, "").split(" ", 1)[1]
