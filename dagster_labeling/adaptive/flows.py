"""Dagster flows on Adaptive ML beyond the first part: training and evaluation assets on typed configs,
feedback for existing completions, chat and embeddings over a DataFrame, and a check on A/B significance.

>>> from dagster_labeling.adaptive.training import DatasetSource, TrainingConfig
>>> tuned = build_adaptive_training_asset(name="support_sft", project="support", config=TrainingConfig(
...     model="llama-3.1-8b-instruct", data=DatasetSource(dataset="reviewed"), output_model_key="support-sft"))
>>> tuned.key.to_user_string()
'support_sft'
"""

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
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
    asset_check_like,
    asset_key_of,
    latest_materialization,
    meta_value,
    partition_key_of,
    partitions_like,
)
from dagster_labeling._dagster.config import WaitConfig, resolve_wait
from dagster_labeling._dagster.launches import earlier_launch, launch_key, launch_record
from dagster_labeling.adaptive.assets import (
    AB_TEST_KEY_META,
    AB_TEST_STATUS_META,
    DEFAULT_MAX_P_VALUE,
    JOB_ID_META,
    ROW_LABEL,
    SIGNIFICANT_META,
    _start_one_job,
    adaptive_key,
    job_metadata,
    row_label,
)
from dagster_labeling.adaptive.client import AdaptiveClient
from dagster_labeling.adaptive.errors import AdaptiveNotFound
from dagster_labeling.adaptive.models import Job
from dagster_labeling.adaptive.resource import AdaptiveResource
from dagster_labeling.adaptive.training import EvaluationConfig, TrainingConfig, evaluation_scores, trained_model

MODEL_META = "adaptive/model"
EVAL_COLUMNS = ["model", "metric", "mean", "min", "max", "count"]


def eval_observations(asset_key: dg.AssetKey, partition: str | None, job: Job) -> list[dg.AssetObservation]:
    """One observation per evaluated model: its mean per metric as numbers (``adaptive/score/<metric>``), so the
    Dagster UI plots each model's scores over time."""
    by_model: dict[str, dict[str, Any]] = {}
    for score in evaluation_scores(job):
        meta = by_model.setdefault(score.model, {MODEL_META: score.model, JOB_ID_META: job.id})
        meta[f"adaptive/score/{score.metric}"] = score.mean
        if score.count is not None:
            meta[f"adaptive/count/{score.metric}"] = int(score.count)
    return [dg.AssetObservation(asset_key=asset_key, partition=partition, metadata=meta,
                                description=f"Evaluation of {model} (Adaptive job {job.id})")
            for model, meta in by_model.items()]


def _recipe_job_asset(*, name: str, project: str, recipe: str, args: Mapping[str, Any], what: str,
                      finish: Callable[[dg.AssetExecutionContext, Job, bool], Iterator[Any]], num_gpus: int,
                      compute_pool: str | None, wait_for_completion: bool, wait_timeout_seconds: float,
                      poll_interval_seconds: float, cancel_on_termination: bool, cancel_on_timeout: bool,
                      partitions_def: dg.PartitionsDefinition | None, deps: Sequence[AssetRef], resource_key: str,
                      key_prefix: Sequence[str] | None, group_name: str | None, description: str | None,
                      pool: str | None) -> dg.AssetsDefinition:
    """A recipe job as an asset: started once per partition (reattached through its launch record, reconciled
    by name when runs race, see ``_start_one_job``), waited for or handed off; ``finish`` yields the output."""
    if num_gpus < 1:
        raise InvalidInput(f"num_gpus must be at least 1, got {num_gpus}.", field="num_gpus")

    @dg.asset(
        key=dg.AssetKey([*(key_prefix or []), name]), deps=[asset_key_of(d) for d in deps],
        partitions_def=partitions_def, required_resource_keys={resource_key}, group_name=group_name,
        kinds={"adaptive"}, pool=pool, description=description or f"{what} on Adaptive ML (recipe {recipe}).",
    )
    def _job_asset(context: dg.AssetExecutionContext, config: WaitConfig):
        adaptive: AdaptiveResource = getattr(context.resources, resource_key)
        waits, options = resolve_wait(
            config, wait_for_completion=wait_for_completion, wait_timeout_seconds=wait_timeout_seconds,
            poll_interval_seconds=poll_interval_seconds, cancel_on_termination=cancel_on_termination,
            cancel_on_timeout=cancel_on_timeout)
        key = launch_key(project, recipe, dict(args), num_gpus, compute_pool)
        with adaptive.get_client() as client:
            handle = earlier_launch(context, key, JOB_ID_META, client.job)
            if handle is not None:
                context.log.info(f"Reattached to Adaptive job {handle.id}, launched earlier with the same config")
            else:
                handle = _start_one_job(client, context, project, adaptive_key(name, partition_key_of(context)),
                                        recipe, args, num_gpus, compute_pool)
                yield launch_record(context, key, JOB_ID_META, handle.id)  # before waiting: a re-run reattaches
            options.raise_on_failure = False
            status = handle.wait(options, log=context.log) if waits else handle.refresh()
            job = handle.job or client.get_job(handle.id)
        if status.state in (JobState.FAILED, JobState.CANCELED):
            raise dg.Failure(description=f"Adaptive {what.lower()} job {handle.id} ({recipe}) ended {job.status}: "
                                         f"{job.error or 'no reason given'}", metadata=job_metadata(job))
        yield from finish(context, job, status.state is JobState.SUCCEEDED)

    return _job_asset


