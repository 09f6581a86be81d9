"""First runs of a partitioned Scale batch asset, for the race tests to start together in threads or processes.

Module-level (spawned processes import it); the emulator's URL and key come from ``SCALE_RACE_BASE_URL`` and
``SCALE_RACE_API_KEY``, set by the test before the workers start.
"""

import os

import dagster as dg
import pandas as pd

from dagster_labeling._dagster.config import RetryConfig
from dagster_labeling.scale import ScaleClient, ScaleResource, build_scale_batch_asset
from dagster_labeling.scale.pipeline import TaskMapping, submit_rows_to_batch

PROJECT = "race"
PARTITION = "2026-11-03"
ROWS = 20
partitions = dg.StaticPartitionsDefinition([PARTITION])
RETRY = RetryConfig(max_attempts=8, initial_backoff_seconds=0.01, max_backoff_seconds=0.05)


STATIC = {"instruction": "Sentiment?", "attachment_type": "text", "categories": ["pos", "neg"]}
BATCH = f"race_batch__{PARTITION}"


def rows() -> pd.DataFrame:
    return pd.DataFrame({"id": [f"r{i}" for i in range(ROWS)], "text": [f"text {i}" for i in range(ROWS)]})


@dg.asset(partitions_def=partitions)
def race_rows(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return rows()


race_batch = build_scale_batch_asset(
    name="race_batch", upstream=race_rows, project=PROJECT, task_type="categorization", row_key_column="id",
    payload_columns={"attachment": "text"}, partitions_def=partitions, static_payload=STATIC,
)


def first_run(worker: int) -> dict[str, str]:
    """Make sure the project exists, then materialize the partition; {row key: task id} as this run saw it."""
    base_url, api_key = os.environ["SCALE_RACE_BASE_URL"], os.environ["SCALE_RACE_API_KEY"]
    with ScaleClient(api_key, base_url=base_url) as client:
        client.get_or_create_project(PROJECT, "categorization")
    result = dg.materialize([race_rows, race_batch], partition_key=PARTITION, raise_on_error=True,
                            resources={"scale": ScaleResource(api_key=api_key, base_url=base_url, retry=RETRY),
                                       "io_manager": dg.mem_io_manager})
    frame = result.output_for_node("race_batch")
    return dict(zip(frame["row_key"], frame["task_id"], strict=True))


def first_submission(worker: int) -> dict[str, str]:
    """What the asset's step does (project, rows checked, batch and tasks), without a Dagster run around it:
    spawned processes then pay only for the imports."""
    base_url, api_key = os.environ["SCALE_RACE_BASE_URL"], os.environ["SCALE_RACE_API_KEY"]
    payloads = TaskMapping("id", {"attachment": "text"}, STATIC).payloads(rows(), where="race")
    with ScaleClient(api_key, base_url=base_url, retry=RETRY.to_policy()) as client:
        client.get_or_create_project(PROJECT, "categorization")
        submission = submit_rows_to_batch(client, project=PROJECT, batch_name=BATCH, task_type="categorization",
                                          payloads=payloads)
        client.finalize_batch(BATCH)
    frame = submission.frame()
    return dict(zip(frame["row_key"], frame["task_id"], strict=True))
