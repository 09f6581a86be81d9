"""Asset factories for Adaptive ML: an A/B test of models that yields the winner, and interactions logged with
their feedback from a DataFrame.

>>> import dagster as dg
>>> ab = build_adaptive_ab_test_asset(name="support_ab_test", project="support", feedback_key="acceptance",
...                                   models=["llama-3.1-8b-instruct", "support-tuned"])
>>> ab.key.to_user_string()
'support_ab_test'
"""

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg
import pandas as pd

from dagster_labeling._core import BulkProgress, ConnectionFailed, InvalidInput, JobState, ServerError, run_bulk
from dagster_labeling._core.encoding import is_missing, plain
from dagster_labeling._core.rows import (
    InvalidRows,
    RowProblem,
    RowSpec,
    key_text,
    row_problems,
    row_records,
    validate_rows,
)
from dagster_labeling._dagster.assets import (
    AssetRef,
    asset_key_of,
    latest_materialization,
    meta_value,
    partition_key_of,
    partitions_like,
)
from dagster_labeling._dagster.config import WaitConfig, resolve_wait
from dagster_labeling._dagster.launches import earlier_launch, launch_key, launch_record
from dagster_labeling._dagster.naming import join_id, remote_name
from dagster_labeling.adaptive.client import AdaptiveAbTestHandle, AdaptiveClient, AdaptiveJobHandle
from dagster_labeling.adaptive.errors import AdaptiveError
from dagster_labeling.adaptive.models import AbTest, Job
from dagster_labeling.adaptive.resource import AdaptiveResource

KEY_CHARACTERS = "a-zA-Z0-9_.-"
KEY_MAX_LENGTH = 128
"""The keys and names derived here (A/B test keys, recipe job names) keep to these characters and this length.
Inferred, not documented by Adaptive: its keys are slugs; outside these, a name gets a readable prefix and a
digest (see :func:`~dagster_labeling._dagster.naming.remote_name`)."""
AB_TEST_KEY_BASE_META = "adaptive/ab_test_key_base"
DEFAULT_MAX_P_VALUE = 0.05  # a result counts as significant at p <= this
AB_TEST_KEY_META = "adaptive/ab_test"
AB_TEST_STATUS_META = "adaptive/status"
WINNER_META = "adaptive/winner"
SIGNIFICANT_META = "adaptive/significant"
ROW_LABEL = "dagster_row"
"""The label an interactions asset puts on every interaction it logs: ``<asset>[__<partition>]/<row key>``
(injective: parts holding ``/`` or ``__`` get a readable prefix and a digest, see ``join_id``)."""


def adaptive_key(base: str, partition_key: str | None) -> str:
    """The key (A/B test) or name (recipe job) of ``base`` for a partition, injective, within Adaptive's rules.

    >>> adaptive_key("weekly_ab", "2026-11-02"), adaptive_key("weekly_ab", "eu/west")[:22]
    ('weekly_ab__2026-11-02', 'weekly_ab__eu-west____')
    """
    return remote_name(base, partition_key, allowed=KEY_CHARACTERS, max_length=KEY_MAX_LENGTH)


def row_label(asset_name: str, partition_key: str | None, row_key: str) -> str:
    """The ``dagster_row`` label of a row (labels are free text: only the separators are escaped)."""
    return join_id(remote_name(asset_name, partition_key), row_key)


FEEDBACK_KIND_NAMES = ("scalar", "bool")


def _check_feedback_kind(feedback_kind: str) -> None:
    if feedback_kind not in FEEDBACK_KIND_NAMES:
        raise InvalidInput(f"feedback_kind must be 'scalar' or 'bool', got {feedback_kind!r}.", field="feedback_kind")


