"""Ops for job-style use: upload a training file, fine-tune and wait (or hand off), run completions.

Each op uses the ``llm_engine`` resource (:class:`LLMEngineResource`)::

    @dg.job(resource_defs={"llm_engine": LLMEngineResource(api_key=dg.EnvVar("SCALE_API_KEY"))})
    def fine_tune_and_answer():
        model = llm_engine_fine_tune_op(llm_engine_upload_training_file_op(load_pairs()))
        llm_engine_completions_op(load_prompts(), model_name=model)

Re-runs create nothing twice: the training file's name carries a digest of its content, so the same rows find
the same file; a fine-tune or batch job is recorded as a tag on the run that launched it
(``dagster-labeling/llm-engine-launch.<launch key>``), and a later run of any job with the same inputs reattaches
to it while it is pending, running or succeeded (LLM Engine's listings carry neither names nor inputs to find
it by). Runs of the same inputs started at the same moment are not reconciled: use the assets for that.
"""

import os
from collections.abc import Callable
from typing import Any, TypeVar

import dagster as dg
import pandas as pd
from pydantic import Field

from dagster_labeling._core import BulkProgress, InvalidInput, JobHandle
from dagster_labeling._dagster.config import WaitConfig, resolve_wait
from dagster_labeling._dagster.launches import REATTACHABLE_STATES, launch_key
from dagster_labeling._dagster.naming import remote_name
from dagster_labeling.llm_engine.assets import (
    FINE_TUNE_STATE_META,
    FINE_TUNED_MODEL_META,
    _completions_output,
    loss_table,
)
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
    FILE_NAME_CHARS,
    FILE_NAME_MAX_LENGTH,
    FINE_TUNE_ID_META,
    file_digest,
    training_file_name,
)
from dagster_labeling.llm_engine.resource import LLMEngineResource
from dagster_labeling.llm_engine.validation import FINE_TUNABLE_MODELS, completion_body, validate_model_name

H = TypeVar("H", bound=JobHandle)
LAUNCH_TAG_PREFIX = "dagster-labeling/llm-engine-launch."
"""A run tag ``<prefix><launch key>`` whose value is the id of the fine-tune or batch job the run launched."""
FINE_TUNE_WAIT_DEFAULTS: dict[str, Any] = dict(wait_for_completion=True, wait_timeout_seconds=24 * 3600,
                                               poll_interval_seconds=30.0, cancel_on_termination=True,
                                               cancel_on_timeout=False)
BATCH_WAIT_DEFAULTS: dict[str, Any] = dict(wait_for_completion=True, wait_timeout_seconds=6 * 3600,
                                           poll_interval_seconds=10.0, cancel_on_termination=True,
                                           cancel_on_timeout=False)


class TrainingFileConfig(dg.Config):
    file_name: str = Field(description="Base of the remote file name, '<file_name>.<content digest>.csv': the same "
                           "rows find the same file again, other rows make a new one.")
    prompt_column: str = Field(default="prompt", description="Column with the prompts.")
    response_column: str = Field(default="response", description="Column with the wanted responses.")


class FineTuneConfig(WaitConfig):
    base_model: str = Field(description="Model to fine-tune, e.g. 'llama-2-7b'.")
    hyperparameters: dict[str, Any] = Field(default_factory=dict, description="e.g. {'epochs': 2, "
                                            "'learning_rate': 0.0002} (strings or numbers).")
    suffix: str | None = Field(default=None, description="Part of the fine-tuned model's name: 1-28 lowercase "
                               "letters, digits or '-'.")
    validation_file: str | None = Field(default=None, description="File id or public URL of validation pairs.")
    allow_unknown_model: bool = Field(default=False, description="Allow a base model outside FINE_TUNABLE_MODELS.")


class CompletionParams(dg.Config):
    model: str | None = Field(default=None, description="Model or endpoint name; unset: the op's model_name input "
                              "(e.g. the fine-tune op's output).")
    prompt_column: str = Field(default="prompt", description="Column with the prompts.")
    key_column: str | None = Field(default=None, description="Column with a unique key per row (default: the "
                                   "index), the output's 'key'.")
    max_new_tokens: int = Field(default=20, description="Tokens to generate at most per prompt.")
    temperature: float = Field(default=0.2, description="Sampling temperature in [0, 1] (0: greedy).")
    stop_sequences: list[str] | None = Field(default=None, description="Strings that end a completion.")
    allow_partial: bool = Field(default=True, description="Succeed when some rows failed (listed in the metadata).")


class CompletionsConfig(CompletionParams):
    concurrency: int | None = Field(default=None, ge=1, description="Completions in flight at once (default: the "
                                    "resource's max_concurrency).")


class BatchCompletionsConfig(CompletionParams, WaitConfig):
    output_dir: str = Field(description="Local or file:// folder the service writes the results to.")