def build_adaptive_training_asset(
    *, name: str, project: str, config: TrainingConfig, num_gpus: int = 1, compute_pool: str | None = None,
    wait_for_completion: bool = True, wait_timeout_seconds: float = 24 * 3600, poll_interval_seconds: float = 30.0,
    cancel_on_termination: bool = True, cancel_on_timeout: bool = False,
    partitions_def: dg.PartitionsDefinition | None = None, deps: Sequence[AssetRef] = (),
    resource_key: str = "adaptive", key_prefix: Sequence[str] | None = None, group_name: str | None = None,
    description: str | None = None, pool: str | None = None,
) -> dg.AssetsDefinition:
    """An asset training a model with ``config`` (:class:`~dagster_labeling.adaptive.training.TrainingConfig`, run
    as the recipe ``config.recipe_key()``); outputs the trained model's key.

    The job is named ``<name>[__<partition>]``; a retry or re-run of the partition with the same config reattaches
    to its job (one that failed or was canceled is replaced). Waiting (default) logs progress and cancels the job
    if the run is terminated (``cancel_on_termination``); with ``wait_for_completion=False`` the output is the job
    id and :func:`~dagster_labeling.adaptive.build_adaptive_job_sensor` (``job_asset=`` this asset) records the
    materialization when the job completes. A failed or canceled job fails the step with Adaptive's reason.
    """
    def finish(context: dg.AssetExecutionContext, job: Job, done: bool) -> Iterator[Any]:
        meta = {**job_metadata(job), "adaptive/alignment_method": config.alignment_method}
        if not done:
            context.log.info(f"Adaptive training job {job.id} is {job.status}; handed off to the job sensor")
            yield dg.Output(job.id, metadata=meta)
            return
        model = trained_model(job) or config.output_model_key
        if model is None:
            raise dg.Failure(description=f"Adaptive training job {job.id} completed without a MODEL artifact.",
                             metadata=meta)
        context.log.info(f"Adaptive training job {job.id} completed: model {model}")
        yield dg.Output(model, metadata={**meta, MODEL_META: model})

    return _recipe_job_asset(
        name=name, project=project, recipe=config.recipe_key(), args=config.to_recipe_args(), what="Training",
        finish=finish, num_gpus=num_gpus, compute_pool=compute_pool, wait_for_completion=wait_for_completion,
        wait_timeout_seconds=wait_timeout_seconds, poll_interval_seconds=poll_interval_seconds,
        cancel_on_termination=cancel_on_termination, cancel_on_timeout=cancel_on_timeout,
        partitions_def=partitions_def, deps=deps, resource_key=resource_key, key_prefix=key_prefix,
        group_name=group_name, description=description, pool=pool)


