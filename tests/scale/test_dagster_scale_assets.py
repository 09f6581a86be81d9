"""Scale batch/responses asset factories materialized with Dagster against the Scale emulator."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd
import pytest

from dagster_labeling._core import ConnectionFailed, InvalidInput
from dagster_labeling._dagster.config import RetryConfig, WaitConfig
from dagster_labeling.scale import (
    ScaleClient,
    ScaleResource,
    build_scale_batch_asset,
    build_scale_responses_asset,
)
from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle

PROJECT = "sentiment"
STATIC = {"instruction": "Sentiment?", "attachment_type": "text", "categories": ["positive", "negative"]}
SECRET_KEY = "live_s3cr3t-dagster-test-KEY-9f1c"
FAST_RETRY = RetryConfig(max_attempts=8, initial_backoff_seconds=0.001, max_backoff_seconds=0.01,
                         max_retry_after_seconds=0.01, total_timeout_seconds=30)


# -- helpers ---------------------------------------------------------------------------------------------
@pytest.fixture
def emu(scale_emulator: ScaleEmulatorHandle) -> Iterator[ScaleEmulatorHandle]:
    """The emulator with a distinctive API key (to look for leaks) and the project created."""
    old_key = scale_emulator.state.api_key
    scale_emulator.state.api_key = SECRET_KEY
    with ScaleClient(SECRET_KEY, base_url=scale_emulator.base_url) as client:
        client.create_project(PROJECT, "categorization")
    try:
        yield scale_emulator
    finally:
        scale_emulator.state.api_key = old_key


def resource(emu: ScaleEmulatorHandle, **kwargs: Any) -> ScaleResource:
    return ScaleResource(**{"api_key": SECRET_KEY, "base_url": emu.base_url, "retry": FAST_RETRY, **kwargs})


def frame(n: int, prefix: str = "r") -> pd.DataFrame:
    return pd.DataFrame({"id": [f"{prefix}{i}" for i in range(n)], "text": [f"text {prefix}{i}" for i in range(n)],
                         "lang": ["en"] * n})


def upstream_asset(data: dict[str, pd.DataFrame], partitions_def: dg.PartitionsDefinition | None = None):
    """An upstream asset returning ``data[partition or "all"]`` (mutable between runs)."""

    @dg.asset(name="reviews", partitions_def=partitions_def)
    def reviews(context) -> pd.DataFrame:
        return data[context.partition_key if context.has_partition_key else "all"]

    return reviews


def batch_asset(**kwargs: Any) -> dg.AssetsDefinition:
    args: dict[str, Any] = {
        "name": "reviews_batch", "upstream": "reviews", "project": PROJECT, "task_type": "categorization",
        "row_key_column": "id", "payload_columns": {"attachment": "text"}, "static_payload": STATIC,
    }
    args.update(kwargs)
    return build_scale_batch_asset(**args)


def run(assets: list, emu: ScaleEmulatorHandle, res: ScaleResource | None = None, **kwargs: Any):
    kwargs.setdefault("raise_on_error", False)
    return dg.materialize(assets, resources={"scale": res or resource(emu), "io_manager": dg.mem_io_manager},
                          **kwargs)


def batch_meta(result: dg.ExecuteInProcessResult, node: str = "reviews_batch") -> dict[str, Any]:
    mats = result.asset_materializations_for_node(node)
    assert len(mats) == 1
    return {k: getattr(v, "value", v) for k, v in mats[0].metadata.items()}


def failure(result: dg.ExecuteInProcessResult) -> tuple[str, dict[str, Any]]:
    """(error text including causes, dg.Failure metadata) of the single failed step."""
    assert not result.success
    events = result.get_step_failure_events()
    assert len(events) == 1
    data = events[0].step_failure_data
    parts, err = [], data.error
    while err is not None:
        parts.append(f"{err.cls_name}: {err.message}")
        err = err.cause
    meta = {}
    if data.user_failure_data is not None:
        meta = {k: getattr(v, "value", v) for k, v in data.user_failure_data.metadata.items()}
    return "\n".join(parts), meta


def all_log_text(result: dg.ExecuteInProcessResult, instance: dg.DagsterInstance) -> str:
    """Every event and log message of the run as stored by the instance (context.log lines included)."""
    return "\n".join(f"{e.user_message} {e.dagster_event!r}" for e in instance.all_logs(result.run_id))


# -- batch asset -----------------------------------------------------------------------------------------
def test_batch_asset_creates_one_task_per_row_with_payload_and_metadata(emu: ScaleEmulatorHandle) -> None:
    data = {"all": frame(4)}
    batch = batch_asset(row_to_payload=lambda row: {"metadata": {"lang": row["lang"], "key": row["id"]}})
    result = run([upstream_asset(data), batch], emu)
    assert result.success

    out = result.output_for_node("reviews_batch")
    assert list(out.columns[:6]) == ["row_key", "task_id", "unique_id", "batch_name", "status", "error"]
    assert out["row_key"].tolist() == ["r0", "r1", "r2", "r3"]
    assert out["task_id"].notna().all() and out["error"].isna().all()
    assert set(out["status"]) <= {"pending", "completed"}
    assert out["unique_id"].tolist() == [f"reviews_batch/r{i}" for i in range(4)]

    meta = batch_meta(result)
    assert meta["dagster/row_count"] == 4
    assert meta["scale/batch_name"] == "reviews_batch"
    assert meta["scale/batch_url"].endswith("/batches/reviews_batch")
    assert meta["scale/tasks_created"] == 4 and meta["scale/tasks_reused"] == 0 and meta["scale/tasks_failed"] == 0
    assert sum(meta["scale/status_counts"].values()) == 4
    assert meta["scale/batch_state"] in {"RUNNING", "PENDING", "SUCCEEDED"}

    state = emu.state
    assert state.batches["reviews_batch"]["project"] == PROJECT
    assert state.batches["reviews_batch"]["status"] in {"in_progress", "completed"}  # finalized
    assert state.task_count(batch="reviews_batch") == 4 and state.task_count() == 4
    for i, task_id in enumerate(out["task_id"]):
        task = state.get_task(task_id)
        assert task["unique_id"] == f"reviews_batch/r{i}"
        assert task["type"] == "categorization" and task["project"] == PROJECT
        assert task["instruction"] == "Sentiment?"
        assert task["params"]["attachment"] == f"text r{i}"
        assert task["params"]["categories"] == ["positive", "negative"]
        assert task["params"]["attachment_type"] == "text"
        assert task["metadata"] == {"lang": "en", "key": f"r{i}"}

    again = run([upstream_asset(data), batch], emu)  # a re-run reuses every task
    assert again.success
    assert batch_meta(again)["scale/tasks_created"] == 0 and batch_meta(again)["scale/tasks_reused"] == 4
    assert again.output_for_node("reviews_batch")["task_id"].tolist() == out["task_id"].tolist()
    assert state.task_count() == 4


# -- partitions ------------------------------------------------------------------------------------------
def test_static_partitions_make_one_batch_each_and_reruns_are_idempotent(emu: ScaleEmulatorHandle) -> None:
    parts = dg.StaticPartitionsDefinition(["a", "b", "c"])
    data = {"a": frame(2, "a"), "b": frame(3, "b"), "c": frame(1, "c")}
    assets = [upstream_asset(data, parts), batch_asset(partitions_def=parts)]
    ra = run(assets, emu, partition_key="a")
    rb = run(assets, emu, partition_key="b")
    assert ra.success and rb.success
    assert batch_meta(ra)["scale/batch_name"] == "reviews_batch__a"
    assert batch_meta(rb)["scale/batch_name"] == "reviews_batch__b"
    assert emu.state.task_count(batch="reviews_batch__a") == 2
    assert emu.state.task_count(batch="reviews_batch__b") == 3
    assert emu.state.batches["reviews_batch__a"]["metadata"]["partition"] == "a"

    again = run(assets, emu, partition_key="a")
    assert again.success
    assert batch_meta(again)["scale/tasks_created"] == 0 and batch_meta(again)["scale/tasks_reused"] == 2
    assert emu.state.task_count() == 5


def test_daily_partitions_backfill_creates_exactly_each_partitions_rows(emu: ScaleEmulatorHandle) -> None:
    days = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-05")
    keys = days.get_partition_keys()
    assert keys == ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"]
    data = {k: frame(i + 1, f"d{i}-") for i, k in enumerate(keys)}
    assets = [upstream_asset(data, days), batch_asset(partitions_def=days)]
    instance = dg.DagsterInstance.ephemeral()
    for key in keys[:3]:  # a backfill of three partitions
        result = run(assets, emu, partition_key=key, instance=instance)
        assert result.success
        assert batch_meta(result)["scale/tasks_created"] == len(data[key])
    for i, key in enumerate(keys[:3]):
        assert emu.state.task_count(batch=f"reviews_batch__{key}") == i + 1
    assert emu.state.task_count() == 1 + 2 + 3
    assert "reviews_batch__2026-01-04" not in emu.state.batches
    again = run(assets, emu, partition_key=keys[2], instance=instance)  # the backfill retried: nothing new
    assert batch_meta(again)["scale/tasks_created"] == 0 and batch_meta(again)["scale/tasks_reused"] == 3
    assert emu.state.task_count() == 6


# -- waiting ---------------------------------------------------------------------------------------------
def fast_tasks(emu: ScaleEmulatorHandle) -> None:
    emu.state.task_duration_seconds = 0.0
    emu.state.task_duration_jitter = 0.0


def slow_tasks(emu: ScaleEmulatorHandle) -> None:
    emu.state.task_duration_seconds = 10_000.0


def test_wait_for_completion_reports_completed(emu: ScaleEmulatorHandle) -> None:
    fast_tasks(emu)
    batch = batch_asset(wait_for_completion=True, poll_interval_seconds=0.05, wait_timeout_seconds=30)
    result = run([upstream_asset({"all": frame(3)}), batch], emu)
    assert result.success
    out = result.output_for_node("reviews_batch")
    assert out["status"].tolist() == ["completed"] * 3
    meta = batch_meta(result)
    assert meta["scale/batch_state"] == "SUCCEEDED"
    assert meta["scale/status_counts"] == {"completed": 3}
    assert emu.state.batches["reviews_batch"]["status"] == "completed"


def test_wait_timeout_names_the_setting(emu: ScaleEmulatorHandle) -> None:
    slow_tasks(emu)
    batch = batch_asset(wait_for_completion=True, poll_interval_seconds=0.05, wait_timeout_seconds=0.3)
    result = run([upstream_asset({"all": frame(2)}), batch], emu)
    text, _ = failure(result)
    assert "wait_timeout_seconds" in text
    assert "JobTimeout" in text
    assert emu.state.task_count() == 2  # tasks kept (cancel_on_timeout is off)
    assert emu.state.task_count(status="canceled") == 0


def test_wait_timeout_with_cancel_on_timeout_cancels_pending(emu: ScaleEmulatorHandle) -> None:
    slow_tasks(emu)
    batch = batch_asset(wait_for_completion=True, poll_interval_seconds=0.05, wait_timeout_seconds=0.2,
                        cancel_on_timeout=True)
    text, _ = failure(run([upstream_asset({"all": frame(2)}), batch], emu))
    assert "wait_timeout_seconds" in text and "canceled" in text
    assert emu.state.task_count(status="canceled") == 2


def test_run_config_overrides_factory_wait_defaults(emu: ScaleEmulatorHandle) -> None:
    fast_tasks(emu)
    assets = [upstream_asset({"all": frame(2)}), batch_asset(wait_for_completion=False)]
    config = {"ops": {"reviews_batch": {"config": {"wait_for_completion": True, "poll_interval_seconds": 0.05}}}}
    result = run(assets, emu, run_config=config)
    assert result.success
    assert batch_meta(result)["scale/batch_state"] == "SUCCEEDED"
    assert result.output_for_node("reviews_batch")["status"].tolist() == ["completed", "completed"]

    # and the other way: a factory that waits (for hours by default) gets a short timeout from run config
    slow_tasks(emu)
    assets = [upstream_asset({"all": frame(1, "x")}),
              batch_asset(name="other_batch", wait_for_completion=True, poll_interval_seconds=0.05)]
    rc = dg.RunConfig(ops={"other_batch": WaitConfig(wait_timeout_seconds=0.2)})
    text, _ = failure(run(assets, emu, run_config=rc))
    assert "wait_timeout_seconds of 0 s" in text or "wait_timeout_seconds" in text


# -- responses asset and its check ------------------------------------------------------------------------
def test_responses_asset_flattens_and_check_passes_when_completed(emu: ScaleEmulatorHandle) -> None:
    fast_tasks(emu)
    batch = batch_asset(wait_for_completion=True, poll_interval_seconds=0.05)
    responses = build_scale_responses_asset(name="reviews_labels", batch_asset=batch)
    result = run([upstream_asset({"all": frame(3)}), batch, responses], emu)
    assert result.success
    out = result.output_for_node("reviews_labels")
    assert out["row_key"].tolist() == ["r0", "r1", "r2"]
    assert out["status"].tolist() == ["completed"] * 3
    assert "response.category" in out.columns
    assert set(out["response.category"]) <= {"positive", "negative"}
    meta = batch_meta(result, "reviews_labels")
    assert meta["dagster/row_count"] == 3 and meta["scale/completed_share"] == 1.0
    [check] = result.get_asset_check_evaluations()
    assert check.check_name == "completed_and_audited" and check.passed


def test_responses_check_fails_with_warn_when_tasks_pending(emu: ScaleEmulatorHandle) -> None:
    slow_tasks(emu)
    batch = batch_asset()
    responses = build_scale_responses_asset(name="reviews_labels", batch_asset=batch)
    result = run([upstream_asset({"all": frame(2)}), batch, responses], emu)
    assert result.success  # WARN severity does not fail the run
    out = result.output_for_node("reviews_labels")
    assert out["status"].tolist() == ["pending", "pending"]
    assert not any(c.startswith("response.") for c in out.columns)
    [check] = result.get_asset_check_evaluations()
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    assert check.metadata["completed_share"].value == 0.0


def test_responses_check_min_audited_share(emu: ScaleEmulatorHandle) -> None:
    fast_tasks(emu)
    batch = batch_asset(wait_for_completion=True, poll_interval_seconds=0.05)
    responses = build_scale_responses_asset(name="reviews_labels", batch_asset=batch, min_audited_share=0.5)
    assets = [upstream_asset({"all": frame(2)}), batch, responses]
    first = run(assets, emu)
    assert first.success
    [check] = first.get_asset_check_evaluations()
    assert not check.passed and check.metadata["audited_share"].value == 0.0

    task_id = first.output_for_node("reviews_batch")["task_id"].iloc[0]
    with ScaleClient(SECRET_KEY, base_url=emu.base_url) as client:
        client.audit_task(task_id, accepted=True)
    second = run(assets, emu)
    out = second.output_for_node("reviews_labels")
    assert out["audited"].tolist() == [True, False]
    assert out["review_status"].iloc[0] == "accepted"
    [check] = second.get_asset_check_evaluations()
    assert check.passed and check.metadata["audited_share"].value == 0.5


def test_responses_share_validation_at_factory_time() -> None:
    with pytest.raises(InvalidInput, match="min_audited_share"):
        build_scale_responses_asset(name="x", batch_asset=batch_asset(), min_audited_share=1.5)


# -- bad input: nothing reaches the emulator ---------------------------------------------------------------
def assert_nothing_sent(emu: ScaleEmulatorHandle) -> None:
    assert emu.state.task_count() == 0
    assert emu.state.batches == {}


def test_missing_mapped_column(emu: ScaleEmulatorHandle) -> None:
    batch = batch_asset(payload_columns={"attachment": "body"})
    text, _ = failure(run([upstream_asset({"all": frame(2)}), batch], emu))
    assert "InvalidRows" in text and "'body'" in text
    assert "['id', 'text', 'lang']" in text  # the available columns
    assert_nothing_sent(emu)


def test_unknown_task_type_fails_at_factory_time(emu: ScaleEmulatorHandle) -> None:
    with pytest.raises(InvalidInput, match="Unknown Scale task type 'catgorization'"):
        batch_asset(task_type="catgorization")
    assert_nothing_sent(emu)


def test_empty_dataframe(emu: ScaleEmulatorHandle) -> None:
    empty = {"all": frame(0)}
    text, _ = failure(run([upstream_asset(empty), batch_asset()], emu))
    assert "empty" in text and "allow_empty" in text
    assert_nothing_sent(emu)
    ok = run([upstream_asset(empty), batch_asset(allow_empty=True)], emu)
    assert ok.success and ok.output_for_node("reviews_batch").empty
    assert batch_meta(ok)["dagster/row_count"] == 0
    assert_nothing_sent(emu)


def test_duplicate_row_keys(emu: ScaleEmulatorHandle) -> None:
    df = frame(3)
    df.loc[2, "id"] = "r0"
    text, _ = failure(run([upstream_asset({"all": df}), batch_asset()], emu))
    assert "column 'id' (the row key) repeats 'r0' — 2 row(s): [0, 2]" in text
    assert_nothing_sent(emu)


def test_bad_api_key_says_unauthorized_without_the_key(emu: ScaleEmulatorHandle) -> None:
    wrong = "live_wrong-key-0123456789"
    instance = dg.DagsterInstance.ephemeral()
    result = run([upstream_asset({"all": frame(2)}), batch_asset()], emu, res=resource(emu, api_key=wrong),
                 instance=instance)
    text, _ = failure(result)
    assert "unauthorized" in text.lower()
    logs = all_log_text(result, instance)
    assert "Unauthorized" in logs and wrong not in text and wrong not in logs
    assert_nothing_sent(emu)


def test_unreachable_base_url_names_it(emu: ScaleEmulatorHandle) -> None:
    url = "http://127.0.0.1:9/scale/v1"
    res = resource(emu, base_url=url, retry=RetryConfig(max_attempts=2, initial_backoff_seconds=0.001,
                                                         max_backoff_seconds=0.01))
    text, _ = failure(run([upstream_asset({"all": frame(1)}), batch_asset()], emu, res=res))
    assert ConnectionFailed.__name__ in text
    assert "127.0.0.1:9" in text
    assert_nothing_sent(emu)


# -- faults and partial failures ------------------------------------------------------------------------------
def test_faults_still_create_exactly_one_task_per_row(emu: ScaleEmulatorHandle) -> None:
    emu.set_faults(rate=0.2, seed=11, weights={"429": 1, "500": 1, "503": 1, "drop_after": 1},
                   retry_after_seconds=0)
    result = run([upstream_asset({"all": frame(30)}), batch_asset()], emu)
    emu.set_faults(rate=0.0)
    assert result.success, failure(result)[0]
    assert sum(emu.fault_counters().values()) > 0
    assert emu.state.task_count() == 30
    uids = sorted(emu.state.get_task(t)["unique_id"] for t in result.output_for_node("reviews_batch")["task_id"])
    assert uids == sorted(f"reviews_batch/r{i}" for i in range(30))
    assert batch_meta(result)["scale/tasks_failed"] == 0


def test_rows_that_fail_permanently_fail_the_step_and_rerun_creates_only_missing(emu: ScaleEmulatorHandle) -> None:
    broken = {"r1", "r3"}
    fixed = {"done": False}

    def to_payload(row: dict[str, Any]) -> dict[str, Any]:
        return {"categories": []} if row["id"] in broken and not fixed["done"] else {}

    assets = [upstream_asset({"all": frame(5)}), batch_asset(row_to_payload=to_payload)]
    first = run(assets, emu)
    text, meta = failure(first)
    assert "2 of 5 rows" in text
    assert meta["failed_count"] == 2 and meta["created_count"] == 3
    assert "reviews_batch/r1" in meta["failed_rows"] and "reviews_batch/r3" in meta["failed_rows"]
    assert "categories" in meta["failed_rows"]  # the vendor's reason
    assert emu.state.task_count() == 3
    assert emu.state.batches["reviews_batch"]["status"] == "staging"  # not finalized

    fixed["done"] = True
    second = run(assets, emu)
    assert second.success
    meta2 = batch_meta(second)
    assert meta2["scale/tasks_created"] == 2 and meta2["scale/tasks_reused"] == 3
    assert emu.state.task_count() == 5


def test_allow_partial_materializes_with_failed_rows(emu: ScaleEmulatorHandle) -> None:
    batch = batch_asset(allow_partial=True,
                        row_to_payload=lambda row: {"categories": []} if row["id"] == "r0" else {})
    result = run([upstream_asset({"all": frame(3)}), batch], emu)
    assert result.success
    out = result.output_for_node("reviews_batch").set_index("row_key")
    assert out.loc["r0", "status"] == "failed" and "categories" in out.loc["r0", "error"]
    assert batch_meta(result)["scale/tasks_failed"] == 1
    assert emu.state.task_count() == 2


# -- secrets -------------------------------------------------------------------------------------------------
def test_api_key_never_in_metadata_repr_or_logs(emu: ScaleEmulatorHandle, caplog: pytest.LogCaptureFixture) -> None:
    fast_tasks(emu)
    res = resource(emu)
    assert SECRET_KEY not in repr(res) and SECRET_KEY not in str(res)
    with res.get_client() as client:
        assert SECRET_KEY not in repr(client)
    batch = batch_asset(wait_for_completion=True, poll_interval_seconds=0.05)
    responses = build_scale_responses_asset(name="reviews_labels", batch_asset=batch)
    instance = dg.DagsterInstance.ephemeral()
    with caplog.at_level("DEBUG"):
        result = run([upstream_asset({"all": frame(2)}), batch, responses], emu, res=res, instance=instance)
    assert result.success
    for node in ("reviews_batch", "reviews_labels"):
        assert SECRET_KEY not in repr(result.asset_materializations_for_node(node)[0].metadata)
    logs = all_log_text(result, instance)
    assert "Scale batch reviews_batch" in logs  # the logs were captured
    assert SECRET_KEY not in logs
    assert SECRET_KEY not in caplog.text
    # a failing run too: the error text carries no secret
    slow_tasks(emu)
    failed = run([upstream_asset({"all": frame(1, "z")}), batch_asset(name="b2", wait_for_completion=True,
                                                                     wait_timeout_seconds=0.1,
                                                                     poll_interval_seconds=0.05)], emu, res=res,
                 instance=instance)
    assert SECRET_KEY not in failure(failed)[0] and SECRET_KEY not in all_log_text(failed, instance)
