"""Adaptive ML: typed client (projects, feedback keys and feedback, chat, interactions, A/B tests, models,
datasets, recipe jobs), ``AdaptiveResource``, an A/B test asset and sensor, an interactions asset and a
recipe job (training, evaluation) asset.

>>> import dagster as dg
>>> from dagster_labeling.adaptive import AdaptiveResource
>>> resources = {"adaptive": AdaptiveResource(api_key=dg.EnvVar("ADAPTIVE_API_KEY"),
...                                           base_url="https://adaptive.example.com")}
"""

from dagster_labeling.adaptive.assets import (
    build_adaptive_ab_test_asset,
    build_adaptive_interactions_asset,
    build_adaptive_job_asset,
    build_adaptive_promote_winner_asset,
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
from dagster_labeling.adaptive.resource import AdaptiveResource
from dagster_labeling.adaptive.sensors import build_adaptive_ab_test_sensor, build_adaptive_job_sensor

__all__ = [
    "AbTest", "AbTestReport", "AdaptiveAbTestHandle", "AdaptiveBadRequest", "AdaptiveClient", "AdaptiveError",
    "AdaptiveGraphQLError", "AdaptiveJobHandle", "AdaptiveNotFound", "AdaptiveRateLimited", "AdaptiveResource",
    "AdaptiveServerError", "AdaptiveUnauthorized", "ChatResponse", "Dataset", "FeedbackKey", "Interaction",
    "InteractionCreated", "Job", "Model", "ModelService", "Project", "build_adaptive_ab_test_asset",
    "build_adaptive_ab_test_sensor", "build_adaptive_interactions_asset", "build_adaptive_job_asset",
    "build_adaptive_promote_winner_asset",
    "build_adaptive_job_sensor",
]