def build_adaptive_evaluation_asset(
    *, name: str, project: str, config: EvaluationConfig, num_gpus: int = 1, compute_pool: str | None = None,
    wait_for_completion: bool = True, wait_timeout_seconds: float = 24 * 3600, poll_interval_seconds: float = 30.0,
    cancel_on_termination: bool = True, cancel_on_timeout: bool = False,
    partitions_def: dg.PartitionsDefinition | None = None, deps: Sequence[AssetRef] = (),
    resource_key: str = "adaptive", key_prefix: Sequence[str] | None = None, group_name: str | None = None,
    description: str | None = None, pool: str | None = None,
) -> dg.AssetsDefinition:
    """An asset evaluating models with ``config`` (:class:`~dagster_labeling.adaptive.training.EvaluationConfig`:
    an AI judge scoring each model's answers on a built-in method or custom guidelines); outputs a DataFrame
    ``model, metric, mean, min, max, count``.

    Each mean is a float in the metadata (``adaptive/mean/<model>/<metric>``) and each model gets an observation
    with its scores (``adaptive/score/<metric>``), so the Dagster UI plots them across partitions and runs.
    Started once per partition and config, waited for with cancel on termination, or handed off (an empty frame;
    :func:`~dagster_labeling.adaptive.build_adaptive_job_sensor` records the results) as the training asset.
    """
    def finish(context: dg.AssetExecutionContext, job: Job, done: bool) -> Iterator[Any]:
        scores = evaluation_scores(job) if done else []
        frame = pd.DataFrame([s.model_dump() for s in scores], columns=EVAL_COLUMNS)
        if done:
            yield from eval_observations(context.asset_key, partition_key_of(context), job)
            context.log.info(f"Adaptive evaluation job {job.id}: " + ", ".join(
                f"{s.model} {s.metric}={s.mean:.3f}" for s in scores))
        else:
            context.log.info(f"Adaptive evaluation job {job.id} is {job.status}; handed off to the job sensor")
        yield dg.Output(frame, metadata={**job_metadata(job), "dagster/row_count": len(frame)})

    return _recipe_job_asset(
        name=name, project=project, recipe=config.recipe_key(), args=config.to_recipe_args(), what="Evaluation",
        finish=finish, num_gpus=num_gpus, compute_pool=compute_pool, wait_for_completion=wait_for_completion,
        wait_timeout_seconds=wait_timeout_seconds, poll_interval_seconds=poll_interval_seconds,
        cancel_on_termination=cancel_on_termination, cancel_on_timeout=cancel_on_timeout,
        partitions_def=partitions_def, deps=deps, resource_key=resource_key, key_prefix=key_prefix,
        group_name=group_name, description=description, pool=pool)


# -- feedback on existing completions ---------------------------------------------------------------------
def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def feedback_row_problems(rows: Any, *, kind: str, completion_column: str, value_column: str,
                          preferred_column: str, other_column: str,
                          details_column: str | None = None) -> list[RowProblem]:
    """Every problem of the rows a feedback asset would send, found before anything is sent: a missing or
    malformed completion id (Adaptive's ids are UUIDs), a completion scored twice (metric) or a pair repeated
    or compared with itself (preference), a value that is not a number or a bool."""
    ids = (completion_column,) if kind == "metric" else (preferred_column, other_column)
    spec = RowSpec(key_column=completion_column if kind == "metric" else None,
                   required=(value_column,) if kind == "metric" else ids,
                   optional=(details_column,) if details_column else ())
    problems = row_problems(rows, spec)
    if any(not p.rows for p in problems):
        return problems
    for column in ids:
        bad = tuple(label for label, value in rows[column].items() if not is_missing(value) and not _is_uuid(value))
        if bad:
            problems.append(RowProblem(column, bad, "holds values that are not completion ids (UUIDs)|Give the "
                                                    "completion_id Adaptive returned for each completion."))
    if kind == "metric":
        bad = tuple(label for label, value in rows[value_column].items()
                    if not isinstance(plain(value), (bool, int, float)) or is_missing(value))
        if bad:
            problems.append(RowProblem(value_column, bad, "(the feedback) holds values that are not numbers or "
                                                          "booleans|Convert them upstream, or drop those rows."))
    else:
        pairs = rows[preferred_column].astype(str) + ">" + rows[other_column].astype(str)
        same = tuple(rows.index[rows[preferred_column].astype(str) == rows[other_column].astype(str)])
        if same:
            problems.append(RowProblem(other_column, same, "compares a completion with itself|A preference needs "
                                                           "two different completions."))
        repeated = tuple(rows.index[pairs.duplicated(keep=False)])
        if repeated:
            problems.append(RowProblem(preferred_column, repeated, "repeats a preferred/other pair|Each pair is "
                                                                   "logged once: drop the repeats."))
    return problems