def ensure_project_setup(client: AdaptiveClient, context: dg.AssetExecutionContext, project: str, *,
                         models: Sequence[str] = (), feedback_key: str | None = None,
                         feedback_kind: str = "scalar") -> None:
    """What an asset with ``create_project`` needs and is missing: the project, ``models`` attached to it (the
    first becomes the default model of a project without one) and ``feedback_key`` (of ``feedback_kind``).

    Everything here is looked up first and created only if absent; project and feedback keys are unique on
    Adaptive, so runs doing this together converge. Two runs may attach the same model together: an attach that
    fails is forgiven when the model turns out to be attached. For the emulator and new workspaces: in
    production a project is set up with its models and keys on purpose, so the option is off by default."""
    found, created = client.ensure_project(project)
    if created:
        context.log.info(f"Created Adaptive project {project}")
    attached = {service.key for service in found.model_services}
    has_default = found.default_model is not None
    for model in dict.fromkeys(models):
        if model in attached:
            continue
        try:
            client.attach_model(project, model, make_default=not has_default)
        except AdaptiveError:
            if model not in {service.key for service in client.get_project(project).model_services}:
                raise
        context.log.info(f"Attached model {model} to Adaptive project {project}"
                         f"{'' if has_default else ' as its default model'}")
        has_default = True
    if feedback_key is not None:
        _, key_created = client.ensure_feedback_key(project, feedback_key, kind=feedback_kind)
        if key_created:
            context.log.info(f"Registered feedback key {feedback_key} ({feedback_kind}) in Adaptive project {project}")


def ab_test_metadata(test: AbTest) -> dict[str, Any]:
    """A/B test results as Dagster metadata: status, winner, p-value, scores, and the estimate per variant."""
    variants = test.report.variants if test.report else []
    metadata: dict[str, Any] = {
        AB_TEST_KEY_META: test.key, AB_TEST_STATUS_META: test.status, WINNER_META: test.winner() or "",
        "adaptive/scores": int(test.scores or 0),
        "adaptive/variants": dg.MetadataValue.table(
            records=[dg.TableRecord({
                "model": v.variant.key or v.variant.id, "scores": v.scores,
                "estimate": v.interval.middle if v.interval else None,
                "low": v.interval.start if v.interval else None, "high": v.interval.end if v.interval else None,
            }) for v in variants],
            schema=dg.TableSchema(columns=[dg.TableColumn("model", "string"), dg.TableColumn("scores", "int"),
                                           dg.TableColumn("estimate", "float"), dg.TableColumn("low", "float"),
                                           dg.TableColumn("high", "float")])),
    }
    p_value = test.report.p_value if test.report is not None else None
    if p_value is not None:
        metadata["adaptive/p_value"] = float(p_value)
    # a finished test whose winner is significant at DEFAULT_MAX_P_VALUE; False says "not significant" (or no result)
    metadata[SIGNIFICANT_META] = test.status == "DONE" and p_value is not None and p_value <= DEFAULT_MAX_P_VALUE
    return metadata


def _existing_or_new_ab_test(client: AdaptiveClient, context: dg.AssetExecutionContext, test_key: str, *,
                             project: str, feedback_key: str, models: Sequence[str], traffic_split: float,
                             feedback_type: str, auto_deploy: bool) -> AdaptiveAbTestHandle:
    """The A/B test of this asset (and partition): started if there is none, else reattached (runs arriving
    together converge on one test: its key is unique on Adaptive)."""
    handle, created = client.ensure_ab_test(project, test_key, feedback_key, models, traffic_split=traffic_split,
                                            feedback_type=feedback_type, auto_deploy=auto_deploy)
    if created:
        context.log.info(f"Started Adaptive A/B test {test_key} of {', '.join(models)} on {feedback_key}")
        return handle
    status = handle.status
    if status.state is JobState.CANCELED:
        raise dg.Failure(description=f"Adaptive A/B test {test_key} was cancelled; A/B test keys cannot be reused. "
                                     "Give the asset another ab_test_key_prefix to start a new one.")
    context.log.info(f"Reattached to Adaptive A/B test {test_key} ({status.raw_status})")
    return handle


