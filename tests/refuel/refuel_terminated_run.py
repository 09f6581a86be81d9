"""A Dagster run of the Refuel labels asset, run in its own process by test_refuel_cancel: the test sends it
SIGINT (what Dagster's run termination sends the run worker) while the asset waits for the task run.

It prints every event of the run (``<EVENT TYPE> <message>``) and the run's status (``RUN_STATUS <status>``).
The emulator comes from ``REFUEL_RUN_BASE_URL``, ``REFUEL_RUN_API_KEY`` and ``REFUEL_RUN_PROJECT``.
"""

import os

import dagster as dg

from dagster_labeling._dagster.config import RetryConfig
from dagster_labeling.refuel import RefuelResource, build_refuel_labels_asset


def main() -> None:
    labels = build_refuel_labels_asset(name="reviews_labels", dataset_asset="reviews_dataset",
                                       dataset_name="reviews", task="sent", poll_interval_seconds=0.05)
    resource = RefuelResource(api_key=os.environ["REFUEL_RUN_API_KEY"], project=os.environ["REFUEL_RUN_PROJECT"],
                              base_url=os.environ["REFUEL_RUN_BASE_URL"], label_rate_per_minute=None,
                              retry=RetryConfig(initial_backoff_seconds=0.01, max_backoff_seconds=0.1))
    with dg.instance_for_test() as instance:
        result = dg.materialize([labels], resources={"refuel": resource}, instance=instance, raise_on_error=False)
        for event in result.all_events:
            print(event.event_type_value, event.message, flush=True)
        run = instance.get_run_by_id(result.run_id)
        print("RUN_STATUS", run.status.value.lower() if run else None, flush=True)


if __name__ == "__main__":
    main()
