"""DataFrame logic behind the Refuel assets (no Dagster): partition appends, label statistics, checks.

>>> import pandas as pd
>>> df = pd.DataFrame({"sentiment_llm_label": ["pos", "neg", "pos"], "sentiment_confidence": [0.9, 0.5, 0.8],
...                    "gt": ["pos", "pos", "pos"]})
>>> label_distribution(df, "sentiment"), confidence_share(df, "sentiment", 0.75), agreement(df, "sentiment", "gt")
({'pos': 2, 'neg': 1}, 0.6666666666666666, 0.6666666666666666)
"""

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from dagster_labeling._core import APIError, ConnectionFailed, InvalidInput
from dagster_labeling.refuel.client import RefuelClient
from dagster_labeling.refuel.containers import ensure_dataset
from dagster_labeling.refuel.errors import RefuelConflict
from dagster_labeling.refuel.frames import frame_items
from dagster_labeling.refuel.validation import validate_columns

APPEND_ATTEMPTS = 3


@dataclass(frozen=True)
class AppendOutcome:
    """What :func:`upload_or_append` did: ``uploaded`` (created the dataset and filled it), ``appended``,
    ``skipped`` (already there) or ``replaced``; ``duplicates``: same-named datasets holding rows, left alone."""

    action: str
    dataset_id: str
    rows_sent: int
    rows_in_dataset: int | None = None
    duplicates: list[str] = field(default_factory=list)


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
    """Put ``rows`` in the dataset ``dataset_name`` exactly once, even when many runs arrive together.

    The whole frame is validated before any request (:func:`~dagster_labeling.refuel.frames.frame_items`); rows
    go as JSON items, so their types read back as sent. The dataset comes from
    :func:`~dagster_labeling.refuel.containers.ensure_dataset`: one dataset per name, agreed on by every
    concurrent first run. With a partition, rows get ``partition_column = partition_key`` and are appended unless
    the dataset already holds rows of that partition (a re-run or backfill appends each partition once). Without
    one, the run that created the dataset fills it; an existing, non-empty dataset is kept (``skipped``) unless
    ``replace`` (which deletes every dataset of that name first). ``wait_for_ingestion`` is kept for
    compatibility: rows are appended as JSON once the dataset is ingested, so the asset always waits.
    """
    del wait_for_ingestion  # appending needs an ingested dataset
    frame = rows.copy()
    if partition_key is not None:
        if not partition_column:
            raise InvalidInput("A partitioned dataset asset needs partition_column.", field="partition_column")
        if partition_column in frame.columns:
            raise InvalidInput(f"The DataFrame already has a column {partition_column!r}; choose another "
                               "partition_column.", field="partition_column")
        frame[partition_column] = partition_key
    validate_columns(list(frame.columns))
    items = frame_items(frame, where=f"Refuel dataset {dataset_name!r}")
    replaced = False
    if replace and partition_key is None:
        found, _ = client.named("dataset", dataset_name)
        for record in found:
            client.delete_dataset(str(record["id"]))
        replaced = bool(found)
    ensured = ensure_dataset(client, dataset_name, [str(c) for c in frame.columns])
    if partition_key is None:
        present = client.count_items(ensured.id)
        if present and not ensured.created:
            return AppendOutcome("skipped", ensured.id, 0, present, ensured.duplicates)
        filters: list[dict[str, Any]] = []
    else:
        assert partition_column is not None
        filters = [{"field": partition_column, "operator": "=", "value": partition_key}]
        present = client.count_items(ensured.id, filters=filters)
        if present:
            return AppendOutcome("skipped", ensured.id, 0, present, ensured.duplicates)
    append_once(client, ensured.id, items, filters)
    action = "replaced" if replaced else "uploaded" if ensured.created else "appended"
    return AppendOutcome(action, ensured.id, len(items), client.count_items(ensured.id), ensured.duplicates)


def append_once(client: RefuelClient, dataset_id: str, items: list[dict[str, Any]],
                filters: list[dict[str, Any]]) -> None:
    """Append ``items`` (the rows ``filters`` select, none of which is there yet) and check they landed once.

    A failed append is looked up before it is sent again: if the rows landed (the answer was lost), nothing is
    re-sent; if none did, it is re-sent (up to ``APPEND_ATTEMPTS`` times). Afterwards the dataset must hold
    exactly ``len(items)`` rows matching ``filters``; more means another run appended the same rows at the same
    moment, which raises (Refuel cannot delete single items, so it is reported, never hidden).
    """
    if not items:
        return
    for attempt in range(1, APPEND_ATTEMPTS + 1):
        try:
            client.add_items(dataset_id, items)
            break
        except (APIError, ConnectionFailed) as failed:
            if isinstance(failed, APIError) and failed.status_code < 500 and failed.status_code != 429:
                raise  # refused: sending it again changes nothing
            landed = client.count_items(dataset_id, filters=filters)
            if landed == len(items):
                break
            if landed or attempt == APPEND_ATTEMPTS:
                raise
    landed = client.count_items(dataset_id, filters=filters)
    if landed != len(items):
        raise RefuelConflict(
            f"Refuel dataset {dataset_id} holds {landed} rows where {len(items)} were appended"
            f"{' for ' + str(filters[0]['value']) if filters else ''}: another run appended the same rows at the "
            "same moment. Delete the dataset and re-run, or run one materialization of a partition at a time.",
            platform="Refuel", method="POST", path=f"datasets/{dataset_id}/items", status_code=409)