def _existing_feedback(client: AdaptiveClient, project: str, kind: str, feedback_key: str,
                       item: Mapping[str, Any]) -> str | None:
    """The id of the feedback this row already left on Adaptive (a score on ``feedback_key`` of the completion,
    or the same comparison), or None."""
    if kind == "metric":
        found = client.get_interaction(project, item["completion_id"])
        return next((s.id for s in found.direct_scores if s.metric is not None and s.metric.key == feedback_key), None)
    found = client.get_interaction(project, item["preferred"])
    return next((c.id for c in found.comparison_scores
                 if c.metric is not None and c.metric.key == feedback_key and c.prefered_completion is not None
                 and c.prefered_completion.id == item["preferred"] and c.other_completion is not None
                 and c.other_completion.id == item["other"]), None)


def build_adaptive_feedback_asset(
    *, name: str, upstream: AssetRef, project: str, feedback_key: str, kind: str = "metric",
    completion_column: str = "completion_id", value_column: str = "value", details_column: str | None = None,
    preferred_column: str = "preferred_completion_id", other_column: str = "other_completion_id",
    concurrency: int | None = None, allow_partial: bool = False,
    partitions_def: dg.PartitionsDefinition | None = None, resource_key: str = "adaptive",
    key_prefix: Sequence[str] | None = None, group_name: str | None = None, description: str | None = None,
    pool: str | None = None,
) -> dg.AssetsDefinition:
    """An asset leaving feedback on completions Adaptive already has, one row each, exactly once.

    ``kind="metric"``: a score (``value_column``, a number or a bool; optional ``details_column``) on
    ``feedback_key`` for the completion ``completion_column`` (the seed's ``log_metric``). ``kind="preference"``:
    ``preferred_column`` preferred over ``other_column`` (``log_preference`` by completion ids). The whole frame is
    checked first (:func:`feedback_row_problems`). Adaptive has no idempotency key for feedback, so each row is
    looked up before it is sent: a completion that already has a score on ``feedback_key`` (or already has this
    comparison) is skipped, so a re-run sends nothing twice; an answer lost after sending is resolved by the same
    look-up before sending again. Output: ``key, feedback_id, error`` per row (``key`` is the completion id, or
    ``<preferred>><other>``); rows that failed fail the step (listed) unless ``allow_partial``.
    """
    if kind not in ("metric", "preference"):
        raise InvalidInput(f"kind must be 'metric' or 'preference', got {kind!r}.", field="kind")
    upstream_key = asset_key_of(upstream)

    @dg.asset(
        name=name, key_prefix=key_prefix, ins={"rows": dg.AssetIn(key=upstream_key)},
        partitions_def=partitions_like(partitions_def, upstream), required_resource_keys={resource_key},
        group_name=group_name, kinds={"adaptive", "pandas"}, pool=pool,
        description=description or f"Feedback {feedback_key} on the completions of {upstream_key.to_user_string()}.",
    )
    def _feedback_asset(context: dg.AssetExecutionContext, rows: pd.DataFrame):
        where = f"asset {name!r}"
        problems = feedback_row_problems(rows, kind=kind, completion_column=completion_column,
                                         value_column=value_column, preferred_column=preferred_column,
                                         other_column=other_column, details_column=details_column)
        if problems:
            raise InvalidRows(where, problems)
        items: list[tuple[str, dict[str, Any]]] = []
        columns = ([completion_column, value_column, *([details_column] if details_column else [])]
                   if kind == "metric" else [preferred_column, other_column])
        for record in row_records(rows, columns):
            if kind == "metric":
                item = {"completion_id": key_text(record[completion_column]), "value": record[value_column],
                        "details": record.get(details_column) if details_column else None}
                items.append((item["completion_id"], item))
            else:
                item = {"preferred": key_text(record[preferred_column]), "other": key_text(record[other_column])}
                items.append((f"{item['preferred']}>{item['other']}", item))
        adaptive: AdaptiveResource = getattr(context.resources, resource_key)
        with adaptive.get_client() as client:
            workers = max(1, min(concurrency or adaptive.max_concurrency, len(items) or 1))

            def look(pair: tuple[str, dict[str, Any]]) -> tuple[str, str | None]:
                try:
                    return pair[0], _existing_feedback(client, project, kind, feedback_key, pair[1])
                except AdaptiveNotFound:
                    return pair[0], None  # no such completion: the send says so, per row

            with ThreadPoolExecutor(max_workers=workers) as threads:
                existing = {k: v for k, v in threads.map(look, items) if v is not None}
            if existing:
                context.log.info(f"{where}: {len(existing)} rows already have their feedback; skipping them")

            def send(key: str, item: Mapping[str, Any]) -> str:
                attempts = client._http.retry.max_attempts
                for attempt in range(1, attempts + 1):
                    try:
                        if kind == "metric":
                            return client.log_metric(item["completion_id"], feedback_key, item["value"],
                                                     details=None if item["details"] is None else str(item["details"]))
                        return client.log_preference(project, feedback_key, item["preferred"], item["other"])
                    except (ServerError, ConnectionFailed):  # maybe stored: look before sending again
                        found = _existing_feedback(client, project, kind, feedback_key, item)
                        if found is not None:
                            return found
                        if attempt == attempts:
                            raise
                raise AssertionError("unreachable")

            def progress(p: BulkProgress) -> None:
                context.log.info(f"{where}: {p.done}/{p.total} feedback sent, {p.failed} failed")

            result = run_bulk(items, send, concurrency=workers, existing=existing, on_progress=progress)
        keys = [k for k, _ in items]
        frame = pd.DataFrame({"key": keys, "feedback_id": [result.succeeded.get(k) for k in keys],
                              "error": [f"{f.error_type}: {f.message}" if (f := result.failures.get(k)) else None
                                        for k in keys]})
        if result.failures and not allow_partial:
            raise dg.Failure(description=f"{where}: {len(result.failures)} of {len(keys)} rows got no feedback (e.g. "
                                         f"{', '.join(list(result.failures)[:20])}); re-run to send only those.",
                             metadata={"failed_count": len(result.failures)})
        return dg.Output(frame, metadata={"dagster/row_count": len(frame), "adaptive/sent": len(result.created),
                                          "adaptive/already_sent": len(result.skipped),
                                          "adaptive/failed": len(result.failures)})

    return _feedback_asset