def build_adaptive_ab_test_asset(
    *,
    name: str,
    project: str,
    feedback_key: str,
    models: Sequence[str],
    ab_test_key_prefix: str | None = None,
    traffic_split: float = 1.0,
    feedback_type: str = "metric",
    auto_deploy: bool = False,
    create_project: bool = False,
    feedback_kind: str = "scalar",
    wait_for_completion: bool = True,
    wait_timeout_seconds: float = 7 * 24 * 3600,
    poll_interval_seconds: float = 300.0,
    cancel_on_termination: bool = False,
    cancel_on_timeout: bool = False,
    partitions_def: dg.PartitionsDefinition | None = None,
    deps: Sequence[AssetRef] = (),
    resource_key: str = "adaptive",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    pool: str | None = None,
) -> dg.AssetsDefinition:
    """An asset running an A/B test of ``models`` on ``feedback_key``; outputs the winning model's key.

    The test's key is ``<ab_test_key_prefix or name>`` (``__<partition>`` per partition, see
    :func:`adaptive_key`): a re-run, or runs of a partition arriving together, reattach to it instead of starting
    a second one (A/B test keys are unique on Adaptive). Waiting (default) polls the test, logging its scores,
    until DONE;
    ``cancel_on_termination`` (off by default: a test collects production traffic) cancels it if the run is
    terminated. Without waiting the output is the test's key and :func:`build_adaptive_ab_test_sensor` reports
    the result. Metadata: status, winner, p-value, scores, and a table of the estimate per model. The winner is
    the best score estimate (the API reports intervals, not a winner); with ``auto_deploy`` Adaptive also makes
    it the project's default model. ``create_project`` (off by default) first creates what is missing: the
    project, the models attached to it, the feedback key of ``feedback_kind`` (see :func:`ensure_project_setup`).
    ``pool`` puts the asset in a Dagster concurrency pool.
    """
    if len(set(models)) < 2:
        raise InvalidInput(f"An A/B test needs at least two distinct models, got {list(models)}.", field="models")
    if feedback_type not in ("metric", "preference"):
        raise InvalidInput(f"feedback_type must be 'metric' or 'preference', got {feedback_type!r}.",
                           field="feedback_type")
    if not 0 < traffic_split <= 1:
        raise InvalidInput(f"traffic_split is the share of traffic in (0, 1], got {traffic_split}.",
                           field="traffic_split")
    _check_feedback_kind(feedback_kind)
    base_key = ab_test_key_prefix or name

    @dg.asset(
        name=name, key_prefix=key_prefix, deps=[asset_key_of(d) for d in deps], partitions_def=partitions_def,
        required_resource_keys={resource_key}, group_name=group_name, kinds={"adaptive"},
        description=description or f"A/B test of {', '.join(models)} on {feedback_key} in Adaptive ML.",
        metadata={AB_TEST_KEY_BASE_META: base_key}, pool=pool,
    )
    def _ab_test_asset(context: dg.AssetExecutionContext, config: WaitConfig):
        adaptive: AdaptiveResource = getattr(context.resources, resource_key)
        waits, options = resolve_wait(
            config, wait_for_completion=wait_for_completion, wait_timeout_seconds=wait_timeout_seconds,
            poll_interval_seconds=poll_interval_seconds, cancel_on_termination=cancel_on_termination,
            cancel_on_timeout=cancel_on_timeout)
        test_key = adaptive_key(base_key, partition_key_of(context))
        with adaptive.get_client() as client:
            if create_project:
                ensure_project_setup(client, context, project, models=models, feedback_key=feedback_key,
                                     feedback_kind=feedback_kind)
            handle = _existing_or_new_ab_test(client, context, test_key, project=project, feedback_key=feedback_key,
                                              models=models, traffic_split=traffic_split,
                                              feedback_type=feedback_type, auto_deploy=auto_deploy)
            status = handle.wait(options, log=context.log) if waits else handle.refresh()
            test = handle.ab_test or client.get_ab_test(test_key)
        if status.state is JobState.CANCELED:
            raise dg.Failure(description=f"Adaptive A/B test {test_key} was cancelled.",
                             metadata=ab_test_metadata(test))
        value = test.winner() if waits else test_key
        return dg.Output(value, metadata=ab_test_metadata(test))

    return _ab_test_asset


