"""Shared fixtures for the Refuel tests: a client, and a labeled 'reviews' dataset built through the wire API."""

from collections.abc import Iterator

import pandas as pd
import pytest

from dagster_labeling._core import RetryPolicy, WaitOptions
from dagster_labeling.refuel import RefuelClient
from dagster_labeling.testing.pytest_plugin import RefuelEmulatorHandle

FAST = WaitOptions(timeout_seconds=30, poll_interval_seconds=0.02, max_poll_interval_seconds=0.1)
SENTIMENT = {"name": "sentiment", "type": "classification", "labels": ["positive", "negative", "neutral"],
             "input_columns": ["text"], "guidelines": "Sentiment of the review", "ground_truth_column": "gt"}


def reviews_frame(n: int = 30) -> pd.DataFrame:
    texts = ["a positive review", "so negative", "meh"]
    gts = ["positive", "negative", "neutral"]
    return pd.DataFrame({"text": [f"{texts[i % 3]} #{i}" for i in range(n)], "gt": [gts[i % 3] for i in range(n)],
                         "stars": [i % 5 for i in range(n)]})


@pytest.fixture
def client(refuel_emulator: RefuelEmulatorHandle) -> Iterator[RefuelClient]:
    with RefuelClient(refuel_emulator.api_key, project=refuel_emulator.project, base_url=refuel_emulator.base_url,
                      retry=RetryPolicy(max_attempts=4, initial_backoff_seconds=0.01, max_backoff_seconds=0.05),
                      label_rate_per_minute=None) as c:
        yield c


@pytest.fixture
def labeled(client: RefuelClient) -> RefuelClient:
    """Dataset 'reviews' (30 rows), task 'sent' run to completion, application 'sent' deployed."""
    client.upload_dataset(reviews_frame(), "reviews", wait_for_completion=True, wait=FAST)
    client.create_task("sent", "reviews", "You are an expert at reviews.", [SENTIMENT])
    client.start_task_run("sent", "reviews").wait(FAST)
    client.deploy_task("sent")
    return client
