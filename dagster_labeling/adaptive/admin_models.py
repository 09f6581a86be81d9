"""Typed results of Adaptive ML's admin surface: compute pools, recipes, graders, external reward servers (the
API's "remote envs"), users, teams and roles. GraphQL results are camelCase, timestamps epoch milliseconds.

>>> pool = ComputePool.model_validate({"id": "1", "key": "default", "name": "Default", "capabilities": ["INFERENCE"],
...     "harmonyGroups": [{"id": "2", "key": "hg", "status": "ONLINE", "worldSize": 8,
...                        "gpuAllocations": [{"name": "inference", "numGpus": 2, "ranks": [0, 1]}]}]})
>>> pool.harmony_groups[0].inference_gpus, pool.harmony_groups[0].world_size
(2, 8)
>>> account = ServiceAccount(user_id="u", email="ci@system.adaptive.local", api_key="sk-secret-123")
>>> "sk-secret-123" in repr(account), account.api_key.get_secret_value()
(False, 'sk-secret-123')
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from dagster_labeling.adaptive.models import FeedbackKey, Model, Ref, _Graph


class ComputeConfig(_Graph):
    """A model's compute configuration: tensor parallelism, KV cache length, maximum sequence length."""

    tp: int | None = None
    kv_cache_len: int | None = None
    max_seq_len: int | None = None


class RegisteredModel(Model):
    """A model of the registry with its compute configuration (what ``add_external``, ``update_model_compute_config``
    return)."""

    compute_config: ComputeConfig | None = None


class GpuAllocation(_Graph):
    """GPUs of a harmony group given to one partition (``inference``, or a job's)."""

    name: str
    num_gpus: int = 0
    ranks: list[int] = Field(default_factory=list)
    created_at: Any = None


class HarmonyGroup(_Graph):
    """A group of GPUs of a compute pool (``world_size`` GPUs), with the models it serves."""

    id: str
    key: str
    status: str | None = None  # ONLINE or OFFLINE
    url: str | None = None
    world_size: int = 0
    gpu_types: str | None = None
    created_at: Any = None
    online_models: list[Model] = Field(default_factory=list)
    gpu_allocations: list[GpuAllocation] | None = None

    @property
    def inference_gpus(self) -> int:
        """GPUs of the inference partition (0 if none)."""
        return sum(a.num_gpus for a in self.gpu_allocations or [] if a.name == "inference")


class ComputePool(_Graph):
    """A compute pool: ``capabilities`` (``INFERENCE``, ``JOB``) and its harmony groups."""

    id: str
    key: str
    name: str | None = None
    created_at: Any = None
    capabilities: list[str] = Field(default_factory=list)
    harmony_groups: list[HarmonyGroup] = Field(default_factory=list)


class Label(_Graph):
    key: str
    value: str


class Recipe(_Graph):
    """A custom recipe of a project (the code a recipe job runs)."""

    id: str
    key: str | None = None
    name: str | None = None
    content: str | None = None
    content_hash: str | None = None
    editable: bool | None = None
    global_: bool | None = Field(default=None, alias="global")
    builtin: bool | None = None
    input_schema: Any = None
    json_schema: Any = None
    description: str | None = None
    labels: list[Label] = Field(default_factory=list)
    created_at: Any = None
    updated_at: Any = None

    @property
    def label_map(self) -> dict[str, str]:
        return {label.key: label.value for label in self.labels}


class Grader(_Graph):
    """A grader of a project: ``grader_type`` (``JUDGE``, ``PREBUILT``, ``REMOTE``, ``CUSTOM``, ``FUNCTION``), its
    configuration as the API returns it (``__typename`` and the type's fields), and the metric it scores on."""

    id: str
    key: str | None = None
    name: str | None = None
    locked: bool = False
    grader_type: str
    grader_config: dict[str, Any] = Field(default_factory=dict)
    project: Ref | None = None
    metric: FeedbackKey | None = None
    created_at: Any = None
    updated_at: Any = None


class GraderCheck(_Graph):
    name: str
    passed: bool
    message: str = ""


class FunctionGraderValidation(_Graph):
    """Adaptive's verdict on a function grader's source: ``valid``, each check, warnings."""

    valid: bool
    checks: list[GraderCheck] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class RewardServer(_Graph):
    """An external reward server (the API's ``RemoteEnv``): a service that scores completions for graders and
    training."""

    id: str
    key: str
    name: str | None = None
    url: str
    description: str | None = None
    created_at: Any = None
    version: str | None = None
    status: str | None = None  # ONLINE or OFFLINE
    metadata_schema: Any = None


class RewardServerTest(BaseModel):
    """Whether Adaptive reached a reward server: ``online``, and its name and version, or the ``error``."""

    model_config = ConfigDict(frozen=True)

    online: bool
    name: str | None = None
    version: str | None = None
    description: str | None = None
    error: str | None = None


class Team(_Graph):
    id: str
    key: str
    name: str | None = None
    created_at: Any = None


class Role(_Graph):
    """A role: a named set of permissions (``project:read``, ...)."""

    id: str
    key: str
    name: str | None = None
    created_at: Any = None
    permissions: list[str] = Field(default_factory=list)


class Membership(_Graph):
    team: Team
    role: Role


class User(_Graph):
    """A user of the deployment and the role it has in each of its teams."""

    id: str
    email: str
    name: str | None = None
    created_at: Any = None
    teams: list[Membership] = Field(default_factory=list)

    def role_in(self, team: str) -> str | None:
        """The key of the user's role in ``team`` (key or id), or None."""
        return next((m.role.key for m in self.teams if team in (m.team.key, m.team.id)), None)


class ServiceAccount(BaseModel):
    """A service account just created, with its API key: shown once by Adaptive, kept secret here (never in a
    repr or a log; read it with ``api_key.get_secret_value()``)."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    email: str
    api_key: SecretStr
