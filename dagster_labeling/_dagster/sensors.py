"""Pieces the platform sensors share: a cursor of objects already reported, and the tick's result.

>>> seen = ReportedOnce(None, "done")
>>> seen.new(["ft-1"], report_existing=False)  # first tick: what is already finished is only recorded
[]
>>> later = ReportedOnce(seen.cursor(), "done")
>>> later.new(["ft-1", "ft-2"], report_existing=False)
['ft-2']
"""

import json
from collections.abc import Iterable, Sequence

import dagster as dg

from dagster_labeling._dagster.assets import meta_value

MAX_KEYS_IN_CURSOR = 1000


class ReportedOnce:
    """A sensor cursor (``{field: [keys]}``) remembering the remote objects already reported, newest
    ``limit`` kept, so that each is reported once."""

    def __init__(self, cursor: str | None, field: str, limit: int = MAX_KEYS_IN_CURSOR) -> None:
        state = json.loads(cursor) if cursor else {}
        self.first_tick = not state
        self.field, self.limit = field, limit
        self.keys: list[str] = list(state.get(field, []))
        self._seen = set(self.keys)

    def new(self, keys: Iterable[str], *, report_existing: bool) -> list[str]:
        """The keys not reported yet; on the first tick they are only recorded, unless ``report_existing``."""
        fresh = [k for k in keys if k not in self._seen]
        if self.first_tick and not report_existing:
            for key in fresh:
                self.mark(key)
            return []
        return fresh

    def mark(self, key: str) -> None:
        if key not in self._seen:
            self._seen.add(key)
            self.keys.append(key)

    def cursor(self) -> str:
        return json.dumps({self.field: self.keys[-self.limit:]})


def materialized_jobs(instance: dg.DagsterInstance, asset: dg.AssetsDefinition | None, id_meta: str,
                      status_meta: str, limit: int = 200) -> dict[str, tuple[str, str | None]]:
    """``{remote job id: (status recorded, partition)}`` from the latest ``limit`` materializations of
    ``asset`` (newest first wins): which jobs a run of the asset started, waited for, and in which partition."""
    found: dict[str, tuple[str, str | None]] = {}
    if asset is None:
        return found
    for record in instance.fetch_materializations(asset.key, limit=limit).records:
        mat = record.event_log_entry.asset_materialization
        job_id = meta_value(mat.metadata, id_meta) if mat else None
        if mat is not None and job_id and str(job_id) not in found:
            found[str(job_id)] = (str(meta_value(mat.metadata, status_meta) or ""), mat.partition)
    return found


def tick_result(context: dg.SensorEvaluationContext, cursor: str, *, requests: Sequence[dg.RunRequest] = (),
                events: Sequence[dg.AssetMaterialization] = (), nothing: str) -> dg.SensorResult | dg.SkipReason:
    """The tick's run requests and events with the new cursor, or a skip (``nothing``) that still saves it."""
    if not requests and not events:
        context.update_cursor(cursor)
        return dg.SkipReason(nothing)
    return dg.SensorResult(run_requests=list(requests), asset_events=list(events), cursor=cursor)
