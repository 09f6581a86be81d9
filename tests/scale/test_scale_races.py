"""Parallel first runs of a Scale batch asset converge: one project, one batch, every row's task exactly once."""

import threading

import httpx
import pytest
import scale_race_workers as workers

from dagster_labeling._core import InvalidInput
from dagster_labeling.scale import ScaleClient
from dagster_labeling.testing.faults import FaultConfig
from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle
from dagster_labeling.testing.race import run_together

CAT = {"instruction": "Red?", "attachment_type": "text", "attachment": "tomato", "categories": ["red", "blue"]}
LATENCY = FaultConfig(latency_seconds=0.1)  # a wide window between every look-up and create


@pytest.fixture
def emu(scale_emulator: ScaleEmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> ScaleEmulatorHandle:
    scale_emulator.state.task_duration_seconds = 100_000
    monkeypatch.setenv("SCALE_RACE_BASE_URL", scale_emulator.base_url)
    monkeypatch.setenv("SCALE_RACE_API_KEY", scale_emulator.api_key)
    return scale_emulator


def _assert_converged(emu: ScaleEmulatorHandle, seen: list[dict[str, str]]) -> None:
    state = emu.state
    assert list(state.projects) == [workers.PROJECT]
    batch = workers.BATCH
    assert list(state.batches) == [batch]
    assert state.task_count() == state.task_count(batch=batch) == workers.ROWS
    assert {t["unique_id"] for t in state.tasks.values()} == {f"{batch}/r{i}" for i in range(workers.ROWS)}
    assert all(run == seen[0] for run in seen)  # every run reports the same task for each row
    assert set(seen[0].values()) == set(state.tasks)


def test_eight_threads_of_first_runs_make_one_batch_and_each_task_once(emu: ScaleEmulatorHandle) -> None:
    emu.set_faults(LATENCY)
    seen = run_together(workers.first_run, 8)
    _assert_converged(emu, seen)
    emu.set_faults(None)
    emu.request_log.clear()
    assert workers.first_run(0) == seen[0]  # a later re-run changes nothing
    assert emu.state.task_count() == workers.ROWS
    assert not [e for e in emu.request_log.entries("POST") if e.path.startswith("/v1/task/")]


def test_four_processes_of_first_runs_make_one_batch_and_each_task_once(emu: ScaleEmulatorHandle) -> None:
    emu.set_faults(LATENCY)
    seen = run_together(workers.first_submission, 4, processes=True)
    _assert_converged(emu, seen)


def test_the_emulator_gives_a_unique_id_to_one_task_only_however_many_creates_race(
    emu: ScaleEmulatorHandle,
) -> None:
    """As the real server's uniqueness: N simultaneous creates with one unique_id → one 200, the rest 409."""
    with ScaleClient(emu.api_key, base_url=emu.base_url) as client:
        client.create_project("p", "categorization")
    emu.set_faults(LATENCY)
    local = threading.local()

    def create(_: int) -> int:
        if not hasattr(local, "http"):
            local.http = httpx.Client(auth=(emu.api_key, ""), timeout=30)
        return local.http.post(f"{emu.base_url}/task/categorization",
                               json={**CAT, "project": "p", "unique_id": "one"}).status_code

    statuses = run_together(create, 16)
    assert sorted(statuses) == [200] + [409] * 15
    assert emu.state.task_count(unique_id="one") == 1


def test_get_or_create_project_converges_and_refuses_another_task_type(emu: ScaleEmulatorHandle) -> None:
    emu.set_faults(LATENCY)

    def ensure(_: int) -> tuple[str, bool]:
        with ScaleClient(emu.api_key, base_url=emu.base_url) as client:
            project, created = client.get_or_create_project("shared", "categorization", params={"x": 1})
        return project.name, created

    results = run_together(ensure, 8)
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert {name for name, _ in results} == {"shared"} and list(emu.state.projects) == ["shared"]
    emu.set_faults(None)
    with ScaleClient(emu.api_key, base_url=emu.base_url) as client, \
            pytest.raises(InvalidInput, match="already exists with task type 'categorization'"):
        client.get_or_create_project("shared", "textcollection")


def test_get_or_create_batch_converges(emu: ScaleEmulatorHandle) -> None:
    with ScaleClient(emu.api_key, base_url=emu.base_url) as client:
        client.create_project("p", "categorization")
    emu.set_faults(LATENCY)

    def ensure(_: int) -> bool:
        with ScaleClient(emu.api_key, base_url=emu.base_url) as client:
            return client.get_or_create_batch("p", "b")[1]

    assert sorted(run_together(ensure, 8)) == [False] * 7 + [True]
    assert list(emu.state.batches) == ["b"]
