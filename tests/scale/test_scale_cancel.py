"""Canceling a Scale batch leaves nothing pending, at any size, under faults, whatever the pagination does."""

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dagster_labeling._core import CancelIncomplete, JobState, RetryPolicy
from dagster_labeling.scale import ScaleClient, ScaleInvalidRequest
from dagster_labeling.testing import scale as scale_emulator_module
from dagster_labeling.testing.faults import FaultConfig
from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle

CAT = {"instruction": "Red?", "attachment_type": "text", "attachment": "tomato", "categories": ["red", "blue"]}
FAST = RetryPolicy(initial_backoff_seconds=0.005, max_backoff_seconds=0.02, max_retry_after_seconds=0.02)
# Faults on every request: enough attempts that a listing page never exhausts them (0.2 ** 8 per request).
PATIENT = RetryPolicy(max_attempts=8, initial_backoff_seconds=0.005, max_backoff_seconds=0.02,
                      max_retry_after_seconds=0.02)
# Faults on cancels only, and no retry at all: every fault is a failed cancel the next pass must deal with.
NO_RETRY = RetryPolicy(max_attempts=1)
MIXED = {"429": 1.0, "500": 1.0, "503": 1.0, "drop_before": 1.0, "drop_after": 1.0, "slow": 1.0}


@pytest.fixture
def emu(scale_emulator: ScaleEmulatorHandle) -> ScaleEmulatorHandle:
    scale_emulator.state.task_duration_seconds = 100_000  # nothing completes unless a test says so
    scale_emulator.state.task_duration_jitter = 0
    return scale_emulator


def _pending_batch(emu: ScaleEmulatorHandle, name: str, rows: int, concurrency: int = 32) -> list[str]:
    """A batch of ``rows`` pending tasks; their ids by row (in creation order with ``concurrency=1``)."""
    with ScaleClient(emu.api_key, base_url=emu.base_url, retry=FAST) as client:
        client.create_project("p", "categorization")
        client.create_batch("p", name)
        result = client.create_tasks("categorization", [(f"{name}/{i}", CAT) for i in range(rows)], batch=name,
                                     project="p", resume=False, concurrency=concurrency)
    assert not result.failures
    return [result.created[f"{name}/{i}"].task_id for i in range(rows)]


def _client(emu: ScaleEmulatorHandle, retry: RetryPolicy = FAST) -> ScaleClient:
    return ScaleClient(emu.api_key, base_url=emu.base_url, retry=retry)


def test_cancel_2000_pending_tasks_under_faults_leaves_none(emu: ScaleEmulatorHandle) -> None:
    _pending_batch(emu, "big", 2000)
    emu.set_faults(FaultConfig(rate=0.2, seed=7, weights=MIXED, slow_seconds=0.02, retry_after_seconds=0))
    with _client(emu, PATIENT) as client:
        outcome = client.batch_job("big").cancel()
    emu.set_faults(None)
    assert (outcome.canceled, outcome.already_finished, dict(outcome.not_canceled)) == (2000, 0, {})
    assert outcome.complete and outcome.still_running == 0
    assert emu.state.task_count(batch="big", status="pending") == 0
    assert emu.state.task_count(batch="big", status="canceled") == 2000


def test_cancels_whose_answers_are_lost_are_counted_once_and_retried_by_the_next_pass(
    emu: ScaleEmulatorHandle,
) -> None:
    _pending_batch(emu, "lossy", 300)
    emu.set_faults(FaultConfig(rate=0.2, seed=3, weights=MIXED, slow_seconds=0.02, retry_after_seconds=0,
                               methods=["POST"]))
    with _client(emu, NO_RETRY) as client:
        outcome = client.batch_job("lossy").cancel()
    faults = emu.fault_counters()
    emu.set_faults(None)
    assert faults.get("drop_after", 0) > 0 and faults.get("500", 0) > 0  # lost answers and refused attempts
    assert (outcome.canceled, outcome.already_finished, outcome.still_running) == (300, 0, 0)
    assert emu.state.task_count(batch="lossy", status="pending") == 0


