"""Module-level workers for the Refuel race tests (spawned processes import this module by name).

Each worker is one "first run" of a partition, doing what the dataset asset does with its own client, against the
emulator whose URL, key and project come in ``RaceTarget``.
"""

from dataclasses import dataclass

import pandas as pd

from dagster_labeling._core import RetryPolicy
from dagster_labeling.refuel import RefuelClient
from dagster_labeling.refuel.containers import ensure_task
from dagster_labeling.refuel.pipeline import upload_or_append

DATASET = "race"
TASK = "race_sentiment"
ROWS_PER_PARTITION = 5
SENTIMENT = {"name": "sentiment", "type": "classification", "labels": ["positive", "negative", "neutral"],
             "input_columns": ["text"], "guidelines": "Sentiment"}


@dataclass(frozen=True)
class RaceTarget:
    base_url: str
    api_key: str
    project: str


def partition_key(i: int) -> str:
    return f"2026-11-{i + 1:02d}"


def partition_rows(key: str) -> pd.DataFrame:
    """A partition's rows: ints, floats, text (with an empty one) and a missing cell."""
    return pd.DataFrame({
        "text": [f"{key} review {j} {'positive' if j % 2 else 'negative'}" for j in range(ROWS_PER_PARTITION)],
        "stars": pd.array([j % 5 for j in range(ROWS_PER_PARTITION)], dtype="Int64"),
        "note": ["" if j == 0 else None if j == 1 else f"note {j}" for j in range(ROWS_PER_PARTITION)],
    })


def client_for(target: RaceTarget) -> RefuelClient:
    return RefuelClient(target.api_key, project=target.project, base_url=target.base_url, settle_seconds=0.0,
                        label_rate_per_minute=None,
                        retry=RetryPolicy(max_attempts=8, initial_backoff_seconds=0.01, max_backoff_seconds=0.05))


def append_partition(target: RaceTarget, i: int) -> str:
    """One partition's first run, as the dataset asset does it; returns the action taken."""
    with client_for(target) as client:
        key = partition_key(i)
        return upload_or_append(client, DATASET, partition_rows(key), partition_column="dagster_partition",
                                partition_key=key).action


def define_task(target: RaceTarget, i: int) -> str:
    """Get-or-create the labeling task; returns its id."""
    with client_for(target) as client:
        return ensure_task(client, TASK, DATASET, "You label reviews.", [SENTIMENT]).id


def first_run(target: RaceTarget, i: int) -> str:
    """A partition's first run in its own process: append the partition, then define the task."""
    action = append_partition(target, i)
    define_task(target, i)
    return action
