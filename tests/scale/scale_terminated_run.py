"""A Dagster run of a Scale batch asset that waits for its batch, for the termination test to interrupt.

Run as ``python scale_terminated_run.py <base_url> <api_key> <instance_dir> <rows>``: it materializes the asset into
the Dagster instance at ``<instance_dir>``, where the test reads the run's log once it terminated the run.
"""

import sys

import dagster as dg
import pandas as pd

from dagster_labeling._dagster.config import RetryConfig
from dagster_labeling.scale import ScaleResource, build_scale_batch_asset

BATCH = "terminated_batch"
PROJECT = "p"


def main(base_url: str, api_key: str, instance_dir: str, rows: int) -> None:
    @dg.asset
    def rows_to_label() -> pd.DataFrame:
        return pd.DataFrame({"id": [f"r{i}" for i in range(rows)], "text": [f"text {i}" for i in range(rows)]})

    batch = build_scale_batch_asset(
        name=BATCH, upstream=rows_to_label, project=PROJECT, task_type="categorization", row_key_column="id",
        payload_columns={"attachment": "text"},
        static_payload={"instruction": "Sentiment?", "attachment_type": "text", "categories": ["pos", "neg"]},
        wait_for_completion=True, poll_interval_seconds=0.1,
    )
    resource = ScaleResource(api_key=api_key, base_url=base_url,
                             retry=RetryConfig(initial_backoff_seconds=0.01, max_backoff_seconds=0.05))
    with dg.DagsterInstance.local_temp(instance_dir) as instance:
        dg.materialize([rows_to_label, batch], resources={"scale": resource}, instance=instance,
                       raise_on_error=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
