"""A stateful Adaptive ML emulator on the wire API of ``adaptive-sdk`` 0.14.2 (see adaptive.md).

Mounted at ``/adaptive``: give the SDK ``Adaptive(base_url="<server>/adaptive", api_key=...)``. Behaviour
worth knowing:

* Auth is ``Authorization: Bearer <key>`` on both transports; a wrong key answers 401 ``{"error": ...}``.
* ``POST /api/graphql`` dispatches on ``operationName`` (the query text is not parsed) and answers
  ``{"data": {<rootField>: ...}}`` with every field the SDK's generated models require (camelCase,
  epoch-ms timestamps, UUID ids). References to missing entities answer HTTP 200 with
  ``{"errors": [{"message": "EntityNotFound: <entity> ..."}], "data": null}``; ``Describe*`` queries of a
  missing entity answer ``null``. File uploads follow the GraphQL multipart request spec.
* REST under ``/api/v1``: chat completions (JSON, or SSE ending in ``data: [DONE]``) with deterministic text
  (a hash of model and messages), interactions, comparisons, embeddings and dataset downloads; errors are
  ``{"error": ...}``. Chat completions and logged interactions are stored as completions (``store=false``
  skips that), with their direct scores and comparisons.
* Models are addressed per project: a model must be attached (``AddModelsToProject``/``DeployModel``) to
  the project before chat can use it as ``"project/model"``; ``"project"`` alone routes to the project's
  default model, or, while an A/B test runs, to its variants for ``trafficSplit`` of the requests.
* A/B tests go WARMUP → IN_PROGRESS (first score on a variant's completion after the test began) → DONE
  once every variant has ``ab_min_scores`` scores (direct scores for a DIRECT test, comparisons for a
  COMPARISON test), or at once with :meth:`AdaptiveEmulator.complete_ab_test`. The report has a normal
  approximation interval per variant and a two-sided p-value between the two best variants; with
  ``autoDeploy`` the best variant becomes the project's default model.
* Jobs (recipe runs) go PENDING → RUNNING → COMPLETED over ``job_pending_seconds`` + ``job_run_seconds``
  of simulated time (scaled by the clock), with ``progress`` 0..1. Recipes whose key contains ``eval``
  (or whose args name a ``judge_model``, which must exist) produce an ``EVALUATION`` artifact with
  ``byproducts.evalResults`` per model and metric (``args["metric"]``/``metrics``); other recipes
  produce a ``MODEL`` artifact and register the trained model (``args["output_model_key"]`` or
  ``<model>-<recipe>-<n>``). ``fail_jobs`` makes jobs end FAILED. ``CancelJob`` of a pending or running job
  takes effect after ``job_cancel_seconds`` (default 0: at once; the job keeps its status until then, as a
  worker that is asked to stop), so a client has to re-read the job until it settles.
* Lists that page (``ListInteractions``, ``ListJobs``) take Relay ``first``/``after`` (``last``/``before``) with
  opaque cursors naming an item's place in a stable order, never an index: a list that changes between pages
  skips nothing still in it; a cursor not made here is a GraphQL error.
* Keys are unique as on the real server, checked and stored in one step: project keys, metric keys per project,
  A/B test keys, dataset keys per project (a pending chunked upload holds its key); a second create answers a
  GraphQL error "... already exists". Job names and interactions are not unique.
* Datasets over 5 MiB take the SDK's chunked path: ``POST /api/v1/upload/init`` opens a session,
  ``POST /api/v1/upload/part?session_id=&part_number=`` stores raw bytes by part number (a re-sent part
  replaces it), ``DELETE /api/v1/upload/abort`` drops the session, and ``CreateDatasetFromMultipartUpload``
  joins the parts (all must be there) into a PENDING upload. ``DatasetUploadProcessingStatus`` answers PENDING
  for ``upload_processing_polls`` polls (default 0: the first poll is DONE), then parses the file: DONE, and the
  dataset exists, or ERROR if a line is not a JSON object with ``messages``.
"""

import base64
import bisect
import email.parser
import email.policy
import hashlib
import itertools
import json
import math
import re
import struct
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from dagster_labeling.testing.adaptive_admin import AdaptiveAdminEmulatorMixin
from dagster_labeling.testing.adaptive_interactions import AdaptiveInteractionsEmulatorMixin, rest_uuid
from dagster_labeling.testing.base import (
    DEFAULT_API_KEY,
    HTTPError,
    PlatformEmulator,
    RawResponse,
    Request,
    register_platform,
    strict_json_loads,
)
from dagster_labeling.testing.clock import Clock

SEED_MODELS: tuple[tuple[str, str, str | None], ...] = (
    # key, name, backbone key
    ("llama-3.1-8b-instruct", "Llama 3.1 8B Instruct", None),
    ("qwen-2.5-7b", "Qwen 2.5 7B", None),
    ("gemma-3-4b-it", "Gemma 3 4B IT", None),
    ("bge-embed", "BGE Embeddings", None),
)
VOCAB = ("the model answers with a short and helpful reply about data labels quality training prompt response "
         "feedback metric preference sky blue because light scatters more in shorter wavelengths").split()
AB_ACTIVE = frozenset({"WARMUP", "IN_PROGRESS"})
JOB_TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELED"})
EMBEDDING_DIM = 8
MAX_UPLOAD_PARTS = 10_000


class GraphQLError(Exception):
    """A GraphQL error answered with HTTP 200 ``{"errors": [...], "data": null}`` (REST: 400)."""


class EntityNotFound(GraphQLError):
    """``EntityNotFound: <entity> ...`` (REST: 404)."""

    def __init__(self, entity: str, ref: Any, extra: str = "") -> None:
        super().__init__(f"EntityNotFound: {entity} {ref!r} not found{extra}")


def _digest(*parts: Any) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


def _ms(ts: float) -> int:
    return int(ts * 1000)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "model"


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "" if content is None else str(content)


def simulate_chat(model: str, messages: list[dict[str, Any]], max_tokens: int | None = None,
                  stop: list[str] | None = None) -> tuple[list[str], str]:
    """The emulator's deterministic reply tokens (each but the first with a leading space) and finish reason."""
    seed = _digest(model, json.dumps([[m.get("role"), _message_text(m.get("content"))] for m in messages]))
    n = 4 + seed % 20
    finish = "stop"
    if max_tokens is not None and max_tokens < n:
        n, finish = max(1, max_tokens), "length"
    tokens = [("" if i == 0 else " ") + VOCAB[(seed + i * 7919) % len(VOCAB)] for i in range(n)]
    if stop:
        text = ""
        for i, tok in enumerate(tokens):
            text += tok
            for s in stop:
                if s and s in text:
                    return tokens[:i], "stop"
    return tokens, finish