# -- chat and embeddings over a DataFrame -----------------------------------------------------------------
def keyed_texts(rows: pd.DataFrame, key_column: str, column: str, *, where: str) -> tuple[list[str], list[str]]:
    """The rows' keys and ``column`` as text, after every row is validated (:func:`validate_rows`)."""
    validate_rows(rows, RowSpec(key_column=key_column, required=(column,)), where=where)
    keys = [key_text(k) for k in rows[key_column].tolist()]
    return keys, [str(r[column]) for r in row_records(rows, [column])]


def build_adaptive_chat_asset(
    *, name: str, upstream: AssetRef, project: str, key_column: str, prompt_column: str = "prompt",
    model: str | None = None, system_prompt: str | None = None, max_tokens: int | None = None,
    temperature: float | None = None, concurrency: int | None = None, allow_partial: bool = True,
    partitions_def: dg.PartitionsDefinition | None = None, resource_key: str = "adaptive",
    key_prefix: Sequence[str] | None = None, group_name: str | None = None, description: str | None = None,
    pool: str | None = None,
) -> dg.AssetsDefinition:
    """An asset answering each row's prompt with a chat completion, ``concurrency`` at a time (default: the
    resource's ``max_concurrency``); output ``key, completion, completion_id, error``.

    Each completion is stored by Adaptive with the label ``dagster_row=<asset>[__<partition>]/<key>``: a re-run
    looks those up and reuses the answers it already got instead of asking (and storing) again. A chat is not
    retried once sent; a row that failed is listed with its error, and fails the step unless ``allow_partial``.
    """
    upstream_key = asset_key_of(upstream)

    @dg.asset(
        name=name, key_prefix=key_prefix, ins={"rows": dg.AssetIn(key=upstream_key)},
        partitions_def=partitions_like(partitions_def, upstream), required_resource_keys={resource_key},
        group_name=group_name, kinds={"adaptive", "pandas"}, pool=pool,
        description=description or f"Adaptive chat completions of the prompts of {upstream_key.to_user_string()}.",
    )
    def _chat_asset(context: dg.AssetExecutionContext, rows: pd.DataFrame):
        where = f"asset {name!r}"
        keys, prompts = keyed_texts(rows, key_column, prompt_column, where=where)
        partition = partition_key_of(context)
        labels = {k: row_label(name, partition, k) for k in keys}
        adaptive: AdaptiveResource = getattr(context.resources, resource_key)
        with adaptive.get_client() as client:
            workers = concurrency or adaptive.max_concurrency
            found = client.interactions_with_label(project, ROW_LABEL, list(labels.values()))
            with ThreadPoolExecutor(max_workers=max(1, min(workers, len(found) or 1))) as threads:
                earlier = dict(zip(found, threads.map(lambda cid: client.get_interaction(project, cid), found.values()),
                                   strict=True))
            existing = {k: (earlier[labels[k]].id, earlier[labels[k]].completion or "")
                        for k in keys if labels[k] in earlier}
            if existing:
                context.log.info(f"{where}: {len(existing)} rows were answered by an earlier run; reusing them")

            def ask(key: str, prompt: str) -> tuple[str, str]:
                messages = [*([{"role": "system", "content": system_prompt}] if system_prompt else []),
                            {"role": "user", "content": prompt}]
                answer = client.chat(project, messages, model=model, max_tokens=max_tokens, temperature=temperature,
                                     labels={ROW_LABEL: labels[key]})
                choice = answer.choices[0]
                return choice.completion_id or answer.id, choice.message.content if choice.message else ""

            def progress(p: BulkProgress) -> None:
                context.log.info(f"{where}: {p.done}/{p.total} completions, {p.failed} failed, {p.rate:.0f}/s")

            result = run_bulk(list(zip(keys, prompts, strict=True)), ask, concurrency=workers, existing=existing,
                              on_progress=progress)
        answered = result.succeeded
        frame = pd.DataFrame({"key": keys, "completion": [answered[k][1] if k in answered else None for k in keys],
                              "completion_id": [answered[k][0] if k in answered else None for k in keys],
                              "error": [f"{f.error_type}: {f.message}" if (f := result.failures.get(k)) else None
                                        for k in keys]})
        return _bulk_output(where, frame, result.failures, allow_partial, "answered",
                            {"adaptive/asked": len(result.created), "adaptive/reused": len(result.skipped)})

    return _chat_asset


