"""``ScaleClient`` errors (typed, Scale's message, no secret) and behaviour under injected faults."""

import pickle
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from dagster_labeling._core import RetryPolicy
from dagster_labeling._core.errors import (
    BadRequest,
    Conflict,
    ConnectionFailed,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from dagster_labeling.scale import (
    ScaleClient,
    ScaleDuplicateResource,
    ScaleInvalidRequest,
    ScaleResourceNotFound,
    ScaleUnauthorized,
)
from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle

SECRET = "live_0123-secret-KEY-for-leak-checks"
FAST = RetryPolicy(initial_backoff_seconds=0.01, max_backoff_seconds=0.05, max_retry_after_seconds=0.05)
# Enough attempts that 30% faults essentially never exhaust them (0.3 ** 12 per request).
FAULT_TOLERANT = RetryPolicy(max_attempts=12, initial_backoff_seconds=0.01, max_backoff_seconds=0.05,
                             max_retry_after_seconds=0.05)
CAT = {"instruction": "Red?", "attachment_type": "text", "attachment": "tomato", "categories": ["red", "blue"]}
MIXED = {"429": 1.0, "500": 1.0, "503": 1.0, "drop_before": 1.0, "drop_after": 1.0}


@pytest.fixture
def emu(scale_emulator: ScaleEmulatorHandle) -> Iterator[ScaleEmulatorHandle]:
    """The emulator with a distinctive key (to look for leaks) and tasks that stay pending."""
    old = scale_emulator.state.api_key
    scale_emulator.state.api_key = SECRET
    scale_emulator.state.task_duration_seconds = 100_000
    try:
        yield scale_emulator
    finally:
        scale_emulator.state.api_key = old


@pytest.fixture
def client(emu: ScaleEmulatorHandle) -> Iterator[ScaleClient]:
    with ScaleClient(SECRET, base_url=emu.base_url, retry=FAST) as c:
        c.create_project("proj", "categorization")
        emu.request_log.clear()
        yield c


def _no_secret(err: BaseException) -> None:
    for text in (str(err), repr(err), repr(err.args), str(getattr(err, "body", ""))):
        assert SECRET not in text
    assert SECRET not in str(pickle.loads(pickle.dumps(err)))


# -- status codes ----------------------------------------------------------------------------------------
def test_400_is_invalid_request_with_scales_message(client: ScaleClient) -> None:
    with pytest.raises(ScaleInvalidRequest) as info:
        client.create_task("categorization", project="proj", attachment="x")
    err = info.value
    assert isinstance(err, BadRequest) and err.status_code == 400
    assert err.message == "Missing required parameter 'categories' for a categorization task"
    assert err.message in str(err) and err.body == {"status_code": 400, "error": err.message}
    assert (err.platform, err.method, err.path) == ("Scale", "POST", "task/categorization")
    _no_secret(err)


def test_401_for_a_wrong_key(emu: ScaleEmulatorHandle) -> None:
    wrong = "live_wrong-key-0000"
    with ScaleClient(wrong, base_url=emu.base_url, retry=FAST) as bad:
        with pytest.raises(ScaleUnauthorized) as info:
            bad.get_projects()
        assert wrong not in repr(bad)
    err = info.value
    assert isinstance(err, Unauthorized) and err.status_code == 401
    assert err.message == "Unauthorized: please provide a valid API key"
    assert wrong not in str(err) and wrong not in repr(err)
    assert len(emu.request_log.entries("GET", "/v1/projects")) == 1  # a 401 is not retried


def test_404_is_resource_not_found(client: ScaleClient, emu: ScaleEmulatorHandle) -> None:
    for call, message in (
        (lambda: client.get_task("no-such-task"), "Task with that ID not found."),
        (lambda: client.cancel_task("no-such-task", clear_unique_id=True), "Task with that ID not found."),
        (lambda: client.get_batch("no/such batch"), "Batch 'no/such batch' not found"),
        (lambda: client.get_project("nope"), "Project 'nope' not found"),
    ):
        with pytest.raises(ScaleResourceNotFound) as info:
            call()
        assert isinstance(info.value, NotFound) and info.value.status_code == 404
        assert info.value.message == message
        _no_secret(info.value)
    assert len(emu.request_log.entries("GET", "/v1/task/no-such-task")) == 1  # a 404 is not retried


def test_409_duplicate_batch_and_project_names(client: ScaleClient) -> None:
    client.create_batch("proj", "dup")
    with pytest.raises(ScaleDuplicateResource) as info:
        client.create_batch("proj", "dup")
    assert isinstance(info.value, Conflict) and info.value.status_code == 409
    assert info.value.message == "A batch named 'dup' already exists"
    with pytest.raises(ScaleDuplicateResource, match="A project named 'proj' already exists") as pinfo:
        client.create_project("proj", "categorization")
    assert isinstance(pinfo.value, Conflict)
    _no_secret(info.value)


def test_the_key_echoed_in_an_error_body_is_redacted(client: ScaleClient) -> None:
    with pytest.raises(ScaleResourceNotFound) as info:
        client.create_batch(SECRET, "b")  # the emulator echoes the project name: here, the key
    assert info.value.message == "Project '***' not found"
    _no_secret(info.value)
    assert SECRET not in repr(client) and "***" in repr(client)


# -- rejected before sending ------------------------------------------------------------------------------
def test_invalid_input_is_raised_before_any_request(client: ScaleClient, emu: ScaleEmulatorHandle) -> None:
    calls = [
        lambda: client.create_task("not-a-type", project="proj"),
        lambda: client.create_evaluation_task("bogus", expected_response={}),
        lambda: client.create_project("p", "bogus"),
        lambda: client.get_tasks(task_type="bogus", project="proj"),
        lambda: client.get_tasks(),
        lambda: client.get_tasks(status="pending"),
        lambda: client.get_tasks_count(status="pending"),
        lambda: client.get_tasks(project="proj", page_size=0),
        lambda: client.create_tasks("bogus", [("k", {})]),
    ]
    for call in calls:
        with pytest.raises(InvalidInput) as info:
            call()
        assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidInput, match="textcollection"):  # the message lists the valid types
        client.create_task("text-collection")
    with pytest.raises(InvalidInput, match="project or batch"):
        client.get_tasks()
    with pytest.raises(InvalidInput, match="api_key"):
        ScaleClient("", base_url=emu.base_url)
    assert len(emu.request_log) == 0


