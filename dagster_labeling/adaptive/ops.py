"""Ops for job-style use: upload a dataset, run a recipe job (training, evaluation) and wait or hand off, log
interactions with feedback, run an A/B test and fetch its results.

Each op uses the ``adaptive`` resource (:class:`AdaptiveResource`)::

    @dg.job(resource_defs={"adaptive": AdaptiveResource(api_key=dg.EnvVar("ADAPTIVE_API_KEY"), base_url=...)})
    def train_on_adaptive():
        adaptive_run_job_op(start_after=adaptive_upload_dataset_op(load_rows()))

Re-runs create nothing twice: dataset and A/B test keys are unique on Adaptive (found, not created again), a
recipe job is found by its name, recipe and arguments while it is pending, running or completed, and every
interaction carries a ``dagster_row`` label that a re-run looks up before logging.
"""

from collections.abc import Mapping
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from dagster_labeling._core import BulkProgress, InvalidInput, JobState, run_bulk
from dagster_labeling._core.rows import InvalidRows, RowSpec, key_text, row_records, validate_rows
from dagster_labeling._dagster.config import WaitConfig, resolve_wait
from dagster_labeling._dagster.launches import launch_key
from dagster_labeling.adaptive.assets import (
    DATASET_KEY_META,
    ROW_LABEL,
    _logged_rows,
    ab_test_metadata,
    interaction_row_problems,
    job_metadata,
    row_label,
)
from dagster_labeling.adaptive.client import AdaptiveClient, AdaptiveJobHandle
from dagster_labeling.adaptive.models import Job
from dagster_labeling.adaptive.resource import AdaptiveResource

JOB_WAIT_DEFAULTS: dict[str, Any] = dict(wait_for_completion=True, wait_timeout_seconds=24 * 3600,
                                         poll_interval_seconds=30.0, cancel_on_termination=True,
                                         cancel_on_timeout=False)
AB_TEST_WAIT_DEFAULTS: dict[str, Any] = dict(wait_for_completion=True, wait_timeout_seconds=7 * 24 * 3600,
                                             poll_interval_seconds=300.0, cancel_on_termination=False,
                                             cancel_on_timeout=False)
"""A test collects production traffic: a terminated run leaves it running unless ``cancel_on_termination``."""
VARIANT_COLUMNS = ["model", "scores", "estimate", "low", "high"]


class UploadDatasetConfig(dg.Config):
    project: str = Field(description="Adaptive project (key).")
    dataset_key: str = Field(description="Dataset key, unique in the project: a re-run finds it and uploads nothing.")
    prompt_column: str = Field(default="prompt", description="Column sent as the user message of each line.")
    completion_column: str | None = Field(default="completion", description="Column sent as each line's completion "
                                          "(null: prompts only).")


class RunJobConfig(WaitConfig):
    project: str = Field(description="Adaptive project (key).")
    recipe: str = Field(description="Recipe key, e.g. 'sft' or 'eval-judge'.")
    job_name: str = Field(description="The job's name: a job of this name, recipe and args that is pending, running "
                          "or completed is followed instead of starting another.")
    args: dict[str, Any] = Field(default_factory=dict, description="The recipe's arguments.")
    num_gpus: int = Field(default=1, ge=1, description="GPUs for the job.")
    compute_pool: str | None = Field(default=None, description="Compute pool (default: the project's).")


class LogInteractionsConfig(dg.Config):
    project: str = Field(description="Adaptive project (key).")
    key_column: str = Field(description="Column with a stable, unique key per row (part of its dagster_row label).")
    prompt_column: str = Field(default="prompt", description="Column sent as the user message.")
    completion_column: str = Field(default="completion", description="Column sent as the completion.")
    model: str | None = Field(default=None, description="Model the completions are attributed to.")
    feedback_key: str | None = Field(default=None, description="Feedback key of feedback_column's values.")
    feedback_column: str | None = Field(default=None, description="Column with each row's feedback (a number or "
                                        "bool; a missing cell logs the row without feedback).")
    label_columns: list[str] = Field(default_factory=list, description="Columns sent as labels of the interaction.")
    label_prefix: str | None = Field(default=None, description="First part of each row's dagster_row label "
                                     "'<label_prefix>/<key>' (default: the op's name).")
    concurrency: int | None = Field(default=None, ge=1, description="Requests in flight (default: the resource's).")
    allow_partial: bool = Field(default=False, description="Succeed when some rows could not be logged.")


