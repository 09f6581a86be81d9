"""A typed client for the Argilla 2.x REST API (``/api/v1``), as the ``argilla`` SDK speaks it.

Adds what a pipeline needs: explicit timeouts, safe retries, typed errors with the server's ``detail``,
dataset creation that leaves nothing half-made, idempotent record upserts in chunks of at most 500
(keyed by ``external_id``) with bounded fan-out, lazy paging, and annotation progress as a job handle.

>>> from dagster_labeling.testing import EmulatorServer
>>> with EmulatorServer() as server, ArgillaClient("emulator-key", api_url=server.platform_url("argilla")) as c:
...     c.me().username
'argilla'
"""

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from dagster_labeling._core import (
    BulkProgress,
    HttpTransport,
    InvalidInput,
    JobHandle,
    JobState,
    JobStatus,
    LabelingError,
    RetryPolicy,
    Timeouts,
    Unauthorized,
    check_base_url,
    mask_url,
    quote_path_segment,
    run_bulk,
)
from dagster_labeling._core.client import HeaderAuth, PlatformClient
from dagster_labeling._core.links import public_root
from dagster_labeling.argilla.errors import (
    ArgillaConflictError,
    ArgillaUnprocessableEntityError,
    argilla_error_class,
    argilla_error_message,
)
from dagster_labeling.argilla.models import (
    WEBHOOK_EVENTS,
    WORKSPACE_NAME_PATTERN,
    Dataset,
    DatasetProgress,
    FieldInfo,
    Question,
    Record,
    RecordInput,
    ResponseStatus,
    Settings,
    User,
    UserProgress,
    Webhook,
    Workspace,
)

DEFAULT_API_URL = "http://localhost:6900"
MAX_RECORDS_PER_UPSERT = 500
MAX_PAGE_SIZE = 1000
MAX_IDS_PER_DELETE = 100
MAX_INVALID_LISTED = 20
MAX_DATASET_NAME_LENGTH = 200
INCLUDE_DEFAULT = ("responses", "suggestions")


def stable_external_id(fields: Mapping[str, Any]) -> str:
    """A deterministic id from a record's fields (used when no ``external_id`` is given).

    >>> stable_external_id({"a": 1}) == stable_external_id({"a": 1})
    True
    """
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return "sha256-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def response_status_filter(*statuses: ResponseStatus | str, question: str | None = None) -> dict[str, Any]:
    """A search filter: records with a response in one of ``statuses``.

    >>> response_status_filter("submitted")["scope"]
    {'entity': 'response', 'question': None, 'property': 'status'}
    """
    values = [s.value if isinstance(s, ResponseStatus) else str(s) for s in statuses]
    return {"type": "terms", "values": values, "scope": {"entity": "response", "question": question,
                                                         "property": "status"}}


def terms_filter(entity: str, values: Sequence[Any], **scope: Any) -> dict[str, Any]:
    """A terms filter, e.g. ``terms_filter("record", ["completed"], property="status")`` or
    ``terms_filter("metadata", ["web"], metadata_property="source")``."""
    return {"type": "terms", "values": list(values), "scope": {"entity": entity, **scope}}


def range_filter(entity: str, *, ge: float | None = None, le: float | None = None, **scope: Any) -> dict[str, Any]:
    """A range filter, e.g. ``range_filter("suggestion", question="label", property="score", le=0.6)``."""
    return {"type": "range", "ge": ge, "le": le, "scope": {"entity": entity, **scope}}


def _check_dataset_name(name: str) -> None:
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_DATASET_NAME_LENGTH:
        raise InvalidInput(f"dataset name {name!r} must be 1 to {MAX_DATASET_NAME_LENGTH} characters.",
                           field="name")


def _settings_wire(settings: Settings) -> list[tuple[str, dict[str, Any]]]:
    """(endpoint, body) of each field, question, vector and metadata property, in the SDK's order."""
    out: list[tuple[str, dict[str, Any]]] = [("fields", f.to_wire()) for f in settings.fields]
    out += [("questions", q.to_wire()) for q in settings.questions]
    out += [("vectors-settings", v.to_wire()) for v in settings.vectors]
    for m in settings.metadata:
        wire = m.to_wire()
        wire["settings"] = {"visible_for_annotators": wire["visible_for_annotators"], **wire["settings"]}
        out.append(("metadata-properties", wire))
    return out


@dataclass
class UpsertResult:
    """Outcome of :meth:`ArgillaClient.upsert_records`: record ids by ``external_id``, and failed chunks."""

    records: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return len(self.records)


