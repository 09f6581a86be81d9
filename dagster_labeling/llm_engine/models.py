"""Typed responses of the LLM Engine API (``scale-llm-engine`` 0.0.0b45 wire format).

Unknown keys are ignored (the service adds fields); enums stay open strings where the server may send
values the SDK does not know (e.g. the ``sglang`` inference framework).
"""

import ast
import enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())


class FineTuneStatus(str, enum.Enum):
    """Status of a fine-tune (``BatchJobStatus``); ``STARTED`` from the SDK docstrings is not one."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCELLED = "CANCELLED"
    UNDEFINED = "UNDEFINED"
    TIMEOUT = "TIMEOUT"


class BatchCompletionStatus(str, enum.Enum):
    """Status of a v2 batch-completions job (lower case on the wire)."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class TokenOutput(_Model):
    token: str
    log_prob: float


class CompletionOutput(_Model):
    text: str
    num_prompt_tokens: int | None = None
    num_completion_tokens: int
    tokens: list[TokenOutput] | None = None


class CompletionResponse(_Model):
    """``CompletionSyncV1Response``."""

    request_id: str | None = None
    output: CompletionOutput


class StreamOutput(_Model):
    text: str
    finished: bool
    num_prompt_tokens: int | None = None
    num_completion_tokens: int | None = None
    token: TokenOutput | None = None


class StreamErrorContent(_Model):
    error: str
    timestamp: str | None = None


class StreamError(_Model):
    status_code: int
    content: StreamErrorContent


class CompletionChunk(_Model):
    """One server-sent event of a completion stream (``CompletionStreamV1Response``)."""

    request_id: str | None = None
    output: StreamOutput | None = None
    error: StreamError | None = None


class BatchCompletionJob(_Model):
    """A batch-completions job (v2 ``BatchCompletionsJob``; v1 create answers only ``job_id``)."""

    job_id: str
    input_data_path: str | None = None
    output_data_path: str | None = None
    model_config_: dict[str, Any] | None = Field(default=None, alias="model_config")
    priority: str | None = None
    status: str | None = None
    created_at: str | None = None
    expires_at: str | None = None
    completed_at: str | None = None
    metadata: dict[str, Any] | None = None


class FineTune(_Model):
    """``GetFineTuneResponse``."""

    id: str
    fine_tuned_model: str | None = None
    status: str


class FineTuneEvent(_Model):
    timestamp: float | None = None
    message: str
    level: str

    def metrics(self) -> dict[str, float]:
        """The numbers in a trainer log line such as ``{'loss': 2.1, 'epoch': 0.7}`` (empty if none)."""
        text = self.message.strip()
        if not (text.startswith("{") and text.endswith("}")):
            return {}
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return {}
        if not isinstance(value, dict):
            return {}
        return {str(k): float(v) for k, v in value.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


class LossPoint(_Model):
    """Train and eval loss at one epoch, parsed from a fine-tune's events."""

    epoch: float
    train_loss: float | None = None
    eval_loss: float | None = None


class ModelEndpoint(_Model):
    """``GetLLMEndpointResponse``."""

    id: str | None = None
    name: str
    model_name: str | None = None
    source: str | None = None
    status: str | None = None
    inference_framework: str | None = None
    inference_framework_tag: str | None = None
    num_shards: int | None = None
    quantize: str | None = None
    spec: dict[str, Any] | None = None
    chat_template_override: str | None = None


class FileInfo(_Model):
    """``GetFileResponse``."""

    id: str
    filename: str
    size: int


class FileContent(_Model):
    id: str
    content: str


def loss_curve(events: list[FineTuneEvent]) -> list[LossPoint]:
    """Train/eval loss per epoch from trainer events, in epoch order.

    >>> ev = [FineTuneEvent(message="{'loss': 2.0, 'epoch': 1.0}", level="info"),
    ...       FineTuneEvent(message="{'eval_loss': 1.5, 'epoch': 1.0}", level="info")]
    >>> loss_curve(ev)[0].eval_loss
    1.5
    """
    points: dict[float, LossPoint] = {}
    for event in events:
        m = event.metrics()
        if "epoch" not in m or not ({"loss", "eval_loss"} & set(m)):
            continue
        point = points.setdefault(m["epoch"], LossPoint(epoch=m["epoch"]))
        if "loss" in m:
            point.train_loss = m["loss"]
        if "eval_loss" in m:
            point.eval_loss = m["eval_loss"]
    return [points[k] for k in sorted(points)]
