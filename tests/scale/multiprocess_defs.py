"""A module-level, reconstructable Scale ops job for the multiprocess-executor test.

The emulator's base URL and API key come from the environment (``SCALE_MP_BASE_URL``, ``SCALE_MP_API_KEY``),
set by the test before the run; ``dg.EnvVar`` resolves them at run time in every step process.
"""

import dagster as dg
import pandas as pd

from dagster_labeling._dagster.config import RetryConfig
from dagster_labeling.scale import (
    ScaleResource,
    scale_create_batch_op,
    scale_create_tasks_op,
)

BATCH_NAME = "mp_batch"
PROJECT = "mp_project"
ROWS = 6


@dg.op
def mp_rows() -> pd.DataFrame:
    return pd.DataFrame({"id": [f"m{i}" for i in range(ROWS)], "text": [f"text {i}" for i in range(ROWS)]})


@dg.job(
    executor_def=dg.multiprocess_executor.configured({"max_concurrent": 2}),
    config={
        "ops": {
            "scale_create_batch_op": {"config": {"project": PROJECT, "batch_name": BATCH_NAME}},
            "scale_create_tasks_op": {"config": {
                "task_type": "categorization", "row_key_column": "id", "payload_columns": {"attachment": "text"},
                "static_payload": {"instruction": "Sentiment?", "categories": ["positive", "negative"]},
            }},
        }
    },
)
def scale_mp_job() -> None:
    scale_create_tasks_op(scale_create_batch_op(), mp_rows())


defs = dg.Definitions(
    jobs=[scale_mp_job],
    resources={
        "scale": ScaleResource(
            api_key=dg.EnvVar("SCALE_MP_API_KEY"),
            base_url=dg.EnvVar("SCALE_MP_BASE_URL"),
            retry=RetryConfig(max_attempts=3, initial_backoff_seconds=0.01, max_backoff_seconds=0.05),
        )
    },
)


def define_scale_mp_job() -> dg.JobDefinition:
    """The factory ``dg.reconstructable`` records: rebuilds the job with its resources in each process."""
    return defs.resolve_job_def("scale_mp_job")