def _check_model(config: CompletionParams, model_name: str | None) -> str:
    if (config.model is None) == (model_name is None):
        raise InvalidInput("Give exactly one of the model config field or the model_name input.", field="model")
    return validate_model_name(config.model or model_name,
                               "model" if config.model is not None else "model_name input")


def _params(config: CompletionParams) -> dict[str, Any]:
    params: dict[str, Any] = {"max_new_tokens": config.max_new_tokens, "temperature": config.temperature,
                              "stop_sequences": config.stop_sequences}
    completion_body("validation", **params)  # bad parameters fail before any request
    return params


def _recorded_launch(context: dg.OpExecutionContext, tag: str, handle_for: Callable[[str], H]) -> H | None:
    """A job an earlier run recorded under ``tag`` that is still pending, running or succeeded, else None."""
    for _, ids in context.instance.get_run_tags(tag_keys=[tag]):
        for job_id in sorted(ids):
            handle = handle_for(job_id)
            if handle.refresh().state in REATTACHABLE_STATES:  # a job LLM Engine forgot reads as canceled
                return handle
    return None


def _record_launch(context: dg.OpExecutionContext, tag: str, job_id: str) -> None:
    """Tag this run with the job it launched, before waiting: a later run with the same inputs reattaches."""
    context.instance.add_run_tags(context.run_id, {tag: job_id})


@dg.op(out=dg.Out(str, description="The LLM Engine file id ('file-…')."), tags={"kind": "scale"})
def llm_engine_upload_training_file_op(context: dg.OpExecutionContext, config: TrainingFileConfig,
                                       llm_engine: LLMEngineResource, rows: pd.DataFrame) -> str:
    """Upload the prompt/response rows as a private fine-tuning CSV, unless a file of the same content exists.
    Every row is checked first (no missing or blank cell, at most 100,000 rows)."""
    where = f"op {context.op.name!r}"
    for warning in validate_training_frame(rows, prompt_column=config.prompt_column,
                                           response_column=config.response_column, where=where):
        context.log.warning(f"{where}: {warning}")
    path = write_training_csv(rows, prompt_column=config.prompt_column, response_column=config.response_column)
    try:
        filename = training_file_name(config.file_name, None, file_digest(path))
        with llm_engine.get_client() as client:
            existing = sorted(f.id for f in client.list_files() if f.filename == filename)
            file_id = existing[0] if existing else client.upload_file(path, filename=filename)
    finally:
        os.unlink(path)
    context.log.info(f"LLM Engine file {file_id} ({filename}) {'found' if existing else 'uploaded'}")
    context.add_output_metadata({"dagster/row_count": len(rows), "llm_engine/file_id": file_id,
                                 "llm_engine/file_name": filename, "llm_engine/uploaded": not existing})
    return file_id


@dg.op(out=dg.Out(str, description="The fine-tuned model's name once it succeeded; the fine-tune id if handed off."),
       tags={"kind": "scale"})
def llm_engine_fine_tune_op(context: dg.OpExecutionContext, config: FineTuneConfig, llm_engine: LLMEngineResource,
                            training_file: str) -> str:
    """Fine-tune the base model on the training file, or reattach to the fine-tune an earlier run launched with
    the same inputs; wait for it with progress (epochs, loss) or hand it off (``wait_for_completion: false``).
    A run terminated while waiting cancels the fine-tune (``cancel_on_termination``). Defaults: wait, 24 h
    timeout, 30 s first poll, cancel on termination."""
    validate_model_name(config.base_model, "base_model")
    if not config.allow_unknown_model and config.base_model not in FINE_TUNABLE_MODELS:
        raise InvalidInput(f"Unknown base model {config.base_model!r} for fine-tuning. Use one of: "
                           f"{', '.join(sorted(FINE_TUNABLE_MODELS))} or set allow_unknown_model.", field="base_model")
    waits, options = resolve_wait(config, **FINE_TUNE_WAIT_DEFAULTS)
    epochs = config.hyperparameters.get("epochs")
    known_epochs = int(epochs) if epochs is not None else None
    tag = LAUNCH_TAG_PREFIX + launch_key("fine-tune", config.base_model, training_file, config.validation_file,
                                         config.hyperparameters, config.suffix)
    with llm_engine.get_client() as client:
        job = _recorded_launch(context, tag, lambda i: client.fine_tune_job(i, epochs=known_epochs))
        if job is not None:
            context.log.info(f"Reattached to LLM Engine fine-tune {job.id}, launched earlier with the same inputs")
        else:
            job = client.create_fine_tune(config.base_model, training_file, validation_file=config.validation_file,
                                          hyperparameters=config.hyperparameters, suffix=config.suffix,
                                          allow_unknown_model=config.allow_unknown_model)
            _record_launch(context, tag, job.id)
            context.log.info(f"Started LLM Engine fine-tune {job.id} of {config.base_model} on {training_file}")
        status = job.wait(options, log=context.log) if waits else job.refresh()
    metadata: dict[str, Any] = {FINE_TUNE_ID_META: job.id, FINE_TUNE_STATE_META: status.state.value,
                                "llm_engine/loss_per_epoch": loss_table(job.loss), **loss_summary(job.loss)}
    if job.fine_tuned_model:
        metadata[FINE_TUNED_MODEL_META] = job.fine_tuned_model
    context.add_output_metadata(metadata)
    return str(job.fine_tuned_model) if waits else job.id