def build_adaptive_promote_winner_asset(
    *,
    name: str,
    ab_test_asset: dg.AssetsDefinition,
    project: str,
    max_p_value: float = DEFAULT_MAX_P_VALUE,
    resource_key: str = "adaptive",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    pool: str | None = None,
) -> dg.AssetsDefinition:
    """An asset making the winner of ``ab_test_asset``'s latest finished A/B test (same partition) the project's
    default model, when the result is significant (p-value at most ``max_p_value``); outputs the default model.

    It reads the A/B test asset's latest materialization, whether a run waited for the test or the sensor
    recorded it. While the test has not finished the step succeeds without materializing (nothing to promote
    yet: point the A/B test sensor's ``target`` at this asset to promote when it finishes); a result that is not
    significant keeps the current default and says so in the metadata. Setting the default twice is harmless, so re-runs
    are safe. (With ``auto_deploy`` Adaptive promotes by itself; this is for when promotion is your decision.)
    ``pool`` puts the asset in a Dagster concurrency pool.
    """
    if not 0 < max_p_value <= 1:
        raise InvalidInput(f"max_p_value must be in (0, 1], got {max_p_value}.", field="max_p_value")

    @dg.asset(
        name=name, key_prefix=key_prefix, deps=[ab_test_asset], partitions_def=ab_test_asset.partitions_def,
        required_resource_keys={resource_key}, group_name=group_name, kinds={"adaptive"}, output_required=False,
        pool=pool,
        description=description or f"The winner of {ab_test_asset.key.to_user_string()} as {project}'s default model.",
    )
    def _promote_asset(context: dg.AssetExecutionContext):
        mat = latest_materialization(context.instance, ab_test_asset.key, partition_key_of(context))
        meta = mat.metadata if mat is not None else {}
        test_key, status, winner, p_value = (meta_value(meta, AB_TEST_KEY_META), meta_value(meta, AB_TEST_STATUS_META),
                                             meta_value(meta, WINNER_META), meta_value(meta, "adaptive/p_value"))
        if status != "DONE" or not winner:
            context.log.info(f"A/B test {test_key or ab_test_asset.key.to_user_string()} has not finished (status "
                             f"{status}); nothing to promote yet, so {name} is not materialized")
            return
        adaptive: AdaptiveResource = getattr(context.resources, resource_key)
        significant = p_value is not None and float(p_value) <= max_p_value
        with adaptive.get_client() as client:
            if significant:
                client.update_model(project, str(winner), is_default=True)
                context.log.info(f"Promoted {winner} to the default model of {project} (A/B test {test_key}, "
                                 f"p-value {float(p_value):.3f})")
            else:
                context.log.warning(f"A/B test {test_key}: {winner} leads but p-value {p_value} > {max_p_value}; "
                                    "the default model is unchanged")
            default = client.get_project(project).default_model
        yield dg.Output(default, metadata={"adaptive/promoted": significant, WINNER_META: str(winner),
                                            AB_TEST_KEY_META: str(test_key), "adaptive/default_model": default or "",
                                            **({"adaptive/p_value": float(p_value)} if p_value is not None else {})})

    return _promote_asset


JOB_ID_META = "adaptive/job_id"


def job_metadata(job: Job) -> dict[str, Any]:
    """A recipe job as Dagster metadata: id, status, progress, its artifacts, and its evaluation results."""
    metadata: dict[str, Any] = {JOB_ID_META: job.id, AB_TEST_STATUS_META: job.status,
                                "adaptive/artifacts": dg.MetadataValue.json(
                                    [{"name": a.get("name"), "kind": a.get("kind"), "uri": a.get("uri")}
                                     for a in job.artifacts])}
    if job.progress is not None:
        metadata["adaptive/progress"] = float(job.progress)
    results = job.eval_results
    if results:
        metadata["adaptive/eval_results"] = dg.MetadataValue.table(
            records=[dg.TableRecord({"model": (r.model_service or {}).get("key"), "metric": (r.metric or {}).get("key"),
                                     "mean": r.mean, "count": r.count}) for r in results],
            schema=dg.TableSchema(columns=[dg.TableColumn("model", "string"), dg.TableColumn("metric", "string"),
                                           dg.TableColumn("mean", "float"), dg.TableColumn("count", "int")]))
        for r in results:
            if r.mean is not None and r.model_service and r.metric:
                metadata[f"adaptive/mean/{r.model_service.get('key')}/{r.metric.get('key')}"] = float(r.mean)
    return metadata


