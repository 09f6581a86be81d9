"""Dirty DataFrames: every row is checked before anything reaches Scale, and cells go on the wire as plain JSON."""

import datetime
import decimal
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from dagster_labeling._core import InvalidInput
from dagster_labeling._dagster.config import RetryConfig
from dagster_labeling.scale import (
    ScaleClient,
    ScaleResource,
    build_scale_batch_asset,
    scale_create_batch_op,
    scale_create_tasks_op,
)
from dagster_labeling.scale.pipeline import TaskMapping
from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle

PROJECT = "rows"
STATIC = {"instruction": "Sentiment?", "attachment_type": "text", "categories": ["positive", "negative"]}


@pytest.fixture
def emu(scale_emulator: ScaleEmulatorHandle) -> ScaleEmulatorHandle:
    scale_emulator.state.task_duration_seconds = 100_000
    with ScaleClient(scale_emulator.api_key, base_url=scale_emulator.base_url) as client:
        client.create_project(PROJECT, "categorization")
    scale_emulator.request_log.clear()
    return scale_emulator


def _materialize(emu: ScaleEmulatorHandle, frame: pd.DataFrame, **kwargs: Any) -> dg.ExecuteInProcessResult:
    @dg.asset(name="dirty")
    def dirty() -> pd.DataFrame:
        return frame

    args: dict[str, Any] = {"name": "dirty_batch", "upstream": dirty, "project": PROJECT,
                            "task_type": "categorization", "row_key_column": "id",
                            "payload_columns": {"attachment": "text"}, "static_payload": STATIC, **kwargs}
    resource = ScaleResource(api_key=emu.api_key, base_url=emu.base_url,
                             retry=RetryConfig(initial_backoff_seconds=0.001, max_backoff_seconds=0.01))
    return dg.materialize([dirty, build_scale_batch_asset(**args)], raise_on_error=False,
                          resources={"scale": resource, "io_manager": dg.mem_io_manager})