@dg.op(out=dg.Out(pd.DataFrame, description="key, prompt, completion, num_prompt_tokens, num_completion_tokens, "
                                            "error (one row per prompt)."), tags={"kind": "scale"})
def llm_engine_completions_op(context: dg.OpExecutionContext, config: CompletionsConfig,
                              llm_engine: LLMEngineResource, rows: pd.DataFrame,
                              model_name: str | None = None) -> dg.Output:
    """One completion per row, ``concurrency`` at a time; the rows and parameters are checked before the first
    request. Failed rows are listed; they fail the step unless ``allow_partial``. Nothing is stored remotely."""
    model = _check_model(config, model_name)
    params = _params(config)
    where = f"op {context.op.name!r}"
    prompts = prompts_from_frame(rows, prompt_column=config.prompt_column, key_column=config.key_column, where=where)
    if not prompts:
        return _completions_output(pd.DataFrame(columns=COMPLETION_COLUMNS), model, "concurrent",
                                   config.allow_partial, {})

    def progress(p: BulkProgress) -> None:
        context.log.info(f"{where}: {p.done}/{p.total} completions, {p.failed} failed, {p.rate:.0f}/s")

    with llm_engine.get_client() as client:
        result = client.complete_many(model, prompts, concurrency=config.concurrency, on_progress=progress, **params)
    return _completions_output(completions_frame_from_bulk(prompts, result), model, "concurrent",
                               config.allow_partial, {})


@dg.op(out=dg.Out(pd.DataFrame, description="key, prompt, completion, num_prompt_tokens, num_completion_tokens, "
                                            "error; without completions if handed off."), tags={"kind": "scale"})
def llm_engine_batch_completions_op(context: dg.OpExecutionContext, config: BatchCompletionsConfig,
                                    llm_engine: LLMEngineResource, rows: pd.DataFrame,
                                    model_name: str | None = None) -> dg.Output:
    """Run the rows as one batch-completions job writing to ``output_dir``, or reattach to the job an earlier run
    started with the same prompts and parameters; wait and read its results, or hand it off
    (``wait_for_completion: false``; a later run with the same inputs reattaches and reads them). A run
    terminated while waiting cancels the job. Defaults: wait, 6 h timeout, 10 s first poll, cancel on
    termination."""
    model = _check_model(config, model_name)
    params = _params(config)
    where = f"op {context.op.name!r}"
    prompts = prompts_from_frame(rows, prompt_column=config.prompt_column, key_column=config.key_column, where=where)
    if not prompts:
        raise InvalidInput(f"{where}: no rows; a batch needs at least one prompt.", field="rows")
    waits, options = resolve_wait(config, **BATCH_WAIT_DEFAULTS)
    key = launch_key("batch", model, list(prompts.values()), params, config.output_dir)
    base = remote_name(context.op.name, None, allowed=FILE_NAME_CHARS, max_length=FILE_NAME_MAX_LENGTH - 40)
    output = f"{config.output_dir.rstrip('/')}/{base}.{key}.json"
    tag = LAUNCH_TAG_PREFIX + key
    with llm_engine.get_client() as client:
        job = _recorded_launch(context, tag, client.batch_completion_job)
        if job is not None:
            context.log.info(f"Reattached to LLM Engine batch job {job.id}, started earlier with the same inputs")
        else:
            job = client.create_batch_completions(model, list(prompts.values()), output_data_path=output,
                                                  use_v2=True, **params)
            _record_launch(context, tag, job.id)
            context.log.info(f"Started LLM Engine batch job {job.id}: {len(prompts)} prompts to {output}")
        status = job.wait(options, log=context.log) if waits else job.refresh()
        if waits:
            frame = completions_frame_from_batch(prompts, client.read_batch_output(output))
        else:
            frame = completions_frame_from_batch(prompts, [])
            frame["error"] = None
    return _completions_output(frame, model, "batch", config.allow_partial, {
        "llm_engine/batch_job_id": job.id, "llm_engine/output_data_path": output,
        "llm_engine/batch_state": status.state.value})


__all__ = ["llm_engine_batch_completions_op", "llm_engine_completions_op", "llm_engine_fine_tune_op",
           "llm_engine_upload_training_file_op"]
