"""A stateful Argilla 2.x emulator on the ``/api/v1`` wire format of ``argilla`` 2.8 (see argilla.md).

Mounted at ``/argilla``: the SDK's ``api_url`` is ``http://127.0.0.1:PORT/argilla``.

Behaviour worth knowing:

* Auth by ``X-Argilla-Api-Key`` (the owner ``argilla``); errors are ``{"detail": ...}``, validation errors
  FastAPI-style ``{"detail": [{"loc", "msg", "type"}]}`` with 422.
* Datasets go draft → publish; settings are validated as the server does (rating 2–11 options in 0..10,
  ≥2 labels, visible_options ≥3, no settings after publish, no records before publish, publish needs a field
  and a required question). Bulk upsert takes 1–500 items and matches by ``id`` then ``external_id``.
* Simulated annotators (``annotator-1``…) answer each new record after ``annotation_seconds`` of simulated
  time (clock-scaled): max(``min_submitted``, ``responses_per_record``) submitted responses, agreeing with
  the record's suggestion with probability ``agreement``. ``annotate_all()`` does it at once.
* Webhooks are signed as Standard Webhooks (``webhook-id``, ``webhook-timestamp``, ``webhook-signature:
  v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" keyed by base64-decoded secret>``), retried 3 times
  after 10, 60 and 180 simulated seconds, each attempt with a new ``webhook-id``.
* ``GET /argilla/`` (datasets) and ``/argilla/dataset/{id}/annotation-mode`` (its records with their responses)
  are HTML pages standing in for Argilla's UI (no API key): where ``ArgillaClient.dataset_url`` links.
"""

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import os
import random
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx

from dagster_labeling.testing.base import (
    DEFAULT_API_KEY,
    HTTPError,
    PlatformEmulator,
    RawResponse,
    Request,
    register_platform,
)
from dagster_labeling.testing.clock import Clock
from dagster_labeling.testing.pages import Page, fields_table, rows_table, seg

OWNER_ID = "2f8e5c2e-0000-4000-8000-000000000001"
WORKSPACE_NAME = re.compile(r"^(?!-|_)[a-z0-9-_]+$")
FIELD_TYPES = {"text", "image", "chat", "custom"}
QUESTION_TYPES = {"text", "rating", "label_selection", "multi_label_selection", "ranking", "span"}
METADATA_TYPES = {"terms", "integer", "float"}
EVENTS = {
    "dataset.created", "dataset.updated", "dataset.deleted", "dataset.published", "record.created",
    "record.updated", "record.deleted", "record.completed", "response.created", "response.updated",
    "response.deleted",
}
WEBHOOK_RETRY_DELAYS = (10.0, 60.0, 180.0)