def _error_text(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    [event] = result.get_step_failure_events()
    parts, error = [], event.step_failure_data.error
    while error is not None:
        parts.append(f"{error.cls_name}: {error.message}")
        error = error.cause
    return "\n".join(parts)


def _nothing_sent(emu: ScaleEmulatorHandle) -> bool:
    return not emu.request_log.entries("POST") and emu.state.task_count() == 0 and not emu.state.batches


def test_datetime_numpy_and_decimal_cells_go_as_plain_json(emu: ScaleEmulatorHandle) -> None:
    frame = pd.DataFrame({
        "id": np.array([1, 2], dtype=np.int64),
        "text": ["a", "b"],
        "when": pd.to_datetime(["2026-11-03T10:00:00Z", "2026-11-04T11:30:00Z"]),
        "day": [datetime.date(2026, 11, 3), datetime.date(2026, 11, 4)],
        "price": [decimal.Decimal("1.5"), decimal.Decimal("2")],
        "score": np.array([0.25, 0.5], dtype=np.float32),
    })
    result = _materialize(emu, frame, row_to_payload=lambda row: {"metadata": {
        "when": row["when"], "day": row["day"], "price": row["price"], "score": row["score"]}})
    assert result.success, _error_text(result)
    task = emu.state.tasks_by_unique_id("dirty_batch/1")[0]
    assert task["metadata"] == {"when": "2026-11-03T10:00:00+00:00", "day": "2026-11-03", "price": 1.5,
                                "score": 0.25}


def test_every_bad_row_is_reported_before_the_batch_is_created(emu: ScaleEmulatorHandle) -> None:
    frame = pd.DataFrame({
        "id": ["a", None, "c", "d", "e"],
        "text": ["ok", "no key", None, b"raw bytes", "fine"],
    })
    text = _error_text(_materialize(emu, frame))
    assert "InvalidRows" in text and "nothing was sent" in text
    assert "column 'id' (the row key) has no value — 1 row(s): [1]" in text
    assert "column 'text' (required) has no value — 1 row(s): [2]" in text
    assert "column 'text' bytes cannot be sent as JSON" in text and "[3]" in text
    assert "duplicate" not in text  # a missing key is not reported as a repeated one
    assert _nothing_sent(emu)


def test_a_column_name_that_is_not_text_is_reported_not_a_key_error(emu: ScaleEmulatorHandle) -> None:
    frame = pd.DataFrame({"id": ["a"], "text": ["x"], 1: ["y"]})
    text = _error_text(_materialize(emu, frame))
    assert "column names must be text, got [1]" in text and "KeyError" not in text
    assert _nothing_sent(emu)


def test_an_infinity_is_reported_with_its_rows(emu: ScaleEmulatorHandle) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"], "priority": [1.0, float("inf")]})
    text = _error_text(_materialize(emu, frame, payload_columns={"attachment": "text", "priority": "priority"}))
    assert "column 'priority' holds an infinity" in text and "[1]" in text
    assert _nothing_sent(emu)


def test_a_payload_row_to_payload_made_with_nan_is_refused_before_anything_is_sent(emu: ScaleEmulatorHandle) -> None:
    frame = pd.DataFrame({"id": ["a", "b", "c"], "text": ["x", "y", "z"], "score": [0.5, None, 0.7]})
    result = _materialize(emu, frame, row_to_payload=lambda row: {"metadata": {"score": float("nan")}
                                                                  if row["id"] != "a" else {}})
    text = _error_text(result)
    assert "row_to_payload returned" in text and "$.metadata.score is NaN" in text and "[1, 2]" in text
    assert _nothing_sent(emu)


def test_missing_cells_in_optional_fields_are_left_out(emu: ScaleEmulatorHandle) -> None:
    frame = pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"], "prio": [30.0, None], "note": ["n", None]})
    result = _materialize(emu, frame, payload_columns={"attachment": "text", "priority": "prio",
                                                       "context": "note"},
                          optional_payload_fields=["context"])
    assert result.success, _error_text(result)
    first = emu.state.tasks_by_unique_id("dirty_batch/a")[0]
    second = emu.state.tasks_by_unique_id("dirty_batch/b")[0]
    assert (first["priority"], first["params"]["context"]) == (30, "n")
    assert second["priority"] is None and "context" not in second["params"]  # left out, not NaN / "nan"


def test_a_missing_cell_in_a_required_field_names_the_field_and_rows(emu: ScaleEmulatorHandle) -> None:
    frame = pd.DataFrame({"id": ["a", "b", "c"], "text": ["x", None, None]})
    text = _error_text(_materialize(emu, frame))
    assert "column 'text' (required) has no value — 2 row(s): [1, 2]" in text
    assert _nothing_sent(emu)


def test_integral_float_keys_keep_their_ids() -> None:
    mapping = TaskMapping("id", {"attachment": "text"}, STATIC)
    frame = pd.DataFrame({"id": [3.0, 4.0], "text": ["x", "y"]})
    assert [key for key, _ in mapping.payloads(frame, where="here")] == ["3", "4"]


def test_a_static_payload_with_nan_is_refused_when_the_asset_is_defined() -> None:
    with pytest.raises(InvalidInput, match=r"static_payload: \$.threshold is NaN"):
        TaskMapping("id", {"attachment": "text"}, {**STATIC, "threshold": float("nan")})


@dg.op
def dirty_rows() -> pd.DataFrame:
    return pd.DataFrame({"id": ["a", None], "text": ["x", "y"]})


@dg.job
def dirty_ops_job() -> None:
    scale_create_tasks_op(scale_create_batch_op(), dirty_rows())


def test_the_create_tasks_op_validates_every_row_before_the_first_task(emu: ScaleEmulatorHandle) -> None:
    config = {"ops": {
        "scale_create_batch_op": {"config": {"project": PROJECT, "batch_name": "ops_dirty"}},
        "scale_create_tasks_op": {"config": {"task_type": "categorization", "row_key_column": "id",
                                             "payload_columns": {"attachment": "text"}, "static_payload": STATIC}},
    }}
    resource = ScaleResource(api_key=emu.api_key, base_url=emu.base_url)
    result = dirty_ops_job.execute_in_process(run_config=config, resources={"scale": resource},
                                              raise_on_error=False)
    [failure] = result.get_step_failure_events()
    assert failure.step_key == "scale_create_tasks_op"
    error = failure.step_failure_data.error
    assert error is not None and "the row key) has no value — 1 row(s): [1]" in (
        error.message + (error.cause.message if error.cause else ""))
    assert emu.state.task_count() == 0
