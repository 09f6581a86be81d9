"""Adaptive ML: typed client (projects, feedback keys and feedback, chat, interactions, A/B tests, models,
datasets, recipe jobs), ``AdaptiveResource``, an A/B test asset and sensor, an interactions asset and a
recipe job (training, evaluation) asset, a dataset asset.

>>> import dagster as dg
>>> from dagster_labeling.adaptive import AdaptiveResource
>>> resources = {"adaptive": AdaptiveResource(api_key=dg.EnvVar("ADAPTIVE_API_KEY"),
...                                           base_url="https://adaptive.example.com")}
"""

import importlib
from typing import TYPE_CHECKING, Any

from dagster_labeling.adaptive.admin_models import (
    ComputeConfig,
    ComputePool,
    FunctionGraderValidation,
    Grader,
    HarmonyGroup,
    Recipe,
    RegisteredModel,
    RewardServer,
    RewardServerTest,
    Role,
    ServiceAccount,
    Team,
    User,
)
from dagster_labeling.adaptive.client import AdaptiveAbTestHandle, AdaptiveClient, AdaptiveJobHandle
from dagster_labeling.adaptive.errors import (
    AdaptiveBadRequest,
    AdaptiveError,
    AdaptiveGraphQLError,
    AdaptiveNotFound,
    AdaptiveRateLimited,
    AdaptiveServerError,
    AdaptiveUnauthorized,
)
from dagster_labeling.adaptive.interactions import (
    GroupedInteractions,
    InteractionFilter,
    InteractionGroup,
    InteractionsPage,
    ScoreFilter,
    ScoreStats,
    user_uuid,
)
from dagster_labeling.adaptive.models import (
    AbTest,
    AbTestReport,
    ChatResponse,
    Dataset,
    FeedbackKey,
    Interaction,
    InteractionCreated,
    Job,
    Model,
    ModelService,
    Project,
)
from dagster_labeling.adaptive.training import (
    CompletionsSource,
    CustomGuidelines,
    DatasetSource,
    EvalScore,
    EvaluationConfig,
    Hyperparameters,
    TrainingConfig,
    evaluation_scores,
    trained_model,
)

if TYPE_CHECKING:
    from dagster_labeling.adaptive.assets import (
        build_adaptive_ab_test_asset,
        build_adaptive_dataset_asset,
        build_adaptive_interactions_asset,
        build_adaptive_job_asset,
        build_adaptive_promote_winner_asset,
    )
    from dagster_labeling.adaptive.components import AdaptiveABTestComponent, AdaptiveInteractionsComponent
    from dagster_labeling.adaptive.flows import (
        build_adaptive_ab_significance_check,
        build_adaptive_chat_asset,
        build_adaptive_embeddings_asset,
        build_adaptive_evaluation_asset,
        build_adaptive_feedback_asset,
        build_adaptive_training_asset,
    )
    from dagster_labeling.adaptive.ops import (
        adaptive_ab_test_op,
        adaptive_ab_test_results_op,
        adaptive_log_interactions_op,
        adaptive_run_job_op,
        adaptive_upload_dataset_op,
    )
    from dagster_labeling.adaptive.resource import AdaptiveResource
    from dagster_labeling.adaptive.sensors import build_adaptive_ab_test_sensor, build_adaptive_job_sensor

# The Dagster parts load on first use: the client alone does not import Dagster (nor pandas), so a script or a
# worker process that only talks to Adaptive starts in a second, not five.
_DAGSTER_PARTS = {
    "build_adaptive_ab_test_asset": "assets", "build_adaptive_dataset_asset": "assets",
    "build_adaptive_interactions_asset": "assets",
    "build_adaptive_job_asset": "assets", "build_adaptive_promote_winner_asset": "assets",
    "AdaptiveResource": "resource", "build_adaptive_ab_test_sensor": "sensors",
    "build_adaptive_job_sensor": "sensors",
    "AdaptiveABTestComponent": "components", "AdaptiveInteractionsComponent": "components",
    **dict.fromkeys([
        "build_adaptive_ab_significance_check", "build_adaptive_chat_asset", "build_adaptive_embeddings_asset",
        "build_adaptive_evaluation_asset", "build_adaptive_feedback_asset", "build_adaptive_training_asset",
    ], "flows"),
    **dict.fromkeys([
        "adaptive_ab_test_op", "adaptive_ab_test_results_op", "adaptive_log_interactions_op",
        "adaptive_run_job_op", "adaptive_upload_dataset_op",
    ], "ops"),
}


def __getattr__(name: str) -> Any:
    module = _DAGSTER_PARTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    # The lazy parts too: `dg list components` finds a registry module's components through dir().
    return sorted({*globals(), *_DAGSTER_PARTS})


__all__ = [
    "AbTest", "AbTestReport", "AdaptiveABTestComponent", "AdaptiveAbTestHandle", "AdaptiveBadRequest",
    "AdaptiveClient", "AdaptiveError", "AdaptiveInteractionsComponent",
    "AdaptiveGraphQLError", "AdaptiveJobHandle", "AdaptiveNotFound", "AdaptiveRateLimited", "AdaptiveResource",
    "AdaptiveServerError", "AdaptiveUnauthorized", "ChatResponse", "Dataset", "FeedbackKey", "Interaction",
    "InteractionCreated", "Job", "Model", "ModelService", "Project", "build_adaptive_ab_test_asset",
    "build_adaptive_ab_test_sensor", "build_adaptive_dataset_asset", "build_adaptive_interactions_asset",
    "build_adaptive_job_asset", "build_adaptive_job_sensor", "build_adaptive_promote_winner_asset",
    "adaptive_ab_test_op", "adaptive_ab_test_results_op", "adaptive_log_interactions_op", "adaptive_run_job_op",
    "adaptive_upload_dataset_op",
    "CompletionsSource", "CustomGuidelines", "DatasetSource", "EvalScore", "EvaluationConfig", "Hyperparameters",
    "TrainingConfig", "evaluation_scores", "trained_model", "build_adaptive_ab_significance_check",
    "build_adaptive_chat_asset", "build_adaptive_embeddings_asset", "build_adaptive_evaluation_asset",
    "build_adaptive_feedback_asset", "build_adaptive_training_asset",
    "ComputeConfig", "ComputePool", "FunctionGraderValidation", "Grader", "HarmonyGroup", "Recipe", "RegisteredModel",
    "RewardServer", "RewardServerTest", "Role", "ServiceAccount", "Team", "User",
    "GroupedInteractions", "InteractionFilter", "InteractionGroup", "InteractionsPage", "ScoreFilter", "ScoreStats",
    "user_uuid",
]