def test_unreachable_base_url_is_connection_failed() -> None:
    url = "http://127.0.0.1:1/v1"
    with ScaleClient(SECRET, base_url=url, retry=RetryPolicy(max_attempts=2, initial_backoff_seconds=0.01,
                                                             max_backoff_seconds=0.01)) as client:
        with pytest.raises(ConnectionFailed) as info:
            client.get_projects()
    err = info.value
    assert url in str(err) and err.attempts == 2 and err.platform == "Scale"
    assert SECRET not in str(err) and SECRET not in repr(err)


# -- faults ----------------------------------------------------------------------------------------------
def _tasks_in(emu: ScaleEmulatorHandle, batch: str) -> list[dict[str, object]]:
    with emu.state.lock:
        return [dict(t) for t in emu.state.tasks.values() if t["batch"] == batch]


def test_bulk_create_under_mixed_faults_is_exactly_once(client: ScaleClient, emu: ScaleEmulatorHandle) -> None:
    client.create_batch("proj", "faulty")
    rows = [(f"row-{i:03d}", {**CAT, "metadata": {"i": i}}) for i in range(300)]
    emu.set_faults(rate=0.3, seed=1234, weights=MIXED)
    with ScaleClient(SECRET, base_url=emu.base_url, retry=FAULT_TOLERANT) as flaky:
        result = flaky.create_tasks("categorization", rows, batch="faulty", project="proj", concurrency=16)
        counters = emu.fault_counters()
        assert all(counters[k] > 0 for k in MIXED), counters  # every kind of fault really happened

        keys = {k for k, _ in rows}
        assert not result.failures, result.failures
        assert set(result.created) | set(result.skipped) == keys
        assert not set(result.created) & set(result.skipped)
        assert all(task.unique_id == key and task.batch == "faulty" for key, task in result.succeeded.items())
        assert all(result.succeeded[k].metadata == {"i": i} for i, (k, _) in enumerate(rows))
        tasks = _tasks_in(emu, "faulty")
        assert len(tasks) == 300
        assert Counter(t["unique_id"] for t in tasks) == Counter(keys)  # none duplicated
        assert len({t.task_id for t in result.succeeded.values()}) == 300

        # a re-run with the same rows (faults still on) finds them all and creates nothing
        again = flaky.create_tasks("categorization", rows, batch="faulty", project="proj", concurrency=16)
        assert not again.created and not again.failures and set(again.skipped) == keys
        assert {k: t.task_id for k, t in again.skipped.items()} == {k: t.task_id for k, t in result.succeeded.items()}
        # without the resume listing, every keyed create is answered 409 and resolved to the existing task
        subset = rows[:40]
        forced = flaky.create_tasks("categorization", subset, batch="faulty", project="proj", resume=False)
        assert not forced.failures and not forced.skipped
        assert {k: t.task_id for k, t in forced.created.items()} == {
            k: result.succeeded[k].task_id for k, _ in subset}
    assert len(_tasks_in(emu, "faulty")) == 300