def build_adaptive_embeddings_asset(
    *, name: str, upstream: AssetRef, project: str, key_column: str, text_column: str = "text",
    model: str | None = None, concurrency: int | None = None, allow_partial: bool = True,
    partitions_def: dg.PartitionsDefinition | None = None, resource_key: str = "adaptive",
    key_prefix: Sequence[str] | None = None, group_name: str | None = None, description: str | None = None,
    pool: str | None = None,
) -> dg.AssetsDefinition:
    """An asset embedding each row's text with an embedding ``model`` (default: the project's default model),
    ``concurrency`` at a time; output ``key, embedding, error`` (embeddings create nothing: a re-run asks again).
    Failed rows are listed with their error and fail the step unless ``allow_partial``."""
    upstream_key = asset_key_of(upstream)

    @dg.asset(
        name=name, key_prefix=key_prefix, ins={"rows": dg.AssetIn(key=upstream_key)},
        partitions_def=partitions_like(partitions_def, upstream), required_resource_keys={resource_key},
        group_name=group_name, kinds={"adaptive", "pandas"}, pool=pool,
        description=description or f"Adaptive embeddings of the texts of {upstream_key.to_user_string()}.",
    )
    def _embeddings_asset(context: dg.AssetExecutionContext, rows: pd.DataFrame):
        where = f"asset {name!r}"
        keys, texts = keyed_texts(rows, key_column, text_column, where=where)
        adaptive: AdaptiveResource = getattr(context.resources, resource_key)
        with adaptive.get_client() as client:
            result = run_bulk(list(zip(keys, texts, strict=True)),
                              lambda _key, text: client.embed(project, text, model=model),
                              concurrency=concurrency or adaptive.max_concurrency)
        frame = pd.DataFrame({"key": keys, "embedding": [result.succeeded.get(k) for k in keys],
                              "error": [f"{f.error_type}: {f.message}" if (f := result.failures.get(k)) else None
                                        for k in keys]})
        return _bulk_output(where, frame, result.failures, allow_partial, "embedded", {})

    return _embeddings_asset


