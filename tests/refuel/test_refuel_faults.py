"""Faults: labeling names every row it could not label; fetching items returns every page or raises."""

from typing import Any

import pytest
from refuel_fixtures import *  # noqa: F403  (the client and labeled fixtures; see refuel_fixtures)
from refuel_helpers import FAST, SENTIMENT, reviews_frame

from dagster_labeling._core import RetryPolicy
from dagster_labeling.refuel import RefuelClient, RefuelServerError
from dagster_labeling.testing.base import HTTPError
from dagster_labeling.testing.pytest_plugin import RefuelEmulatorHandle

FAULTS = {"rate": 0.2, "seed": 7, "retry_after_seconds": 0.0, "slow_seconds": 0.01}


def test_labeling_with_20pct_faults_labels_or_names_every_row(labeled: RefuelClient,
                                                              refuel_emulator: RefuelEmulatorHandle) -> None:
    df = reviews_frame(300)[["text"]]
    refuel_emulator.set_faults(**FAULTS)
    result = labeled.label_dataframe("sent", df, concurrency=16)
    done = result.labels.refuel_uuid.notna()
    assert int(done.sum()) + len(result.failures) == len(df)
    assert set(result.failures) == set(df.index[~done])
    assert result.failures, "20% faults on non-idempotent POSTs must leave some rows to report"
    refuel_emulator.set_faults(**FAULTS)
    retried = labeled.label_dataframe("sent", df, concurrency=16, retry_failed_rows=5)
    assert retried.ok and retried.labels.refuel_uuid.notna().all()
    assert set(retried.labels.sentiment_label[df.text.str.startswith("so negative")]) == {"negative"}


def test_items_with_20pct_faults_return_every_page(client: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    client.upload_dataset(reviews_frame(1000), "big", wait_for_completion=True, wait=FAST)
    client.page_size = 50
    refuel_emulator.set_faults(**FAULTS)
    items = client.get_items("big", max_items=None)
    assert len(items) == 1000 and items.refuel_uuid.is_unique
    assert list(items.text[:3]) == ["a positive review #0", "so negative #1", "meh #2"]
    assert refuel_emulator.fault_counters().get("500", 0) + refuel_emulator.fault_counters().get("503", 0) > 0


def _failing_page(emu: RefuelEmulatorHandle, offset: str) -> Any:
    state = emu.state
    original = state.router.match

    def match(method: str, path: str) -> Any:
        handler, params = original(method, path)

        def wrapped(req: Any) -> Any:
            if req.q("offset") == offset and req.q("max_items") != "0":
                raise HTTPError(500, "page lost")
            return handler(req)

        return wrapped, params

    state.router.match = match
    return original


def test_a_page_that_keeps_failing_raises_where_the_sdk_drops_it(client: RefuelClient,
                                                                  refuel_emulator: RefuelEmulatorHandle) -> None:
    client.upload_dataset(reviews_frame(250), "big", wait_for_completion=True, wait=FAST)
    client.create_task("sent", "big", "ctx", [SENTIMENT])
    original = _failing_page(refuel_emulator, "100")
    try:
        with RefuelClient(refuel_emulator.api_key, project=refuel_emulator.project, base_url=refuel_emulator.base_url,
                          retry=RetryPolicy(max_attempts=2, initial_backoff_seconds=0.0)) as strict:
            with pytest.raises(RefuelServerError, match="page lost"):
                strict.get_items("big", max_items=None)
        refuel = pytest.importorskip("refuel")
        sdk = refuel.init(api_key=refuel_emulator.api_key, api_base_url=refuel_emulator.base_url,
                          project=refuel_emulator.project)
        assert len(sdk.get_items("big", max_items=250)) == 150  # the official SDK silently drops the page
    finally:
        refuel_emulator.state.router.match = original
