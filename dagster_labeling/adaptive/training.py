"""Training and evaluation on Adaptive ML as typed configs, run as today's recipe jobs.

The older SDK (0.1.x, the seed's ``training.jobs.create`` and ``evaluation.jobs.create``) had dedicated
``CreateTrainingJob`` and ``CreateEvaluationJob`` mutations. Since 0.13 both are *recipe jobs*: ``jobs.run
(recipe_key, num_gpus, args)`` = GraphQL ``CreateJob {recipe, project, args, name, computePool, numGpus}``,
where ``args`` must match the recipe's input schema. :class:`TrainingConfig` and :class:`EvaluationConfig`
describe what the seed described (model, data source, sample config, alignment method, parameter-efficient,
hyperparameters; models, judge, method, custom guidelines) and translate it into the recipe ``args`` below.
Adaptive does not document built-in recipe keys: ``recipe`` names the recipe of your deployment that takes these
args (defaults: ``sft``, ``dpo``, ``ppo``, ``grpo`` per method; ``ai-judge-eval`` for evaluations), and
``extra_args`` adds or overrides keys for a recipe whose schema differs.

Training args: ``model``, ``output_model_key``, ``output_model_name`` (when given), ``alignment_method`` (``SFT``,
``DPO``, ``PPO``, ``GRPO``), ``parameter_efficient``, ``dataset`` (a dataset key) or ``completions``
(``{"selection", "max_samples"}``: the project's logged interactions), ``feedback_type`` (``metric`` or
``preference``, when set), ``feedback_key`` (the objective of DPO/PPO/GRPO), ``learning_rate``, ``num_epochs``,
``batch_size``, ``num_validations``. Evaluation args: ``models``, ``judge_model``, ``method``
(``answer_relevancy``, ``context_relevancy``, ``faithfulness``, ``custom``), ``metric`` (the method's name, or the
custom guidelines' metric), ``guidelines`` (custom), ``dataset`` or ``completions``.

The emulator runs any recipe: a training job ends COMPLETED with a ``MODEL`` artifact and registers the model
(``output_model_key``); an evaluation (a recipe whose key contains ``eval``, or args with a ``judge_model``)
ends with an ``EVALUATION`` artifact whose ``evalResults`` hold a mean per model and metric.

>>> config = TrainingConfig(model="llama-3.1-8b-instruct", data=DatasetSource(dataset="reviewed"),
...                         output_model_key="support-sft")
>>> config.recipe_key(), config.to_recipe_args()["dataset"], config.to_recipe_args()["alignment_method"]
('sft', 'reviewed', 'SFT')
"""

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dagster_labeling.adaptive.models import EvalResult, Job

if TYPE_CHECKING:
    from dagster_labeling.adaptive.handles import AdaptiveJobHandle

AlignmentMethod = Literal["SFT", "DPO", "PPO", "GRPO"]
EvaluationMethod = Literal["answer_relevancy", "context_relevancy", "faithfulness", "custom"]
DEFAULT_EVALUATION_RECIPE = "ai-judge-eval"
LEGACY_RECIPES = {"answer_relevancy": "answerRelevancy", "context_relevancy": "contextRelevancy",
                  "faithfulness": "faithfulness"}


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetSource(_Config):
    """Train or evaluate on an uploaded dataset (its key in the project)."""

    dataset: str = Field(min_length=1)


class CompletionsSource(_Config):
    """Train or evaluate on the project's logged interactions: ``selection`` (the legacy ``selectionType``;
    ``ALL`` is the value the SDK sent) and at most ``max_samples`` of them."""

    selection: str = Field(default="ALL", min_length=1)
    max_samples: int | None = Field(default=None, ge=1)


DataSource = DatasetSource | CompletionsSource


def _source_args(source: DataSource) -> dict[str, Any]:
    if isinstance(source, DatasetSource):
        return {"dataset": source.dataset}
    return {"completions": {"selection": source.selection.upper(), "max_samples": source.max_samples}}


def _legacy_source(source: DataSource) -> dict[str, Any]:
    if isinstance(source, DatasetSource):
        return {"dataset": {"dataset": source.dataset}}
    return {"completions": {"selectionType": source.selection.upper(), "maxSamples": source.max_samples}}


class Hyperparameters(_Config):
    """The training hyperparameters; the defaults are the ones the older SDK sent."""

    learning_rate: float = Field(default=1e-5, gt=0)
    num_epochs: int = Field(default=1, ge=1)
    batch_size: int = Field(default=32, ge=1)
    num_validations: int = Field(default=10, ge=0)


