"""Interactions (filters, order, cursor pages, groups), feedback keys linked to projects, metric feedback with a
user, and embeddings of many texts, for :class:`~dagster_labeling.adaptive.AdaptiveClient`.

The filters are the official SDK's (``interactions.list(filters=...)``, ``adaptive-sdk`` 0.14.2) in today's
schema. The SDK sends models, time range, session, completion id, labels, prompt hash and source inside
``advancedFilter``; we send the same, key for key. Its ``user_id``, ``feedbacks`` and ``comparisons`` filters reach
the server as ``{}`` (its own input model drops them, so they filter nothing): ours send them in the schema's terms,
``createdBy`` (the user who made the interaction) and ``scores`` in ``advancedFilter``; ``comparisons`` exists only
as a simple filter field, and ``advancedFilter`` takes precedence over those, so a filter with ``comparisons`` is
sent as simple fields alone.

>>> InteractionFilter(models=["m"], labels={"env": ["prod"], "reviewed": None}).conditions()
[{'model': {'in': ['m']}}, {'label': {'key': 'env', 'value': {'in': ['prod']}}}, {'label': {'key': 'reviewed'}}]
>>> as_uuid("35612002-EFF5-4B1F-886D-E50E1B9FD4D8", "user")
'35612002-eff5-4b1f-886d-e50e1b9fd4d8'
"""

import base64
import binascii
import struct
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dagster_labeling._core import InvalidInput
from dagster_labeling.adaptive.errors import AdaptiveGraphQLError, AdaptiveNotFound
from dagster_labeling.adaptive.models import FeedbackKey, Interaction, _Graph
from dagster_labeling.adaptive.operations import _COMPLETION, _METRIC, OPERATIONS

if TYPE_CHECKING:
    from dagster_labeling._core import HttpTransport

PLATFORM = "Adaptive ML"
SOURCES = ("LIVE", "OFFLINE", "AUTOMATION", "DATASET", "EVALUATION")
TIES = ("good", "bad")
ENCODINGS = ("Float", "Base64")
FEEDBACK_REASONS = ("Toxicity", "Factuality", "Style", "WrongAnswer")
USER_NAMESPACE = uuid.UUID("6f1c1b1e-2a55-5f0e-9a0c-6164617074ff")
"""The namespace of :func:`user_uuid` (fixed: the same name gives the same id in every run and process)."""

INTERACTION_OPERATIONS: dict[str, str] = {
    "ListGroupedInteractions": (
        "query ListGroupedInteractions($filter: ListCompletionsFilterInput!, $groupBy: CompletionGroupBy!, "
        '$page: CursorPageInput!, $order: [OrderPair!] = [{field: "group", order: ASC}]) '
        "{ completionsGrouped(groupBy: $groupBy, filter: $filter, page: $page, order: $order) { totalCount groupBy "
        "pageInfo { hasNextPage endCursor } nodes { key count "
        f"directScoresStats {{ metric {{ {_METRIC} }} scores average max min stddev sum }} "
        f'completions(page: $page, order: [{{field: "created_at", order: DESC}}]) '
        f"{{ nodes {{ {_COMPLETION} }} }} }} }} }}"),
    # the SDK has no resource for these two; its query builder names them so (as AddDirectScore)
    "DeleteMetric": ("mutation DeleteMetric($project_0: IdOrKey!, $metric_0: IdOrKey!) "
                     "{ deleteMetric(project: $project_0, metric: $metric_0) }"),
}
OPERATIONS.update(INTERACTION_OPERATIONS)  # the client's one table of documents (AdaptiveClient.graphql)