def _start_one_job(client: AdaptiveClient, context: dg.AssetExecutionContext, project: str, job_name: str,
                   recipe: str, args: Mapping[str, Any] | None, num_gpus: int,
                   compute_pool: str | None) -> AdaptiveJobHandle:
    """Start this partition's job, or follow the one that runs of this partition started together share (job
    names are not unique on Adaptive, and a job cannot be started idempotently).

    After starting its job, a run lists the project's jobs and keeps the earliest with this name, recipe and
    args that did not fail or get canceled: every run sees that one (it was started before theirs), so all keep
    the same; a run whose job is not it cancels its own and follows the kept one. A start whose answer was lost
    (5xx, connection dropped) is resolved the same way: the job it may have started is found by the listing,
    and the error raised only if there is none."""
    lost: Exception | None = None
    started: AdaptiveJobHandle | None = None
    try:
        started = client.run_job(project, recipe, args=args, name=job_name, num_gpus=num_gpus,
                                 compute_pool=compute_pool)
        context.log.info(f"Started Adaptive job {started.id} ({recipe}) in project {project}")
    except (ServerError, ConnectionFailed) as error:  # maybe started: the listing tells
        lost = error
    wanted = launch_key(dict(args or {}))
    same = [j for j in client.list_jobs(project)
            if j.name == job_name and j.recipe is not None and j.recipe.key == recipe
            and launch_key(j.args or {}) == wanted and j.status not in ("FAILED", "CANCELED")]
    if started is not None and not any(j.id == started.id for j in same):
        return started  # not among the latest listed: nothing to reconcile with
    if lost is not None and not same:
        raise lost  # the start was not stored
    kept = min(same, key=lambda j: (j.created_at or 0, j.id))
    if started is not None and kept.id == started.id:
        return started
    if started is None:
        context.log.info(f"Starting the Adaptive job got no answer ({type(lost).__name__}); following job {kept.id} "
                         f"({job_name}), which the listing shows")
    else:
        outcome = started.cancel()
        context.log.info(f"Another run of this partition started Adaptive job {kept.id} ({job_name}) first: "
                         f"following it, and canceled {started.id} ({outcome.describe()})")
    return client.job(kept.id)


def build_adaptive_job_asset(
    *,
    name: str,
    project: str,
    recipe: str,
    args: Mapping[str, Any] | None = None,
    num_gpus: int = 1,
    compute_pool: str | None = None,
    wait_for_completion: bool = True,
    wait_timeout_seconds: float = 24 * 3600,
    poll_interval_seconds: float = 30.0,
    cancel_on_termination: bool = True,
    cancel_on_timeout: bool = False,
    partitions_def: dg.PartitionsDefinition | None = None,
    deps: Sequence[AssetRef] = (),
    resource_key: str = "adaptive",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
) -> dg.AssetsDefinition:
    """An asset running an Adaptive recipe job (training, evaluation…) with ``args``; outputs the job id.

    Waiting (default) polls the job with progress logs and cancels it if the run is terminated; the metadata has
    the status, the artifacts, and for an evaluation the mean score per model and metric, as numbers (so the
    Dagster UI plots them across materializations) and as a table. A retry or re-run of the same partition
    with the same recipe and args reattaches to the job it started instead of starting another; one that
    failed or was canceled is replaced. A failed or canceled job fails the step with the service's reason.
    """
    if num_gpus < 1:
        raise InvalidInput(f"num_gpus must be at least 1, got {num_gpus}.", field="num_gpus")
    asset_key = dg.AssetKey([*(key_prefix or []), name])

    @dg.asset(
        key=asset_key, deps=[asset_key_of(d) for d in deps], partitions_def=partitions_def,
        required_resource_keys={resource_key}, group_name=group_name, kinds={"adaptive"},
        description=description or f"The Adaptive recipe {recipe} run in project {project}.",
    )
    def _job_asset(context: dg.AssetExecutionContext, config: WaitConfig):
        adaptive: AdaptiveResource = getattr(context.resources, resource_key)
        waits, options = resolve_wait(
            config, wait_for_completion=wait_for_completion, wait_timeout_seconds=wait_timeout_seconds,
            poll_interval_seconds=poll_interval_seconds, cancel_on_termination=cancel_on_termination,
            cancel_on_timeout=cancel_on_timeout)
        key = launch_key(project, recipe, dict(args or {}), num_gpus, compute_pool)
        with adaptive.get_client() as client:
            handle = earlier_launch(context, key, JOB_ID_META, client.job)
            if handle is not None:
                context.log.info(f"Reattached to Adaptive job {handle.id}, launched earlier with the same inputs")
            else:
                handle = _start_one_job(client, context, project, adaptive_key(name, partition_key_of(context)),
                                        recipe, args, num_gpus, compute_pool)
                # Written before waiting: a re-run after the run died mid-wait reattaches instead of launching.
                yield launch_record(context, key, JOB_ID_META, handle.id)
            options.raise_on_failure = False  # a failed job fails the step below, with its metadata
            status = handle.wait(options, log=context.log) if waits else handle.refresh()
            job = handle.job or client.get_job(handle.id)
        if status.state in (JobState.FAILED, JobState.CANCELED):
            raise dg.Failure(description=f"Adaptive job {handle.id} ({recipe}) ended {job.status}: "
                                         f"{job.error or 'no reason given'}", metadata=job_metadata(job))
        yield dg.Output(handle.id, metadata=job_metadata(job))

    return _job_asset


