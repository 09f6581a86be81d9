"""The input types of the Adaptive ML GraphQL schema (``adaptive-sdk`` 0.14.2) that the emulator's admin
handlers take, checked field by field as the server checks them, and what those handlers share.

>>> from dagster_labeling.testing.adaptive import GraphQLError
>>> try:
...     check_input({"key": "t", "name": "T", "color": "red"}, "TeamCreate", "input")
... except GraphQLError as error:
...     print(error)
Invalid value for input: unknown field "color" of type "TeamCreate"
"""

import hashlib
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dagster_labeling.testing.base import REDACTED, strict_json_loads

if TYPE_CHECKING:
    from dagster_labeling.testing.clock import Clock

_CREDENTIAL_NAME = re.compile(r"token|apikey|api_key|secret|password", re.IGNORECASE)
# Input types of the 0.14.2 schema that these handlers take: field -> (GraphQL type, required). A type is a
# scalar (String, Int, Float, Boolean, JSON, IdOrKey), an enum (a tuple of values), another input type's name,
# or a list of one (["Name"]).
ENUMS: dict[str, tuple[str, ...]] = {
    "ExternalModelProviderName": ("OPEN_AI", "LEGACY_OPEN_AI", "GOOGLE", "ANTHROPIC"),
    "GraderTypeEnum": ("JUDGE", "PREBUILT", "REMOTE", "CUSTOM", "FUNCTION"),
    "PrebuiltCriteriaKey": ("FAITHFULNESS", "ANSWER_RELEVANCY", "CONTEXT_RELEVANCY"),
    "MetricKind": ("SCALAR", "BOOL"),
    "MetricScoringType": ("HIGHER_IS_BETTER", "LOWER_IS_BETTER"),
    "UserType": ("HUMAN", "SYSTEM"),
}
_OPENAI = {"apiKey": ("String", True), "externalModelId": ("String", True), "endpoint": ("String", False),
           "extraParams": ("JSON", False)}
