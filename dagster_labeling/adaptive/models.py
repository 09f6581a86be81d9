"""Typed results of the Adaptive ML API (GraphQL results are camelCase, timestamps epoch milliseconds).

>>> test = AbTest.model_validate({"id": "1", "key": "ab", "status": "DONE", "report": {"pValue": 0.01, "variants": [
...     {"variant": {"id": "a", "key": "model-a"}, "interval": {"start": 0.5, "middle": 0.6, "end": 0.7}},
...     {"variant": {"id": "b", "key": "model-b"}, "interval": {"start": 0.7, "middle": 0.8, "end": 0.9}}]}})
>>> test.winner(), test.winner(higher_is_better=False)
('model-b', 'model-a')
"""

from enum import Enum
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Graph(BaseModel):
    """A GraphQL result: camelCase on the wire, snake_case here; unknown fields kept."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class AbTestStatus(str, Enum):
    WARMUP = "WARMUP"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    CANCELLED = "CANCELLED"


class JobStatus(str, Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"


class Ref(_Graph):
    """A reference to another object: id, key, name."""

    id: str
    key: str | None = None
    name: str | None = None


class FeedbackKey(_Graph):
    """A metric (``feedback key``): what interactions are scored on."""

    id: str
    key: str
    name: str | None = None
    kind: str | None = None  # SCALAR or BOOL
    description: str | None = None
    scoring_type: str | None = None  # HIGHER_IS_BETTER or LOWER_IS_BETTER
    created_at: Any = None


class Model(_Graph):
    id: str
    key: str
    name: str | None = None
    online: str | None = None
    error: str | None = None
    is_external: bool | None = None
    provider_name: str | None = None
    is_adapter: bool | None = None
    is_training: bool | None = None
    created_at: Any = None
    size: int | None = None


class ModelService(_Graph):
    """A model attached to a project."""

    id: str
    key: str
    name: str | None = None
    model: Model | None = None
    is_default: bool = False
    desired_online: bool | None = None
    created_at: Any = None


class Project(_Graph):
    id: str
    key: str
    name: str | None = None
    description: str | None = None
    created_at: Any = None
    metrics: list[FeedbackKey] = Field(default_factory=list)
    model_services: list[ModelService] = Field(default_factory=list)

    @property
    def default_model(self) -> str | None:
        """The key of the project's default model service, if one is set."""
        return next((s.key for s in self.model_services if s.is_default), None)


class Interval(_Graph):
    start: float | None = None
    middle: float | None = None
    end: float | None = None


class Comparison(_Graph):
    variant: Ref
    scores: int = 0
    wins: int = 0
    losses: int = 0
    ties_good: int = 0
    ties_bad: int = 0


class VariantReport(_Graph):
    variant: Ref
    interval: Interval | None = None
    scores: int = 0
    comparisons: list[Comparison] | None = None


class AbTestReport(_Graph):
    p_value: float | None = None
    variants: list[VariantReport] = Field(default_factory=list)


class AbTest(_Graph):
    """An A/B test (``Abcampaign``) with its report once it has scores."""

    id: str
    key: str
    status: str
    begin_date: int | None = None
    end_date: int | None = None
    score_type: str | None = None  # DIRECT (metric) or COMPARISON (preference)
    traffic_split: float | None = None
    metric: FeedbackKey | None = None
    project: Ref | None = None
    models: list[Ref] = Field(default_factory=list)
    scores: int | None = None
    has_enough_scores: bool | None = None
    report: AbTestReport | None = None

    def winner(self, *, higher_is_better: bool | None = None) -> str | None:
        """The key of the best variant: the best score estimate (``interval.middle``), or for comparison tests
        the most head-to-head wins. The API has no winner field; None without a report.

        ``higher_is_better`` defaults to the metric's scoring type (HIGHER_IS_BETTER unless it says otherwise).
        """
        variants = self.report.variants if self.report else []
        if not variants:
            return None
        if higher_is_better is None:
            higher_is_better = (self.metric.scoring_type if self.metric else None) != "LOWER_IS_BETTER"
        if self.score_type == "COMPARISON":
            best = max(variants, key=lambda v: sum(c.wins for c in v.comparisons or []))
            return best.variant.key
        estimates = {v.variant.key: v.interval.middle for v in variants
                     if v.interval is not None and v.interval.middle is not None}
        if not estimates:
            return None
        pick = max if higher_is_better else min
        return pick(estimates, key=lambda variant_key: estimates[variant_key])


