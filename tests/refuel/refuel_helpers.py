"""Constants and data shared by the Refuel tests (a plain module: the test folder is not a package, see conftest)."""

import pandas as pd

from dagster_labeling._core import WaitOptions

FAST = WaitOptions(timeout_seconds=30, poll_interval_seconds=0.02, max_poll_interval_seconds=0.1)
SENTIMENT = {"name": "sentiment", "type": "classification", "labels": ["positive", "negative", "neutral"],
             "input_columns": ["text"], "guidelines": "Sentiment of the review", "ground_truth_column": "gt"}


def reviews_frame(n: int = 30) -> pd.DataFrame:
    texts = ["a positive review", "so negative", "meh"]
    gts = ["positive", "negative", "neutral"]
    return pd.DataFrame({"text": [f"{texts[i % 3]} #{i}" for i in range(n)], "gt": [gts[i % 3] for i in range(n)],
                         "stars": [i % 5 for i in range(n)]})