INPUTS: dict[str, dict[str, tuple[Any, bool]]] = {
    "AddHFModelInput": {"modelId": ("String", True), "outputModelName": ("String", True),
                        "outputModelKey": ("IdOrKey", False), "hfToken": ("String", True),
                        "computePool": ("String", False), "numGpus": ("Int", False)},
    "AddExternalModelInput": {"name": ("String", True), "provider": ("ExternalModelProviderName", True),
                              "providerData": ("ModelProviderDataInput", False), "description": ("String", False)},
    "ModelProviderDataInput": {"openAI": ("OpenAIProviderDataInput", False),
                               "legacyOpenAI": ("OpenAIProviderDataInput", False),
                               "google": ("GoogleProviderDataInput", False),
                               "anthropic": ("AnthropicProviderDataInput", False)},
    "OpenAIProviderDataInput": _OPENAI,
    "AnthropicProviderDataInput": _OPENAI,
    "GoogleProviderDataInput": {"apiKey": ("String", True), "externalModelId": ("String", True),
                                "endpoint": ("String", False)},
    "ModelComputeConfigInput": {"tp": ("Int", False), "kvCacheLen": ("Int", False), "maxSeqLen": ("Int", False)},
    "ResizePartitionInput": {"computePool": ("String", True), "size": ("Int", True)},
    "CreateRecipeInput": {"name": ("String", True), "key": ("IdOrKey", False), "description": ("String", False),
                          "labels": (["LabelInput"], False), "entrypoint": ("String", False),
                          "configEntrypoint": ("String", False)},
    "UpdateRecipeInput": {"name": ("String", False), "description": ("String", False),
                          "labels": (["LabelInput"], False), "entrypoint": ("String", False),
                          "configEntrypoint": ("String", False)},
    "LabelInput": {"key": ("String", True), "value": ("String", True)},
    "CustomRecipeFilterInput": {"labels": (["LabelFilter"], False)},
    "LabelFilter": {"key": ("String", True), "value": (["String"], False)},
    "GraderCreateInput": {"name": ("String", True), "key": ("IdOrKey", False), "graderType": ("GraderTypeEnum", True),
                          "graderConfig": ("GraderConfigInput", True), "metric": ("MetricCreate", False)},
    "GraderUpdateInput": {"name": ("String", False), "graderType": ("GraderTypeEnum", False),
                          "graderConfig": ("GraderConfigInput", False)},
    "GraderConfigInput": {"judge": ("JudgeConfigInput", False), "prebuilt": ("PrebuiltConfigInput", False),
                          "remote": ("RemoteConfigInput", False), "custom": ("CustomConfigInput", False),
                          "function": ("FunctionConfigInput", False)},
    "JudgeConfigInput": {"model": ("String", True), "criteria": ("String", True),
                         "examples": (["JudgeExampleInput"], True), "systemTemplate": ("String", True),
                         "userTemplate": ("String", True)},
    "JudgeExampleInput": {"input": (["JudgeExampleInputTurnEntry"], True), "reasoning": ("String", False),
                          "output": ("String", True), "pass": ("Boolean", True), "id": ("IdOrKey", False)},
    "JudgeExampleInputTurnEntry": {"role": ("String", True), "content": ("String", True)},
    "PrebuiltConfigInput": {"key": ("PrebuiltCriteriaKey", True), "model": ("String", True)},
    "RemoteConfigInput": {"url": ("String", True)},
    "CustomConfigInput": {"description": ("String", False)},
    "FunctionConfigInput": {"sourceCode": ("String", True), "description": ("String", False)},
    "MetricCreate": {"name": ("String", True), "key": ("IdOrKey", False), "kind": ("MetricKind", True),
                     "scoringType": ("MetricScoringType", False), "description": ("String", False),
                     "unit": ("String", False)},
    "RemoteEnvCreate": {"url": ("String", True), "key": ("IdOrKey", False), "name": ("String", False),
                        "description": ("String", False)},
    "UserCreate": {"email": ("String", False), "name": ("String", True), "teams": (["UserCreateTeamWithRole"], True),
                   "userType": ("UserType", False), "generateApiKey": ("Boolean", False)},
    "UserCreateTeamWithRole": {"team": ("String", True), "role": ("String", True)},
    "TeamMemberSet": {"user": ("String", True), "team": ("String", True), "role": ("String", True)},
    "TeamMemberRemove": {"user": ("String", True), "team": ("String", True)},
    "TeamCreate": {"key": ("IdOrKey", False), "name": ("String", True)},
    "RoleCreate": {"key": ("IdOrKey", False), "name": ("String", True), "permissions": (["String"], True)},
}
_SCALARS: dict[str, Callable[[Any], bool]] = {
    "String": lambda v: isinstance(v, str), "IdOrKey": lambda v: isinstance(v, str),
    "Int": lambda v: isinstance(v, int) and not isinstance(v, bool) and -2**31 <= v < 2**31,
    "Float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "Boolean": lambda v: isinstance(v, bool), "JSON": lambda v: True,
}


def _ms(ts: float) -> int:
    return int(ts * 1000)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_input(value: Any, type_name: Any, where: str) -> None:
    """Raise a GraphQL error unless ``value`` is a valid ``type_name`` (see :data:`INPUTS`); ``None`` passes here
    (required fields are checked by the enclosing object)."""
    from dagster_labeling.testing.adaptive import GraphQLError

    if value is None:
        return
    if isinstance(type_name, list):
        if not isinstance(value, list):
            raise GraphQLError(f"Invalid value for {where}: expected a list of {type_name[0]}, got {value!r}")
        for i, item in enumerate(value):
            if item is None:
                raise GraphQLError(f"Invalid value for {where}[{i}]: {type_name[0]}! must not be null")
            check_input(item, type_name[0], f"{where}[{i}]")
        return
    if type_name in _SCALARS:
        if not _SCALARS[type_name](value):
            raise GraphQLError(f"Invalid value for {where}: expected {type_name}, got {value!r}")
        return
    if type_name in ENUMS:
        if value not in ENUMS[type_name]:
            raise GraphQLError(f'Invalid value for {where}: enumeration type "{type_name}" does not contain the '
                               f'value {value!r}')
        return
    fields = INPUTS[type_name]
    if not isinstance(value, dict):
        raise GraphQLError(f"Invalid value for {where}: expected an input object {type_name}, got {value!r}")
    for name in value:
        if name not in fields:
            raise GraphQLError(f'Invalid value for {where}: unknown field "{name}" of type "{type_name}"')
    for name, (field_type, required) in fields.items():
        if required and value.get(name) is None:
            raise GraphQLError(f'Invalid value for {where}: field "{name}" of type "{type_name}" is required but '
                               f'not provided')
        check_input(value.get(name), field_type, f"{where}.{name}")


