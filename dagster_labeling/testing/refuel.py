"""A stateful Refuel Cloud emulator speaking the wire API of ``refuel`` 0.15.15 (see refuel.md).

Behaviour worth knowing:

* Every answer is the ``{"success", "error_msg", "data"}`` envelope; errors are FastAPI ``{"detail": ...}``.
  Auth is ``Authorization: Bearer <key>``. Arguments come in the query string; booleans parse
  case-insensitively (``True``/``true``).
* Uploaded datasets are ``processing`` for ``ingest_seconds`` of simulated time, then ``success``.
* A task run labels ``items_per_second`` items per simulated second and reports ``num_labeled``,
  ``num_remaining``, ``time_elapsed_seconds`` and ``time_remaining_seconds`` as metrics.
* Labels are deterministic and derived from the text: for a classification field the first label that
  occurs (case-insensitively) in the input text wins, with confidence 0.95; otherwise a label picked by
  hash with confidence 0.40-0.69. Extraction fields return the first word of the input.
* Exports answer 404 until ``export_seconds`` of simulated time have passed (as the SDK polls), then a
  URL on this emulator (``/refuel/_exports/<id>.csv``) that serves the CSV without auth.
* The label endpoint is rate limited when ``label_rate_limit`` is set (requests per
  ``label_rate_window_seconds`` real seconds, sliding window): over the limit it answers 429.
* Fine-tunes move through the documented ``finetuning_run_status`` values over ``finetune_seconds``.
* Names are not unique (as on Refuel): two datasets or two tasks may share a name. ``created_at`` is set when
  the object is created, under the emulator's lock, so it orders creations.
* A cell longer than ``MAX_CELL_CHARS`` (131,072 characters, the limit of Python's CSV reader, which an upload
  meets first) is refused with a 422 naming the limit, in an uploaded CSV and in appended items alike; a CSV
  that does not parse is a 422 too, never a 500. Refuel's own answer is not documented.
* Appended items (``POST /datasets/{id}/items``) keep their JSON types; an uploaded CSV's cells are text.
* ``GET /refuel/app/datasets/{id}`` and ``…/app/tasks/{id}`` (and ``…/app``) are HTML pages standing in for the
  Refuel web app (no API key): where ``RefuelClient.dataset_url``/``task_url`` link on the emulator.
* ``=``/``<>`` filters compare text with text exactly (``"01"`` is not ``"1"``); other comparisons are numeric
  when both sides are numbers.
"""

import csv
import email.parser
import email.policy
import hashlib
import io
import itertools
import json
import threading
import time
import uuid
from collections import deque
from datetime import datetime, timezone
from typing import Any

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
from dagster_labeling.testing.pages import Page, fields_table, rows_table, seg

APP_CATALOG_PROJECT_ID = "fb327444-e5ad-4808-88c9-4dc1ea8f086b"
BASE_MODELS = ("refuel-llm-2-large", "refuel-llm-2-small", "refuel-llm-2-mini")
FINETUNE_STAGES = (
    "INITIALIZATION IN PROGRESS",
    "DATASET PREPARATION IN PROGRESS",
    "TRAINING IN PROGRESS",
    "EVALUATION IN PROGRESS",
    "DEPLOYMENT COMPLETED",
)
#: The longest cell an upload or an append may hold: Python's CSV reader refuses longer fields.
MAX_CELL_CHARS = 131_072
OPERATORS = (">", ">=", "<", "<=", "=", "<>", "IS NULL", "IS NOT NULL", "LIKE", "NOT LIKE", "ILIKE",
             "NOT ILIKE", "SIMILAR")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_bool(value: str | None) -> bool:
    return str(value).lower() in ("true", "1")


def _digest(*parts: Any) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest(), "big")


def deterministic_label(subtask: dict[str, Any], text: str) -> tuple[Any, float]:
    """The emulator's label and confidence for one field and one input text (see the module docstring)."""
    labels = subtask.get("labels") or []
    low = text.lower()
    kind = subtask.get("type")
    if kind == "multilabel_classification" and labels:
        hits = [lab for lab in labels if str(lab).lower() in low]
        if hits:
            return hits, 0.95
        return [labels[_digest(subtask.get("name"), text) % len(labels)]], 0.4 + (_digest(text) % 30) / 100
    if labels:
        for lab in labels:
            if str(lab).lower() in low:
                return lab, 0.95
        return labels[_digest(subtask.get("name"), text) % len(labels)], 0.4 + (_digest(text) % 30) / 100
    words = text.split()
    return (words[0] if words else subtask.get("default_value", "-")), 0.8


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == "IS NULL":
        return left is None or left == ""
    if op == "IS NOT NULL":
        return not (left is None or left == "")
    if left is None:
        return False
    if op in ("=", "<>") and isinstance(left, str) and isinstance(right, str):
        return (left == right) == (op == "=")
    if op in ("LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE"):
        pattern = str(right).replace("%", "")
        a, b = (str(left), pattern) if "ILIKE" not in op else (str(left).lower(), pattern.lower())
        hit = b in a
        return not hit if op.startswith("NOT") else hit
    try:
        lf, rf = float(left), float(right)
        a_cmp: Any = lf
        b_cmp: Any = rf
    except (TypeError, ValueError):
        a_cmp, b_cmp = str(left), str(right)
    return {
        ">": a_cmp > b_cmp, ">=": a_cmp >= b_cmp, "<": a_cmp < b_cmp, "<=": a_cmp <= b_cmp,
        "=": a_cmp == b_cmp, "<>": a_cmp != b_cmp,
    }[op]


