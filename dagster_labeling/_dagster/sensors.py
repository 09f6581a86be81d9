"""Pieces the platform sensors share: a cursor of objects already reported, the runs a sensor requested (watched
until they succeed, requested again when they fail), and the tick's result.

>>> seen = ReportedOnce(None, "done")
>>> seen.new(["ft-1"], report_existing=False)  # first tick: what is already finished is only recorded
[]
>>> later = ReportedOnce(seen.cursor(), "done")
>>> later.new(["ft-1", "ft-2"], report_existing=False)
['ft-2']
"""

import json
from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg

from dagster_labeling._dagster.assets import meta_value

MAX_KEYS_IN_CURSOR = 1000
MAX_WATCHED_RUNS = 200
DEFAULT_MAX_ATTEMPTS = 3
RUN_EVENT_TAG = "dagster-labeling/sensor-event"
RUN_ATTEMPT_TAG = "dagster-labeling/sensor-attempt"
_RETRIED = (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


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


def _cursor_dict(cursor: str | None) -> dict[str, Any]:
    try:
        state = json.loads(cursor) if cursor else {}
    except ValueError:
        state = {}
    return state if isinstance(state, dict) else {}


def sensor_instance(context: dg.SensorEvaluationContext) -> dg.DagsterInstance | None:
    """The sensor's Dagster instance, None in a test context built without one."""
    try:
        return context.instance
    except dg.DagsterInvariantViolationError:
        return None


class RunWatch:
    """The runs a sensor requested, watched until they succeed, so that a failed run does not lose its event.

    :meth:`request` tags a ``RunRequest`` (which must have a ``run_key``) with the sensor and its key and
    remembers it in the sensor's JSON cursor (under ``"runs"``, newest ``limit`` kept). :meth:`retries`, once per
    tick, looks the watched runs up in the instance (one query, by tag): a run that ended SUCCESS is forgotten;
    one that ended FAILURE or CANCELED is requested again with a new ``run_key`` (``<key>:attempt-<n>``), up to
    ``max_attempts`` runs in all, after which the sensor logs that it gives up (:attr:`gave_up`). Runs still
    queued or running, or not launched yet, stay watched.
    """

    def __init__(self, context: dg.SensorEvaluationContext, sensor_name: str, cursor: str | None, *,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, limit: int = MAX_WATCHED_RUNS) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.context, self.sensor_name = context, sensor_name
        self.max_attempts, self.limit = max_attempts, limit
        self.entries: list[dict[str, Any]] = [e for e in _cursor_dict(cursor).get("runs", [])
                                              if isinstance(e, dict) and e.get("key")]
        self.gave_up: list[str] = []

    def _event(self, key: str) -> str:
        return f"{self.sensor_name}:{key}"

    def _tagged(self, entry: dict[str, Any]) -> dg.RunRequest:
        attempt = int(entry["attempt"])
        selection = entry.get("selection")
        return dg.RunRequest(
            run_key=entry["key"] if attempt == 1 else f"{entry['key']}:attempt-{attempt}",
            partition_key=entry.get("partition"), run_config=entry.get("config") or {}, job_name=entry.get("job"),
            asset_selection=[dg.AssetKey(path) for path in selection] if selection is not None else None,
            tags={**entry.get("tags", {}), RUN_EVENT_TAG: self._event(entry["key"]), RUN_ATTEMPT_TAG: str(attempt)})

    def request(self, request: dg.RunRequest) -> dg.RunRequest:
        """``request`` tagged for watching (attempt 1, its own ``run_key``), remembered in the cursor."""
        if not request.run_key:
            raise ValueError("a watched RunRequest needs a run_key")
        entry: dict[str, Any] = {"key": request.run_key, "attempt": 1, "partition": request.partition_key,
                                 "tags": dict(request.tags)}
        if request.run_config:
            entry["config"] = dict(request.run_config)
        if request.job_name:
            entry["job"] = request.job_name
        if request.asset_selection is not None:
            entry["selection"] = [list(key.path) for key in request.asset_selection]
        self.entries = [e for e in self.entries if e["key"] != request.run_key] + [entry]
        return self._tagged(entry)

    def retries(self) -> list[dg.RunRequest]:
        """Run requests for the watched runs that failed or were canceled (a new attempt each); forgets the runs
        that succeeded and those that used their last attempt (logged, and listed in :attr:`gave_up`)."""
        instance = sensor_instance(self.context)
        if not self.entries or instance is None:
            return []
        events = [self._event(e["key"]) for e in self.entries]
        status: dict[tuple[str, str], dg.DagsterRunStatus] = {}
        records = instance.get_run_records(dg.RunsFilter(tags={RUN_EVENT_TAG: events}),
                                                        limit=len(events) * self.max_attempts * 2)
        for record in reversed(records):  # oldest first: the newest run of an attempt wins
            tags = record.dagster_run.tags
            status[(tags.get(RUN_EVENT_TAG, ""), tags.get(RUN_ATTEMPT_TAG, "1"))] = record.dagster_run.status
        kept: list[dict[str, Any]] = []
        again: list[dg.RunRequest] = []
        for entry in self.entries:
            ended = status.get((self._event(entry["key"]), str(entry["attempt"])))
            if ended is dg.DagsterRunStatus.SUCCESS:
                continue
            if ended not in _RETRIED:
                kept.append(entry)
                continue
            if int(entry["attempt"]) >= self.max_attempts:
                self.gave_up.append(entry["key"])
                self.context.log.warning(f"run {entry['key']} ended {ended.value} {entry['attempt']} time(s); "
                                         f"not requested again (max_attempts={self.max_attempts})")
                continue
            entry = {**entry, "attempt": int(entry["attempt"]) + 1}
            self.context.log.info(f"run {entry['key']} ended {ended.value}: requesting attempt {entry['attempt']}")
            kept.append(entry)
            again.append(self._tagged(entry))
        self.entries = kept
        return again

    def cursor(self, cursor: str) -> str:
        """``cursor`` (a JSON object) with the watched runs added under ``"runs"``."""
        return json.dumps({**_cursor_dict(cursor), "runs": self.entries[-self.limit:]})

    def sensor_result(self, cursor: str | None, requests: Sequence[dg.RunRequest] = (),
                      events: Sequence[dg.AssetMaterialization] = (), *, nothing: str) -> dg.SensorResult:
        """The tick's requests plus the retries (:meth:`retries`) and ``events``, or a skip (``nothing``, with the
        runs given up on), with ``cursor`` keeping the watched runs."""
        requests = [*requests, *self.retries()]
        if self.gave_up:
            nothing += f" Gave up on {len(self.gave_up)} run(s) after {self.max_attempts} attempt(s): " \
                       f"{', '.join(self.gave_up)}."
        return dg.SensorResult(run_requests=requests or None, asset_events=list(events) or None,
                               skip_reason=None if requests or events else nothing,
                               cursor=self.cursor(cursor or "{}"))


def tick_result(context: dg.SensorEvaluationContext, cursor: str, *, requests: Sequence[dg.RunRequest] = (),
                events: Sequence[dg.AssetMaterialization | dg.AssetObservation] = (), nothing: str,
                watch: RunWatch | None = None) -> dg.SensorResult | dg.SkipReason:
    """The tick's run requests and events with the new cursor, or a skip (``nothing``) that still saves it.

    With ``watch``, the requests of failed runs are added (:meth:`RunWatch.retries`) and the cursor keeps the
    watched runs."""
    if watch is not None:
        requests = [*requests, *watch.retries()]
        cursor = watch.cursor(cursor)
        if watch.gave_up:
            nothing += f" Gave up on {len(watch.gave_up)} run(s) after {watch.max_attempts} attempt(s): " \
                       f"{', '.join(watch.gave_up)}."
    if not requests and not events:
        context.update_cursor(cursor)
        return dg.SkipReason(nothing)
    return dg.SensorResult(run_requests=list(requests), asset_events=list(events), cursor=cursor)
