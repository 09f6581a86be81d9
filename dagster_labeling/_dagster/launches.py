"""Reattach instead of launching twice, for platforms whose jobs have no idempotency key.

Before waiting on a job it started, an asset yields an observation carrying the job's id and a *launch key*
(a digest of the inputs that define the job): Dagster writes a yielded event before the asset goes on, so the
record exists even if the run dies while waiting. A retry or re-run of the same partition with the same inputs
reads the records back, oldest first, and reattaches to the earliest job that is still pending, running or
succeeded; racing first runs all pick that same earliest one (the event log orders them), so a run whose own
launch lost can cancel it.

>>> launch_key("llama-2-7b", "file-1", {"epochs": 2}) == launch_key("llama-2-7b", "file-1", {"epochs": 2})
True
"""

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import dagster as dg

from dagster_labeling._core import JobHandle, JobState, NotFound
from dagster_labeling._dagster.assets import meta_value, partition_key_of

H = TypeVar("H", bound=JobHandle)
LAUNCH_KEY_META = "dagster-labeling/launch_key"
REATTACHABLE_STATES = frozenset({JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED})
#: How many of a partition's latest records are read back (a race records one per racing run).
RECORDS_READ = 500


def launch_key(*inputs: Any) -> str:
    """A digest of the inputs that define a launch (mappings compared by content, not order)."""
    def canonical(value: Any) -> Any:
        if isinstance(value, dict):
            return sorted((str(k), canonical(v)) for k, v in value.items())
        if isinstance(value, (list, tuple)):
            return [canonical(v) for v in value]
        return value

    return hashlib.sha256(json.dumps(canonical(list(inputs)), default=str).encode()).hexdigest()[:16]


def observation(context: dg.AssetExecutionContext, metadata: Mapping[str, Any]) -> dg.AssetObservation:
    """A record of this asset partition (an upload, a launch), to ``yield`` from the asset so that it is written
    before the asset goes on."""
    return dg.AssetObservation(asset_key=context.asset_key, partition=partition_key_of(context),
                               metadata=dict(metadata))


def launch_record(context: dg.AssetExecutionContext, key: str, id_meta: str, job_id: str) -> dg.AssetObservation:
    """The record that this partition launched ``job_id`` for launch key ``key``; yield it before waiting."""
    return observation(context, {id_meta: job_id, LAUNCH_KEY_META: key})


def recorded_ids(context: dg.AssetExecutionContext, match_key: str, match_value: str, id_key: str) -> list[str]:
    """Ids recorded by observations of this asset partition whose ``match_key`` is ``match_value``, oldest first."""
    partition = partition_key_of(context)
    result = context.instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=context.asset_key, asset_partitions=[partition] if partition else None),
        limit=RECORDS_READ)
    ids = []
    for record in reversed(result.records):  # the instance answers newest first
        meta = record.asset_observation.metadata if record.asset_observation else {}
        if meta_value(meta, match_key) == match_value and meta_value(meta, id_key):
            ids.append(str(meta_value(meta, id_key)))
    return list(dict.fromkeys(ids))


def earlier_launch(context: dg.AssetExecutionContext, key: str, id_meta: str, handle_for: Callable[[str], H],
                   ) -> H | None:
    """The earliest job this partition recorded for launch key ``key`` that is still pending, running or
    succeeded (reattach to it); None if there is none (launch one). A job the platform no longer knows is
    skipped."""
    for job_id in recorded_ids(context, LAUNCH_KEY_META, key, id_meta):
        handle = handle_for(job_id)
        try:
            state = handle.refresh().state
        except NotFound:
            continue
        if state in REATTACHABLE_STATES:
            return handle
    return None
