"""Models, compute pools and the admin surface (users, teams, roles, permissions) of the Adaptive ML client.

:class:`AdminMixin` gives :class:`~dagster_labeling.adaptive.AdaptiveClient` the official SDK's ``models.add_hf_model``,
``models.add_external``, ``models.update_compute_config``, ``models.terminate``, ``compute_pools.*``, ``users.*``,
``teams.*``, ``roles.*`` and ``permissions.list`` with the SDK's operation names and variables (``adaptive-sdk``
0.14.2), and what the SDK cannot do: ``add_external`` for Anthropic, the legacy OpenAI API and Azure OpenAI (the SDK
raises ``KeyError``/``ValueError`` for them). Secrets given to these calls (a Hugging Face token, a provider's API
key) go only in the request: never in a repr, a log line or an error raised here.

>>> external_provider_data("azure", "sk-1", "gpt-4o", endpoint="https://acme.openai.azure.com")
('OPEN_AI', {'openAI': {'apiKey': 'sk-1', 'externalModelId': 'gpt-4o', 'endpoint': 'https://acme.openai.azure.com', \
'extraParams': None}})
"""

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from dagster_labeling._core import InvalidInput, LabelingError
from dagster_labeling._core.redaction import Redactor
from dagster_labeling.adaptive.admin_models import (
    ComputePool,
    RegisteredModel,
    Role,
    ServiceAccount,
    Team,
    User,
)
from dagster_labeling.adaptive.errors import AdaptiveGraphQLError, AdaptiveNotFound
from dagster_labeling.adaptive.models import Job, ModelService, Project
from dagster_labeling.adaptive.operations import OPERATIONS

if TYPE_CHECKING:
    from dagster_labeling._core import HttpTransport

PLATFORM = "Adaptive ML"
GRAPHQL_PATH = "api/graphql"

_MODEL = ("id key name online error isExternal providerName isAdapter isTraining createdAt size "
          "computeConfig { tp kvCacheLen maxSeqLen }")
_USER = ("id email name createdAt teams { team { id key name createdAt } "
         "role { id key name createdAt permissions } }")
_POOL = (f"id key name createdAt capabilities harmonyGroups {{ id key computePool {{ key name }} status url worldSize "
         f"gpuTypes createdAt onlineModels {{ {_MODEL} }} gpuAllocations {{ name numGpus ranks createdAt }} }}")
_JOB = "id name status createdAt startedAt endedAt progress error kind recipe { id key name }"

ADMIN_OPERATIONS: dict[str, str] = {
    "AddHFModel": f"mutation AddHFModel($input: AddHFModelInput!) {{ importHfModel(input: $input) {{ {_JOB} }} }}",
    "AddExternalModel": (f"mutation AddExternalModel($input: AddExternalModelInput!) "
                         f"{{ addExternalModel(input: $input) {{ {_MODEL} }} }}"),
    "UpdateModelComputeConfig": (
        f"mutation UpdateModelComputeConfig($idOrKey: IdOrKey!, $input: ModelComputeConfigInput!) "
        f"{{ updateModelComputeConfig(idOrKey: $idOrKey, input: $input) {{ {_MODEL} }} }}"),
    "TerminateModel": ("mutation TerminateModel($idOrKey: IdOrKey!, $force: Boolean!) "
                       "{ terminateModel(idOrKey: $idOrKey, force: $force) }"),
    "ListComputePools": f"query ListComputePools {{ computePools {{ {_POOL} }} }}",
    "ResizeInferencePartition": ("mutation ResizeInferencePartition($input: ResizePartitionInput!) "
                                 "{ resizeInferencePartition(input: $input) }"),
    "Me": f"query Me {{ me {{ {_USER} }} }}",
    "ListUsers": f"query ListUsers {{ users {{ {_USER} }} }}",
    "CreateUser": (f"mutation CreateUser($input: UserCreate!) "
                   f"{{ createUser(input: $input) {{ user {{ {_USER} }} generatedApiKey }} }}"),
    "DeleteUser": f"mutation DeleteUser($user: IdOrKey!) {{ deleteUser(user: $user) {{ {_USER} }} }}",
    "UpdateUser": (f"mutation UpdateUser($input: TeamMemberSet!) {{ setTeamMember(input: $input) "
                   f"{{ user {{ {_USER} }} team {{ id key name createdAt }} "
                   f"role {{ id key name createdAt permissions }} }} }}"),
    "RemoveTeamMember": (f"mutation RemoveTeamMember($input: TeamMemberRemove!) "
                         f"{{ removeTeamMember(input: $input) {{ {_USER} }} }}"),
    "ListTeams": "query ListTeams { teams { id key name createdAt } }",
    "CreateTeam": "mutation CreateTeam($input: TeamCreate!) { createTeam(input: $input) { id key name createdAt } }",
    "ListRoles": "query ListRoles { roles { id key name createdAt permissions } }",
    "CreateRole": ("mutation CreateRole($input: RoleCreate!) "
                   "{ createRole(input: $input) { id key name createdAt permissions } }"),
    "ListPermissions": "query ListPermissions { permissions }",
}
OPERATIONS.update(ADMIN_OPERATIONS)  # the client's one table of documents (AdaptiveClient.graphql)