def as_uuid(value: Any, field: str) -> str:
    """``value`` (a UUID or its text) as the canonical text the SDK sends; anything else is an
    :class:`InvalidInput` naming ``field`` and the fix (Adaptive types users, sessions and completions as UUIDs)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    try:
        return str(uuid.UUID(str(value))) if isinstance(value, str) else str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        raise InvalidInput(
            f"{field} must be a UUID (Adaptive's API types it so), got {value!r}. Pass a uuid.UUID or its text; to "
            f"use your own ids, map each to a stable UUID with dagster_labeling.adaptive.user_uuid({value!r}).",
            field=field) from None


def optional_uuid(value: Any, field: str) -> str | None:
    return None if value is None else as_uuid(value, field)


def user_uuid(name: str) -> str:
    """A stable UUID for one of your own user (or session) ids, for ``user=`` and ``session_id=``: the same name
    gives the same UUID everywhere (UUID v5 in a fixed namespace). Our client never maps ids silently: it refuses
    a value that is not a UUID; call this to map yours.

    >>> user_uuid("alice@example.com") == user_uuid("alice@example.com") != user_uuid("bob@example.com")
    True
    """
    if not isinstance(name, str) or not name:
        raise InvalidInput("user_uuid needs a non-empty name.", field="name")
    return str(uuid.uuid5(USER_NAMESPACE, name))


def decode_embedding(value: Any) -> list[float]:
    """An embedding as floats: a list as it is, or Base64 of little-endian float32 (``encoding_format="Base64"``)."""
    if isinstance(value, list):
        return [float(x) for x in value]
    try:
        raw = base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AdaptiveGraphQLError(f"embeddings: the Base64 embedding does not decode: {exc}", platform=PLATFORM,
                                   method="POST", path="api/v1/embeddings", status_code=200) from None
    if len(raw) % 4:
        raise AdaptiveGraphQLError(f"embeddings: {len(raw)} bytes is not a float32 vector", platform=PLATFORM,
                                   method="POST", path="api/v1/embeddings", status_code=200)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def _time(value: datetime | int | str, field: str) -> int | str:
    if isinstance(value, datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return int(stamp.timestamp() * 1000)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidInput(f"{field} must be a datetime, epoch milliseconds or an ISO 8601 text, got {value!r}.",
                           field=field)
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{field} must be ISO 8601 (e.g. 2024-01-01T00:00:00Z), got {value!r}.",
                               field=field) from None
    return value


class ScoreFilter(BaseModel):
    """Interactions with a direct score on ``metric`` (a feedback key), optionally within bounds or of reasons (the
    SDK's ``feedbacks`` filter)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    gt: float | None = None
    gte: float | None = None
    eq: float | None = None
    neq: float | None = None
    lt: float | None = None
    lte: float | None = None
    reasons: list[str] | None = None

    def bounds(self) -> dict[str, float]:
        return {k: v for k in ("eq", "neq", "gt", "gte", "lt", "lte") if (v := getattr(self, k)) is not None}


class InteractionFilter(BaseModel):
    """Which interactions to list; every field set must hold (AND). ``labels`` maps a label key to the accepted
    values, or to ``None`` for "has the label"; ``since``/``until`` take datetimes (UTC when naive), epoch
    milliseconds or ISO text (one alone: from the beginning, or until now); ``user``, ``session_id`` and
    ``completion_id`` are UUIDs; ``feedback`` and ``comparisons`` name feedback keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: list[str] | None = None
    since: datetime | int | str | None = None
    until: datetime | int | str | None = None
    session_id: str | None = None
    user: str | None = None
    labels: dict[str, list[str] | None] | None = None
    completion_id: str | None = None
    feedback: list[ScoreFilter] | None = None
    comparisons: list[str] | None = None
    prompt_hash: str | None = None
    source: list[Literal["LIVE", "OFFLINE", "AUTOMATION", "DATASET", "EVALUATION"]] | None = None

    @field_validator("session_id", "user", "completion_id", mode="before")
    @classmethod
    def _uuids(cls, value: Any, info: Any) -> Any:
        return optional_uuid(value, info.field_name)

    @field_validator("feedback", mode="before")
    @classmethod
    def _feedback(cls, value: Any) -> Any:  # a key alone: any score on it
        if value is None:
            return None
        return [ScoreFilter(metric=v) if isinstance(v, str) else v for v in value]

    def _timerange(self) -> dict[str, Any] | None:
        if self.since is None and self.until is None:
            return None
        start = 0 if self.since is None else _time(self.since, "since")
        end = int(time.time() * 1000) if self.until is None else _time(self.until, "until")
        return {"from": start, "to": end}

    def conditions(self) -> list[dict[str, Any]]:
        """The ``advancedFilter.and`` list, in the SDK's order."""
        out: list[dict[str, Any]] = []
        if self.models:
            out.append({"model": {"in": list(self.models)}})
        if (timerange := self._timerange()) is not None:
            out.append({"timerange": timerange})
        if self.session_id:
            out.append({"sessionId": self.session_id})
        if self.completion_id:
            out.append({"completionId": self.completion_id})
        if self.user:
            out.append({"createdBy": {"eq": self.user}})
        for score in self.feedback or []:
            condition: dict[str, Any] = {"metric": score.metric}
            if score.bounds():
                condition["value"] = score.bounds()
            if score.reasons:
                condition["reasons"] = list(score.reasons)
            out.append({"scores": condition})
        for key, values in (self.labels or {}).items():
            out.append({"label": {"key": key, "value": {"in": list(values)}}} if values is not None
                       else {"label": {"key": key}})
        if self.prompt_hash:
            out.append({"promptHash": {"eq": self.prompt_hash}})
        out.extend({"source": source} for source in self.source or [])
        return out

    def to_filter(self, project: str) -> dict[str, Any]:
        """The ``filter`` variable (``ListCompletionsFilterInput``) for ``project``."""
        if not self.comparisons:
            return {"project": project, "advancedFilter": {"and": self.conditions()}}
        simple: dict[str, Any] = {"project": project}
        if self.models:
            simple["models"] = list(self.models)
        if (timerange := self._timerange()) is not None:
            simple["timerange"] = timerange
        if self.session_id:
            simple["sessionId"] = self.session_id
        if self.user:
            simple["createdBy"] = self.user
        if self.feedback:
            simple["scores"] = [{"metric": s.metric, **s.bounds(), **({"reasons": s.reasons} if s.reasons else {})}
                                for s in self.feedback]
        simple["comparisons"] = [{"metric": metric} for metric in self.comparisons]
        if self.labels:
            simple["labels"] = [{"key": k, "value": list(v)} if v is not None else {"key": k}
                                for k, v in self.labels.items()]
        if self.prompt_hash:
            simple["promptHash"] = self.prompt_hash
        if self.completion_id:
            simple["completionId"] = self.completion_id
        if self.source:
            simple["source"] = list(self.source)
        return simple


class InteractionsPage(BaseModel):
    """One page of interactions; ``end_cursor`` is the ``after`` of the next page, or ``None`` on the last."""

    interactions: list[Interaction]
    total_count: int | None = None
    end_cursor: str | None = None


class ScoreStats(_Graph):
    """The direct scores of a group on one feedback key."""

    metric: FeedbackKey | None = None
    scores: int = 0
    average: float | None = None
    max: float | None = None
    min: float | None = None
    stddev: float | None = None
    sum: float | None = None


class InteractionGroup(_Graph):
    """The interactions of one model or one prompt (``key``): how many, their scores, the newest of them."""

    key: str | None = None
    count: int = 0
    direct_scores_stats: list[ScoreStats] = Field(default_factory=list)
    interactions: list[Interaction] = Field(default_factory=list)


class GroupedInteractions(BaseModel):
    """A page of groups (``group_by`` ``MODEL`` or ``PROMPT``); ``end_cursor`` as :class:`InteractionsPage`."""

    group_by: str
    groups: list[InteractionGroup]
    total_count: int | None = None
    end_cursor: str | None = None


def _page(first: int, after: str | None) -> dict[str, Any]:
    if isinstance(first, bool) or not isinstance(first, int) or first < 1:
        raise InvalidInput(f"first must be at least 1, got {first!r}.", field="first")
    return {"first": first, "after": after} if after else {"first": first}


def _order(order: str) -> list[dict[str, str]]:
    if order not in ("desc", "asc"):
        raise InvalidInput(f"order must be 'desc' (newest first) or 'asc', got {order!r}.", field="order")
    return [{"field": "created_at", "order": order.upper()}]


def _next_cursor(found: Mapping[str, Any], count: int) -> str | None:
    info = found.get("pageInfo") or {}
    return info["endCursor"] if count and info.get("hasNextPage") and info.get("endCursor") else None


class InteractionsMixin:
    """Interactions pages and groups, feedback keys linked to projects, metric feedback with a user, and many
    embeddings at once; mixed into :class:`~dagster_labeling.adaptive.AdaptiveClient`."""

    _http: "HttpTransport"
    max_concurrency: int

    if TYPE_CHECKING:
        def graphql(self, operation: str, variables: Mapping[str, Any] | None = None, *,
                    idempotent: bool | None = None) -> Any: ...
        def _rest(self, path: str, body: Mapping[str, Any], *, idempotent: bool = False) -> Any: ...
        def get_feedback_key(self, project: str | None, key: str) -> FeedbackKey: ...
        def embed(self, project: str | None, text: str, *, model: str | None = None, user: str | None = None,
                  encoding_format: str = "Float") -> list[float]: ...

    # -- interactions ---------------------------------------------------------------------------------
    def interactions_page(self, project: str | None, *, filter: InteractionFilter | None = None,
                          order: str = "desc", first: int = 100, after: str | None = None) -> InteractionsPage:
        """One page of the project's interactions (``ListInteractions``) matching ``filter``, newest first (or
        ``order="asc"``), from the cursor ``after``; the page's ``end_cursor`` continues it."""
        assert project is not None  # the default project is filled in by the client
        variables = {"filter": (filter or InteractionFilter()).to_filter(project), "page": _page(first, after),
                     "order": _order(order)}
        found = self.graphql("ListInteractions", variables).get("completions") or {}
        nodes = [Interaction.model_validate(n) for n in found.get("nodes") or []]
        return InteractionsPage(interactions=nodes, total_count=found.get("totalCount"),
                                end_cursor=_next_cursor(found, len(nodes)))

    def iter_interactions(self, project: str | None, *, filter: InteractionFilter | None = None,
                          order: str = "desc", page_size: int = 100) -> Iterator[Interaction]:
        """Every interaction matching ``filter``, page by page along the server's cursor (nothing skipped when
        interactions arrive meanwhile: new ones sort before the cursor, newest first)."""
        after: str | None = None
        while True:
            page = self.interactions_page(project, filter=filter, order=order, first=page_size, after=after)
            yield from page.interactions
            if page.end_cursor is None:
                return
            after = page.end_cursor

    def list_grouped_interactions(self, project: str | None, group_by: str = "model", *,
                                  filter: InteractionFilter | None = None, first: int = 100,
                                  after: str | None = None) -> GroupedInteractions:
        """The project's interactions grouped by ``model`` or ``prompt`` (the SDK's ``interactions.list(group_by=)``,
        ``ListGroupedInteractions``): per group its count, score statistics per feedback key and its newest
        interactions (at most ``first``: the API pages groups and each group's interactions with one page)."""
        assert project is not None
        if group_by not in ("model", "prompt"):
            raise InvalidInput(f"group_by must be 'model' or 'prompt', got {group_by!r}.", field="group_by")
        data = self.graphql("ListGroupedInteractions", {
            "filter": (filter or InteractionFilter()).to_filter(project), "groupBy": group_by.upper(),
            "page": _page(first, after)})
        found = data.get("completionsGrouped") or {}
        groups = []
        for node in found.get("nodes") or []:
            inner = (node.get("completions") or {}).get("nodes") or []
            groups.append(InteractionGroup.model_validate(
                {**node, "interactions": [Interaction.model_validate(n) for n in inner]}))
        return GroupedInteractions(group_by=str(found.get("groupBy") or group_by.upper()), groups=groups,
                                   total_count=found.get("totalCount"), end_cursor=_next_cursor(found, len(groups)))

    # -- feedback keys in projects ----------------------------------------------------------------------
    def link_feedback_key(self, project: str | None, key: str) -> FeedbackKey:
        """Make an existing feedback key available in ``project`` (the older SDK's ``feedback.link``). Today a key
        belongs to projects through ``createMetric(project, ...)``: this creates it in ``project`` with the kind,
        scoring type, name and description it has elsewhere. A key already in the project is returned as it is;
        runs doing this together converge (a lost race is resolved by a look-up)."""
        assert project is not None
        try:
            return self.get_feedback_key(project, key)
        except AdaptiveNotFound:
            pass
        existing = next((FeedbackKey.model_validate(m) for m in self.graphql("ListMetrics").get("metrics") or []
                         if m.get("key") == key), None)
        if existing is None:
            raise AdaptiveNotFound(f"No feedback key {key!r} to link: register it with register_feedback_key"
                                   f"({project!r}, {key!r}, kind=...).", platform=PLATFORM, method="POST",
                                   path="api/graphql", status_code=200)
        try:
            data = self.graphql("CreateMetric", {"project": project, "input": {
                "name": existing.name or key, "key": key, "kind": existing.kind or "SCALAR",
                "scoringType": existing.scoring_type or "HIGHER_IS_BETTER", "description": existing.description}},
                idempotent=True)
        except AdaptiveGraphQLError:
            return self.get_feedback_key(project, key)  # linked meanwhile (or the error was real: raised here)
        return FeedbackKey.model_validate(data["createMetric"])

    def unlink_feedback_key(self, project: str | None, key: str) -> bool:
        """Remove a feedback key from ``project`` (the older SDK's ``feedback.unlink``): today's
        ``deleteMetric(project, metric)``. The key stays in its other projects."""
        assert project is not None
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"key must be a non-empty feedback key, got {key!r}.", field="key")
        data = self.graphql("DeleteMetric", {"project_0": project, "metric_0": key}, idempotent=False)
        return bool(data.get("deleteMetric"))

    def _log_metric_with_user(self, completion_id: str, feedback_key: str, value: float | bool, user: str,
                              details: str | None) -> str:
        """Metric feedback with its user: REST ``POST /api/v1/feedback`` (``AddFeedbackRequest`` in the SDK's
        openapi.json, the path SDK 0.12 used), since GraphQL ``AddDirectScore`` has no user."""
        body: dict[str, Any] = {"value": value, "completion_id": as_uuid(completion_id, "completion_id"),
                                "metric": feedback_key, "user_id": as_uuid(user, "user")}
        if details is not None:
            body["details"] = details
        return str(self._rest("feedback", body)["feedback_id"])

    # -- embeddings -------------------------------------------------------------------------------------
    def embed_many(self, project: str | None, texts: Sequence[str], *, model: str | None = None,
                   user: str | None = None, encoding_format: str = "Float") -> list[list[float]]:
        """The embeddings of ``texts``, in order. The API embeds one input per request, so this sends one request
        per text, up to ``max_concurrency`` at a time; Base64 answers are decoded to floats."""
        if isinstance(texts, str) or not texts:
            raise InvalidInput("texts must be a non-empty list of texts (for one text use embed).", field="texts")
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text:
                raise InvalidInput(f"texts[{i}] must be non-empty text, got {text!r}.", field="texts")
        optional_uuid(user, "user")
        if encoding_format not in ENCODINGS:
            raise InvalidInput(f"encoding_format must be one of {list(ENCODINGS)}, got {encoding_format!r}.",
                               field="encoding_format")
        with ThreadPoolExecutor(max_workers=max(1, min(self.max_concurrency, len(texts)))) as pool:
            return list(pool.map(lambda text: self.embed(project, text, model=model, user=user,
                                                         encoding_format=encoding_format), texts))


__all__ = ["GroupedInteractions", "InteractionFilter", "InteractionGroup", "InteractionsMixin", "InteractionsPage",
           "ScoreFilter", "ScoreStats", "as_uuid", "decode_embedding", "user_uuid"]
