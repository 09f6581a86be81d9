"""A typed client for the Scale AI v1 API (what the ``scaleapi`` SDK's ``ScaleClient`` covers).

It speaks the wire format of the official SDK (Basic auth with the key as username, ``True``/``False``
booleans in query strings, percent-encoded names in paths, only 200 is success) and adds what a pipeline
needs: explicit timeouts, safe retries, typed errors with Scale's message, lazy pagination, a batch as a
job handle and bulk task creation keyed by ``unique_id``.

>>> from dagster_labeling.testing import EmulatorServer  # doctest: +SKIP
>>> with ScaleClient("live_...", base_url="https://api.scale.com/v1") as scale:  # doctest: +SKIP
...     task = scale.create_task("categorization", project="p", instruction="Red?", attachment_type="text",
...                              attachment="tomato", categories=["red", "blue"], unique_id="row-1")
"""

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

import httpx

from dagster_labeling._core import (
    BulkProgress,
    BulkResult,
    HttpTransport,
    InvalidInput,
    RetryPolicy,
    Timeouts,
    encode_query,
    mask,
    paginate,
    quote_path_segment,
    run_bulk,
)
from dagster_labeling._core.client import HeaderAuth, PlatformClient, basic_auth_header
from dagster_labeling._core.links import link_root
from dagster_labeling._core.transport import default_error_message
from dagster_labeling.scale.errors import ScaleDuplicateResource, scale_error_class
from dagster_labeling.scale.jobs import ScaleBatchJob
from dagster_labeling.scale.models import (
    Batch,
    BatchPage,
    BatchStatus,
    BatchStatusCounts,
    File,
    Project,
    QualityTask,
    StudioBatch,
    StudioProjectGroup,
    Task,
    TaskPage,
    TaskReviewStatus,
    TaskStatus,
    TaskTemplate,
    TaskType,
    Teammate,
    TeammateRole,
)

DEFAULT_BASE_URL = "https://api.scale.com/v1"
DEFAULT_DASHBOARD_URL = "https://dashboard.scale.com"
#: Where the emulator serves its stand-in dashboard, beside ``/v1`` (``http://127.0.0.1:8765/scale/dashboard``).
EMULATOR_DASHBOARD_PATH = "dashboard"
TASK_TYPES = frozenset(t.value for t in TaskType)


def _value(v: Any) -> Any:
    return v.value if hasattr(v, "value") else v


def task_type_value(task_type: TaskType | str) -> str:
    """Validate a task type and return its wire value; an unknown one is an :class:`InvalidInput`."""
    value = _value(task_type)
    if value not in TASK_TYPES:
        raise InvalidInput(
            f"Unknown Scale task type {task_type!r}. Use one of: {', '.join(sorted(TASK_TYPES))} "
            "(see dagster_labeling.scale.TaskType).",
            field="task_type",
        )
    return str(value)


def dashboard_root(base_url: str, dashboard_url: str | None = None) -> str:
    """The dashboard the client links to: ``dashboard_url`` if set; else derived from ``base_url``.

    The real dashboard for the real API and for any proxy; for the emulator (a loopback host) the emulator's
    pages on the same server.

    >>> dashboard_root("http://127.0.0.1:8765/scale/v1"), dashboard_root(DEFAULT_BASE_URL)
    ('http://127.0.0.1:8765/scale/dashboard', 'https://dashboard.scale.com')
    """
    return link_root(base_url, dashboard_url, real_root=DEFAULT_DASHBOARD_URL, local_path=EMULATOR_DASHBOARD_PATH,
                     api_suffix="v1")


