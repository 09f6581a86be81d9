"""Refuel paths not covered by test_refuel_dagster: no-wait labels + task-run sensor, run-request mode of the
export and fine-tune sensors, sensor dedup against assets that waited, and cancel on termination."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
from dagster._core.errors import DagsterExecutionInterruptedError  # what Dagster raises in a terminated step
from refuel_helpers import FAST, SENTIMENT, reviews_frame

from dagster_labeling._core import JobHandle
from dagster_labeling._dagster.config import RetryConfig
from dagster_labeling.refuel import (
    RefuelClient,
    RefuelResource,
    build_refuel_export_asset,
    build_refuel_export_sensor,
    build_refuel_finetune_asset,
    build_refuel_finetune_sensor,
    build_refuel_labels_asset,
    build_refuel_task_run_sensor,
)
from dagster_labeling.testing.pytest_plugin import RefuelEmulatorHandle

FAST_RETRY = RetryConfig(max_attempts=6, initial_backoff_seconds=0.001, max_backoff_seconds=0.01,
                         max_retry_after_seconds=0.01, total_timeout_seconds=30)


@pytest.fixture
def emu(refuel_emulator: RefuelEmulatorHandle) -> Iterator[RefuelEmulatorHandle]:
    state = refuel_emulator.state
    old = state.items_per_second, state.export_seconds, state.finetune_seconds
    yield refuel_emulator
    state.items_per_second, state.export_seconds, state.finetune_seconds = old


def res(emu: RefuelEmulatorHandle) -> RefuelResource:
    return RefuelResource(api_key=emu.api_key, project=emu.project, base_url=emu.base_url, retry=FAST_RETRY,
                          label_rate_per_minute=None)


def client(emu: RefuelEmulatorHandle) -> RefuelClient:
    return RefuelClient(emu.api_key, project=emu.project, base_url=emu.base_url)


def seed(emu: RefuelEmulatorHandle, *datasets: str, rows: int = 6) -> None:
    """Upload ``datasets`` (ingested) and create task 'sent' on the first."""
    with client(emu) as c:
        for name in datasets:
            c.upload_dataset(reviews_frame(rows), name, wait_for_completion=True, wait=FAST)
        c.create_task("sent", datasets[0], "ctx", [SENTIMENT])


def tick(sensor: dg.SensorDefinition, inst: dg.DagsterInstance, emu: RefuelEmulatorHandle,
         cursor: str | None = None) -> Any:
    with dg.build_sensor_context(instance=inst, cursor=cursor, resources={"refuel": res(emu)}) as ctx:
        return sensor(ctx)


def requests(*results: Any) -> list[dg.RunRequest]:
    return [rr for r in results for rr in (r.run_requests or [])]


def run_status(emu: RefuelEmulatorHandle, dataset: str) -> str:
    (run,) = [r for r in emu.state.runs.values() if r["dataset_name"] == dataset]
    return str(run["status"])


def meta_of(result: dg.ExecuteInProcessResult, node: str) -> dict[str, Any]:
    mats = result.asset_materializations_for_node(node)
    return {k: getattr(v, "value", v) for k, v in mats[-1].metadata.items()}


def test_no_wait_labels_then_task_run_sensor_requests_once(emu: RefuelEmulatorHandle) -> None:
    seed(emu, "reviews")
    emu.state.items_per_second = 0.001  # nothing gets labeled until complete_all()
    labels = build_refuel_labels_asset(name="reviews_labels", dataset_asset="reviews_dataset",
                                       dataset_name="reviews", task="sent", fields=["sentiment"],
                                       wait_for_completion=False)
    sensor = build_refuel_task_run_sensor(name="runs", task="sent", datasets=["reviews"], target="reviews_labels",
                                          labels_asset=labels)
    with dg.instance_for_test() as inst:
        result = dg.materialize([labels], resources={"refuel": res(emu)}, instance=inst)
        assert result.success
        m = meta_of(result, "reviews_labels")
        assert m["refuel/run_state"] == "RUNNING" and m["refuel/num_labeled"] == 0
        assert run_status(emu, "reviews") == "active"  # returned at once, the run goes on
        r1 = tick(sensor, inst, emu)
        assert not requests(r1)
        emu.state.complete_all()
        r2 = tick(sensor, inst, emu, r1.cursor)
        r3 = tick(sensor, inst, emu, r2.cursor)
        r2_again = tick(sensor, inst, emu, r1.cursor)  # the same tick evaluated twice
    (req,) = requests(r2)
    run_id = next(iter(emu.state.runs.values()))["id"]
    assert req.run_key == f"runs:{run_id}" and req.tags["refuel/dataset"] == "reviews"
    assert [rr.run_key for rr in requests(r2_again)] == [req.run_key]  # stable run_key
    assert not requests(r3) and r3.skip_reason


def test_export_sensor_run_request_mode(emu: RefuelEmulatorHandle) -> None:
    emu.state.export_seconds = 3600  # made ready by hand below
    seed(emu, "seed")

    @dg.op
    def notify() -> None: ...

    @dg.job
    def on_export() -> None:
        notify()

    export = build_refuel_export_asset(name="seed_export", dataset_name="seed", email_address="me@example.com")
    sensor = build_refuel_export_sensor(name="exports", export_asset=export, job=on_export)
    with dg.instance_for_test() as inst:
        r0 = tick(sensor, inst, emu)  # nothing exported yet
        assert dg.materialize([export], resources={"refuel": res(emu)}, instance=inst).success
        r1 = tick(sensor, inst, emu, r0.cursor)
        assert not requests(r0, r1)
        for e in emu.state.exports.values():
            e["ready_at"] = 0
        r2 = tick(sensor, inst, emu, r1.cursor)
        r3 = tick(sensor, inst, emu, r2.cursor)
        r2_again = tick(sensor, inst, emu, r1.cursor)
        assert dg.materialize([export], resources={"refuel": res(emu)}, instance=inst).success  # a second export
        for e in emu.state.exports.values():
            e["ready_at"] = 0
        r4 = tick(sensor, inst, emu, r3.cursor)
    (req,) = requests(r2)
    export_id = req.tags["dagster-labeling/refuel-export"]
    assert req.run_key == f"exports:{export_id}" and "/_exports/" in req.tags["refuel/export_url"]
    assert [rr.run_key for rr in requests(r2_again)] == [req.run_key]
    assert not requests(r3)
    (second,) = requests(r4)
    assert second.run_key != req.run_key and second.run_key.startswith("exports:")
    assert sensor.job_name == "on_export"


def test_finetune_sensor_run_request_mode(emu: RefuelEmulatorHandle) -> None:
    seed(emu, "seed")
    emu.state.finetune_seconds = 3600  # nothing finishes by itself
    with client(emu) as c:
        done = c.finetune_model("sent", "refuel-llm-2-large")
        canceled = c.finetune_model("sent", "refuel-llm-2-mini")
        canceled.cancel()
        running = c.finetune_model("sent", "refuel-llm-2-small")
    sensor = build_refuel_finetune_sensor(name="ft_done", task="sent", target="downstream")
    with dg.instance_for_test() as inst:
        r1 = tick(sensor, inst, emu)
        ft = next(f for f in emu.state.finetunes.values() if f["id"] == done.id)
        ft["_started"] = -1e12  # only this one finishes
        emu.state.tick(emu.state.clock.now())  # now, not at the emulator's next tick
        r2 = tick(sensor, inst, emu, r1.cursor)
        r3 = tick(sensor, inst, emu, r2.cursor)
    tags = {rr.tags["dagster-labeling/refuel-model"]: (rr.run_key, rr.tags["refuel/state"])
            for rr in requests(r1, r2)}
    assert tags == {canceled.id: (f"ft_done:{canceled.id}", "CANCELED"), done.id: (f"ft_done:{done.id}", "SUCCEEDED")}
    assert running.id not in tags and len(requests(r1, r2)) == 2
    assert not requests(r3) and r3.skip_reason


def test_task_run_sensor_skips_a_run_the_labels_asset_waited_for(emu: RefuelEmulatorHandle) -> None:
    seed(emu, "reviews", "other")
    labels = build_refuel_labels_asset(name="reviews_labels", dataset_asset="reviews_dataset",
                                       dataset_name="reviews", task="sent", poll_interval_seconds=0.02)
    sensor = build_refuel_task_run_sensor(name="runs", task="sent", datasets=["reviews", "other"], target="x",
                                          labels_asset=labels)
    no_dedup = build_refuel_task_run_sensor(name="runs", task="sent", datasets=["reviews", "other"], target="x")
    with dg.instance_for_test() as inst:
        result = dg.materialize([labels], resources={"refuel": res(emu)}, instance=inst)
        assert result.success and meta_of(result, "reviews_labels")["refuel/run_state"] == "SUCCEEDED"
        with client(emu) as c:
            c.start_task_run("sent", "other").wait(FAST)  # a run nobody waited for
        r1 = tick(sensor, inst, emu)
        r2 = tick(sensor, inst, emu, r1.cursor)
        plain = tick(no_dedup, inst, emu)
    assert [rr.tags["refuel/dataset"] for rr in requests(r1)] == ["other"]
    assert not requests(r2)
    assert sorted(rr.tags["refuel/dataset"] for rr in requests(plain)) == ["other", "reviews"]


def test_task_run_sensor_reports_a_later_run_on_the_same_dataset(emu: RefuelEmulatorHandle) -> None:
    """The asset waited for run 1; run 2 on the same dataset, started elsewhere, is still news."""
    seed(emu, "reviews")
    labels = build_refuel_labels_asset(name="reviews_labels", dataset_asset="reviews_dataset",
                                       dataset_name="reviews", task="sent", poll_interval_seconds=0.02)
    sensor = build_refuel_task_run_sensor(name="runs", task="sent", datasets=["reviews"], target="x",
                                          labels_asset=labels)
    with dg.instance_for_test() as inst:
        assert dg.materialize([labels], resources={"refuel": res(emu)}, instance=inst).success
        r1 = tick(sensor, inst, emu)
        first = next(iter(emu.state.runs.values()))["id"]
        with client(emu) as c:
            c.start_task_run("sent", "reviews").wait(FAST)
        second = next(iter(emu.state.runs.values()))["id"]
        r2 = tick(sensor, inst, emu, r1.cursor)
    assert not requests(r1) and second != first
    (req,) = requests(r2)
    assert req.run_key == f"runs:{second}"


def test_finetune_sensor_skips_the_finetune_the_asset_waited_for(emu: RefuelEmulatorHandle) -> None:
    seed(emu, "seed")
    ft = build_refuel_finetune_asset(name="ft", task="sent", base_model="refuel-llm-2-small",
                                     poll_interval_seconds=0.02)
    sensor = build_refuel_finetune_sensor(name="ft_done", task="sent", target="x", finetune_asset=ft)
    with dg.instance_for_test() as inst:
        result = dg.materialize([ft], resources={"refuel": res(emu)}, instance=inst)
        assert result.success
        waited = meta_of(result, "ft")["refuel/model_id"]
        with client(emu) as c:
            other = c.finetune_model("sent", "refuel-llm-2-large")
        emu.state.complete_all()
        r1 = tick(sensor, inst, emu)
        r2 = tick(sensor, inst, emu, r1.cursor)
    assert [rr.tags["dagster-labeling/refuel-model"] for rr in requests(r1)] == [other.id] != [waited]
    assert not requests(r2)


@pytest.mark.parametrize("cancel_on_termination", [True, False])
def test_terminated_labels_wait_cancels_the_task_run(emu: RefuelEmulatorHandle, monkeypatch: pytest.MonkeyPatch,
                                                     cancel_on_termination: bool) -> None:
    seed(emu, "reviews")
    emu.state.items_per_second = 0.001  # the run stays active
    labels = build_refuel_labels_asset(name="reviews_labels", dataset_asset="reviews_dataset",
                                       dataset_name="reviews", task="sent", poll_interval_seconds=0.01,
                                       cancel_on_termination=cancel_on_termination)
    polls: list[float] = []

    def terminate_on_second_poll(self: Any, seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:
            raise DagsterExecutionInterruptedError()  # the run was terminated from the UI

    monkeypatch.setattr(JobHandle, "sleep", terminate_on_second_poll)
    with pytest.raises(DagsterExecutionInterruptedError):
        dg.materialize([labels], resources={"refuel": res(emu)}, raise_on_error=True)
    assert len(polls) == 2
    assert run_status(emu, "reviews") == ("cancelled" if cancel_on_termination else "active")


def test_task_run_sensor_skips_missing_datasets_but_not_errors(emu: RefuelEmulatorHandle) -> None:
    """A dataset not created yet is nothing to report; a bad key is an error, not silence."""
    seed(emu, "reviews")
    sensor = build_refuel_task_run_sensor(name="runs", task="sent", datasets=["not-yet", "reviews"], target="x")
    with dg.instance_for_test() as inst:
        result = tick(sensor, inst, emu)
        assert not requests(result)
        bad_key = RefuelResource(api_key="wrong-key", project=emu.project, base_url=emu.base_url,
                                 retry=FAST_RETRY, label_rate_per_minute=None)
        with dg.build_sensor_context(instance=inst, resources={"refuel": bad_key}) as ctx:
            with pytest.raises(Exception, match="(?i)unauthori|401"):
                sensor(ctx)
