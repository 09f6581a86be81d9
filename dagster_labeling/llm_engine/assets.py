"""Asset factories: training data → LLM Engine file → fine-tuned model → completions over a DataFrame.

>>> import dagster as dg, pandas as pd
>>> @dg.asset
... def pairs() -> pd.DataFrame:
...     return pd.DataFrame({"prompt": ["Hi"], "response": ["Hello"]})
>>> train = build_llm_engine_training_file_asset(name="train_file", upstream=pairs)
>>> tuned = build_llm_engine_fine_tune_asset(name="tuned_model", training_file_asset=train,
...                                          base_model="llama-2-7b", hyperparameters={"epochs": 2})
>>> sorted(k.to_user_string() for k in tuned.keys)
['tuned_model']
"""

import os
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from dagster_labeling._core import BulkProgress, InvalidInput, JobState
from dagster_labeling._dagster.assets import (
    AssetRef,
    asset_key_of,
    latest_materialization,
    meta_value,
    partition_key_of,
    partitions_like,
)
from dagster_labeling._dagster.config import WaitConfig, resolve_wait
from dagster_labeling._dagster.launches import launch_key, launch_record
from dagster_labeling.llm_engine.errors import LLMEngineBadRequest
from dagster_labeling.llm_engine.models import LossPoint
from dagster_labeling.llm_engine.pipeline import (
    COMPLETION_COLUMNS,
    completions_frame_from_batch,
    completions_frame_from_bulk,
    loss_summary,
    prompts_from_frame,
    validate_training_frame,
    write_training_csv,
)
from dagster_labeling.llm_engine.reconcile import (
    FINE_TUNE_ID_META,
    TrainingFile,
    earliest_launch,
    file_digest,
    join_parallel_launch,
    keep_earliest,
    output_file_name,
    training_file_name,
)
from dagster_labeling.llm_engine.resource import LLMEngineResource
from dagster_labeling.llm_engine.validation import (
    FINE_TUNABLE_MODELS,
    completion_body,
    validate_model_name,
)

FINE_TUNE_STATE_META = "llm_engine/state"
FINE_TUNED_MODEL_META = "llm_engine/fine_tuned_model"
BATCH_JOB_META = "llm_engine/batch_job_id"
BATCH_OUTPUT_META = "llm_engine/output_data_path"
BATCH_STATE_META = "llm_engine/batch_state"
EVAL_LOSS_CHECK = "eval_loss_below_threshold"
MAX_FAILED_ROWS_SHOWN = 50


def loss_table(points: Sequence[LossPoint]) -> dg.TableMetadataValue:
    """Loss per epoch as a Dagster table."""
    return dg.MetadataValue.table(
        records=[dg.TableRecord({"epoch": p.epoch, "train_loss": p.train_loss, "eval_loss": p.eval_loss})
                 for p in points],
        schema=dg.TableSchema(columns=[dg.TableColumn("epoch", "float"), dg.TableColumn("train_loss", "float"),
                                       dg.TableColumn("eval_loss", "float")]),
    )


def epoch_metadata(fine_tune_id: str, point: LossPoint) -> dict[str, Any]:
    """An epoch's losses as plain numbers (absent losses left out, so a plot has no gaps filled with zeros)."""
    metadata: dict[str, Any] = {FINE_TUNE_ID_META: fine_tune_id, "epoch": float(point.epoch)}
    if point.train_loss is not None:
        metadata["train_loss"] = float(point.train_loss)
    if point.eval_loss is not None:
        metadata["eval_loss"] = float(point.eval_loss)
    return metadata