class ScaleClient(PlatformClient):
    """Typed client for the Scale AI v1 API. Use as a context manager, or call :meth:`close`.

    ``dashboard_url`` is the root of the links it makes (:meth:`batch_url`, :meth:`task_url`); by default it
    follows ``base_url`` (see :func:`dashboard_root`). Set it when the API sits behind a proxy and the
    dashboard is elsewhere than https://dashboard.scale.com.
    """

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        dashboard_url: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 32,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise InvalidInput(
                "Scale api_key is empty. Set it from the environment, e.g. "
                "ScaleResource(api_key=dg.EnvVar('SCALE_API_KEY')).",
                field="api_key",
            )
        self.max_concurrency = max_concurrency
        self._http = HttpTransport(
            platform="Scale",
            base_url=base_url,
            auth=HeaderAuth({"Authorization": basic_auth_header(api_key)}),  # key as username, as scaleapi
            secrets=[api_key],
            timeouts=timeouts,
            retry=retry,
            max_connections=max_concurrency,
            error_class_for=scale_error_class,
            error_message_for=default_error_message,
            success_statuses=frozenset({200}),
            transport=transport,
        )
        #: Root of the dashboard links (resolved: never None).
        self.dashboard_url = dashboard_root(base_url, dashboard_url)
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"ScaleClient(base_url={self._http.base_url!r}, api_key={mask(self._api_key)})"

    # -- plumbing ---------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        send_body: bool = False,
        idempotent: bool | None = None,
        files: Any = None,
        data: Mapping[str, Any] | None = None,
    ) -> Any:
        headers = None if files is not None else {"Content-Type": "application/json"}
        response = self._http.request(
            method,
            path,
            params=encode_query(params, true="True", false="False") if params else None,
            json_body=body,
            send_json=send_body,
            files=files,
            data=data,
            headers=headers,
            idempotent=idempotent,
        )
        try:
            return response.json()
        except ValueError:
            return None

    def batch_url(self, batch_name: str) -> str:
        """The batch's page in the Scale dashboard."""
        return f"{self.dashboard_url}/batches/{quote_path_segment(batch_name)}"

    def task_url(self, task_id: str) -> str:
        """The task's page in the Scale dashboard."""
        return f"{self.dashboard_url}/tasks/{quote_path_segment(task_id)}"

    # -- tasks ------------------------------------------------------------------------------------
    def create_task(self, task_type: TaskType | str, **payload: Any) -> Task:
        """Create a task of any type; ``payload`` is sent verbatim (flat type parameters, project, batch…).

        With a ``unique_id`` the request is retried safely, and a 409 ("already used") returns the existing
        task, provided it belongs to the same project and batch.
        """
        kind = task_type_value(task_type)
        unique_id = payload.get("unique_id")
        try:
            raw = self._call("POST", f"task/{kind}", body=payload, idempotent=unique_id is not None)
        except ScaleDuplicateResource:
            if unique_id is None:
                raise
            existing = self.find_task_by_unique_id(str(unique_id))
            if existing is None:
                raise
            for field in ("project", "batch"):
                wanted = payload.get(field)
                if wanted is not None and getattr(existing, field) not in (None, wanted):
                    raise ScaleDuplicateResource(
                        f"unique_id {unique_id!r} is already used by task {existing.task_id} in {field} "
                        f"{getattr(existing, field)!r}, not {wanted!r}. Use another unique_id, or free it with "
                        "cancel_task(..., clear_unique_id=True).",
                        platform="Scale", method="POST", path=f"task/{kind}", status_code=409,
                    ) from None
            return existing
        return Task.model_validate(raw)

    def find_task_by_unique_id(self, unique_id: str) -> Task | None:
        page = self._call("GET", "tasks", params={"unique_id": unique_id})
        docs = (page or {}).get("docs") or []
        return Task.model_validate(docs[0]) if docs else None

    def get_task(self, task_id: str) -> Task:
        return Task.model_validate(self._call("GET", f"task/{quote_path_segment(task_id)}"))

    def cancel_task(self, task_id: str, clear_unique_id: bool = False) -> Task:
        """Cancel a task that work has not started on; optionally free its unique_id.

        Retried like a keyed request (a cancel cannot happen twice): if the first answer was lost, the retry is
        answered 400 "already been canceled".
        """
        suffix = "?clear_unique_id=true" if clear_unique_id else ""
        return Task.model_validate(self._call("POST", f"task/{quote_path_segment(task_id)}/cancel{suffix}",
                                              idempotent=True))

    def audit_task(self, task_id: str, accepted: bool, comments: str | None = None) -> None:
        self._call("POST", f"task/{quote_path_segment(task_id)}/audit",
                   body={"accepted": accepted, "comments": comments}, send_body=True)

    def update_task_unique_id(self, task_id: str, unique_id: str) -> Task:
        return Task.model_validate(
            self._call("POST", f"task/{quote_path_segment(task_id)}/unique_id", body={"unique_id": unique_id})
        )

    def clear_task_unique_id(self, task_id: str) -> Task:
        return Task.model_validate(self._call("DELETE", f"task/{quote_path_segment(task_id)}/unique_id"))

    def set_task_metadata(self, task_id: str, metadata: Mapping[str, Any]) -> Task:
        """Replace the task's metadata (the object itself is the body, as Scale expects)."""
        return Task.model_validate(
            self._call("POST", f"task/{quote_path_segment(task_id)}/setMetadata", body=dict(metadata),
                       send_body=True)
        )

    def set_task_tags(self, task_id: str, tags: Sequence[str]) -> Task:
        """Replace all tags."""
        return Task.model_validate(
            self._call("POST", f"task/{quote_path_segment(task_id)}/tags", body=list(tags), idempotent=True)
        )

    def add_task_tags(self, task_id: str, tags: Sequence[str]) -> Task:
        return Task.model_validate(self._call("PUT", f"task/{quote_path_segment(task_id)}/tags", body=list(tags)))

    def delete_task_tags(self, task_id: str, tags: Sequence[str]) -> Task:
        return Task.model_validate(
            self._call("DELETE", f"task/{quote_path_segment(task_id)}/tags", body=list(tags))
        )

    def tasks_page(self, **query: Any) -> TaskPage:
        """One page of ``GET /v1/tasks`` with raw Scale query keys."""
        return TaskPage.model_validate(self._call("GET", "tasks", params=query))

    @staticmethod
    def _task_query(
        project: str | None,
        batch: str | None,
        task_type: TaskType | str | None,
        status: TaskStatus | str | None,
        review_status: TaskReviewStatus | str | Sequence[TaskReviewStatus | str] | None,
        unique_id: str | Sequence[str] | None,
        completed_after: str | None,
        completed_before: str | None,
        updated_after: str | None,
        updated_before: str | None,
        created_after: str | None,
        created_before: str | None,
        tags: str | Sequence[str] | None,
    ) -> dict[str, Any]:
        if isinstance(review_status, (list, tuple)):
            review = ",".join(str(_value(s)) for s in review_status)
        else:
            review = _value(review_status)
        return {
            "project": project,
            "batch": batch,
            "type": task_type_value(task_type) if task_type is not None else None,
            "status": _value(status),
            "customer_review_status": review,
            "unique_id": unique_id,
            "completed_after": completed_after,
            "completed_before": completed_before,
            "updated_after": updated_after,
            "updated_before": updated_before,
            "start_time": created_after,
            "end_time": created_before,
            "tags": tags,
        }

    def get_tasks(
        self,
        *,
        project: str | None = None,
        batch: str | None = None,
        task_type: TaskType | str | None = None,
        status: TaskStatus | str | None = None,
        review_status: TaskReviewStatus | str | Sequence[TaskReviewStatus | str] | None = None,
        unique_id: str | Sequence[str] | None = None,
        completed_after: str | None = None,
        completed_before: str | None = None,
        updated_after: str | None = None,
        updated_before: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        tags: str | Sequence[str] | None = None,
        include_attachment_url: bool = True,
        limited_response: bool | None = None,
        page_size: int = 100,
        limit: int | None = None,
    ) -> Iterator[Task]:
        """Lazily iterate tasks matching every given filter, following ``next_token``.

        Needs ``project`` or ``batch`` (Scale's rule). Dates are passed as given
        (``'YYYY-MM-DD'`` or ``'YYYY-MM-DD HH:MM:SS.mmmmmm'``).
        """
        if project is None and batch is None:
            raise InvalidInput("get_tasks needs project or batch (Scale requires one of them).", field="project")
        if not 1 <= page_size <= 100:
            raise InvalidInput(f"page_size must be 1..100, got {page_size}.", field="page_size")
        query = self._task_query(project, batch, task_type, status, review_status, unique_id, completed_after,
                                 completed_before, updated_after, updated_before, created_after, created_before,
                                 tags)
        # As scaleapi: limited_response only when true (never ``limited_response=False``).
        query.update(include_attachment_url=include_attachment_url,
                     limited_response=True if limited_response else None, limit=page_size)

        def fetch(token: str | None) -> tuple[list[Task], str | None]:
            page = self.tasks_page(**query, next_token=token)
            return page.docs, (page.next_token if page.has_more else None)

        return paginate(fetch, limit=limit)

    def get_tasks_count(self, **filters: Any) -> int:
        """How many tasks match; takes the filters of :meth:`get_tasks`."""
        if filters.get("project") is None and filters.get("batch") is None:
            raise InvalidInput("get_tasks_count needs project or batch.", field="project")
        query = self._task_query(
            filters.get("project"), filters.get("batch"), filters.get("task_type"), filters.get("status"),
            filters.get("review_status"), filters.get("unique_id"), filters.get("completed_after"),
            filters.get("completed_before"), filters.get("updated_after"), filters.get("updated_before"),
            filters.get("created_after"), filters.get("created_before"), filters.get("tags"),
        )
        # scaleapi's get_tasks_count sends include_attachment_url (default True) too.
        return self.tasks_page(**query, include_attachment_url=filters.get("include_attachment_url", True),
                               limit=1).total

    def create_tasks(
        self,
        task_type: TaskType | str,
        payloads: Iterable[tuple[str, Mapping[str, Any]]],
        *,
        batch: str | None = None,
        project: str | None = None,
        concurrency: int | None = None,
        resume: bool = True,
        on_progress: Callable[[BulkProgress], None] | None = None,
    ) -> BulkResult[Task]:
        """Create many tasks, each keyed by its ``unique_id`` (the first element of each pair).

        With ``resume`` (and a ``batch``), tasks already in the batch are found first and skipped, so a
        re-run after a crash creates only what is missing. A retried or repeated create answered 409
        returns the existing task. Failures are collected in the result, never dropped.
        """
        kind = task_type_value(task_type)
        existing: dict[str, Task] = {}
        if resume and batch is not None:
            for task in self.get_tasks(batch=batch, project=project, include_attachment_url=False):
                if task.unique_id:
                    existing[task.unique_id] = task

        def submit(key: str, payload: Mapping[str, Any]) -> Task:
            body = {**payload, "unique_id": key}
            if batch is not None:
                body.setdefault("batch", batch)
            if project is not None:
                body.setdefault("project", project)
            return self.create_task(kind, **body)

        return run_bulk(payloads, submit, concurrency=concurrency or self.max_concurrency, existing=existing,
                        on_progress=on_progress)

    # -- batches ----------------------------------------------------------------------------------
    def create_batch(
        self,
        project: str,
        batch_name: str,
        callback: str = "",
        calibration_batch: bool = False,
        self_label_batch: bool = False,
        metadata: Mapping[str, Any] | None = None,
    ) -> Batch:
        body = {
            "project": project,
            "name": batch_name,
            "calibration_batch": calibration_batch,
            "self_label_batch": self_label_batch,
            "callback": callback,
            "metadata": dict(metadata or {}),
        }
        # Keyed by name: a retry after a lost answer gets 409, which get_or_create_batch resolves.
        return Batch.model_validate(self._call("POST", "batches", body=body, idempotent=True))

    def get_or_create_batch(self, project: str, batch_name: str, **kwargs: Any) -> tuple[Batch, bool]:
        """Create the batch, or return the existing one of that name (``created`` is False then)."""
        try:
            return self.create_batch(project, batch_name, **kwargs), True
        except ScaleDuplicateResource:
            batch = self.get_batch(batch_name)
            if batch.project != project:
                raise InvalidInput(
                    f"Batch {batch_name!r} already exists in project {batch.project!r}, not {project!r}. "
                    "Batch names are unique per account: choose another batch name prefix.",
                    field="batch_name",
                ) from None
            return batch, False

    def finalize_batch(self, batch_name: str) -> Batch:
        return Batch.model_validate(
            self._call("POST", f"batches/{quote_path_segment(batch_name)}/finalize", idempotent=True)
        )

    def batch_status(self, batch_name: str) -> BatchStatusCounts:
        return BatchStatusCounts.model_validate(
            self._call("GET", f"batches/{quote_path_segment(batch_name)}/status")
        )

    def get_batch(self, batch_name: str) -> Batch:
        return Batch.model_validate(self._call("GET", f"batches/{quote_path_segment(batch_name)}"))

    def set_batch_metadata(self, batch_name: str, metadata: Mapping[str, Any]) -> Batch:
        return Batch.model_validate(
            self._call("POST", f"batches/{quote_path_segment(batch_name)}/setMetadata", body=dict(metadata),
                       send_body=True, idempotent=True)
        )

    def batch_job(self, batch_name: str) -> ScaleBatchJob:
        """The batch as a job handle (``wait()``, ``cancel()``, ``url``)."""
        return ScaleBatchJob(self, batch_name)

    def get_batches(
        self,
        *,
        project: str | None = None,
        status: BatchStatus | str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        exclude_archived: bool = False,
    ) -> Iterator[Batch]:
        """Lazily iterate batches (offset paging, as the SDK does)."""
        query = {"project": project, "status": _value(status), "start_time": created_after,
                 "end_time": created_before, "exclude_archived": exclude_archived}

        def fetch(offset: int | None) -> tuple[list[Batch], int | None]:
            page = BatchPage.model_validate(self._call("GET", "batches", params={**query, "offset": offset or 0}))
            return page.docs, (page.offset + page.limit if page.has_more and page.docs else None)

        return paginate(fetch)

    # -- projects ---------------------------------------------------------------------------------
    def create_project(
        self,
        project_name: str,
        task_type: TaskType | str,
        params: Mapping[str, Any] | None = None,
        rapid: bool = False,
        studio: bool = False,
        dataset_id: str | None = None,
    ) -> Project:
        body = {"type": task_type_value(task_type), "name": project_name,
                "params": dict(params) if params is not None else None, "rapid": rapid, "studio": studio,
                "datasetId": dataset_id}
        return Project.model_validate(self._call("POST", "projects", body=body, idempotent=True))

    def get_or_create_project(self, project_name: str, task_type: TaskType | str,
                              params: Mapping[str, Any] | None = None, **kwargs: Any) -> tuple[Project, bool]:
        """Create the project, or return the existing one of that name (``created`` is False then).

        Safe when many runs arrive at once: project names are unique on Scale, so one create wins and the others
        are answered 409 and fetch it. An existing project of another task type is an :class:`InvalidInput`.
        """
        kind = task_type_value(task_type)
        try:
            return self.create_project(project_name, kind, params, **kwargs), True
        except ScaleDuplicateResource:
            project = self.get_project(project_name)
            if project.type != kind:
                raise InvalidInput(
                    f"Scale project {project_name!r} already exists with task type {project.type!r}, not {kind!r}. "
                    "Project names are unique per account: choose another name.",
                    field="project",
                ) from None
            return project, False

    def get_project(self, project_name: str) -> Project:
        return Project.model_validate(self._call("GET", f"projects/{quote_path_segment(project_name)}"))

    def get_projects(self) -> list[Project]:
        return [Project.model_validate(p) for p in self._call("GET", "projects")]

    def update_project(self, project_name: str, **params: Any) -> Project:
        """Create a new params version of the project (``patch=True`` keeps unspecified params)."""
        return Project.model_validate(
            self._call("POST", f"projects/{quote_path_segment(project_name)}/setParams", body=params,
                       send_body=True)
        )

    def get_project_template(self, project_name: str) -> TaskTemplate:
        return TaskTemplate.model_validate(
            self._call("GET", f"projects/{quote_path_segment(project_name)}/taskTemplates")
        )

    # -- files ------------------------------------------------------------------------------------
    def upload_file(self, file: str | os.PathLike[str] | IO[bytes], **fields: Any) -> File:
        """Upload a local file (streamed from disk) to Scale storage; ``fields`` go as form fields."""
        if isinstance(file, (str, os.PathLike)):
            path = os.fspath(file)
            if not os.path.isfile(path):
                raise InvalidInput(f"upload_file: no such file {path!r}.", field="file")
            with open(path, "rb") as handle:
                return self._upload(handle, os.path.basename(path), fields)
        # As requests names a part: the object's ``name`` unless missing or like "<stdin>", else the field name.
        name = getattr(file, "name", None)
        if isinstance(name, str) and name and not (name.startswith("<") and name.endswith(">")):
            return self._upload(file, os.path.basename(name), fields)
        return self._upload(file, "file", fields)

    def _upload(self, handle: IO[bytes], filename: str, fields: Mapping[str, Any]) -> File:
        data = {k: str(_value(v)) for k, v in fields.items() if v is not None}
        return File.model_validate(
            self._call("POST", "files/upload", files={"file": (filename, handle)}, data=data)
        )

    def import_file(self, file_url: str, **fields: Any) -> File:
        return File.model_validate(self._call("POST", "files/import", body={"file_url": file_url, **fields}))

    # -- quality tasks ----------------------------------------------------------------------------
    def create_evaluation_task(self, task_type: TaskType | str, **payload: Any) -> QualityTask:
        return QualityTask.model_validate(
            self._call("POST", f"evaluation_tasks/{task_type_value(task_type)}", body=payload)
        )

    def create_training_task(self, task_type: TaskType | str, **payload: Any) -> QualityTask:
        return QualityTask.model_validate(
            self._call("POST", f"training_tasks/{task_type_value(task_type)}", body=payload)
        )

    # -- teams ------------------------------------------------------------------------------------
    def list_teammates(self) -> list[Teammate]:
        return [Teammate.model_validate(t) for t in self._call("GET", "teams")]

    def invite_teammates(self, emails: Sequence[str], role: TeammateRole | str) -> list[Teammate]:
        body = {"emails": list(emails), "team_role": _value(role)}
        return [Teammate.model_validate(t) for t in self._call("POST", "teams/invite", body=body, idempotent=True)]

    def update_teammates_role(self, emails: Sequence[str], role: TeammateRole | str) -> list[Teammate]:
        body = {"emails": list(emails), "team_role": _value(role)}
        return [Teammate.model_validate(t) for t in self._call("POST", "teams/set_role", body=body, idempotent=True)]

    # -- studio -----------------------------------------------------------------------------------
    def list_studio_assignments(self) -> dict[str, list[str]]:
        return dict(self._call("GET", "studio/assignments"))

    def add_studio_assignments(self, emails: Sequence[str], projects: Sequence[str]) -> dict[str, list[str]]:
        return dict(self._call("POST", "studio/assignments/add",
                               body={"emails": list(emails), "projects": list(projects)}, idempotent=True))

    def remove_studio_assignments(self, emails: Sequence[str], projects: Sequence[str]) -> dict[str, list[str]]:
        return dict(self._call("POST", "studio/assignments/remove",
                               body={"emails": list(emails), "projects": list(projects)}, idempotent=True))

    def list_project_groups(self, project: str) -> list[StudioProjectGroup]:
        return [StudioProjectGroup.model_validate(g)
                for g in self._call("GET", f"studio/projects/{quote_path_segment(project)}/groups")]

    def create_project_group(self, project: str, emails: Sequence[str], project_group: str) -> StudioProjectGroup:
        return StudioProjectGroup.model_validate(
            self._call("POST", f"studio/projects/{quote_path_segment(project)}/groups",
                       body={"emails": list(emails), "name": project_group})
        )

    def update_project_group(
        self, project: str, project_group: str, add_emails: Sequence[str] = (), remove_emails: Sequence[str] = ()
    ) -> StudioProjectGroup:
        return StudioProjectGroup.model_validate(
            self._call("PUT",
                       f"studio/projects/{quote_path_segment(project)}/groups/{quote_path_segment(project_group)}",
                       body={"add_emails": list(add_emails), "remove_emails": list(remove_emails)})
        )

    def list_studio_batches(self) -> list[StudioBatch]:
        return [StudioBatch.model_validate(b) for b in self._call("GET", "studio/batches")]

    def assign_studio_batches(self, batch_name: str, project_groups: Sequence[str]) -> StudioBatch:
        return StudioBatch.model_validate(
            self._call("PUT", f"studio/batches/{quote_path_segment(batch_name)}",
                       body={"groups": list(project_groups)})
        )

    def set_studio_batches_priorities(self, batch_names: Sequence[str]) -> list[StudioBatch]:
        """Order pending studio batches; every pending batch must be listed."""
        body = {"batches": [{"name": n} for n in batch_names]}
        return [StudioBatch.model_validate(b)
                for b in self._call("POST", "studio/batches/set_priorities", body=body, idempotent=True)]

    def reset_studio_batches_priorities(self) -> list[StudioBatch]:
        return [StudioBatch.model_validate(b)
                for b in self._call("POST", "studio/batches/reset_priorities", idempotent=True)]
