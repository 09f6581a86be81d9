"""The Adaptive emulator's interactions: filters checked against the 0.14.2 schema's input types and applied
(``advancedFilter`` expressions with and/or/not, or the simple fields when there is none), grouped listing
(``ListGroupedInteractions``), metric feedback over REST (``POST /api/v1/feedback``), ``DeleteMetric`` (a feedback
key leaves a project) and what chat and interactions share: UUID fields, A/B test routing, ``n`` completions.

:class:`AdaptiveInteractionsEmulatorMixin` is inherited by :class:`~dagster_labeling.testing.adaptive.AdaptiveEmulator`.
Emulator choices where Adaptive documents nothing: a prompt hash is the SHA-256 of the messages (roles and texts);
``PROMPT`` groups are keyed by the prompt (``role: content`` lines); ``createdBy`` matches the ``user`` an
interaction was made with; a group's interactions are its newest ``page.first``.
"""

import hashlib
import json
import math
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dagster_labeling.testing.adaptive_inputs import ENUMS, INPUTS, check_input
from dagster_labeling.testing.base import HTTPError, Request

if TYPE_CHECKING:
    from dagster_labeling.testing.clock import Clock

_CONDITION = {"eq": ("String", False), "in": (["String"], False), "neq": ("String", False)}
_BOUNDS = {k: ("Float", False) for k in ("eq", "neq", "gt", "gte", "lt", "lte")}
ENUMS.update({"CompletionSource": ("LIVE", "OFFLINE", "AUTOMATION", "DATASET", "EVALUATION"),
              "SortDirection": ("ASC", "DESC"), "CompletionGroupBy": ("MODEL", "PROMPT")})
INPUTS.update({
    "ListCompletionsFilterInput": {
        "project": ("IdOrKey", True), "models": (["String"], False), "timerange": ("TimeRange", False),
        "sessionId": ("JSON", False), "createdBy": ("String", False), "scores": (["CompletionScoreFilterInput"], False),
        "comparisons": (["CompletionComparisonFilterInput"], False), "labels": (["LabelFilter"], False),
        "promptHash": ("String", False), "completionId": ("JSON", False), "source": (["CompletionSource"], False),
        "completion": ("String", False), "prompt": ("String", False),
        "advancedFilter": ("CompletionFilterExpression", False)},
    "CompletionFilterExpression": {
        "and": (["CompletionFilterExpression"], False), "or": (["CompletionFilterExpression"], False),
        "not": ("CompletionFilterExpression", False), "timerange": ("TimeRange", False),
        "model": ("IdOrKeyCondition", False), "label": ("LabelCondition", False), "scores": ("ScoreCondition", False),
        "source": ("CompletionSource", False), "promptHash": ("StringCondition", False), "sessionId": ("JSON", False),
        "createdBy": ("IdOrKeyCondition", False), "completionId": ("JSON", False),
        "completion": ("TextCondition", False), "prompt": ("TextCondition", False)},
    "TimeRange": {"from": ("JSON", True), "to": ("JSON", True)},
    "IdOrKeyCondition": _CONDITION, "StringCondition": _CONDITION,
    "LabelCondition": {"key": ("String", True), "value": ("StringCondition", False)},
    "ScoreCondition": {"metric": ("String", True), "value": ("FloatNumericCondition", False),
                       "reasons": (["String"], False)},
    "FloatNumericCondition": _BOUNDS,
    "TextCondition": {"eq": ("String", False), "contains": ("String", False)},
    "CompletionScoreFilterInput": {"metric": ("String", True), **_BOUNDS, "reasons": (["String"], False)},
    "CompletionComparisonFilterInput": {"metric": ("String", True)},
    "CursorPageInput": {"first": ("Int", False), "after": ("String", False), "before": ("String", False),
                        "last": ("Int", False), "offset": ("Int", False)},
    "OrderPair": {"field": ("String", True), "order": ("SortDirection", True)},
})
FEEDBACK_REASONS = ("Toxicity", "Factuality", "Style", "WrongAnswer")


def prompt_hash(messages: list[dict[str, Any]]) -> str:
    """The emulator's prompt hash of an interaction (what ``promptHash`` filters compare)."""
    return hashlib.sha256(json.dumps([[m["role"], m["content"]] for m in messages]).encode()).hexdigest()


