"""A typed client for Adaptive ML: GraphQL (``/api/graphql``) for objects, REST (``/api/v1``) for chat and feedback.

Operations carry the official SDK's operation names and variables (``adaptive-sdk`` 0.14.2, see
shared/api/adaptive.md); their query documents select the fields our models read. Errors are typed: a
GraphQL answer with ``errors`` raises :class:`AdaptiveGraphQLError` (``AdaptiveNotFound`` for
``EntityNotFound``), never returns a partial result.

>>> client = AdaptiveClient("sk-adaptive-123", base_url="https://adaptive.example.com/")
>>> client.base_url, "sk-adaptive-123" in repr(client)
('https://adaptive.example.com', False)
>>> client.close()
"""

import io
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import httpx

from dagster_labeling._core import (
    ConnectionFailed,
    HeaderAuth,
    HttpTransport,
    InvalidInput,
    PlatformClient,
    RetryPolicy,
    ServerError,
    Timeouts,
    WaitOptions,
    mask,
)
from dagster_labeling._core.encoding import dumps
from dagster_labeling.adaptive.admin import AdminMixin
from dagster_labeling.adaptive.default_project import with_default_project
from dagster_labeling.adaptive.errors import AdaptiveGraphQLError, AdaptiveNotFound, adaptive_error_class
from dagster_labeling.adaptive.handles import AdaptiveAbTestHandle, AdaptiveJobHandle, AdaptiveUploadHandle
from dagster_labeling.adaptive.interactions import (
    ENCODINGS,
    TIES,
    InteractionFilter,
    InteractionsMixin,
    as_uuid,
    decode_embedding,
    optional_uuid,
)
from dagster_labeling.adaptive.models import (
    AbTest,
    ChatResponse,
    ComparisonCreated,
    Dataset,
    FeedbackKey,
    Interaction,
    InteractionCreated,
    Job,
    Model,
    ModelService,
    Project,
)
from dagster_labeling.adaptive.operations import OPERATIONS
from dagster_labeling.adaptive.recipes import RecipesMixin
from dagster_labeling.adaptive.training import TrainingMixin

PLATFORM = "Adaptive ML"
logger = logging.getLogger("dagster_labeling.adaptive")
GRAPHQL_PATH = "api/graphql"
MAX_SINGLE_UPLOAD_BYTES = 5 * 1024 * 1024
"""Largest dataset sent as one GraphQL multipart request; larger ones go in parts, as the SDK sends them."""
MAX_UPLOAD_PARTS = 10_000
MAX_PART_BYTES = 100 * 1024 * 1024
FEEDBACK_KINDS = {"scalar": "SCALAR", "bool": "BOOL"}
SCORING_TYPES = {"higher_is_better": "HIGHER_IS_BETTER", "lower_is_better": "LOWER_IS_BETTER"}
AB_STATUS_FILTERS = ("warmup", "in_progress", "done", "cancelled")


def _key(value: str | None, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} must be a non-empty key or id, got {value!r}.", field=field)
    return value


def _messages(messages: Sequence[Mapping[str, Any]], field: str = "messages") -> list[dict[str, Any]]:
    if not messages:
        raise InvalidInput(f"{field} is empty: give at least one {{'role': ..., 'content': ...}} message.",
                           field=field)
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping) or not message.get("role") or "content" not in message:
            raise InvalidInput(f"{field}[{i}] must be a mapping with 'role' and 'content', got {message!r}.",
                               field=field)
        out.append({"content": message["content"], "role": message["role"]})
    return out


T = TypeVar("T")


def already_exists(error: Exception) -> bool:
    """Whether Adaptive refused a create because the key is taken (its keys are unique)."""
    return isinstance(error, AdaptiveGraphQLError) and "already exists" in str(error).lower()


def _get_or_create(get: Callable[[], T], create: Callable[[], T], *,
                   taken: Callable[[], T] | None = None) -> tuple[T, bool]:
    """``(object, created)``: look it up; create it if missing; if the create is refused because the key is
    taken (another run won the race, or a retried create whose first answer was lost), fetch what is there
    (with ``taken`` if given, e.g. to wait for it to land, else ``get``). Adaptive does not document the
    wording of a duplicate-key error, so any refused create is followed by a look-up: the error is raised only
    if there is nothing under the key."""
    try:
        return get(), False
    except AdaptiveNotFound:
        pass
    try:
        return create(), True
    except AdaptiveGraphQLError as error:
        fetch = taken if taken is not None and already_exists(error) else get
        try:
            return fetch(), False
        except AdaptiveNotFound:
            raise error from None


def upload_parts(size: int) -> tuple[int, int]:
    """(parts, part size) of a chunked upload of ``size`` bytes, as the SDK chooses them.

    >>> upload_parts(12 * 1024 * 1024)
    (3, 5242880)
    """
    mib = 1024 * 1024
    part = 5 * mib if size < 500 * mib else 10 * mib if size < 10 * 1024 * mib else \
        50 * mib if size < 50 * 1024 * mib else MAX_PART_BYTES
    if math.ceil(size / part) > MAX_UPLOAD_PARTS:
        part = math.ceil(size / MAX_UPLOAD_PARTS)
        if part > MAX_PART_BYTES:
            raise InvalidInput(f"A dataset of {size:,} bytes is over the most Adaptive takes "
                               f"({MAX_PART_BYTES * MAX_UPLOAD_PARTS:,} bytes); split it.", field="source")
    return math.ceil(size / part), part