class AbTestConfig(WaitConfig):
    project: str = Field(description="Adaptive project (key).")
    ab_test_key: str = Field(description="The test's key, unique on Adaptive: a re-run reattaches to the test.")
    feedback_key: str = Field(description="Feedback key the models are compared on.")
    models: list[str] = Field(description="At least two model keys attached to the project.")
    traffic_split: float = Field(default=1.0, gt=0, le=1, description="Share of the project's traffic in the test.")
    feedback_type: str = Field(default="metric", description="'metric' or 'preference'.")
    auto_deploy: bool = Field(default=False, description="Let Adaptive make the winner the default model.")


@dg.op(out=dg.Out(str, description="The dataset key."), tags={"kind": "adaptive"})
def adaptive_upload_dataset_op(context: dg.OpExecutionContext, config: UploadDatasetConfig,
                               adaptive: AdaptiveResource, rows: pd.DataFrame) -> str:
    """Upload the rows as a JSONL dataset (the prompt as a user message, and the completion), unless the key
    exists; every row is checked first. A dataset holding another number of records than the rows fails the step
    (Adaptive cannot replace a dataset's rows)."""
    where = f"op {context.op.name!r}"
    required = (config.prompt_column, *([config.completion_column] if config.completion_column else []))
    validate_rows(rows, RowSpec(required=required), where=where)
    lines = [{"messages": [{"role": "user", "content": str(record[config.prompt_column])}],
              **({"completion": str(record[config.completion_column])} if config.completion_column else {})}
             for record in row_records(rows, list(required))]
    if not lines:
        raise InvalidInput(f"{where}: the input has no rows; a dataset needs at least one.", field="rows")
    with adaptive.get_client() as client:
        dataset, created = client.ensure_dataset(config.project, config.dataset_key, lines)
    if dataset.records is not None and dataset.records != len(lines):
        raise dg.Failure(description=f"{where}: Adaptive dataset {config.dataset_key} exists with {dataset.records} "
                                     f"records, the input has {len(lines)} rows. Delete it to upload the new rows, "
                                     "or give another dataset_key.")
    context.log.info(f"{'Uploaded' if created else 'Found'} Adaptive dataset {config.dataset_key} "
                     f"({dataset.records} records)")
    context.add_output_metadata({DATASET_KEY_META: config.dataset_key, "adaptive/uploaded": created,
                                 "dagster/row_count": int(dataset.records or len(lines))})
    return config.dataset_key


def _live_jobs(client: AdaptiveClient, config: RunJobConfig) -> list[Job]:
    """The project's jobs of this name, recipe and args that did not fail or get canceled, oldest first."""
    wanted = launch_key(config.args)
    same = [j for j in client.list_jobs(config.project)
            if j.name == config.job_name and j.recipe is not None and j.recipe.key == config.recipe
            and launch_key(j.args or {}) == wanted and j.status not in ("FAILED", "CANCELED")]
    return sorted(same, key=lambda j: (j.created_at or 0, j.id))


@dg.op(ins={"start_after": dg.In(dg.Nothing, description="Run after this op (e.g. the dataset upload).")},
       out=dg.Out(str, description="The job id."), tags={"kind": "adaptive"})