EXTERNAL_PROVIDERS: dict[str, tuple[str, str]] = {
    # our name: (the API's ExternalModelProviderName, its providerData field)
    "open_ai": ("OPEN_AI", "openAI"),
    "legacy_open_ai": ("LEGACY_OPEN_AI", "legacyOpenAI"),
    "google": ("GOOGLE", "google"),
    "anthropic": ("ANTHROPIC", "anthropic"),
    "azure": ("OPEN_AI", "openAI"),  # Azure OpenAI: the OpenAI provider at your Azure endpoint (the API has no AZURE)
}


def _key(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be a non-empty key or id, got {value!r}.", field=field)
    return value


def _secret(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} is empty: give the credential (from the environment, not in code).", field=field)
    return value


def external_provider_data(provider: str, api_key: str, external_model_id: str, *, endpoint: str | None = None,
                           extra_params: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """``(provider enum, providerData)`` of ``AddExternalModel`` for ``provider`` (``open_ai``, ``legacy_open_ai``,
    ``google``, ``anthropic``, or ``azure``: Azure OpenAI, sent as the OpenAI provider with your ``endpoint``).

    ``open_ai`` and ``google`` are what the SDK sends, key for key; Google takes no ``extra_params``."""
    name = provider.lower() if isinstance(provider, str) else provider
    if name not in EXTERNAL_PROVIDERS:
        raise InvalidInput(f"provider must be one of {sorted(EXTERNAL_PROVIDERS)}, got {provider!r}.", field="provider")
    if name == "azure" and not endpoint:
        raise InvalidInput("An Azure OpenAI model needs endpoint= (https://<resource>.openai.azure.com).",
                           field="endpoint")
    if name == "google" and extra_params:
        raise InvalidInput("Google models take no extra_params.", field="extra_params")
    enum, field = EXTERNAL_PROVIDERS[name]
    data: dict[str, Any] = {"apiKey": _secret(api_key, "api_key"),
                            "externalModelId": _key(external_model_id, "external_model_id")}
    if endpoint:
        data["endpoint"] = endpoint
    if name != "google":
        data["extraParams"] = dict(extra_params) if extra_params is not None else None
    return enum, {field: data}


@contextmanager
def hiding(*secrets: str | None) -> Iterator[None]:
    """Errors raised inside carry none of ``secrets`` (in their message, body or args)."""
    try:
        yield
    except LabelingError as error:
        redactor = Redactor(secrets)
        for attr in ("message", "body"):
            if hasattr(error, attr):
                setattr(error, attr, redactor.redact_value(getattr(error, attr)))
        error.args = tuple(redactor.redact_value(a) for a in error.args)
        raise


class AdminMixin:
    """Models, compute pools, users, teams, roles and permissions on
    :class:`~dagster_labeling.adaptive.AdaptiveClient`."""

    if TYPE_CHECKING:
        _http: HttpTransport

        def graphql(self, operation: str, variables: Mapping[str, Any] | None = None, *,
                    idempotent: bool | None = None) -> Any: ...

        def get_project(self, project: str) -> Project: ...

    # -- models -------------------------------------------------------------------------------------
    def add_hf_model(self, hf_model_id: str, output_model_name: str, output_model_key: str, hf_token: str, *,
                     compute_pool: str | None = None) -> Job:
        """Import a model from the Hugging Face hub into the registry (``models.add_hf_model``): returns the import
        job (it takes minutes; the model appears under ``output_model_key`` when it completes). ``hf_token`` goes
        only in the request. Unlike the SDK, any ``org/name`` repo id is sent: Adaptive decides what it supports."""
        repo = _key(hf_model_id, "hf_model_id")
        if repo.count("/") != 1 or not all(repo.split("/")):
            raise InvalidInput(f"hf_model_id must be a Hugging Face repo id 'org/name', got {repo!r}.",
                               field="hf_model_id")
        token = _secret(hf_token, "hf_token")
        with hiding(token):
            data = self.graphql("AddHFModel", {"input": {
                "modelId": repo, "outputModelName": _key(output_model_name, "output_model_name"),
                "outputModelKey": _key(output_model_key, "output_model_key"), "hfToken": token,
                "computePool": compute_pool}})
        return Job.model_validate(data["importHfModel"])

    def add_external_model(self, name: str, external_model_id: str, api_key: str, provider: str = "open_ai", *,
                           endpoint: str | None = None, extra_params: Mapping[str, Any] | None = None,
                           description: str | None = None) -> RegisteredModel:
        """Register a provider's model (``models.add_external``): ``provider`` is ``open_ai``, ``legacy_open_ai``,
        ``google``, ``anthropic`` or ``azure`` (Azure OpenAI at ``endpoint``; the SDK breaks on ``azure`` and
        ``anthropic``). Its key is derived from ``name`` by Adaptive. ``api_key`` goes only in the request."""
        enum, provider_data = external_provider_data(provider, api_key, external_model_id, endpoint=endpoint,
                                                     extra_params=extra_params)
        body: dict[str, Any] = {"name": _key(name, "name"), "provider": enum, "providerData": provider_data}
        if description is not None:
            body["description"] = description
        with hiding(api_key):
            data = self.graphql("AddExternalModel", {"input": body})
        return RegisteredModel.model_validate(data["addExternalModel"])

    add_external = add_external_model

    def update_model_compute_config(self, model: str, *, tp: int | None = None, kv_cache_len: int | None = None,
                                    max_seq_len: int | None = None) -> RegisteredModel:
        """Change a model's compute configuration (``models.update_compute_config``): tensor parallelism, KV cache
        and maximum sequence length; only what is given is sent. Safe to retry (it sets values)."""
        given = {"tp": tp, "kvCacheLen": kv_cache_len, "maxSeqLen": max_seq_len}
        config = {k: v for k, v in given.items() if v is not None}
        if not config:
            raise InvalidInput("Give at least one of tp, kv_cache_len, max_seq_len.", field="compute_config")
        for field, value in config.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInput(f"{field} must be a positive integer, got {value!r}.", field=field)
        data = self.graphql("UpdateModelComputeConfig", {"idOrKey": _key(model, "model"), "input": config},
                            idempotent=True)
        return RegisteredModel.model_validate(data["updateModelComputeConfig"])

    def terminate_model(self, model: str, *, force: bool = False) -> str:
        """Take a model out of memory for every project (``models.terminate``); a model attached to several
        projects needs ``force=True``. Returns Adaptive's message. Safe to retry."""
        data = self.graphql("TerminateModel", {"idOrKey": _key(model, "model"), "force": bool(force)},
                            idempotent=True)
        return str(data.get("terminateModel"))

    def _add_to_project(self, project: str, model: str) -> None:
        """The seed's ``update(attached=True)`` in today's API: ``AddModelsToProject`` (a refusal raises)."""
        added = self.graphql("AddModelsToProject", {"input": {"project": _key(project, "project"),
                                                              "models": [_key(model, "model")]}})
        failures = (added.get("addModelsToProject") or {}).get("failures") or []
        if failures:
            raise AdaptiveGraphQLError(f"AddModelsToProject: {failures[0].get('reason')}", platform=PLATFORM,
                                       method="POST", path=GRAPHQL_PATH, status_code=200, body=failures)

    def _detach_from_project(self, project: str, model: str) -> ModelService:
        """The seed's ``update(attached=False)`` in today's API: the service as it was (read from the project),
        then ``RemoveModelFromProject``."""
        project, model = _key(project, "project"), _key(model, "model")
        services = self.get_project(project).model_services
        service = next((s for s in services if model in (s.key, s.id, s.model.key if s.model else None)), None)
        if service is None:
            raise AdaptiveNotFound(f"Model {model!r} is not attached to project {project!r}.", platform=PLATFORM,
                                   method="POST", path=GRAPHQL_PATH, status_code=200)
        self.graphql("RemoveModelFromProject", {"input": {"project": project, "model": model}})
        return service

    # -- compute pools ------------------------------------------------------------------------------
    def list_compute_pools(self) -> list[ComputePool]:
        """Every compute pool with its harmony groups, their GPUs and the models online on them."""
        return [ComputePool.model_validate(p) for p in self.graphql("ListComputePools").get("computePools") or []]

    def resize_inference_partition(self, compute_pool: str, size: int) -> str:
        """Give ``size`` GPUs of each harmony group of ``compute_pool`` to inference (``compute_pools.
        resize_inference_partition``). Safe to retry (it sets a size)."""
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidInput(f"size must be a non-negative number of GPUs, got {size!r}.", field="size")
        data = self.graphql("ResizeInferencePartition", {"input": {
            "computePool": _key(compute_pool, "compute_pool"), "size": size}}, idempotent=True)
        return str(data.get("resizeInferencePartition"))

    # -- users, teams, roles, permissions -----------------------------------------------------------
    def me(self) -> User:
        """The user the API key belongs to."""
        data = self.graphql("Me")
        if not data.get("me"):
            raise AdaptiveNotFound("No user for this API key.", platform=PLATFORM, method="POST", path=GRAPHQL_PATH,
                                   status_code=200)
        return User.model_validate(data["me"])

    def list_users(self) -> list[User]:
        return [User.model_validate(u) for u in self.graphql("ListUsers").get("users") or []]

    @staticmethod
    def _teams(teams_with_role: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
        out = []
        for i, pair in enumerate(teams_with_role):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise InvalidInput(f"teams_with_role[{i}] must be a (team, role) pair, got {pair!r}.",
                                   field="teams_with_role")
            out.append({"team": _key(pair[0], "team"), "role": _key(pair[1], "role")})
        return out

    def create_user(self, email: str, name: str, teams_with_role: Sequence[tuple[str, str]]) -> User:
        """Create a user in teams, with a role in each (``users.create``)."""
        if "@" not in _key(email, "email"):
            raise InvalidInput(f"email must be an email address, got {email!r}.", field="email")
        data = self.graphql("CreateUser", {"input": {"email": email, "name": _key(name, "name"),
                                                     "teams": self._teams(teams_with_role)}})
        return User.model_validate(data["createUser"]["user"])

    def create_service_account(self, name: str, teams_with_role: Sequence[tuple[str, str]]) -> ServiceAccount:
        """Create a service account and its API key (``users.create_service_account``): the key is shown once; it is
        a ``SecretStr`` here. ``name``: lowercase letters, digits, ``-`` and ``_``."""
        if not all(c.islower() or c.isdigit() or c in "-_" for c in _key(name, "name")) or not name.isascii():
            raise InvalidInput(f"A service account name takes lowercase letters, digits, '-' and '_', got {name!r}.",
                               field="name")
        data = self.graphql("CreateUser", {"input": {"name": name, "teams": self._teams(teams_with_role),
                                                     "userType": "SYSTEM", "generateApiKey": True}})
        created = data["createUser"]
        key = created.get("generatedApiKey")
        if not key:
            raise AdaptiveGraphQLError("CreateUser: no API key was returned for the service account.",
                                       platform=PLATFORM, method="POST", path=GRAPHQL_PATH, status_code=200)
        return ServiceAccount(user_id=str(created["user"]["id"]), email=created["user"]["email"], api_key=key)

    def add_user_to_team(self, email: str, team: str, role: str) -> User:
        """Put a user in a team with a role, or change its role there (``users.add_to_team``)."""
        data = self.graphql("UpdateUser", {"input": {"user": _key(email, "email"), "team": _key(team, "team"),
                                                     "role": _key(role, "role")}}, idempotent=True)
        return User.model_validate(data["setTeamMember"]["user"])

    def remove_user_from_team(self, email: str, team: str) -> User:
        """Take a user out of a team (``users.remove_from_team``)."""
        data = self.graphql("RemoveTeamMember", {"input": {"user": _key(email, "email"), "team": _key(team, "team")}})
        return User.model_validate(data["removeTeamMember"])

    def delete_user(self, email: str) -> User:
        """Delete a user (``users.delete``); returns the user as it was."""
        return User.model_validate(self.graphql("DeleteUser", {"user": _key(email, "email")})["deleteUser"])

    def list_teams(self) -> list[Team]:
        return [Team.model_validate(t) for t in self.graphql("ListTeams").get("teams") or []]

    def create_team(self, key: str, name: str | None = None) -> Team:
        """Create a team (``teams.create``; ``name`` defaults to ``key``)."""
        data = self.graphql("CreateTeam", {"input": {"key": _key(key, "key"), "name": name or key}})
        return Team.model_validate(data["createTeam"])

    def list_roles(self) -> list[Role]:
        return [Role.model_validate(r) for r in self.graphql("ListRoles").get("roles") or []]

    def create_role(self, key: str, permissions: Sequence[str], name: str | None = None) -> Role:
        """Create a role from permission identifiers such as ``project:read`` (see :meth:`list_permissions`)."""
        if isinstance(permissions, str) or not permissions:
            raise InvalidInput("permissions must be a non-empty list of permission identifiers.", field="permissions")
        data = self.graphql("CreateRole", {"input": {"key": _key(key, "key"), "name": name or key,
                                                     "permissions": [_key(p, "permission") for p in permissions]}})
        return Role.model_validate(data["createRole"])

    def list_permissions(self) -> list[str]:
        """Every permission identifier of the deployment."""
        return [str(p) for p in self.graphql("ListPermissions").get("permissions") or []]
