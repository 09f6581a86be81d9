"""run_bulk(): each pending item once, resume, duplicates, failures, bounded concurrency, interrupts."""

import threading
from collections import Counter

import pytest

from dagster_labeling._core import BulkProgress, InvalidInput, run_bulk


def test_creates_each_pending_item_once_and_skips_existing():
    calls: Counter[str] = Counter()
    lock = threading.Lock()

    def submit(key, item):
        with lock:
            calls[key] += 1
        return item * 10

    items = [(f"k{i}", i) for i in range(50)]
    result = run_bulk(items, submit, concurrency=8, existing={"k3": 30, "k7": 70})
    assert set(calls) == {f"k{i}" for i in range(50)} - {"k3", "k7"}
    assert all(n == 1 for n in calls.values())
    assert result.created == {f"k{i}": i * 10 for i in range(50) if i not in (3, 7)}
    assert result.skipped == {"k3": 30, "k7": 70}
    assert len(result.succeeded) == 50 and result.failures == {}


def test_duplicate_keys_rejected_before_any_submit():
    calls = []
    with pytest.raises(InvalidInput) as info:
        run_bulk([("a", 1), ("b", 2), ("a", 3)], lambda k, i: calls.append(k), concurrency=2)
    assert calls == []
    assert "'a'" in str(info.value) and info.value.field == "key"


def test_bad_concurrency():
    with pytest.raises(InvalidInput):
        run_bulk([("a", 1)], lambda k, i: i, concurrency=0)


def test_failures_collected_others_succeed(caplog):
    def submit(key, item):
        if item % 3 == 0:
            raise ValueError(f"row {key} is bad")
        return item

    result = run_bulk([(str(i), i) for i in range(10)], submit, concurrency=3)
    assert set(result.failures) == {"0", "3", "6", "9"}
    failure = result.failures["3"]
    assert (failure.key, failure.error_type, failure.message) == ("3", "ValueError", "row 3 is bad")
    assert set(result.created) == {"1", "2", "4", "5", "7", "8"}
    assert any("4 of 10 items failed" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_concurrency_bound_reached_never_exceeded(concurrency):
    lock = threading.Lock()
    active = 0
    peak = 0
    barrier = threading.Barrier(concurrency, timeout=5)

    def submit(key, item):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        try:
            barrier.wait()  # only passes once `concurrency` submits are in flight together
            return item
        finally:
            with lock:
                active -= 1

    result = run_bulk([(str(i), i) for i in range(concurrency * 5)], submit, concurrency=concurrency)
    assert result.failures == {}
    assert len(result.created) == concurrency * 5
    assert peak == concurrency


def test_progress_callback():
    seen: list[BulkProgress] = []
    result = run_bulk([(str(i), i) for i in range(10)], lambda k, i: i, concurrency=2, on_progress=seen.append,
                      progress_every=3, existing={"0": 0})
    assert len(result.created) == 9
    # every 3 finished (3, 6, 9) plus the final forced report
    assert [p.done + p.failed for p in seen] == [3, 6, 9, 9]
    assert all(p.total == 9 for p in seen)
    assert seen[-1].done == 9 and seen[-1].failed == 0
    assert seen[-1].rate >= 0


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, "dagster"])
def test_interrupt_stops_submitting_new_items(interrupt):
    if interrupt == "dagster":
        from dagster._core.errors import DagsterExecutionInterruptedError as interrupt
    calls = []
    lock = threading.Lock()

    def submit(key, item):
        with lock:
            calls.append(key)
        return item

    def on_progress(progress):
        if progress.done >= 1:
            raise interrupt()

    with pytest.raises(interrupt):
        run_bulk([(str(i), i) for i in range(100)], submit, concurrency=2, on_progress=on_progress,
                 progress_every=1)
    # At most the bounded window (2 × concurrency) was ever handed to the pool.
    assert 1 <= len(calls) <= 4


def test_empty_input():
    progress = []
    result = run_bulk([], lambda k, i: i, on_progress=progress.append)
    assert result.created == {} and result.failures == {}
    assert progress == [BulkProgress(0, 0, 0, progress[0].elapsed_seconds)]