def test_a_cancel_whose_answer_and_check_are_both_lost_is_still_counted_and_not_reported_as_refused(
    emu: ScaleEmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _pending_batch(emu, "unlucky", 5)
    real_cancel, real_get = ScaleClient.cancel_task, ScaleClient.get_task
    lost = {ids[0]}

    def cancel_then_lose_the_answer(self: ScaleClient, task_id: str, clear_unique_id: bool = False) -> Any:
        answer = real_cancel(self, task_id, clear_unique_id)
        if task_id in lost:
            raise httpx.RemoteProtocolError("connection lost before the answer")
        return answer

    def unreadable_once(self: ScaleClient, task_id: str) -> Any:
        if task_id in lost:
            lost.discard(task_id)
            raise httpx.RemoteProtocolError("connection lost")
        return real_get(self, task_id)

    monkeypatch.setattr(ScaleClient, "cancel_task", cancel_then_lose_the_answer)
    monkeypatch.setattr(ScaleClient, "get_task", unreadable_once)
    with _client(emu) as client:
        outcome = client.batch_job("unlucky").cancel()
    assert (outcome.canceled, dict(outcome.not_canceled), outcome.still_running) == (5, {}, 0)


def _offset_page(items: Any, token: str | None, limit: int, position: Any) -> tuple[list[Any], str | None]:
    """How the emulator paged before: ``next_token`` an offset into the filtered list (skips when it shrinks)."""
    start = int(token) if token else 0
    page = list(items[start:start + limit])
    return page, (str(start + limit) if start + limit < len(items) else None)


def test_cancel_is_complete_even_when_tokens_are_offsets(
    emu: ScaleEmulatorHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scale_emulator_module, "cursor_page", _offset_page)
    _pending_batch(emu, "offsets", 250)
    with _client(emu) as client:
        outcome = client.batch_job("offsets").cancel()
    assert (outcome.canceled, outcome.still_running) == (250, 0)
    assert emu.state.task_count(batch="offsets", status="pending") == 0


def test_a_mixed_batch_reports_the_tasks_that_had_already_finished(emu: ScaleEmulatorHandle) -> None:
    ids = _pending_batch(emu, "mixed", 10)
    emu.state.complete(*ids[:4])
    with _client(emu) as client:
        job = client.batch_job("mixed")
        outcome = job.cancel()
    assert (outcome.canceled, outcome.already_finished, outcome.still_running) == (6, 4, 0)
    assert outcome.describe() == "6 canceled, 4 had already finished"
    assert job.last_cancel == outcome
    assert emu.state.task_count(batch="mixed", status="completed") == 4


def test_tasks_scale_refuses_to_cancel_are_reported_and_the_cancel_raises(emu: ScaleEmulatorHandle) -> None:
    ids = _pending_batch(emu, "started", 5)
    emu.state.start_work(*ids[:2])
    with _client(emu) as client:
        job = client.batch_job("started")
        job.cancel_settle_seconds = 0.3
        with pytest.raises(CancelIncomplete) as raised:
            job.cancel()
    outcome = raised.value.outcome
    assert (outcome.canceled, outcome.still_running) == (3, 2)
    assert sorted(outcome.not_canceled) == sorted(ids[:2])
    assert all("work on it has already started" in reason for reason in outcome.not_canceled.values())
    assert "2 could not be canceled" in str(raised.value) and "2 still pending" in str(raised.value)


def test_a_finished_batch_is_not_canceled(emu: ScaleEmulatorHandle) -> None:
    ids = _pending_batch(emu, "done", 3)
    with _client(emu) as client:
        client.finalize_batch("done")
        emu.state.complete(*ids)
        emu.request_log.clear()
        outcome = client.batch_job("done").cancel()
    assert outcome.state is JobState.SUCCEEDED and (outcome.canceled, outcome.already_finished) == (0, 3)
    assert not [e for e in emu.request_log.entries("POST") if e.path.endswith("/cancel")]
    assert emu.state.task_count(batch="done", status="completed") == 3


# -- the emulator's listing cursor ---------------------------------------------------------------------------
@pytest.fixture
def pager(emu: ScaleEmulatorHandle) -> Iterator[ScaleClient]:
    _pending_batch(emu, "paged", 7, concurrency=1)
    with _client(emu) as client:
        yield client


def test_task_listing_tokens_are_opaque_cursors_that_skip_nothing_when_the_list_shrinks(
    emu: ScaleEmulatorHandle, pager: ScaleClient
) -> None:
    first = pager.tasks_page(batch="paged", status="pending", limit=3)
    assert [t.unique_id for t in first.docs] == ["paged/0", "paged/1", "paged/2"]
    assert first.has_more and first.next_token and not first.next_token.isdigit()
    for task in first.docs:  # the first page leaves the pending list before the client asks for the next
        pager.cancel_task(task.task_id)
    second = pager.tasks_page(batch="paged", status="pending", limit=3, next_token=first.next_token)
    assert [t.unique_id for t in second.docs] == ["paged/3", "paged/4", "paged/5"]
    third = pager.tasks_page(batch="paged", status="pending", limit=3, next_token=second.next_token)
    assert [t.unique_id for t in third.docs] == ["paged/6"] and not third.has_more and third.next_token is None


def test_a_token_the_emulator_did_not_make_is_a_400(pager: ScaleClient) -> None:
    forged = base64.urlsafe_b64encode(json.dumps({"nope": 1}).encode()).decode()
    for token in ("3", forged):
        with pytest.raises(ScaleInvalidRequest, match="pagination token"):
            pager.tasks_page(batch="paged", limit=3, next_token=token)
