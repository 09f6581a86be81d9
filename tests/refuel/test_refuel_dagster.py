"""Refuel resource, asset factories, checks and sensors materialized with Dagster against the emulator."""

from typing import Any

import dagster as dg
import pandas as pd
import pytest
from refuel_helpers import FAST, SENTIMENT, reviews_frame

from dagster_labeling._core import InvalidInput
from dagster_labeling._dagster.config import RetryConfig
from dagster_labeling.refuel import (
    RefuelClient,
    RefuelResource,
    build_refuel_agreement_check,
    build_refuel_confidence_check,
    build_refuel_dataset_asset,
    build_refuel_export_asset,
    build_refuel_export_sensor,
    build_refuel_finetune_asset,
    build_refuel_finetune_sensor,
    build_refuel_labels_asset,
    build_refuel_online_labels_asset,
    build_refuel_task_run_sensor,
)
from dagster_labeling.testing.pytest_plugin import RefuelEmulatorHandle

SECRET = "refuel-s3cr3t-KEY-4242"
FAST_RETRY = RetryConfig(max_attempts=6, initial_backoff_seconds=0.001, max_backoff_seconds=0.01,
                         max_retry_after_seconds=0.01, total_timeout_seconds=30)
WAIT = {"poll_interval_seconds": 0.02, "wait_timeout_seconds": 30}


@pytest.fixture
def emu(refuel_emulator: RefuelEmulatorHandle) -> Any:
    old = refuel_emulator.state.api_key
    refuel_emulator.state.api_key = SECRET
    yield refuel_emulator
    refuel_emulator.state.api_key = old


def res(emu: RefuelEmulatorHandle, **kw: Any) -> RefuelResource:
    return RefuelResource(**{"api_key": SECRET, "project": emu.project, "base_url": emu.base_url,
                             "retry": FAST_RETRY, "label_rate_per_minute": None, "settle_seconds": 0.0, **kw})