def _chat_body(project: str | None, messages: Sequence[Mapping[str, Any]], *, model: str | None,
               max_tokens: int | None, temperature: float | None, top_p: float | None, stop: Sequence[str] | None,
               labels: Mapping[str, str] | None, store: bool | None, session_id: str | None,
               user: str | None, ab_campaign: str | None = None, n: int | None = None) -> dict[str, Any]:
    """The chat request as the SDK sends it: unset fields left out, ``stream_options`` always there; ``user`` and
    ``session_id`` checked to be UUIDs; ``ab_campaign`` and ``n`` as the API's ``ChatInput`` names them."""
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise InvalidInput(f"n is the number of completions, at least 1, got {n!r}.", field="n")
    if max_tokens is not None and max_tokens < 1:
        raise InvalidInput(f"max_tokens must be at least 1, got {max_tokens}.", field="max_tokens")
    if temperature is not None and not 0 <= temperature <= 2:
        raise InvalidInput(f"temperature must be between 0 and 2, got {temperature}.", field="temperature")
    if top_p is not None and not 0 < top_p <= 1:
        raise InvalidInput(f"top_p must be in (0, 1], got {top_p}.", field="top_p")
    body: dict[str, Any] = {"stop": list(stop) if stop else None, "max_tokens": max_tokens,
                            "temperature": temperature, "top_p": top_p, "messages": _messages(messages),
                            "model": f"{_key(project, 'project')}/{model}" if model else project,
                            "stream_options": {}, "session_id": optional_uuid(session_id, "session_id"),
                            "user": optional_uuid(user, "user"),
                            "ab_campaign": _key(ab_campaign, "ab_campaign") if ab_campaign is not None else None,
                            "n": n, "labels": dict(labels) if labels else None, "store": store}
    return {k: v for k, v in body.items() if v is not None}


def _feedback(feedback: Mapping[str, Any]) -> dict[str, Any]:
    key = feedback.get("feedback_key", feedback.get("metric"))
    if not key or "value" not in feedback:
        raise InvalidInput(f"A feedback needs 'feedback_key' and 'value', got {dict(feedback)!r}.", field="feedbacks")
    value = feedback["value"]
    out = {"metric": key, "value": value}
    if feedback.get("details") is not None:
        out["details"] = feedback["details"]
    return out