DATASET_KEY_META = "adaptive/dataset"


def build_adaptive_dataset_asset(
    *,
    name: str,
    upstream: AssetRef,
    project: str,
    prompt_column: str = "prompt",
    completion_column: str | None = "completion",
    dataset_key_prefix: str | None = None,
    create_project: bool = False,
    partitions_def: dg.PartitionsDefinition | None = None,
    resource_key: str = "adaptive",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    pool: str | None = None,
) -> dg.AssetsDefinition:
    """An asset uploading a DataFrame as an Adaptive dataset, one JSONL line per row (the prompt as a user
    message, and the completion unless ``completion_column`` is None); outputs the dataset's key.

    The key is ``<dataset_key_prefix or name>`` (``__<partition>`` per partition, see :func:`adaptive_key`).
    Dataset keys are unique per project: runs arriving together upload it once, and a re-run finds it and
    uploads nothing. A dataset that exists with another number of records than the input has rows fails the
    step (Adaptive cannot replace a dataset's rows: delete it to upload the new ones). ``create_project`` (off
    by default) creates the project if it is missing; ``pool`` puts the asset in a Dagster concurrency pool.
    """
    upstream_key = asset_key_of(upstream)
    base_key = dataset_key_prefix or name

    @dg.asset(
        name=name, key_prefix=key_prefix, ins={"rows": dg.AssetIn(key=upstream_key)},
        partitions_def=partitions_like(partitions_def, upstream), required_resource_keys={resource_key},
        group_name=group_name, kinds={"adaptive", "pandas"},
        description=description or f"The rows of {upstream_key.to_user_string()} as an Adaptive dataset.",
        pool=pool,
    )
    def _dataset_asset(context: dg.AssetExecutionContext, rows: pd.DataFrame):
        where = f"asset {name!r}"
        required = (prompt_column, *([completion_column] if completion_column else []))
        validate_rows(rows, RowSpec(required=required), where=where)
        lines = [{"messages": [{"role": "user", "content": str(record[prompt_column])}],
                  **({"completion": str(record[completion_column])} if completion_column else {})}
                 for record in row_records(rows, list(required))]
        if not lines:
            raise InvalidInput(f"{where}: the input has no rows; a dataset needs at least one.", field="rows")
        key = adaptive_key(base_key, partition_key_of(context))
        adaptive: AdaptiveResource = getattr(context.resources, resource_key)
        with adaptive.get_client() as client:
            if create_project:
                ensure_project_setup(client, context, project)
            dataset, created = client.ensure_dataset(project, key, lines)
        if dataset.records is not None and dataset.records != len(lines):
            raise dg.Failure(description=f"{where}: Adaptive dataset {key} exists with {dataset.records} records, "
                                         f"the input has {len(lines)} rows. Delete it (AdaptiveClient."
                                         f"delete_dataset) to upload the new rows, or give another "
                                         f"dataset_key_prefix.")
        context.log.info(f"{'Uploaded' if created else 'Found'} Adaptive dataset {key} ({dataset.records} records)")
        return dg.Output(key, metadata={DATASET_KEY_META: key, "adaptive/uploaded": created,
                                        "dagster/row_count": int(dataset.records or len(lines))})

    return _dataset_asset


