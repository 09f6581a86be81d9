"""LLM Engine YAML components: rows → training file → fine-tune (with its eval-loss check and sensor), and rows →
completions (concurrent or a batch job, with the batch output asset and its sensor).

``dg scaffold defs dagster_labeling.llm_engine.LLMEngineFineTuneComponent sentiment_model`` and
``dg scaffold defs dagster_labeling.llm_engine.LLMEngineCompletionsComponent answers`` write a working
``defs.yaml`` and a sample file; every option of :func:`build_llm_engine_training_file_asset`,
:func:`build_llm_engine_fine_tune_asset`, :func:`build_llm_engine_fine_tune_sensor`,
:func:`build_llm_engine_completions_asset`, :func:`build_llm_engine_batch_output_asset` and
:func:`build_llm_engine_batch_completion_sensor` is an attribute.
"""

import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import dagster as dg
from pydantic import Field

from dagster_labeling._core import InvalidInput
from dagster_labeling._dagster.components import (
    DefsYamlScaffolder,
    PlatformComponent,
    RowsModel,
    SensorModel,
    build_schedule,
    resource_resolver,
    rows_upstream,
)
from dagster_labeling._dagster.sensors import DEFAULT_MAX_ATTEMPTS
from dagster_labeling.llm_engine.assets import (
    build_llm_engine_batch_output_asset,
    build_llm_engine_completions_asset,
    build_llm_engine_fine_tune_asset,
    build_llm_engine_training_file_asset,
)
from dagster_labeling.llm_engine.resource import LLMEngineResource
from dagster_labeling.llm_engine.sensors import (
    build_llm_engine_batch_completion_sensor,
    build_llm_engine_fine_tune_sensor,
)

T = TypeVar("T")

def _defined(component: str, attribute_of: Callable[[str | None], str], build: Callable[[], T]) -> T:
    """``build()``, with a factory's refusal of a bad option re-raised naming the component and the attribute."""
    try:
        return build()
    except InvalidInput as err:
        raise dg.DagsterInvalidDefinitionError(
            f"component {component!r}: {attribute_of(err.field)}: {err}") from None


# -- fine-tune -------------------------------------------------------------------------------------------------


class LLMEngineTrainingFileModel(dg.Model):
    """The asset uploading the rows as the fine-tune's training file (a CSV in LLM Engine)."""

    name: str | None = Field(default=None, description="Asset name; defaults to <name>_training_file.")
    description: str | None = Field(default=None, description="Asset description shown in the UI.")


class LLMEngineFineTuneSensorModel(SensorModel):
    """The sensor that collects a fine-tune launched without waiting once it finishes: it runs the fine-tune asset
    again (job ``<name>_collect``, waiting), which reattaches to the finished fine-tune, outputs the fine-tuned
    model name and evaluates the eval-loss check."""

    report_existing: bool = Field(
        default=True, description="On the first tick, also collect fine-tunes of this asset that already finished "
        "(only those a run of this asset launched are ever reported).")
    max_fine_tunes_per_tick: int = Field(default=10, description="Fine-tunes collected per tick; the rest carry over.")
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS,
                              description="Runs requested per finished fine-tune when runs fail or are canceled.")