def _mean_interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and the half-width of its 95% normal-approximation interval (mean, half-width, standard error)."""
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.25
    se = math.sqrt(var / n)
    return mean, 1.96 * se, se


def _p_value(m1: float, se1: float, m2: float, se2: float) -> float:
    se = math.sqrt(se1 * se1 + se2 * se2)
    if se == 0:
        return 1.0 if m1 == m2 else 0.0
    return round(math.erfc(abs(m1 - m2) / se / math.sqrt(2)), 6)


def _cursor(position: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def _cursor_position(cursor: Any) -> list[Any]:
    """The position an opaque cursor names; a cursor not made here is a GraphQL error, as on the real server."""
    try:
        position = json.loads(base64.urlsafe_b64decode(str(cursor).encode()).decode())
    except ValueError as exc:
        raise GraphQLError(f"Invalid cursor {cursor!r}") from exc
    if not isinstance(position, list):
        raise GraphQLError(f"Invalid cursor {cursor!r}")
    return position


class AdaptiveEmulator(AdaptiveInteractionsEmulatorMixin, AdaptiveAdminEmulatorMixin, PlatformEmulator):
    """Adaptive ML: projects, metrics, completions and feedback, A/B tests, models, datasets, recipe jobs."""

    name = "adaptive"
    #: The SDK's chunked upload sends parts of up to 100 MiB for the largest files; the body limit lets them in.
    max_body_bytes = 101 * 1024 * 1024

    def __init__(self, *, api_key: str = DEFAULT_API_KEY, clock: Clock | None = None,
                 job_pending_seconds: float = 1.0, job_run_seconds: float = 5.0, ab_min_scores: int = 20,
                 upload_processing_polls: int = 0) -> None:
        super().__init__(api_key=api_key, clock=clock)
        self.job_pending_seconds = job_pending_seconds
        self.job_run_seconds = job_run_seconds
        self.ab_min_scores = ab_min_scores
        self.upload_processing_polls = upload_processing_polls
        self.fail_jobs = False
        self.job_cancel_seconds = 0.0
        self._seq = itertools.count(1)
        r = self.router.add
        r("POST", "/api/graphql", self.graphql)
        r("POST", "/api/v1/chat/completions", self.rest_chat)
        r("POST", "/api/v1/interactions", self.rest_interactions)
        r("POST", "/api/v1/comparison", self.rest_comparison)
        r("POST", "/api/v1/feedback", self.rest_feedback)
        r("POST", "/api/v1/embeddings", self.rest_embeddings)
        r("GET", "/api/v1/datasets/{id}/download", self.rest_download_dataset)
        r("POST", "/api/v1/upload/init", self.rest_upload_init)
        r("POST", "/api/v1/upload/part", self.rest_upload_part)
        r("DELETE", "/api/v1/upload/abort", self.rest_upload_abort)
        self.operations: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {
            "CreateProject": ("createProject", self._op_create_project),
            "CreateUseCase": ("createUseCase", self._op_create_project),
            "DescribeProject": ("project", self._op_describe_project),
            "DescribeUseCase": ("useCase", self._op_describe_project),
            "ListProjects": ("projects", self._op_list_projects),
            "ListUseCases": ("useCases", self._op_list_projects),
            "CreateMetric": ("createMetric", self._op_create_metric),
            "DescribeMetric": ("metric", self._op_describe_metric),
            "DescribeMetricAdmin": ("metric", self._op_describe_metric),
            "ListMetrics": ("metrics", self._op_list_metrics),
            "AddDirectScore": ("addDirectScore", self._op_add_direct_score),
            "ListInteractions": ("completions", self._op_list_interactions),
            "DescribeInteraction": ("completion", self._op_describe_interaction),
            "CreateAbCampaign": ("createAbCampaign", self._op_create_ab),
            "DescribeAbCampaign": ("abCampaign", self._op_describe_ab),
            "ListAbCampaigns": ("abCampaigns", self._op_list_ab),
            "CancelABCampaign": ("cancelAbCampaign", self._op_cancel_ab),
            "ListModels": ("models", self._op_list_models),
            "DescribeModel": ("model", self._op_describe_model),
            "DescribeModelAdmin": ("model", self._op_describe_model),
            "AddModelsToProject": ("addModelsToProject", self._op_add_models_to_project),
            "DeployModel": ("deployModel", self._op_deploy_model),
            "UpdateModel": ("updateModelService", self._op_update_model),
            "RemoveModelFromProject": ("removeModelFromProject", self._op_remove_model),
            "LoadDataset": ("createDataset", self._op_load_dataset),
            "ListDatasets": ("datasets", self._op_list_datasets),
            "DescribeDataset": ("dataset", self._op_describe_dataset),
            "DeleteDataset": ("deleteDataset", self._op_delete_dataset),
            "CreateDatasetFromMultipartUpload": ("createDatasetFromMultipartUpload", self._op_create_from_upload),
            "DatasetUploadProcessingStatus": ("datasetUploadProcessingStatus", self._op_upload_status),
            "CreateJob": ("createJob", self._op_create_job),
            "DescribeJob": ("job", self._op_describe_job),
            "CancelJob": ("cancelJob", self._op_cancel_job),
            "ListJobs": ("jobs", self._op_list_jobs),
            "DeleteJob": ("deleteJob", self._op_delete_job),
            "UpdateJob": ("updateJob", self._op_update_job),
        }
        self.operations.update(self.interaction_operations())  # grouped interactions, DeleteMetric
        self.operations.update(self.admin_operations())  # models, compute pools, recipes, graders, admin objects
        self._clear_state()

    # -- state -----------------------------------------------------------------------------------------
    def _clear_state(self) -> None:
        now = self.clock.now()
        self.projects: dict[str, dict[str, Any]] = {}
        self.metrics: dict[str, dict[str, Any]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.completions: dict[str, dict[str, Any]] = {}
        self.scores: dict[str, dict[str, Any]] = {}
        self.comparisons: dict[str, dict[str, Any]] = {}
        self.ab_campaigns: dict[str, dict[str, Any]] = {}
        self.datasets: dict[str, dict[str, Any]] = {}
        self.upload_sessions: dict[str, dict[str, Any]] = {}
        self.dataset_uploads: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.team = {"id": self._uuid(), "key": "default", "name": "Default team", "createdAt": _ms(now)}
        self.user = {"id": self._uuid(), "name": "Emulator User", "email": "emulator@example.com"}
        for key, name, backbone in SEED_MODELS:
            self._add_model(key, name, backbone=backbone, created=now)
        self._clear_admin_state()

    def reset(self) -> None:
        """Forget every project, metric, completion, score, A/B test, dataset, upload, job and non-seed model."""
        super().reset()
        with self.lock:
            self._clear_state()
            self.fail_jobs = False
            self.job_cancel_seconds = 0.0

    def _uuid(self) -> str:
        return str(uuid.uuid4())

    def error_body(self, status: int, message: str) -> bytes:
        return json.dumps({"error": message}).encode()

    def _add_model(self, key: str, name: str, *, backbone: str | None = None, external: str | None = None,
                   adapter: bool = False, created: float | None = None, online: str = "OFFLINE") -> dict[str, Any]:
        model = {"id": self._uuid(), "key": key, "name": name, "online": online, "error": None,
                 "isExternal": external is not None, "providerName": external or "HARMONY", "isAdapter": adapter,
                 "isTraining": False, "createdAt": _ms(created if created is not None else self.clock.now()),
                 "size": None if external else 8_000_000_000, "backbone": backbone,
                 "computeConfig": None if external else {"tp": 1, "kvCacheLen": 32768, "maxSeqLen": 8192}}
        self.models[key] = model
        return model

    # -- test helpers ----------------------------------------------------------------------------------
    def ensure_project(self, key: str, models: list[str] | tuple[str, ...] = (),
                       default: str | None = None) -> dict[str, Any]:
        """The project ``key`` (created if missing) with ``models`` attached and online; ``default`` (or the
        first model attached to a project without a default) is its default model."""
        with self.lock:
            project = self.projects.get(key) or self._create_project({"key": key, "name": key})
            for m in models:
                self._attach(project, self._model(m), deploy=True)
            if default:
                self._set_default(project, self._service(project, default))
            return project

    def complete_ab_test(self, key: str) -> dict[str, Any]:
        """Finish the A/B test ``key`` now (DONE, report from the scores so far, auto-deploy applied)."""
        with self.lock:
            campaign = self._campaign(key)
            if campaign["status"] in AB_ACTIVE:
                self._finish_campaign(campaign)
            return campaign

    def complete_all(self) -> None:
        """Finish every job and every running A/B test now."""
        with self.lock:
            self._advance_jobs(math.inf)
            for campaign in self.ab_campaigns.values():
                if campaign["status"] in AB_ACTIVE:
                    self._finish_campaign(campaign)

    def tick(self, now: float) -> None:
        with self.lock:
            self._advance_jobs(now)

    # -- lookups ---------------------------------------------------------------------------------------
    def _project(self, ref: Any) -> dict[str, Any]:
        if isinstance(ref, str):
            if ref in self.projects:
                return self.projects[ref]
            for p in self.projects.values():
                if p["id"] == ref:
                    return p
        raise EntityNotFound("project", ref)

    def _metric(self, ref: Any, project: dict[str, Any] | None = None) -> dict[str, Any]:
        found = self.metrics.get(ref) if isinstance(ref, str) else None
        if found is None:
            found = next((m for m in self.metrics.values() if m["id"] == ref), None)
        if found is None:
            raise EntityNotFound("metric", ref)
        if project is not None and project["key"] not in found["projects"]:
            raise EntityNotFound("metric", ref, f" in project {project['key']!r}")
        return found

    def _model(self, ref: Any) -> dict[str, Any]:
        found = self.models.get(ref) if isinstance(ref, str) else None
        if found is None:
            found = next((m for m in self.models.values() if m["id"] == ref), None)
        if found is None:
            raise EntityNotFound("model", ref)
        return found

    def _service(self, project: dict[str, Any], ref: Any) -> dict[str, Any]:
        for s in project["services"].values():
            if ref in (s["key"], s["id"], self.models[s["model"]]["id"]):
                return s
        raise EntityNotFound("model", ref, f" in project {project['key']!r}")

    def _completion(self, ref: Any) -> dict[str, Any]:
        c = self.completions.get(str(ref))
        if c is None:
            raise EntityNotFound("completion", ref)
        return c

    def _campaign(self, ref: Any) -> dict[str, Any]:
        found = self.ab_campaigns.get(ref) if isinstance(ref, str) else None
        if found is None:
            found = next((c for c in self.ab_campaigns.values() if c["id"] == ref), None)
        if found is None:
            raise EntityNotFound("ab campaign", ref)
        return found

    def _dataset(self, ref: Any, project: dict[str, Any]) -> dict[str, Any] | None:
        for d in self.datasets.values():
            if d["project"] == project["key"] and ref in (d["id"], d["key"]):
                return d
        return None

    # -- JSON shapes -----------------------------------------------------------------------------------
    def _model_json(self, model: dict[str, Any], nested: bool = False) -> dict[str, Any]:
        out = {k: v for k, v in model.items() if k != "backbone"}
        out["projects"] = [{"id": p["id"], "key": p["key"], "name": p["name"]} for p in self.projects.values()
                           if model["key"] in p["services"]]
        if not nested:
            backbone = self.models.get(model["backbone"]) if model["backbone"] else None
            out["backbone"] = self._model_json(backbone, nested=True) if backbone else None
        return out

    def _service_json(self, service: dict[str, Any]) -> dict[str, Any]:
        model = self.models[service["model"]]
        return {"id": service["id"], "key": service["key"], "name": model["name"], "model": self._model_json(model),
                "isDefault": service["isDefault"], "desiredOnline": service["desiredOnline"],
                "createdAt": service["createdAt"]}

    def _metric_json(self, metric: dict[str, Any], admin: bool = False) -> dict[str, Any]:
        out = {k: metric[k] for k in ("id", "key", "name", "kind", "description", "scoringType", "createdAt")}
        out["hasDirectScores"] = any(s["metric"] == metric["key"] for s in self.scores.values())
        out["hasComparisonScores"] = any(c["metric"] == metric["key"] for c in self.comparisons.values())
        if admin:
            out["projects"] = [{"id": p["id"], "key": p["key"], "name": p["name"], "description": p["description"]}
                               for p in self.projects.values() if p["key"] in metric["projects"]]
        return out

    def _project_json(self, project: dict[str, Any]) -> dict[str, Any]:
        metrics = [self._metric_json(m) for m in self.metrics.values() if project["key"] in m["projects"]]
        return {"id": project["id"], "key": project["key"], "name": project["name"],
                "description": project["description"], "createdAt": project["createdAt"], "metrics": metrics,
                "modelServices": [self._service_json(s) for s in project["services"].values()],
                "permissions": ["project:read", "project:write"],
                "shares": [{"team": project["team"],
                            "role": {"id": project["role_id"], "key": "admin", "name": "Admin",
                                     "createdAt": project["createdAt"], "permissions": ["*"]},
                            "isOwner": True}]}

    def _ref_json(self, entity: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if entity is None else {"id": entity["id"], "key": entity["key"], "name": entity["name"]}

    def _short_completion_json(self, c: dict[str, Any]) -> dict[str, Any]:
        return {"id": c["id"], "completion": c["completion"], "source": c["source"],
                "model": self._ref_json(self.models.get(c["model"] or ""))}

    def _comparison_json(self, comp: dict[str, Any]) -> dict[str, Any]:
        metric = self.metrics[comp["metric"]]
        return {"id": comp["id"], "createdAt": _ms(comp["created"]),
                "project": self._ref_json(self.projects.get(comp["project"])),
                "metric": {"id": metric["id"], "key": metric["key"], "name": metric["name"]},
                "preferedCompletion": self._short_completion_json(self.completions[comp["preferred"]]),
                "otherCompletion": self._short_completion_json(self.completions[comp["other"]]),
                "tied": comp["tied"]}

    def _completion_json(self, c: dict[str, Any]) -> dict[str, Any]:
        scores = [self.scores[s] for s in c["scores"]]
        return {"id": c["id"], "chatMessages": [{"role": m["role"], "content": m["content"]} for m in c["messages"]],
                "completion": c["completion"], "source": c["source"],
                "model": self._ref_json(self.models.get(c["model"] or "")),
                "directScores": [{"id": s["id"], "value": s["value"],
                                  "metric": self._metric_json(self.metrics[s["metric"]]), "reason": s["reason"],
                                  "details": s["details"], "createdAt": _ms(s["created"])} for s in scores],
                "comparisonScores": [self._comparison_json(self.comparisons[i]) for i in c["comparisons"]],
                "labels": [{"key": k, "value": v} for k, v in c["labels"].items()],
                "metadata": {"parameters": c["parameters"], "timings": None, "usage": c["usage"], "system": None},
                "createdAt": _ms(c["created"]), "sessionId": c["session_id"], "userId": c["user"]}

    # -- GraphQL ---------------------------------------------------------------------------------------
    def graphql(self, req: Request) -> Any:
        ctype = req.headers.get("content-type", "")
        files: dict[str, bytes] = {}
        if ctype.startswith("multipart/form-data"):
            body, files = self._parse_multipart(ctype, req.body)
        else:
            body = req.json()
        if not isinstance(body, dict):
            raise HTTPError(400, "GraphQL request body must be a JSON object")
        op_name = body.get("operationName")
        variables = body.get("variables") or {}
        # the SDK's dynamic query builder suffixes variable names with _0 (AddDirectScore)
        variables = {re.sub(r"_\d+$", "", k): v for k, v in variables.items()}
        if files:
            variables["__files__"] = files
        entry = self.operations.get(op_name or "")
        if entry is None:
            return self._gql_error(f"Unknown operation {op_name!r}: the emulator does not implement it", op_name)
        root, fn = entry
        try:
            return {"data": {root: fn(variables)}}
        except GraphQLError as err:
            return self._gql_error(str(err), root)

    @staticmethod
    def _gql_error(message: str, path: str | None) -> dict[str, Any]:
        return {"errors": [{"message": message, "locations": [], "path": [path] if path else []}], "data": None}

    @staticmethod
    def _parse_multipart(ctype: str, raw: bytes) -> tuple[Any, dict[str, bytes]]:
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode("latin-1") + raw)
        parts: dict[str, bytes] = {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str):
                parts[name] = payload if isinstance(payload, bytes) else b""
        if "operations" not in parts:
            raise HTTPError(400, "multipart GraphQL request without an 'operations' part")
        try:
            operations = strict_json_loads(parts["operations"])
            mapping = strict_json_loads(parts.get("map", b"{}"))
        except ValueError as exc:
            raise HTTPError(400, f"invalid multipart GraphQL request: {exc}") from exc
        files: dict[str, bytes] = {}
        for file_key, paths in mapping.items():
            if file_key not in parts:
                raise HTTPError(400, f"multipart GraphQL request: mapped file part {file_key!r} is missing")
            for path in paths:
                files[path.removeprefix("variables.")] = parts[file_key]
        return operations, files

    # -- projects --------------------------------------------------------------------------------------
    def _create_project(self, data: dict[str, Any]) -> dict[str, Any]:
        key = data.get("key") or _slug(data.get("name") or "")
        if not key:
            raise GraphQLError("Project key must not be empty")
        if key in self.projects:
            raise GraphQLError(f"Project with key {key!r} already exists")
        now = _ms(self.clock.now())
        team = dict(self.team)
        if data.get("team") and data["team"] != self.team["key"]:
            team = {"id": self._uuid(), "key": data["team"], "name": data["team"], "createdAt": now}
        project = {"id": self._uuid(), "key": key, "name": data.get("name") or key,
                   "description": data.get("description") or "", "createdAt": now, "team": team,
                   "role_id": self._uuid(), "services": {}}
        self.projects[key] = project
        return project

    def _op_create_project(self, v: dict[str, Any]) -> Any:
        return self._project_json(self._create_project(v.get("input") or {}))

    def _op_describe_project(self, v: dict[str, Any]) -> Any:
        try:
            return self._project_json(self._project(v.get("input")))
        except EntityNotFound:
            return None

    def _op_list_projects(self, v: dict[str, Any]) -> Any:
        return [self._project_json(p) for p in self.projects.values()]

    # -- metrics and scores ----------------------------------------------------------------------------
    def _op_create_metric(self, v: dict[str, Any]) -> Any:
        data = v.get("input") or {}
        project = self._project(v["project"]) if v.get("project") else None
        key = data.get("key")
        if not key:
            raise GraphQLError("Metric key must not be empty")
        kind = data.get("kind") or "SCALAR"
        scoring = data.get("scoringType") or "HIGHER_IS_BETTER"
        if kind not in ("SCALAR", "BOOL") or scoring not in ("HIGHER_IS_BETTER", "LOWER_IS_BETTER"):
            raise GraphQLError(f"Invalid metric kind {kind!r} or scoring type {scoring!r}")
        metric = self.metrics.get(key)
        if metric is None:
            metric = {"id": self._uuid(), "key": key, "name": data.get("name") or key, "kind": kind,
                      "description": data.get("description") or "", "scoringType": scoring,
                      "createdAt": _ms(self.clock.now()), "projects": set()}
            self.metrics[key] = metric
        elif project is None or project["key"] in metric["projects"]:
            raise GraphQLError(f"Metric with key {key!r} already exists")
        if project is not None:
            metric["projects"].add(project["key"])
        return self._metric_json(metric)

    def _op_describe_metric(self, v: dict[str, Any]) -> Any:
        ref = v.get("metric", v.get("input"))
        try:
            project = self._project(v["project"]) if v.get("project") else None
            return self._metric_json(self._metric(ref, project), admin=project is None)
        except EntityNotFound:
            return None

    def _op_list_metrics(self, v: dict[str, Any]) -> Any:
        return [self._metric_json(m, admin=True) for m in self.metrics.values()]

    @staticmethod
    def _check_value(metric: dict[str, Any], value: Any) -> float:
        if isinstance(value, bool):
            return float(value)
        if not isinstance(value, (int, float)) or (isinstance(value, float) and math.isnan(value)):
            raise GraphQLError(f"Invalid value {value!r} for metric {metric['key']!r}")
        if metric["kind"] == "BOOL" and value not in (0, 1):
            raise GraphQLError(f"Metric {metric['key']!r} is BOOL: value must be 0, 1, true or false, got {value!r}")
        return float(value)

    def _add_score(self, completion: dict[str, Any], metric: dict[str, Any], value: Any,
                   details: str | None = None, reason: str | None = None) -> dict[str, Any]:
        score = {"id": self._uuid(), "completion": completion["id"], "metric": metric["key"],
                 "value": self._check_value(metric, value), "details": details, "reason": reason,
                 "created": self.clock.now()}
        self.scores[score["id"]] = score
        completion["scores"].append(score["id"])
        self._update_campaigns(completion["project"])
        return score

    def _op_add_direct_score(self, v: dict[str, Any]) -> Any:
        completion = self._completion(v.get("completionId"))
        metric = self._metric(v.get("metricId"), self.projects.get(completion["project"]))
        data = v.get("input") or {}
        score = self._add_score(completion, metric, data.get("value"), data.get("details"), data.get("reason"))
        return {"id": score["id"], "value": score["value"], "createdAt": _ms(score["created"])}

    # -- completions -----------------------------------------------------------------------------------
    def _store_completion(self, project: dict[str, Any], model: str | None, messages: list[dict[str, Any]],
                          text: str, *, source: str, labels: dict[str, str] | None = None,
                          session_id: str | None = None, user: str | None = None, created: float | None = None,
                          usage: dict[str, int] | None = None, parameters: dict[str, Any] | None = None,
                          completion_id: str | None = None) -> dict[str, Any]:
        c = {"id": completion_id or self._uuid(), "project": project["key"], "model": model,
             "messages": [{"role": str(m.get("role", "user")), "content": _message_text(m.get("content"))}
                          for m in messages],
             "completion": text, "source": source, "labels": dict(labels or {}),
             "session_id": session_id or self._uuid(), "user": user,
             "created": self.clock.now() if created is None else created, "usage": usage,
             "parameters": parameters, "scores": [], "comparisons": [], "seq": next(self._seq)}
        self.completions[c["id"]] = c
        return c

    def _op_describe_interaction(self, v: dict[str, Any]) -> Any:
        project = self._project(v.get("project"))
        c = self.completions.get(str(v.get("id")))
        return self._completion_json(c) if c and c["project"] == project["key"] else None

    @staticmethod
    def _to_ms(value: Any) -> int:
        if isinstance(value, (int, float)):
            return int(value)
        return _ms(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp())

    @staticmethod
    def _page(items: list[Any], page: dict[str, Any],
              position: Callable[[Any], list[Any]]) -> tuple[list[Any], dict[str, Any]]:
        """A Relay page of ``items`` (``first``/``after``, ``last``/``before``) with opaque cursors naming an item's
        ``position`` in the list's stable order (increasing along ``items``), not an index: a list that shrinks
        or grows between pages skips nothing that is still there."""
        keys = [position(item) for item in items]
        start, stop = 0, len(items)
        try:
            if page.get("after") not in (None, ""):
                start = bisect.bisect_right(keys, _cursor_position(page["after"]))
            if page.get("before") not in (None, ""):
                stop = bisect.bisect_left(keys, _cursor_position(page["before"]))
        except TypeError as exc:  # a list, but not a position of this list
            raise GraphQLError(f"Invalid cursor: {exc}") from exc
        stop = max(start, stop)
        if page.get("first") is not None:
            stop = min(stop, start + max(0, int(page["first"])))
        if page.get("last") is not None:
            start = max(start, stop - max(0, int(page["last"])))
        chunk = items[start:stop]
        return chunk, {"hasNextPage": stop < len(items), "hasPreviousPage": start > 0,
                       "startCursor": _cursor(keys[start]) if chunk else None,
                       "endCursor": _cursor(keys[stop - 1]) if chunk else None}

    def _op_list_interactions(self, v: dict[str, Any]) -> Any:
        _, items = self.filtered_completions(v, "ListInteractions")
        desc = True
        for pair in v.get("order") or []:
            if pair.get("field") in ("created_at", "createdAt"):
                desc = str(pair.get("order", "DESC")).upper() == "DESC"
        sign = -1 if desc else 1
        items.sort(key=lambda c: (sign * c["created"], sign * c["seq"]))
        chunk, info = self._page(items, v.get("page") or {}, lambda c: [sign * c["created"], sign * c["seq"]])
        return {"totalCount": len(items), "pageInfo": info, "nodes": [self._completion_json(c) for c in chunk]}

    # -- A/B tests -------------------------------------------------------------------------------------
    def _op_create_ab(self, v: dict[str, Any]) -> Any:
        data = v.get("input") or {}
        project = self._project(data.get("project"))
        metric = self._metric(data.get("metric"), project)
        key = data.get("key") or self._uuid()
        if key in self.ab_campaigns:
            raise GraphQLError(f"AB campaign with key {key!r} already exists")
        services = data.get("modelServices") or []
        if len(services) < 2:
            raise GraphQLError("An AB campaign needs at least 2 model services")
        models = [self._service(project, s)["model"] for s in services]
        split = float(data.get("trafficSplit", 1.0))
        if not 0 < split <= 1:
            raise GraphQLError(f"trafficSplit must be in (0, 1], got {split}")
        score_type = data.get("scoreType") or "DIRECT"
        if score_type not in ("DIRECT", "COMPARISON"):
            raise GraphQLError(f"Invalid scoreType {score_type!r}")
        campaign = {"id": self._uuid(), "key": key, "name": data.get("name") or key, "status": "WARMUP",
                    "begin": self.clock.now(), "end": None, "scoreType": score_type, "trafficSplit": split,
                    "metric": metric["key"], "project": project["key"], "models": models,
                    "autoDeploy": bool(data.get("autoDeploy")), "routed": 0, "seen": 0, "winner": None}
        self.ab_campaigns[key] = campaign
        return self._ab_json(campaign)

    def _campaign_scores(self, campaign: dict[str, Any]) -> dict[str, list[float]]:
        """Per variant: direct score values (DIRECT) or win (1) / loss (0) / tie (0.5) outcomes (COMPARISON)."""
        out: dict[str, list[float]] = {m: [] for m in campaign["models"]}
        begin = campaign["begin"]
        end = campaign["end"] if campaign["end"] is not None else math.inf
        if campaign["scoreType"] == "DIRECT":
            for s in self.scores.values():
                c = self.completions[s["completion"]]
                if (s["metric"] == campaign["metric"] and c["project"] == campaign["project"]
                        and c["model"] in out and begin <= s["created"] <= end):
                    out[c["model"]].append(s["value"])
        else:
            for comp in self._campaign_comparisons(campaign):
                a, b = self.completions[comp["preferred"]]["model"], self.completions[comp["other"]]["model"]
                tie = comp["tied"] is not None
                out[a].append(0.5 if tie else 1.0)
                out[b].append(0.5 if tie else 0.0)
        return out

    def _campaign_comparisons(self, campaign: dict[str, Any]) -> list[dict[str, Any]]:
        end = campaign["end"] if campaign["end"] is not None else math.inf
        found = []
        for comp in self.comparisons.values():
            a, b = self.completions[comp["preferred"]], self.completions[comp["other"]]
            if (comp["metric"] == campaign["metric"] and comp["project"] == campaign["project"]
                    and a["model"] in campaign["models"] and b["model"] in campaign["models"]
                    and a["model"] != b["model"] and campaign["begin"] <= comp["created"] <= end):
                found.append(comp)
        return found

    def _has_enough(self, campaign: dict[str, Any], per_variant: dict[str, list[float]]) -> bool:
        return all(len(v) >= self.ab_min_scores for v in per_variant.values())

    def _update_campaigns(self, project_key: str) -> None:
        for campaign in self.ab_campaigns.values():
            if campaign["project"] != project_key or campaign["status"] not in AB_ACTIVE:
                continue
            per_variant = self._campaign_scores(campaign)
            if any(per_variant.values()):
                campaign["status"] = "IN_PROGRESS"
            if self._has_enough(campaign, per_variant):
                self._finish_campaign(campaign)

    def _report(self, campaign: dict[str, Any]) -> dict[str, Any]:
        per_variant = self._campaign_scores(campaign)
        lower_better = self.metrics[campaign["metric"]]["scoringType"] == "LOWER_IS_BETTER"
        stats: dict[str, tuple[float, float, float]] = {}
        variants = []
        comparisons = self._campaign_comparisons(campaign) if campaign["scoreType"] == "COMPARISON" else []
        for key in campaign["models"]:
            values = per_variant[key]
            interval = None
            if values:
                mean, half, se = _mean_interval(values)
                stats[key] = (mean, half, se)
                interval = {"start": round(mean - half, 6), "middle": round(mean, 6), "end": round(mean + half, 6)}
            entry: dict[str, Any] = {"variant": self._ref_json(self.models[key]), "interval": interval,
                                     "scores": len(values), "comparisons": None}
            if campaign["scoreType"] == "COMPARISON":
                entry["comparisons"] = [self._head_to_head(key, other, comparisons)
                                        for other in campaign["models"] if other != key]
            variants.append(entry)
        ranked = sorted(stats, key=lambda k: stats[k][0], reverse=not lower_better)
        p_value = None
        if len(ranked) >= 2:
            (m1, _, se1), (m2, _, se2) = stats[ranked[0]], stats[ranked[1]]
            p_value = _p_value(m1, se1, m2, se2)
        return {"pValue": p_value, "variants": variants, "best": ranked[0] if ranked else None}

    def _head_to_head(self, key: str, other: str, comparisons: list[dict[str, Any]]) -> dict[str, Any]:
        wins = losses = ties_good = ties_bad = 0
        for comp in comparisons:
            pair = (self.completions[comp["preferred"]]["model"], self.completions[comp["other"]]["model"])
            if set(pair) != {key, other}:
                continue
            if comp["tied"] == "good":
                ties_good += 1
            elif comp["tied"] == "bad":
                ties_bad += 1
            elif pair[0] == key:
                wins += 1
            else:
                losses += 1
        return {"scores": wins + losses + ties_good + ties_bad, "wins": wins, "losses": losses,
                "tiesGood": ties_good, "tiesBad": ties_bad, "variant": self._ref_json(self.models[other])}

    def _finish_campaign(self, campaign: dict[str, Any]) -> None:
        report = self._report(campaign)
        campaign["status"] = "DONE"
        campaign["end"] = self.clock.now()
        campaign["winner"] = report["best"]
        project = self.projects.get(campaign["project"])
        if campaign["autoDeploy"] and report["best"] and project and report["best"] in project["services"]:
            self._set_default(project, project["services"][report["best"]])

    def _ab_json(self, campaign: dict[str, Any]) -> dict[str, Any]:
        per_variant = self._campaign_scores(campaign)
        report = self._report(campaign)
        report.pop("best")
        return {"id": campaign["id"], "key": campaign["key"], "name": campaign["name"], "status": campaign["status"],
                "beginDate": _ms(campaign["begin"]), "scoreType": campaign["scoreType"],
                "trafficSplit": campaign["trafficSplit"],
                "endDate": _ms(campaign["end"]) if campaign["end"] is not None else None,
                "metric": self._metric_json(self.metrics[campaign["metric"]]),
                "project": self._ref_json(self.projects.get(campaign["project"])),
                "models": [self._ref_json(self.models[m]) for m in campaign["models"]],
                "scores": sum(len(v) for v in per_variant.values()),
                "hasEnoughScores": self._has_enough(campaign, per_variant), "autoDeploy": campaign["autoDeploy"],
                "report": report}

    def _op_describe_ab(self, v: dict[str, Any]) -> Any:
        try:
            return self._ab_json(self._campaign(v.get("input")))
        except EntityNotFound:
            return None

    def _op_list_ab(self, v: dict[str, Any]) -> Any:
        flt = v.get("input") or v.get("filter") or {}
        project = self._project(flt["project"]) if flt.get("project") else None
        out = []
        for c in self.ab_campaigns.values():
            if project is not None and c["project"] != project["key"]:
                continue
            if flt.get("status") and c["status"] != flt["status"]:
                continue
            if flt.get("active") is not None and (c["status"] in AB_ACTIVE) != flt["active"]:
                continue
            out.append(self._ab_json(c))
        return out

    def _op_cancel_ab(self, v: dict[str, Any]) -> Any:
        campaign = self._campaign(v.get("input"))
        if campaign["status"] not in AB_ACTIVE:
            raise GraphQLError(f"AB campaign {campaign['key']!r} is {campaign['status']} and cannot be cancelled")
        campaign["status"] = "CANCELLED"
        campaign["end"] = self.clock.now()
        return "cancelled"

    def _route(self, project: dict[str, Any]) -> str | None:
        """The model for a request to the project's default route: an A/B variant for trafficSplit of them."""
        for campaign in self.ab_campaigns.values():
            if campaign["project"] == project["key"] and campaign["status"] in AB_ACTIVE:
                seen = campaign["seen"]
                campaign["seen"] += 1
                if math.floor((seen + 1) * campaign["trafficSplit"]) > math.floor(seen * campaign["trafficSplit"]):
                    campaign["routed"] += 1
                    return str(campaign["models"][(campaign["routed"] - 1) % len(campaign["models"])])
                break
        for s in project["services"].values():
            if s["isDefault"]:
                return str(s["model"])
        return None

    # -- models ----------------------------------------------------------------------------------------
    def _op_list_models(self, v: dict[str, Any]) -> Any:
        flt = v.get("filter") or {}
        out = []
        for m in self.models.values():
            if flt.get("online") is not None and (m["online"] == "ONLINE") != bool(flt["online"]):
                continue
            out.append(self._model_json(m))
        return out

    def _op_describe_model(self, v: dict[str, Any]) -> Any:
        try:
            return self._model_json(self._model(v.get("input", v.get("idOrKey"))))
        except EntityNotFound:
            return None

    def _attach(self, project: dict[str, Any], model: dict[str, Any], deploy: bool = False) -> dict[str, Any]:
        service = project["services"].get(model["key"])
        if service is None:
            service = {"id": self._uuid(), "key": model["key"], "model": model["key"],
                       "isDefault": not any(s["isDefault"] for s in project["services"].values()),
                       "desiredOnline": False, "createdAt": _ms(self.clock.now())}
            project["services"][model["key"]] = service
        if deploy:
            service["desiredOnline"] = True
            model["online"] = "ONLINE"
        return service

    @staticmethod
    def _set_default(project: dict[str, Any], service: dict[str, Any]) -> None:
        for s in project["services"].values():
            s["isDefault"] = s is service

    def _op_add_models_to_project(self, v: dict[str, Any]) -> Any:
        data = v.get("input") or {}
        project = self._project(data.get("project"))
        failures = []
        for ref in data.get("models") or []:
            try:
                self._attach(project, self._model(ref))
            except EntityNotFound as err:
                failures.append({"model": ref, "reason": str(err)})
        return {"success": not failures, "failures": failures}

    def _op_deploy_model(self, v: dict[str, Any]) -> Any:
        data = v.get("input") or {}
        project = self._project(data.get("project"))
        service = self._attach(project, self._model(data.get("model")), deploy=True)
        return {"modelService": self._service_json(service), "warnings": []}

    def _op_update_model(self, v: dict[str, Any]) -> Any:
        data = v.get("input") or {}
        project = self._project(data.get("project"))
        service = self._service(project, data.get("modelService"))
        if data.get("isDefault"):
            self._set_default(project, service)
        elif data.get("isDefault") is False:
            service["isDefault"] = False
        if data.get("desiredOnline") is not None:
            service["desiredOnline"] = bool(data["desiredOnline"])
            if service["desiredOnline"]:
                self.models[service["model"]]["online"] = "ONLINE"
        return self._service_json(service)

    def _op_remove_model(self, v: dict[str, Any]) -> Any:
        data = v.get("input") or {}
        project = self._project(data.get("project"))
        service = self._service(project, data.get("model"))
        del project["services"][service["key"]]
        return True

    # -- datasets --------------------------------------------------------------------------------------
    def _dataset_json(self, d: dict[str, Any]) -> dict[str, Any]:
        return {k: d[k] for k in ("id", "key", "name", "createdAt", "kind", "records")} | {
            "downloadUrl": f"/api/v1/datasets/{d['id']}/download", "metricsUsage": []}

    def _op_load_dataset(self, v: dict[str, Any]) -> Any:
        data = v.get("input") or {}
        project = self._project(data.get("project"))
        content = (v.get("__files__") or {}).get("file")
        if content is None:
            raise GraphQLError("LoadDataset needs a file (GraphQL multipart request, map to variables.file)")
        key = self._new_dataset_key(data, project)
        ds = self._add_dataset(self._uuid(), key, data.get("name") or key, project, content)
        return self._dataset_json(ds)

    def _new_dataset_key(self, data: dict[str, Any], project: dict[str, Any]) -> str:
        key = str(data.get("key") or _slug(data.get("name") or "dataset"))
        pending = any(u["key"] == key and u["project"] == project["key"] and u["status"] == "PENDING"
                      for u in self.dataset_uploads.values())
        if pending or self._dataset(key, project) is not None:
            raise GraphQLError(f"Dataset with key {key!r} already exists in project {project['key']!r}")
        return key

    def _add_dataset(self, dataset_id: str, key: str, name: str, project: dict[str, Any],
                     content: bytes) -> dict[str, Any]:
        """Parse the JSONL ``content`` (GraphQLError naming the first bad line) and store the dataset."""
        lines = [ln for ln in content.decode("utf-8", "replace").splitlines() if ln.strip()]
        rows = []
        for i, ln in enumerate(lines, 1):
            try:
                row = strict_json_loads(ln)
            except ValueError as exc:
                raise GraphQLError(f"Invalid dataset: line {i} is not valid JSON ({exc})") from exc
            if not isinstance(row, dict) or not isinstance(row.get("messages"), list):
                raise GraphQLError(f"Invalid dataset: line {i} has no 'messages' list")
            rows.append(row)
        if rows and all("preferred_completion" in r or "chosen" in r for r in rows):
            kind = "PREFERENCE"
        elif rows and all("completion" in r for r in rows):
            kind = "PROMPT_COMPLETION_SCORE" if all("feedbacks" in r for r in rows) else "PROMPT_COMPLETION"
        else:
            kind = "PROMPT"
        ds = {"id": dataset_id, "key": key, "name": name, "createdAt": _ms(self.clock.now()),
              "kind": kind, "records": len(rows), "project": project["key"], "content": content}
        self.datasets[ds["id"]] = ds
        return ds

    # chunked upload (> 5 MiB): REST init / part / abort, then CreateDatasetFromMultipartUpload and polling
    def rest_upload_init(self, req: Request) -> Any:
        body = self._body(req)
        total = body.get("total_parts_count")
        if not isinstance(total, int) or isinstance(total, bool) or not 1 <= total <= MAX_UPLOAD_PARTS:
            raise HTTPError(422, f"total_parts_count must be an integer in 1..{MAX_UPLOAD_PARTS}, got {total!r}")
        session_id = f"upl-{uuid.uuid4().hex}"
        self.upload_sessions[session_id] = {"id": session_id, "content_type": body.get("content_type"),
                                            "metadata": body.get("metadata"), "total": total, "parts": {},
                                            "created": self.clock.now()}
        return {"session_id": session_id}

    def _upload_session(self, session_id: Any) -> dict[str, Any]:
        if not isinstance(session_id, str) or not session_id:
            raise HTTPError(422, "session_id is required")
        session = self.upload_sessions.get(session_id)
        if session is None:
            raise HTTPError(404, f"EntityNotFound: upload session {session_id!r} not found")
        return session

    def rest_upload_part(self, req: Request) -> RawResponse:
        session = self._upload_session(req.q("session_id"))
        raw = req.q("part_number")
        try:
            number = int(raw or "")
        except ValueError:
            raise HTTPError(400, f"part_number must be an integer, got {raw!r}") from None
        if not 1 <= number <= session["total"]:
            raise HTTPError(400, f"part_number {number} is out of range 1..{session['total']}")
        session["parts"][number] = req.body
        return RawResponse(200, b"")

    def rest_upload_abort(self, req: Request) -> Any:
        session = self._upload_session(self._body(req).get("session_id"))
        del self.upload_sessions[session["id"]]
        return {}

    def _op_create_from_upload(self, v: dict[str, Any]) -> Any:
        data = v.get("input") or {}
        project = self._project(data.get("project"))
        session_id = data.get("uploadSessionId")
        session = self.upload_sessions.get(session_id) if isinstance(session_id, str) else None
        if session is None:
            raise EntityNotFound("upload session", session_id)
        missing = [n for n in range(1, session["total"] + 1) if n not in session["parts"]]
        if missing:
            raise GraphQLError(f"Upload session {session_id!r} is incomplete: missing parts {missing} "
                               f"of {session['total']}")
        key = self._new_dataset_key(data, project)
        del self.upload_sessions[session["id"]]
        upload = {"id": self._uuid(), "key": key, "name": data.get("name") or key, "project": project["key"],
                  "content": b"".join(session["parts"][n] for n in range(1, session["total"] + 1)),
                  "status": "PENDING", "progress": 0.0, "error": None, "polls": 0}
        self.dataset_uploads[upload["id"]] = upload
        return self._upload_status_json(upload)

    @staticmethod
    def _upload_status_json(upload: dict[str, Any]) -> dict[str, Any]:
        return {"datasetId": upload["id"], "status": upload["status"], "progress": upload["progress"],
                "error": upload["error"]}

    def _op_upload_status(self, v: dict[str, Any]) -> Any:
        data = v.get("input") or {}
        project = self._project(data.get("project"))
        upload = self.dataset_uploads.get(str(data.get("datasetId")))
        if upload is None or upload["project"] != project["key"]:
            raise EntityNotFound("dataset upload", data.get("datasetId"), f" in project {project['key']!r}")
        if upload["status"] == "PENDING":
            upload["polls"] += 1
            wait = max(0, int(self.upload_processing_polls))
            if upload["polls"] <= wait:
                upload["progress"] = round(upload["polls"] / (wait + 1), 4)
            else:
                self._process_upload(upload, project)
        return self._upload_status_json(upload)

    def _process_upload(self, upload: dict[str, Any], project: dict[str, Any]) -> None:
        try:
            self._add_dataset(upload["id"], upload["key"], upload["name"], project, upload["content"])
        except GraphQLError as err:
            upload.update(status="ERROR", error=str(err))
        else:
            upload.update(status="DONE", progress=1.0)
        upload["content"] = b""  # kept by the dataset (DONE) or not needed (ERROR)

    def _op_list_datasets(self, v: dict[str, Any]) -> Any:
        project = self._project(v.get("input", v.get("project")))
        return [self._dataset_json(d) for d in self.datasets.values() if d["project"] == project["key"]]

    def _op_describe_dataset(self, v: dict[str, Any]) -> Any:
        project = self._project(v.get("project"))
        d = self._dataset(v.get("input", v.get("idOrKey")), project)
        return self._dataset_json(d) if d else None

    def _op_delete_dataset(self, v: dict[str, Any]) -> Any:
        project = self._project(v.get("project"))
        ref = v.get("idOrKey", v.get("input"))
        d = self._dataset(ref, project)
        if d is None:
            raise EntityNotFound("dataset", ref)
        del self.datasets[d["id"]]
        return True

    def rest_download_dataset(self, req: Request) -> RawResponse:
        d = self.datasets.get(req.path_params["id"])
        if d is None:
            raise HTTPError(404, f"EntityNotFound: dataset {req.path_params['id']!r} not found")
        return RawResponse(200, d["content"], {"content-type": "application/jsonl"})

    # -- jobs ------------------------------------------------------------------------------------------
    def _op_create_job(self, v: dict[str, Any]) -> Any:
        data = v.get("input") or {}
        project = self._project(data.get("project"))
        recipe_key = data.get("recipe")
        if not recipe_key:
            raise GraphQLError("CreateJob needs a recipe")
        args = data.get("args") or {}
        models = [m for m in ([args.get("model")] + list(args.get("models") or [])) if m]
        for m in [*models, *([args["judge_model"]] if args.get("judge_model") else [])]:
            self._model(m)
        n = next(self._seq)
        now = self.clock.now()
        job = {"id": self._uuid(), "name": data.get("name") or f"{recipe_key}-{n}", "status": "PENDING",
               "created": now, "started": None, "ended": None, "progress": 0.0, "error": None,
               "project": project["key"], "recipe": recipe_key, "args": args, "models": models,
               "numGpus": data.get("numGpus"), "computePool": data.get("computePool"), "n": n,
               "evaluation": "eval" in recipe_key.lower() or bool(args.get("judge_model")), "artifacts": [],
               "cancel_at": None}
        self.jobs[job["id"]] = job
        self._advance_job(job, now)
        return self._job_json(job)

    def _advance_jobs(self, now: float) -> None:
        for job in self.jobs.values():
            self._advance_job(job, now)

    def _advance_job(self, job: dict[str, Any], now: float) -> None:
        if job["status"] in JOB_TERMINAL:
            return
        if job["cancel_at"] is not None and now >= job["cancel_at"]:
            job["status"] = "CANCELED"
            job["ended"] = min(job["cancel_at"], self.clock.now())
            return
        start = job["created"] + self.clock.scale(self.job_pending_seconds)
        if now < start:
            return
        stamp = self.clock.now() if math.isinf(now) else now
        if job["started"] is None:
            job["started"] = min(start, stamp)
        duration = self.clock.scale(self.job_run_seconds)
        end = start + duration
        if now < end:
            job["status"] = "RUNNING"
            job["progress"] = round(min(0.99, (now - start) / duration), 4) if duration > 0 else 0.99
            return
        job["ended"] = min(end, stamp)
        if self.fail_jobs:
            job["status"] = "FAILED"
            job["error"] = "Recipe failed: CUDA out of memory (emulated)"
            return
        job["status"] = "COMPLETED"
        job["progress"] = 1.0
        job["artifacts"].append(self._evaluation_artifact(job) if job["evaluation"] else self._model_artifact(job))

    def _model_artifact(self, job: dict[str, Any]) -> dict[str, Any]:
        base = job["models"][0] if job["models"] else None
        key = str(job["args"].get("output_model_key") or job["args"].get("output_name")
                  or f"{base or 'model'}-{_slug(job['recipe'])}-{job['n']}")
        if key not in self.models:
            backbone = self.models[base]["backbone"] or base if base else None
            self._add_model(key, str(job["args"].get("output_model_name") or key), backbone=backbone,
                            adapter=not job.get("import"))
        return {"id": self._uuid(), "name": key, "kind": "MODEL", "status": "READY", "uri": f"model://{key}",
                "metadata": {"model_key": key}, "createdAt": _ms(self.clock.now()), "byproducts": None}

    def _evaluation_artifact(self, job: dict[str, Any]) -> dict[str, Any]:
        args = job["args"]
        metrics = [m for m in ([args.get("metric")] + list(args.get("metrics") or args.get("graders") or [])) if m]
        results = []
        artifact_id = self._uuid()
        for model_key in job["models"] or ["default"]:
            model = self.models.get(model_key)
            for metric_key in metrics or ["quality"]:
                metric_key = metric_key if isinstance(metric_key, str) else str(metric_key.get("key", "quality"))
                seed = _digest(job["recipe"], model_key, metric_key)
                count = int(args.get("num_samples") or 50)
                mean = round(0.45 + (seed % 4500) / 10000, 4)
                std = round(0.05 + (seed >> 16) % 1000 / 10000, 4)
                metric = self.metrics.get(metric_key)
                results.append({"mean": mean, "min": round(max(0.0, mean - 2 * std), 4),
                                "max": round(min(1.0, mean + 2 * std), 4), "stddev": std, "count": count,
                                "sum": round(mean * count, 4), "scoreCount": count, "jobId": job["id"],
                                "artifactId": artifact_id,
                                "modelService": {"key": model_key, "name": model["name"] if model else model_key},
                                "metric": {"key": metric_key, "name": metric["name"] if metric else metric_key}})
        return {"id": artifact_id, "name": f"{job['name']}-evaluation", "kind": "EVALUATION", "status": "READY",
                "uri": None, "metadata": {}, "createdAt": _ms(self.clock.now()),
                "byproducts": {"__typename": "EvaluationByproducts", "evalResults": results}}

    def _job_json(self, job: dict[str, Any]) -> dict[str, Any]:
        status = job["status"]
        stage_status = {"PENDING": "PENDING", "RUNNING": "RUNNING", "COMPLETED": "DONE", "FAILED": "ERROR",
                        "CANCELED": "CANCELLED"}[status]
        project = self.projects.get(job["project"])
        created = _ms(job["created"])
        duration = None
        if job["started"] is not None:
            duration = _ms((job["ended"] if job["ended"] is not None else self.clock.now()) - job["started"])
        return {"id": job["id"], "name": job["name"], "status": status, "createdAt": created,
                "createdBy": {"id": self.user["id"], "name": self.user["name"]},
                "startedAt": _ms(job["started"]) if job["started"] is not None else None,
                "endedAt": _ms(job["ended"]) if job["ended"] is not None else None, "durationMs": duration,
                "progress": job["progress"], "error": job["error"], "kind": "CUSTOM",
                "stages": [{"name": "evaluation" if job["evaluation"] else "training", "status": stage_status,
                            "info": None}],
                "project": self._ref_json(project),
                "recipe": {"id": str(uuid.UUID(int=_digest("recipe", job["recipe"]) << 64 | 0x4000_8000_0000_0000)),
                           "key": job["recipe"], "name": job["recipe"], "content": None,
                           "contentHash": f"{_digest(job['recipe']):016x}", "editable": False, "global": True,
                           "builtin": True, "inputSchema": None, "jsonSchema": None, "description": "",
                           "labels": [], "createdAt": created, "updatedAt": None, "createdBy": None},
                "artifacts": list(job["artifacts"]),
                "details": {"__typename": "CustomRecipeJobDetails", "args": job["args"]}}

    def _job(self, ref: Any) -> dict[str, Any]:
        job = self.jobs.get(str(ref))
        if job is None:
            raise EntityNotFound("job", ref)
        self._advance_job(job, self.clock.now())
        return job

    def _op_describe_job(self, v: dict[str, Any]) -> Any:
        try:
            return self._job_json(self._job(v.get("id")))
        except EntityNotFound:
            return None

    def _op_cancel_job(self, v: dict[str, Any]) -> Any:
        job = self._job(v.get("jobId", v.get("id")))
        if job["status"] not in JOB_TERMINAL and job["cancel_at"] is None:
            job["cancel_at"] = self.clock.now() + self.clock.scale(self.job_cancel_seconds)
            self._advance_job(job, self.clock.now())
        return self._job_json(job)

    def _op_delete_job(self, v: dict[str, Any]) -> Any:
        job = self._job(v.get("id"))
        del self.jobs[job["id"]]
        return True

    def _op_update_job(self, v: dict[str, Any]) -> Any:
        job = self._job(v.get("id"))
        name = (v.get("input") or {}).get("name")
        if name:
            job["name"] = name
        return self._job_json(job)

    def _op_list_jobs(self, v: dict[str, Any]) -> Any:
        flt = v.get("filter") or {}
        project = self._project(flt["project"]) if flt.get("project") else None
        self._advance_jobs(self.clock.now())
        items = [j for j in self.jobs.values() if project is None or j["project"] == project["key"]]
        items.sort(key=lambda j: (-j["created"], -j["n"]))
        chunk, info = self._page(items, v.get("page") or {}, lambda j: [-j["created"], -j["n"]])
        return {"totalCount": len(items), "pageInfo": info, "nodes": [self._job_json(j) for j in chunk]}

    # -- REST ------------------------------------------------------------------------------------------
    def _rest(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except EntityNotFound as err:
            raise HTTPError(404, str(err)) from err
        except GraphQLError as err:
            raise HTTPError(400, str(err)) from err

    def _body(self, req: Request) -> dict[str, Any]:
        body = req.json()
        if not isinstance(body, dict):
            raise HTTPError(422, "request body must be a JSON object")
        return body

    def _resolve_model(self, ref: Any) -> tuple[dict[str, Any], str | None]:
        """``"project/model"`` → (project, model key); ``"project"`` → the routed or default model."""
        if not isinstance(ref, str) or not ref:
            raise HTTPError(422, "model is required ('project/model' or 'project')")
        project_key, _, model_key = ref.partition("/")
        project = self._project(project_key)
        if model_key:
            return project, str(self._service(project, model_key)["model"])
        return project, self._route(project)

    def rest_chat(self, req: Request) -> Any:
        return self._rest(lambda: self._chat(self._body(req)))

    def _chat(self, body: dict[str, Any]) -> Any:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise HTTPError(422, "messages must be a non-empty list")
        if body.get("ab_campaign") is not None:  # counts in that A/B test, whatever its traffic split
            ref = body.get("model")
            project = self._project(ref.partition("/")[0] if isinstance(ref, str) else ref)
            named = ref.partition("/")[2] if isinstance(ref, str) else ""
            model: str | None = self.ab_variant(project, body["ab_campaign"],
                                                str(self._service(project, named)["model"]) if named else None)
        else:
            project, model = self._resolve_model(body.get("model"))
        if model is None:
            raise HTTPError(400, f"Project {project['key']!r} has no default model: attach one with is_default")
        if self.models[model]["online"] != "ONLINE":
            raise HTTPError(400, f"Model {model!r} is not online: deploy it first")
        session_id = rest_uuid(body, "session_id") or self._uuid()
        user = rest_uuid(body, "user")
        n = self.completions_wanted(body)
        # each of the n answers its own text (the first is the one a single request gets)
        answers = [simulate_chat(model if i == 0 else f"{model}#{i}", messages, body.get("max_tokens"),
                                 body.get("stop")) for i in range(n)]
        prompt_tokens = sum(len(_message_text(m.get("content")).split()) + 1 for m in messages)
        generated = sum(len(tokens) for tokens, _ in answers)
        usage = {"completion_tokens": generated, "prompt_tokens": prompt_tokens,
                 "total_tokens": generated + prompt_tokens}
        completion_ids = [self._uuid() for _ in answers]
        if body.get("store", True) is not False:
            params = {k: body[k] for k in ("max_tokens", "temperature", "top_p", "stop", "n")
                      if body.get(k) is not None}
            for (tokens, _), completion_id in zip(answers, completion_ids, strict=True):
                self._store_completion(project, model, messages, "".join(tokens), source="LIVE",
                                       labels=body.get("labels"), session_id=session_id, user=user,
                                       parameters=params,
                                       usage={"completionTokens": len(tokens), "promptTokens": prompt_tokens,
                                              "totalTokens": len(tokens) + prompt_tokens},
                                       completion_id=completion_id)
        chat_id = f"chatcmpl-{next(self._seq)}"
        created = self.clock.now()
        if not body.get("stream"):
            return {"id": chat_id, "created": created, "session_id": session_id,
                    "choices": [{"index": i, "message": {"id": cid, "role": "assistant", "content": "".join(tokens)},
                                 "finish_reason": finish, "completion_id": cid, "model": model}
                                for i, ((tokens, finish), cid) in enumerate(zip(answers, completion_ids, strict=True))],
                    "usage": usage}
        frames = []
        for index, ((tokens, finish), completion_id) in enumerate(zip(answers, completion_ids, strict=True)):
            for i, tok in enumerate(tokens):
                last = i == len(tokens) - 1
                chunk = {"id": chat_id, "created": created, "session_id": session_id,
                         "choices": [{"index": index, "completion_id": completion_id,
                                      "finish_reason": finish if last else None,
                                      "delta": {"id": completion_id, "role": "assistant", "content": tok}}],
                         "usage": None}
                frames.append(f"data: {json.dumps(chunk)}\n\n")
        if (body.get("stream_options") or {}).get("include_usage"):
            frames.append("data: " + json.dumps({"id": chat_id, "created": created, "session_id": session_id,
                                                 "choices": [], "usage": usage}) + "\n\n")
        frames.append("data: [DONE]\n\n")
        return RawResponse(200, "".join(frames).encode(),
                           {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store"})

    def rest_interactions(self, req: Request) -> Any:
        return self._rest(lambda: self._interaction(self._body(req)))

    def _interaction(self, body: dict[str, Any]) -> Any:
        project = self._project(body.get("project"))
        messages = body.get("messages")
        if messages is None and isinstance(body.get("prompt"), str):  # the older request's prompt (openapi.json)
            messages = [{"role": "user", "content": body["prompt"]}]
        if not isinstance(messages, list) or not isinstance(body.get("completion"), str):
            raise HTTPError(422, "messages (list) and completion (string) are required")
        user, session_id = rest_uuid(body, "user"), rest_uuid(body, "session_id")
        model = str(self._service(project, body["model_service"])["model"]) if body.get("model_service") else None
        if body.get("ab_campaign") is not None:  # its feedback counts in that A/B test
            model = self.ab_variant(project, body["ab_campaign"], model)
        if model is None:
            model = next((str(s["model"]) for s in project["services"].values() if s["isDefault"]), None)
        feedbacks = body.get("feedbacks") or []
        metrics = [self._metric(f.get("metric"), project) for f in feedbacks]
        for metric, f in zip(metrics, feedbacks, strict=True):
            self._check_value(metric, f.get("value"))
        created = self.created_seconds(body["created_at"]) if body.get("created_at") else None
        c = self._store_completion(project, model, messages, body["completion"], source="OFFLINE",
                                   labels=body.get("labels"), session_id=session_id, user=user, created=created)
        ids = [self._add_score(c, m, f.get("value"), f.get("details"))["id"]
               for m, f in zip(metrics, feedbacks, strict=True)]
        return {"completion_id": c["id"], "session_id": c["session_id"], "feedback_ids": ids}

    def rest_comparison(self, req: Request) -> Any:
        return self._rest(lambda: self._comparison(self._body(req)))

    def _comparison_side(self, project: dict[str, Any], ref: Any, messages: list[dict[str, Any]] | None) -> str:
        if isinstance(ref, dict):
            if not messages:
                raise GraphQLError("messages are required when comparing raw completions")
            model = str(self._service(project, ref.get("model"))["model"])
            return str(self._store_completion(project, model, messages, str(ref.get("text", "")),
                                              source="OFFLINE")["id"])
        c = self._completion(ref)
        if c["project"] != project["key"]:
            raise EntityNotFound("completion", ref, f" in project {project['key']!r}")
        return str(c["id"])

    def _comparison(self, body: dict[str, Any]) -> Any:
        project = self._project(body.get("project"))
        metric = self._metric(body.get("metric"), project)
        tied = body.get("tied")
        if tied not in (None, "good", "bad"):
            raise HTTPError(422, f"tied must be 'good' or 'bad', got {tied!r}")
        user = rest_uuid(body, "user_id")
        messages = body.get("messages")
        if messages is None and isinstance(body.get("prompt"), str):  # the older request's prompt (openapi.json)
            messages = [{"role": "user", "content": body["prompt"]}]
        sides = [body.get("preferred_completion"), body.get("other_completion")]
        for name, side in zip(("preferred_completion", "other_completion"), sides, strict=True):
            if not isinstance(side, dict):
                rest_uuid(body, name)
        preferred = self._comparison_side(project, sides[0], messages)
        other = self._comparison_side(project, sides[1], messages)
        if preferred == other:
            raise HTTPError(422, "preferred_completion and other_completion must differ")
        comp = {"id": self._uuid(), "metric": metric["key"], "project": project["key"], "preferred": preferred,
                "other": other, "tied": tied, "user": user, "created": self.clock.now()}
        self.comparisons[comp["id"]] = comp
        self.completions[preferred]["comparisons"].append(comp["id"])
        self.completions[other]["comparisons"].append(comp["id"])
        self._update_campaigns(project["key"])
        return {"comparison_id": comp["id"]}

    def rest_embeddings(self, req: Request) -> Any:
        return self._rest(lambda: self._embeddings(self._body(req)))

    def _embeddings(self, body: dict[str, Any]) -> Any:
        _, model = self._resolve_model(body.get("model"))
        if not isinstance(body.get("input"), str):
            raise HTTPError(422, "Failed to deserialize the JSON body into the target type: input: invalid type: "
                                 "expected a string (one input per request)")
        if body.get("encoding_format") not in (None, "Float", "Base64"):
            raise HTTPError(422, f"encoding_format must be 'Float' or 'Base64', got {body['encoding_format']!r}")
        rest_uuid(body, "user")
        texts = [body["input"]]
        data = []
        for i, text in enumerate(texts):
            vec = [round(((_digest(model, text, d) % 20001) - 10000) / 10000, 4) for d in range(EMBEDDING_DIM)]
            norm = math.sqrt(sum(x * x for x in vec)) or 1.0
            vec = [round(x / norm, 6) for x in vec]
            if body.get("encoding_format") == "Base64":
                data.append({"index": i, "embedding": base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()})
            else:
                data.append({"index": i, "embedding": vec})
        tokens = sum(len(t.split()) for t in texts)
        return {"data": data, "usage": {"completion_tokens": 0, "prompt_tokens": tokens, "total_tokens": tokens}}


register_platform("adaptive", AdaptiveEmulator)

__all__ = ["SEED_MODELS", "AdaptiveEmulator", "simulate_chat"]