def build_adaptive_interactions_asset(
    *,
    name: str,
    upstream: AssetRef,
    project: str,
    key_column: str,
    prompt_column: str = "prompt",
    completion_column: str = "completion",
    model: str | None = None,
    feedback_key: str | None = None,
    feedback_column: str | None = None,
    label_columns: Sequence[str] = (),
    concurrency: int | None = None,
    allow_partial: bool = False,
    create_project: bool = False,
    feedback_kind: str = "scalar",
    partitions_def: dg.PartitionsDefinition | None = None,
    resource_key: str = "adaptive",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    pool: str | None = None,
) -> dg.AssetsDefinition:
    """An asset logging each row of a DataFrame as an Adaptive interaction (prompt → completion), with the
    row's feedback on ``feedback_key`` from ``feedback_column`` (a number or bool) if given.

    The whole frame is checked before the first request (:func:`interaction_row_problems`; every bad row is
    listed at once); missing feedback or label cells are left out. Every interaction carries the label
    ``dagster_row=<asset>[__<partition>]/<key>`` (:func:`row_label`): a re-run (or a retry after a failure)
    looks those up first and logs only the rows not there yet, and a row whose answer is lost is looked up
    before it is sent again (:meth:`AdaptiveClient.log_interaction_once`), so one run ends exact through
    faults. Output: the rows' ``key`` and ``completion_id``; rows that still failed fail the step (listed)
    unless ``allow_partial``. ``create_project`` (off by default) first creates what is missing: the project,
    ``model`` attached to it, ``feedback_key`` of ``feedback_kind`` (see :func:`ensure_project_setup`); ``pool``
    puts the asset in a Dagster concurrency pool.
    """
    if (feedback_key is None) != (feedback_column is None):
        raise InvalidInput("Give both feedback_key and feedback_column, or neither.", field="feedback_key")
    _check_feedback_kind(feedback_kind)
    upstream_key = asset_key_of(upstream)

    @dg.asset(
        name=name, key_prefix=key_prefix, ins={"rows": dg.AssetIn(key=upstream_key)},
        partitions_def=partitions_like(partitions_def, upstream), required_resource_keys={resource_key},
        group_name=group_name, kinds={"adaptive", "pandas"},
        description=description or f"The rows of {upstream_key.to_user_string()} logged as Adaptive interactions.",
        pool=pool,
    )
    def _interactions_asset(context: dg.AssetExecutionContext, rows: pd.DataFrame):
        where = f"asset {name!r}"
        problems = interaction_row_problems(rows, key_column=key_column, prompt_column=prompt_column,
                                            completion_column=completion_column, feedback_column=feedback_column,
                                            label_columns=label_columns)
        if problems:
            raise InvalidRows(where, problems)
        partition = partition_key_of(context)
        keys = [key_text(k) for k in rows[key_column].tolist()]
        sent = [prompt_column, completion_column, *([feedback_column] if feedback_column else []), *label_columns]
        items: list[tuple[str, dict[str, Any]]] = []
        for key, record in zip(keys, row_records(rows, list(dict.fromkeys(sent))), strict=True):
            feedbacks = None
            if feedback_key is not None and feedback_column is not None and feedback_column in record:
                feedbacks = [{"feedback_key": feedback_key, "value": record[feedback_column]}]
            items.append((key, {"label": row_label(name, partition, key), "feedbacks": feedbacks,
                                "messages": [{"role": "user", "content": str(record[prompt_column])}],
                                "completion": str(record[completion_column]),
                                "labels": {c: str(record[c]) for c in label_columns if c in record}}))
        adaptive: AdaptiveResource = getattr(context.resources, resource_key)
        with adaptive.get_client() as client:
            if create_project:
                ensure_project_setup(client, context, project, models=[model] if model else [],
                                     feedback_key=feedback_key, feedback_kind=feedback_kind)
            logged = _logged_rows(client, project, [item["label"] for _, item in items])
            existing = {k: logged[item["label"]] for k, item in items if item["label"] in logged}
            if existing:
                context.log.info(f"{where}: {len(existing)} rows already logged by an earlier run; skipping them")

            def log_row(key: str, item: Mapping[str, Any]) -> str:
                return client.log_interaction_once(project, (ROW_LABEL, item["label"]), item["messages"],
                                                   item["completion"], model=model, feedbacks=item["feedbacks"],
                                                   labels=item["labels"])

            def progress(p: BulkProgress) -> None:
                context.log.info(f"{where}: {p.done}/{p.total} interactions logged, {p.failed} failed")

            result = run_bulk(items, log_row, concurrency=concurrency or adaptive.max_concurrency,
                              existing=existing, on_progress=progress)
        frame = pd.DataFrame({"key": keys, "completion_id": [result.succeeded.get(k) for k in keys],
                              "error": [f"{f.error_type}: {f.message}" if (f := result.failures.get(k)) else None
                                        for k in keys]})
        if result.failures and not allow_partial:
            listed = ", ".join(list(result.failures)[:20])
            raise dg.Failure(description=f"{where}: {len(result.failures)} of {len(keys)} rows were not logged "
                                         f"(e.g. {listed}); re-run to log only those.",
                             metadata={"failed_count": len(result.failures)})
        return dg.Output(frame, metadata={"dagster/row_count": len(frame), "adaptive/logged": len(result.created),
                                          "adaptive/already_logged": len(result.skipped),
                                          "adaptive/failed": len(result.failures)})

    return _interactions_asset


