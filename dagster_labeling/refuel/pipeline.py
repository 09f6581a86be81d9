"""DataFrame logic behind the Refuel assets (no Dagster): partition appends, label statistics, checks.

>>> import pandas as pd
>>> df = pd.DataFrame({"sentiment_llm_label": ["pos", "neg", "pos"], "sentiment_confidence": [0.9, 0.5, 0.8],
...                    "gt": ["pos", "pos", "pos"]})
>>> label_distribution(df, "sentiment"), confidence_share(df, "sentiment", 0.75), agreement(df, "sentiment", "gt")
({'pos': 2, 'neg': 1}, 0.6666666666666666, 0.6666666666666666)
"""

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from dagster_labeling._core import InvalidInput
from dagster_labeling.refuel.client import RefuelClient, validate_columns
from dagster_labeling.refuel.errors import RefuelNotFound


@dataclass(frozen=True)
class AppendOutcome:
    """What :func:`upload_or_append` did: ``uploaded``, ``appended``, ``skipped`` (already there) or ``replaced``."""

    action: str
    dataset_id: str
    rows_sent: int
    rows_in_dataset: int | None = None


def _label_column(df: pd.DataFrame, field: str) -> str:
    for col in (f"{field}_llm_label", f"{field}_label"):
        if col in df.columns:
            return col
    raise InvalidInput(f"No label column for field {field!r} ({field}_llm_label or {field}_label) in "
                       f"{list(df.columns)}.", field="field")


def _hashable(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def label_distribution(df: pd.DataFrame, field: str) -> dict[str, int]:
    """Counts per label of ``field`` (a list label counts as its JSON text)."""
    col = _label_column(df, field)
    counts = df[col].map(_hashable).value_counts(dropna=False)
    return {str(k): int(v) for k, v in counts.items()}


def mean_confidence(df: pd.DataFrame, field: str) -> float | None:
    col = f"{field}_confidence"
    if col not in df.columns or df.empty:
        return None
    value = pd.to_numeric(df[col], errors="coerce").mean()
    return None if pd.isna(value) else float(value)


def confidence_share(df: pd.DataFrame, field: str, threshold: float) -> float:
    """Share of rows whose ``<field>_confidence`` is at or above ``threshold`` (0 for no rows)."""
    col = f"{field}_confidence"
    if col not in df.columns:
        raise InvalidInput(f"No column {col!r} in {list(df.columns)}.", field="field")
    if df.empty:
        return 0.0
    return float((pd.to_numeric(df[col], errors="coerce") >= threshold).mean())


def agreement(df: pd.DataFrame, field: str, ground_truth_column: str) -> float:
    """Share of rows (with a ground truth) whose label equals the ground-truth column, case-insensitively."""
    if ground_truth_column not in df.columns:
        raise InvalidInput(f"Ground-truth column {ground_truth_column!r} is not in {list(df.columns)}.",
                           field="ground_truth_column")
    col = _label_column(df, field)
    labeled = df[df[ground_truth_column].notna() & (df[ground_truth_column].astype(str) != "")]
    if labeled.empty:
        return 0.0

    def norm(v: Any) -> str:
        if isinstance(v, list) and len(v) == 1:
            v = v[0]
        return str(v).strip().lower()

    return float((labeled[col].map(norm) == labeled[ground_truth_column].map(norm)).mean())


def upload_or_append(
    client: RefuelClient,
    dataset_name: str,
    rows: pd.DataFrame,
    *,
    partition_column: str | None = None,
    partition_key: str | None = None,
    replace: bool = False,
    wait_for_ingestion: bool = True,
) -> AppendOutcome:
    """Create the dataset from ``rows``, or append a partition's rows exactly once.

    With a partition, rows get ``partition_column = partition_key``; if the dataset already holds rows with
    that value, nothing is sent (a re-run or backfill appends each partition once). Without a partition an
    existing dataset is kept (``skipped``) unless ``replace``.
    """
    frame = rows.copy()
    if partition_key is not None:
        if not partition_column:
            raise InvalidInput("A partitioned dataset asset needs partition_column.", field="partition_column")
        if partition_column in frame.columns:
            raise InvalidInput(f"The DataFrame already has a column {partition_column!r}; choose another "
                               "partition_column.", field="partition_column")
        frame[partition_column] = partition_key
    validate_columns(list(frame.columns))
    try:
        existing = client.get_dataset(dataset_name)
    except RefuelNotFound:
        existing = None
    if existing is None:
        ds = client.upload_dataset(frame, dataset_name, wait_for_completion=wait_for_ingestion)
        return AppendOutcome("uploaded", ds.id, len(frame), len(frame))
    if partition_key is None:
        if not replace:
            return AppendOutcome("skipped", existing.id, 0)
        client.delete_dataset(existing.id)
        ds = client.upload_dataset(frame, dataset_name, wait_for_completion=wait_for_ingestion)
        return AppendOutcome("replaced", ds.id, len(frame), len(frame))
    if existing.ingest_status != "success":
        client.wait_for_ingestion(existing.id)
    assert partition_column is not None
    present = client.count_items(existing.id, filters=[{"field": partition_column, "operator": "=",
                                                         "value": partition_key}])
    if present:
        return AppendOutcome("skipped", existing.id, 0, present)
    sent = client.add_items(existing.id, frame)
    return AppendOutcome("appended", existing.id, sent)