def upstream(data: dict[str, pd.DataFrame], partitions_def: dg.PartitionsDefinition | None = None
             ) -> dg.AssetsDefinition:
    @dg.asset(name="reviews", partitions_def=partitions_def)
    def reviews(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return data[context.partition_key if context.has_partition_key else "all"]

    return reviews


def run(assets: list, emu: RefuelEmulatorHandle, **kw: Any) -> dg.ExecuteInProcessResult:
    kw.setdefault("raise_on_error", False)
    return dg.materialize(assets, resources={"refuel": res(emu), "io_manager": dg.mem_io_manager}, **kw)


def meta(result: dg.ExecuteInProcessResult, node: str) -> dict[str, Any]:
    mats = result.asset_materializations_for_node(node)
    return {k: getattr(v, "value", v) for k, v in mats[-1].metadata.items()}


def test_resource_hides_key_and_builds_client(emu: RefuelEmulatorHandle) -> None:
    r = res(emu)
    assert SECRET not in repr(r)
    with r.get_client() as c:
        assert SECRET not in repr(c) and c.get_projects()[0].project_name == emu.project


def test_dataset_then_labels_with_metadata_and_checks(emu: RefuelEmulatorHandle) -> None:
    data = {"all": reviews_frame(30)}
    dataset = build_refuel_dataset_asset(name="reviews_dataset", upstream="reviews", dataset_name="reviews")
    labels = build_refuel_labels_asset(name="reviews_labels", dataset_asset=dataset, dataset_name="reviews",
                                       task="sent", fields=["sentiment"], poll_interval_seconds=0.02)
    conf = build_refuel_confidence_check(asset=labels, field="sentiment", threshold=0.9, min_share=0.6)
    strict = build_refuel_confidence_check(asset=labels, field="sentiment", threshold=0.9, min_share=0.9,
                                           name="strict")
    agree = build_refuel_agreement_check(asset=labels, field="sentiment", ground_truth_column="gt",
                                         min_agreement=0.6)
    first = run([upstream(data), dataset], emu)
    assert first.success and meta(first, "reviews_dataset")["refuel/action"] == "uploaded"
    with RefuelClient(SECRET, project=emu.project, base_url=emu.base_url) as c:
        c.create_task("sent", "reviews", "ctx", [SENTIMENT])
    result = run([upstream(data), dataset, labels, conf, strict, agree], emu)
    assert result.success
    m = meta(result, "reviews_labels")
    assert m["dagster/row_count"] == 30 and m["refuel/run_state"] == "SUCCEEDED"
    dist = m["refuel/sentiment/label_distribution"]
    assert dist["positive"] >= 10 and dist["negative"] >= 10 and sum(dist.values()) == 30
    assert 0.5 < m["refuel/sentiment/mean_confidence"] < 1
    assert m["refuel/run_url"].startswith(f"{emu.server.url}/refuel/app/tasks/")  # the emulator's page
    frame = result.output_for_node("reviews_labels")
    assert set(frame[frame.text.str.startswith("so negative")].sentiment_llm_label) == {"negative"}
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    # 20 of 30 rows have confidence 0.95 (text names the label), "meh" rows 0.40-0.69: 67% >= 0.9
    assert checks == {"sentiment_confidence_at_least_90": True, "strict": False, "sentiment_agrees_with_gt": True}
    said = {e.check_name: e.description for e in result.get_asset_check_evaluations()}  # what the UI shows
    assert said["strict"] == "67% of 30 rows have sentiment confidence >= 0.9 (need 90%)."
    assert said["sentiment_agrees_with_gt"].startswith("sentiment agrees with gt on ")
    assert meta(result, "reviews_dataset")["refuel/action"] == "skipped"
    assert all(SECRET not in str(v) for v in m.values())


def test_partitions_append_exactly_once_on_backfill_and_rerun(emu: RefuelEmulatorHandle) -> None:
    parts = dg.StaticPartitionsDefinition(["d1", "d2", "d3"])
    data = {k: reviews_frame(4 + i) for i, k in enumerate(parts.get_partition_keys())}
    dataset = build_refuel_dataset_asset(name="reviews_dataset", upstream="reviews", dataset_name="daily",
                                         partitions_def=parts)
    assets = [upstream(data, parts), dataset]
    actions = []
    for key in ["d1", "d2", "d3", "d2", "d1"]:
        result = run(assets, emu, partition_key=key)
        assert result.success
        actions.append(meta(result, "reviews_dataset")["refuel/action"])
    assert actions == ["uploaded", "appended", "appended", "skipped", "skipped"]
    with RefuelClient(SECRET, project=emu.project, base_url=emu.base_url) as c:
        items = c.get_items("daily", max_items=None)
        assert items.groupby("dagster_partition").size().to_dict() == {"d1": 4, "d2": 5, "d3": 6}
        c.create_task("sent", "daily", "ctx", [SENTIMENT])
    labels = build_refuel_labels_asset(name="daily_labels", dataset_asset=dataset, dataset_name="daily", task="sent",
                                       fields=["sentiment"], poll_interval_seconds=0.02)
    result = run([labels], emu, partition_key="d2")
    assert result.success and meta(result, "daily_labels")["dagster/row_count"] == 5
    assert set(result.output_for_node("daily_labels").dagster_partition) == {"d2"}


def test_online_labels_asset_and_failed_rows(emu: RefuelEmulatorHandle) -> None:
    with RefuelClient(SECRET, project=emu.project, base_url=emu.base_url) as c:
        c.upload_dataset(reviews_frame(3), "seed", wait_for_completion=True, wait=FAST)
        c.create_task("sent", "seed", "ctx", [SENTIMENT])
        c.deploy_task("sent", "sentiment_app")
    data = {"all": reviews_frame(9)[["text"]]}
    online = build_refuel_online_labels_asset(name="online", upstream="reviews", application="sentiment_app",
                                              fields=["sentiment"], concurrency=3)
    result = run([upstream(data), online], emu)
    assert result.success
    out = result.output_for_node("online")
    assert list(out.sentiment_label[:2]) == ["positive", "negative"] and out.refuel_uuid.notna().all()
    assert meta(result, "online")["refuel/failed_rows"] == 0
    emu.set_faults(rate=1.0, weights={"500": 1.0}, path_prefixes=["/applications/"], methods=["POST"])
    failed = run([upstream(data), online], emu)
    assert not failed.success
    partial = build_refuel_online_labels_asset(name="online", upstream="reviews", application="sentiment_app",
                                               allow_partial=True)
    kept = run([upstream(data), partial], emu)
    assert kept.success and meta(kept, "online")["refuel/failed_rows"] == 9


def test_finetune_asset_and_bad_base_model(emu: RefuelEmulatorHandle) -> None:
    with pytest.raises(InvalidInput, match="not offered"):
        build_refuel_finetune_asset(name="ft", task="sent", base_model="llama")
    with RefuelClient(SECRET, project=emu.project, base_url=emu.base_url) as c:
        c.upload_dataset(reviews_frame(3), "seed", wait_for_completion=True, wait=FAST)
        c.create_task("sent", "seed", "ctx", [SENTIMENT])
    ft = build_refuel_finetune_asset(name="ft", task="sent", base_model="refuel-llm-2-small",
                                     hyperparameters={"num_epochs": 2}, poll_interval_seconds=0.02)
    result = run([ft], emu)
    assert result.success
    m = meta(result, "ft")
    assert m["refuel/finetune_state"] == "SUCCEEDED" and m["refuel/training_stats"]["epochs"] == 2
    assert "accuracy" in m["refuel/evaluation_stats"]


def test_task_run_sensor_cursor_bounded_dedup(emu: RefuelEmulatorHandle) -> None:
    emu.state.items_per_second = 0.01  # still running at the first tick, however slow the machine
    with RefuelClient(SECRET, project=emu.project, base_url=emu.base_url) as c:
        for name in ("a", "b", "c"):
            c.upload_dataset(reviews_frame(3), name, wait_for_completion=True, wait=FAST)
        c.create_task("sent", "a", "ctx", [SENTIMENT])
        for name in ("a", "b"):
            c.start_task_run("sent", name)
    sensor = build_refuel_task_run_sensor(name="runs", task="sent", datasets=["a", "b", "c"], target="x",
                                          max_checks_per_tick=2)
    with dg.instance_for_test() as inst:
        with dg.build_sensor_context(instance=inst, resources={"refuel": res(emu)}) as ctx:
            r1 = sensor(ctx)
        assert not r1.run_requests  # still running
        emu.state.complete_all()
        with dg.build_sensor_context(instance=inst, cursor=r1.cursor, resources={"refuel": res(emu)}) as ctx:
            r2 = sensor(ctx)  # checks c (no run) and a
        with dg.build_sensor_context(instance=inst, cursor=r2.cursor, resources={"refuel": res(emu)}) as ctx:
            r3 = sensor(ctx)  # checks b and c
        with dg.build_sensor_context(instance=inst, cursor=r3.cursor, resources={"refuel": res(emu)}) as ctx:
            r4 = sensor(ctx)  # a and b again: already reported
    keys = [rr.tags["refuel/dataset"] for r in (r2, r3) for rr in r.run_requests]
    assert sorted(keys) == ["a", "b"] and not r4.run_requests
    assert len({rr.run_key for r in (r2, r3) for rr in r.run_requests}) == 2


def test_export_sensor_emits_where_it_landed(emu: RefuelEmulatorHandle) -> None:
    emu.state.export_seconds = 3600  # made ready by hand below
    with RefuelClient(SECRET, project=emu.project, base_url=emu.base_url) as c:
        c.upload_dataset(reviews_frame(3), "seed", wait_for_completion=True, wait=FAST)
    export = build_refuel_export_asset(name="seed_export", dataset_name="seed", email_address="me@example.com")
    sensor = build_refuel_export_sensor(name="exports", export_asset=export, ready_asset_key="seed_export_ready")
    with dg.instance_for_test() as inst:
        assert dg.materialize([export], resources={"refuel": res(emu)}, instance=inst).success
        with dg.build_sensor_context(instance=inst, resources={"refuel": res(emu)}) as ctx:
            r1 = sensor(ctx)
        assert not r1.asset_events
        emu.state.complete_all()
        emu.state.exports[next(iter(emu.state.exports))]["ready_at"] = 0
        with dg.build_sensor_context(instance=inst, cursor=r1.cursor, resources={"refuel": res(emu)}) as ctx:
            r2 = sensor(ctx)
        with dg.build_sensor_context(instance=inst, cursor=r2.cursor, resources={"refuel": res(emu)}) as ctx:
            r3 = sensor(ctx)
    event = r2.asset_events[0]
    url = event.metadata["refuel/export_url"].value
    assert "/_exports/" in url and not r3.asset_events
    with RefuelClient(SECRET, project=emu.project, base_url=emu.base_url) as c:
        assert len(c.download(url)) == 3


def test_finetune_sensor_reports_once(emu: RefuelEmulatorHandle) -> None:
    with RefuelClient(SECRET, project=emu.project, base_url=emu.base_url) as c:
        c.upload_dataset(reviews_frame(3), "seed", wait_for_completion=True, wait=FAST)
        c.create_task("sent", "seed", "ctx", [SENTIMENT])
        job = c.finetune_model("sent", "refuel-llm-2-large")
        other = c.finetune_model("sent", "refuel-llm-2-mini")
        other.cancel()
    sensor = build_refuel_finetune_sensor(name="ft_done", task="sent", model_asset_key="model")
    with dg.instance_for_test() as inst:
        with dg.build_sensor_context(instance=inst, resources={"refuel": res(emu)}) as ctx:
            r1 = sensor(ctx)
        emu.state.complete_all()
        with dg.build_sensor_context(instance=inst, cursor=r1.cursor, resources={"refuel": res(emu)}) as ctx:
            r2 = sensor(ctx)
        with dg.build_sensor_context(instance=inst, cursor=r2.cursor, resources={"refuel": res(emu)}) as ctx:
            r3 = sensor(ctx)
    states = {e.metadata["refuel/model_id"].value: e.metadata["refuel/finetune_state"].value
              for r in (r1, r2) for e in (r.asset_events or [])}
    assert states == {other.id: "CANCELED", job.id: "SUCCEEDED"}
    assert not r3.asset_events


def test_checks_on_a_partitioned_labels_asset_judge_only_their_partition(emu: RefuelEmulatorHandle,
                                                                        tmp_path: Any) -> None:
    """With only d1 materialized, the checks run on d1 alone (unpartitioned checks loaded every partition)."""
    parts = dg.StaticPartitionsDefinition(["d1", "d2"])
    data = {"d1": reviews_frame(30), "d2": reviews_frame(3)}
    dataset = build_refuel_dataset_asset(name="reviews_dataset", upstream="reviews", dataset_name="daily_checks",
                                         partitions_def=parts)
    labels = build_refuel_labels_asset(name="daily_labels", dataset_asset=dataset, dataset_name="daily_checks",
                                       task="sent", fields=["sentiment"], poll_interval_seconds=0.02)
    conf = build_refuel_confidence_check(asset=labels, field="sentiment", threshold=0.9, min_share=0.6)
    agree = build_refuel_agreement_check(asset=labels, field="sentiment", ground_truth_column="gt",
                                         min_agreement=0.6)
    assert run([upstream(data, parts), dataset], emu, partition_key="d1").success
    with RefuelClient(SECRET, project=emu.project, base_url=emu.base_url) as c:
        c.create_task("sent", "daily_checks", "ctx", [SENTIMENT])
    result = dg.materialize([upstream(data, parts), dataset, labels, conf, agree], partition_key="d1",
                            selection=[labels, conf, agree], resources={
                                "refuel": res(emu), "io_manager": dg.FilesystemIOManager(base_dir=str(tmp_path))})
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["sentiment_confidence_at_least_90"].passed
    assert evaluations["sentiment_confidence_at_least_90"].metadata["rows"].value == 30
    assert evaluations["sentiment_agrees_with_gt"].passed


def test_labels_asset_defines_its_task_once(emu: RefuelEmulatorHandle) -> None:
    data = {"all": reviews_frame(6)}
    dataset = build_refuel_dataset_asset(name="reviews_dataset", upstream="reviews", dataset_name="reviews")
    labels = build_refuel_labels_asset(name="reviews_labels", dataset_asset=dataset, dataset_name="reviews",
                                       task="sent", fields=["sentiment"], task_context="You label reviews.",
                                       task_fields=[SENTIMENT], poll_interval_seconds=0.02)
    for _ in range(2):
        result = run([upstream(data), dataset, labels], emu)
        assert result.success and meta(result, "reviews_labels")["dagster/row_count"] == 6
    assert [t["task_name"] for t in emu.state.tasks.values()] == ["sent"]
    with pytest.raises(InvalidInput, match="task_context"):
        build_refuel_labels_asset(name="x", dataset_asset=dataset, dataset_name="reviews", task="t",
                                  task_fields=[SENTIMENT])


def test_datasets_left_by_the_old_race_oldest_used_empty_ones_removed(emu: RefuelEmulatorHandle) -> None:
    """Same-named datasets made before this version: rows go to the oldest, whatever order the list shows; an
    empty duplicate is deleted, one holding rows is reported and left alone."""
    state = emu.state
    columns = ["text", "gt", "stars", "dagster_partition"]
    rows = [dict(r, dagster_partition="d1") for r in reviews_frame(3).to_dict("records")]
    pid = state.ensure_project(emu.project)["id"]
    with state.lock:
        newer = state._make_dataset(pid, "daily", columns, rows, ready=True)
        older = state._make_dataset(pid, "daily", columns, rows, ready=True)
        empty = state._make_dataset(pid, "daily", columns, [], ready=True)
        older["created_at"], newer["created_at"] = "2026-01-01T00:00:00.000Z", "2026-01-02T00:00:00.000Z"
        empty["created_at"] = "2026-01-03T00:00:00.000Z"
    parts = dg.StaticPartitionsDefinition(["d1", "d2"])
    dataset = build_refuel_dataset_asset(name="reviews_dataset", upstream="reviews", dataset_name="daily",
                                         partitions_def=parts)
    data = {"d1": reviews_frame(3), "d2": reviews_frame(4)}
    result = run([upstream(data, parts), dataset], emu, partition_key="d2")
    assert result.success and meta(result, "reviews_dataset")["refuel/action"] == "appended"
    assert meta(result, "reviews_dataset")["refuel/duplicate_datasets"] == [newer["id"]]
    assert len(older["rows"]) == 7 and len(newer["rows"]) == 3 and empty["id"] not in state.datasets
    again = run([upstream(data, parts), dataset], emu, partition_key="d1")
    assert meta(again, "reviews_dataset")["refuel/action"] == "skipped" and len(older["rows"]) == 7