def _bulk_output(where: str, frame: pd.DataFrame, failures: Mapping[str, Any], allow_partial: bool, verb: str,
                 extra: Mapping[str, Any]) -> dg.Output:
    if failures and not allow_partial:
        raise dg.Failure(description=f"{where}: {len(failures)} of {len(frame)} rows were not {verb} (e.g. "
                                     f"{', '.join(list(failures)[:20])}).", metadata={"failed_count": len(failures)})
    return dg.Output(frame, metadata={"dagster/row_count": len(frame), "adaptive/failed": len(failures),
                                      "adaptive/failed_keys": dg.MetadataValue.json(list(failures)[:100]), **extra})


# -- A/B significance -------------------------------------------------------------------------------------
def build_adaptive_ab_significance_check(
    ab_test_asset: dg.AssetsDefinition, *, max_p_value: float = DEFAULT_MAX_P_VALUE,
    name: str = "adaptive_ab_significant", blocking: bool = False,
) -> dg.AssetChecksDefinition:
    """A check on an A/B test asset: its latest materialization (same partition) is a finished test whose winner
    is significant (p-value at most ``max_p_value``). A test not finished, cancelled, or without a p-value fails
    the check and says which; the description gives the p-value and the bar."""
    if not 0 < max_p_value <= 1:
        raise InvalidInput(f"max_p_value must be in (0, 1], got {max_p_value}.", field="max_p_value")

    @asset_check_like(ab_test_asset, name=name, blocking=blocking,
                      description=f"The A/B test's winner is significant (p-value <= {max_p_value}).")
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        mat = latest_materialization(context.instance, ab_test_asset.key, partition_key_of(context))
        meta = mat.metadata if mat is not None else {}
        test, status = meta_value(meta, AB_TEST_KEY_META), meta_value(meta, AB_TEST_STATUS_META)
        p_value = meta_value(meta, "adaptive/p_value")
        p = None if p_value is None else float(p_value)
        out: dict[str, Any] = {"status": str(status), "adaptive/max_p_value": max_p_value,
                               SIGNIFICANT_META: status == "DONE" and p is not None and p <= max_p_value}
        if p is not None:
            out["adaptive/p_value"] = p
        if status != "DONE":
            said = f"A/B test {test or '(none yet)'} has not finished (status {status}): significance not measured."
            return dg.AssetCheckResult(passed=False, metadata=out, description=said,
                                       severity=dg.AssetCheckSeverity.WARN)
        winner = meta_value(meta, "adaptive/winner") or "no model"
        if p is None:
            return dg.AssetCheckResult(passed=False, metadata=out,
                                       description=f"A/B test {test}: {winner} leads, but the report has no p-value.")
        significant = p <= max_p_value
        said = (f"A/B test {test}: {winner} leads with p={p:.3g}, "
                f"{'significant' if significant else 'not significant'} (bar {max_p_value}).")
        return dg.AssetCheckResult(passed=significant, metadata=out, description=said)

    return _check