@dg.scaffold_with(DefsYamlScaffolder)
class LLMEngineFineTuneComponent(PlatformComponent):
    """Prompt/response rows uploaded as an LLM Engine training file, a fine-tune of a base model on it (one per
    partition, never launched twice) with the ``eval_loss_below_threshold`` check, the sensor collecting a
    fine-tune launched without waiting, and an optional schedule."""


    resource: Annotated[Any, resource_resolver(LLMEngineResource)]  # an LLMEngineResource (the type is not YAML)
    resource_key: str = Field(default="llm_engine", description="Resource key the assets and sensor use.")
    name: str = Field(description="Name of the fine-tune asset; its value is the fine-tuned model's name.")
    rows: RowsModel = Field(description="The training rows (prompt and response columns): an upstream asset or a file.")
    prompt_column: str = Field(default="prompt", description="Column of the prompts.")
    response_column: str = Field(default="response", description="Column of the expected responses.")
    training_file: LLMEngineTrainingFileModel = Field(
        default_factory=LLMEngineTrainingFileModel, description="The training file asset.")
    base_model: str = Field(description="Model to fine-tune, e.g. llama-2-7b or mistral-7b.")
    hyperparameters: dict[str, str | int | float] = Field(
        default_factory=dict, description="Fine-tune hyperparameters, e.g. {epochs: 3, lr: 0.0002}.")
    suffix: str | None = Field(default=None, description="Suffix of the fine-tuned model's name.")
    validation_file: str | None = Field(default=None, description="File id or URL of a validation CSV.")
    wandb_config: dict[str, Any] | None = Field(default=None, description="Weights & Biases settings of the job.")
    allow_unknown_model: bool = Field(
        default=False, description="Accept a base model missing from the list of fine-tunable models.")
    wait_for_completion: bool = Field(
        default=True, description="Block until the fine-tune finishes; else the fine-tune sensor collects it.")
    wait_timeout_seconds: float = Field(default=24 * 3600, description="Give up waiting after this long.")
    poll_interval_seconds: float = Field(default=30.0, description="First poll interval; it grows to 60 s.")
    cancel_on_termination: bool = Field(default=True, description="Cancel the fine-tune when the run is terminated.")
    cancel_on_timeout: bool = Field(default=False, description="Cancel the fine-tune when the wait times out.")
    eval_loss_threshold: float | None = Field(
        default=None, description="The check passes when the final eval loss is below it (and below the first "
        "epoch's); unset: only below the first epoch's.")
    check_severity: Literal["warn", "error"] = Field(default="warn", description="Severity of a failed check.")
    description: str | None = Field(default=None, description="Description of the fine-tune asset.")
    pool: str | None = Field(default=None, description="Dagster concurrency pool of the fine-tune asset.")
    fine_tune_sensor: LLMEngineFineTuneSensorModel | None = Field(
        default=None, description="The sensor collecting fine-tunes launched without waiting; null leaves it out.")

    scaffold_yaml: ClassVar[str] = """
        # A fine-tune on LLM Engine from a CSV of prompt/response pairs, and the sensor collecting it. Set
        # LLM_ENGINE_API_KEY (your Scale API key) and, for the emulator `dagster-labeling emulate`,
        # LLM_ENGINE_BASE_URL=http://127.0.0.1:8765/llm-engine/ (key: emulator-key), e.g. in .env.
        attributes:
          resource:
            api_key: "{{ env.LLM_ENGINE_API_KEY }}"
            base_url: "{{ env('LLM_ENGINE_BASE_URL', 'https://api.spellbook.scale.com/llm-engine/') }}"
          name: sentiment_model
          rows:
            file: training_pairs.csv   # columns prompt and response (LLM Engine advises at least 200 rows)
          base_model: llama-2-7b
          hyperparameters:
            epochs: 3
          suffix: review-sentiment
          eval_loss_threshold: 1.5     # the check: final eval loss below this and below the first epoch's
          wait_for_completion: false   # launch and return; the fine-tune sensor collects the model
          fine_tune_sensor:
            minimum_interval_seconds: 60
            default_status: running
        """
    scaffold_files: ClassVar[dict[str, str]] = {
        "training_pairs.csv": """
            prompt,response
            "Review: Battery lasts two days. Love it. Sentiment:",positive
            "Review: Screen cracked in a week. Sentiment:",negative
            "Review: Does what it says, nothing more. Sentiment:",neutral
            "Review: Best purchase this year. Sentiment:",positive
            "Review: Stopped charging after a month. Sentiment:",negative
            """,
    }

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        upstream, extra = rows_upstream(self.rows, name=self.name, folder=context.path,
                                        partitions_def=self.partitions, group_name=self.group_name,
                                        key_prefix=self.key_prefix)
        training_file = build_llm_engine_training_file_asset(
            name=self.training_file.name or f"{self.name}_training_file", upstream=upstream,
            prompt_column=self.prompt_column, response_column=self.response_column, partitions_def=self.partitions,
            resource_key=self.resource_key, key_prefix=self.key_prefix, group_name=self.group_name,
            description=self.training_file.description,
        )
        fine_tune = _defined(self.name, lambda field: field or "base_model", lambda: build_llm_engine_fine_tune_asset(
            name=self.name, training_file_asset=training_file, base_model=self.base_model,
            hyperparameters=self.hyperparameters or None, suffix=self.suffix, validation_file=self.validation_file,
            wandb_config=self.wandb_config, allow_unknown_model=self.allow_unknown_model,
            wait_for_completion=self.wait_for_completion, wait_timeout_seconds=self.wait_timeout_seconds,
            poll_interval_seconds=self.poll_interval_seconds, cancel_on_termination=self.cancel_on_termination,
            cancel_on_timeout=self.cancel_on_timeout, eval_loss_threshold=self.eval_loss_threshold,
            check_severity=dg.AssetCheckSeverity(self.check_severity.upper()), partitions_def=self.partitions,
            resource_key=self.resource_key, key_prefix=self.key_prefix, group_name=self.group_name,
            description=self.description, pool=self.pool,
        ))
        assets = [*extra, training_file, fine_tune]
        jobs: list[Any] = []
        sensors = []
        if self.fine_tune_sensor is not None:
            sensor = self.fine_tune_sensor
            # The collecting run materializes the fine-tune asset again, waiting: it reattaches to the finished
            # fine-tune, outputs the model name and evaluates the eval-loss check.
            collect = dg.define_asset_job(
                f"{self.name}_collect", selection=dg.AssetSelection.assets(fine_tune),
                config={"ops": {fine_tune.node_def.name: {"config": {"wait_for_completion": True}}}},
                description=f"Collects a finished fine-tune of {fine_tune.key.to_user_string()}.")
            jobs.append(collect)
            sensors.append(build_llm_engine_fine_tune_sensor(
                name=sensor.name or f"{self.name}_fine_tune", job=collect, fine_tune_asset=fine_tune,
                base_model=self.base_model, report_existing=sensor.report_existing, launched_only=True,
                resource_key=self.resource_key, max_fine_tunes_per_tick=sensor.max_fine_tunes_per_tick,
                max_attempts=sensor.max_attempts, minimum_interval_seconds=sensor.minimum_interval_seconds,
                default_status=sensor.status,
            ))
        schedules = []
        if self.schedule is not None:
            # The fine-tune asset starts the work whether it waits or not; without waiting the sensor collects.
            job, schedule = build_schedule(self.schedule, component_name=self.name, assets=assets,
                                           partitions_def=self.partitions)
            jobs.append(job)
            schedules.append(schedule)
        return dg.Definitions(assets=assets, sensors=sensors, jobs=jobs, schedules=schedules,
                              resources={self.resource_key: self.resource})