def eval_loss_check_result(points: Sequence[LossPoint], threshold: float | None, asset_key: dg.AssetKey,
                           severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    """Passes when the final eval loss is below ``threshold`` (if set) and below the first epoch's."""
    summary = loss_summary(points)
    final, first = summary.get("final_eval_loss"), summary.get("first_eval_loss")
    evals = sum(1 for p in points if p.eval_loss is not None)
    passed = final is not None and (threshold is None or final < threshold) and (
        evals < 2 or (first is not None and final < first))
    metadata: dict[str, Any] = {"epochs_with_eval": evals}
    if final is not None:
        metadata["final_eval_loss"] = final
    if first is not None:
        metadata["first_eval_loss"] = first
    if threshold is not None:
        metadata["threshold"] = threshold
    return dg.AssetCheckResult(check_name=EVAL_LOSS_CHECK, asset_key=asset_key, passed=bool(passed),
                               severity=severity, metadata=metadata)


def build_llm_engine_training_file_asset(
    *,
    name: str,
    upstream: AssetRef,
    prompt_column: str = "prompt",
    response_column: str = "response",
    partitions_def: dg.PartitionsDefinition | None = None,
    resource_key: str = "llm_engine",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
) -> dg.AssetsDefinition:
    """An asset uploading an upstream prompt/response DataFrame as a private LLM Engine file; outputs the file id.

    Checked before anything is sent, every row at once: both columns present, no missing or blank cell, at most
    100,000 rows; fewer than 200 rows logs a warning (the service's advice). The CSV is written to a temporary file
    and streamed. Partitioned like ``upstream`` unless ``partitions_def`` says otherwise. A partition's file is
    ``<name>__<partition>.<content digest>.csv``: a re-run with the same rows reuses it, and runs of one partition
    started together end with one file (see :mod:`~dagster_labeling.llm_engine.reconcile`).
    """
    upstream_key = asset_key_of(upstream)

    @dg.asset(
        name=name, key_prefix=key_prefix, ins={"rows": dg.AssetIn(key=upstream_key)},
        partitions_def=partitions_like(partitions_def, upstream),
        required_resource_keys={resource_key}, group_name=group_name, kinds={"scale", "llm_engine", "pandas"},
        description=description or f"{upstream_key.to_user_string()} as a fine-tuning CSV file in LLM Engine.",
    )
    def _training_file_asset(context: dg.AssetExecutionContext, rows: pd.DataFrame):
        where = f"asset {name!r}"
        warnings = validate_training_frame(rows, prompt_column=prompt_column, response_column=response_column,
                                           where=where)
        for warning in warnings:
            context.log.warning(f"{where}: {warning}")
        llm: LLMEngineResource = getattr(context.resources, resource_key)
        path = write_training_csv(rows, prompt_column=prompt_column, response_column=response_column)
        try:
            size = os.path.getsize(path)
            filename = training_file_name(name, partition_key_of(context), file_digest(path))
            with llm.get_client() as client:
                remote = TrainingFile(context, client, filename)
                file_id = remote.existing()
                if file_id is not None:
                    context.log.info(f"LLM Engine file {file_id} ({filename}) already holds these rows")
                else:
                    remote.claim(path)
                    yield remote.record()
                    file_id = remote.settle()
                    context.log.info(f"{len(rows)} rows ({size:,} bytes) are LLM Engine file {file_id} ({filename})")
        finally:
            os.unlink(path)
        yield dg.Output(file_id, metadata={
            "dagster/row_count": len(rows), "llm_engine/file_id": file_id, "llm_engine/file_name": filename,
            "llm_engine/size_bytes": size, "llm_engine/warnings": dg.MetadataValue.json(warnings),
        })

    return _training_file_asset


def build_llm_engine_fine_tune_asset(
    *,
    name: str,
    training_file_asset: AssetRef,
    base_model: str,
    hyperparameters: Mapping[str, str | int | float] | None = None,
    suffix: str | None = None,
    validation_file: str | None = None,
    wandb_config: Mapping[str, Any] | None = None,
    allow_unknown_model: bool = False,
    wait_for_completion: bool = True,
    wait_timeout_seconds: float = 24 * 3600,
    poll_interval_seconds: float = 30.0,
    cancel_on_termination: bool = True,
    cancel_on_timeout: bool = False,
    eval_loss_threshold: float | None = None,
    check_severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.WARN,
    partitions_def: dg.PartitionsDefinition | None = None,
    resource_key: str = "llm_engine",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    pool: str | None = None,
) -> dg.AssetsDefinition:
    """An asset fine-tuning ``base_model`` on the training file asset's file id; outputs the fine-tuned model name.

    Waiting (default) polls the job, logs progress from its events (epochs, loss), cancels it when the run is
    terminated (``cancel_on_termination``), and records final train/eval loss as numbers, the loss per epoch as
    a table and the job id. Without waiting the output is the fine-tune id (state in metadata) and
    :func:`build_llm_engine_fine_tune_sensor` reports completion. The asset check ``eval_loss_below_threshold``
    passes when the final eval loss is below ``eval_loss_threshold`` (if set) and below the first epoch's.
    Partitioned like the training file asset unless ``partitions_def`` says otherwise: one fine-tune per
    partition. The launch is recorded before waiting: a re-run (or a run after a crash) reattaches to the
    partition's fine-tune, and of runs of one partition started together only the first recorded launch keeps
    running, the others cancel theirs (see :mod:`~dagster_labeling.llm_engine.reconcile`).
    """
    validate_model_name(base_model, "base_model")
    if not allow_unknown_model and base_model not in FINE_TUNABLE_MODELS:
        raise InvalidInput(f"Unknown base model {base_model!r} for fine-tuning. Use one of: "
                           f"{', '.join(sorted(FINE_TUNABLE_MODELS))} or pass allow_unknown_model=True.",
                           field="base_model")
    file_key = asset_key_of(training_file_asset)
    asset_key = dg.AssetKey([*(key_prefix or []), name])
    epochs = (hyperparameters or {}).get("epochs")

    @dg.asset(
        key=asset_key, ins={"training_file": dg.AssetIn(key=file_key)}, required_resource_keys={resource_key},
        partitions_def=partitions_like(partitions_def, training_file_asset), group_name=group_name,
        kinds={"scale", "llm_engine"}, pool=pool,
        description=description or f"{base_model} fine-tuned on {file_key.to_user_string()} in LLM Engine.",
        check_specs=[dg.AssetCheckSpec(EVAL_LOSS_CHECK, asset=asset_key,
                                       description="Final eval loss below the threshold and the first epoch's.")],
    )
    def _fine_tune_asset(context: dg.AssetExecutionContext, config: WaitConfig, training_file: str):
        llm: LLMEngineResource = getattr(context.resources, resource_key)
        waits, options = resolve_wait(
            config, wait_for_completion=wait_for_completion, wait_timeout_seconds=wait_timeout_seconds,
            poll_interval_seconds=poll_interval_seconds, cancel_on_termination=cancel_on_termination,
            cancel_on_timeout=cancel_on_timeout)
        key = launch_key(base_model, training_file, validation_file, hyperparameters, suffix)
        known_epochs = int(epochs) if epochs is not None else None
        with llm.get_client() as client:
            job = earliest_launch(context, client, key, known_epochs)
            if job is not None:
                context.log.info(f"Reattached to LLM Engine fine-tune {job.id}, launched earlier with the same inputs")
            else:
                try:
                    launched = client.create_fine_tune(base_model, training_file, validation_file=validation_file,
                                                       hyperparameters=hyperparameters, wandb_config=wandb_config,
                                                       suffix=suffix, allow_unknown_model=allow_unknown_model)
                except LLMEngineBadRequest as refused:
                    job = join_parallel_launch(context, client, key, known_epochs)
                    if job is None:
                        raise
                    context.log.info(f"LLM Engine refused this run's launch ({refused.message}); a parallel run of "
                                     f"this partition launched fine-tune {job.id}: reattached to it")
                else:
                    context.log.info(f"Started LLM Engine fine-tune {launched.id} of {base_model} on {training_file}")
                    # Written before waiting: a re-run reattaches, and racing runs agree on the first launch.
                    yield launch_record(context, key, FINE_TUNE_ID_META, launched.id)
                    job = keep_earliest(context, client, key, launched)
            job.epochs = known_epochs
            status = job.wait(options, log=context.log) if waits else job.refresh()
        summary = loss_summary(job.loss)
        partition = partition_key_of(context)
        for point in job.loss:  # one observation per epoch: numbers the asset's Plots tab draws as a loss curve
            yield dg.AssetObservation(asset_key=asset_key, partition=partition, metadata=epoch_metadata(job.id, point))
        metadata: dict[str, Any] = {
            FINE_TUNE_ID_META: job.id, FINE_TUNE_STATE_META: status.state.value,
            "llm_engine/raw_status": status.raw_status or "", "llm_engine/base_model": base_model,
            "llm_engine/loss_per_epoch": loss_table(job.loss), **summary,
        }
        if job.fine_tuned_model:
            metadata[FINE_TUNED_MODEL_META] = job.fine_tuned_model
        value = job.fine_tuned_model if waits else job.id
        yield dg.Output(value, metadata=metadata)
        yield eval_loss_check_result(job.loss, eval_loss_threshold, asset_key, check_severity)

    return _fine_tune_asset


class CompletionsConfig(dg.Config):
    """Run-time config of a completions asset."""

    mode: str | None = Field(default=None, description="'concurrent', 'batch' or 'auto' (default: the factory's).")


BATCH_PARAMS = ("max_new_tokens", "temperature", "stop_sequences", "return_token_log_probs", "presence_penalty",
                "frequency_penalty", "top_k", "top_p", "skip_special_tokens")
"""Completion parameters a batch-completions job accepts (the others apply to the concurrent path only)."""


def build_llm_engine_completions_asset(
    *,
    name: str,
    upstream: AssetRef,
    model: str | None = None,
    model_asset: AssetRef | None = None,
    prompt_column: str = "prompt",
    key_column: str | None = None,
    mode: str = "auto",
    batch_threshold: int = 1000,
    batch_output_dir: str | None = None,
    concurrency: int | None = None,
    allow_partial: bool = True,
    wait_for_batch: bool = True,
    wait_timeout_seconds: float = 6 * 3600,
    poll_interval_seconds: float = 10.0,
    partitions_def: dg.PartitionsDefinition | None = None,
    resource_key: str = "llm_engine",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    **completion_params: Any,
) -> dg.AssetsDefinition:
    """An asset running a DataFrame of prompts through a model; output ``key, prompt, completion, tokens, error``.

    The model is ``model`` or the output of ``model_asset`` (a fine-tune asset). ``mode='concurrent'`` sends one
    completion per row, ``concurrency`` at a time (default: the resource's ``max_concurrency``); ``'batch'`` runs
    one batch-completions job writing to ``batch_output_dir`` (a local or ``file://`` folder the service can
    write) and waits for it; ``'auto'`` takes batch from ``batch_threshold`` rows (if ``batch_output_dir`` is
    set). With ``wait_for_batch=False`` the batch is handed off: the output has the rows without completions and
    the job id in metadata; :func:`build_llm_engine_batch_output_asset` collects the completions once
    :func:`build_llm_engine_batch_completion_sensor` sees the job finish. Failed rows are listed per row; they
    fail the step unless ``allow_partial``. Partitioned like ``upstream`` unless ``partitions_def`` says
    otherwise. ``completion_params`` (``max_new_tokens``, ``temperature``…) are validated at definition time.
    """
    if (model is None) == (model_asset is None):
        raise InvalidInput("Give exactly one of model (a name) or model_asset (e.g. a fine-tune asset).",
                           field="model")
    if model is not None:
        validate_model_name(model)
    if mode not in ("auto", "concurrent", "batch"):
        raise InvalidInput(f"mode must be 'auto', 'concurrent' or 'batch', got {mode!r}.", field="mode")
    if mode == "batch" and not batch_output_dir:
        raise InvalidInput("mode='batch' needs batch_output_dir.", field="batch_output_dir")
    completion_body("validation", **completion_params)  # bad parameters fail at definition time
    upstream_key = asset_key_of(upstream)
    ins = {"rows": dg.AssetIn(key=upstream_key)}
    if model_asset is not None:
        ins["model_name"] = dg.AssetIn(key=asset_key_of(model_asset))

    def run(context: dg.AssetExecutionContext, config: CompletionsConfig, rows: pd.DataFrame,
            given_model: Any) -> dg.Output:
        model_name = validate_model_name(given_model, "model_asset" if model_asset is not None else "model")
        where = f"asset {name!r}"
        prompts = prompts_from_frame(rows, prompt_column=prompt_column, key_column=key_column, where=where)
        chosen = config.mode or mode
        if chosen == "auto":
            chosen = "batch" if batch_output_dir and len(prompts) >= batch_threshold else "concurrent"
        llm: LLMEngineResource = getattr(context.resources, resource_key)
        extra: dict[str, Any] = {}
        with llm.get_client() as client:
            if not prompts:
                frame = pd.DataFrame(columns=COMPLETION_COLUMNS)
            elif chosen == "concurrent":
                def progress(p: BulkProgress) -> None:
                    context.log.info(f"{where}: {p.done}/{p.total} completions, {p.failed} failed, {p.rate:.0f}/s")

                result = client.complete_many(model_name, prompts, concurrency=concurrency, on_progress=progress,
                                              **completion_params)
                frame = completions_frame_from_bulk(prompts, result)
            else:
                if not batch_output_dir:
                    raise InvalidInput(f"{where}: batch mode needs batch_output_dir.", field="batch_output_dir")
                out_name = output_file_name(name, partition_key_of(context), context.run.run_id)
                out = f"{batch_output_dir.rstrip('/')}/{out_name}"
                params = {k: v for k, v in completion_params.items() if k in BATCH_PARAMS}
                job = client.create_batch_completions(model_name, list(prompts.values()), output_data_path=out,
                                                      use_v2=True, **params)
                waits, options = resolve_wait(
                    WaitConfig(), wait_for_completion=wait_for_batch, wait_timeout_seconds=wait_timeout_seconds,
                    poll_interval_seconds=poll_interval_seconds, cancel_on_termination=True, cancel_on_timeout=False)
                if waits:
                    job.wait(options, log=context.log)
                    frame = completions_frame_from_batch(prompts, client.read_batch_output(out))
                else:  # handed off to build_llm_engine_batch_completion_sensor and the batch output asset
                    frame = completions_frame_from_batch(prompts, [])
                    frame["error"] = None
                extra = {BATCH_JOB_META: job.id, BATCH_OUTPUT_META: out,
                         BATCH_STATE_META: job.refresh().state.value}
        return _completions_output(frame, model_name, chosen, allow_partial, extra)

    asset_kwargs: dict[str, Any] = dict(
        name=name, key_prefix=key_prefix, ins=ins, required_resource_keys={resource_key}, group_name=group_name,
        kinds={"scale", "llm_engine", "pandas"}, partitions_def=partitions_like(partitions_def, upstream),
        description=description or f"Completions of the prompts of {upstream_key.to_user_string()}.")
    if model_asset is None:
        @dg.asset(**asset_kwargs)
        def _completions_asset(context: dg.AssetExecutionContext, config: CompletionsConfig, rows: pd.DataFrame):
            return run(context, config, rows, model)

        return _completions_asset

    @dg.asset(**asset_kwargs)
    def _completions_of_model_asset(context: dg.AssetExecutionContext, config: CompletionsConfig,
                                    rows: pd.DataFrame, model_name: str):
        return run(context, config, rows, model_name)

    return _completions_of_model_asset


def build_llm_engine_batch_output_asset(
    *,
    name: str,
    completions_asset: dg.AssetsDefinition,
    allow_partial: bool = True,
    wait_for_completion: bool = True,
    wait_timeout_seconds: float = 6 * 3600,
    poll_interval_seconds: float = 10.0,
    resource_key: str = "llm_engine",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
) -> dg.AssetsDefinition:
    """An asset collecting the completions of a batch job that ``completions_asset`` handed off.

    The target of :func:`build_llm_engine_batch_completion_sensor`: it reads the job id and output path from the
    latest materialization of ``completions_asset`` (of the same partition), waits for the job if it still
    runs (``wait_for_completion``, cancelled on run termination), then outputs the completions in the columns of
    the completions asset, failed rows listed (they fail the step unless ``allow_partial``). A materialization
    that already holds completions (the batch was waited for, or the concurrent path) passes through.

    >>> import dagster as dg, pandas as pd
    >>> @dg.asset
    ... def prompts() -> pd.DataFrame:
    ...     return pd.DataFrame({"prompt": ["Hi"]})
    >>> answers = build_llm_engine_completions_asset(name="answers", upstream=prompts, model="llama-2-7b",
    ...                                              mode="batch", batch_output_dir="/tmp", wait_for_batch=False)
    >>> collected = build_llm_engine_batch_output_asset(name="answers_collected", completions_asset=answers)
    >>> collected.key.to_user_string()
    'answers_collected'
    """
    source_key = completions_asset.key

    @dg.asset(
        name=name, key_prefix=key_prefix, ins={"handed_off": dg.AssetIn(key=source_key)},
        partitions_def=completions_asset.partitions_def, required_resource_keys={resource_key},
        group_name=group_name, kinds={"scale", "llm_engine", "pandas"},
        description=description or f"Completions of the batch job handed off by {source_key.to_user_string()}.",
    )
    def _batch_output_asset(context: dg.AssetExecutionContext, config: WaitConfig, handed_off: pd.DataFrame):
        where = f"asset {name!r}"
        mat = latest_materialization(context.instance, source_key, partition_key_of(context))
        meta = mat.metadata if mat is not None else {}
        job_id = meta_value(meta, BATCH_JOB_META)
        model_name = str(meta_value(meta, "llm_engine/model") or "")
        if not job_id or meta_value(meta, BATCH_STATE_META) == JobState.SUCCEEDED.value:
            context.log.info(f"{where}: {source_key.to_user_string()} already holds its completions")
            return _completions_output(handed_off, model_name, "pass-through", allow_partial, {})
        output_path = str(meta_value(meta, BATCH_OUTPUT_META) or "")
        llm: LLMEngineResource = getattr(context.resources, resource_key)
        waits, options = resolve_wait(
            config, wait_for_completion=wait_for_completion, wait_timeout_seconds=wait_timeout_seconds,
            poll_interval_seconds=poll_interval_seconds, cancel_on_termination=True, cancel_on_timeout=False)
        with llm.get_client() as client:
            job = client.batch_completion_job(str(job_id))
            status = job.refresh()
            if not status.state.is_terminal:
                if not waits:
                    raise dg.Failure(description=f"{where}: LLM Engine batch job {job_id} is still "
                                                 f"{status.raw_status}; the batch-completion sensor requests a run "
                                                 "when it finishes (or run with wait_for_completion).",
                                     metadata={BATCH_JOB_META: str(job_id)})
                status = job.wait(options, log=context.log)
            if status.state is not JobState.SUCCEEDED:
                raise dg.Failure(description=f"{where}: LLM Engine batch job {job_id} ended {status.raw_status}; "
                                             f"re-materialize {source_key.to_user_string()} to start a new one.",
                                 metadata={BATCH_JOB_META: str(job_id)})
            outputs = client.read_batch_output(output_path)
        prompts = dict(zip(handed_off["key"].astype(str), handed_off["prompt"].astype(str), strict=True))
        frame = completions_frame_from_batch(prompts, outputs)
        return _completions_output(frame, model_name, "batch", allow_partial, {
            BATCH_JOB_META: str(job_id), BATCH_OUTPUT_META: output_path, BATCH_STATE_META: status.state.value})

    return _batch_output_asset


def _completions_output(frame: pd.DataFrame, model_name: str, mode: str, allow_partial: bool,
                        extra: Mapping[str, Any]) -> dg.Output:
    """The completions frame as an output with counts and tokens; failed rows fail it unless ``allow_partial``."""
    failed = frame[frame["error"].notna()]
    if len(failed) and not allow_partial:
        raise dg.Failure(description=f"{len(failed)} of {len(frame)} completions failed.",
                         metadata={"failed_rows": dg.MetadataValue.md(_failed_markdown(failed))})
    return dg.Output(frame, metadata={
        "dagster/row_count": len(frame), "llm_engine/model": model_name, "llm_engine/mode": mode,
        "llm_engine/failed": len(failed),
        "llm_engine/prompt_tokens": int(pd.to_numeric(frame["num_prompt_tokens"]).fillna(0).sum()),
        "llm_engine/completion_tokens": int(pd.to_numeric(frame["num_completion_tokens"]).fillna(0).sum()),
        **({"failed_rows": dg.MetadataValue.md(_failed_markdown(failed))} if len(failed) else {}),
        **extra,
    })


def _failed_markdown(failed: pd.DataFrame) -> str:
    lines = ["| key | error |", "|---|---|"]
    for key, error in list(zip(failed["key"], failed["error"], strict=True))[:MAX_FAILED_ROWS_SHOWN]:
        lines.append(f"| {key} | {str(error).replace('|', '/')[:300]} |")
    if len(failed) > MAX_FAILED_ROWS_SHOWN:
        lines.append(f"| … | {len(failed) - MAX_FAILED_ROWS_SHOWN} more |")
    return "\n".join(lines)
