"""Sensors for Adaptive ML: A/B tests that finished (with their winner), and recipe jobs that finished."""

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg

from dagster_labeling._dagster.naming import partition_of
from dagster_labeling._dagster.sensors import (
    DEFAULT_MAX_ATTEMPTS,
    ReportedOnce,
    RunWatch,
    materialized_jobs,
    tick_result,
)
from dagster_labeling.adaptive.assets import (
    AB_TEST_KEY_BASE_META,
    AB_TEST_KEY_META,
    AB_TEST_STATUS_META,
    DEFAULT_MAX_P_VALUE,
    JOB_ID_META,
    KEY_CHARACTERS,
    KEY_MAX_LENGTH,
    WINNER_META,
    ab_test_metadata,
    job_metadata,
)
from dagster_labeling.adaptive.flows import eval_observations
from dagster_labeling.adaptive.models import AbTest
from dagster_labeling.adaptive.resource import AdaptiveResource

AB_TEST_TAG = "dagster-labeling/adaptive-ab-test"


def _waited_for(instance: dg.DagsterInstance, asset: dg.AssetsDefinition | None, id_meta: str,
                final_status: str) -> set[str]:
    """Remote ids that a run of ``asset`` already waited for: materialized with ``final_status``."""
    return {job_id for job_id, (status, _) in materialized_jobs(instance, asset, id_meta, AB_TEST_STATUS_META).items()
            if status == final_status}


def _partition_of(asset: dg.AssetsDefinition | None, base: str | None, name: str,
                  instance: dg.DagsterInstance) -> tuple[bool, str | None]:
    """(does ``name`` belong to ``asset``, its partition): the inverse of ``adaptive_key``; a name made with a
    digest is matched against the asset's partition keys."""
    if asset is None or base is None:
        return False, None

    def keys() -> Iterator[str]:  # read only when a name holds a digest
        if asset.partitions_def is not None:
            yield from asset.partitions_def.get_partition_keys(dynamic_partitions_store=instance)

    return partition_of(base, name, keys(), allowed=KEY_CHARACTERS, max_length=KEY_MAX_LENGTH)