class Dataset(_Graph):
    id: str
    key: str
    name: str | None = None
    created_at: Any = None
    kind: str | None = None
    records: int | None = None
    download_url: str | None = None


class EvalResult(_Graph):
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    count: int | None = None
    model_service: dict[str, Any] | None = None
    metric: dict[str, Any] | None = None


class Job(_Graph):
    """A recipe job (training, evaluation…)."""

    id: str
    name: str | None = None
    status: str
    created_at: Any = None
    started_at: int | None = None
    ended_at: int | None = None
    progress: float | None = None
    error: str | None = None
    kind: str | None = None
    artifacts: list[dict[str, Any]] = Field(default_factory=list)
    recipe: Ref | None = None
    details: dict[str, Any] | None = None

    @property
    def args(self) -> dict[str, Any] | None:
        """The recipe's arguments the job was started with (a custom recipe job's ``details.args``)."""
        args = (self.details or {}).get("args")
        return dict(args) if isinstance(args, dict) else None

    @property
    def eval_results(self) -> list[EvalResult]:
        """Evaluation results from the job's EVALUATION artifacts."""
        results: list[EvalResult] = []
        for artifact in self.artifacts:
            if artifact.get("kind") != "EVALUATION":
                continue
            for raw in (artifact.get("byproducts") or {}).get("evalResults") or []:
                results.append(EvalResult.model_validate(raw))
        return results


class DirectScore(_Graph):
    id: str
    value: float | None = None
    metric: FeedbackKey | None = None
    details: str | None = None
    created_at: Any = None


class ComparisonScore(_Graph):
    """A preference between two completions (``preferedCompletion``, sic, as the API spells it)."""

    id: str
    metric: Ref | None = None
    prefered_completion: Ref | None = None
    other_completion: Ref | None = None
    created_at: Any = None


class Label(_Graph):
    key: str
    value: str


class Interaction(_Graph):
    """A completion stored by Adaptive (``Completion``): the prompt, the answer, its scores."""

    id: str
    chat_messages: list[dict[str, Any]] = Field(default_factory=list)
    completion: str | None = None
    source: str | None = None
    model: Ref | None = None
    direct_scores: list[DirectScore] = Field(default_factory=list)
    comparison_scores: list[ComparisonScore] = Field(default_factory=list)
    labels: list[Label] = Field(default_factory=list)
    created_at: Any = None


# -- REST results (snake_case) -------------------------------------------------------------------------
class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: Any = None


class ChatChoice(BaseModel):
    model_config = ConfigDict(extra="allow")

    index: int = 0
    message: ChatMessage | None = None
    delta: ChatMessage | None = None
    finish_reason: str | None = None
    completion_id: str | None = None
    model: str | None = None


class Usage(BaseModel):
    completion_tokens: int = 0
    prompt_tokens: int = 0
    total_tokens: int = 0


class ChatResponse(BaseModel):
    """A chat completion (or, streaming, one chunk: ``choices[i].delta``)."""

    model_config = ConfigDict(extra="allow")

    id: str
    created: float | None = None
    choices: list[ChatChoice] = Field(default_factory=list)
    session_id: str | None = None
    usage: Usage | None = None

    @property
    def text(self) -> str:
        """The first choice's content (message or delta)."""
        if not self.choices:
            return ""
        first = self.choices[0].message or self.choices[0].delta
        return str(first.content or "") if first else ""

    @property
    def completion_id(self) -> str | None:
        """The id to attach feedback to (``log_metric``)."""
        return self.choices[0].completion_id if self.choices else None

    @property
    def completion_ids(self) -> list[str]:
        """Every choice's completion id, by index (``n`` completions)."""
        return [c.completion_id for c in sorted(self.choices, key=lambda c: c.index) if c.completion_id]


class InteractionCreated(BaseModel):
    completion_id: str
    session_id: str | None = None
    feedback_ids: list[str] = Field(default_factory=list)


class ComparisonCreated(BaseModel):
    comparison_id: str = Field(validation_alias=AliasChoices("comparison_id", "id"))
