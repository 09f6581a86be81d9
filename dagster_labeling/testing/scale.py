"""A stateful Scale AI emulator speaking the v1 wire API of ``scaleapi`` 2.18.4 (see scale.md).

Behaviour worth knowing:

* Every task completes ``task_duration_seconds`` (default 2 s, plus a deterministic per-task jitter of
  up to ``task_duration_jitter``) of *simulated* time after it is created, scaled by the clock's
  ``time_scale``. By default tasks progress whether or not their batch is finalized (as for non-Rapid
  accounts); with ``require_finalize=True`` tasks of a ``staging`` batch wait for ``finalize``.
* A batch goes ``staging`` → (finalize) → ``in_progress`` → ``completed`` once it has tasks and all of
  them are terminal (completed, error or canceled).
* Responses are plausible for the task type and deterministic (hash of the task's inputs).
* Task listings (v1 and v2) page with an opaque ``next_token`` cursor over creation order, as Scale's tokens are
  opaque: tasks leaving the filtered list between pages never make a client skip one. Batch listings page by
  ``offset``, as the real ``GET /v1/batches`` does.
* Only a pending task no labeler has started can be canceled (``start_work`` marks tasks as started); uniqueness
  of ``unique_id``, batch and project names holds under concurrent creates (each request is handled atomically).
* ``GET /scale/dashboard`` (batches), ``…/dashboard/batches/{name}`` and ``…/dashboard/tasks/{id}`` are HTML
  pages standing in for the Scale dashboard (no API key): where ``ScaleClient.batch_url`` links on the emulator.
* Task callbacks are POSTed as ``{"task", "response", "task_id"}`` with the ``scale-callback-auth``
  header, retried up to 20 times; the batch callback body ``{"batch", "status": "completed"}`` is this
  emulator's invention, as the real shape is undocumented.
"""

import bisect
import email.parser
import email.policy
import hashlib
import heapq
import itertools
import json
import random
from collections import defaultdict
from datetime import datetime, timezone
from typing import Any

from dagster_labeling.testing.base import (
    DEFAULT_API_KEY,
    HTTPError,
    PlatformEmulator,
    RawResponse,
    Request,
    cursor_page,
    register_platform,
)
from dagster_labeling.testing.clock import Clock
from dagster_labeling.testing.pages import Page, fields_table, rows_table, seg

TASK_TYPES = frozenset(
    "annotation categorization comparison cuboidannotation datacollection documentmodel "
    "documenttranscription imageannotation laneannotation lidarannotation lidarlinking lidarsegmentation "
    "lidartopdown lineannotation namedentityrecognition pointannotation polygonannotation "
    "segmentannotation transcription textcollection videoannotation videoboxannotation "
    "videoplaybackannotation videocuboidannotation sensorfusion chat chatexperimental chatlite multichat "
    "multistage federal2dvideoannotation".split()
)
#: Parameters a create_task must carry per type (one of each tuple); types not listed need none.
REQUIRED_PARAMS: dict[str, list[tuple[str, ...]]] = {
    "imageannotation": [("attachment",), ("geometries",)],
    "annotation": [("attachment",), ("objects_to_annotate",)],
    "polygonannotation": [("attachment",), ("objects_to_annotate",)],
    "lineannotation": [("attachment",), ("objects_to_annotate",)],
    "pointannotation": [("attachment",), ("objects_to_annotate",)],
    "segmentannotation": [("attachment",), ("labels",)],
    "categorization": [("attachment",), ("categories",)],
    "comparison": [("attachments",), ("fields", "choices")],
    "textcollection": [("attachments",), ("fields",)],
    "namedentityrecognition": [("text",), ("labels",)],
    "transcription": [("attachment",)],
    "documenttranscription": [("attachment",)],
    "videoannotation": [("attachment", "attachments")],
    "videoplaybackannotation": [("attachment", "attachments")],
}
TOP_LEVEL_FIELDS = frozenset(
    "project batch instruction callback_url unique_id metadata tags priority clear_unique_id_on_error is_test".split()
)
TERMINAL = frozenset({"completed", "error", "canceled"})
REVIEW_STATUSES = frozenset({"accepted", "fixed", "commented", "rejected", "pending"})
TEAM_ROLES = ("labeler", "member", "manager", "admin")


_iso_cache: tuple[int, str] = (-1, "")


