"""Parallel first runs converge: workers released together (threads and processes) against the emulator with
latency, so that every look-up happens before any create. One project, one feedback key, one dataset (every
row once), one A/B test; a later run changes nothing."""

import threading
from functools import partial
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from dagster_labeling.adaptive import (
    AdaptiveClient,
    AdaptiveResource,
    build_adaptive_ab_test_asset,
    build_adaptive_job_asset,
)
from dagster_labeling.testing.pytest_plugin import AdaptiveEmulatorHandle
from dagster_labeling.testing.race import run_together

from .race_workers import LLAMA, QWEN, ROWS, first_run


def assert_converged(emu: AdaptiveEmulatorHandle, results: list[dict[str, Any]]) -> None:
    state = emu.state
    assert list(state.projects) == ["shared"]
    assert list(state.metrics) == ["acceptance"] and state.metrics["acceptance"]["projects"] == {"shared"}
    [dataset] = state.datasets.values()
    assert dataset["key"] == "faq" and dataset["records"] == len(ROWS)
    assert list(state.ab_campaigns) == ["shared-ab"]
    assert len({r["ids"] for r in results}) == 1  # every run holds the same objects
    assert [sum(r["created"][i] for r in results) for i in range(4)] == [1, 1, 1, 1]  # each made once
    assert {r["records"] for r in results} == {len(ROWS)}


