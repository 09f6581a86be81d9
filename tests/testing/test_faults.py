"""Fault injection observed from an httpx client against a real server."""

import time

import httpx
import pytest
import scaleapi
from scaleapi.exceptions import ScaleException, ScaleTooManyRequests
from scaleapi.tasks import TaskType

from dagster_labeling.testing import FaultConfig
from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle


@pytest.fixture
def http(scale_emulator: ScaleEmulatorHandle) -> httpx.Client:
    with httpx.Client(base_url=scale_emulator.base_url, auth=(scale_emulator.api_key, ""), timeout=10) as c:
        yield c


def _only(kind: str, **kw: object) -> FaultConfig:
    return FaultConfig(rate=1.0, weights={kind: 1.0}, **kw)  # type: ignore[arg-type]


def test_429_carries_retry_after_and_scale_error_body(scale_emulator: ScaleEmulatorHandle, http: httpx.Client) -> None:
    scale_emulator.set_faults(_only("429", retry_after_seconds=3))
    r = http.get("/projects")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "3"
    assert r.json() == {"status_code": 429, "error": "Too many requests (injected fault)"}
    assert scale_emulator.fault_counters()["429"] == 1
    sdk = scaleapi.ScaleClient(scale_emulator.api_key, api_instance_url=scale_emulator.base_url)
    with pytest.raises(ScaleTooManyRequests):  # plain http: the SDK does not retry
        sdk.get_projects()


@pytest.mark.parametrize("status", [500, 503])
def test_5xx(scale_emulator: ScaleEmulatorHandle, http: httpx.Client, status: int) -> None:
    scale_emulator.set_faults(_only(str(status)))
    r = http.post("/projects", json={"type": "categorization", "name": "p"})
    assert r.status_code == status and r.json()["status_code"] == status
    assert "retry-after" not in r.headers
    assert scale_emulator.state.projects == {}  # not processed
    assert scale_emulator.fault_counters() == {"requests": 1, str(status): 1}


def test_slow_then_normal_answer(scale_emulator: ScaleEmulatorHandle, http: httpx.Client) -> None:
    scale_emulator.set_faults(_only("slow", slow_seconds=0.3))
    t0 = time.monotonic()
    r = http.get("/projects")
    assert r.status_code == 200 and r.json() == []
    assert time.monotonic() - t0 >= 0.3


def test_latency_on_every_request(scale_emulator: ScaleEmulatorHandle, http: httpx.Client) -> None:
    scale_emulator.set_faults(FaultConfig(latency_seconds=0.15))
    t0 = time.monotonic()
    for _ in range(3):
        assert http.get("/projects").status_code == 200
    assert time.monotonic() - t0 >= 0.45
    assert scale_emulator.fault_counters() == {"requests": 3}


def test_drop_before_does_not_process(scale_emulator: ScaleEmulatorHandle, http: httpx.Client) -> None:
    scale_emulator.set_faults(_only("drop_before"))
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/projects", json={"type": "categorization", "name": "p"})
    assert scale_emulator.state.projects == {}
    scale_emulator.set_faults(FaultConfig())
    assert http.get("/projects").json() == []  # a fresh connection works


def test_drop_after_commits_then_drops(scale_emulator: ScaleEmulatorHandle, http: httpx.Client) -> None:
    http.post("/projects", json={"type": "categorization", "name": "p"}).raise_for_status()
    scale_emulator.set_faults(_only("drop_after", methods=["POST"]))
    body = {"project": "p", "attachment": "a", "categories": ["x", "y"], "unique_id": "idem-1"}
    with pytest.raises(httpx.RemoteProtocolError):
        http.post("/task/categorization", json=body)
    committed = scale_emulator.state.tasks_by_unique_id("idem-1")
    assert len(committed) == 1 and committed[0]["status"] == "pending"
    # the retry of a non-idempotent POST is what unique_id protects
    scale_emulator.set_faults(FaultConfig())
    r = http.post("/task/categorization", json=body)
    assert r.status_code == 409 and "already used for a different task" in r.json()["error"]
    found = http.get("/tasks", params={"unique_id": "idem-1"}).json()
    assert [d["task_id"] for d in found["docs"]] == [committed[0]["task_id"]]
    # the official SDK sees a connection error
    scale_emulator.set_faults(_only("drop_after"))
    sdk = scaleapi.ScaleClient(scale_emulator.api_key, api_instance_url=scale_emulator.base_url)
    with pytest.raises(ScaleException, match="Connection broken"):  # the SDK wraps requests' error
        sdk.create_task(TaskType.Categorization, project="p", attachment="b", categories=["x"], unique_id="idem-2")
    assert len(scale_emulator.state.tasks_by_unique_id("idem-2")) == 1
    assert scale_emulator.fault_counters()["drop_after"] == 2


def _statuses(scale_emulator: ScaleEmulatorHandle, http: httpx.Client, seed: int, n: int = 40) -> list[str]:
    scale_emulator.set_faults(
        FaultConfig(
            rate=0.5, seed=seed, weights={"429": 1, "500": 1, "503": 1, "drop_before": 1}, retry_after_seconds=0
        )
    )
    out = []
    for _ in range(n):
        try:
            out.append(str(http.get("/projects").status_code))
        except httpx.RemoteProtocolError:
            out.append("drop")
    return out


def test_faults_are_deterministic_given_seed(scale_emulator: ScaleEmulatorHandle, http: httpx.Client) -> None:
    a = _statuses(scale_emulator, http, seed=7)
    b = _statuses(scale_emulator, http, seed=7)
    c = _statuses(scale_emulator, http, seed=8)
    assert a == b
    assert a != c
    assert 8 < sum(s != "200" for s in a) < 32  # roughly half
    assert {"429", "500", "503", "drop"} <= set(a)


def test_fault_filters_and_validation(scale_emulator: ScaleEmulatorHandle, http: httpx.Client) -> None:
    scale_emulator.set_faults(_only("500", path_prefixes=["/v1/tasks"]))
    assert http.get("/projects").status_code == 200
    assert http.get("/tasks", params={"project": "x"}).status_code == 500
    with pytest.raises(ValueError):
        FaultConfig(weights={"418": 1})
    with pytest.raises(ValueError):
        FaultConfig(rate=1.5)
