"""Parallel first runs: partitions of a dataset asset (and task definitions) released together, in threads and
in processes, against the emulator with latency, end with one dataset holding every row once, one task, and a
re-run that changes nothing."""

from collections import Counter
from functools import partial

import pytest
from refuel_race_workers import (
    DATASET,
    ROWS_PER_PARTITION,
    TASK,
    RaceTarget,
    append_partition,
    client_for,
    define_task,
    first_run,
    partition_key,
)

from dagster_labeling.testing.pytest_plugin import RefuelEmulatorHandle
from dagster_labeling.testing.race import run_together

LATENCY = 0.1  # seconds on every request: a wide window between the look-up and the create


@pytest.fixture
def target(refuel_emulator: RefuelEmulatorHandle) -> RaceTarget:
    refuel_emulator.set_faults(latency_seconds=LATENCY)
    return RaceTarget(refuel_emulator.base_url, refuel_emulator.api_key, refuel_emulator.project)


def assert_one_dataset_every_row_once(emu: RefuelEmulatorHandle, partitions: int) -> None:
    (dataset,) = [d for d in emu.state.datasets.values() if d["name"] == DATASET]
    rows = dataset["rows"]
    per_partition = Counter(r["dagster_partition"] for r in rows)
    assert per_partition == {partition_key(i): ROWS_PER_PARTITION for i in range(partitions)}
    assert len({(r["dagster_partition"], r["text"]) for r in rows}) == len(rows)  # no row twice
    first = next(r for r in rows if r["text"].endswith("review 0 negative"))
    assert first["stars"] == 0 and first["note"] == "" and "note" not in rows[1]  # JSON items keep types


def test_eight_threads_first_runs_make_one_dataset_and_rerun_changes_nothing(
        refuel_emulator: RefuelEmulatorHandle, target: RaceTarget) -> None:
    actions = run_together(partial(append_partition, target), 8)
    assert sorted(actions) == ["appended"] * 7 + ["uploaded"]
    assert_one_dataset_every_row_once(refuel_emulator, 8)
    again = run_together(partial(append_partition, target), 8)
    assert again == ["skipped"] * 8
    assert_one_dataset_every_row_once(refuel_emulator, 8)
    with client_for(target) as client:  # lookups by name find the same dataset
        items = client.get_items(DATASET, max_items=None)
    assert len(items) == 8 * ROWS_PER_PARTITION


def test_eight_threads_with_20pct_faults_still_end_exact(refuel_emulator: RefuelEmulatorHandle,
                                                         target: RaceTarget) -> None:
    refuel_emulator.set_faults(rate=0.2, seed=11, latency_seconds=LATENCY, retry_after_seconds=0.0,
                               slow_seconds=0.01)
    run_together(partial(append_partition, target), 8)
    assert_one_dataset_every_row_once(refuel_emulator, 8)
    assert run_together(partial(append_partition, target), 8) == ["skipped"] * 8
    assert_one_dataset_every_row_once(refuel_emulator, 8)
    assert sum(refuel_emulator.fault_counters().values()) > 0


def test_eight_threads_define_one_task(refuel_emulator: RefuelEmulatorHandle, target: RaceTarget) -> None:
    append_partition(target, 0)
    ids = run_together(partial(define_task, target), 8)
    assert len(set(ids)) == 1
    assert [t["id"] for t in refuel_emulator.state.tasks.values() if t["task_name"] == TASK] == ids[:1]
    assert run_together(partial(define_task, target), 8) == ids


def test_four_processes_first_runs_make_one_dataset_and_one_task(refuel_emulator: RefuelEmulatorHandle,
                                                                 target: RaceTarget) -> None:
    actions = run_together(partial(first_run, target), 4, processes=True)
    assert sorted(actions) == ["appended"] * 3 + ["uploaded"]
    assert_one_dataset_every_row_once(refuel_emulator, 4)
    assert len([t for t in refuel_emulator.state.tasks.values() if t["task_name"] == TASK]) == 1
    assert [append_partition(target, i) for i in range(4)] == ["skipped"] * 4
    assert_one_dataset_every_row_once(refuel_emulator, 4)