def test_threads_released_together_converge(adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    adaptive_emulator.set_faults(latency_seconds=0.1)
    results = run_together(partial(first_run, adaptive_emulator.base_url, adaptive_emulator.api_key), 8)
    assert_converged(adaptive_emulator, results)
    again = first_run(adaptive_emulator.base_url, adaptive_emulator.api_key, 0)  # a later run changes nothing
    assert again["ids"] == results[0]["ids"] and again["created"] == (False, False, False, False)
    assert_converged(adaptive_emulator, results)


def test_processes_released_together_converge(adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    adaptive_emulator.set_faults(latency_seconds=0.1)
    results = run_together(partial(first_run, adaptive_emulator.base_url, adaptive_emulator.api_key), 4,
                           processes=True)
    assert_converged(adaptive_emulator, results)


def test_a_feedback_key_of_another_kind_is_refused(adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    from dagster_labeling._core import InvalidInput

    adaptive_emulator.ensure_project("shared")
    with AdaptiveClient(adaptive_emulator.api_key, base_url=adaptive_emulator.base_url) as c:
        c.register_feedback_key("shared", "acceptance", kind="scalar")
        with pytest.raises(InvalidInput, match="exists with kind SCALAR"):
            c.ensure_feedback_key("shared", "acceptance", kind="bool")


def test_ab_test_asset_runs_of_one_partition_arriving_together_share_one_test(
        adaptive_emulator: AdaptiveEmulatorHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight runs of one partition: each looks the test up (none yet), then all create at once (held at a barrier
    so that no look-up comes after a create, whatever Dagster's start-up jitter): one test, eight successes."""
    adaptive_emulator.ensure_project("support", models=[LLAMA, QWEN], default=LLAMA)
    with AdaptiveClient(adaptive_emulator.api_key, base_url=adaptive_emulator.base_url) as c:
        c.register_feedback_key("support", "acceptance", kind="bool")
    weeks = dg.StaticPartitionsDefinition(["w1"])
    ab = build_adaptive_ab_test_asset(name="weekly_ab", project="support", feedback_key="acceptance",
                                      models=[LLAMA, QWEN], partitions_def=weeks, wait_for_completion=False)
    resource = AdaptiveResource(api_key=adaptive_emulator.api_key, base_url=adaptive_emulator.base_url)
    adaptive_emulator.set_faults(latency_seconds=0.1)
    everyone_looked = threading.Barrier(8, timeout=60)
    create = AdaptiveClient.create_ab_test

    def create_after_every_look_up(self: AdaptiveClient, *args: Any, **kwargs: Any) -> Any:
        everyone_looked.wait()
        return create(self, *args, **kwargs)

    monkeypatch.setattr(AdaptiveClient, "create_ab_test", create_after_every_look_up)

    def run(_worker: int) -> Any:
        result = dg.materialize([ab], partition_key="w1", resources={"adaptive": resource}, raise_on_error=False)
        return result.success, result.output_for_node("weekly_ab") if result.success else None

    results = run_together(run, 8)
    assert results == [(True, "weekly_ab__w1")] * 8
    assert list(adaptive_emulator.state.ab_campaigns) == ["weekly_ab__w1"]


def test_job_asset_runs_of_one_partition_arriving_together_share_one_job(
        adaptive_emulator: AdaptiveEmulatorHandle) -> None:
    """Job names are not unique on Adaptive: each run starts a job, then keeps the earliest of the partition's
    (the same for all) and cancels its own if it is not that one."""
    adaptive_emulator.ensure_project("support", models=[LLAMA], default=LLAMA)
    adaptive_emulator.state.job_run_seconds = 3600.0
    weeks = dg.StaticPartitionsDefinition(["w1"])
    tuned = build_adaptive_job_asset(name="tuned", project="support", recipe="sft", args={"model": LLAMA},
                                     partitions_def=weeks, wait_for_completion=False)
    resource = AdaptiveResource(api_key=adaptive_emulator.api_key, base_url=adaptive_emulator.base_url)
    adaptive_emulator.set_faults(latency_seconds=0.1)

    def run(_worker: int) -> Any:
        result = dg.materialize([tuned], partition_key="w1", resources={"adaptive": resource})
        return result.output_for_node("tuned")

    outputs = run_together(run, 8)
    statuses = {j["id"]: j["status"] for j in adaptive_emulator.state.jobs.values()}
    [kept] = [job_id for job_id, status in statuses.items() if status != "CANCELED"]
    assert outputs == [kept] * 8 and len(statuses) == 8  # one job goes on; the other seven were canceled


def test_dataset_asset_runs_arriving_together_upload_once(adaptive_emulator: AdaptiveEmulatorHandle,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster_labeling.adaptive import build_adaptive_dataset_asset

    adaptive_emulator.ensure_project("support")
    frame = pd.DataFrame({"prompt": [f"q{i}" for i in range(6)], "completion": [f"a{i}" for i in range(6)]})
    days = dg.StaticPartitionsDefinition(["2026-11-02"])

    @dg.asset(name="pairs", partitions_def=days)
    def pairs() -> pd.DataFrame:
        return frame

    faq = build_adaptive_dataset_asset(name="faq", upstream=pairs, project="support")
    resource = AdaptiveResource(api_key=adaptive_emulator.api_key, base_url=adaptive_emulator.base_url)
    adaptive_emulator.set_faults(latency_seconds=0.1)
    everyone_looked = threading.Barrier(8, timeout=60)
    upload = AdaptiveClient._upload_dataset

    def upload_after_every_look_up(self: AdaptiveClient, *args: Any, **kwargs: Any) -> Any:
        everyone_looked.wait()
        return upload(self, *args, **kwargs)

    monkeypatch.setattr(AdaptiveClient, "_upload_dataset", upload_after_every_look_up)

    def run(_worker: int) -> Any:
        result = dg.materialize([pairs, faq], partition_key="2026-11-02", resources={"adaptive": resource})
        meta = result.asset_materializations_for_node("faq")[0].metadata
        return result.output_for_node("faq"), meta["adaptive/uploaded"].value

    results = run_together(run, 8)
    assert sorted(results) == [("faq__2026-11-02", False)] * 7 + [("faq__2026-11-02", True)]
    [dataset] = adaptive_emulator.state.datasets.values()
    assert dataset["key"] == "faq__2026-11-02" and dataset["records"] == 6
    monkeypatch.undo()
    again = dg.materialize([pairs, faq], partition_key="2026-11-02", resources={"adaptive": resource})
    assert again.asset_materializations_for_node("faq")[0].metadata["adaptive/uploaded"].value is False
    frame = frame.iloc[:4]  # the input changed: the dataset cannot be replaced, and the step says so
    changed = dg.materialize([pairs, faq], partition_key="2026-11-02", resources={"adaptive": resource},
                             raise_on_error=False)
    assert not changed.success and len(adaptive_emulator.state.datasets) == 1
    [failure] = changed.get_step_failure_events()
    reported = failure.step_failure_data.user_failure_data
    assert reported is not None and "exists with 6 records, the input has 4 rows" in str(reported.description)
