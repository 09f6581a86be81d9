"""Reattach instead of launching twice, for platforms whose jobs have no idempotency key.

Before waiting on a job it started, an asset records an observation carrying the job's id and a *launch key*
(a digest of the inputs that define the job). A retry or re-run of the same partition with the same inputs
finds that record and reattaches to the job, unless the job failed or was canceled.

>>> launch_key("llama-2-7b", "file-1", {"epochs": 2}) == launch_key("llama-2-7b", "file-1", {"epochs": 2})
True
"""

import hashlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

import dagster as dg

from dagster_labeling._core import JobHandle, JobState
from dagster_labeling._dagster.assets import meta_value, partition_key_of

H = TypeVar("H", bound=JobHandle)
LAUNCH_KEY_META = "dagster-labeling/launch_key"
REATTACHABLE_STATES = frozenset({JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED})


def launch_key(*inputs: Any) -> str:
    """A digest of the inputs that define a launch (mappings compared by content, not order)."""
    def canonical(value: Any) -> Any:
        if isinstance(value, dict):
            return sorted((str(k), canonical(v)) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return [canonical(v) for v in value]
        return value

    return hashlib.sha256(json.dumps(canonical(list(inputs)), default=str).encode()).hexdigest()[:16]


def record_launch(context: dg.AssetExecutionContext, asset_key: dg.AssetKey, key: str, id_meta: str,
                  job_id: str) -> None:
    """Record (before waiting) that this partition of ``asset_key`` launched ``job_id`` for ``key``."""
    context.log_event(dg.AssetObservation(asset_key=asset_key, partition=partition_key_of(context),
                                          metadata={id_meta: job_id, LAUNCH_KEY_META: key}))


def earlier_launch(context: dg.AssetExecutionContext, asset_key: dg.AssetKey, key: str, id_meta: str,
                   handle_for: Callable[[str], H], what: str) -> H | None:
    """The job an earlier run of this partition launched with the same launch key, still pending, running or
    succeeded; else None (launch a new one)."""
    partition = partition_key_of(context)
    records = context.instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition] if partition else None),
        limit=20).records
    for record in records:
        meta = record.asset_observation.metadata if record.asset_observation else {}
        if meta_value(meta, LAUNCH_KEY_META) != key:
            continue
        job_id = str(meta_value(meta, id_meta) or "")
        handle = handle_for(job_id)
        if handle.refresh().state in REATTACHABLE_STATES:
            context.log.info(f"Reattached to {what} {job_id}, launched earlier with the same inputs")
            return handle
        return None
    return None