class ArgillaProgressJob(JobHandle):
    """Annotation progress of a dataset as a job: done = completed records; SUCCEEDED once
    ``completed / total >= target_fraction``. Nothing to cancel (annotators just stop seeing it)."""

    kind = "Argilla annotation"

    def __init__(self, client: "ArgillaClient", dataset_id: str, *, target_fraction: float = 1.0) -> None:
        super().__init__(dataset_id, url=client.dataset_url(dataset_id))
        self.client = client
        self.target_fraction = target_fraction

    def fetch_status(self) -> JobStatus:
        p = self.client.progress(self.id)
        if p.total and p.completed / p.total >= self.target_fraction:
            state = JobState.SUCCEEDED
        else:
            state = JobState.RUNNING if p.completed else JobState.PENDING
        return JobStatus(state, f"{p.completed}/{p.total} completed", p.completed, p.total,
                         details={"pending": p.pending})

    def cancel_remote(self) -> None:
        """Human annotation has no remote job to cancel; the records stay in Argilla."""


class ArgillaClient(PlatformClient):
    """Argilla 2.x client. ``api_url`` is the server root (``http://localhost:6900``), as for ``rg.Argilla``.

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        api_key: str,
        *,
        api_url: str = DEFAULT_API_URL,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int = 8,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise InvalidInput("Argilla api_key is empty: set it (e.g. dg.EnvVar('ARGILLA_API_KEY')).",
                               field="api_key")
        root = api_url.rstrip("/") if isinstance(api_url, str) else api_url
        check_base_url("Argilla", root)  # a bad api_url is reported as given, before /api/v1 is added
        self.api_url = mask_url(root)  # shown in reprs: credentials written into it masked
        # Argilla serves its UI on the API's origin (the emulator too): links drop credentials and query.
        self._ui_root = public_root(root)
        self.max_concurrency = max_concurrency
        self._http = HttpTransport(
            platform="Argilla",
            base_url=f"{root}/api/v1",
            auth=HeaderAuth({"X-Argilla-Api-Key": api_key}),  # as the SDK sends it
            secrets=[api_key],
            timeouts=timeouts,
            retry=retry,
            max_connections=max(max_concurrency, 4),
            error_class_for=argilla_error_class,
            error_message_for=argilla_error_message,
            transport=transport,
        )
        self._me: User | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ArgillaClient(api_url={self.api_url!r})"

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        return response.json() if response.content else None

    def dataset_url(self, dataset: "Dataset | str") -> str:
        """The dataset's page in the Argilla UI, on the server's origin (the emulator serves one too)."""
        dataset_id = dataset.id if isinstance(dataset, Dataset) else dataset
        return f"{self._ui_root}/dataset/{quote_path_segment(str(dataset_id))}/annotation-mode"

    # -- users and workspaces ---------------------------------------------------------------------
    def me(self) -> User:
        """The user of the API key (also a connection check)."""
        user = User.model_validate(self._json("GET", "me"))
        self._me = user
        return user

    def _my_id(self) -> str:
        with self._lock:
            if self._me is None:
                self._me = User.model_validate(self._json("GET", "me"))
            return self._me.id

    def list_users(self) -> list[User]:
        """All users (owner/admin keys only)."""
        return [User.model_validate(u) for u in self._json("GET", "users")["items"]]

    def usernames(self) -> dict[str, str]:
        """User id → username (only the key's own user if it may not list users)."""
        try:
            return {u.id: u.username for u in self.list_users()}
        except Unauthorized:
            me = self.me()
            return {me.id: me.username}

    def list_workspaces(self) -> list[Workspace]:
        return [Workspace.model_validate(w) for w in self._json("GET", "me/workspaces")["items"]]

    def get_workspace(self, name: str) -> Workspace | None:
        """The workspace named ``name``, or None."""
        return next((w for w in self.list_workspaces() if w.name == name), None)

    def create_workspace(self, name: str) -> Workspace:
        """Create a workspace (names: letters, digits, ``_`` and ``-``)."""
        if not isinstance(name, str) or not WORKSPACE_NAME_PATTERN.match(name):
            raise InvalidInput(f"workspace name {name!r} is invalid: use letters, digits, '_' and '-' only.",
                               field="workspace")
        try:
            return Workspace.model_validate(self._json("POST", "workspaces", json_body={"name": name},
                                                       idempotent=True))  # a repeat answers 409: fetched
        except ArgillaConflictError:
            existing = self.get_workspace(name)  # a retried POST that had in fact succeeded
            if existing is None:
                raise
            return existing

    def resolve_workspace(self, name: str | None, *, create: bool = False) -> Workspace:
        """The named workspace (created if ``create``), or the first one when ``name`` is None."""
        if name is None:
            workspaces = self.list_workspaces()
            if not workspaces:
                raise InvalidInput("the API key's user has no workspace; pass workspace=... to create one.",
                                   field="workspace")
            return workspaces[0]
        found = self.get_workspace(name)
        if found is not None:
            return found
        if create:
            return self.create_workspace(name)
        raise InvalidInput(f"workspace {name!r} does not exist (or this user is not a member); create it or "
                           "set create_workspace=True.", field="workspace")

    # -- datasets ---------------------------------------------------------------------------------
    def list_datasets(self, workspace: str | None = None) -> list[Dataset]:
        """Datasets visible to the user, optionally only those of one workspace (by name)."""
        items = [Dataset.model_validate(d) for d in self._json("GET", "me/datasets")["items"]]
        if workspace is None:
            return items
        ws = self.get_workspace(workspace)
        return [] if ws is None else [d for d in items if d.workspace_id == ws.id]

    def get_dataset(self, name: str, workspace: str | None = None) -> Dataset | None:
        """The dataset named ``name`` (in ``workspace`` if given), or None."""
        return next((d for d in self.list_datasets(workspace) if d.name == name), None)

    def get_dataset_by_id(self, dataset_id: str) -> Dataset:
        return Dataset.model_validate(self._json("GET", f"datasets/{dataset_id}"))

    def delete_dataset(self, dataset: Dataset | str) -> None:
        dataset_id = dataset.id if isinstance(dataset, Dataset) else dataset
        self._http.request("DELETE", f"datasets/{dataset_id}")

    def list_fields(self, dataset_id: str) -> list[FieldInfo]:
        return [FieldInfo.model_validate(f) for f in self._json("GET", f"datasets/{dataset_id}/fields")["items"]]

    def list_questions(self, dataset_id: str) -> list[Question]:
        return [Question.model_validate(q) for q in self._json("GET", f"datasets/{dataset_id}/questions")["items"]]

    def publish_dataset(self, dataset_id: str) -> Dataset:
        return Dataset.model_validate(self._json("PUT", f"datasets/{dataset_id}/publish"))

    def create_dataset(
        self, name: str, settings: Settings, *, workspace: str | None = None, create_workspace: bool = False
    ) -> Dataset:
        """Create and publish a dataset: POST, PATCH settings, one POST per field/question/vector/metadata,
        publish. A taken name is :class:`ArgillaConflictError`. If any step fails the draft is deleted, so
        nothing half-made is left behind. (To get-or-create, safely from many runs at once, use
        :meth:`ensure_dataset`.)"""
        _check_dataset_name(name)
        ws = self.resolve_workspace(workspace, create=create_workspace)
        draft = Dataset.model_validate(
            self._json("POST", "datasets", json_body={"name": name, "workspace_id": ws.id}))
        try:
            return self._complete_draft(draft, settings)
        except BaseException:
            try:
                self.delete_dataset(draft.id)
            except LabelingError:
                pass  # best effort; the original error is what matters
            raise

    def ensure_dataset(
        self, name: str, settings: Settings, *, workspace: str | None = None, create_workspace: bool = False
    ) -> Dataset:
        """The published dataset ``name``, created if missing: safe to call from many runs at once and to retry.

        Argilla keeps dataset names unique per workspace, so a create that lost a race (or a retried create
        whose first attempt landed) answers 409 and the existing dataset is used. A draft (being set up by a
        concurrent run, or left by one that died) is completed, never deleted: each field, question, vector
        and metadata property is created unless it exists (409), and the dataset is published unless it is.
        An existing published dataset must have the settings' question names, else :class:`InvalidInput`.
        """
        _check_dataset_name(name)
        existing = self.get_dataset(name, workspace)  # None too when the workspace does not exist yet
        if existing is None:
            ws = self.resolve_workspace(workspace, create=create_workspace)
            try:
                existing = Dataset.model_validate(self._json(
                    "POST", "datasets", json_body={"name": name, "workspace_id": ws.id}, idempotent=True))
            except ArgillaConflictError:
                existing = self.get_dataset(name, ws.name)
                if existing is None:
                    raise
        if existing.status != "ready":
            return self._complete_draft(existing, settings)
        have = {q.name for q in self.list_questions(existing.id)}
        want = {q.name for q in settings.questions}
        if not want <= have:
            raise InvalidInput(f"dataset {name!r} exists without questions {sorted(want - have)}; use another "
                               "dataset name or delete the dataset.", field="dataset_name")
        return existing

    def _complete_draft(self, draft: Dataset, settings: Settings) -> Dataset:
        """Give a draft the settings and publish it; every step may be repeated (by a retry or another run)."""
        self._json("PATCH", f"datasets/{draft.id}", json_body={
            "id": draft.id, "name": draft.name, "guidelines": settings.guidelines,
            "allow_extra_metadata": settings.allow_extra_metadata,
            "distribution": {"strategy": "overlap", "min_submitted": settings.min_submitted},
        }, idempotent=True)
        for kind, body in _settings_wire(settings):
            try:
                self._json("POST", f"datasets/{draft.id}/{kind}", json_body={**body, "dataset_id": draft.id},
                           idempotent=True)
            except ArgillaConflictError:
                pass  # created by a concurrent run, or by this request's attempt whose answer was lost
            except ArgillaUnprocessableEntityError:
                published = self.get_dataset_by_id(draft.id)
                if published.status == "ready":  # a concurrent run created everything and published it
                    return published
                raise
        try:
            return self.publish_dataset(draft.id)
        except ArgillaUnprocessableEntityError:
            published = self.get_dataset_by_id(draft.id)
            if published.status == "ready":  # published by a concurrent run, or by a retried attempt
                return published
            raise

    # -- records ----------------------------------------------------------------------------------
    def _record_to_wire(
        self, rec: RecordInput, questions: Mapping[str, Question], settings: Settings | None,
        field_names: set[str], required_fields: set[str], where: str,
    ) -> dict[str, Any]:
        unknown = set(rec.fields) - field_names
        if unknown:
            raise InvalidInput(f"{where}: unknown field(s) {sorted(unknown)}; the dataset's fields are "
                               f"{sorted(field_names)}.", field="fields")
        missing = {f for f in required_fields if rec.fields.get(f) in (None, "")}
        if missing:
            raise InvalidInput(f"{where}: required field(s) {sorted(missing)} are empty.", field="fields")
        suggestions = []
        for s in rec.suggestions:
            q = questions.get(s.question)
            if q is None:
                raise InvalidInput(f"{where}: suggestion for unknown question {s.question!r}; questions: "
                                   f"{sorted(questions)}.", field="suggestions")
            value = self._check_value(q, s.value, settings, where)
            item: dict[str, Any] = {"question_id": q.id, "value": value, "type": s.type, "agent": s.agent}
            if s.score is not None:
                item["score"] = s.score
            suggestions.append(item)
        responses = []
        for r in rec.responses:
            values = {}
            for qname, v in r.values.items():
                q = questions.get(qname)
                if q is None:
                    raise InvalidInput(f"{where}: response to unknown question {qname!r}.", field="responses")
                values[qname] = {"value": self._check_value(q, v, settings, where)}
            responses.append({"values": values, "status": ResponseStatus(r.status).value,
                              "user_id": r.user_id or self._my_id()})
        wire: dict[str, Any] = {
            "fields": rec.fields, "metadata": rec.metadata, "vectors": rec.vectors,
            "responses": responses, "suggestions": suggestions,
            "external_id": rec.external_id or stable_external_id(rec.fields),
        }
        if rec.id:
            wire["id"] = rec.id
        return wire

    @staticmethod
    def _check_value(q: Question, value: Any, settings: Settings | None, where: str) -> Any:
        if settings is not None:
            try:
                spec = settings.question(q.name)
            except InvalidInput:
                spec = None
            if spec is not None:
                return spec.check_value(value, where=where)
        options = q.option_values
        if q.type in ("rating", "label_selection") and options and value not in options:
            kind = "rating" if q.type == "rating" else "label"
            raise InvalidInput(f"{where}: {kind} {value!r} is not among the options of question {q.name!r} "
                               f"({options}); use one of them.", field=q.name)
        if q.type == "multi_label_selection" and options:
            values = [value] if isinstance(value, str) else list(value)
            bad = [v for v in values if v not in options]
            if bad:
                raise InvalidInput(f"{where}: label(s) {bad} are not among the options of question {q.name!r} "
                                   f"({options}).", field=q.name)
            return values
        return value

    def upsert_records(
        self,
        dataset: Dataset | str,
        records: Iterable[RecordInput | Mapping[str, Any]],
        *,
        settings: Settings | None = None,
        batch_size: int = MAX_RECORDS_PER_UPSERT,
        concurrency: int | None = None,
        on_progress: Callable[[BulkProgress], None] | None = None,
    ) -> UpsertResult:
        """Create or update records (matched by ``external_id``) in requests of at most 500.

        Every record is validated first (fields, suggestion and response values against the dataset's
        questions), so bad input sends nothing. Chunks go out ``concurrency`` at a time; a failed chunk is
        reported in ``failures`` (re-running is safe: it updates what was created).
        """
        dataset_id = dataset.id if isinstance(dataset, Dataset) else dataset
        if not 1 <= batch_size <= MAX_RECORDS_PER_UPSERT:
            raise InvalidInput(f"batch_size must be 1 to {MAX_RECORDS_PER_UPSERT}, got {batch_size}.",
                               field="batch_size")
        questions = {q.name: q for q in self.list_questions(dataset_id)}
        fields = self.list_fields(dataset_id)
        field_names = {f.name for f in fields}
        required = {f.name for f in fields if f.required}
        items: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        invalid: list[InvalidInput] = []
        for i, rec in enumerate(records):
            try:
                rec = rec if isinstance(rec, RecordInput) else RecordInput.model_validate(rec)
                wire = self._record_to_wire(rec, questions, settings, field_names, required, f"record {i}")
                ext = wire["external_id"]
                if ext in seen:
                    raise InvalidInput(f"record {i}: external_id {ext!r} repeats record {seen[ext]}; every record "
                                       "needs a distinct external_id (it is what makes re-runs update, not "
                                       "duplicate).", field="external_id")
            except InvalidInput as exc:
                invalid.append(exc)
                continue
            seen[ext] = i
            items.append(wire)
        if invalid:
            listed = "\n".join(f"  - {exc}" for exc in invalid[:MAX_INVALID_LISTED])
            more = f"\n  - and {len(invalid) - MAX_INVALID_LISTED} more" if len(invalid) > MAX_INVALID_LISTED else ""
            raise InvalidInput(f"{len(invalid)} invalid record(s); nothing was sent:\n{listed}{more}",
                               field=invalid[0].field)
        chunks = [(f"chunk-{n}", items[s:s + batch_size]) for n, s in enumerate(range(0, len(items), batch_size))]
        result = UpsertResult(requests=len(chunks))
        if not chunks:
            return result

        def send(key: str, chunk: list[dict[str, Any]]) -> list[tuple[str, str]]:
            body = self._json("PUT", f"datasets/{dataset_id}/records/bulk", json_body={"items": chunk})
            return [(r.get("external_id") or r["id"], r["id"]) for r in body["items"]]  # ids only: cheap

        bulk = run_bulk(chunks, send, concurrency=concurrency or self.max_concurrency, on_progress=on_progress,
                        progress_every=10)
        for recs in bulk.created.values():
            result.records.update(recs)
        result.failures = {k: f"{f.error_type}: {f.message}" for k, f in bulk.failures.items()}
        return result

    def _page(self, method: str, path: str, include: Sequence[str], offset: int, limit: int,
              body: Any = None) -> list[dict[str, Any]]:
        params: list[tuple[str, str]] = [("offset", str(offset)), ("limit", str(limit))]
        params += [("include", i) for i in include]
        data = self._json(method, path, params=params, json_body=body, idempotent=True)
        return data["items"]

    def list_records(
        self, dataset_id: str, *, include: Sequence[str] = INCLUDE_DEFAULT, page_size: int = MAX_PAGE_SIZE,
        limit: int | None = None,
    ) -> Iterator[Record]:
        """All records, lazily, ``page_size`` (≤ 1000) per request, with responses and suggestions."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"page_size must be 1 to {MAX_PAGE_SIZE}.", field="page_size")
        offset, yielded = 0, 0
        while True:
            items = self._page("GET", f"datasets/{dataset_id}/records", include, offset, page_size)
            for item in items:
                if limit is not None and yielded >= limit:
                    return
                yield Record.model_validate(item)
                yielded += 1
            if len(items) < page_size:
                return
            offset += len(items)

    def search_records(
        self, dataset_id: str, *, filters: Sequence[Mapping[str, Any]] = (), text: str | None = None,
        include: Sequence[str] = INCLUDE_DEFAULT, page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[Record]:
        """Records matching every filter (see :func:`response_status_filter`, :func:`terms_filter`,
        :func:`range_filter`) and the optional full-text ``text``."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidInput(f"page_size must be 1 to {MAX_PAGE_SIZE}.", field="page_size")
        if len(filters) > 50:
            raise InvalidInput("at most 50 filters.", field="filters")
        body = {"query": {"text": {"q": text, "field": None}, "vector": None} if text else None,
                "filters": {"type": "and", "and": [dict(f) for f in filters]} if filters else None}
        offset = 0
        while True:
            items = self._page("POST", f"datasets/{dataset_id}/records/search", include, offset, page_size, body)
            for item in items:
                yield Record.model_validate(item["record"])
            if len(items) < page_size:
                return
            offset += len(items)

    def delete_records(self, dataset_id: str, record_ids: Sequence[str]) -> int:
        """Delete records by id (≤ 100 per request); returns how many ids were sent."""
        ids = list(record_ids)
        for start in range(0, len(ids), MAX_IDS_PER_DELETE):
            chunk = ids[start:start + MAX_IDS_PER_DELETE]
            self._http.request("DELETE", f"datasets/{dataset_id}/records", params={"ids": ",".join(chunk)})
        return len(ids)

    def add_response(self, record_id: str, values: Mapping[str, Any], *,
                     status: ResponseStatus | str = ResponseStatus.SUBMITTED, user_id: str | None = None) -> Any:
        """Add one response to a record (``values``: question name → value)."""
        body = {"values": {k: {"value": v} for k, v in values.items()}, "status": ResponseStatus(status).value,
                "user_id": user_id or self._my_id()}
        return self._json("POST", f"records/{record_id}/responses", json_body=body)

    # -- progress ---------------------------------------------------------------------------------
    def progress(self, dataset_id: str) -> DatasetProgress:
        """Records total / completed / pending."""
        return DatasetProgress.model_validate(self._json("GET", f"datasets/{dataset_id}/progress"))

    def users_progress(self, dataset_id: str) -> list[UserProgress]:
        """Per annotator: responses by status on completed and pending records."""
        data = self._json("GET", f"datasets/{dataset_id}/users/progress")
        return [UserProgress.model_validate(u) for u in data["users"]]

    def progress_job(self, dataset_id: str, *, target_fraction: float = 1.0) -> ArgillaProgressJob:
        """Annotation progress as a job handle (``wait()`` until ``target_fraction`` of records are completed)."""
        if not 0 < target_fraction <= 1:
            raise InvalidInput("target_fraction must be in (0, 1].", field="target_fraction")
        return ArgillaProgressJob(self, dataset_id, target_fraction=target_fraction)

    # -- webhooks ---------------------------------------------------------------------------------
    @staticmethod
    def _check_events(events: Sequence[str]) -> list[str]:
        events = list(events)
        bad = [e for e in events if e not in WEBHOOK_EVENTS]
        if not events or bad or len(set(events)) != len(events):
            raise InvalidInput(f"webhook events must be distinct and among {list(WEBHOOK_EVENTS)}; got {events}.",
                               field="events")
        return events

    def create_webhook(self, url: str, events: Sequence[str], *, description: str | None = None) -> Webhook:
        """Register a webhook; the returned ``secret`` (shown only now) verifies its signatures."""
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"webhook url must be http(s), got {url!r}.", field="url")
        body = {"url": url, "events": self._check_events(events), "description": description}
        return Webhook.model_validate(self._json("POST", "webhooks", json_body=body))

    def list_webhooks(self) -> list[Webhook]:
        return [Webhook.model_validate(w) for w in self._json("GET", "webhooks")["items"]]

    def update_webhook(self, webhook_id: str, *, url: str | None = None, events: Sequence[str] | None = None,
                       enabled: bool | None = None, description: str | None = None) -> Webhook:
        body: dict[str, Any] = {}
        if url is not None:
            body["url"] = url
        if events is not None:
            body["events"] = self._check_events(events)
        if enabled is not None:
            body["enabled"] = enabled
        if description is not None:
            body["description"] = description
        return Webhook.model_validate(self._json("PATCH", f"webhooks/{webhook_id}", json_body=body,
                                                 idempotent=True))

    def delete_webhook(self, webhook_id: str) -> None:
        self._http.request("DELETE", f"webhooks/{webhook_id}")

    def ping_webhook(self, webhook_id: str) -> None:
        """Ask the server to send a ``ping`` event to the webhook."""
        self._http.request("POST", f"webhooks/{webhook_id}/ping")