def adaptive_run_job_op(context: dg.OpExecutionContext, config: RunJobConfig, adaptive: AdaptiveResource) -> str:
    """Start the recipe job, or follow the one of this name, recipe and args that is pending, running or
    completed; wait with progress logs or hand it off (``wait_for_completion: false``). A failed or canceled job
    fails the step with the service's reason; a run terminated while waiting cancels the job
    (``cancel_on_termination``). Defaults: wait, 24 h timeout, 30 s first poll, cancel on termination."""
    waits, options = resolve_wait(config, **JOB_WAIT_DEFAULTS)
    options.raise_on_failure = False  # a failed job fails the step below, with its metadata
    with adaptive.get_client() as client:
        found = _live_jobs(client, config)
        if found:
            handle: AdaptiveJobHandle = client.job(found[0].id)
            context.log.info(f"Following Adaptive job {handle.id} ({config.job_name}), started earlier with the same "
                             "recipe and args")
        else:
            started = client.run_job(config.project, config.recipe, args=config.args, name=config.job_name,
                                     num_gpus=config.num_gpus, compute_pool=config.compute_pool)
            context.log.info(f"Started Adaptive job {started.id} ({config.recipe}) in project {config.project}")
            kept = _live_jobs(client, config)  # a run that started the same job a moment earlier keeps its own
            handle = started if not kept or kept[0].id == started.id else client.job(kept[0].id)
            if handle is not started:
                context.log.info(f"Another run started Adaptive job {handle.id} first: following it, and canceled "
                                 f"{started.id} ({started.cancel().describe()})")
        status = handle.wait(options, log=context.log) if waits else handle.refresh()
        job = handle.job or client.get_job(handle.id)
    if status.state in (JobState.FAILED, JobState.CANCELED):
        raise dg.Failure(description=f"Adaptive job {handle.id} ({config.recipe}) ended {job.status}: "
                                     f"{job.error or 'no reason given'}", metadata=job_metadata(job))
    context.add_output_metadata(job_metadata(job))
    return handle.id


@dg.op(out=dg.Out(pd.DataFrame, description="key, completion_id, error: one row per input row."),
       tags={"kind": "adaptive"})
def adaptive_log_interactions_op(context: dg.OpExecutionContext, config: LogInteractionsConfig,
                                 adaptive: AdaptiveResource, rows: pd.DataFrame) -> pd.DataFrame:
    """Log each row as an interaction (prompt → completion) with its feedback on ``feedback_key``. The whole
    frame is checked before the first request; rows a previous run logged (found by their ``dagster_row``
    label) are skipped, so a re-run logs only what is missing. Rows that still failed fail the step unless
    ``allow_partial``."""
    where = f"op {context.op.name!r}"
    if (config.feedback_key is None) != (config.feedback_column is None):
        raise InvalidInput("Give both feedback_key and feedback_column, or neither.", field="feedback_key")
    problems = interaction_row_problems(rows, key_column=config.key_column, prompt_column=config.prompt_column,
                                        completion_column=config.completion_column,
                                        feedback_column=config.feedback_column, label_columns=config.label_columns)
    if problems:
        raise InvalidRows(where, problems)
    prefix = config.label_prefix or context.op.name
    keys = [key_text(k) for k in rows[config.key_column].tolist()]
    sent = [config.prompt_column, config.completion_column,
            *([config.feedback_column] if config.feedback_column else []), *config.label_columns]
    items: list[tuple[str, dict[str, Any]]] = []
    for key, record in zip(keys, row_records(rows, list(dict.fromkeys(sent))), strict=True):
        feedbacks = None
        if config.feedback_key is not None and config.feedback_column in record:
            feedbacks = [{"feedback_key": config.feedback_key, "value": record[str(config.feedback_column)]}]
        items.append((key, {"label": row_label(prefix, None, key), "feedbacks": feedbacks,
                            "messages": [{"role": "user", "content": str(record[config.prompt_column])}],
                            "completion": str(record[config.completion_column]),
                            "labels": {c: str(record[c]) for c in config.label_columns if c in record}}))
    with adaptive.get_client() as client:
        logged = _logged_rows(client, config.project, [item["label"] for _, item in items])
        existing = {k: logged[item["label"]] for k, item in items if item["label"] in logged}
        if existing:
            context.log.info(f"{where}: {len(existing)} rows already logged by an earlier run; skipping them")

        def log_row(key: str, item: Mapping[str, Any]) -> str:
            return client.log_interaction_once(config.project, (ROW_LABEL, item["label"]), item["messages"],
                                               item["completion"], model=config.model, feedbacks=item["feedbacks"],
                                               labels=item["labels"])

        def progress(p: BulkProgress) -> None:
            context.log.info(f"{where}: {p.done}/{p.total} interactions logged, {p.failed} failed")

        result = run_bulk(items, log_row, concurrency=config.concurrency or adaptive.max_concurrency,
                          existing=existing, on_progress=progress)
    frame = pd.DataFrame({"key": keys, "completion_id": [result.succeeded.get(k) for k in keys],
                          "error": [f"{f.error_type}: {f.message}" if (f := result.failures.get(k)) else None
                                    for k in keys]})
    if result.failures and not config.allow_partial:
        raise dg.Failure(description=f"{where}: {len(result.failures)} of {len(keys)} rows were not logged (e.g. "
                                     f"{', '.join(list(result.failures)[:20])}); re-run to log only those.",
                         metadata={"failed_count": len(result.failures)})
    context.add_output_metadata({"dagster/row_count": len(frame), "adaptive/logged": len(result.created),
                                 "adaptive/already_logged": len(result.skipped),
                                 "adaptive/failed": len(result.failures)})
    return frame


