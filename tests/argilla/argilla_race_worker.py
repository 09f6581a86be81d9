"""One first run of a partition, as a module-level target for ``run_together(processes=True)``: it imports
only the client (not Dagster, not pandas), so a spawned worker costs about a second of imports.

It does what the dataset asset does remotely: get-or-create the workspace and dataset, then upsert the
partition's records by ``external_id``. The emulator comes from the environment (``RACE_ARGILLA_*``).
"""

import os

from dagster_labeling._core import RetryPolicy
from dagster_labeling.argilla.client import ArgillaClient
from dagster_labeling.argilla.ids import record_external_id
from dagster_labeling.argilla.models import RecordInput

from .argilla_helpers import full_settings

PARTITIONS = [f"2026-01-{d:02d}" for d in range(1, 9)]
DATASET, WORKSPACE = "backfill", "race-ws"
ROW_KEYS = (1, 2, 3)


def rows_of(partition: str) -> list[dict[str, object]]:
    """The partition's rows (the asset's upstream DataFrame, as records)."""
    return [{"id": k, "prompt": f"{partition} q{k}", "answer": "xyz"[k - 1], "source": ("web", "unit")[k % 2 == 0]}
            for k in ROW_KEYS]


def first_run(i: int) -> int:
    partition, settings = PARTITIONS[i], full_settings()
    retry = RetryPolicy(max_attempts=8, initial_backoff_seconds=0.01, max_backoff_seconds=0.1)
    with ArgillaClient(os.environ["RACE_ARGILLA_KEY"], api_url=os.environ["RACE_ARGILLA_URL"], retry=retry) as client:
        dataset = client.ensure_dataset(DATASET, settings, workspace=WORKSPACE, create_workspace=True)
        records = [RecordInput(fields={"prompt": row["prompt"], "answer": row["answer"]},
                               metadata={"source": row["source"]},
                               external_id=record_external_id(partition, str(row["id"])))
                   for row in rows_of(partition)]
        result = client.upsert_records(dataset, records, settings=settings)
    assert not result.failures, result.failures
    return result.count