def rest_uuid(body: dict[str, Any], name: str) -> str | None:
    """``body[name]`` as a UUID, or 422 as the server's JSON deserializer answers a malformed one."""
    value = body.get(name)
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return str(uuid.UUID(value))
    except ValueError:
        pass
    raise HTTPError(422, f"Failed to deserialize the JSON body into the target type: {name}: UUID parsing failed "
                         f"for {value!r}")


def _bound_ok(value: float, bounds: dict[str, Any]) -> bool:
    checks: dict[str, Callable[[float, float], bool]] = {
        "eq": lambda a, b: a == b, "neq": lambda a, b: a != b, "gt": lambda a, b: a > b, "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b, "lte": lambda a, b: a <= b}
    return all(checks[k](value, float(b)) for k, b in bounds.items() if b is not None and k in checks)


def _string_ok(value: Any, cond: dict[str, Any] | None) -> bool:
    if not cond:
        return True
    if cond.get("eq") is not None and value != cond["eq"]:
        return False
    if cond.get("in") is not None and value not in cond["in"]:
        return False
    return cond.get("neq") is None or value != cond["neq"]


def _text_ok(text: str, cond: dict[str, Any]) -> bool:
    if cond.get("eq") is not None and text != cond["eq"]:
        return False
    return cond.get("contains") is None or str(cond["contains"]).lower() in text.lower()


class AdaptiveInteractionsEmulatorMixin:
    """Interactions filters and groups, REST metric feedback, ``DeleteMetric``, and the chat/interaction checks."""

    if TYPE_CHECKING:
        clock: Clock
        projects: dict[str, dict[str, Any]]
        models: dict[str, dict[str, Any]]
        metrics: dict[str, dict[str, Any]]
        completions: dict[str, dict[str, Any]]
        scores: dict[str, dict[str, Any]]
        comparisons: dict[str, dict[str, Any]]
        ab_campaigns: dict[str, dict[str, Any]]

        def _project(self, ref: Any) -> dict[str, Any]: ...
        def _metric(self, ref: Any, project: dict[str, Any] | None = None) -> dict[str, Any]: ...
        def _completion(self, ref: Any) -> dict[str, Any]: ...
        def _campaign(self, ref: Any) -> dict[str, Any]: ...
        def _metric_json(self, metric: dict[str, Any], admin: bool = False) -> dict[str, Any]: ...
        def _completion_json(self, c: dict[str, Any]) -> dict[str, Any]: ...
        def _add_score(self, completion: dict[str, Any], metric: dict[str, Any], value: Any,
                       details: str | None = None, reason: str | None = None) -> dict[str, Any]: ...
        def _rest(self, fn: Callable[[], Any]) -> Any: ...
        def _body(self, req: Request) -> dict[str, Any]: ...
        @staticmethod
        def _to_ms(value: Any) -> int: ...
        @staticmethod
        def _page(items: list[Any], page: dict[str, Any],
                  position: Callable[[Any], list[Any]]) -> tuple[list[Any], dict[str, Any]]: ...

    def interaction_operations(self) -> dict[str, tuple[str, Callable[[dict[str, Any]], Any]]]:
        return {"ListGroupedInteractions": ("completionsGrouped", self._op_list_grouped_interactions),
                "DeleteMetric": ("deleteMetric", self._op_delete_metric)}

    @staticmethod
    def _gqlerr(message: str) -> Exception:
        from dagster_labeling.testing.adaptive import GraphQLError
        return GraphQLError(message)

    # -- filters ---------------------------------------------------------------------------------------
    def filtered_completions(self, v: dict[str, Any], operation: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """(project, its completions matching ``v["filter"]``): the filter, page and order checked against the
        schema's input types first (an unknown field is an error, as on the real server)."""
        flt = v.get("filter")
        if flt is None:
            raise self._gqlerr(f'{operation}: argument "filter" of type "ListCompletionsFilterInput!" is required')
        check_input(flt, "ListCompletionsFilterInput", 'argument "filter"')
        check_input(v.get("page"), "CursorPageInput", 'argument "page"')
        check_input(v.get("order"), ["OrderPair"], 'argument "order"')
        project = self._project(flt.get("project"))
        if flt.get("advancedFilter") is not None:  # takes precedence over the simple fields
            cond = flt["advancedFilter"]
            return project, [c for c in self.completions.values()
                             if c["project"] == project["key"] and self._expression(c, cond)]
        return project, [c for c in self.completions.values()
                         if c["project"] == project["key"] and self._simple(c, flt)]

    def _timerange_ok(self, c: dict[str, Any], tr: dict[str, Any]) -> bool:
        try:
            lo, hi = self._to_ms(tr["from"]), self._to_ms(tr["to"])
        except (ValueError, TypeError) as exc:
            raise self._gqlerr(f"Invalid timerange {tr!r}: from/to are epoch milliseconds or ISO 8601") from exc
        return lo <= math.floor(c["created"] * 1000) <= hi

    def _score_ok(self, c: dict[str, Any], cond: dict[str, Any]) -> bool:
        metric = cond["metric"]
        bounds = cond.get("value") or {k: cond.get(k) for k in ("eq", "neq", "gt", "gte", "lt", "lte")}
        for score_id in c["scores"]:
            score = self.scores[score_id]
            if metric not in (score["metric"], self.metrics[score["metric"]]["id"]):
                continue
            if cond.get("reasons") and score["reason"] not in cond["reasons"]:
                continue
            if _bound_ok(score["value"], bounds):
                return True
        return False

    def _expression(self, c: dict[str, Any], cond: dict[str, Any]) -> bool:
        """Every condition of the expression holds (an empty one, as the SDK sends for filters it drops, holds)."""
        for name, value in cond.items():
            if value is None:
                continue
            ok = {
                "and": lambda x: all(self._expression(c, e) for e in x),
                "or": lambda x: any(self._expression(c, e) for e in x),
                "not": lambda x: not self._expression(c, x),
                "timerange": lambda x: self._timerange_ok(c, x),
                "model": lambda x: _string_ok(c["model"], x),
                "label": lambda x: x["key"] in c["labels"] and _string_ok(c["labels"][x["key"]], x.get("value")),
                "scores": lambda x: self._score_ok(c, x),
                "source": lambda x: c["source"] == x,
                "promptHash": lambda x: _string_ok(prompt_hash(c["messages"]), x),
                "sessionId": lambda x: c["session_id"] == str(x),
                "createdBy": lambda x: _string_ok(c["user"], x),
                "completionId": lambda x: c["id"] == str(x),
                "completion": lambda x: _text_ok(c["completion"], x),
                "prompt": lambda x: _text_ok(" ".join(m["content"] for m in c["messages"]), x),
            }[name](value)
            if not ok:
                return False
        return True

    def _simple(self, c: dict[str, Any], flt: dict[str, Any]) -> bool:
        checks: list[bool] = []
        if flt.get("models") is not None:
            checks.append(c["model"] in flt["models"])
        if flt.get("timerange") is not None:
            checks.append(self._timerange_ok(c, flt["timerange"]))
        if flt.get("sessionId") is not None:
            checks.append(c["session_id"] == str(flt["sessionId"]))
        if flt.get("createdBy") is not None:
            checks.append(c["user"] == flt["createdBy"])
        checks.extend(self._score_ok(c, s) for s in flt.get("scores") or [])
        for comp in flt.get("comparisons") or []:
            checks.append(any(comp["metric"] in (self.comparisons[i]["metric"],
                                                 self.metrics[self.comparisons[i]["metric"]]["id"])
                              for i in c["comparisons"]))
        for label in flt.get("labels") or []:
            values = label.get("value")
            checks.append(label["key"] in c["labels"] and (values is None or c["labels"][label["key"]] in values))
        if flt.get("promptHash") is not None:
            checks.append(prompt_hash(c["messages"]) == flt["promptHash"])
        if flt.get("completionId") is not None:
            checks.append(c["id"] == str(flt["completionId"]))
        if flt.get("source") is not None:
            checks.append(c["source"] in flt["source"])
        return all(checks)

    # -- grouped ---------------------------------------------------------------------------------------
    def _op_list_grouped_interactions(self, v: dict[str, Any]) -> Any:
        group_by = v.get("groupBy")
        check_input(group_by, "CompletionGroupBy", 'argument "groupBy"')
        if group_by is None:
            raise self._gqlerr('argument "groupBy" of type "CompletionGroupBy!" is required but not provided')
        _, items = self.filtered_completions(v, "ListGroupedInteractions")
        groups: dict[str, list[dict[str, Any]]] = {}
        for c in items:
            key = (c["model"] or "") if group_by == "MODEL" else \
                "\n".join(f"{m['role']}: {m['content']}" for m in c["messages"])
            groups.setdefault(key, []).append(c)
        desc = any(str(p.get("order")) == "DESC" for p in v.get("order") or [] if p.get("field") == "group")
        keys = sorted(groups, reverse=desc)
        page = v.get("page") or {}
        # cursors name a group's place: its key (descending: the negated code points, so positions still grow)
        position = (lambda k: [-ord(ch) for ch in k] + [1]) if desc else (lambda k: [k])
        chunk, info = self._page(keys, page, position)
        first = page.get("first")
        nodes = []
        for key in chunk:
            members = sorted(groups[key], key=lambda c: (-c["created"], -c["seq"]))
            nodes.append({"key": key, "count": len(members), "directScoresStats": self._stats(members),
                          "completions": {"nodes": [self._completion_json(c) for c in members[:first]]}})
        return {"totalCount": len(keys), "groupBy": group_by, "pageInfo": info, "nodes": nodes}

    def _stats(self, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
        per_metric: dict[str, list[float]] = {}
        for c in members:
            for score_id in c["scores"]:
                score = self.scores[score_id]
                per_metric.setdefault(score["metric"], []).append(score["value"])
        out = []
        for metric, values in per_metric.items():
            mean = sum(values) / len(values)
            out.append({"metric": self._metric_json(self.metrics[metric]), "scores": len(values), "average": mean,
                        "max": max(values), "min": min(values), "sum": sum(values),
                        "stddev": math.sqrt(sum((x - mean) ** 2 for x in values) / len(values))})
        return out

    # -- feedback keys and REST feedback ---------------------------------------------------------------
    def _op_delete_metric(self, v: dict[str, Any]) -> Any:
        project = self._project(v.get("project"))
        metric = self._metric(v.get("metric"), project)
        for campaign in self.ab_campaigns.values():
            if campaign["metric"] == metric["key"] and campaign["project"] == project["key"] \
                    and campaign["status"] in ("WARMUP", "IN_PROGRESS"):
                raise self._gqlerr(f"Metric {metric['key']!r} is used by the running AB campaign "
                                      f"{campaign['key']!r}: cancel it first")
        metric["projects"].discard(project["key"])
        return True

    def rest_feedback(self, req: Request) -> Any:
        return self._rest(lambda: self._feedback(self._body(req)))

    def _feedback(self, body: dict[str, Any]) -> Any:
        for name in ("value", "completion_id", "metric"):
            if body.get(name) is None:
                raise HTTPError(422, f"Failed to deserialize the JSON body into the target type: missing field "
                                     f"`{name}`")
        completion = self._completion(rest_uuid(body, "completion_id"))
        user = rest_uuid(body, "user_id")
        reason = body.get("reason")
        if reason is not None and reason not in FEEDBACK_REASONS:
            raise HTTPError(422, f"reason must be one of {list(FEEDBACK_REASONS)}, got {reason!r}")
        metric = self._metric(body["metric"], self.projects.get(completion["project"]))
        score = self._add_score(completion, metric, body["value"], body.get("details"), reason)
        score["user"] = user
        return {"feedback_id": score["id"]}

    # -- chat and interactions -------------------------------------------------------------------------
    def ab_variant(self, project: dict[str, Any], ref: Any, model: str | None) -> str:
        """The model of a request logged into the A/B test ``ref`` (``ab_campaign``): ``model`` if it is one of the
        test's, else its variants in turn; the test must be this project's and running."""
        campaign = self._campaign(ref)
        if campaign["project"] != project["key"]:
            raise HTTPError(400, f"AB campaign {campaign['key']!r} is not in project {project['key']!r}")
        if campaign["status"] not in ("WARMUP", "IN_PROGRESS"):
            raise HTTPError(400, f"AB campaign {campaign['key']!r} is {campaign['status']}: it takes no more traffic")
        if model is not None:
            if model not in campaign["models"]:
                raise HTTPError(400, f"Model {model!r} is not a variant of AB campaign {campaign['key']!r}")
            return model
        campaign["routed"] += 1
        return str(campaign["models"][(campaign["routed"] - 1) % len(campaign["models"])])

    @staticmethod
    def completions_wanted(body: dict[str, Any]) -> int:
        n = body.get("n")
        if n is None:
            return 1
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise HTTPError(422, f"n must be a positive integer, got {n!r}")
        return n

    @staticmethod
    def created_seconds(value: Any) -> float:
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
        except ValueError as exc:
            raise HTTPError(422, f"created_at must be ISO 8601 (e.g. 2024-02-21T09:51:03Z), got {value!r}") from exc


__all__ = ["AdaptiveInteractionsEmulatorMixin", "prompt_hash", "rest_uuid"]