# -- completions -----------------------------------------------------------------------------------------------


class LLMEngineCompletionParametersModel(dg.Model):
    """Completion parameters (unset ones take LLM Engine's defaults); checked when the definitions load. A batch
    job takes max_new_tokens, temperature, stop_sequences, return_token_log_probs, presence_penalty,
    frequency_penalty, top_k, top_p and skip_special_tokens; the others apply to concurrent completions only."""

    max_new_tokens: int | None = Field(default=None, description="Tokens generated per prompt at most (default 20).")
    temperature: float | None = Field(default=None, description="Sampling temperature in [0, 1] (default 0.2).")
    stop_sequences: list[str] | None = Field(default=None, description="Generation stops at any of these.")
    return_token_log_probs: bool | None = Field(default=None, description="Return each token's log probability.")
    presence_penalty: float | None = Field(default=None, description="Presence penalty in [0, 2].")
    frequency_penalty: float | None = Field(default=None, description="Frequency penalty in [0, 2].")
    top_k: int | None = Field(default=None, description="Sample from the k likeliest tokens (-1: all).")
    top_p: float | None = Field(default=None, description="Nucleus sampling mass in (0, 1].")
    include_stop_str_in_output: bool | None = Field(default=None, description="Keep the stop sequence in the text.")
    guided_json: dict[str, Any] | None = Field(default=None, description="A JSON schema the output follows.")
    guided_regex: str | None = Field(default=None, description="A regular expression the output matches.")
    guided_choice: list[str] | None = Field(default=None, description="The output is one of these.")
    guided_grammar: str | None = Field(default=None, description="A context-free grammar the output follows.")
    skip_special_tokens: bool | None = Field(default=None, description="Leave special tokens out of the text.")


class LLMEngineBatchOutputModel(dg.Model):
    """The asset collecting the completions of a batch job the completions asset handed off (wait_for_batch:
    false); completions already in the completions asset (waited for, or concurrent) pass through."""

    name: str | None = Field(default=None, description="Asset name; defaults to <name>_batch_output.")
    allow_partial: bool = Field(default=True, description="Succeed when some rows failed (they are listed).")
    wait_for_completion: bool = Field(
        default=True, description="Wait for a batch job that still runs; else fail and let the sensor request it.")
    wait_timeout_seconds: float = Field(default=6 * 3600, description="Give up waiting after this long.")
    poll_interval_seconds: float = Field(default=10.0, description="First poll interval; it grows to 60 s.")
    description: str | None = Field(default=None, description="Asset description shown in the UI.")