@dg.op(ins={"start_after": dg.In(dg.Nothing, description="Run after this op (e.g. attaching the models).")},
       out=dg.Out(str, description="The A/B test key (its results: adaptive_ab_test_results_op)."),
       tags={"kind": "adaptive"})
def adaptive_ab_test_op(context: dg.OpExecutionContext, config: AbTestConfig, adaptive: AdaptiveResource) -> str:
    """Start the A/B test of ``models`` on ``feedback_key``, or reattach to the test of that key; wait until it is
    DONE, logging its scores, or hand it off (``wait_for_completion: false``). The test collects production
    traffic, so a terminated run leaves it running unless ``cancel_on_termination``. Defaults: wait, 7 days
    timeout, 5 min first poll, no cancel on termination."""
    if len(set(config.models)) < 2:
        raise InvalidInput(f"An A/B test needs at least two distinct models, got {config.models}.", field="models")
    if config.feedback_type not in ("metric", "preference"):
        raise InvalidInput(f"feedback_type must be 'metric' or 'preference', got {config.feedback_type!r}.",
                           field="feedback_type")
    waits, options = resolve_wait(config, **AB_TEST_WAIT_DEFAULTS)
    with adaptive.get_client() as client:
        handle, created = client.ensure_ab_test(config.project, config.ab_test_key, config.feedback_key,
                                                config.models, traffic_split=config.traffic_split,
                                                feedback_type=config.feedback_type, auto_deploy=config.auto_deploy)
        if not created and handle.status.state is JobState.CANCELED:
            raise dg.Failure(description=f"Adaptive A/B test {config.ab_test_key} was cancelled; A/B test keys "
                                         "cannot be reused. Give another ab_test_key to start a new one.")
        context.log.info(f"{'Started' if created else 'Reattached to'} Adaptive A/B test {config.ab_test_key} of "
                         f"{', '.join(config.models)} on {config.feedback_key}")
        status = handle.wait(options, log=context.log) if waits else handle.refresh()
        test = handle.ab_test or client.get_ab_test(config.ab_test_key)
    if status.state is JobState.CANCELED:
        raise dg.Failure(description=f"Adaptive A/B test {config.ab_test_key} was cancelled.",
                         metadata=ab_test_metadata(test))
    context.add_output_metadata(ab_test_metadata(test))
    return config.ab_test_key


@dg.op(out=dg.Out(pd.DataFrame, description="model, scores, estimate, low, high: one row per variant (none before "
                                            "the test has scores)."), tags={"kind": "adaptive"})
def adaptive_ab_test_results_op(context: dg.OpExecutionContext, adaptive: AdaptiveResource,
                                ab_test_key: str) -> pd.DataFrame:
    """The A/B test's results so far: the score estimate per model with its interval; the status, winner (the
    best estimate) and p-value go into the output metadata."""
    with adaptive.get_client() as client:
        test = client.get_ab_test(ab_test_key)
    variants = test.report.variants if test.report else []
    frame = pd.DataFrame([{"model": v.variant.key or v.variant.id, "scores": v.scores,
                           "estimate": v.interval.middle if v.interval else None,
                           "low": v.interval.start if v.interval else None,
                           "high": v.interval.end if v.interval else None} for v in variants],
                         columns=VARIANT_COLUMNS)
    context.add_output_metadata({**ab_test_metadata(test), "dagster/row_count": len(frame)})
    return frame


__all__ = ["adaptive_ab_test_op", "adaptive_ab_test_results_op", "adaptive_log_interactions_op",
           "adaptive_run_job_op", "adaptive_upload_dataset_op"]