def build_adaptive_ab_test_sensor(
    *,
    name: str,
    project: str,
    ab_test_asset: dg.AssetsDefinition | None = None,
    asset_key: dg.AssetKey | str | Sequence[str] | None = None,
    target: Any = None,
    job: Any = None,
    report_existing: bool = False,
    max_tests_per_tick: int = 10,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    resource_key: str = "adaptive",
    minimum_interval_seconds: int = 300,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor reporting the A/B tests of ``project`` that ended (DONE or CANCELLED), each once.

    For each (at most ``max_tests_per_tick`` per tick) it emits a materialization of ``asset_key`` (default:
    ``ab_test_asset``'s key; for a test that asset started, in the test's partition) with the status, winner,
    p-value, whether the winner is significant (``adaptive/significant``) and per-model estimates, and, for a
    DONE test, a ``RunRequest`` for ``target``/``job`` (``run_key=<sensor>:<test>``, tags with the test and the
    winner; a cancelled test has no result to act on, so it is logged and recorded only). The tick log says
    whether each winner is significant. Tests a run of ``ab_test_asset`` already waited for are skipped. On
    the first tick, tests already done are only recorded unless ``report_existing``. A requested run that ends
    FAILURE or CANCELED is requested again, up to ``max_attempts`` runs (see ``RunWatch``).

    >>> build_adaptive_ab_test_sensor(name="ab_done", project="support", asset_key="support_ab_test").name
    'ab_done'
    """
    if max_tests_per_tick < 1:
        raise ValueError("max_tests_per_tick must be at least 1")
    key = dg.AssetKey.from_coercible(asset_key) if asset_key is not None else (
        ab_test_asset.key if ab_test_asset is not None else None)
    if key is None and target is None and job is None:
        raise ValueError("give ab_test_asset or asset_key (to record materializations) and/or target/job")
    partitioned = ab_test_asset is not None and ab_test_asset.partitions_def is not None
    base = None
    if ab_test_asset is not None:
        spec_meta = ab_test_asset.specs_by_key[ab_test_asset.key].metadata or {}
        base = str(spec_meta.get(AB_TEST_KEY_BASE_META, ab_test_asset.key.path[-1]))

    @dg.sensor(name=name, target=target, job=job, minimum_interval_seconds=minimum_interval_seconds,
               default_status=default_status, required_resource_keys={resource_key},
               description=f"Reports finished Adaptive A/B tests of project {project}.")
    def _ab_test_sensor(context: dg.SensorEvaluationContext, **_resources: Any) -> dg.SensorResult | dg.SkipReason:
        reported = ReportedOnce(context.cursor, "reported")
        watch = RunWatch(context, name, context.cursor, max_attempts=max_attempts)
        adaptive: AdaptiveResource = getattr(context.resources, resource_key)
        events: list[dg.AssetMaterialization] = []
        requests: list[dg.RunRequest] = []
        with adaptive.get_client() as client:
            finished = list(dict.fromkeys([t.key for t in client.list_ab_tests(project, status="done")]
                                          + [t.key for t in client.list_ab_tests(project, status="cancelled")]))
            done = reported.new(finished, report_existing=report_existing)
            baseline = reported.first_tick and not report_existing
            waited = _waited_for(context.instance, ab_test_asset, AB_TEST_KEY_META, "DONE") if done else set()
            for test_key in done[:max_tests_per_tick]:
                reported.mark(test_key)
                if test_key in waited:
                    context.log.info(f"A/B test {test_key} finished; a run already waited for it and recorded it.")
                    continue
                test = client.get_ab_test(test_key)
                winner = test.winner() or ""
                cancelled = test.status == "CANCELLED"
                (context.log.warning if cancelled else context.log.info)(ab_test_summary(test))
                partition = None
                if partitioned:
                    _, partition = _partition_of(ab_test_asset, base, test_key, context.instance)
                if key is not None:
                    events.append(dg.AssetMaterialization(asset_key=key, partition=partition,
                                                          metadata=ab_test_metadata(test)))
                if (target is not None or job is not None) and not cancelled:
                    requests.append(watch.request(dg.RunRequest(
                        run_key=f"{name}:{test_key}", partition_key=partition,
                        tags={AB_TEST_TAG: test_key, WINNER_META: winner})))
        nothing = "No newly finished A/B tests."
        if baseline and finished:
            nothing = (f"First tick: {len(finished)} A/B test(s) of {project} had already finished; recorded as seen "
                       "and not reported (report_existing=True reports them).")
        if len(done) > max_tests_per_tick:
            context.log.info(f"{len(done) - max_tests_per_tick} more finished A/B test(s) wait for the next tick.")
        return tick_result(context, reported.cursor(), requests=requests, events=events, nothing=nothing,
                           watch=watch)

    return _ab_test_sensor


def ab_test_summary(test: AbTest, max_p_value: float = DEFAULT_MAX_P_VALUE) -> str:
    """One line for the tick's log: the test, its winner and whether the difference is significant."""
    p_value = test.report.p_value if test.report else None
    winner = test.winner()
    if test.status == "CANCELLED":
        leading = f"; {winner} was leading" if winner else ""
        return f"A/B test {test.key} was cancelled: no result{leading} ({test.scores or 0} scores)."
    if winner is None:
        return f"A/B test {test.key} finished without a result (no scores)."
    significance = "no p-value" if p_value is None else (
        f"p={p_value:.3g}, significant" if p_value <= max_p_value else f"p={p_value:.3g}, not significant")
    return f"A/B test {test.key} finished: {winner} leads ({significance}; {test.scores or 0} scores)."


JOB_TAG = "dagster-labeling/adaptive-job"


def build_adaptive_job_sensor(
    *,
    name: str,
    project: str,
    job_asset: dg.AssetsDefinition | None = None,
    target: Any = None,
    job: Any = None,
    report_existing: bool = False,
    max_jobs_per_tick: int = 10,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    resource_key: str = "adaptive",
    minimum_interval_seconds: int = 120,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
) -> dg.SensorDefinition:
    """A sensor reporting the recipe jobs of ``project`` that finished (completed, failed or canceled), each once.

    For a completed job that ``job_asset`` started (its name is the asset's, ``__<partition>`` per partition)
    it records a materialization of that asset in that partition, with the job's metadata (evaluation means as
    numbers), unless a run already waited for it; with ``target``/``job`` it requests a run
    (``run_key=<sensor>:<job id>``, tagged with the job id; a run that ends FAILURE or CANCELED is requested
    again, up to ``max_attempts`` runs, see ``RunWatch``). Failed and canceled jobs are logged. On the first
    tick, jobs already finished are only recorded unless ``report_existing``.

    >>> build_adaptive_job_sensor(name="jobs_done", project="support", target="evaluation_report").name
    'jobs_done'
    """
    if max_jobs_per_tick < 1:
        raise ValueError("max_jobs_per_tick must be at least 1")
    if job_asset is None and target is None and job is None:
        raise ValueError("give job_asset (to record materializations) and/or target/job")
    base = job_asset.key.path[-1] if job_asset is not None else None

    @dg.sensor(name=name, target=target, job=job, minimum_interval_seconds=minimum_interval_seconds,
               default_status=default_status, required_resource_keys={resource_key},
               description=f"Reports finished Adaptive recipe jobs of project {project}.")
    def _job_sensor(context: dg.SensorEvaluationContext, **_resources: Any) -> dg.SensorResult | dg.SkipReason:
        reported = ReportedOnce(context.cursor, "reported")
        watch = RunWatch(context, name, context.cursor, max_attempts=max_attempts)
        adaptive: AdaptiveResource = getattr(context.resources, resource_key)
        events: list[dg.AssetMaterialization | dg.AssetObservation] = []
        requests: list[dg.RunRequest] = []
        with adaptive.get_client() as client:
            finished = {j.id: j for j in client.list_jobs(project)
                        if j.status in ("COMPLETED", "FAILED", "CANCELED")}
            waited = _waited_for(context.instance, job_asset, JOB_ID_META, "COMPLETED") if finished else set()
            for job_id in reported.new(finished, report_existing=report_existing)[:max_jobs_per_tick]:
                remote = finished[job_id]
                reported.mark(job_id)
                if remote.status != "COMPLETED":
                    context.log.warning(f"Adaptive job {job_id} ({remote.name}) ended {remote.status}: {remote.error}")
                    continue
                if job_id in waited:
                    continue
                belongs, partition = _partition_of(job_asset, base, remote.name or "", context.instance)
                if job_asset is not None and belongs:
                    events.append(dg.AssetMaterialization(asset_key=job_asset.key, partition=partition,
                                                          metadata=job_metadata(remote)))
                    events.extend(eval_observations(job_asset.key, partition, remote))
                if target is not None or job is not None:
                    requests.append(watch.request(dg.RunRequest(run_key=f"{name}:{job_id}", tags={JOB_TAG: job_id},
                                                                partition_key=partition if belongs else None)))
        return tick_result(context, reported.cursor(), requests=requests, events=events,
                           nothing="No newly finished Adaptive jobs.", watch=watch)

    return _job_sensor