class LLMEngineBatchSensorModel(SensorModel):
    """The sensor that materializes the batch output asset when a handed-off batch job finishes."""

    max_jobs_per_tick: int = Field(default=25, description="Batch jobs checked per tick; the rest carry over.")
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS,
                              description="Runs requested per finished batch job when runs fail or are canceled.")


@dg.scaffold_with(DefsYamlScaffolder)
class LLMEngineCompletionsComponent(PlatformComponent):
    """A DataFrame of prompts run through an LLM Engine model (a named model or the output of a fine-tune asset):
    concurrent completions, or one batch-completions job waited for or handed off to the batch sensor and the
    batch output asset, and an optional schedule."""


    resource: Annotated[Any, resource_resolver(LLMEngineResource)]  # an LLMEngineResource (the type is not YAML)
    resource_key: str = Field(default="llm_engine", description="Resource key the assets and sensor use.")
    name: str = Field(description="Name of the completions asset (columns key, prompt, completion, tokens, error).")
    rows: RowsModel = Field(description="The prompts: an upstream asset or a file.")
    model_name: str | None = Field(
        default=None, description="Model endpoint name, e.g. llama-2-7b (or model_asset); the factory's model.")
    model_asset: str | None = Field(
        default=None, description="Key of an asset whose value is a model name, e.g. a fine-tune (or model_name).")
    prompt_column: str = Field(default="prompt", description="Column of the prompts.")
    key_column: str | None = Field(default=None, description="Column of a stable key per row; default: the index.")
    mode: Literal["auto", "concurrent", "batch"] = Field(
        default="auto", description="concurrent (one request per row), batch (one batch job) or auto (batch from "
        "batch_threshold rows when batch_output_dir is set).")
    batch_threshold: int = Field(default=1000, description="Rows from which auto mode runs a batch job.")
    batch_output_dir: str | None = Field(
        default=None, description="Folder the batch job writes its results to and they are read from: a local path "
        "(relative to this defs.yaml) or a file:// URL.")
    concurrency: int | None = Field(
        default=None, description="Concurrent completions in flight; default: the resource's max_concurrency.")
    allow_partial: bool = Field(default=True, description="Succeed when some rows failed (they are listed).")
    wait_for_batch: bool = Field(
        default=True, description="Wait for the batch job; else hand it off to the batch sensor and batch output.")
    wait_timeout_seconds: float = Field(default=6 * 3600, description="Give up waiting for the batch after this long.")
    poll_interval_seconds: float = Field(default=10.0, description="First poll interval; it grows to 60 s.")
    parameters: LLMEngineCompletionParametersModel = Field(
        default_factory=LLMEngineCompletionParametersModel, description="Completion parameters.")
    description: str | None = Field(default=None, description="Description of the completions asset.")
    batch_output: LLMEngineBatchOutputModel | None = Field(
        default=None, description="The batch output asset; needed when wait_for_batch is false.")
    batch_sensor: LLMEngineBatchSensorModel | None = Field(
        default=None, description="The sensor materializing batch_output when a handed-off job finishes.")

    scaffold_yaml: ClassVar[str] = """
        # Completions on LLM Engine of the prompts in a CSV; large inputs run as a batch job. Set
        # LLM_ENGINE_API_KEY (your Scale API key) and, for the emulator `dagster-labeling emulate`,
        # LLM_ENGINE_BASE_URL=http://127.0.0.1:8765/llm-engine/ (key: emulator-key), e.g. in .env.
        attributes:
          resource:
            api_key: "{{ env.LLM_ENGINE_API_KEY }}"
            base_url: "{{ env('LLM_ENGINE_BASE_URL', 'https://api.spellbook.scale.com/llm-engine/') }}"
          name: answers
          rows:
            file: prompts.csv
          model_name: llama-2-7b       # or model_asset: <a fine-tune asset>
          key_column: id
          parameters:
            max_new_tokens: 20
            temperature: 0.2
          mode: auto                   # concurrent below batch_threshold rows, one batch job from it
          batch_threshold: 1000
          batch_output_dir: batch_outputs  # where batch jobs write (a path both LLM Engine and Dagster can read)
          wait_for_batch: false        # a batch job is handed off: the batch sensor materializes batch_output
          batch_output: {}
          batch_sensor:
            minimum_interval_seconds: 60
            default_status: running
        """
    scaffold_files: ClassVar[dict[str, str]] = {
        "prompts.csv": """
            id,prompt
            q1,"Review: Battery lasts two days. Love it. Sentiment:"
            q2,"Review: Screen cracked in a week. Sentiment:"
            q3,"Review: Does what it says, nothing more. Sentiment:"
            """,
    }

    def _output_dir(self, folder: Path) -> str | None:
        if not self.batch_output_dir:
            return None
        scheme = urllib.parse.urlparse(self.batch_output_dir).scheme
        if scheme or Path(self.batch_output_dir).is_absolute():
            return self.batch_output_dir
        return str(folder / self.batch_output_dir)

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        if not self.wait_for_batch and self.batch_output is None:
            raise dg.DagsterInvalidDefinitionError(
                f"component {self.name!r}: wait_for_batch: false hands batch jobs off; set batch_output (and "
                "batch_sensor) to collect their completions")
        if self.batch_sensor is not None and self.batch_output is None:
            raise dg.DagsterInvalidDefinitionError(
                f"component {self.name!r}: batch_sensor materializes the batch output asset; set batch_output")
        upstream, extra = rows_upstream(self.rows, name=self.name, folder=context.path,
                                        partitions_def=self.partitions, group_name=self.group_name,
                                        key_prefix=self.key_prefix)
        params = self.parameters.model_dump(exclude_none=True)

        def attribute(field: str | None) -> str:
            if field in params or field in LLMEngineCompletionParametersModel.model_fields:
                return f"parameters.{field}"
            return field or "model"

        completions = _defined(self.name, attribute, lambda: build_llm_engine_completions_asset(
            name=self.name, upstream=upstream, model=self.model_name,
            model_asset=dg.AssetKey.from_user_string(self.model_asset) if self.model_asset else None,
            prompt_column=self.prompt_column, key_column=self.key_column, mode=self.mode,
            batch_threshold=self.batch_threshold, batch_output_dir=self._output_dir(context.path),
            concurrency=self.concurrency, allow_partial=self.allow_partial, wait_for_batch=self.wait_for_batch,
            wait_timeout_seconds=self.wait_timeout_seconds, poll_interval_seconds=self.poll_interval_seconds,
            partitions_def=self.partitions, resource_key=self.resource_key, key_prefix=self.key_prefix,
            group_name=self.group_name, description=self.description, **params,
        ))
        assets = [*extra, completions]
        sensors = []
        batch_output = None
        if self.batch_output is not None:
            out = self.batch_output
            batch_output = build_llm_engine_batch_output_asset(
                name=out.name or f"{self.name}_batch_output", completions_asset=completions,
                allow_partial=out.allow_partial, wait_for_completion=out.wait_for_completion,
                wait_timeout_seconds=out.wait_timeout_seconds, poll_interval_seconds=out.poll_interval_seconds,
                resource_key=self.resource_key, key_prefix=self.key_prefix, group_name=self.group_name,
                description=out.description,
            )
            assets.append(batch_output)
            if self.batch_sensor is not None:
                sensor = self.batch_sensor
                sensors.append(build_llm_engine_batch_completion_sensor(
                    name=sensor.name or f"{self.name}_batch", completions_asset=completions, target=batch_output,
                    resource_key=self.resource_key, max_jobs_per_tick=sensor.max_jobs_per_tick,
                    max_attempts=sensor.max_attempts, minimum_interval_seconds=sensor.minimum_interval_seconds,
                    default_status=sensor.status,
                ))
        jobs, schedules = [], []
        if self.schedule is not None:
            # Handing off, the schedule starts the completions; the batch sensor collects the batch output.
            scheduled = assets if self.wait_for_batch else [a for a in assets if a is not batch_output]
            job, schedule = build_schedule(self.schedule, component_name=self.name, assets=scheduled,
                                           partitions_def=self.partitions)
            jobs.append(job)
            schedules.append(schedule)
        return dg.Definitions(assets=assets, sensors=sensors, jobs=jobs, schedules=schedules,
                              resources={self.resource_key: self.resource})