class AdminEmulatorBase:
    """What the admin handlers share: the emulator's state they read (typed), input checks and errors."""

    if TYPE_CHECKING:
        api_key: str
        clock: Clock
        projects: dict[str, dict[str, Any]]
        models: dict[str, dict[str, Any]]
        metrics: dict[str, dict[str, Any]]
        jobs: dict[str, dict[str, Any]]
        team: dict[str, Any]
        user: dict[str, Any]
        _seq: Any

        def _uuid(self) -> str: ...
        def _project(self, ref: Any) -> dict[str, Any]: ...
        def _model(self, ref: Any) -> dict[str, Any]: ...
        def _model_json(self, model: dict[str, Any], nested: bool = False) -> dict[str, Any]: ...
        def _metric_json(self, metric: dict[str, Any], admin: bool = False) -> dict[str, Any]: ...
        def _add_model(self, key: str, name: str, *, backbone: str | None = None, external: str | None = None,
                       adapter: bool = False, created: float | None = None,
                       online: str = "OFFLINE") -> dict[str, Any]: ...
        def _advance_job(self, job: dict[str, Any], now: float) -> None: ...
        def _job_json(self, job: dict[str, Any]) -> dict[str, Any]: ...

    # -- errors and lookups ----------------------------------------------------------------------------
    @staticmethod
    def _error(message: str) -> Exception:
        from dagster_labeling.testing.adaptive import GraphQLError
        return GraphQLError(message)

    @staticmethod
    def _not_found(entity: str, ref: Any, extra: str = "") -> Exception:
        from dagster_labeling.testing.adaptive import EntityNotFound
        return EntityNotFound(entity, ref, extra)

    def _arg(self, v: dict[str, Any], name: str, type_name: Any, operation: str) -> Any:
        value = v.get(name)
        if value is None:
            raise self._error(f'{operation}: argument "{name}" of type "{type_name}!" is required but not provided')
        check_input(value, type_name, f'argument "{name}"')
        return value

    @staticmethod
    def _find(items: dict[str, dict[str, Any]], ref: Any, **scope: Any) -> dict[str, Any] | None:
        for item in items.values():
            if all(item.get(k) == v for k, v in scope.items()) and ref in (item["id"], item["key"]):
                return item
        return None


def redact_graphql_body(body: bytes) -> bytes:
    """A GraphQL JSON body with the values of credential-named variables (``hfToken``, ``apiKey``, ...) replaced by
    ``<redacted>``; unchanged (the same bytes) when there is none.

    >>> redact_graphql_body(b'{"variables": {"input": {"hfToken": "hf_x", "modelId": "a/b"}}}')
    b'{"variables": {"input": {"hfToken": "<redacted>", "modelId": "a/b"}}}'
    """
    try:
        payload = strict_json_loads(body)
    except ValueError:
        return body
    found = False

    def scrub(value: Any) -> Any:
        nonlocal found
        if isinstance(value, dict):
            out = {}
            for k, val in value.items():
                if isinstance(k, str) and _CREDENTIAL_NAME.search(k) and isinstance(val, str) and val:
                    found = True
                    out[k] = REDACTED
                else:
                    out[k] = scrub(val)
            return out
        if isinstance(value, list):
            return [scrub(item) for item in value]
        return value

    if not isinstance(payload, dict):
        return body
    cleaned = dict(payload, variables=scrub(payload.get("variables")))
    return json.dumps(cleaned).encode() if found else body