class RefuelEmulator(PlatformEmulator):
    """Refuel Cloud in memory; mount at ``/refuel`` (``RefuelClient(api_base_url=server.platform_url("refuel"))``).

    Args:
        ingest_seconds: simulated seconds a dataset upload stays ``processing``.
        items_per_second: simulated labeling speed of a task run.
        export_seconds: simulated seconds before an export's URL is ready.
        async_label_seconds: simulated seconds before an async label result is ready.
        finetune_seconds: simulated seconds of a fine-tuning run.
        label_rate_limit, label_rate_window_seconds: sliding-window limit of the label endpoint (None: off).
    """

    name = "refuel"

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        clock: Clock | None = None,
        ingest_seconds: float = 1.0,
        items_per_second: float = 200.0,
        export_seconds: float = 1.0,
        async_label_seconds: float = 0.5,
        finetune_seconds: float = 5.0,
        label_rate_limit: int | None = None,
        label_rate_window_seconds: float = 60.0,
    ) -> None:
        super().__init__(api_key=api_key, clock=clock)
        self.ingest_seconds = ingest_seconds
        self.items_per_second = items_per_second
        self.export_seconds = export_seconds
        self.async_label_seconds = async_label_seconds
        self.finetune_seconds = finetune_seconds
        self.label_rate_limit = label_rate_limit
        self.label_rate_window_seconds = label_rate_window_seconds
        self._seq = itertools.count(1)
        self._rate_lock = threading.Lock()
        self._routes()
        self._page_routes()
        self._clear_state()

    # -- state -----------------------------------------------------------------------------------------
    def _clear_state(self) -> None:
        now = self.clock.now()
        self.projects: dict[str, dict[str, Any]] = {}
        self.datasets: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.runs: dict[tuple[str, str], dict[str, Any]] = {}
        self.run_labels: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
        self.exports: dict[str, dict[str, Any]] = {}
        self.applications: dict[str, dict[str, Any]] = {}
        self.labeled: dict[str, dict[str, Any]] = {}
        self.feedback_log: list[dict[str, Any]] = []
        self.finetunes: dict[str, dict[str, Any]] = {}
        self.label_requests = 0
        self.label_rejected = 0
        self._label_times: deque[float] = deque()
        catalog_sub: dict[str, Any] = {"id": self._new_id(), "name": "sentiment", "type": "classification",
                       "labels": ["positive", "negative", "neutral"], "input_columns": ["text"]}
        self.catalog_app: dict[str, Any] = {
                            "id": self._new_id(), "name": "catalog_sentiment", "project_id": APP_CATALOG_PROJECT_ID,
                            "status": "active", "created_at": iso(now), "subtasks": [catalog_sub],
                            "input_columns": ["text"], "description": "Sentiment classifier"}
        self.applications[self.catalog_app["id"]] = self.catalog_app

    def reset(self) -> None:
        """Forget every project, dataset, task, run, export, application and fine-tune."""
        super().reset()
        with self.lock:
            self._clear_state()

    def _new_id(self) -> str:
        return str(uuid.UUID(int=(_digest(id(self), next(self._seq), time.time_ns()) << 64) | next(self._seq),
                             version=4))

    def error_body(self, status: int, message: str) -> bytes:
        return json.dumps({"detail": message}).encode()

    def authenticate(self, request: Request) -> None:
        auth = request.headers.get("authorization", "")
        scheme, _, key = auth.partition(" ")
        if request.path.startswith("/_exports/"):
            return  # signed URL: no auth, as the SDK fetches it
        if scheme.lower() != "bearer" or key.strip() != self.api_key:
            raise HTTPError(401, "Unauthorized")

    @staticmethod
    def ok(data: Any, **extra: Any) -> dict[str, Any]:
        return {"success": True, "error_msg": None, "data": data, **extra}

    # -- test helpers ----------------------------------------------------------------------------------
    def add_dataset(self, name: str, rows: list[dict[str, Any]], project_id: str | None = None) -> dict[str, Any]:
        """Create an ingested dataset directly (no upload); returns its record."""
        with self.lock:
            pid = project_id or self.ensure_project("default")["id"]
            return self._make_dataset(pid, name, list(rows[0].keys()) if rows else [], rows, ready=True)

    def ensure_project(self, name: str) -> dict[str, Any]:
        """The project called ``name``, created if missing."""
        with self.lock:
            for p in self.projects.values():
                if p["project_name"] == name:
                    return p
            now = iso(self.clock.now())
            project = {"id": self._new_id(), "project_name": name, "description": "", "created_at": now,
                       "updated_at": now, "team": "emulator-team"}
            self.projects[project["id"]] = project
            return project

    def complete_all(self) -> None:
        """Finish every ingestion, task run, export, async label and fine-tune now."""
        self.tick(float("inf"))

    # -- progress --------------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        with self.lock:
            for ds in self.datasets.values():
                if ds["ingest_status"] == "processing" and now >= ds["_ready_at"]:
                    ds["ingest_status"] = "success"
            for key, run in self.runs.items():
                if run["status"] == "active":
                    self._advance_run(key, run, now)
            for ft in self.finetunes.values():
                if ft["finetuning_run_status"] in FINETUNE_STAGES[:-1]:
                    self._advance_finetune(ft, now)

    def _advance_run(self, key: tuple[str, str], run: dict[str, Any], now: float) -> None:
        started = run["_started"]
        elapsed = max(0.0, (now if now != float("inf") else started + 10**9) - started)
        speed = self.items_per_second / max(self.clock.time_scale, 1e-9)
        done = min(run["_total"], int(elapsed * speed)) if now != float("inf") else run["_total"]
        task = self.tasks[key[0]]
        ds = self.datasets[key[1]]
        labels = self.run_labels.setdefault(key, {})
        for row in ds["rows"][run["_labeled"]:run["_offset"] + done]:
            labels[row["refuel_uuid"]] = self._labels_for(task, row)
        run["_labeled"] = run["_offset"] + done
        run["_done"] = done
        run["updated_at"] = iso(self.clock.now())
        if done >= run["_total"]:
            run["status"] = "completed"
            run["_finished"] = now if now != float("inf") else self.clock.now()

    def _advance_finetune(self, ft: dict[str, Any], now: float) -> None:
        frac = 1.0 if now == float("inf") else (now - ft["_started"]) / max(self.clock.scale(self.finetune_seconds),
                                                                              1e-9)
        stage = min(len(FINETUNE_STAGES) - 1, int(frac * (len(FINETUNE_STAGES) - 1)))
        ft["finetuning_run_status"] = FINETUNE_STAGES[stage]
        if stage == len(FINETUNE_STAGES) - 1:
            ft["availability_status"] = "AVAILABLE"
            ft["training_stats"] = {"train_loss": round(0.3 + (_digest(ft["id"]) % 20) / 100, 3), "epochs":
                                    ft["hyperparameters"].get("num_epochs", 1)}
            ft["evaluation_stats"] = {"accuracy": round(0.85 + (_digest(ft["id"]) % 10) / 100, 3)}

    # -- lookups ---------------------------------------------------------------------------------------
    def _project(self, pid: str) -> dict[str, Any]:
        if pid not in self.projects:
            raise HTTPError(404, "Project not found")
        return self.projects[pid]

    def _dataset(self, did: str) -> dict[str, Any]:
        if did not in self.datasets:
            raise HTTPError(404, "Dataset not found")
        return self.datasets[did]

    def _task(self, tid: str) -> dict[str, Any]:
        if tid not in self.tasks:
            raise HTTPError(404, "Task not found")
        return self.tasks[tid]

    def _app(self, aid: str) -> dict[str, Any]:
        if aid not in self.applications:
            raise HTTPError(404, "Application not found")
        return self.applications[aid]

    @staticmethod
    def _public(record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if not k.startswith("_") and k != "rows"}

    def _schema(self, columns: list[str]) -> dict[str, Any]:
        return {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                "properties": {c: {"name": c, "type": "string", "order": i} for i, c in enumerate(columns)}}

    def _make_dataset(self, pid: str, name: str, columns: list[str], rows: list[dict[str, Any]], *,
                      ready: bool, source: str = "file") -> dict[str, Any]:
        now = self.clock.now()
        did = self._new_id()
        stored = [{"refuel_uuid": str(uuid.UUID(int=_digest(did, i) << 64 | i)), **r} for i, r in enumerate(rows)]
        ds = {"id": did, "name": name, "project_id": pid, "created_at": iso(now), "updated_at": iso(now),
              "ingest_status": "success" if ready else "processing", "source": source,
              "schema": self._schema(columns), "_columns": columns, "rows": stored,
              "_ready_at": now + self.clock.scale(self.ingest_seconds)}
        self.datasets[did] = ds
        return ds

    def _labels_for(self, task: dict[str, Any], row: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        for sub in task["subtasks"]:
            text = " ".join(str(row.get(c, "")) for c in sub.get("input_columns") or [])
            label, conf = deterministic_label(sub, text)
            out.append({"id": sub["id"], "label": None, "llm_label": label, "confidence": round(conf, 4)})
        return out

    # -- web app pages (HTML, no API key) --------------------------------------------------------------
    PAGE_ITEM_LIMIT = 200

    def _page_routes(self) -> None:
        self.pages.add("GET", "/app", self.page_index)
        self.pages.add("GET", "/app/datasets/{did}", self.page_dataset)
        self.pages.add("GET", "/app/tasks/{tid}", self.page_task)

    def _runs_table(self, runs: list[dict[str, Any]], root: str) -> str:
        rows = [{**self._public(r), "labeled": f"{r['_done']}/{r['_total']}"} for r in runs]
        return rows_table(rows, ["task_name", "dataset_name", "status", "labeled", "model_name", "created_at"], {
            "task_name": lambda r: f"{root}/tasks/{seg(r['task_id'])}",
            "dataset_name": lambda r: f"{root}/datasets/{seg(r['dataset_id'])}"})

    def page_index(self, req: Request) -> Page:
        root = f"{req.root_path}/app"
        return Page("Refuel", [
            ("Datasets", rows_table([self._public(d) for d in self.datasets.values()],
                                    ["name", "id", "ingest_status", "created_at"],
                                    {"name": lambda d: f"{root}/datasets/{seg(d['id'])}"})),
            ("Tasks", rows_table(list(self.tasks.values()), ["task_name", "id", "status", "created_at"],
                                 {"task_name": lambda t: f"{root}/tasks/{seg(t['id'])}"}))])

    def page_dataset(self, req: Request) -> Page:
        ds = self._dataset(req.path_params["did"])
        root = f"{req.root_path}/app"
        rows = ds["rows"]
        shown = f"First {self.PAGE_ITEM_LIMIT} of {len(rows)} items." if len(rows) > self.PAGE_ITEM_LIMIT else ""
        return Page(f"Dataset {ds['name']}", [
            ("", fields_table(self._public(ds), skip=("schema",))),
            ("Task runs", self._runs_table([r for k, r in self.runs.items() if k[1] == ds["id"]], root)),
            (f"Items ({len(rows)})", (f"<p>{shown}</p>" if shown else "")
             + rows_table(rows[: self.PAGE_ITEM_LIMIT], list(dict.fromkeys(
                 ["refuel_uuid", *ds["_columns"], *(k for r in rows[: self.PAGE_ITEM_LIMIT] for k in r)])))),
        ], [(root, "Refuel")])

    def page_task(self, req: Request) -> Page:
        task = self._task(req.path_params["tid"])
        root = f"{req.root_path}/app"
        crumbs = [(root, "Refuel")]
        if task.get("dataset_id") in self.datasets:
            crumbs.append((f"{root}/datasets/{seg(task['dataset_id'])}",
                           f"Dataset {self.datasets[task['dataset_id']]['name']}"))
        return Page(f"Task {task['task_name']}", [
            ("", fields_table(task)),
            ("Task runs", self._runs_table([r for k, r in self.runs.items() if k[0] == task["id"]], root)),
        ], crumbs)

    # -- routes ----------------------------------------------------------------------------------------
    def _routes(self) -> None:
        r = self.router.add
        r("GET", "/projects", lambda q: self.ok(list(self.projects.values()), count=len(self.projects)))
        r("GET", "/projects/{pid}", lambda q: self.ok(self._project(q.path_params["pid"])))
        r("POST", "/projects", self.create_project)
        r("GET", "/datasets", self.list_datasets)
        r("GET", "/datasets/{did}", self.get_items)
        r("DELETE", "/datasets/{did}", self.delete_dataset)
        r("POST", "/projects/{pid}/datasets", self.upload_dataset)
        r("POST", "/datasets/{did}/items", self.add_items)
        r("POST", "/datasets/{did}/exports", self.start_export)
        r("GET", "/datasets/{did}/exports/{eid}", self.get_export)
        r("GET", "/_exports/{file}", self.download_export)
        r("GET", "/projects/{pid}/tasks", self.list_tasks)
        r("POST", "/projects/{pid}/tasks", self.create_task)
        r("GET", "/tasks/{tid}", lambda q: self.ok(self._task(q.path_params["tid"])))
        r("DELETE", "/tasks/{tid}", self.delete_task)
        r("GET", "/tasks/{tid}/datasets/{did}", self.get_items)
        r("POST", "/tasks/{tid}/runs", self.task_run)
        r("GET", "/tasks/{tid}/runs/{did}", self.get_run)
        r("GET", "/tasks/{tid}/runs/{did}/metrics", self.get_metrics)
        r("GET", "/projects/{pid}/applications", self.list_apps)
        r("POST", "/projects/{pid}/applications", self.deploy)
        r("GET", "/app_catalog", lambda q: self.ok([{"id": self.catalog_app["id"], "app_name": "catalog_sentiment",
                                                     "description": "Sentiment classifier"}], count=1))
        r("GET", "/applications/{aid}", lambda q: self.ok(self._app(q.path_params["aid"])))
        r("POST", "/applications/{aid}/label", self.label)
        r("GET", "/applications/{aid}/items/{uid}", self.get_labeled)
        r("POST", "/applications/{aid}/items/{uid}/label", self.feedback)
        r("POST", "/projects/{pid}/finetuned_models", self.finetune)
        r("GET", "/projects/{pid}/finetuned_models", self.list_finetunes)
        r("PATCH", "/finetuned_models/{mid}", self.edit_finetune)
        r("POST", "/webhook/events", lambda q: {"status": 200, "error": None})

    def create_project(self, req: Request) -> dict[str, Any]:
        name = req.q("project_name")
        if not name:
            raise HTTPError(422, "project_name is required")
        if any(p["project_name"] == name for p in self.projects.values()):
            raise HTTPError(409, f"Project {name} already exists")
        project = self.ensure_project(name)
        project["description"] = req.q("description") or ""
        return self.ok(project)

    def list_datasets(self, req: Request) -> dict[str, Any]:
        pid = req.q("project_id")
        out = []
        for ds in self.datasets.values():
            if pid and ds["project_id"] != pid:
                continue
            out.append({"id": ds["id"], "dataset_name": ds["name"], "created_at": ds["created_at"],
                        "updated_at": ds["updated_at"], "ingest_status": ds["ingest_status"],
                        "dataset_schema": ds["schema"], "source": ds["source"]})
        return self.ok(out, count=len(out))

    def delete_dataset(self, req: Request) -> dict[str, Any]:
        self._dataset(req.path_params["did"])
        del self.datasets[req.path_params["did"]]
        return self.ok({"success": True, "error": ""})

    def _multipart(self, req: Request) -> tuple[dict[str, str], bytes | None, str | None]:
        ctype = req.headers.get("content-type", "")
        if ctype.startswith("application/x-www-form-urlencoded"):
            from urllib.parse import parse_qsl

            return dict(parse_qsl(req.body.decode())), None, None
        if not ctype.startswith("multipart/form-data"):
            raise HTTPError(422, "expected multipart/form-data or a form")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode("latin-1") + req.body
        )
        fields: dict[str, str] = {}
        data = filename = None
        for part in msg.iter_parts():
            pname = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            raw = payload if isinstance(payload, bytes) else b""
            if pname == "file":
                data, filename = raw, part.get_filename()
            elif isinstance(pname, str):
                fields[pname] = raw.decode("utf-8", "replace")
        return fields, data, filename

    def upload_dataset(self, req: Request) -> dict[str, Any]:
        pid = req.path_params["pid"]
        self._project(pid)
        fields, data, _ = self._multipart(req)
        name = fields.get("name")
        if not name:
            raise HTTPError(422, "name is required")
        source = fields.get("source", "file")
        if source == "uri":
            path = fields.get("source_path") or ""
            rows = [{"text": f"row from {path}"}]
            columns = ["text"]
        elif source == "file":
            if data is None:
                raise HTTPError(422, "file is required when source=file")
            columns, rows = self._read_csv(data)
        else:
            raise HTTPError(422, f"unsupported source {source!r}")
        ds = self._make_dataset(pid, name, columns, rows, ready=self.ingest_seconds <= 0, source=source)
        return self.ok(self._public(ds))

    @staticmethod
    def _read_csv(data: bytes) -> tuple[list[str], list[dict[str, Any]]]:
        """The header and rows of an uploaded CSV; a 422 (never a 500) for one that does not parse."""
        try:
            reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")), strict=True)
            columns = list(reader.fieldnames or [])
            rows = [dict(r) for r in reader]
        except UnicodeDecodeError as exc:
            raise HTTPError(422, f"file is not UTF-8 text: {exc}") from exc
        except csv.Error as exc:
            if "field limit" in str(exc):
                raise HTTPError(422, f"a cell is longer than {MAX_CELL_CHARS} characters, the longest a dataset "
                                     f"cell may be ({exc})") from exc
            raise HTTPError(422, f"file is not a valid CSV: {exc}") from exc
        return columns, rows

    def add_items(self, req: Request) -> dict[str, Any]:
        ds = self._dataset(req.path_params["did"])
        items = req.json()
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise HTTPError(422, "body must be a JSON array of item objects")
        start = len(ds["rows"])
        for i, item in enumerate(items):
            extra = set(item) - set(ds["_columns"])
            if extra:
                raise HTTPError(422, f"columns not in the dataset schema: {sorted(extra)}")
            long = sorted(k for k, v in item.items()
                          if len(v if isinstance(v, str) else json.dumps(v)) > MAX_CELL_CHARS)
            if long:
                raise HTTPError(422, f"item {i}: column(s) {long} hold more than {MAX_CELL_CHARS} characters, the "
                                     "longest a dataset cell may be")
        for i, item in enumerate(items):
            ds["rows"].append({"refuel_uuid": str(uuid.UUID(int=_digest(ds["id"], start + i) << 64 | start + i)),
                               **item})
        return self.ok({"id": ds["id"], "name": ds["name"], "items": items, "response_count": len(items),
                        "total_count": len(ds["rows"])})

    # -- items -----------------------------------------------------------------------------------------
    def get_items(self, req: Request) -> dict[str, Any]:
        ds = self._dataset(req.path_params["did"])
        task = self._task(req.path_params["tid"]) if "tid" in req.path_params else None
        labels: dict[str, list[dict[str, Any]]] = {}
        if task is not None:
            for (tid, did), lab in self.run_labels.items():
                if tid == task["id"] and did == ds["id"]:
                    labels = lab
        rows = ds["rows"]
        try:
            filters = [strict_json_loads(raw) for raw in req.q_all("filters")]
            order = [strict_json_loads(o) for o in req.q_all("order_bys")]
        except ValueError as exc:
            raise HTTPError(422, f"filters and order_bys must be JSON objects: {exc}") from exc
        for flt in filters:
            rows = self._filter(rows, flt, labels, ds)
        for ob in reversed(order):
            rows = self._sort(rows, ob, labels, ds)
        try:
            offset = int(req.q("offset", "0") or 0)
            max_items = int(req.q("max_items", "10") or 10)
        except ValueError as exc:
            raise HTTPError(422, "offset and max_items must be integers") from exc
        page = rows[offset:offset + max_items]
        if task is not None:
            items: list[Any] = [{"fields": r, "labels": labels.get(r["refuel_uuid"], [])} for r in page]
        else:
            items = page
        data = {**self._public(ds), "column_metadata": None, "total_count": len(rows),
                "response_count": len(items), "items": items}
        return self.ok(data)

    def _value_of(self, row: dict[str, Any], spec: dict[str, Any], labels: dict[str, list[dict[str, Any]]]) -> Any:
        field = spec.get("field")
        if field in ("llm_label", "confidence", "expected_label", "label"):
            entries = labels.get(row["refuel_uuid"], [])
            sid = spec.get("subtask_id")
            entry = next((e for e in entries if sid is None or e["id"] == sid), None)
            if entry is None:
                return None
            key = {"expected_label": "label", "label": "llm_label"}.get(field, field)
            return entry.get(str(key))
        return row.get(str(field))

    def _filter(self, rows: list[dict[str, Any]], spec: dict[str, Any], labels: dict[str, Any],
                ds: dict[str, Any]) -> list[dict[str, Any]]:
        op = str(spec.get("operator", "")).upper()
        if op not in OPERATORS:
            raise HTTPError(422, f"unknown operator {spec.get('operator')!r}")
        if op == "SIMILAR":
            return rows
        if spec.get("filter_type") == "metadata" and spec.get("field") not in ds["_columns"]:
            raise HTTPError(422, f"unknown column {spec.get('field')!r}")
        out = []
        for row in rows:
            right = spec.get("value")
            if spec.get("value_type") == "metadata":
                right = row.get(str(right))
            left = self._value_of(row, spec, labels)
            if isinstance(left, list):
                left = left[0] if left else None
            if _compare(left, op, right):
                out.append(row)
        return out

    def _sort(self, rows: list[dict[str, Any]], spec: dict[str, Any], labels: dict[str, Any],
              ds: dict[str, Any]) -> list[dict[str, Any]]:
        def key(row: dict[str, Any]) -> tuple[int, Any]:
            v = self._value_of(row, spec, labels)
            if isinstance(v, list):
                v = v[0] if v else None
            try:
                return (0, float(v))
            except (TypeError, ValueError):
                return (1, "" if v is None else str(v))

        return sorted(rows, key=key, reverse=str(spec.get("direction", "ASC")).upper() == "DESC")

    # -- exports ---------------------------------------------------------------------------------------
    def start_export(self, req: Request) -> dict[str, Any]:
        ds = self._dataset(req.path_params["did"])
        if not req.q("email_address"):
            raise HTTPError(422, "email_address is required")
        eid = self._new_id()
        task_id = req.q("task_id")
        self.exports[eid] = {"dataset_id": ds["id"], "task_id": task_id,
                             "include_labels": parse_bool(req.q("include_labels")),
                             "ready_at": self.clock.now() + self.clock.scale(self.export_seconds)}
        return self.ok({"export_id": eid, "uri": f"s3://refuel-exports/{eid}.csv"})

    def get_export(self, req: Request) -> Any:
        export = self.exports.get(req.path_params["eid"])
        if export is None or export["dataset_id"] != req.path_params["did"]:
            raise HTTPError(404, "Export not found")
        if self.clock.now() < export["ready_at"]:
            raise HTTPError(404, "Export not ready")
        host = req.headers.get("host", "127.0.0.1")
        return self.ok(f"http://{host}/refuel/_exports/{req.path_params['eid']}.csv?X-Amz-Signature=emulated")

    def download_export(self, req: Request) -> RawResponse:
        eid = req.path_params["file"].removesuffix(".csv")
        export = self.exports.get(eid)
        if export is None or self.clock.now() < export["ready_at"]:
            raise HTTPError(404, "NoSuchKey")
        ds = self._dataset(export["dataset_id"])
        task = self.tasks.get(export["task_id"] or "")
        columns = ["refuel_uuid", *ds["_columns"]]
        labels = self.run_labels.get((task["id"], ds["id"]), {}) if task else {}
        if task:
            for sub in task["subtasks"]:
                columns += [f"{sub['name']}_llm_label", f"{sub['name']}_confidence"]
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        for row in ds["rows"]:
            values = [row.get(c, "") for c in ["refuel_uuid", *ds["_columns"]]]
            if task:
                entries = {e["id"]: e for e in labels.get(row["refuel_uuid"], [])}
                for sub in task["subtasks"]:
                    e = entries.get(sub["id"], {})
                    lab = e.get("llm_label", "")
                    values += [json.dumps(lab) if isinstance(lab, list) else lab, e.get("confidence", "")]
            writer.writerow(values)
        return RawResponse(200, buf.getvalue().encode(), {"content-type": "text/csv"})

    # -- tasks -----------------------------------------------------------------------------------------
    def list_tasks(self, req: Request) -> dict[str, Any]:
        pid = req.path_params["pid"]
        out = [t for t in self.tasks.values() if t["project_id"] == pid]
        return self.ok(out, count=len(out))

    def create_task(self, req: Request) -> dict[str, Any]:
        pid = req.path_params["pid"]
        self._project(pid)
        name = req.q("task_name")
        body = req.json() or {}
        if not name:
            raise HTTPError(422, "task_name is required")
        ds = self._dataset(body.get("dataset_id") or "")
        subtasks = []
        for sub in body.get("subtasks") or []:
            if sub.get("type") in ("classification", "multilabel_classification") and not sub.get("labels"):
                raise HTTPError(422, f"subtask {sub.get('name')!r}: labels are required")
            subtasks.append({**sub, "id": self._new_id()})
        now = iso(self.clock.now())
        task = {"id": self._new_id(), "task_name": name, "project_id": pid, "dataset_id": ds["id"],
                "context": body.get("context"), "task_type": body.get("task_type", "task_chain"),
                "model": body.get("model"), "subtasks": subtasks, "transforms": body.get("transforms") or [],
                "status": "active", "created_at": now, "updated_at": now, "deployed": False}
        self.tasks[task["id"]] = task
        return self.ok(task)

    def delete_task(self, req: Request) -> dict[str, Any]:
        """``DELETE /tasks/{id}`` (in Refuel's OpenAPI document; the SDK never calls it): the task and its runs."""
        tid = self._task(req.path_params["tid"])["id"]
        del self.tasks[tid]
        for key in [k for k in self.runs if k[0] == tid]:
            del self.runs[key]
            self.run_labels.pop(key, None)
        return self.ok({"success": True, "error": ""})

    def task_run(self, req: Request) -> dict[str, Any]:
        task = self._task(req.path_params["tid"])
        ds = self._dataset(req.q("dataset_id") or "")
        key = (task["id"], ds["id"])
        if parse_bool(req.q("cancel_run")):
            run = self.runs.get(key)
            if run is None:
                raise HTTPError(404, "No task run to cancel")
            if run["status"] == "active":
                self._advance_run(key, run, self.clock.now())  # what was labeled until now stays labeled
            if run["status"] == "active":
                run["status"] = "cancelled"
            return self.ok(self._public(run))
        if ds["ingest_status"] != "success":
            raise HTTPError(409, "Dataset ingestion has not finished")
        previous = self.runs.get(key)
        if previous and previous["status"] == "active":
            return self.ok(self._public(previous))
        already = previous["_labeled"] if previous and previous["status"] == "completed" else 0
        num = req.q("num_items")
        remaining = len(ds["rows"]) - already
        total = min(int(num), remaining) if num else remaining
        now = self.clock.now()
        run = {"id": self._new_id(), "project_id": task["project_id"], "task_id": task["id"],
               "task_name": task["task_name"], "model_name": task.get("model") or "gpt-4o", "dataset_id": ds["id"],
               "dataset_name": ds["name"], "status": "active", "is_eval_run": False, "created_at": iso(now),
               "updated_at": iso(now), "model_ids": [task.get("model") or "gpt-4o"], "num_items": num,
               "_started": now, "_total": total, "_offset": already, "_labeled": already, "_done": 0}
        self.runs[key] = run
        self._advance_run(key, run, now)
        return self.ok(self._public(run))

    def _run(self, req: Request) -> tuple[tuple[str, str], dict[str, Any]]:
        key = (req.path_params["tid"], req.path_params["did"])
        self._task(key[0])
        self._dataset(key[1])
        if key not in self.runs:
            raise HTTPError(404, "Task run not found")
        return key, self.runs[key]

    def get_run(self, req: Request) -> dict[str, Any]:
        return self.ok(self._public(self._run(req)[1]))

    def get_metrics(self, req: Request) -> dict[str, Any]:
        _, run = self._run(req)
        done, total = run["_done"], run["_total"]
        now = self.clock.now()
        end = run.get("_finished", now)
        elapsed = max(0.0, (end - run["_started"]) / max(self.clock.time_scale, 1e-9))
        rate = done / elapsed if elapsed > 0 else self.items_per_second
        metrics = [
            {"name": "num_labeled", "value": done, "type": "numeric", "support": total, "subtaskId": None},
            {"name": "num_remaining", "value": total - done, "type": "numeric", "support": total, "subtaskId": None},
        ]
        if run["status"] == "active":
            metrics += [
                {"name": "time_elapsed_seconds", "value": round(elapsed, 3), "type": "numeric", "support": None,
                 "subtaskId": None},
                {"name": "time_remaining_seconds", "value": round((total - done) / rate if rate else 0.0, 3),
                 "type": "numeric", "support": None, "subtaskId": None},
            ]
        return self.ok({"task": metrics, "subtasks": {}})

    # -- applications ----------------------------------------------------------------------------------
    def list_apps(self, req: Request) -> dict[str, Any]:
        pid = req.path_params["pid"]
        out = [a for a in self.applications.values() if a["project_id"] == pid]
        return self.ok(out, count=len(out))

    def deploy(self, req: Request) -> dict[str, Any]:
        pid = req.path_params["pid"]
        self._project(pid)
        tid = req.q("task_id")
        name = req.q("application_name") or req.q("name")
        now = iso(self.clock.now())
        if tid:
            task = self._task(tid)
            app = {"id": self._new_id(), "name": name or task["task_name"], "project_id": pid, "task_id": tid,
                   "task_name": task["task_name"], "dataset_id": task["dataset_id"], "catalog_id": None,
                   "status": "active", "model_name": task.get("model") or "gpt-4o",
                   "input_columns": sorted({c for s in task["subtasks"] for c in s.get("input_columns") or []}),
                   "subtasks": [{"id": s["id"], "name": s["name"], "type": s["type"], "labels": s.get("labels")}
                                for s in task["subtasks"]],
                   "created_at": now, "updated_at": now}
            task["deployed"] = True
        elif req.q("catalog_id") == self.catalog_app["id"]:
            app = {**self.catalog_app, "id": self._new_id(), "name": name or "catalog_sentiment", "project_id": pid,
                   "catalog_id": self.catalog_app["id"], "task_id": None, "created_at": now, "updated_at": now}
        else:
            raise HTTPError(422, "task_id is required")
        self.applications[app["id"]] = app
        return self.ok(app)

    def _rate_check(self) -> None:
        if self.label_rate_limit is None:
            return
        with self._rate_lock:
            now = time.monotonic()
            window = self._label_times
            while window and window[0] <= now - self.label_rate_window_seconds:
                window.popleft()
            if len(window) >= self.label_rate_limit:
                self.label_rejected += 1
                raise HTTPError(429, "Rate limit exceeded")
            window.append(now)

    def _output(self, app: dict[str, Any], item: dict[str, Any], explain: bool, explain_fields: set[str],
                telemetry: bool) -> dict[str, Any]:
        text = " ".join(str(v) for k, v in item.items() if not app.get("input_columns")
                        or k in app["input_columns"])
        fields = {}
        for sub in app["subtasks"]:
            label, conf = deterministic_label(sub, text)
            entry: dict[str, Any] = {"label": label if isinstance(label, list) else [label],
                                     "confidence": round(conf, 4), "raw_confidence": round(conf * 0.97, 4)}
            if explain or sub["name"] in explain_fields:
                entry["explanation"] = f"The text {'mentions' if conf >= 0.9 else 'suggests'} {label}."
            fields[sub["name"]] = entry
        out: dict[str, Any] = {"refuel_uuid": str(uuid.uuid4()), "refuel_api_timestamp": iso(self.clock.now()),
                               "refuel_fields": fields}
        if telemetry:
            tokens = len(text.split())
            out["usage"] = {"model": app.get("model_name", "gpt-4o"), "provider": "emulator",
                            "input_tokens": tokens + 20, "output_tokens": 5, "total_tokens": tokens + 25}
        return out

    def label(self, req: Request) -> Any:
        self.label_requests += 1
        self._rate_check()
        app = self._app(req.path_params["aid"])
        inputs = req.json()
        if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
            raise HTTPError(422, "body must be a JSON array of input objects")
        explain = parse_bool(req.q("explain"))
        explain_fields = set(filter(None, (req.q("explain_fields") or "").split(";")))
        telemetry = parse_bool(req.q("telemetry"))
        outputs = [self._output(app, item, explain, explain_fields, telemetry) for item in inputs]
        data = {"application_id": app["id"], "application_name": app["name"]}
        if parse_bool(req.q("is_async")):
            ready = self.clock.now() + self.clock.scale(self.async_label_seconds)
            stubs = []
            for out in outputs:
                self.labeled[out["refuel_uuid"]] = {"app_id": app["id"], "output": out, "ready_at": ready}
                stubs.append({"refuel_uuid": out["refuel_uuid"], "refuel_api_timestamp": out["refuel_api_timestamp"],
                              "uri": f"/applications/{app['id']}/items/{out['refuel_uuid']}"})
            body = json.dumps(self.ok({**data, "refuel_output": stubs})).encode()
            return RawResponse(202, body, {"content-type": "application/json"})
        for out in outputs:
            self.labeled[out["refuel_uuid"]] = {"app_id": app["id"], "output": out, "ready_at": 0.0}
        return self.ok({**data, "refuel_output": outputs})

    def get_labeled(self, req: Request) -> Any:
        app = self._app(req.path_params["aid"])
        rec = self.labeled.get(req.path_params["uid"])
        if rec is None or rec["app_id"] != app["id"]:
            raise HTTPError(404, "Item not found")
        if self.clock.now() < rec["ready_at"]:
            return RawResponse(202, json.dumps(self.ok(None)).encode(), {"content-type": "application/json"})
        return self.ok({"application_id": app["id"], "application_name": app["name"],
                        "refuel_output": [rec["output"]]})

    def feedback(self, req: Request) -> dict[str, Any]:
        app = self._app(req.path_params["aid"])
        uid = req.path_params["uid"]
        if uid not in self.labeled:
            raise HTTPError(404, "Item not found")
        body = req.json()
        known = {s["id"] for s in app["subtasks"]}
        if not isinstance(body, dict) or not body or set(body) - known:
            raise HTTPError(422, f"feedback keys must be subtask ids of the application: {sorted(known)}")
        self.feedback_log.append({"application_id": app["id"], "refuel_uuid": uid, "feedback": body})
        return self.ok({"refuel_uuid": uid, "feedback": body})

    # -- fine-tuning -----------------------------------------------------------------------------------
    def finetune(self, req: Request) -> dict[str, Any]:
        pid = req.path_params["pid"]
        self._project(pid)
        body = req.json() or {}
        if body.get("base_model") not in BASE_MODELS:
            raise HTTPError(422, f"base_model must be one of {list(BASE_MODELS)}")
        self._task(body.get("task_id") or "")
        mid = self._new_id()
        now = self.clock.now()
        ft = {"id": mid, "name": f"ft-{body['base_model']}-{mid[:8]}", "project_id": pid, "task_id": body["task_id"],
              "base_model": body["base_model"], "provider": "refuel", "lora": body.get("lora", True),
              "hyperparameters": body.get("hyperparameters") or {}, "datasets": body.get("datasets"),
              "availability_status": "UNAVAILABLE", "finetuning_run_status": FINETUNE_STAGES[0],
              "finetuning_run_timeline": [], "training_stats": None, "evaluation_stats": None,
              "created_at": iso(now), "_started": now}
        self.finetunes[mid] = ft
        return self.ok(self._public(ft))

    def list_finetunes(self, req: Request) -> dict[str, Any]:
        pid = req.path_params["pid"]
        tid = req.q("task_id")
        out = [self._public(f) for f in self.finetunes.values()
               if f["project_id"] == pid and (tid is None or f["task_id"] == tid)]
        return self.ok(out, count=len(out))

    def edit_finetune(self, req: Request) -> dict[str, Any]:
        ft = self.finetunes.get(req.path_params["mid"])
        if ft is None:
            raise HTTPError(404, "Model not found")
        body = req.json() or {}
        if body.get("finetuning_run_status") == "INTERRUPTED" and ft["finetuning_run_status"] != FINETUNE_STAGES[-1]:
            ft["finetuning_run_status"] = "INTERRUPTED"
        if body.get("availability_status") in ("AVAILABLE", "UNAVAILABLE"):
            ft["availability_status"] = body["availability_status"]
        return self.ok(self._public(ft))



register_platform("refuel", RefuelEmulator)