@with_default_project
class AdaptiveClient(InteractionsMixin, TrainingMixin, AdminMixin, RecipesMixin, PlatformClient):
    """Typed client for Adaptive ML. Use as a context manager, or call :meth:`close`.

    ``base_url`` is your deployment's address (the SDK's ``base_url``); the key goes as a Bearer token.
    ``default_project`` is the project of every method whose ``project`` is ``None`` (or left out by keyword).
    """

    def __init__(self, api_key: str, *, base_url: str, timeouts: Timeouts | None = None,
                 retry: RetryPolicy | None = None, max_concurrency: int = 16,
                 transport: httpx.BaseTransport | None = None, default_project: str | None = None) -> None:
        if not api_key:
            raise InvalidInput("Adaptive api_key is empty. Set it from the environment, e.g. "
                               "AdaptiveResource(api_key=dg.EnvVar('ADAPTIVE_API_KEY')).", field="api_key")
        self._api_key = api_key
        self.max_concurrency = max_concurrency
        if default_project is not None:
            _key(default_project, "default_project")
        self.default_project = default_project
        self._http = HttpTransport(platform=PLATFORM, base_url=base_url,
                                   auth=HeaderAuth({"Authorization": f"Bearer {api_key}"}), secrets=[api_key],
                                   timeouts=timeouts, retry=retry, max_connections=max_concurrency,
                                   error_class_for=adaptive_error_class, transport=transport)

    def __repr__(self) -> str:
        return f"AdaptiveClient(base_url={self.base_url!r}, api_key={mask(self._api_key)})"

    # -- plumbing -----------------------------------------------------------------------------------
    def graphql(self, operation: str, variables: Mapping[str, Any] | None = None, *,
                idempotent: bool | None = None) -> Any:
        """Run one of :data:`OPERATIONS` and return its ``data``; GraphQL ``errors`` raise typed errors.

        Queries are retried on 5xx and network errors; mutations only on 429 and never-sent errors, unless
        ``idempotent`` says that sending one twice is harmless (a cancel; a create keyed by a unique key whose
        "already exists" the caller resolves).
        """
        document = OPERATIONS[operation]
        response = self._http.request("POST", GRAPHQL_PATH, json_body={
            "query": document, "operationName": operation, "variables": dict(variables or {})},
            idempotent=not document.startswith("mutation") if idempotent is None else idempotent)
        return self._graphql_data(operation, response)

    def _graphql_data(self, operation: str, response: httpx.Response) -> Any:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict) or ("data" not in payload and "errors" not in payload):
            raise AdaptiveGraphQLError(f"{operation}: the answer is not a GraphQL result",
                                       platform=PLATFORM, method="POST", path=GRAPHQL_PATH,
                                       status_code=response.status_code, body=response.text[:500])
        errors = payload.get("errors") or []
        if errors:
            message = self._http.redactor.redact(str(errors[0].get("message") if isinstance(errors[0], dict)
                                                     else errors[0]))
            cls = AdaptiveNotFound if "EntityNotFound" in message else AdaptiveGraphQLError
            raise cls(f"{operation}: {message}", platform=PLATFORM, method="POST", path=GRAPHQL_PATH,
                      status_code=response.status_code, body=self._http.redactor.redact_value(errors))
        return payload.get("data") or {}

    def _rest(self, path: str, body: Mapping[str, Any], *, idempotent: bool = False) -> Any:
        return self._http.request("POST", f"api/v1/{path}", json_body=dict(body), idempotent=idempotent).json()

    @staticmethod
    def _present(root: str, data: Mapping[str, Any], what: str) -> Any:
        value = data.get(root)
        if value is None:
            raise AdaptiveNotFound(f"No {what}.", platform=PLATFORM, method="POST", path=GRAPHQL_PATH,
                                   status_code=200)
        return value

    # -- projects -----------------------------------------------------------------------------------
    def create_project(self, key: str, name: str | None = None, description: str | None = None,
                       team: str | None = None) -> Project:
        """Create a project (the SDK's ``projects.create``; formerly "use case")."""
        return self._create_project(key, name, description, team, idempotent=False)

    def _create_project(self, key: str, name: str | None, description: str | None, team: str | None, *,
                        idempotent: bool) -> Project:
        data = self.graphql("CreateProject", {"input": {
            "name": name or _key(key, "key"), "team": team, "key": _key(key, "key"), "description": description,
            "settings": {"defaultMetric": None}}}, idempotent=idempotent)
        return Project.model_validate(data["createProject"])

    def ensure_project(self, key: str, name: str | None = None, description: str | None = None,
                       team: str | None = None) -> tuple[Project, bool]:
        """The project ``key``, created if missing: ``(project, created)``. Project keys are unique on Adaptive,
        so runs calling this together converge on one project: a create that loses the race (or is retried
        after a lost answer) gets "already exists" and fetches the winner."""
        return _get_or_create(lambda: self.get_project(key),
                              lambda: self._create_project(key, name, description, team, idempotent=True))

    def get_project(self, project: str) -> Project:
        data = self.graphql("DescribeProject", {"input": _key(project, "project")})
        return Project.model_validate(self._present("project", data, f"project {project!r}"))

    def list_projects(self) -> list[Project]:
        return [Project.model_validate(p) for p in self.graphql("ListProjects").get("projects") or []]

    # -- feedback keys (metrics) and feedback -------------------------------------------------------
    def register_feedback_key(self, project: str | None, key: str, *, kind: str = "scalar",
                              scoring_type: str = "higher_is_better", name: str | None = None,
                              description: str | None = None) -> FeedbackKey:
        """Create a project's feedback key; ``kind`` is ``scalar`` or ``bool``."""
        return self._register_feedback_key(project, key, kind, scoring_type, name, description, idempotent=False)

    def _register_feedback_key(self, project: str | None, key: str, kind: str, scoring_type: str, name: str | None,
                               description: str | None, *, idempotent: bool) -> FeedbackKey:
        if kind.lower() not in FEEDBACK_KINDS:
            raise InvalidInput(f"kind must be one of {sorted(FEEDBACK_KINDS)}, got {kind!r}.", field="kind")
        if scoring_type.lower() not in SCORING_TYPES:
            raise InvalidInput(f"scoring_type must be one of {sorted(SCORING_TYPES)}, got {scoring_type!r}.",
                               field="scoring_type")
        data = self.graphql("CreateMetric", {"project": _key(project, "project"), "input": {
            "name": name or _key(key, "key"), "key": key, "kind": FEEDBACK_KINDS[kind.lower()],
            "scoringType": SCORING_TYPES[scoring_type.lower()], "description": description}}, idempotent=idempotent)
        return FeedbackKey.model_validate(data["createMetric"])

    def ensure_feedback_key(self, project: str | None, key: str, *, kind: str = "scalar",
                            scoring_type: str = "higher_is_better", name: str | None = None,
                            description: str | None = None) -> tuple[FeedbackKey, bool]:
        """The project's feedback key ``key``, registered if missing: ``(feedback key, created)``. Metric keys
        are unique per project, so concurrent callers converge on one; an existing key of another ``kind`` is
        an :class:`InvalidInput` (scores of one kind cannot go to the other)."""
        found, created = _get_or_create(
            lambda: self.get_feedback_key(project, key),
            lambda: self._register_feedback_key(project, key, kind, scoring_type, name, description, idempotent=True))
        wanted = FEEDBACK_KINDS.get(kind.lower())
        if found.kind and wanted and found.kind != wanted:
            raise InvalidInput(f"Feedback key {key!r} of project {project!r} exists with kind {found.kind}, not "
                               f"{wanted}: use that kind, or another key.", field="kind")
        return found, created

    def get_feedback_key(self, project: str | None, key: str) -> FeedbackKey:
        data = self.graphql("DescribeMetric", {"metric": _key(key, "feedback_key"),
                                               "project": _key(project, "project")})
        return FeedbackKey.model_validate(self._present("metric", data, f"feedback key {key!r} in {project!r}"))

    def list_feedback_keys(self) -> list[FeedbackKey]:
        return [FeedbackKey.model_validate(m) for m in self.graphql("ListMetrics").get("metrics") or []]

    def log_metric(self, completion_id: str, feedback_key: str, value: float | bool,
                   details: str | None = None, *, user: str | None = None) -> str:
        """Score one completion on a feedback key; returns the feedback id. Not retried after sending.

        As the SDK: GraphQL ``AddDirectScore``. With ``user`` (a UUID; the SDK drops it, ``AddDirectScore`` has
        no user), REST ``POST /api/v1/feedback`` with ``user_id``, as the SDK did up to 0.12.
        """
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidInput(f"value must be a finite number or a bool, got {value!r}.", field="value")
        if user is not None:
            return self._log_metric_with_user(completion_id, _key(feedback_key, "feedback_key"), value, user, details)
        if isinstance(value, bool):
            value = int(value)
        data = self.graphql("AddDirectScore", {"completionId_0": _key(completion_id, "completion_id"),
                                               "metricId_0": _key(feedback_key, "feedback_key"),
                                               "input_0": {"value": value, "details": details}})
        return str(data["addDirectScore"]["id"])

    def log_preference(self, project: str | None, feedback_key: str, preferred_completion: str | Mapping[str, str],
                       other_completion: str | Mapping[str, str], *,
                       messages: Sequence[Mapping[str, Any]] | None = None, user: str | None = None,
                       prompt: str | None = None, tied: str | None = None) -> str:
        """Record that one completion was preferred over another (by id, or ``{"text", "model"}`` with
        ``messages`` or a ``prompt``, sent as one user message); returns the comparison id. ``tied="good"`` or
        ``"bad"`` says both were equally good or bad (the SDK 0.14.2 fails on ``tied``; this sends it)."""
        raw = not isinstance(preferred_completion, str) or not isinstance(other_completion, str)
        if prompt is not None:
            if messages:
                raise InvalidInput("Give messages or prompt, not both.", field="prompt")
            if not isinstance(prompt, str) or not prompt:
                raise InvalidInput(f"prompt must be non-empty text, got {prompt!r}.", field="prompt")
            messages = [{"role": "user", "content": prompt}]
        if raw and not messages:
            raise InvalidInput("Completions given as text need the messages (or prompt) they answer.",
                               field="messages")
        if tied is not None and tied not in TIES:
            raise InvalidInput(f"tied must be one of {list(TIES)} (both equally good or bad), got {tied!r}.",
                               field="tied")
        sides = [as_uuid(c, name) if isinstance(c, str) else c for c, name in (
            (preferred_completion, "preferred_completion"), (other_completion, "other_completion"))]
        body: dict[str, Any] = {"metric": _key(feedback_key, "feedback_key")}
        if messages:
            body["messages"] = _messages(messages)
        body.update({"preferred_completion": sides[0], "other_completion": sides[1]})
        if tied is not None:
            body["tied"] = tied
        body["project"] = _key(project, "project")
        if user is not None:
            body["user_id"] = as_uuid(user, "user")
        return ComparisonCreated.model_validate(self._rest("comparison", body)).comparison_id

    # -- chat and interactions ----------------------------------------------------------------------
    def chat(self, project: str | None, messages: Sequence[Mapping[str, Any]], *, model: str | None = None,
             max_tokens: int | None = None, temperature: float | None = None, top_p: float | None = None,
             stop: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
             store: bool | None = None, session_id: str | None = None, user: str | None = None,
             ab_campaign: str | None = None, n: int | None = None) -> ChatResponse:
        """One chat completion from ``model`` (default: the project's default model). Not retried once sent.

        ``ab_campaign`` routes the request to the A/B test with that key (to one of its models, whatever its
        traffic split) so it counts in the test; ``n`` asks for that many completions (``choices``, each with
        its ``completion_id``). ``user`` and ``session_id`` are UUIDs (see :func:`user_uuid`).
        """
        body = _chat_body(project, messages, model=model, max_tokens=max_tokens, temperature=temperature,
                          top_p=top_p, stop=stop, labels=labels, store=store, session_id=session_id, user=user,
                          ab_campaign=ab_campaign, n=n)
        return ChatResponse.model_validate(self._rest("chat/completions", body))

    def stream_chat(self, project: str | None, messages: Sequence[Mapping[str, Any]], *, model: str | None = None,
                    include_usage: bool = False, max_tokens: int | None = None, temperature: float | None = None,
                    top_p: float | None = None, stop: Sequence[str] | None = None,
                    labels: Mapping[str, str] | None = None, store: bool | None = None,
                    session_id: str | None = None, user: str | None = None, ab_campaign: str | None = None,
                    n: int | None = None) -> Iterator[ChatResponse]:
        """A chat completion as it is generated: chunks whose ``text`` is the next piece (``choices[0].delta``),
        until the server's ``[DONE]``; with ``include_usage`` a last chunk carries the token counts. A
        connection broken mid-stream raises :class:`~dagster_labeling.ConnectionFailed`.

        >>> # "".join(chunk.text for chunk in adaptive.stream_chat("support", [{"role": "user", "content": "Hi"}]))
        """
        body = _chat_body(project, messages, model=model, max_tokens=max_tokens, temperature=temperature,
                          top_p=top_p, stop=stop, labels=labels, store=store, session_id=session_id, user=user,
                          ab_campaign=ab_campaign, n=n)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True} if include_usage else {}
        path = "api/v1/chat/completions"
        response = self._http.request("POST", path, json_body=body, stream=True,
                                      headers={"Accept": "text/event-stream", "Cache-Control": "no-store"})
        return self._chat_chunks(response, path)

    def _chat_chunks(self, response: httpx.Response, path: str) -> Iterator[ChatResponse]:
        try:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[len("data:"):].strip()
                if data == "[DONE]":
                    return
                try:
                    chunk = json.loads(data)
                except ValueError:
                    continue  # as the SDK: a data line that is not JSON is skipped
                yield ChatResponse.model_validate(chunk)
        except httpx.TransportError as exc:
            raise ConnectionFailed(self._http.redactor.redact(
                f"{PLATFORM} POST {path}: the stream broke before it finished: {type(exc).__name__}: {exc}"),
                platform=PLATFORM, method="POST", path=path, attempts=1) from None
        finally:
            response.close()

    def embed(self, project: str | None, text: str, *, model: str | None = None, user: str | None = None,
              encoding_format: str = "Float") -> list[float]:
        """The embedding of ``text`` from an embedding ``model`` (default: the project's default model), as floats
        whatever ``encoding_format`` (``Base64`` answers are decoded). For many texts: :meth:`embed_many`."""
        if not isinstance(text, str) or not text:
            raise InvalidInput("text to embed must be non-empty.", field="text")
        if encoding_format not in ENCODINGS:
            raise InvalidInput(f"encoding_format must be one of {list(ENCODINGS)}, got {encoding_format!r}.",
                               field="encoding_format")
        body: dict[str, Any] = {"input": text, "model": f"{_key(project, 'project')}/{model}" if model else project,
                                "encoding_format": encoding_format}
        if user is not None:
            body["user"] = as_uuid(user, "user")
        data = self._rest("embeddings", body).get("data") or []
        if not data:
            raise AdaptiveGraphQLError("embeddings: the answer has no embedding", platform=PLATFORM, method="POST",
                                       path="api/v1/embeddings", status_code=200)
        return decode_embedding(data[0]["embedding"])

    def create_interaction(self, project: str | None, messages: Sequence[Mapping[str, Any]] | None, completion: str,
                           *, model: str | None = None, feedbacks: Sequence[Mapping[str, Any]] | None = None,
                           user: str | None = None, session_id: str | None = None,
                           labels: Mapping[str, str] | None = None, created_at: str | None = None,
                           ab_campaign: str | None = None, prompt: str | None = None) -> InteractionCreated:
        """Store a completion made elsewhere, with optional feedback ``[{"feedback_key", "value", "details"}]``
        (as the SDK takes it; sent as ``metric``). ``prompt`` (instead of ``messages``) is sent as one user
        message; ``ab_campaign`` logs it into that A/B test (its feedback counts there); ``user`` and
        ``session_id`` are UUIDs."""
        if not isinstance(completion, str) or not completion:
            raise InvalidInput("completion must be non-empty text.", field="completion")
        if prompt is not None:
            if messages:
                raise InvalidInput("Give messages or prompt, not both.", field="prompt")
            if not isinstance(prompt, str) or not prompt:
                raise InvalidInput(f"prompt must be non-empty text, got {prompt!r}.", field="prompt")
            messages = [{"role": "user", "content": prompt}]
        body: dict[str, Any] = {"model_service": model, "project": _key(project, "project"),
                                "messages": _messages(messages or []), "completion": completion,
                                "feedbacks": [_feedback(f) for f in feedbacks] if feedbacks else None,
                                "user": optional_uuid(user, "user"),
                                "session_id": optional_uuid(session_id, "session_id"), "created_at": created_at,
                                "ab_campaign": _key(ab_campaign, "ab_campaign") if ab_campaign is not None else None,
                                "labels": dict(labels) if labels else None}
        return InteractionCreated.model_validate(self._rest("interactions",
                                                            {k: v for k, v in body.items() if v is not None}))

    def list_interactions(self, project: str | None, *, models: Sequence[str] | None = None,
                          labels: Mapping[str, Sequence[str]] | None = None, first: int = 100,
                          filter: InteractionFilter | None = None, order: str = "desc") -> list[Interaction]:
        """The project's latest ``first`` interactions (newest first, or ``order="asc"``), optionally of some
        models or label values, or matching ``filter``. Pages with cursors: :meth:`interactions_page`,
        :meth:`iter_interactions`; groups: :meth:`list_grouped_interactions`."""
        if models or labels:
            extra = {"models": list(models) if models else None,
                     "labels": {k: list(v) for k, v in labels.items()} if labels else None}
            merged = (filter.model_dump(exclude_defaults=True) if filter else {})
            for name, value in extra.items():
                if value is not None and merged.get(name):
                    raise InvalidInput(f"{name} is given twice (argument and filter): give it once.", field=name)
                if value is not None:
                    merged[name] = value
            filter = InteractionFilter.model_validate(merged)
        return self.interactions_page(project, filter=filter, order=order, first=first).interactions

    def _interactions_page(self, project: str | None, conditions: list[dict[str, Any]],
                           page: dict[str, Any]) -> tuple[list[Interaction], str | None]:
        """One page of the project's interactions (newest first) and the cursor of the next page, or None."""
        data = self.graphql("ListInteractions", {
            "filter": {"project": _key(project, "project"), "advancedFilter": {"and": conditions}},
            "page": page, "order": [{"field": "created_at", "order": "DESC"}]})
        found = data.get("completions") or {}
        nodes = [Interaction.model_validate(n) for n in found.get("nodes") or []]
        info = found.get("pageInfo") or {}
        more = bool(nodes) and bool(info.get("hasNextPage")) and bool(info.get("endCursor"))
        return nodes, info["endCursor"] if more else None

    def interactions_with_label(self, project: str | None, label_key: str, values: Sequence[str], *,
                                page_size: int = 100) -> dict[str, str]:
        """``{label value: completion id}`` of the project's interactions whose label ``label_key`` is one of
        ``values``, through every page (by the server's cursor, so nothing is skipped)."""
        if not values:
            return {}
        wanted = set(values)
        condition = [{"label": {"key": label_key, "value": {"in": list(values)}}}]
        found: dict[str, str] = {}
        page: dict[str, Any] = {"first": page_size}
        while True:
            nodes, cursor = self._interactions_page(project, condition, page)
            for interaction in nodes:
                for label in interaction.labels:
                    if label.key == label_key and label.value in wanted:
                        found.setdefault(label.value, interaction.id)
            if cursor is None:
                return found
            page = {"first": page_size, "after": cursor}

    def log_interaction_once(self, project: str | None, row_label: tuple[str, str],
                             messages: Sequence[Mapping[str, Any]], completion: str, *, model: str | None = None,
                             feedbacks: Sequence[Mapping[str, Any]] | None = None,
                             labels: Mapping[str, str] | None = None) -> str:
        """Log an interaction carrying the label ``row_label`` (key, value; unique to the row) once; returns its
        completion id.

        The interactions endpoint has no idempotency key, so retries go through a look-up: after an answer that
        leaves it unknown whether the server stored the interaction (a 5xx, a connection lost after sending), the
        label is looked up and the interaction sent again only if it is absent, up to the retry policy's
        ``max_attempts``. (429s and requests never sent are retried by the transport.) A request the server is
        still processing when the look-up runs could be stored twice; a later run's look-up finds both.
        """
        label_key, label_value = row_label
        all_labels = {**(labels or {}), label_key: label_value}
        policy = self._http.retry
        attempt = 1
        while True:
            try:
                return self.create_interaction(project, messages, completion, model=model, feedbacks=feedbacks,
                                               labels=all_labels).completion_id
            except (ServerError, ConnectionFailed) as error:  # maybe stored: look before sending again
                found = self.interactions_with_label(project, label_key, [label_value]).get(label_value)
                if found is not None:
                    return found
                if attempt >= policy.max_attempts:
                    raise
                logger.warning("Adaptive interaction %s=%s not stored after %s; sending it again (attempt %d of "
                               "%d)", label_key, label_value, type(error).__name__, attempt + 1, policy.max_attempts)
            time.sleep(policy.backoff_seconds(attempt))
            attempt += 1

    def get_interaction(self, project: str | None, completion_id: str) -> Interaction:
        data = self.graphql("DescribeInteraction", {"project": _key(project, "project"),
                                                    "id": _key(completion_id, "completion_id")})
        return Interaction.model_validate(self._present("completion", data, f"interaction {completion_id!r}"))

    # -- A/B tests ----------------------------------------------------------------------------------
    def create_ab_test(self, project: str, key: str, feedback_key: str, models: Sequence[str], *,
                       traffic_split: float = 1.0, feedback_type: str = "metric", auto_deploy: bool = False,
                       idempotent: bool = False) -> AdaptiveAbTestHandle:
        """Start an A/B test of ``models`` (attached to the project) on a feedback key; returns a handle
        (``.wait()``, ``.cancel()``). With ``auto_deploy`` the winner becomes the project's default model.
        ``idempotent`` retries the create through 5xx and lost answers (a retry of a create that was stored
        gets "already exists": see :meth:`ensure_ab_test`)."""
        if feedback_type not in ("metric", "preference"):
            raise InvalidInput(f"feedback_type must be 'metric' or 'preference', got {feedback_type!r}.",
                               field="feedback_type")
        if len(set(models)) < 2:
            raise InvalidInput(f"An A/B test needs at least two distinct models, got {list(models)}.",
                               field="models")
        if not 0 < traffic_split <= 1:
            raise InvalidInput(f"traffic_split is the share of traffic in (0, 1], got {traffic_split}.",
                               field="traffic_split")
        self.graphql("CreateAbCampaign", {"input": {
            "key": _key(key, "key"), "metric": _key(feedback_key, "feedback_key"), "project": _key(project, "project"),
            "modelServices": list(models), "autoDeploy": auto_deploy, "trafficSplit": traffic_split,
            "scoreType": "DIRECT" if feedback_type == "metric" else "COMPARISON"}}, idempotent=idempotent)
        return AdaptiveAbTestHandle(self, key)

    def ensure_ab_test(self, project: str, key: str, feedback_key: str, models: Sequence[str], *,
                       traffic_split: float = 1.0, feedback_type: str = "metric",
                       auto_deploy: bool = False) -> tuple[AdaptiveAbTestHandle, bool]:
        """The A/B test ``key``, started if there is none: ``(handle, created)``. A/B test keys are unique, so
        runs calling this together converge on one test (whatever its status: a finished or cancelled test
        keeps its key)."""
        def create() -> AdaptiveAbTestHandle:
            return self.create_ab_test(project, key, feedback_key, models, traffic_split=traffic_split,
                                       feedback_type=feedback_type, auto_deploy=auto_deploy, idempotent=True)

        def get() -> AdaptiveAbTestHandle:
            handle = self.ab_test(key)
            handle.refresh()
            return handle

        return _get_or_create(get, create)

    def ab_test(self, key: str) -> AdaptiveAbTestHandle:
        """A handle on an existing A/B test (e.g. from a sensor), without creating anything."""
        return AdaptiveAbTestHandle(self, _key(key, "key"))

    def get_ab_test(self, key: str) -> AbTest:
        data = self.graphql("DescribeAbCampaign", {"input": _key(key, "key")})
        return AbTest.model_validate(self._present("abCampaign", data, f"A/B test {key!r}"))

    def list_ab_tests(self, project: str, *, active: bool | None = None, status: str | None = None) -> list[AbTest]:
        if status is not None and status.lower() not in AB_STATUS_FILTERS:
            raise InvalidInput(f"status must be one of {list(AB_STATUS_FILTERS)}, got {status!r}.", field="status")
        filters: dict[str, Any] = {"active": active, "project": _key(project, "project")}
        if status is not None:  # as the SDK: an unset status is left out, an unset ``active`` sent as null
            filters["status"] = status.upper()
        data = self.graphql("ListAbCampaigns", {"input": filters})
        return [AbTest.model_validate(t) for t in data.get("abCampaigns") or []]

    def cancel_ab_test(self, key: str) -> str:
        """Cancel a running A/B test (retried through faults; a test that is not running is refused)."""
        return str(self.graphql("CancelABCampaign", {"input": _key(key, "key")}, idempotent=True)
                   .get("cancelAbCampaign"))

    # -- models -------------------------------------------------------------------------------------
    def list_models(self) -> list[Model]:
        return [Model.model_validate(m) for m in self.graphql("ListModels", {"filter": {}}).get("models") or []]

    def get_model(self, model: str) -> Model:
        data = self.graphql("DescribeModel", {"input": _key(model, "model")})
        return Model.model_validate(self._present("model", data, f"model {model!r}"))

    def attach_model(self, project: str, model: str, *, wait: bool = False, make_default: bool = False,
                     placement: Mapping[str, Any] | None = None) -> ModelService:
        """Add a model to a project and deploy it (and make it the default), as the SDK's ``models.attach``."""
        project, model = _key(project, "project"), _key(model, "model")
        added = self.graphql("AddModelsToProject", {"input": {"project": project, "models": [model]}})
        failures = (added.get("addModelsToProject") or {}).get("failures") or []
        if failures:
            raise AdaptiveGraphQLError(f"AddModelsToProject: {failures[0].get('reason')}", platform=PLATFORM,
                                       method="POST", path=GRAPHQL_PATH, status_code=200, body=failures)
        deployed = self.graphql("DeployModel", {"input": {"project": project, "model": model, "placement": placement,
                                                          "wait": wait, "speculativeDecoding": None}})
        service = ModelService.model_validate(deployed["deployModel"]["modelService"])
        if make_default:
            service = self.update_model(project, model, is_default=True)
        return service

    def update_model(self, project: str, model: str, *, is_default: bool | None = None,
                     desired_online: bool | None = None, attached: bool | None = None) -> ModelService:
        """Change a project's model (``models.update``). ``attached`` is the seed's: ``True`` adds the model to the
        project first, ``False`` detaches it (alone: returns the service as it was)."""
        if attached is False:
            if is_default is not None or desired_online is not None:
                raise InvalidInput("A model being detached takes no other change.", field="attached")
            return self._detach_from_project(project, model)
        if attached:
            self._add_to_project(project, model)
        data = self.graphql("UpdateModel", {"input": {
            "project": _key(project, "project"), "modelService": _key(model, "model"), "isDefault": is_default,
            "desiredOnline": desired_online, "placement": None, "speculativeDecoding": None}})
        return ModelService.model_validate(data["updateModelService"])

    def detach_model(self, project: str, model: str) -> bool:
        data = self.graphql("RemoveModelFromProject", {"input": {"project": _key(project, "project"),
                                                                 "model": _key(model, "model")}})
        return bool(data.get("removeModelFromProject"))

    # -- datasets -----------------------------------------------------------------------------------
    def ensure_dataset(self, project: str, key: str, source: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
                       *, name: str | None = None, wait: WaitOptions | None = None) -> tuple[Dataset, bool]:
        """The project's dataset ``key``, uploaded from ``source`` if missing: ``(dataset, created)``. Dataset keys
        are unique per project (an upload still processing holds its key), so concurrent callers converge on
        one dataset, uploaded once; a caller that lost the race waits (``wait``) for the winner's to land."""
        options = wait or WaitOptions(poll_interval_seconds=2.0)

        def landed() -> Dataset:
            deadline = time.monotonic() + (options.timeout_seconds or math.inf)
            while True:
                try:
                    return self.get_dataset(project, key)
                except AdaptiveNotFound:
                    if time.monotonic() >= deadline:
                        raise
                time.sleep(options.poll_interval_seconds)

        return _get_or_create(lambda: self.get_dataset(project, key),
                              lambda: self._upload_dataset(project, key, source, name, options, idempotent=True),
                              taken=landed)

    def upload_dataset(self, project: str, key: str, source: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
                       *, name: str | None = None, wait: WaitOptions | None = None) -> Dataset:
        """Upload a JSONL dataset (a file, or rows such as ``{"messages": [...], "completion": "..."}``).

        Up to 5 MiB it is one GraphQL multipart request; above, as the SDK does, a chunked upload: the file is
        streamed in parts (never read whole), each part retried on its own (a part number is idempotent), the
        session aborted if a part finally fails, then the server's processing is polled (``wait``) until DONE.
        Rows are encoded strictly (a NaN or an infinity is an :class:`InvalidInput`, never sent).
        """
        return self._upload_dataset(project, key, source, name, wait, idempotent=False)

    def _upload_dataset(self, project: str, key: str,
                        source: str | os.PathLike[str] | Iterable[Mapping[str, Any]], name: str | None,
                        wait: WaitOptions | None, *, idempotent: bool) -> Dataset:
        project, key = _key(project, "project"), _key(key, "key")
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if not path.is_file() or path.stat().st_size == 0:
                raise InvalidInput(f"No dataset file at {path}, or it is empty.", field="source")
            size, filename = path.stat().st_size, path.stem
            if size > MAX_SINGLE_UPLOAD_BYTES:
                with path.open("rb") as stream:
                    return self._chunked_upload(project, key, name, stream, size, wait)
            content = path.read_bytes()
        else:
            lines = [dumps(dict(row), where=f"Dataset {key!r} row {i}").decode() for i, row in enumerate(source)]
            if not lines:
                raise InvalidInput("The dataset has no rows.", field="source")
            content, filename = ("\n".join(lines) + "\n").encode(), key
            if len(content) > MAX_SINGLE_UPLOAD_BYTES:
                return self._chunked_upload(project, key, name, io.BytesIO(content), len(content), wait)
        operations = {"query": OPERATIONS["LoadDataset"], "operationName": "LoadDataset",
                      "variables": {"input": {"project": project, "name": name or key, "key": key}, "file": None}}
        response = self._http.request("POST", GRAPHQL_PATH, files=[
            ("operations", (None, json.dumps(operations).encode())),
            ("map", (None, json.dumps({"0": ["variables.file"]}).encode())),
            ("0", (filename, content, "application/jsonl"))], idempotent=idempotent)
        return Dataset.model_validate(self._graphql_data("LoadDataset", response)["createDataset"])

    def _chunked_upload(self, project: str, key: str, name: str | None, stream: BinaryIO, size: int,
                        wait: WaitOptions | None) -> Dataset:
        parts, part_size = upload_parts(size)
        session = self._rest("upload/init", {"content_type": "application/jsonl", "metadata": None,
                                             "total_parts_count": parts})["session_id"]
        try:
            for number in range(1, parts + 1):
                self._http.request("POST", "api/v1/upload/part", params={"session_id": session, "part_number": number},
                                   content=stream.read(part_size), headers={"Content-Type": "application/octet-stream"},
                                   idempotent=True)  # the same part number replaces the part
            created = self.graphql("CreateDatasetFromMultipartUpload", {"input": {
                "project": project, "name": name or key, "key": key, "uploadSessionId": session}})
        except Exception:
            try:
                self._http.request("DELETE", "api/v1/upload/abort", json_body={"session_id": session})
            except Exception as abort_error:  # the upload's own error is the one to raise
                logger.warning("Adaptive upload session %s could not be aborted: %s", session, abort_error)
            raise
        dataset_id = str(created["createDatasetFromMultipartUpload"]["datasetId"])
        AdaptiveUploadHandle(self, project, dataset_id).wait(wait or WaitOptions(poll_interval_seconds=2.0))
        return self.get_dataset(project, dataset_id)

    def list_datasets(self, project: str) -> list[Dataset]:
        data = self.graphql("ListDatasets", {"input": _key(project, "project")})
        return [Dataset.model_validate(d) for d in data.get("datasets") or []]

    def get_dataset(self, project: str, key: str) -> Dataset:
        data = self.graphql("DescribeDataset", {"input": _key(key, "key"), "project": _key(project, "project")})
        return Dataset.model_validate(self._present("dataset", data, f"dataset {key!r} in {project!r}"))

    def download_dataset(self, project: str, key: str, destination: str | os.PathLike[str], *,
                         format: str = "original") -> Path:
        """Stream a dataset (``format``: ``original`` as uploaded, or ``recipe`` as processed) to a file.

        Written to a temporary file beside ``destination`` and renamed when complete: never a partial file.
        """
        if format not in ("original", "recipe"):
            raise InvalidInput(f"format must be 'original' or 'recipe', got {format!r}.", field="format")
        dataset = self.get_dataset(project, key)
        if not dataset.download_url:
            raise AdaptiveNotFound(f"Dataset {key!r} has no download URL.", platform=PLATFORM, method="POST",
                                   path=GRAPHQL_PATH, status_code=200)
        target = Path(destination)
        partial = target.with_name(target.name + ".part")
        response = self._http.request("GET", dataset.download_url.lstrip("/"), params={"format": format},
                                      stream=True)
        try:
            with partial.open("wb") as out:
                for block in response.iter_bytes():
                    out.write(block)
        except httpx.TransportError as exc:
            partial.unlink(missing_ok=True)
            raise ConnectionFailed(self._http.redactor.redact(
                f"{PLATFORM} GET {dataset.download_url}: the download broke: {type(exc).__name__}: {exc}"),
                platform=PLATFORM, method="GET", path=dataset.download_url, attempts=1) from None
        finally:
            response.close()
        partial.replace(target)
        return target

    def delete_dataset(self, project: str, key: str) -> bool:
        data = self.graphql("DeleteDataset", {"idOrKey": _key(key, "key"), "project": _key(project, "project")})
        return bool(data.get("deleteDataset"))

    # -- jobs (training, evaluation recipes) --------------------------------------------------------
    def run_job(self, project: str, recipe: str, *, args: Mapping[str, Any] | None = None, name: str | None = None,
                num_gpus: int = 1, compute_pool: str | None = None) -> AdaptiveJobHandle:
        """Start a recipe job (training or evaluation); returns a handle (``.wait()``, ``.cancel()``)."""
        if num_gpus < 1:
            raise InvalidInput(f"num_gpus must be at least 1, got {num_gpus}.", field="num_gpus")
        data = self.graphql("CreateJob", {"input": {
            "recipe": _key(recipe, "recipe"), "project": _key(project, "project"), "args": dict(args or {}),
            "name": name, "computePool": compute_pool, "numGpus": num_gpus}})
        return AdaptiveJobHandle(self, str(data["createJob"]["id"]))

    def job(self, job_id: str) -> AdaptiveJobHandle:
        """A handle on an existing job, without starting anything."""
        return AdaptiveJobHandle(self, _key(job_id, "job_id"))

    def get_job(self, job_id: str) -> Job:
        data = self.graphql("DescribeJob", {"id": _key(job_id, "job_id")})
        return Job.model_validate(self._present("job", data, f"job {job_id!r}"))

    def list_jobs(self, project: str, *, first: int = 100) -> list[Job]:
        """The project's latest recipe jobs (at most ``first``)."""
        if first < 1:
            raise InvalidInput(f"first must be at least 1, got {first}.", field="first")
        data = self.graphql("ListJobs", {"page": {"first": first, "after": None, "before": None, "last": None},
                                         "filter": {"project": _key(project, "project"), "kind": None}, "order": []})
        return [Job.model_validate(j) for j in (data.get("jobs") or {}).get("nodes") or []]

    def cancel_job(self, job_id: str) -> Job:
        """Ask the server to cancel a job (retried through faults: canceling twice is harmless). The job may
        stay RUNNING for a while: ``job(job_id).cancel()`` waits until it settles."""
        return Job.model_validate(self.graphql("CancelJob", {"jobId": _key(job_id, "job_id")},
                                               idempotent=True)["cancelJob"])
