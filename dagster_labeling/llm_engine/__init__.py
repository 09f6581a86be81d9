"""Scale LLM Engine: typed client, ``LLMEngineResource``, asset factories, sensors and an eval-loss check.

>>> import dagster as dg
>>> from dagster_labeling.llm_engine import LLMEngineResource
>>> resources = {"llm_engine": LLMEngineResource(api_key=dg.EnvVar("SCALE_API_KEY"))}
"""

from dagster_labeling.llm_engine.assets import (
    build_llm_engine_batch_output_asset,
    build_llm_engine_completions_asset,
    build_llm_engine_fine_tune_asset,
    build_llm_engine_training_file_asset,
)
from dagster_labeling.llm_engine.client import CallTimeouts, LLMEngineClient
from dagster_labeling.llm_engine.components import LLMEngineCompletionsComponent, LLMEngineFineTuneComponent
from dagster_labeling.llm_engine.errors import (
    LLMEngineBadRequest,
    LLMEngineException,
    LLMEngineNotFound,
    LLMEngineRateLimited,
    LLMEngineServerError,
    LLMEngineStreamError,
    LLMEngineUnauthorized,
)
from dagster_labeling.llm_engine.handles import BatchCompletionJobHandle, FineTuneJob
from dagster_labeling.llm_engine.models import (
    BatchCompletionJob,
    BatchCompletionStatus,
    CompletionChunk,
    CompletionOutput,
    CompletionResponse,
    FileContent,
    FileInfo,
    FineTune,
    FineTuneEvent,
    FineTuneStatus,
    LossPoint,
    ModelEndpoint,
    loss_curve,
)
from dagster_labeling.llm_engine.ops import (
    llm_engine_batch_completions_op,
    llm_engine_completions_op,
    llm_engine_fine_tune_op,
    llm_engine_upload_training_file_op,
)
from dagster_labeling.llm_engine.resource import LLMEngineResource
from dagster_labeling.llm_engine.sensors import (
    build_llm_engine_batch_completion_sensor,
    build_llm_engine_fine_tune_sensor,
)
from dagster_labeling.llm_engine.validation import FINE_TUNABLE_MODELS, completion_body, validate_model_name

__all__ = [
    "FINE_TUNABLE_MODELS", "BatchCompletionJob", "BatchCompletionJobHandle", "BatchCompletionStatus",
    "CallTimeouts", "CompletionChunk", "CompletionOutput", "CompletionResponse", "FileContent", "FileInfo",
    "FineTune", "FineTuneEvent", "FineTuneJob", "FineTuneStatus", "LLMEngineBadRequest", "LLMEngineClient",
    "LLMEngineException", "LLMEngineNotFound", "LLMEngineRateLimited", "LLMEngineResource", "LLMEngineServerError",
    "LLMEngineStreamError", "LLMEngineUnauthorized", "LossPoint", "ModelEndpoint", "completion_body", "loss_curve",
    "build_llm_engine_batch_completion_sensor", "build_llm_engine_batch_output_asset",
    "build_llm_engine_completions_asset",
    "build_llm_engine_fine_tune_asset", "build_llm_engine_fine_tune_sensor", "build_llm_engine_training_file_asset",
    "validate_model_name", "llm_engine_batch_completions_op", "llm_engine_completions_op", "llm_engine_fine_tune_op",
    "llm_engine_upload_training_file_op", "LLMEngineCompletionsComponent", "LLMEngineFineTuneComponent",
]