def iso(ts: float | None) -> str | None:
    """Epoch seconds → ``2024-01-02T03:04:05.678Z``."""
    global _iso_cache
    if ts is None:
        return None
    sec = int(ts // 1)
    cached_sec, prefix = _iso_cache
    if sec != cached_sec:
        prefix = datetime.fromtimestamp(sec, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")
        _iso_cache = (sec, prefix)
    return f"{prefix}{min(int((ts - sec) * 1000), 999):03d}Z"


def parse_time(value: str, name: str) -> float:
    """Parse the dates clients send (``2020-01-01``, ``2020-01-01 00:00:00.000000``, ISO with Z)."""
    text = value.strip().replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError as exc:
        raise HTTPError(400, f"Invalid date for {name}: {value!r}") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def parse_bool(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    low = value.lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise HTTPError(400, f"Invalid boolean for {name}: {value!r}")


def parse_limit(value: str | None, default: int = 100) -> int:
    if value is None:
        return default
    try:
        limit = int(value)
    except ValueError as exc:
        raise HTTPError(400, f"limit must be an integer, got {value!r}") from exc
    if not 1 <= limit <= 100:
        raise HTTPError(400, "limit must be between 1 and 100")
    return limit


def _digest(*parts: Any) -> int:
    """A stable 64-bit hash of ``repr(parts)`` (same inputs, same value, across processes)."""
    return int.from_bytes(hashlib.blake2b(repr(parts).encode(), digest_size=8).digest(), "big")


def _label(item: Any) -> str:
    if isinstance(item, dict):
        for key in ("label", "name", "choice", "value", "title"):
            if key in item:
                return str(item[key])
        return json.dumps(item, sort_keys=True)
    return str(item)


def simulate_response(task_type: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """A deterministic, plausibly shaped response for a task type."""
    rng = random.Random(seed)
    attachment = params.get("attachment") or params.get("attachments")

    def box(label: str, kind: str = "box") -> dict[str, Any]:
        left, top = rng.randint(0, 400), rng.randint(0, 300)
        shape: dict[str, Any] = {"uuid": f"{rng.getrandbits(64):016x}", "type": kind, "label": label}
        if kind == "box":
            shape.update(left=left, top=top, width=rng.randint(10, 200), height=rng.randint(10, 200))
        elif kind == "point":
            shape.update(x=left, y=top)
        else:
            shape["vertices"] = [{"x": left + rng.randint(0, 50), "y": top + rng.randint(0, 50)} for _ in range(4)]
        return shape

    def field_values(fields: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, fld in enumerate(fields or []):
            if not isinstance(fld, dict):
                out[str(fld)] = f"emulated value {rng.randint(0, 999)}"
                continue
            key = str(fld.get("field_id") or fld.get("id") or fld.get("title") or f"field_{i}")
            ftype = fld.get("type", "text")
            choices = fld.get("choices") or []
            if ftype == "category" and choices:
                out[key] = [_label(choices[rng.randrange(len(choices))])]
            elif ftype == "number":
                out[key] = rng.randint(fld.get("min", 0), fld.get("max", 100))
            elif ftype == "boolean":
                out[key] = rng.random() < 0.5
            else:
                out[key] = f"emulated {key} for {json.dumps(attachment)[:60]}"
        return out

    if task_type == "categorization":
        categories = [_label(c) for c in params.get("categories") or []] or ["default"]
        pick = categories[seed % len(categories)]
        return {"category": [pick] if params.get("allow_multiple") else pick}
    if task_type == "imageannotation":
        annotations = []
        for kind, spec in (params.get("geometries") or {}).items():
            labels = spec.get("objects_to_annotate", []) if isinstance(spec, dict) else []
            for label in labels:
                annotations.append(box(_label(label), kind.rstrip("s") if kind != "box" else "box"))
        return {"annotations": annotations, "global_attributes": {}}
    if task_type in ("annotation", "polygonannotation", "lineannotation", "pointannotation"):
        kind = {"annotation": "box", "polygonannotation": "polygon"}.get(task_type, task_type[:-10])
        return {"annotations": [box(_label(x), kind) for x in params.get("objects_to_annotate") or []]}
    if task_type in ("textcollection", "comparison", "datacollection", "multistage"):
        return {"annotations": field_values(params.get("fields") or params.get("choices") or [])}
    if task_type == "namedentityrecognition":
        text = str(params.get("text", ""))
        labels = [_label(lbl) for lbl in params.get("labels") or []] or ["ENTITY"]
        end = min(len(text), rng.randint(1, 12)) if text else 0
        return {"annotations": [{"start": 0, "end": end, "label": labels[seed % len(labels)], "text": text[:end]}]}
    if task_type in ("transcription", "documenttranscription"):
        return {"transcription": f"emulated transcription of {json.dumps(attachment)[:80]}", "fields": {}}
    if task_type == "segmentannotation":
        labels = [_label(lbl) for lbl in params.get("labels") or []]
        return {"annotations": {"unlabeled": None, "labeled": {lbl: [] for lbl in labels}, "combined": {}}}
    if task_type.startswith("chat") or task_type == "multichat":
        return {"responses": [{"role": "assistant", "content": f"emulated answer {seed % 1000}"}]}
    return {}


class ScaleEmulator(PlatformEmulator):
    """The Scale AI v1 API (mounted at ``/scale``; point the SDK at ``…/scale/v1``).

    Args:
        api_key: accepted as Basic ``key:`` or Bearer.
        clock: drives simulated progress.
        task_duration_seconds, task_duration_jitter: simulated time to complete a task.
        error_rate: share of tasks (deterministic by hash) that end in ``error``.
        callback_auth_key: value of the ``scale-callback-auth`` header on callbacks.
        require_finalize: tasks in a ``staging`` batch do not progress until it is finalized.
        callback_max_attempts, callback_backoff_seconds: task/batch callback retry policy.
    """

    name = "scale"

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        clock: Clock | None = None,
        task_duration_seconds: float = 2.0,
        task_duration_jitter: float = 0.5,
        error_rate: float = 0.0,
        callback_auth_key: str = "emulator-callback-key",
        require_finalize: bool = False,
        callback_max_attempts: int = 20,
        callback_backoff_seconds: float = 1.0,
    ) -> None:
        super().__init__(api_key=api_key, clock=clock)
        self.task_duration_seconds = task_duration_seconds
        self.task_duration_jitter = task_duration_jitter
        self.error_rate = error_rate
        self.callback_auth_key = callback_auth_key
        self.require_finalize = require_finalize
        self.callbacks.max_attempts = callback_max_attempts
        self.callbacks.backoff_seconds = callback_backoff_seconds
        self._routes()
        self._page_routes()
        self._seq = itertools.count(1)  # not reset: ids stay unique across resets
        self._clear_state()

    # -- state -----------------------------------------------------------------------------------------
    def _clear_state(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self._meta: dict[str, dict[str, Any]] = {}  # task_id -> internal: created, updated, completed ts
        self._order: list[str] = []
        self._by_unique: dict[str, str] = {}
        self._by_batch: dict[str, list[str]] = defaultdict(list)
        self._by_project: dict[str, list[str]] = defaultdict(list)
        self._due: list[tuple[float, int, str]] = []
        self._forced_errors: set[str] = set()
        self._started: set[str] = set()  # pending tasks a labeler has begun: no longer cancellable
        self.batches: dict[str, dict[str, Any]] = {}
        self._batch_counts: dict[str, dict[str, int]] = {}
        self._batch_order: list[str] = []
        self.projects: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.file_contents: dict[str, bytes] = {}
        self.quality_tasks: dict[str, dict[str, Any]] = {}
        self.team: list[dict[str, Any]] = [
            {
                "email": "admin@emulator.local",
                "role": "admin",
                "company": "Emulator",
                "firstName": "Ada",
                "lastName": "Admin",
                "isStudioLabeler": False,
            }
        ]
        self.studio_assignments: dict[str, list[str]] = {}
        self.project_groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.studio_batch_groups: dict[str, list[str]] = {}
        self.studio_priorities: dict[str, int] = {}
        self._id_prefix = f"{int(self.clock.now()) & 0xFFFFFFFF:08x}"

    def reset(self) -> None:
        """Forget all tasks, batches, projects, files and teams; clear the request log and callbacks."""
        super().reset()
        self.callbacks.clear()
        with self.lock:
            self._clear_state()

    def _new_id(self) -> str:
        return f"{self._id_prefix}{next(self._seq):016x}"

    # -- introspection for tests -----------------------------------------------------------------------
    def task_count(self, **filters: Any) -> int:
        """Number of tasks, optionally only those whose JSON fields equal ``filters``."""
        with self.lock:
            return sum(1 for t in self.tasks.values() if all(t.get(k) == v for k, v in filters.items()))

    def tasks_by_unique_id(self, unique_id: str) -> list[dict[str, Any]]:
        """Tasks (JSON copies) currently holding ``unique_id`` (0 or 1)."""
        with self.lock:
            tid = self._by_unique.get(unique_id)
            return [self._task_json(self.tasks[tid])] if tid else []

    def get_task(self, task_id: str) -> dict[str, Any]:
        """A JSON copy of a task."""
        with self.lock:
            return self._task_json(self.tasks[task_id])

    def inject_error(self, *task_ids: str) -> None:
        """Make these pending tasks end in ``error`` instead of ``completed``."""
        with self.lock:
            self._forced_errors.update(task_ids)

    def complete(self, *task_ids: str) -> None:
        """Finish these pending tasks now (honouring injected errors), as if labelers had just done them."""
        with self.lock:
            now = self.clock.now()
            for tid in task_ids:
                if self.tasks[tid]["status"] == "pending":
                    self._finish(tid, now)

    def start_work(self, *task_ids: str) -> None:
        """Mark these pending tasks as started by a labeler: they stay pending, and Scale refuses to cancel them."""
        with self.lock:
            self._started.update(task_ids)

    def complete_all(self) -> int:
        """Finish every pending task now (honouring injected errors); returns how many finished."""
        with self.lock:
            pending = [tid for tid, t in self.tasks.items() if t["status"] == "pending"]
            now = self.clock.now()
            for tid in pending:
                self._finish(tid, now)
            self._due.clear()
            return len(pending)

    # -- progress --------------------------------------------------------------------------------------
    def _schedule(self, task_id: str, now: float) -> None:
        jitter = (_digest(task_id) % 1000) / 1000 * self.task_duration_jitter
        due = now + self.clock.scale(self.task_duration_seconds + jitter)
        self._meta[task_id]["due"] = due
        heapq.heappush(self._due, (due, next(self._seq), task_id))

    def tick(self, now: float) -> None:
        """Complete every task whose simulated duration has elapsed."""
        with self.lock:
            while self._due and self._due[0][0] <= now:
                _, _, tid = heapq.heappop(self._due)
                task = self.tasks.get(tid)
                if task is not None and task["status"] == "pending" and self._meta[tid].get("due") is not None:
                    self._finish(tid, now)

    def _finish(self, tid: str, now: float) -> None:
        task = self.tasks[tid]
        meta = self._meta[tid]
        errored = tid in self._forced_errors or (
            self.error_rate > 0 and (_digest("error", tid) % 10_000) / 10_000 < self.error_rate
        )
        if errored:
            self._set_status(task, "error")
            task["error"] = "Task could not be completed (emulated error)"
        else:
            self._set_status(task, "completed")
            task["response"] = simulate_response(task["type"], task["params"], meta["seed"])
        meta["completed"] = meta["updated"] = now
        task["completed_at"] = task["updated_at"] = iso(now)
        url = task.get("callback_url")
        if not errored and isinstance(url, str) and url.startswith(("http://", "https://")):
            payload = {"task": self._task_json(task), "response": task["response"], "task_id": tid}

            def done(ok: bool, attempts: int, tid: str = tid) -> None:
                with self.lock:
                    if tid in self.tasks:
                        self.tasks[tid]["callback_succeeded"] = ok

            self.callbacks.enqueue(url, payload, {"scale-callback-auth": self.callback_auth_key}, done)

    def _set_status(self, task: dict[str, Any], status: str) -> None:
        old = task["status"]
        task["status"] = status
        batch = task.get("batch")
        if batch and batch in self._batch_counts:
            counts = self._batch_counts[batch]
            counts[old] -= 1
            counts[status] += 1
            self._maybe_complete_batch(batch)

    def _maybe_complete_batch(self, name: str) -> None:
        batch = self.batches[name]
        counts = self._batch_counts[name]
        if batch["status"] == "in_progress" and counts["pending"] == 0 and sum(counts.values()) > 0:
            now = self.clock.now()
            batch["status"] = "completed"
            batch["completed_at"] = batch["updated_at"] = iso(now)
            url = batch.get("callback")
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                self.callbacks.enqueue(
                    url,
                    {"batch": self._public_batch(name), "status": "completed"},
                    {"scale-callback-auth": self.callback_auth_key},
                )

    # -- JSON helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _task_json(task: dict[str, Any]) -> dict[str, Any]:
        out = dict(task)
        out["params"] = dict(task["params"])
        out["tags"] = list(task["tags"])
        out["audits"] = list(task["audits"])
        return out

    def _task(self, task_id: str) -> dict[str, Any]:
        task = self.tasks.get(task_id)
        if task is None:
            raise HTTPError(404, "Task with that ID not found.")
        return task

    def _touch(self, task: dict[str, Any]) -> None:
        now = self.clock.now()
        self._meta[task["task_id"]]["updated"] = now
        task["updated_at"] = iso(now)

    def _project(self, name: str) -> dict[str, Any]:
        project = self.projects.get(name)
        if project is None:
            raise HTTPError(404, f"Project '{name}' not found")
        return project

    def _batch(self, name: str) -> dict[str, Any]:
        batch = self.batches.get(name)
        if batch is None:
            raise HTTPError(404, f"Batch '{name}' not found")
        return batch

    @staticmethod
    def _body_object(req: Request) -> dict[str, Any]:
        body = req.json()
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise HTTPError(400, "Request body must be a JSON object")
        return body

    @staticmethod
    def _body_list(req: Request) -> list[str]:
        body = req.json()
        if not isinstance(body, list) or not all(isinstance(x, str) for x in body):
            raise HTTPError(400, "Request body must be a JSON array of strings")
        return body

    # -- routes ----------------------------------------------------------------------------------------
    def _routes(self) -> None:
        r = self.router.add
        r("POST", "/v1/task/{task_type}", self.create_task)
        r("GET", "/v1/task/{task_id}", self.h_get_task)
        r("POST", "/v1/task/{task_id}/cancel", self.cancel_task)
        r("POST", "/v1/task/{task_id}/audit", self.audit_task)
        r("POST", "/v1/task/{task_id}/unique_id", self.update_unique_id)
        r("DELETE", "/v1/task/{task_id}/unique_id", self.clear_unique_id)
        r("POST", "/v1/task/{task_id}/setMetadata", self.set_task_metadata)
        r("POST", "/v1/task/{task_id}/tags", self.set_tags)
        r("PUT", "/v1/task/{task_id}/tags", self.add_tags)
        r("DELETE", "/v1/task/{task_id}/tags", self.delete_tags)
        r("GET", "/v1/tasks", self.list_tasks)
        r("POST", "/v1/batches", self.create_batch)
        r("GET", "/v1/batches", self.list_batches)
        r("GET", "/v1/batches/{name}", self.get_batch)
        r("POST", "/v1/batches/{name}/finalize", self.finalize_batch)
        r("GET", "/v1/batches/{name}/status", self.batch_status)
        r("POST", "/v1/batches/{name}/setMetadata", self.set_batch_metadata)
        r("POST", "/v1/projects", self.create_project)
        r("GET", "/v1/projects", self.list_projects)
        r("GET", "/v1/projects/{name}", self.get_project)
        r("POST", "/v1/projects/{name}/setParams", self.update_project)
        r("GET", "/v1/projects/{name}/taskTemplates", self.project_template)
        r("POST", "/v1/files/upload", self.upload_file)
        r("POST", "/v1/files/import", self.import_file)
        r("POST", "/v1/evaluation_tasks/{task_type}", self.create_evaluation_task)
        r("POST", "/v1/training_tasks/{task_type}", self.create_training_task)
        r("GET", "/v1/teams", self.list_teammates)
        r("POST", "/v1/teams/invite", self.invite_teammates)
        r("POST", "/v1/teams/set_role", self.set_teammates_role)
        r("GET", "/v1/studio/assignments", self.list_assignments)
        r("POST", "/v1/studio/assignments/add", self.add_assignments)
        r("POST", "/v1/studio/assignments/remove", self.remove_assignments)
        r("GET", "/v1/studio/projects/{project}/groups", self.list_groups)
        r("POST", "/v1/studio/projects/{project}/groups", self.create_group)
        r("PUT", "/v1/studio/projects/{project}/groups/{group}", self.update_group)
        r("GET", "/v1/studio/batches", self.list_studio_batches)
        r("PUT", "/v1/studio/batches/{batch}", self.assign_studio_batch)
        r("POST", "/v1/studio/batches/set_priorities", self.set_priorities)
        r("POST", "/v1/studio/batches/reset_priorities", self.reset_priorities)
        r("GET", "/v2/task", self.v2_get_task)
        r("GET", "/v2/tasks", self.v2_get_tasks)

    # -- dashboard pages (HTML, no API key) -------------------------------------------------------------
    PAGE_TASK_LIMIT = 500

    def _page_routes(self) -> None:
        self.pages.add("GET", "/dashboard", self.page_index)
        self.pages.add("GET", "/dashboard/batches/{name}", self.page_batch)
        self.pages.add("GET", "/dashboard/tasks/{task_id}", self.page_task)

    def page_index(self, req: Request) -> Page:
        root = f"{req.root_path}/dashboard"
        batches = [self._public_batch(n) for n in reversed(self._batch_order)]
        return Page("Batches", [("", rows_table(batches, ["name", "project", "status", "created_at"],
                                                 {"name": lambda b: f"{root}/batches/{seg(b['name'])}"}))])

    def page_batch(self, req: Request) -> Page:
        name = req.path_params["name"]
        batch = self._batch(name)
        root = f"{req.root_path}/dashboard"
        counts = self._batch_counts.get(name, {})
        ids = self._by_batch.get(name, [])
        tasks = [self.tasks[t] for t in ids[: self.PAGE_TASK_LIMIT]]
        more = f"<p>First {self.PAGE_TASK_LIMIT} of {len(ids)} tasks.</p>" if len(ids) > self.PAGE_TASK_LIMIT else ""
        return Page(f"Batch {name}", [
            ("", fields_table(batch)),
            ("Task counts", fields_table({k: counts.get(k, 0) for k in ("pending", "completed", "error", "canceled")})),
            (f"Tasks ({len(ids)})", more + rows_table(tasks, ["task_id", "unique_id", "type", "status", "created_at"],
                                                      {"task_id": lambda t: f"{root}/tasks/{seg(t['task_id'])}"})),
        ], [(root, "Batches")])

    def page_task(self, req: Request) -> Page:
        task = self._task(req.path_params["task_id"])
        root = f"{req.root_path}/dashboard"
        crumbs = [(root, "Batches")]
        if task.get("batch"):
            crumbs.append((f"{root}/batches/{seg(task['batch'])}", f"Batch {task['batch']}"))
        return Page(f"Task {task['task_id']}", [("", fields_table(task))], crumbs)

    # -- tasks -----------------------------------------------------------------------------------------
    def create_task(self, req: Request) -> dict[str, Any]:
        task_type = req.path_params["task_type"]
        if task_type not in TASK_TYPES:
            raise HTTPError(400, f"Invalid task type '{task_type}'")
        body = self._body_object(req)
        for options in REQUIRED_PARAMS.get(task_type, []):
            if not any(body.get(o) not in (None, "", [], {}) for o in options):
                raise HTTPError(400, f"Missing required parameter '{options[0]}' for a {task_type} task")
        project_name = body.get("project")
        if project_name is not None:
            self._project(str(project_name))
        batch_name = body.get("batch")
        batch = None
        if batch_name is not None:
            batch = self.batches.get(str(batch_name))
            if batch is None:
                raise HTTPError(404, f"Batch '{batch_name}' not found; create it before adding tasks")
            if batch["status"] == "completed":
                raise HTTPError(400, f"Batch '{batch_name}' is completed; tasks cannot be added to it")
            if project_name is None:
                project_name = batch["project"]
            elif batch["project"] != project_name:
                raise HTTPError(400, f"Batch '{batch_name}' belongs to project '{batch['project']}'")
        tags = body.get("tags") or []
        if not isinstance(tags, list):
            raise HTTPError(400, "tags must be an array of strings")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise HTTPError(400, "metadata must be an object")
        unique_id = body.get("unique_id")
        if unique_id is not None and str(unique_id) in self._by_unique:
            raise HTTPError(409, f"The unique_id ('{unique_id}') is already used for a different task.")
        now = self.clock.now()
        tid = self._new_id()
        params = {k: v for k, v in body.items() if k not in TOP_LEVEL_FIELDS}
        if task_type == "categorization":
            params.setdefault("allow_multiple", False)
        task = {
            "task_id": tid,
            "created_at": iso(now),
            "updated_at": iso(now),
            "completed_at": None,
            "type": task_type,
            "status": "pending",
            "instruction": body.get("instruction"),
            "params": params,
            "project": project_name,
            "batch": batch_name,
            "unique_id": unique_id,
            "tags": [str(t) for t in tags],
            "metadata": metadata,
            "callback_url": body.get("callback_url"),
            "callback_succeeded": None,
            "priority": body.get("priority"),
            "is_test": False,
            "urgency": "standard",
            "audits": [],
            "customer_review_status": None,
            "processed_attachments": [],
            "response": None,
        }
        self.tasks[tid] = task
        self._meta[tid] = {
            "created": now,
            "updated": now,
            "completed": None,
            "due": None,
            "seed": _digest(task_type, params, unique_id),
            "order": len(self._order),  # place in creation order: what listing cursors point at
        }
        self._order.append(tid)
        if unique_id is not None:
            self._by_unique[str(unique_id)] = tid
        if project_name is not None:
            self._by_project[str(project_name)].append(tid)
        if batch is not None:
            self._by_batch[str(batch_name)].append(tid)
            self._batch_counts[str(batch_name)]["pending"] += 1
        if not (self.require_finalize and batch is not None and batch["status"] == "staging"):
            self._schedule(tid, now)
        return self._task_json(task)

    def h_get_task(self, req: Request) -> dict[str, Any]:
        return self._task_json(self._task(req.path_params["task_id"]))

    def cancel_task(self, req: Request) -> dict[str, Any]:
        task = self._task(req.path_params["task_id"])
        if task["status"] == "canceled":
            raise HTTPError(400, "Task has already been canceled")
        if task["status"] != "pending":
            raise HTTPError(400, f"Task cannot be canceled: it is {task['status']}")
        if task["task_id"] in self._started:
            raise HTTPError(400, "Task cannot be canceled: work on it has already started")
        self._set_status(task, "canceled")
        self._meta[task["task_id"]]["due"] = None
        if parse_bool(req.q("clear_unique_id"), "clear_unique_id") and task.get("unique_id") is not None:
            self._by_unique.pop(str(task["unique_id"]), None)
            task["unique_id"] = None
        self._touch(task)
        return self._task_json(task)

    def audit_task(self, req: Request) -> dict[str, Any]:
        task = self._task(req.path_params["task_id"])
        body = self._body_object(req)
        accepted = body.get("accepted")
        if not isinstance(accepted, bool):
            raise HTTPError(400, "accepted must be a boolean")
        if task["status"] != "completed":
            raise HTTPError(400, "Only completed tasks can be audited")
        task["audits"].append(
            {
                "audited_by": "admin@emulator.local",
                "audited_at": iso(self.clock.now()),
                "accepted": accepted,
                "comments": body.get("comments"),
                "source": "customer",
            }
        )
        task["customer_review_status"] = "accepted" if accepted else "rejected"
        self._touch(task)
        return self._task_json(task)

    def update_unique_id(self, req: Request) -> dict[str, Any]:
        task = self._task(req.path_params["task_id"])
        uid = self._body_object(req).get("unique_id")
        if not isinstance(uid, str) or not uid:
            raise HTTPError(400, "unique_id must be a non-empty string")
        holder = self._by_unique.get(uid)
        if holder is not None and holder != task["task_id"]:
            raise HTTPError(409, f"The unique_id ('{uid}') is already used for a different task.")
        if task.get("unique_id") is not None:
            self._by_unique.pop(str(task["unique_id"]), None)
        task["unique_id"] = uid
        self._by_unique[uid] = task["task_id"]
        self._touch(task)
        return self._task_json(task)

    def clear_unique_id(self, req: Request) -> dict[str, Any]:
        task = self._task(req.path_params["task_id"])
        if task.get("unique_id") is not None:
            self._by_unique.pop(str(task["unique_id"]), None)
        task["unique_id"] = None
        self._touch(task)
        return self._task_json(task)

    def set_task_metadata(self, req: Request) -> dict[str, Any]:
        task = self._task(req.path_params["task_id"])
        task["metadata"] = self._body_object(req)
        self._touch(task)
        return self._task_json(task)

    def set_tags(self, req: Request) -> dict[str, Any]:
        task = self._task(req.path_params["task_id"])
        task["tags"] = list(dict.fromkeys(self._body_list(req)))
        self._touch(task)
        return self._task_json(task)

    def add_tags(self, req: Request) -> dict[str, Any]:
        task = self._task(req.path_params["task_id"])
        task["tags"] = list(dict.fromkeys([*task["tags"], *self._body_list(req)]))
        self._touch(task)
        return self._task_json(task)

    def delete_tags(self, req: Request) -> dict[str, Any]:
        task = self._task(req.path_params["task_id"])
        remove = set(self._body_list(req))
        task["tags"] = [t for t in task["tags"] if t not in remove]
        self._touch(task)
        return self._task_json(task)

    def _filter_tasks(self, req: Request) -> tuple[list[str], bool]:
        """Candidate ids and whether they still need filtering beyond the index used."""
        uids = req.q_all("unique_id")
        project, batch = req.q("project"), req.q("batch")
        if uids:
            ids = [self._by_unique[u] for u in dict.fromkeys(uids) if u in self._by_unique]
            ids.sort(key=self._creation_order)
            return ids, True
        if batch is not None:
            ids = self._by_batch.get(batch, [])
            other = project is not None and project != (self.batches.get(batch) or {}).get("project")
            if other:
                return [], False
        elif project is not None:
            ids = self._by_project.get(project, [])
        else:
            ids = self._order
        filters = {
            "start_time",
            "end_time",
            "completed_before",
            "completed_after",
            "updated_before",
            "updated_after",
            "status",
            "type",
            "customer_review_status",
            "tags",
        }
        return ids, any(req.q(f) is not None for f in filters)

    def _creation_order(self, task_id: str) -> int:
        order: int = self._meta[task_id]["order"]
        return order

    def list_tasks(self, req: Request) -> dict[str, Any]:
        """``GET /v1/tasks``: ``next_token`` is an opaque cursor over creation order (as Scale's tokens are opaque),
        so tasks leaving the filtered list between pages (canceled while a client pages the pending ones) never
        make it skip one that is still there."""
        limit = parse_limit(req.q("limit"))
        parse_bool(req.q("include_attachment_url"), "include_attachment_url")
        limited = parse_bool(req.q("limited_response"), "limited_response")
        ids, needs_filter = self._filter_tasks(req)
        if needs_filter:
            windows = []
            for name, key, lower in (
                ("start_time", "created", True),
                ("end_time", "created", False),
                ("completed_after", "completed", True),
                ("completed_before", "completed", False),
                ("updated_after", "updated", True),
                ("updated_before", "updated", False),
            ):
                value = req.q(name)
                if value is not None:
                    windows.append((key, parse_time(value, name), lower))
            status, ttype = req.q("status"), req.q("type")
            reviews_raw = req.q("customer_review_status")
            reviews = set(reviews_raw.split(",")) if reviews_raw else None
            if reviews and not reviews <= REVIEW_STATUSES:
                raise HTTPError(400, f"Invalid customer_review_status {reviews_raw!r}")
            tags = set(req.q_all("tags"))
            project, batch = req.q("project"), req.q("batch")

            # one cheap pass per given filter (a 10k-task batch filters in a few ms)
            tasks, meta = self.tasks, self._meta
            for key, value in (("status", status), ("type", ttype), ("project", project), ("batch", batch)):
                if value is not None:
                    ids = [t for t in ids if tasks[t][key] == value]
            if reviews is not None:
                ids = [t for t in ids if (tasks[t]["customer_review_status"] or "pending") in reviews]
            if tags:
                ids = [t for t in ids if tags.issubset(tasks[t]["tags"])]
            for key, bound, lower in windows:
                if lower:
                    ids = [t for t in ids if (v := meta[t][key]) is not None and v >= bound]
                else:
                    ids = [t for t in ids if (v := meta[t][key]) is not None and v <= bound]
        total = len(ids)
        page, next_token = cursor_page(ids, req.q("next_token"), limit, self._creation_order)
        offset = bisect.bisect_left(ids, self._creation_order(page[0]), key=self._creation_order) if page else total
        if limited:
            docs = [
                {
                    "task_id": t,
                    "status": self.tasks[t]["status"],
                    "metadata": self.tasks[t]["metadata"],
                    "project": self.tasks[t]["project"],
                    "otherVersion": None,
                }
                for t in page
            ]
        else:
            docs = [self._task_json(self.tasks[t]) for t in page]
        return {
            "docs": docs,
            "total": total,
            "limit": limit,
            "offset": offset,
            "has_more": next_token is not None,
            "next_token": next_token,
        }

    # -- batches ---------------------------------------------------------------------------------------
    def _batch_json(self, name: str) -> dict[str, Any]:
        return dict(self.batches[name])

    def create_batch(self, req: Request) -> dict[str, Any]:
        body = self._body_object(req)
        name, project = body.get("name"), body.get("project")
        if not isinstance(name, str) or not name:
            raise HTTPError(400, "name is required")
        if not isinstance(project, str) or not project:
            raise HTTPError(400, "project is required")
        self._project(project)
        if name in self.batches:
            raise HTTPError(409, f"A batch named '{name}' already exists")
        now = iso(self.clock.now())
        self.batches[name] = {
            "id": f"batch_{self._new_id()}",
            "name": name,
            "project": project,
            "status": "staging",
            "created_at": now,
            "updated_at": now,
            "completed_at": None,
            "callback": body.get("callback") or "",
            "calibration_batch": bool(body.get("calibration_batch")),
            "self_label_batch": bool(body.get("self_label_batch")),
            "metadata": body.get("metadata") or {},
            "archived": False,
            "_created": self.clock.now(),
        }
        self._batch_counts[name] = defaultdict(int)
        self._batch_order.append(name)
        return self._public_batch(name)

    def _public_batch(self, name: str) -> dict[str, Any]:
        return {k: v for k, v in self.batches[name].items() if not k.startswith("_")}

    def get_batch(self, req: Request) -> dict[str, Any]:
        self._batch(req.path_params["name"])
        return self._public_batch(req.path_params["name"])

    def finalize_batch(self, req: Request) -> dict[str, Any]:
        name = req.path_params["name"]
        batch = self._batch(name)
        if batch["status"] == "staging":
            batch["status"] = "in_progress"
            batch["updated_at"] = iso(self.clock.now())
            if self.require_finalize:
                now = self.clock.now()
                for tid in self._by_batch.get(name, []):
                    if self.tasks[tid]["status"] == "pending" and self._meta[tid]["due"] is None:
                        self._schedule(tid, now)
            self._maybe_complete_batch(name)
        return self._public_batch(name)

    def batch_status(self, req: Request) -> dict[str, Any]:
        name = req.path_params["name"]
        batch = self._batch(name)
        counts = self._batch_counts[name]
        return {"status": batch["status"], **{k: counts[k] for k in ("pending", "completed", "error", "canceled")}}

    def set_batch_metadata(self, req: Request) -> dict[str, Any]:
        name = req.path_params["name"]
        batch = self._batch(name)
        batch["metadata"] = self._body_object(req)
        batch["updated_at"] = iso(self.clock.now())
        return self._public_batch(name)

    def list_batches(self, req: Request) -> dict[str, Any]:
        limit = parse_limit(req.q("limit"))
        try:
            offset = int(req.q("offset") or 0)
        except ValueError as exc:
            raise HTTPError(400, "offset must be an integer") from exc
        if offset < 0:
            raise HTTPError(400, "offset must be >= 0")
        project, status = req.q("project"), req.q("status")
        start = parse_time(v, "start_time") if (v := req.q("start_time")) else None
        end = parse_time(v, "end_time") if (v := req.q("end_time")) else None
        exclude_archived = parse_bool(req.q("exclude_archived"), "exclude_archived")
        names = [
            n
            for n in self._batch_order
            if (project is None or self.batches[n]["project"] == project)
            and (status is None or self.batches[n]["status"] == status)
            and (start is None or self.batches[n]["_created"] >= start)
            and (end is None or self.batches[n]["_created"] <= end)
            and not (exclude_archived and self.batches[n]["archived"])
        ]
        page = names[offset : offset + limit]
        return {
            "docs": [self._public_batch(n) for n in page],
            "totalDocs": len(names),
            "limit": limit,
            "offset": offset,
            "has_more": offset + limit < len(names),
        }

    # -- projects --------------------------------------------------------------------------------------
    def create_project(self, req: Request) -> dict[str, Any]:
        body = self._body_object(req)
        name, ptype = body.get("name"), body.get("type")
        if not isinstance(name, str) or not name:
            raise HTTPError(400, "name is required")
        if ptype not in TASK_TYPES:
            raise HTTPError(400, f"Invalid project type {ptype!r}")
        if name in self.projects:
            raise HTTPError(409, f"A project named '{name}' already exists")
        params = body.get("params") or {}
        if not isinstance(params, dict):
            raise HTTPError(400, "params must be an object")
        now = iso(self.clock.now())
        self.projects[name] = {
            "id": self._new_id(),
            "name": name,
            "type": ptype,
            "created_at": now,
            "updated_at": now,
            "rapid": bool(body.get("rapid")),
            "studio": bool(body.get("studio")),
            "datasetId": body.get("datasetId"),
            "params": dict(params),
            "param_history": [{"version": 0, "created_at": now, **params}],
        }
        return self.projects[name]

    def list_projects(self, req: Request) -> list[dict[str, Any]]:
        return list(self.projects.values())

    def get_project(self, req: Request) -> dict[str, Any]:
        return self._project(req.path_params["name"])

    def update_project(self, req: Request) -> dict[str, Any]:
        project = self._project(req.path_params["name"])
        body = self._body_object(req)
        patch = bool(body.pop("patch", False))
        params = {**project["params"], **body} if patch else body
        now = iso(self.clock.now())
        project["params"] = params
        project["updated_at"] = now
        project["param_history"].append({"version": len(project["param_history"]), "created_at": now, **params})
        return project

    def project_template(self, req: Request) -> dict[str, Any]:
        project = self._project(req.path_params["name"])
        variables = (
            sorted(project["params"].get("template_variables", {}))
            if isinstance(project["params"].get("template_variables"), dict)
            else []
        )
        return {
            "id": f"tmpl_{project['id']}",
            "version": len(project["param_history"]) - 1,
            "created_at": project["created_at"],
            "updated_at": project["updated_at"],
            "template_variables": variables,
            "response_schema": project["params"].get("response_schema"),
            "auto_onboard_enabled": False,
        }

    # -- files -----------------------------------------------------------------------------------------
    def _file_record(self, name: str, mime: str, size: int, projects: list[str]) -> dict[str, Any]:
        fid = self._new_id()
        now = iso(self.clock.now())
        record = {
            "id": fid,
            "attachment_url": f"scaledata://{fid}/{name}",
            "created_at": now,
            "updated_at": now,
            "mime_type": mime,
            "project_names": projects,
            "size": size,
        }
        self.files[fid] = record
        return record

    def upload_file(self, req: Request) -> dict[str, Any]:
        ctype = req.headers.get("content-type", "")
        if not ctype.startswith("multipart/form-data"):
            raise HTTPError(400, "files/upload expects multipart/form-data")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode("latin-1") + req.body
        )
        fields: dict[str, str] = {}
        file_part: tuple[str, str, bytes] | None = None
        for part in msg.iter_parts():
            pname = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            filename = part.get_filename()
            if pname == "file" and filename is not None:
                file_part = (filename, part.get_content_type(), data)
            elif isinstance(pname, str):
                fields[pname] = data.decode("utf-8", "replace")
        if file_part is None:
            raise HTTPError(400, "Missing multipart part 'file'")
        filename, mime, data = file_part
        projects = [fields["project_name"]] if fields.get("project_name") else []
        if mime in ("application/octet-stream", "text/plain") and filename.lower().endswith(".png"):
            mime = "image/png"
        record = self._file_record(filename, mime, len(data), projects)
        self.file_contents[record["id"]] = data
        record["fields"] = fields
        return record

    def import_file(self, req: Request) -> dict[str, Any]:
        body = self._body_object(req)
        url = body.get("file_url")
        if not isinstance(url, str) or not url:
            raise HTTPError(400, "file_url is required")
        projects = [body["project_name"]] if body.get("project_name") else []
        name = url.rstrip("/").rsplit("/", 1)[-1] or "file"
        mime = {
            "jpg": "image/jpeg",
            "jpeg": "image/jpeg",
            "png": "image/png",
            "json": "application/json",
            "txt": "text/plain",
        }.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")
        record = self._file_record(name, mime, 0, projects)
        record["file_url"] = url
        return record

    # -- quality tasks ---------------------------------------------------------------------------------
    def _quality_task(self, req: Request, kind: str) -> dict[str, Any]:
        task_type = req.path_params["task_type"]
        if task_type not in TASK_TYPES:
            raise HTTPError(400, f"Invalid task type '{task_type}'")
        body = self._body_object(req)
        if "expected_response" not in body:
            raise HTTPError(400, "expected_response is required")
        if body.get("project") is not None:
            self._project(str(body["project"]))
        qid = self._new_id()
        record = {
            "id": qid,
            "kind": kind,
            "type": task_type,
            "project": body.get("project"),
            "expected_response": body["expected_response"],
            "initial_response": body.get("initial_response"),
            "params": {k: v for k, v in body.items() if k not in ("expected_response", "initial_response", "project")},
            "created_at": iso(self.clock.now()),
        }
        self.quality_tasks[qid] = record
        return record

    def create_evaluation_task(self, req: Request) -> dict[str, Any]:
        return self._quality_task(req, "evaluation")

    def create_training_task(self, req: Request) -> dict[str, Any]:
        return self._quality_task(req, "training")

    # -- teams -----------------------------------------------------------------------------------------
    def _emails_role(self, req: Request) -> tuple[list[str], str]:
        body = self._body_object(req)
        emails, role = body.get("emails"), body.get("team_role")
        if not isinstance(emails, list) or not emails or not all(isinstance(e, str) for e in emails):
            raise HTTPError(400, "emails must be a non-empty array of strings")
        if role not in TEAM_ROLES:
            raise HTTPError(400, f"team_role must be one of {', '.join(TEAM_ROLES)}")
        return emails, role

    def list_teammates(self, req: Request) -> list[dict[str, Any]]:
        return self.team

    def invite_teammates(self, req: Request) -> list[dict[str, Any]]:
        emails, role = self._emails_role(req)
        existing = {m["email"]: m for m in self.team}
        for e in emails:
            if e in existing:
                existing[e]["role"] = role
            else:
                self.team.append(
                    {"email": e, "role": role, "company": "Emulator", "isStudioLabeler": False, "expiry": None}
                )
        return self.team

    def set_teammates_role(self, req: Request) -> list[dict[str, Any]]:
        emails, role = self._emails_role(req)
        existing = {m["email"]: m for m in self.team}
        missing = [e for e in emails if e not in existing]
        if missing:
            raise HTTPError(404, f"Not on the team: {', '.join(missing)}")
        for e in emails:
            existing[e]["role"] = role
        return self.team

    # -- studio ----------------------------------------------------------------------------------------
    def _emails_projects(self, req: Request) -> tuple[list[str], list[str]]:
        body = self._body_object(req)
        emails, projects = body.get("emails"), body.get("projects")
        if not isinstance(emails, list) or not isinstance(projects, list):
            raise HTTPError(400, "emails and projects must be arrays")
        for p in projects:
            self._project(str(p))
        return [str(e) for e in emails], [str(p) for p in projects]

    def list_assignments(self, req: Request) -> dict[str, list[str]]:
        return self.studio_assignments

    def add_assignments(self, req: Request) -> dict[str, list[str]]:
        emails, projects = self._emails_projects(req)
        for e in emails:
            self.studio_assignments[e] = list(dict.fromkeys([*self.studio_assignments.get(e, []), *projects]))
        return self.studio_assignments

    def remove_assignments(self, req: Request) -> dict[str, list[str]]:
        emails, projects = self._emails_projects(req)
        for e in emails:
            left = [p for p in self.studio_assignments.get(e, []) if p not in projects]
            if left:
                self.studio_assignments[e] = left
            else:
                self.studio_assignments.pop(e, None)
        return self.studio_assignments

    def _group_json(self, group: dict[str, Any]) -> dict[str, Any]:
        workers = [{"id": f"w_{_digest(e) % 10**8:08d}", "email": e} for e in group["emails"]]
        return {
            "id": group["id"],
            "name": group["name"],
            "numWorkers": len(workers),
            "isSingleton": False,
            "workers": workers,
        }

    def list_groups(self, req: Request) -> list[dict[str, Any]]:
        project = req.path_params["project"]
        self._project(project)
        return [self._group_json(g) for g in self.project_groups.get(project, [])]

    def create_group(self, req: Request) -> dict[str, Any]:
        project = req.path_params["project"]
        self._project(project)
        body = self._body_object(req)
        name, emails = body.get("name"), body.get("emails") or []
        if not isinstance(name, str) or not name:
            raise HTTPError(400, "name is required")
        if any(g["name"] == name for g in self.project_groups[project]):
            raise HTTPError(409, f"A group named '{name}' already exists in project '{project}'")
        group = {"id": self._new_id(), "name": name, "emails": list(dict.fromkeys(emails))}
        self.project_groups[project].append(group)
        return self._group_json(group)

    def update_group(self, req: Request) -> dict[str, Any]:
        project, name = req.path_params["project"], req.path_params["group"]
        self._project(project)
        group = next((g for g in self.project_groups.get(project, []) if g["name"] == name), None)
        if group is None:
            raise HTTPError(404, f"Group '{name}' not found in project '{project}'")
        body = self._body_object(req)
        remove = set(body.get("remove_emails") or [])
        group["emails"] = [
            e for e in dict.fromkeys([*group["emails"], *(body.get("add_emails") or [])]) if e not in remove
        ]
        return self._group_json(group)

    def _studio_batch(self, name: str) -> dict[str, Any]:
        batch = self.batches[name]
        counts = self._batch_counts[name]
        project = self.projects.get(batch["project"], {})
        return {
            "id": batch["id"],
            "name": name,
            "projectId": project.get("id"),
            "projectName": batch["project"],
            "batchType": "Production",
            "studioPriority": self.studio_priorities.get(name),
            "total": sum(counts.values()),
            "completed": counts["completed"],
            "groups": self.studio_batch_groups.get(name, []),
        }

    def list_studio_batches(self, req: Request) -> list[dict[str, Any]]:
        return [self._studio_batch(n) for n in self._batch_order]

    def assign_studio_batch(self, req: Request) -> dict[str, Any]:
        name = req.path_params["batch"]
        batch = self._batch(name)
        groups = self._body_object(req).get("groups")
        if not isinstance(groups, list):
            raise HTTPError(400, "groups must be an array")
        known = {g["name"] for g in self.project_groups.get(batch["project"], [])}
        unknown = [g for g in groups if g not in known]
        if unknown:
            raise HTTPError(404, f"Unknown groups for project '{batch['project']}': {', '.join(map(str, unknown))}")
        self.studio_batch_groups[name] = list(groups)
        return self._studio_batch(name)

    def set_priorities(self, req: Request) -> list[dict[str, Any]]:
        entries = self._body_object(req).get("batches")
        if not isinstance(entries, list):
            raise HTTPError(400, "batches must be an array of {name}")
        names = [e.get("name") if isinstance(e, dict) else None for e in entries]
        for n in names:
            if not isinstance(n, str):
                raise HTTPError(400, "batches must be an array of {name}")
            self._batch(n)
        self.studio_priorities = {n: i + 1 for i, n in enumerate(names) if isinstance(n, str)}
        return self.list_studio_batches(req)

    def reset_priorities(self, req: Request) -> list[dict[str, Any]]:
        self.studio_priorities = {}
        return self.list_studio_batches(req)

    # -- v2 (subset) -----------------------------------------------------------------------------------
    def _v2_task(self, tid: str) -> dict[str, Any]:
        t = self.tasks[tid]
        out = {
            "task_id": tid,
            "project": t["project"],
            "batch": t["batch"],
            "status": t["status"],
            "created_at": t["created_at"],
            "completed_at": t["completed_at"],
            "metadata": t["metadata"],
        }
        return {k: v for k, v in out.items() if v is not None}

    def v2_get_task(self, req: Request) -> dict[str, Any]:
        tid = req.q("task_id")
        if not tid:
            raise HTTPError(400, "task_id is required")
        self._task(tid)
        return self._v2_task(tid)

    def v2_get_tasks(self, req: Request) -> dict[str, Any]:
        limit = parse_limit(req.q("limit"))
        batch, project, status = req.q("batch_name"), req.q("project_name"), req.q("status")
        if batch is not None:
            ids = self._by_batch.get(batch, [])
        elif project is not None:
            ids = self._by_project.get(project, [])
        else:
            ids = self._order
        if status is not None:
            ids = [t for t in ids if self.tasks[t]["status"] == status]
        page, next_token = cursor_page(ids, req.q("next_token"), limit, self._creation_order)
        out: dict[str, Any] = {"tasks": [self._v2_task(t) for t in page]}
        if next_token is not None:
            out["next_token"] = next_token
        return out


register_platform("scale", ScaleEmulator)

__all__ = ["TASK_TYPES", "RawResponse", "ScaleEmulator", "simulate_response"]
