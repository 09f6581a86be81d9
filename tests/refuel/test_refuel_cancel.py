"""Cancelling a task run ends with nothing of it running, says what it did (items canceled, items already
labeled), survives lost answers and 20% faults, and happens when a real Dagster run is terminated mid-wait."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from refuel_fixtures import *  # noqa: F403  (the client and labeled fixtures; see refuel_fixtures)
from refuel_helpers import FAST, SENTIMENT, reviews_frame

from dagster_labeling._core import JobState
from dagster_labeling.refuel import RefuelClient, RefuelTaskRun
from dagster_labeling.testing.base import HTTPError
from dagster_labeling.testing.pytest_plugin import RefuelEmulatorHandle

HERE = Path(__file__).resolve().parent


def running(client: RefuelClient, emu: RefuelEmulatorHandle, rows: int = 50) -> RefuelTaskRun:
    emu.state.items_per_second = 0.01  # labels nothing before the cancel: every item is still to do
    client.upload_dataset(reviews_frame(rows), "reviews", wait_for_completion=True, wait=FAST)
    client.create_task("sent", "reviews", "ctx", [SENTIMENT])
    run = client.start_task_run("sent", "reviews")
    run.cancel_settle_seconds = 2.0
    return run


def run_status(emu: RefuelEmulatorHandle) -> str:
    (run,) = emu.state.runs.values()
    return str(run["status"])


def test_cancel_reports_items_and_leaves_nothing_running(client: RefuelClient,
                                                         refuel_emulator: RefuelEmulatorHandle) -> None:
    run = running(client, refuel_emulator)
    refuel_emulator.state.runs[(run.task_id, run.dataset_id)]["_started"] -= 2000  # 0.01/s: 20 items labeled
    outcome = run.cancel()
    assert outcome.state is JobState.CANCELED and outcome.complete
    assert (outcome.canceled, outcome.already_finished, outcome.still_running) == (30, 20, 0)
    assert outcome.describe() == "30 canceled, 20 had already finished"
    assert run_status(refuel_emulator) == "cancelled"
    again = run.cancel()  # a finished run is never canceled twice
    assert again.already_finished == 1 and run_status(refuel_emulator) == "cancelled"


def _lose_first_cancel_answer(emu: RefuelEmulatorHandle, after_processing: bool) -> Any:
    """The first cancel request fails with a 503: before the emulator handles it, or after (the answer lost)."""
    state = emu.state
    original = state.router.match
    calls: list[int] = []

    def match(method: str, path: str) -> Any:
        handler, params = original(method, path)

        def wrapped(req: Any) -> Any:
            if req.q("cancel_run") and not calls:
                calls.append(1)
                if after_processing:
                    handler(req)
                raise HTTPError(503, "upstream timeout")
            return handler(req)

        return wrapped, params

    state.router.match = match
    return original


@pytest.mark.parametrize("after_processing", [False, True])
def test_cancel_whose_answer_is_lost_is_sent_again(client: RefuelClient, refuel_emulator: RefuelEmulatorHandle,
                                                   after_processing: bool) -> None:
    run = running(client, refuel_emulator)
    original = _lose_first_cancel_answer(refuel_emulator, after_processing)
    try:
        outcome = run.cancel()
    finally:
        refuel_emulator.state.router.match = original
    assert outcome.complete and outcome.canceled == 50 and not outcome.not_canceled
    assert run_status(refuel_emulator) == "cancelled"


def test_cancel_with_20pct_faults(client: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    for seed in range(4):
        refuel_emulator.set_faults()
        refuel_emulator.state.reset()
        refuel_emulator.state.ensure_project(refuel_emulator.project)
        client._ids.clear()
        client._project_id = None
        run = running(client, refuel_emulator, rows=10)
        refuel_emulator.set_faults(rate=0.2, seed=seed, retry_after_seconds=0.0, slow_seconds=0.01)
        outcome = run.cancel()
        assert outcome.complete and outcome.canceled == 10, seed
        assert run_status(refuel_emulator) == "cancelled"
    assert sum(refuel_emulator.fault_counters().values()) > 0


def test_terminated_dagster_run_cancels_the_task_run(client: RefuelClient,
                                                     refuel_emulator: RefuelEmulatorHandle) -> None:
    """The run worker gets SIGINT, as Dagster's run termination sends it, while the labels asset waits."""
    emu = refuel_emulator
    emu.state.items_per_second = 0.01
    client.upload_dataset(reviews_frame(12), "reviews", wait_for_completion=True, wait=FAST)
    client.create_task("sent", "reviews", "ctx", [SENTIMENT])
    env = {**os.environ, "REFUEL_RUN_BASE_URL": emu.base_url, "REFUEL_RUN_API_KEY": emu.api_key,
           "REFUEL_RUN_PROJECT": emu.project, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    worker = subprocess.Popen([sys.executable, str(HERE / "refuel_terminated_run.py")], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (emu.state.runs and any(e.method == "GET" and "/runs/" in e.path for e in emu.request_log)):
            assert worker.poll() is None and time.monotonic() < deadline, "the labels asset never waited"
            time.sleep(0.05)
        worker.send_signal(signal.SIGINT)
        output, _ = worker.communicate(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert run_status(emu) == "cancelled", output
    assert "Run interrupted; canceled Refuel task run" in output and "12 canceled" in output, output
    assert "RUN_STATUS failure" in output or "RUN_STATUS canceled" in output, output
