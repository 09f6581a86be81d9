"""What a first run does, for race tests that spawn processes: importing this module (in every spawned worker)
loads the Adaptive client only, not Dagster nor pytest, so the workers start in about a second."""

from typing import Any

from dagster_labeling._core import RetryPolicy
from dagster_labeling.adaptive.client import AdaptiveClient

LLAMA, QWEN = "llama-3.1-8b-instruct", "qwen-2.5-7b"
ROWS = [{"messages": [{"role": "user", "content": f"q{i}"}], "completion": f"a{i}"} for i in range(5)]
RETRY = RetryPolicy(max_attempts=8, initial_backoff_seconds=0.001, max_backoff_seconds=0.01)


def first_run(base_url: str, api_key: str, _worker: int) -> dict[str, Any]:
    """What a first run sets up: the project (models attached), the feedback key, the dataset, the A/B test."""
    with AdaptiveClient(api_key, base_url=base_url, retry=RETRY) as c:
        project, project_new = c.ensure_project("shared", "Shared")
        c.attach_model("shared", LLAMA)
        c.attach_model("shared", QWEN)
        key, key_new = c.ensure_feedback_key("shared", "acceptance", kind="bool")
        dataset, dataset_new = c.ensure_dataset("shared", "faq", ROWS)
        test, test_new = c.ensure_ab_test("shared", "shared-ab", "acceptance", [LLAMA, QWEN])
        return {"ids": (project.id, key.id, dataset.id, test.id),
                "created": (project_new, key_new, dataset_new, test_new), "records": dataset.records}