class _FaultOnce(httpx.HTTPTransport):
    """Turns the emulator's faults off once the first request has been answered (or broken)."""

    def __init__(self, emu: ScaleEmulatorHandle) -> None:
        super().__init__()
        self.emu = emu
        self.sent = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent += 1
        try:
            return super().handle_request(request)
        finally:
            if self.sent == 1:
                self.emu.set_faults()


def test_drop_after_a_keyed_create_returns_the_created_task(emu: ScaleEmulatorHandle) -> None:
    with ScaleClient(SECRET, base_url=emu.base_url, retry=FAST) as setup:
        setup.create_project("proj", "categorization")
    emu.request_log.clear()
    emu.set_faults(rate=1.0, weights={"drop_after": 1.0})
    with ScaleClient(SECRET, base_url=emu.base_url, retry=FAST, transport=_FaultOnce(emu)) as client:
        task = client.create_task("categorization", project="proj", unique_id="only-once", **CAT)
    assert emu.fault_counters().get("drop_after") == 1
    (stored,) = emu.state.tasks_by_unique_id("only-once")
    assert task.task_id == stored["task_id"] and task.unique_id == "only-once" and task.project == "proj"
    assert emu.state.task_count() == 1
    # committed, answer lost; the retry got 409; the task was fetched by its unique_id
    assert [(e.method, e.path, e.query) for e in emu.request_log.entries()] == [
        ("POST", "/v1/task/categorization", ""),
        ("POST", "/v1/task/categorization", ""),
        ("GET", "/v1/tasks", "unique_id=only-once"),
    ]


def test_drop_after_an_unkeyed_create_is_not_repeated(emu: ScaleEmulatorHandle) -> None:
    with ScaleClient(SECRET, base_url=emu.base_url, retry=FAST) as setup:
        setup.create_project("proj", "categorization")
    emu.request_log.clear()
    emu.set_faults(rate=1.0, weights={"drop_after": 1.0})
    with ScaleClient(SECRET, base_url=emu.base_url, retry=FAST, transport=_FaultOnce(emu)) as client:
        with pytest.raises(ConnectionFailed) as info:
            client.create_task("categorization", project="proj", **CAT)
    assert info.value.attempts == 1 and SECRET not in str(info.value)
    assert emu.state.task_count() == 1  # it was created once; repeating the POST would have made two
    assert len(emu.request_log.entries("POST")) == 1


def test_keyed_create_under_429_and_5xx_is_retried(emu: ScaleEmulatorHandle) -> None:
    with ScaleClient(SECRET, base_url=emu.base_url, retry=FAST) as setup:
        setup.create_project("proj", "categorization")
    emu.set_faults(rate=1.0, weights={"429": 1.0}, retry_after_seconds=0)
    with ScaleClient(SECRET, base_url=emu.base_url, retry=FAST, transport=_FaultOnce(emu)) as client:
        assert client.create_task("categorization", project="proj", **CAT).status == "pending"  # 429: never processed
    emu.set_faults(rate=1.0, weights={"500": 1.0})
    with ScaleClient(SECRET, base_url=emu.base_url, retry=FAST, transport=_FaultOnce(emu)) as client:
        assert client.create_task("categorization", project="proj", unique_id="k", **CAT).unique_id == "k"
    assert emu.state.task_count() == 2