class TrainingConfig(_Config):
    """What to train (the seed's ``training.jobs.create``): ``model`` on ``data`` with ``alignment_method``.

    SFT learns the completions of ``data``; DPO learns preferences on ``feedback_key``; PPO and GRPO optimise
    the metric ``feedback_key`` (``feedback_type`` says which kind of feedback the samples carry: ``metric``
    for PPO/GRPO, ``preference`` for DPO, by default). ``parameter_efficient`` trains an adapter (the older
    SDK's ``PARAMETER_EFFICIENT``) rather than the full weights.
    """

    model: str = Field(min_length=1)
    data: DataSource
    alignment_method: AlignmentMethod = "SFT"
    feedback_key: str | None = None
    feedback_type: Literal["metric", "preference"] | None = None
    parameter_efficient: bool = True
    hyperparameters: Hyperparameters = Hyperparameters()
    output_model_key: str | None = None
    output_model_name: str | None = None
    recipe: str | None = None
    extra_args: Mapping[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _objective(self) -> "TrainingConfig":
        if self.alignment_method == "SFT":
            if self.feedback_key is not None:
                raise ValueError("SFT learns the completions of its data: it takes no feedback_key")
        elif not self.feedback_key:
            raise ValueError(f"{self.alignment_method} needs feedback_key (the metric or preference it optimises)")
        if self.alignment_method == "DPO" and self.feedback_type == "metric":
            raise ValueError("DPO learns from preferences: feedback_type must be 'preference' (or left unset)")
        if self.alignment_method in ("PPO", "GRPO") and self.feedback_type == "preference":
            raise ValueError(f"{self.alignment_method} optimises a metric: feedback_type must be 'metric' (or unset)")
        return self

    def recipe_key(self) -> str:
        """The recipe this config runs: ``recipe``, else the alignment method in lower case."""
        return self.recipe or self.alignment_method.lower()

    def sample_feedback_type(self) -> str | None:
        """The kind of feedback the samples carry (the sample config's ``feedbackType``)."""
        if self.feedback_type is not None:
            return self.feedback_type
        return {"SFT": None, "DPO": "preference"}.get(self.alignment_method, "metric")

    def to_recipe_args(self) -> dict[str, Any]:
        """The recipe job's ``args`` (see the module docstring), ``extra_args`` last."""
        args: dict[str, Any] = {"model": self.model, "alignment_method": self.alignment_method,
                                "parameter_efficient": self.parameter_efficient, **_source_args(self.data),
                                **self.hyperparameters.model_dump()}
        for key, value in (("output_model_key", self.output_model_key), ("output_model_name", self.output_model_name),
                           ("feedback_type", self.sample_feedback_type()), ("feedback_key", self.feedback_key)):
            if value is not None:
                args[key] = value
        return {**args, **dict(self.extra_args)}

    def legacy_input(self, project: str, name: str | None = None) -> dict[str, Any]:
        """The input the older SDK (0.1.x) sent as ``CreateTrainingJob`` for this config: the seed's call, for
        comparison (today's servers answer it no more)."""
        feedback = self.sample_feedback_type()
        objective: dict[str, Any] = ({"sft": {}} if self.alignment_method == "SFT"
                                     else {"metric": {"metricKey": self.feedback_key}})
        hp = self.hyperparameters
        return {"model": self.model, "useCase": project, "name": name, "config": {
            "outputName": self.output_model_key,
            "sampleConfig": {"feedbackType": {"metric": "DIRECT", "preference": "COMPARISON"}.get(feedback or ""),
                             "datasource": _legacy_source(self.data)},
            "trainingConfig": {
                "baseTrainingParams": {"learningRate": hp.learning_rate, "numEpochs": hp.num_epochs,
                                       "batchSize": hp.batch_size, "numValidations": hp.num_validations},
                # PARAMETER_EFFICIENT is the value the SDK sent; FULL_WEIGHTS is inferred (not captured)
                "trainingMetadata": {"trainingType": "PARAMETER_EFFICIENT" if self.parameter_efficient
                                     else "FULL_WEIGHTS", "alignmentMethod": self.alignment_method,
                                     "parameters": None},
                "trainingObjective": objective}},
            "computePool": None, "wait": False}


class CustomGuidelines(_Config):
    """A custom AI-judge evaluation: the judge scores each completion against ``guidelines`` on ``metric``
    (a feedback key; the older SDK could create it: ``new_metric``)."""

    guidelines: Sequence[str] = Field(min_length=1)
    metric: str = Field(min_length=1)
    new_metric: bool = False


class EvaluationConfig(_Config):
    """What to evaluate (the seed's ``evaluation.jobs.create``): ``models`` judged by ``judge_model`` with
    ``method`` on ``data``; ``custom`` (with ``method="custom"``) gives the guidelines and their metric."""

    models: Sequence[str] = Field(min_length=1)
    judge_model: str = Field(min_length=1)
    method: EvaluationMethod = "answer_relevancy"
    data: DataSource
    custom: CustomGuidelines | None = None
    recipe: str | None = None
    extra_args: Mapping[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _custom(self) -> "EvaluationConfig":
        if (self.method == "custom") != (self.custom is not None):
            raise ValueError("method='custom' needs custom=CustomGuidelines(...), and only it takes one")
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models are repeated: {list(self.models)}")
        return self

    def recipe_key(self) -> str:
        return self.recipe or DEFAULT_EVALUATION_RECIPE

    def metric(self) -> str:
        """The metric the results are reported on: the method's name, or the custom guidelines' metric."""
        return self.custom.metric if self.custom is not None else self.method

    def to_recipe_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"models": list(self.models), "judge_model": self.judge_model, "method": self.method,
                                "metric": self.metric(), **_source_args(self.data)}
        if self.custom is not None:
            args["guidelines"] = list(self.custom.guidelines)
        return {**args, **dict(self.extra_args)}

    def legacy_input(self, project: str, name: str | None = None) -> dict[str, Any]:
        """The input the older SDK (0.1.x) sent as ``CreateEvaluationJob`` for this config."""
        if self.custom is not None:
            metric = {"new": self.custom.metric} if self.custom.new_metric else {"existing": self.custom.metric}
            recipe: dict[str, Any] = {"custom": {"guidelines": list(self.custom.guidelines), "metric": metric}}
        else:
            recipe = {LEGACY_RECIPES[self.method]: {}}
        return {"useCase": project, "name": name, "kind": {"aijudge": {
            "sampleConfig": {"feedbackType": None, "datasource": _legacy_source(self.data)},
            "judge": self.judge_model, "recipe": recipe}},
            "modelServices": list(self.models), "modelServicesWithParams": [], "computePool": None}


class EvalScore(BaseModel):
    """One evaluation result: the mean (and spread) of ``metric`` for ``model``."""

    model: str
    metric: str
    mean: float
    min: float | None = None
    max: float | None = None
    count: int | None = None


def evaluation_scores(job: Job) -> list[EvalScore]:
    """The evaluation results of a finished job, one per model and metric (results without a mean are left out)."""
    out = []
    for result in job.eval_results:
        if not isinstance(result, EvalResult) or result.mean is None:
            continue
        model = (result.model_service or {}).get("key")
        metric = (result.metric or {}).get("key")
        if model and metric:
            out.append(EvalScore(model=str(model), metric=str(metric), mean=float(result.mean), min=result.min,
                                 max=result.max, count=result.count))
    return out


def trained_model(job: Job) -> str | None:
    """The key of the model a finished training job produced: its ``MODEL`` artifact's ``metadata.model_key``, else
    the artifact's name (inferred: Adaptive does not document the artifact's fields)."""
    for artifact in job.artifacts:
        if artifact.get("kind") == "MODEL":
            key = (artifact.get("metadata") or {}).get("model_key") or artifact.get("name")
            if key:
                return str(key)
    return None


class _RunsJobs(Protocol):
    def run_job(self, project: str, recipe: str, *, args: Mapping[str, Any] | None = None, name: str | None = None,
                num_gpus: int = 1, compute_pool: str | None = None) -> "AdaptiveJobHandle": ...


class TrainingMixin:
    """``train`` and ``evaluate`` on :class:`~dagster_labeling.adaptive.AdaptiveClient`: typed configs started as
    recipe jobs; each returns a job handle (``.wait()`` with progress, ``.cancel()``)."""

    def train(self: _RunsJobs, project: str, config: TrainingConfig, *, name: str | None = None, num_gpus: int = 1,
              compute_pool: str | None = None) -> "AdaptiveJobHandle":
        """Start a training job (the seed's ``training.jobs.create``) as the recipe ``config.recipe_key()``.
        Not retried once sent: a job start has no idempotency key (the Dagster assets reconcile by name)."""
        return self.run_job(project, config.recipe_key(), args=config.to_recipe_args(), name=name,
                            num_gpus=num_gpus, compute_pool=compute_pool)

    def evaluate(self: _RunsJobs, project: str, config: EvaluationConfig, *, name: str | None = None,
                 num_gpus: int = 1, compute_pool: str | None = None) -> "AdaptiveJobHandle":
        """Start an evaluation job (the seed's ``evaluation.jobs.create``) as the recipe ``config.recipe_key()``;
        when it completes, :func:`evaluation_scores` of ``handle.job`` gives a mean per model and metric."""
        return self.run_job(project, config.recipe_key(), args=config.to_recipe_args(), name=name,
                            num_gpus=num_gpus, compute_pool=compute_pool)
