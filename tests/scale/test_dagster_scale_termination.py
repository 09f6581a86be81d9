"""A Dagster run terminated while the batch asset waits cancels the batch's pending tasks on Scale."""

from typing import Any

import dagster as dg
import pandas as pd
import pytest
from dagster._core.errors import DagsterExecutionInterruptedError  # what Dagster raises in a terminated step

from dagster_labeling._core import JobHandle
from dagster_labeling._dagster.config import RetryConfig
from dagster_labeling.scale import ScaleClient, ScaleResource, build_scale_batch_asset
from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle

STATIC = {"instruction": "Sentiment?", "attachment_type": "text", "categories": ["positive", "negative"]}


@pytest.mark.parametrize("cancel_on_termination", [True, False])
def test_terminated_wait_cancels_pending_tasks(
    scale_emulator: ScaleEmulatorHandle, monkeypatch: pytest.MonkeyPatch, cancel_on_termination: bool
) -> None:
    scale_emulator.state.task_duration_seconds = 3600.0  # humans take their time: nothing completes
    with ScaleClient(scale_emulator.api_key, base_url=scale_emulator.base_url) as client:
        client.create_project("p", "categorization")

    @dg.asset
    def rows() -> pd.DataFrame:
        return pd.DataFrame({"id": ["a", "b", "c"], "text": ["x", "y", "z"]})

    batch = build_scale_batch_asset(
        name="terminated_batch", upstream=rows, project="p", task_type="categorization", row_key_column="id",
        payload_columns={"attachment": "text"}, static_payload=STATIC, wait_for_completion=True,
        poll_interval_seconds=0.01, cancel_on_termination=cancel_on_termination,
    )
    polls: list[float] = []

    def terminate_on_second_poll(self: Any, seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:
            raise DagsterExecutionInterruptedError()  # the run was terminated from the UI

    monkeypatch.setattr(JobHandle, "sleep", terminate_on_second_poll)
    resource = ScaleResource(api_key=scale_emulator.api_key, base_url=scale_emulator.base_url,
                             retry=RetryConfig(initial_backoff_seconds=0.001, max_backoff_seconds=0.01))
    with pytest.raises(DagsterExecutionInterruptedError):
        dg.materialize([rows, batch], resources={"scale": resource}, raise_on_error=True)

    with ScaleClient(scale_emulator.api_key, base_url=scale_emulator.base_url) as client:
        statuses = sorted(t.status or "" for t in client.get_tasks(batch="terminated_batch"))
    assert statuses == (["canceled"] * 3 if cancel_on_termination else ["pending"] * 3)