class _Invalid(Exception):
    """A FastAPI-style 422 validation error."""

    def __init__(self, loc: list[Any], msg: str) -> None:
        super().__init__(msg)
        self.loc, self.msg = loc, msg


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` value Argilla sends (Standard Webhooks ``v1``)."""
    key = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    digest = hmac.new(base64.b64decode(key + "=="), f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256)
    return "v1," + base64.b64encode(digest.digest()).decode()


@dataclass
class WebhookAttempt:
    url: str
    event: str
    attempt: int
    status: int | None
    webhook_id: str


class ArgillaEmulator(PlatformEmulator):
    """The Argilla 2.x REST API with simulated annotators and signed webhooks.

    Args:
        annotators: number of simulated annotators.
        annotation_seconds: simulated time an annotator takes per record (scaled by the clock).
        responses_per_record: responses each record gets (at least the dataset's ``min_submitted``).
        agreement: probability an annotator answers as the record's suggestion (else a random option).
        discard_rate: share of responses that are ``discarded`` instead of ``submitted``.
        auto_annotate: simulate annotators at all (off for throughput benchmarks).
    """

    name = "argilla"

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        clock: Clock | None = None,
        annotators: int = 3,
        annotation_seconds: float = 5.0,
        responses_per_record: int = 1,
        agreement: float = 0.8,
        discard_rate: float = 0.0,
        auto_annotate: bool = True,
    ) -> None:
        super().__init__(api_key=api_key, clock=clock)
        self.annotators = annotators
        self.annotation_seconds = annotation_seconds
        self.responses_per_record = responses_per_record
        self.agreement = agreement
        self.discard_rate = discard_rate
        self.auto_annotate = auto_annotate
        self._seq = itertools.count(1)
        self._executor: ThreadPoolExecutor | None = None
        self._http: httpx.Client | None = None
        self._deliveries = 0
        self._deliveries_cond = threading.Condition()
        self._stop_deliveries = threading.Event()  # replaced on reset: pending retries of old webhooks stop
        self.webhook_attempts: list[WebhookAttempt] = []
        self._routes()
        self.pages.add("GET", "/", self.page_index)
        self.pages.add("GET", "/dataset/{id}/annotation-mode", self.page_dataset)
        self._clear_state()

    # -- state -----------------------------------------------------------------------------------------
    def _clear_state(self) -> None:
        now = iso(self.clock.now())
        self.users: dict[str, dict[str, Any]] = {
            OWNER_ID: {"id": OWNER_ID, "first_name": "Argilla", "last_name": None, "username": "argilla",
                       "role": "owner", "api_key": self.api_key, "inserted_at": now, "updated_at": now}
        }
        for i in range(1, self.annotators + 1):
            uid = str(uuid.UUID(int=(0xA0 << 120) + i))
            self.users[uid] = {"id": uid, "first_name": f"Annotator {i}", "last_name": None,
                               "username": f"annotator-{i}", "role": "annotator", "api_key": f"annotator-key-{i}",
                               "inserted_at": now, "updated_at": now}
        ws_id = str(uuid.uuid4())
        self.workspaces: dict[str, dict[str, Any]] = {
            ws_id: {"id": ws_id, "name": "argilla", "inserted_at": now, "updated_at": now}}
        self.datasets: dict[str, dict[str, Any]] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self._due: list[tuple[float, int, str, str, str]] = []
        self.webhook_attempts = []

    def reset(self) -> None:
        """Forget datasets, workspaces (but the default), webhooks, scheduled annotations; clear the log."""
        super().reset()
        self._stop_deliveries.set()
        self._stop_deliveries = threading.Event()
        with self.lock:
            self._clear_state()

    def close(self) -> None:
        super().close()
        self._stop_deliveries.set()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._http is not None:
            self._http.close()
        self._executor = self._http = None

    def error_body(self, status: int, message: str) -> bytes:
        return json.dumps({"detail": message}).encode()

    def authenticate(self, request: Request) -> None:
        key = request.headers.get("x-argilla-api-key")
        if key is None:
            auth = request.headers.get("authorization", "")
            key = auth[7:] if auth.lower().startswith("bearer ") else None
        if key != self.api_key:
            raise HTTPError(401, "Could not validate credentials")

    # -- introspection for tests -----------------------------------------------------------------------
    def dataset_by_name(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            return next((d for d in self.datasets.values() if d["json"]["name"] == name), None)

    def record_count(self, dataset_id: str | None = None) -> int:
        with self.lock:
            sets = [self.datasets[dataset_id]] if dataset_id else list(self.datasets.values())
            return sum(len(d["records"]) for d in sets)

    def external_ids(self, dataset_id: str) -> list[str]:
        with self.lock:
            return [r["external_id"] for r in self.datasets[dataset_id]["records"].values()]

    def annotate_all(self) -> int:
        """Let the annotators answer every scheduled record now; returns how many responses were added."""
        with self.lock:
            due = list(self._due)
            self._due.clear()
            for _, _, ds, rid, uid in due:
                self._annotate(ds, rid, uid)
            return len(due)

    def wait_webhooks_idle(self, timeout: float = 10.0) -> bool:
        """Block until no webhook delivery is in progress (True) or ``timeout`` real seconds pass."""
        with self._deliveries_cond:
            return self._deliveries_cond.wait_for(lambda: self._deliveries == 0, timeout)

    # -- helpers ---------------------------------------------------------------------------------------
    def _now(self) -> str:
        return iso(self.clock.now())

    def _dataset(self, dataset_id: str) -> dict[str, Any]:
        ds = self.datasets.get(dataset_id)
        if ds is None:
            raise HTTPError(404, f"Dataset with id `{dataset_id}` not found")
        return ds

    def _record(self, record_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        for ds in self.datasets.values():
            rec = ds["records"].get(record_id)
            if rec is not None:
                return ds, rec
        raise HTTPError(404, f"Record with id `{record_id}` not found")

    @staticmethod
    def _body(req: Request) -> dict[str, Any]:
        body = req.json()
        if not isinstance(body, dict):
            raise _Invalid(["body"], "Input should be a valid dictionary")
        return body

    def _route(self, method: str, path: str, fn: Any, status: int = 200) -> None:
        def handler(req: Request) -> Any:
            try:
                out = fn(req)
            except _Invalid as exc:
                body = {"detail": [{"loc": exc.loc, "msg": exc.msg, "type": "value_error"}]}
                return RawResponse(422, json.dumps(body).encode(), {"content-type": "application/json"})
            if status == 204:
                return RawResponse(204, b"", {})
            if status != 200:
                return RawResponse(status, json.dumps(out, separators=(",", ":")).encode(),
                                   {"content-type": "application/json"})
            return out

        self.router.add(method, "/api/v1" + path, handler)

    # -- UI pages (HTML, no API key) -------------------------------------------------------------------
    PAGE_RECORD_LIMIT = 200

    def page_index(self, req: Request) -> Page:
        rows = [{**d["json"], "workspace": self.workspaces.get(d["json"]["workspace_id"], {}).get("name"),
                 "records": len(d["records"])} for d in self.datasets.values()]
        return Page("Datasets", [("", rows_table(rows, ["name", "workspace", "status", "records", "inserted_at"], {
            "name": lambda d: f"{req.root_path}/dataset/{seg(d['id'])}/annotation-mode"}))])

    def page_dataset(self, req: Request) -> Page:
        ds = self._dataset(req.path_params["id"])
        usernames = {uid: u["username"] for uid, u in self.users.items()}  # never the users' keys
        questions = {q["id"]: q["name"] for q in ds["questions"]}
        records = list(ds["records"].values())
        rows = [{"id": r["id"], "external_id": r["external_id"], "status": r["status"], "fields": r["fields"],
                 "metadata": r["metadata"],
                 "suggestions": {questions.get(x["question_id"], x["question_id"]): x["value"]
                                 for x in r["suggestions"]},
                 "responses": [{"user": usernames.get(x["user_id"], x["user_id"]), "status": x["status"],
                                "values": {q: (v or {}).get("value") for q, v in (x.get("values") or {}).items()}}
                               for x in r["responses"]]}
                for r in records[: self.PAGE_RECORD_LIMIT]]
        completed = sum(1 for r in records if r["status"] == "completed")
        more = (f"<p>First {self.PAGE_RECORD_LIMIT} of {len(records)} records.</p>"
                if len(records) > self.PAGE_RECORD_LIMIT else "")
        settings = {"fields": [f["name"] for f in ds["fields"]],
                    "questions": [{"name": q["name"], "settings": q.get("settings")} for q in ds["questions"]]}
        return Page(f"Dataset {ds['json']['name']}", [
            ("", fields_table({**ds["json"], "progress": f"{completed}/{len(records)} completed"})),
            ("Settings", fields_table(settings)),
            (f"Records ({len(records)})", more + rows_table(
                rows, ["id", "external_id", "status", "fields", "suggestions", "responses", "metadata"])),
        ], [(f"{req.root_path}/", "Datasets")])

    def _routes(self) -> None:
        r = self._route
        r("GET", "/me", lambda req: self.users[OWNER_ID])
        r("GET", "/users", lambda req: {"items": list(self.users.values())})
        r("GET", "/me/workspaces", lambda req: {"items": list(self.workspaces.values())})
        r("POST", "/workspaces", self.create_workspace, 201)
        r("GET", "/workspaces/{id}", self.get_workspace)
        r("DELETE", "/workspaces/{id}", self.delete_workspace)
        r("GET", "/me/datasets", self.list_datasets)
        r("POST", "/datasets", self.create_dataset, 201)
        r("GET", "/datasets/{id}", lambda req: self._dataset(req.path_params["id"])["json"])
        r("PATCH", "/datasets/{id}", self.update_dataset)
        r("DELETE", "/datasets/{id}", self.delete_dataset)
        r("PUT", "/datasets/{id}/publish", self.publish)
        for kind in ("fields", "questions", "vectors-settings", "metadata-properties"):
            r("POST", f"/datasets/{{id}}/{kind}", lambda req, kind=kind: self.add_setting(req, kind), 201)
        for kind in ("fields", "questions", "vectors-settings"):
            r("GET", f"/datasets/{{id}}/{kind}",
              lambda req, kind=kind: {"items": self._dataset(req.path_params["id"])[kind]})
        r("GET", "/me/datasets/{id}/metadata-properties",
          lambda req: {"items": self._dataset(req.path_params["id"])["metadata-properties"]})
        r("PUT", "/datasets/{id}/records/bulk", lambda req: self.bulk(req, upsert=True))
        r("POST", "/datasets/{id}/records/bulk", lambda req: self.bulk(req, upsert=False), 201)
        r("GET", "/datasets/{id}/records", self.list_records)
        r("POST", "/datasets/{id}/records/search", self.search_records)
        r("DELETE", "/datasets/{id}/records", self.delete_records, 204)
        r("GET", "/records/{id}", lambda req: self._record_json(*self._record(req.path_params["id"]),
                                                                ("responses", "suggestions", "vectors")))
        r("DELETE", "/records/{id}", self.delete_record)
        r("POST", "/records/{id}/responses", self.create_response, 201)
        r("GET", "/datasets/{id}/progress", self.progress)
        r("GET", "/datasets/{id}/users/progress", self.users_progress)
        r("GET", "/webhooks", lambda req: {"items": [self._webhook_json(w) for w in self.webhooks.values()]})
        r("POST", "/webhooks", self.create_webhook, 201)
        r("PATCH", "/webhooks/{id}", self.update_webhook)
        r("DELETE", "/webhooks/{id}", self.delete_webhook)
        r("POST", "/webhooks/{id}/ping", self.ping_webhook, 204)

    # -- workspaces ------------------------------------------------------------------------------------
    def create_workspace(self, req: Request) -> dict[str, Any]:
        name = self._body(req).get("name")
        if not isinstance(name, str) or not WORKSPACE_NAME.match(name):
            raise _Invalid(["body", "name"], f"String should match pattern '{WORKSPACE_NAME.pattern}'")
        if any(w["name"] == name for w in self.workspaces.values()):
            raise HTTPError(409, f"Workspace with name `{name}` already exists")
        now = self._now()
        ws = {"name": name, "id": str(uuid.uuid4()), "inserted_at": now, "updated_at": now}
        self.workspaces[ws["id"]] = ws
        return ws

    def get_workspace(self, req: Request) -> dict[str, Any]:
        ws = self.workspaces.get(req.path_params["id"])
        if ws is None:
            raise HTTPError(404, f"Workspace with id `{req.path_params['id']}` not found")
        return ws

    def delete_workspace(self, req: Request) -> dict[str, Any]:
        ws = self.get_workspace(req)
        if any(d["json"]["workspace_id"] == ws["id"] for d in self.datasets.values()):
            raise HTTPError(409, "Cannot delete the workspace: it is being used by datasets")
        return self.workspaces.pop(ws["id"])

    # -- datasets --------------------------------------------------------------------------------------
    def list_datasets(self, req: Request) -> dict[str, Any]:
        ws = req.q("workspace_id")
        return {"items": [d["json"] for d in self.datasets.values() if ws is None or d["json"]["workspace_id"] == ws]}

    def create_dataset(self, req: Request) -> dict[str, Any]:
        body = self._body(req)
        name, ws_id = body.get("name"), body.get("workspace_id")
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            raise _Invalid(["body", "name"], "String should have at least 1 and at most 200 characters")
        if ws_id not in self.workspaces:  # the server's DatasetCreateValidator: 422, not 404
            raise HTTPError(422, f"Workspace with id `{ws_id}` not found")
        # checked and inserted under the emulator's lock: of N concurrent creates one wins, the others get 409
        if any(d["json"]["name"] == name and d["json"]["workspace_id"] == ws_id for d in self.datasets.values()):
            raise HTTPError(409, f"Dataset with name `{name}` already exists for workspace with id `{ws_id}`")
        dist = body.get("distribution") or {"strategy": "overlap", "min_submitted": 1}
        now = self._now()
        ds_json = {"name": name, "guidelines": body.get("guidelines"),
                   "allow_extra_metadata": body.get("allow_extra_metadata", True), "status": "draft",
                   "distribution": dist, "metadata": body.get("metadata"), "workspace_id": ws_id,
                   "last_activity_at": now, "id": str(uuid.uuid4()), "inserted_at": now, "updated_at": now}
        self.datasets[ds_json["id"]] = {"json": ds_json, "fields": [], "questions": [], "vectors-settings": [],
                                        "metadata-properties": [], "records": {}, "by_ext": {}}
        self._emit("dataset.created", ds_json)
        return ds_json

    def update_dataset(self, req: Request) -> dict[str, Any]:
        ds = self._dataset(req.path_params["id"])
        body = self._body(req)
        for key in ("name", "guidelines", "allow_extra_metadata", "metadata"):
            if key in body:
                ds["json"][key] = body[key]
        if "distribution" in body:
            dist = body["distribution"] or {}
            if dist.get("strategy", "overlap") != "overlap" or int(dist.get("min_submitted", 1)) < 1:
                raise _Invalid(["body", "distribution"], "distribution must be overlap with min_submitted >= 1")
            ds["json"]["distribution"] = {"strategy": "overlap", "min_submitted": int(dist.get("min_submitted", 1))}
        ds["json"]["updated_at"] = self._now()
        self._emit("dataset.updated", ds["json"])
        return ds["json"]

    def delete_dataset(self, req: Request) -> dict[str, Any]:
        ds = self._dataset(req.path_params["id"])
        del self.datasets[ds["json"]["id"]]
        self._emit("dataset.deleted", ds["json"])
        return ds["json"]

    def publish(self, req: Request) -> dict[str, Any]:
        ds = self._dataset(req.path_params["id"])
        if ds["json"]["status"] == "ready":
            raise HTTPError(422, "Dataset is already published")
        if not ds["fields"]:
            raise HTTPError(422, "Dataset cannot be published without fields")
        if not any(q["required"] for q in ds["questions"]):
            raise HTTPError(422, "Dataset cannot be published without required questions")
        ds["json"]["status"] = "ready"
        ds["json"]["updated_at"] = self._now()
        self._emit("dataset.published", ds["json"])
        return ds["json"]

    def add_setting(self, req: Request, kind: str) -> dict[str, Any]:
        ds = self._dataset(req.path_params["id"])
        body = self._body(req)
        if ds["json"]["status"] == "ready" and kind in ("fields", "questions"):
            raise HTTPError(422, f"{kind[:-1].capitalize()} cannot be created for a published dataset")
        name = body.get("name")
        if not isinstance(name, str) or not re.match(r"^(?=.*[a-z0-9])[a-z0-9_-]+$", name):
            raise _Invalid(["body", "name"], "String should match pattern '^(?=.*[a-z0-9])[a-z0-9_-]+$'")
        if any(s["name"] == name for s in ds[kind]):
            raise HTTPError(409, f"{kind[:-1]} with name `{name}` already exists for dataset with id "
                                 f"`{ds['json']['id']}`")
        settings = body.get("settings") or {}
        if kind == "fields":
            if settings.get("type") not in FIELD_TYPES:
                raise _Invalid(["body", "settings", "type"], f"Input tag '{settings.get('type')}' does not match any "
                               f"of the expected tags: {sorted(FIELD_TYPES)}")
            out = {"name": name, "title": body.get("title") or name, "required": body.get("required", True),
                   "description": body.get("description"), "settings": settings}
        elif kind == "questions":
            self._validate_question(ds, settings)
            out = {"name": name, "title": body.get("title") or name, "description": body.get("description"),
                   "required": body.get("required", True), "settings": settings}
        elif kind == "vectors-settings":
            dims = body.get("dimensions")
            if not isinstance(dims, int) or dims < 1:
                raise _Invalid(["body", "dimensions"], "Input should be greater than 0")
            out = {"name": name, "title": body.get("title") or name, "dimensions": dims}
        else:
            if settings.get("type") not in METADATA_TYPES:
                raise _Invalid(["body", "settings", "type"], "metadata type must be terms, integer or float")
            out = {"name": name, "settings": settings, "title": body.get("title") or name,
                   "visible_for_annotators": body.get("visible_for_annotators", True)}
        now = self._now()
        out.update(id=str(uuid.uuid4()), dataset_id=ds["json"]["id"], inserted_at=now, updated_at=now)
        ds[kind].append(out)
        return out

    @staticmethod
    def _validate_question(ds: dict[str, Any], s: dict[str, Any]) -> None:
        qtype = s.get("type")
        if qtype not in QUESTION_TYPES:
            raise _Invalid(["body", "settings", "type"],
                           f"Input tag '{qtype}' does not match any of the expected tags: {sorted(QUESTION_TYPES)}")
        options = s.get("options") or []
        loc = ["body", "settings", "options"]
        if qtype == "rating":
            values = [o.get("value") for o in options]
            if not 2 <= len(values) <= 11:
                raise _Invalid(loc, "List should have at least 2 items after validation, and at most 11")
            if any(not isinstance(v, int) or not 0 <= v <= 10 for v in values) or len(set(values)) != len(values):
                raise _Invalid(loc, "rating option values must be distinct integers between 0 and 10")
        if qtype in ("label_selection", "multi_label_selection", "span", "ranking"):
            values = [o.get("value") for o in options]
            if len(values) < 2 or len(set(values)) != len(values):
                raise _Invalid(loc, "List should have at least 2 items after validation and values must be unique")
            visible = s.get("visible_options")
            if visible is not None and (visible < 3 or visible > len(values)):
                raise _Invalid(["body", "settings", "visible_options"],
                               "visible_options must be at least 3 and at most the number of options")
        if qtype == "span":
            field = next((f for f in ds["fields"] if f["name"] == s.get("field")), None)
            if field is None or field["settings"].get("type") != "text":
                raise HTTPError(422, f"`{s.get('field')}` is not a valid text field name for span question")

    # -- records ---------------------------------------------------------------------------------------
    def _question_by_id(self, ds: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {q["id"]: q for q in ds["questions"]}

    @staticmethod
    def _check_value(q: dict[str, Any], value: Any, what: str) -> None:
        s = q["settings"]
        options = [o["value"] for o in s.get("options") or []]
        qtype = s["type"]
        bad = False
        if qtype in ("rating", "label_selection"):
            bad = value not in options
        elif qtype == "multi_label_selection":
            bad = not isinstance(value, list) or not value or any(v not in options for v in value)
        elif qtype == "text":
            bad = not isinstance(value, str) or not value
        elif qtype == "ranking":
            bad = not isinstance(value, list) or any(v.get("value") not in options for v in value)
        elif qtype == "span":
            bad = not isinstance(value, list) or any(v.get("label") not in options for v in value)
        if bad:
            raise HTTPError(422, f"{what} value `{value}` is not valid for question `{q['name']}` of type {qtype}")

    def _validate_fields(self, ds: dict[str, Any], fields: dict[str, Any], i: int) -> None:
        names = {f["name"] for f in ds["fields"]}
        extra = set(fields) - names
        if extra:
            raise HTTPError(422, f"Record at position {i} is not valid because found fields values for non "
                                 f"configured fields: {sorted(extra)}")
        for f in ds["fields"]:
            if f["required"] and fields.get(f["name"]) in (None, ""):
                raise HTTPError(422, f"Record at position {i} is not valid because missing required value for "
                                     f"field: '{f['name']}'")

    def _apply_responses(self, ds: dict[str, Any], rec: dict[str, Any], responses: list[dict[str, Any]],
                         i: int) -> list[tuple[str, dict[str, Any]]]:
        questions = {q["name"]: q for q in ds["questions"]}
        events = []
        for resp in responses:
            status = resp.get("status", "submitted")
            if status not in ("draft", "submitted", "discarded"):
                raise _Invalid(["body", "items", i, "responses", "status"], "Input should be 'draft', 'submitted' "
                               "or 'discarded'")
            values = resp.get("values") or {}
            for qname, item in values.items():
                q = questions.get(qname)
                if q is None:
                    raise HTTPError(422, f"Record at position {i} is not valid because response has a value for "
                                         f"a non configured question: {qname!r}")
                self._check_value(q, (item or {}).get("value"), "response")
            if status == "submitted":
                missing = [q for q in questions.values() if q["required"] and q["name"] not in values]
                if missing:
                    raise HTTPError(422, f"Record at position {i} is not valid because missing required value for "
                                         f"question: '{missing[0]['name']}'")
            user_id = resp.get("user_id") or OWNER_ID
            now = self._now()
            existing = next((x for x in rec["responses"] if x["user_id"] == user_id), None)
            if existing is None:
                new = {"values": values, "status": status, "record_id": rec["id"], "user_id": user_id,
                       "id": str(uuid.uuid4()), "inserted_at": now, "updated_at": now}
                rec["responses"].append(new)
                events.append(("response.created", new))
            else:
                existing.update(values=values, status=status, updated_at=now)
                events.append(("response.updated", existing))
        return events

    def _refresh_status(self, ds: dict[str, Any], rec: dict[str, Any]) -> bool:
        """Recompute a record's status; True if it just became completed."""
        submitted = sum(1 for x in rec["responses"] if x["status"] == "submitted")
        new = "completed" if submitted >= int(ds["json"]["distribution"].get("min_submitted", 1)) else "pending"
        changed = new == "completed" and rec["status"] != "completed"
        rec["status"] = new
        return changed

    def bulk(self, req: Request, *, upsert: bool) -> dict[str, Any]:
        ds = self._dataset(req.path_params["id"])
        items = self._body(req).get("items")
        if not isinstance(items, list) or not 1 <= len(items) <= 500:
            raise _Invalid(["body", "items"], "List should have at least 1 item after validation, not more than 500")
        if ds["json"]["status"] != "ready":
            raise HTTPError(422, "Records cannot be created for a non published dataset")
        by_id_q = self._question_by_id(ds)
        # Validate everything before changing anything (the real server does it in one transaction).
        plan = []
        for i, item in enumerate(items):
            rid, ext = item.get("id"), item.get("external_id")
            existing = None
            if upsert and rid:
                existing = ds["records"].get(rid)
            if upsert and existing is None and ext is not None and ext in ds["by_ext"]:
                existing = ds["records"][ds["by_ext"][ext]]
            if not upsert and ext is not None and ext in ds["by_ext"]:
                raise HTTPError(409, f"Record with external_id `{ext}` already exists")
            fields = item.get("fields")
            if existing is None or fields:
                self._validate_fields(ds, fields or {}, i)
            for sug in item.get("suggestions") or []:
                q = by_id_q.get(sug.get("question_id"))
                if q is None:
                    raise HTTPError(422, f"Record at position {i} is not valid because suggestion for question_id="
                                         f"{sug.get('question_id')} is not valid: question not found")
                self._check_value(q, sug.get("value"), "suggestion")
                score = sug.get("score")
                if isinstance(score, (int, float)) and not 0 <= score <= 1:
                    raise _Invalid(["body", "items", i, "suggestions", "score"], "score must be between 0 and 1")
            plan.append((item, existing))
        out, events = [], []
        now = self._now()
        for i, (item, rec) in enumerate(plan):
            created = rec is None
            if created:
                rec = {"id": item.get("id") or str(uuid.uuid4()), "status": "pending", "fields": item["fields"],
                       "metadata": item.get("metadata") or {}, "external_id": item.get("external_id"),
                       "dataset_id": ds["json"]["id"], "inserted_at": now, "updated_at": now, "responses": [],
                       "suggestions": [], "vectors": item.get("vectors") or {}}
                ds["records"][rec["id"]] = rec
                if rec["external_id"] is not None:
                    ds["by_ext"][rec["external_id"]] = rec["id"]
            else:
                assert rec is not None
                if item.get("fields"):
                    rec["fields"] = item["fields"]
                if item.get("metadata") is not None:
                    rec["metadata"] = item["metadata"]
                if item.get("vectors"):
                    rec["vectors"].update(item["vectors"])
                rec["updated_at"] = now
            for sug in item.get("suggestions") or []:
                rec["suggestions"] = [s for s in rec["suggestions"] if s["question_id"] != sug["question_id"]]
                rec["suggestions"].append({"question_id": sug["question_id"], "type": sug.get("type"),
                                           "value": sug.get("value"), "agent": sug.get("agent"),
                                           "score": sug.get("score"), "id": str(uuid.uuid4()),
                                           "inserted_at": now, "updated_at": now})
            events += self._apply_responses(ds, rec, item.get("responses") or [], i)
            completed = self._refresh_status(ds, rec)
            events.append(("record.created" if created else "record.updated", rec))
            if completed:
                events.append(("record.completed", rec))
            if created and self.auto_annotate:
                self._schedule_annotations(ds, rec)
            out.append(self._record_json(ds, rec, ("responses", "suggestions", "vectors")))
        for event, data in events:
            self._emit(event, data, ds)
        return {"items": out}

    def _record_json(self, ds: dict[str, Any], rec: dict[str, Any], include: tuple[str, ...] | list[str]) -> dict:
        out = {k: rec[k] for k in ("id", "status", "fields", "metadata", "external_id", "dataset_id",
                                   "inserted_at", "updated_at")}
        for inc in include:
            key, _, names = inc.partition(":")
            if key == "vectors" and names:
                wanted = set(names.split(","))
                out["vectors"] = {k: v for k, v in rec["vectors"].items() if k in wanted}
            elif key in ("responses", "suggestions", "vectors"):
                out[key] = rec[key]
        return out

    @staticmethod
    def _paging(req: Request) -> tuple[int, int]:
        try:
            offset, limit = int(req.q("offset", "0") or 0), int(req.q("limit", "50") or 50)
        except ValueError as exc:
            raise _Invalid(["query", "offset"], "Input should be a valid integer") from exc
        if offset < 0:
            raise _Invalid(["query", "offset"], "Input should be greater than or equal to 0")
        if not 1 <= limit <= 1000:
            raise _Invalid(["query", "limit"], "Input should be less than or equal to 1000")
        return offset, limit

    def list_records(self, req: Request) -> dict[str, Any]:
        ds = self._dataset(req.path_params["id"])
        offset, limit = self._paging(req)
        include = req.q_all("include")
        recs = list(ds["records"].values())[offset:offset + limit]
        return {"items": [self._record_json(ds, r, include) for r in recs], "total": len(ds["records"])}

    def _matches(self, ds: dict[str, Any], rec: dict[str, Any], flt: dict[str, Any]) -> bool:
        scope = flt.get("scope") or {}
        entity = scope.get("entity")
        values: list[Any] = []
        if entity == "record":
            values = [rec.get(str(scope.get("property")))]
        elif entity == "response":
            question = scope.get("question")
            responses = rec["responses"]
            if question is None:
                values = [x["status"] for x in responses] or ["pending"]
            else:
                values = [(x["values"].get(question) or {}).get("value") for x in responses]
        elif entity == "suggestion":
            qid = next((q["id"] for q in ds["questions"] if q["name"] == scope.get("question")), None)
            values = [s.get(scope.get("property") or "value") for s in rec["suggestions"] if s["question_id"] == qid]
        elif entity == "metadata":
            values = [(rec.get("metadata") or {}).get(scope.get("metadata_property"))]
        else:
            raise _Invalid(["body", "filters", "scope", "entity"], f"unknown entity {entity!r}")
        if flt.get("type") == "terms":
            wanted = flt.get("values") or []
            return any((v in wanted) or (isinstance(v, list) and any(x in wanted for x in v)) for v in values)
        if flt.get("type") == "range":
            ge, le = flt.get("ge"), flt.get("le")
            return any(isinstance(v, (int, float)) and (ge is None or v >= ge) and (le is None or v <= le)
                       for v in values)
        raise _Invalid(["body", "filters", "type"], "filter type must be terms or range")

    def search_records(self, req: Request) -> dict[str, Any]:
        ds = self._dataset(req.path_params["id"])
        offset, limit = self._paging(req)
        body = self._body(req)
        query = (body.get("query") or {}).get("text") or {}
        filters = ((body.get("filters") or {}).get("and")) or []
        if len(filters) > 50:
            raise _Invalid(["body", "filters", "and"], "List should have at most 50 items")
        q, field = (query.get("q") or "").lower(), query.get("field")
        hits = []
        for rec in ds["records"].values():
            if q:
                texts = [rec["fields"].get(field)] if field else list(rec["fields"].values())
                if not any(q in json.dumps(t).lower() for t in texts if t is not None):
                    continue
            if all(self._matches(ds, rec, f) for f in filters):
                hits.append(rec)
        include = req.q_all("include")
        page = hits[offset:offset + limit]
        return {"items": [{"record": self._record_json(ds, r, include), "query_score": 1.0} for r in page],
                "total": len(hits)}

    def delete_records(self, req: Request) -> None:
        ds = self._dataset(req.path_params["id"])
        ids = [i for i in (req.q("ids") or "").split(",") if i]
        if not 1 <= len(ids) <= 100:
            raise _Invalid(["query", "ids"], "between 1 and 100 ids")
        for rid in ids:
            rec = ds["records"].pop(rid, None)
            if rec is not None:
                ds["by_ext"].pop(rec.get("external_id"), None)
                self._emit("record.deleted", rec, ds)

    def delete_record(self, req: Request) -> dict[str, Any]:
        ds, rec = self._record(req.path_params["id"])
        del ds["records"][rec["id"]]
        ds["by_ext"].pop(rec.get("external_id"), None)
        self._emit("record.deleted", rec, ds)
        return self._record_json(ds, rec, ())

    def create_response(self, req: Request) -> dict[str, Any]:
        ds, rec = self._record(req.path_params["id"])
        body = self._body(req)
        if any(x["user_id"] == (body.get("user_id") or OWNER_ID) for x in rec["responses"]):
            raise HTTPError(409, "Response already exists for this user and record")
        events = self._apply_responses(ds, rec, [body], 0)
        if self._refresh_status(ds, rec):
            events.append(("record.completed", rec))
        for event, data in events:
            self._emit(event, data, ds)
        return rec["responses"][-1]

    # -- progress --------------------------------------------------------------------------------------
    def progress(self, req: Request) -> dict[str, Any]:
        ds = self._dataset(req.path_params["id"])
        total = len(ds["records"])
        completed = sum(1 for r in ds["records"].values() if r["status"] == "completed")
        users = sorted({self.users.get(x["user_id"], {}).get("username", x["user_id"])
                        for r in ds["records"].values() for x in r["responses"]})
        return {"total": total, "completed": completed, "pending": total - completed,
                "users": [{"username": u} for u in users]}

    def users_progress(self, req: Request) -> dict[str, Any]:
        ds = self._dataset(req.path_params["id"])
        per: dict[str, dict[str, dict[str, int]]] = {}
        for rec in ds["records"].values():
            bucket = "completed" if rec["status"] == "completed" else "pending"
            for x in rec["responses"]:
                name = self.users.get(x["user_id"], {}).get("username", x["user_id"])
                counts = per.setdefault(name, {b: {"submitted": 0, "draft": 0, "discarded": 0}
                                               for b in ("completed", "pending")})
                counts[bucket][x["status"]] += 1
        return {"users": [{"username": u, **c} for u, c in sorted(per.items())]}

    # -- simulated annotators --------------------------------------------------------------------------
    def _schedule_annotations(self, ds: dict[str, Any], rec: dict[str, Any]) -> None:
        annotators = [u for u in self.users.values() if u["role"] == "annotator"]
        if not annotators:
            return
        k = min(len(annotators), max(self.responses_per_record, int(ds["json"]["distribution"]["min_submitted"])))
        rng = random.Random(rec["id"])
        now = self.clock.now()
        for user in rng.sample(annotators, k):
            due = now + self.clock.scale(self.annotation_seconds * (0.5 + rng.random()))
            heapq.heappush(self._due, (due, next(self._seq), ds["json"]["id"], rec["id"], user["id"]))

    def tick(self, now: float) -> None:
        """Let annotators whose simulated time has elapsed submit their responses."""
        with self.lock:
            while self._due and self._due[0][0] <= now:
                _, _, ds_id, rid, uid = heapq.heappop(self._due)
                self._annotate(ds_id, rid, uid)

    def _annotate(self, ds_id: str, rid: str, uid: str) -> None:
        ds = self.datasets.get(ds_id)
        rec = ds["records"].get(rid) if ds else None
        if ds is None or rec is None or any(x["user_id"] == uid for x in rec["responses"]):
            return
        rng = random.Random(f"{rid}:{uid}")
        suggested = {s["question_id"]: s["value"] for s in rec["suggestions"]}
        values = {}
        for q in ds["questions"]:
            s = q["settings"]
            options = [o["value"] for o in s.get("options") or []]
            if q["id"] in suggested and rng.random() < self.agreement:
                value = suggested[q["id"]]
            elif s["type"] in ("rating", "label_selection"):
                value = rng.choice(options)
            elif s["type"] == "multi_label_selection":
                value = sorted(rng.sample(options, rng.randint(1, len(options))))
            elif s["type"] == "ranking":
                value = [{"value": v, "rank": i + 1} for i, v in enumerate(rng.sample(options, len(options)))]
            elif s["type"] == "span":
                value = []
            else:
                if not q["required"]:
                    continue
                value = f"reviewed by {self.users[uid]['username']}"
            if value == [] and q["required"]:
                continue
            values[q["name"]] = {"value": value}
        status = "discarded" if rng.random() < self.discard_rate else "submitted"
        if status == "submitted" and any(q["required"] and q["name"] not in values for q in ds["questions"]):
            status = "draft"
        events = self._apply_responses(ds, rec, [{"values": values, "status": status, "user_id": uid}], 0)
        if self._refresh_status(ds, rec):
            events.append(("record.completed", rec))
        for event, data in events:
            self._emit(event, data, ds)

    # -- webhooks --------------------------------------------------------------------------------------
    @staticmethod
    def _webhook_json(w: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in w.items() if not k.startswith("_")}

    def _check_events(self, events: Any) -> list[str]:
        if not isinstance(events, list) or not events or len(set(events)) != len(events) \
                or any(e not in EVENTS for e in events):
            raise _Invalid(["body", "events"], f"events must be a non-empty list of distinct events among "
                                               f"{sorted(EVENTS)}")
        return events

    def create_webhook(self, req: Request) -> dict[str, Any]:
        body = self._body(req)
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise _Invalid(["body", "url"], "Input should be a valid URL")
        now = self._now()
        hook = {"id": str(uuid.uuid4()), "url": url, "secret": base64.b64encode(os.urandom(24)).decode(),
                "events": self._check_events(body.get("events")), "enabled": True,
                "description": body.get("description"), "inserted_at": now, "updated_at": now}
        self.webhooks[str(hook["id"])] = hook
        return hook

    def _webhook(self, req: Request) -> dict[str, Any]:
        hook = self.webhooks.get(req.path_params["id"])
        if hook is None:
            raise HTTPError(404, f"Webhook with id `{req.path_params['id']}` not found")
        return hook

    def update_webhook(self, req: Request) -> dict[str, Any]:
        hook = self._webhook(req)
        body = self._body(req)
        if "events" in body:
            body["events"] = self._check_events(body["events"])
        for key in ("url", "events", "enabled", "description"):
            if key in body and body[key] is not None:
                hook[key] = body[key]
        hook["updated_at"] = self._now()
        return hook

    def delete_webhook(self, req: Request) -> dict[str, Any]:
        return self.webhooks.pop(self._webhook(req)["id"])

    def ping_webhook(self, req: Request) -> None:
        hook = self._webhook(req)
        self._deliver(hook, "ping", {"agent": "argilla-server", "version": "2.8.0"})

    def _event_data(self, event: str, data: dict[str, Any], ds: dict[str, Any] | None) -> dict[str, Any]:
        if event.startswith("record."):
            return {**self._record_json(ds or {}, data, ()), "dataset": ds["json"] if ds else None}
        if event.startswith("response."):
            return {**data, "record": self._record_json(ds or {}, self._record(data["record_id"])[1], ())}
        return dict(data)

    def _emit(self, event: str, data: dict[str, Any], ds: dict[str, Any] | None = None) -> None:
        hooks = [h for h in self.webhooks.values() if h["enabled"] and event in h["events"]]
        if hooks:
            payload_data = self._event_data(event, data, ds)
            for hook in hooks:
                self._deliver(hook, event, payload_data)

    def _deliver(self, hook: dict[str, Any], event: str, data: dict[str, Any]) -> None:
        now = self.clock.now()
        stamp = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = json.dumps({"type": event, "version": 1, "timestamp": stamp, "data": data})
        if self._executor is None:
            self._executor = ThreadPoolExecutor(8, thread_name_prefix="argilla-webhooks")
            self._http = httpx.Client(timeout=20.0)
        with self._deliveries_cond:
            self._deliveries += 1
        try:
            self._executor.submit(self._send, hook["url"], hook["secret"], event, body, int(now),
                                  self._stop_deliveries)
        except RuntimeError:  # shutting down
            with self._deliveries_cond:
                self._deliveries -= 1
                self._deliveries_cond.notify_all()

    def _send(self, url: str, secret: str, event: str, body: str, timestamp: int, stop: threading.Event) -> None:
        try:
            for attempt in range(1, len(WEBHOOK_RETRY_DELAYS) + 2):
                msg_id = f"msg_{uuid.uuid4().hex}"
                headers = {"content-type": "application/json", "webhook-id": msg_id,
                           "webhook-timestamp": str(timestamp),
                           "webhook-signature": sign_webhook(secret, msg_id, timestamp, body)}
                status = None
                try:
                    assert self._http is not None
                    status = self._http.post(url, content=body.encode(), headers=headers).status_code
                except Exception:  # noqa: S110 - connection errors are retried like error answers
                    pass
                with self.lock:
                    self.webhook_attempts.append(WebhookAttempt(url, event, attempt, status, msg_id))
                if status is not None and 200 <= status < 300:
                    return
                if attempt <= len(WEBHOOK_RETRY_DELAYS) and stop.wait(
                        self.clock.real_seconds(WEBHOOK_RETRY_DELAYS[attempt - 1])):
                    return  # the emulator was reset or closed
        finally:
            with self._deliveries_cond:
                self._deliveries -= 1
                self._deliveries_cond.notify_all()


register_platform("argilla", ArgillaEmulator)

__all__ = ["OWNER_ID", "ArgillaEmulator", "WebhookAttempt", "sign_webhook"]