def _logged_rows(client: AdaptiveClient, project: str, row_labels: Sequence[str],
                 chunk: int = 100) -> dict[str, str]:
    """``{row label: completion id}`` of the interactions already logged with these ``dagster_row`` labels
    (one look-up per ``chunk`` labels, paged by the server's cursor; the look-ups sent concurrently: they are
    independent reads)."""
    parts = [list(row_labels[start:start + chunk]) for start in range(0, len(row_labels), chunk)]
    merged: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(client.max_concurrency, len(parts)))) as pool:
        for found in pool.map(lambda part: client.interactions_with_label(project, ROW_LABEL, part, page_size=chunk),
                              parts):  # a look-up that finally fails raises: never a silent gap
            merged.update(found)
    return merged


def interaction_row_problems(rows: Any, *, key_column: str, prompt_column: str, completion_column: str,
                             feedback_column: str | None = None, label_columns: Sequence[str] = ()) -> list[RowProblem]:
    """Every problem of the rows an interactions asset would log (empty when all can be sent), found before
    anything is sent: a missing key, prompt or completion (Adaptive would store the text "nan" or "None"), a
    repeated key, an empty completion, a feedback that is not a number or a bool, a value with no JSON form.
    Missing feedback and label cells are fine: those rows are logged without them."""
    spec = RowSpec(key_column=key_column, required=(prompt_column, completion_column),
                   optional=(*([feedback_column] if feedback_column else []), *label_columns))
    problems = row_problems(rows, spec)
    if any(not p.rows for p in problems):  # the frame itself is wrong (columns): cells cannot be checked
        return problems
    completions = rows[completion_column]
    empty = tuple(label for label, value in completions.items() if isinstance(value, str) and not value.strip())
    if empty:
        problems.append(RowProblem(completion_column, empty, "(the completion) is empty text|Adaptive stores "
                                                             "non-empty completions: fill them or drop those rows."))
    if feedback_column is not None:
        bad = tuple(label for label, value in rows[feedback_column].items()
                    if not is_missing(value) and not isinstance(plain(value), (bool, int, float)))
        if bad:
            problems.append(RowProblem(feedback_column, bad, "(the feedback) holds values that are not numbers or "
                                                             "booleans|Convert them upstream, or make them missing "
                                                             "to log those rows without feedback."))
    return problems
