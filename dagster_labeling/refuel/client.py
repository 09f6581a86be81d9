"""A typed client for the Refuel Cloud API (what the ``refuel`` SDK's ``RefuelClient`` covers).

It speaks the SDK's wire format (Bearer auth, ``Content-Type: application/json`` on every call but the
upload, arguments in the query string, ``True``/``False`` booleans, repeated keys for lists, JSON-encoded
filters) and adds what a pipeline needs: explicit timeouts, retries of idempotent calls and of 429s, typed
errors (a 200 with ``success: false`` raises :class:`RefuelSoftError`), validation before sending,
concurrent paging that never drops a page, rate-limited DataFrame labeling that reports failed rows, and
task runs, exports and fine-tunes as job handles.

>>> from dagster_labeling.testing import EmulatorServer
>>> with EmulatorServer() as server:
...     server.platform("refuel").ensure_project("demo")["project_name"]
...     with RefuelClient("emulator-key", project="demo", base_url=server.platform_url("refuel")) as refuel:
...         [p.project_name for p in refuel.get_projects()]
'demo'
['demo']
"""

import concurrent.futures as cf
import csv
import io
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pandas as pd

from dagster_labeling._core import (
    BulkFailure,
    HttpTransport,
    InvalidInput,
    NotFound,
    RateLimiter,
    RetryPolicy,
    Timeouts,
    WaitOptions,
    encode_query,
    mask,
    quote_path_segment,
    run_bulk,
)
from dagster_labeling._core.client import HeaderAuth, PlatformClient
from dagster_labeling._core.links import link_root
from dagster_labeling._core.rows import InvalidRows
from dagster_labeling._core.transport import default_error_message
from dagster_labeling.refuel.errors import RefuelNotFound, RefuelSoftError, refuel_error_class
from dagster_labeling.refuel.frames import frame_items, long_cells
from dagster_labeling.refuel.handles import RefuelExport, RefuelFinetune, RefuelTaskRun
from dagster_labeling.refuel.models import (
    Application,
    CatalogApp,
    Dataset,
    FinetunedModel,
    LabelOutput,
    Project,
    Task,
    TaskField,
    TaskRun,
    WebhookEventResult,
)
from dagster_labeling.refuel.validation import (
    LLM_MODELS,
    RESERVED_COLUMNS,
    build_subtasks,
    format_filters,
    format_order_by,
    read_csv_checked,
    validate_columns,
    validate_finetune,
)

DEFAULT_BASE_URL = "https://cloud-api.refuel.ai"
DEFAULT_APP_URL = "https://app.refuel.ai"
#: Where the emulator serves its stand-in web app, beside the API (``http://127.0.0.1:8765/refuel/app``).
EMULATOR_APP_PATH = "app"
APP_CATALOG_PROJECT_ID = "fb327444-e5ad-4808-88c9-4dc1ea8f086b"
#: The keys ``POST /webhook/events`` requires (``WebhookEventRequest`` in Refuel's OpenAPI document).
WEBHOOK_EVENT_KEYS = ("event_type", "event_category", "payload")

PAGES_PER_CHUNK = 32
"""Pages of items turned into one DataFrame at a time while a large fetch runs (bounds CPU and peak memory)."""


def is_uuid(value: str) -> bool:
    """True when ``value`` is UUID-shaped (the SDK then uses it as an id, not a name)."""
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def timestamp(value: Any) -> float:
    """An ISO 8601 ``created_at`` as epoch seconds (a naive one is UTC); 0.0 when absent or unreadable."""
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def creation_order(record: Mapping[str, Any]) -> tuple[float, str]:
    """The order that makes one of several same-named objects canonical: oldest ``created_at``, then ``id``."""
    return timestamp(record.get("created_at")), str(record.get("id"))


@dataclass
class LabelingResult:
    """The outcome of :meth:`RefuelClient.label_dataframe`: labeled rows, and every row that failed, by index."""

    labels: pd.DataFrame
    failures: dict[Any, BulkFailure] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures


def _item_rows(items: Sequence[Any], task: Task | None) -> list[dict[str, Any]]:
    """Items of a page as rows; with a task, each field's label as ``<field>_llm_label``, ``_confidence`` and
    ``_confirmed_label`` columns."""
    if task is None:
        return list(items)
    names = {s.id: s.name for s in task.subtasks}
    rows = []
    for item in items:
        row = dict(item.get("fields") or {})
        labels = item.get("labels") or []
        entries = labels.items() if isinstance(labels, dict) else ((e.get("id"), e) for e in labels)
        for sid, entry in entries:
            name = names.get(sid, sid)
            entry = entry or {}
            row[f"{name}_llm_label"] = entry.get("llm_label")
            row[f"{name}_confidence"] = entry.get("confidence")
            row[f"{name}_confirmed_label"] = entry.get("label")
        rows.append(row)
    return rows


def _empty_columns(dataset_columns: Sequence[str], task: Task | None) -> list[str]:
    """The columns of an empty result: the dataset's, plus each task field's label columns."""
    columns = ["refuel_uuid", *dataset_columns]
    for s in task.subtasks if task is not None else ():
        columns += [f"{s.name}_llm_label", f"{s.name}_confidence", f"{s.name}_confirmed_label"]
    return columns


def app_root(base_url: str, app_url: str | None = None) -> str:
    """The web app the client links to: ``app_url`` if set; else derived from ``base_url``.

    The real app for the real API and for any proxy; for the emulator (a loopback host) the emulator's pages
    on the same server.

    >>> app_root("http://127.0.0.1:8765/refuel"), app_root(DEFAULT_BASE_URL)
    ('http://127.0.0.1:8765/refuel/app', 'https://app.refuel.ai')
    """
    return link_root(base_url, app_url, real_root=DEFAULT_APP_URL, local_path=EMULATOR_APP_PATH)


class RefuelClient(PlatformClient):
    """Typed client for the Refuel Cloud API. Use as a context manager, or call :meth:`close`.

    ``app_url`` is the root of the links it makes (:meth:`task_url`, :meth:`dataset_url`); by default it follows
    ``base_url`` (see :func:`app_root`). Set it when the API sits behind a proxy and the app is elsewhere than
    https://app.refuel.ai.

    ``max_workers`` bounds concurrent page fetches; ``label_concurrency`` and ``label_rate_per_minute``
    bound DataFrame labeling (Refuel publishes 100 concurrent and 300/min on the label endpoint).
    ``settle_seconds`` is how far Refuel's ``created_at`` clock may lag its ``Date`` clock: a dataset or task
    that several runs may create at once is used only once it is that old (see :mod:`.containers`).
    """

    def __init__(
        self,
        api_key: str,
        *,
        project: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        app_url: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        max_workers: int = 8,
        label_concurrency: int = 100,
        label_rate_per_minute: int | None = 300,
        page_size: int = 100,
        settle_seconds: float = 5.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not api_key:
            raise InvalidInput("Refuel api_key is empty. Set it from the environment, e.g. "
                               "RefuelResource(api_key=dg.EnvVar('REFUEL_API_KEY')).", field="api_key")
        for name, value in (("max_workers", max_workers), ("label_concurrency", label_concurrency),
                            ("page_size", page_size)):
            if value < 1:
                raise InvalidInput(f"{name} must be at least 1, got {value}.", field=name)
        self.max_workers = max_workers
        self.label_concurrency = label_concurrency
        self.page_size = page_size
        if settle_seconds < 0:
            raise InvalidInput(f"settle_seconds must be >= 0, got {settle_seconds}.", field="settle_seconds")
        self.settle_seconds = settle_seconds
        self.label_limiter = RateLimiter(label_rate_per_minute, 60.0)
        self._sleep = sleep
        self._http = HttpTransport(
            platform="Refuel", base_url=base_url, auth=HeaderAuth({"Authorization": f"Bearer {api_key}"}),
            secrets=[api_key],
            timeouts=timeouts, retry=retry, max_connections=max(max_workers, label_concurrency),
            error_class_for=refuel_error_class, error_message_for=default_error_message, transport=transport,
            sleep=sleep,
        )
        #: Root of the web app links (resolved: never None).
        self.app_url = app_root(base_url, app_url)
        self._api_key = api_key
        self._project_arg = project
        self._project_id: str | None = None
        self._ids: dict[tuple[str, str, str], str] = {}

    def __repr__(self) -> str:
        return (f"RefuelClient(base_url={self._http.base_url!r}, project={self._project_arg!r}, "
                f"api_key={mask(self._api_key)})")

    def task_url(self, task_id: str) -> str:
        """The task's page in the Refuel web app."""
        return f"{self.app_url}/tasks/{quote_path_segment(task_id)}"

    def dataset_url(self, dataset_id: str) -> str:
        """The dataset's page in the Refuel web app."""
        return f"{self.app_url}/datasets/{quote_path_segment(dataset_id)}"

    # -- plumbing ---------------------------------------------------------------------------------
    def _response(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None,
                  data: Mapping[str, Any] | None = None, files: Any = None, idempotent: bool | None = None
                  ) -> httpx.Response:
        form = files is not None or data is not None
        return self._http.request(
            method, path, params=encode_query(params, true="True", false="False") if params else None,
            json_body=body, data=data, files=files, idempotent=idempotent,
            headers=None if form else {"Content-Type": "application/json"},
        )

    def _envelope(self, method: str, path: str, response: httpx.Response) -> Any:
        try:
            payload = response.json()
        except ValueError:
            return None
        if isinstance(payload, dict) and payload.get("success") is False:
            message = self._http.redactor.redact(str(payload.get("error_msg") or "success: false"))
            raise RefuelSoftError(f"Refuel {method} {path}: {message}", platform="Refuel", method=method,
                                  path=path, status_code=response.status_code, body=payload)
        return payload

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send and return the envelope's ``data`` (raising on error statuses and ``success: false``)."""
        payload = self._envelope(method, path, self._response(method, path, **kwargs))
        return payload.get("data") if isinstance(payload, dict) and "success" in payload else payload

    # -- resolution -------------------------------------------------------------------------------
    @property
    def project_id(self) -> str:
        """The session's project id (resolved from a name once)."""
        if self._project_id is None:
            if not self._project_arg:
                raise InvalidInput("No project set: pass project= (a name or id) to the client or resource.",
                                   field="project")
            self._project_id = self._resolve_project(self._project_arg)
        return self._project_id

    def _resolve(self, kind: str, value: str, lister: Callable[[], list[dict[str, Any]]], key: str) -> str:
        if is_uuid(value):
            return value
        cache_key = (kind, self._project_id or "", value)
        if cache_key in self._ids:
            return self._ids[cache_key]
        matches = sorted((item for item in lister() if item.get(key) == value), key=creation_order)
        if matches:  # names are not unique on Refuel: the oldest is the one (see containers.py)
            self._ids[cache_key] = str(matches[0]["id"])
            return self._ids[cache_key]
        raise RefuelNotFound(f"No {kind} with name={value!r} found.", platform="Refuel", method="GET", path=kind,
                             status_code=404)

    def _resolve_project(self, project: str) -> str:
        return self._resolve("project", project, lambda: self._call("GET", "projects") or [], "project_name")

    def dataset_id(self, dataset: str) -> str:
        """A dataset's id from its name or id."""
        return self._resolve("dataset", dataset, lambda: self._call("GET", "datasets",
                                                                    params={"project_id": self.project_id}) or [],
                             "dataset_name")

    def remember(self, kind: str, name: str, object_id: str) -> None:
        """Resolve ``name`` (a dataset or task) to ``object_id`` from now on in this client."""
        self._ids[(kind, self._project_id or "", name)] = object_id

    def sleep(self, seconds: float) -> None:
        """Wait (the ``sleep`` the client was built with)."""
        self._sleep(seconds)

    def named(self, kind: str, name: str) -> tuple[list[dict[str, Any]], float]:
        """Every dataset or task (``kind``) called ``name``, oldest first (:func:`creation_order`), and a time on
        Refuel's clock no later than the moment the list was read: the answer's ``Date`` less the request's
        round trip (this machine's clock when the answer has no ``Date``)."""
        if kind == "dataset":
            path, params, key = "datasets", {"project_id": self.project_id}, "dataset_name"
        elif kind == "task":
            path, params, key = f"projects/{self.project_id}/tasks", {"project_id": self.project_id}, "task_name"
        else:
            raise ValueError(f"kind must be 'dataset' or 'task', got {kind!r}")
        started, sent_at = time.monotonic(), time.time()
        response = self._response("GET", path, params=params)
        round_trip = time.monotonic() - started
        payload = self._envelope("GET", path, response)
        listed = payload.get("data") if isinstance(payload, dict) else payload
        try:
            server_now = parsedate_to_datetime(response.headers["date"]).timestamp() - round_trip
        except (KeyError, TypeError, ValueError):
            server_now = sent_at
        return sorted((item for item in listed or [] if item.get(key) == name), key=creation_order), server_now

    def task_id(self, task: str) -> str:
        pid = self.project_id
        return self._resolve("task", task, lambda: self._call("GET", f"projects/{pid}/tasks",
                                                              params={"project_id": pid}) or [], "task_name")

    def application_id(self, application: str) -> str:
        if is_uuid(application):
            return application
        catalog = self._call("GET", f"projects/{APP_CATALOG_PROJECT_ID}/applications") or []
        hit = next((a for a in catalog if a.get("name") == application), None)
        if hit:
            return str(hit["id"])
        pid = self.project_id
        return self._resolve("application", application,
                             lambda: self._call("GET", f"projects/{pid}/applications") or [], "name")

    def catalog_app_id(self, catalog_app: str) -> str:
        """A catalog app's id from its ``app_name`` or id."""
        return self._resolve("catalog app", catalog_app, lambda: self._call("GET", "app_catalog") or [], "app_name")

    # -- projects ---------------------------------------------------------------------------------
    def get_projects(self) -> list[Project]:
        return [Project.model_validate(p) for p in self._call("GET", "projects") or []]

    def get_project(self, project: str) -> Project:
        return Project.model_validate(self._call("GET", f"projects/{self._resolve_project(project)}"))

    def create_project(self, project: str, description: str = "") -> Project:
        data = self._call("POST", "projects", params={"project_name": project, "description": description})
        return Project.model_validate(data[0] if isinstance(data, list) else data)

    # -- datasets ---------------------------------------------------------------------------------
    def get_datasets(self) -> list[Dataset]:
        return [Dataset.from_api(d) for d in self._call("GET", "datasets", params={"project_id": self.project_id})
                or []]

    def get_dataset(self, dataset: str) -> Dataset:
        return Dataset.from_api(self._call("GET", f"datasets/{self.dataset_id(dataset)}"))

    def upload_dataset(
        self,
        data: "pd.DataFrame | str | os.PathLike[str]",
        dataset_name: str,
        *,
        wait_for_completion: bool = False,
        wait: WaitOptions | None = None,
    ) -> Dataset:
        """Create a dataset from a DataFrame or a CSV file (multipart upload); optionally wait for ingestion.

        A CSV file is uploaded as it is (Refuel reads every cell as text). A DataFrame keeps its types: the whole
        frame is validated first (see :mod:`~dagster_labeling.refuel.frames`), the upload carries its header only,
        and once that is ingested the rows are appended as JSON items, so ``1`` stays an int, ``""`` stays ``""``
        and a missing cell stays missing. A DataFrame upload therefore always waits for ingestion.
        """
        if not dataset_name:
            raise InvalidInput("dataset_name is empty.", field="dataset_name")
        if not isinstance(data, pd.DataFrame):
            ds = self._upload_file(dataset_name, os.path.basename(os.fspath(data)), read_csv_checked(data))
            return self.wait_for_ingestion(ds.id, wait) if wait_for_completion else ds
        validate_columns(list(data.columns))
        items = frame_items(data, where=f"Refuel dataset {dataset_name!r}")
        ds = self.wait_for_ingestion(self.create_empty_dataset(dataset_name, list(data.columns)).id, wait)
        if items:
            self._post_items(ds.id, items)
        return ds

    def create_empty_dataset(self, dataset_name: str, columns: Sequence[str]) -> Dataset:
        """Create a dataset with these columns and no rows (its upload is a CSV header); rows come by
        :meth:`add_items`. It is ``processing`` until ingested (:meth:`wait_for_ingestion`)."""
        names = validate_columns(list(columns))
        header = io.StringIO()
        csv.writer(header).writerow(names)
        return self._upload_file(dataset_name, f"{dataset_name}.csv", header.getvalue().encode())

    def _upload_file(self, dataset_name: str, filename: str, content: bytes) -> Dataset:
        raw = self._call("POST", f"projects/{self.project_id}/datasets",
                         data={"name": dataset_name, "source": "file"},
                         files={"file": (filename, content, "text/csv")})
        ds = Dataset.from_api(raw)
        self._ids[("dataset", self._project_id or "", dataset_name)] = ds.id
        return ds

    def upload_dataset_from_uri(self, uri: str, dataset_name: str, *, wait_for_completion: bool = False,
                                wait: WaitOptions | None = None) -> Dataset:
        """Ingest a dataset from a URI Refuel can read (e.g. an S3 presigned URL)."""
        if not uri or "://" not in uri:
            raise InvalidInput(f"uri must be a URL Refuel can fetch (e.g. https://… or s3://…), got {uri!r}.",
                               field="uri")
        raw = self._call("POST", f"projects/{self.project_id}/datasets",
                         data={"name": dataset_name, "source": "uri", "source_path": uri})
        ds = Dataset.from_api(raw)
        return self.wait_for_ingestion(ds.id, wait) if wait_for_completion else ds

    def wait_for_ingestion(self, dataset: str, wait: WaitOptions | None = None) -> Dataset:
        """Poll until ingestion is ``success`` (raise on ``failed`` or timeout)."""
        from dagster_labeling._core import JobFailed, JobTimeout

        opts = wait or WaitOptions(timeout_seconds=900, poll_interval_seconds=0.5, max_poll_interval_seconds=30)
        did = self.dataset_id(dataset)
        started, interval = time.monotonic(), opts.poll_interval_seconds
        while True:
            ds = Dataset.from_api(self._call("GET", f"datasets/{did}"))
            if ds.ingest_status == "success":
                return ds
            if ds.ingest_status == "failed":
                raise JobFailed(f"Refuel dataset {did} ingestion failed.", job_id=did, state="FAILED",
                                raw_status="failed", url=self.dataset_url(did))
            if opts.timeout_seconds is not None and time.monotonic() - started > opts.timeout_seconds:
                raise JobTimeout(f"Refuel dataset {did} still {ds.ingest_status!r} after {opts.timeout_seconds} s.",
                                 job_id=did, timeout_name=opts.timeout_name,
                                 timeout_seconds=float(opts.timeout_seconds), url=self.dataset_url(did))
            self._sleep(interval)
            interval = min(opts.max_poll_interval_seconds, interval * opts.poll_backoff)

    def add_items(self, dataset: str, items: "pd.DataFrame | Sequence[Mapping[str, Any]]") -> int:
        """Append rows as JSON items (types kept, missing cells left out). A DataFrame's columns must equal the
        dataset's schema, an item's keys must be in it, and no cell may exceed ``MAX_CELL_CHARS`` (all checked
        first, naming the columns and rows)."""
        ds = self.get_dataset(dataset)
        if isinstance(items, pd.DataFrame):
            validate_columns(list(items.columns))
            rows = frame_items(items, where=f"Items for Refuel dataset {ds.name!r}")
            row_cols = [list(items.columns)]
        else:
            rows = [dict(r) for r in items]
            row_cols = [list(r) for r in rows]
            too_long = long_cells(rows, list(range(len(rows))))
            if too_long:
                raise InvalidRows(f"Items for Refuel dataset {ds.name!r}", too_long)
        schema = [c for c in ds.columns if c not in RESERVED_COLUMNS]
        for i, cols in enumerate(row_cols):
            extra = sorted(set(cols) - set(schema))
            missing = sorted(set(schema) - set(cols))
            if extra or (missing and isinstance(items, pd.DataFrame)):  # an item may leave a missing cell out
                where = "the DataFrame" if isinstance(items, pd.DataFrame) else f"item {i}"
                raise InvalidInput(
                    f"Columns of {where} differ from dataset {ds.name!r}'s schema {schema}: "
                    f"not in the schema {extra}, missing {missing}. The schema is fixed at upload.",
                    field="items")
        if not rows:
            return 0
        self._post_items(ds.id, rows)
        return len(rows)

    def _post_items(self, dataset_id: str, rows: list[dict[str, Any]]) -> None:
        self._call("POST", f"datasets/{dataset_id}/items", body=rows)

    def delete_dataset(self, dataset: str) -> None:
        did = self.dataset_id(dataset)
        self._call("DELETE", f"datasets/{did}")
        self._ids = {k: v for k, v in self._ids.items() if v != did}

    # -- exports ----------------------------------------------------------------------------------
    def start_export(self, dataset: str, email_address: str, *, task: str | None = None) -> RefuelExport:
        """Start an export (Refuel also emails the link); returns a handle to poll for the signed URL."""
        if not email_address or "@" not in email_address:
            raise InvalidInput(f"email_address must be a team member's email, got {email_address!r}.",
                               field="email_address")
        did = self.dataset_id(dataset)
        params: dict[str, Any] = {"dataset_id": did, "email_address": email_address}
        if task:
            params.update(task_id=self.task_id(task), include_labels=True)
        data = self._call("POST", f"datasets/{did}/exports", params=params)
        return RefuelExport(self, did, str(data["export_id"]))

    def get_export_url(self, dataset: str, export_id: str) -> str | None:
        """The signed URL, or None while the export is in progress (Refuel answers 404 or 202)."""
        did = self.dataset_id(dataset)
        try:
            response = self._response("GET", f"datasets/{did}/exports/{quote_path_segment(export_id)}")
        except NotFound:
            return None
        if response.status_code == 202:
            return None
        data = self._envelope("GET", "exports", response)
        url = data.get("data") if isinstance(data, dict) else data
        return str(url) if url else None

    def download(self, url: str, path: "str | os.PathLike[str] | None" = None) -> "str | pd.DataFrame":
        """Stream a signed export URL to ``path`` (returns the path) or, without a path, into a DataFrame."""
        timeout = self._http.timeouts.to_httpx()
        with httpx.Client(timeout=timeout, follow_redirects=True) as plain:  # no Authorization, as the SDK
            with plain.stream("GET", url) as response:
                if response.status_code != 200:
                    response.read()
                    raise self._http.error_from_response("GET", "<signed export url>", response)
                if path is None:
                    return pd.read_csv(io.BytesIO(response.read()))
                tmp = f"{os.fspath(path)}.part"
                with open(tmp, "wb") as fh:
                    for chunk in response.iter_bytes(1 << 16):
                        fh.write(chunk)
                os.replace(tmp, path)
                return os.fspath(path)

    # -- items ------------------------------------------------------------------------------------
    def get_items(
        self,
        dataset: str,
        *,
        max_items: int | None = 20,
        offset: int = 0,
        filters: Sequence[Mapping[str, Any]] = (),
        order_by: Sequence[Mapping[str, Any]] = (),
        task: str | None = None,
    ) -> pd.DataFrame:
        """Items as a DataFrame; with ``task``, plus ``<field>_llm_label``, ``<field>_confidence`` and
        ``<field>_confirmed_label`` per field. Pages are fetched concurrently (``max_workers``); a page that
        still fails after retries raises, so the result is never silently partial. ``max_items=None``: all.
        """
        if offset < 0 or (max_items is not None and max_items < 0):
            raise InvalidInput("offset and max_items must be >= 0.", field="max_items")
        ds = self.get_dataset(dataset)
        task_obj = self.get_task(task) if task else None
        params: dict[str, Any] = {
            "dataset_id": ds.id, "offset": offset, "max_items": 0,
            "filters": format_filters(filters, ds.columns, task_obj),
            "order_bys": format_order_by(order_by, ds.columns, task_obj), "expand": "true",
        }
        path = f"datasets/{ds.id}"
        if task_obj is not None:
            params["task_id"] = task_obj.id
            path = f"tasks/{task_obj.id}/datasets/{ds.id}"
        probe = self._call("GET", path, params={**params, "offset": 0})
        total = int((probe or {}).get("total_count") or 0)
        available = max(0, total - offset)
        n = available if max_items is None else min(max_items, available)
        starts = list(range(offset, offset + n, self.page_size))

        def fetch(start: int) -> list[dict[str, Any]]:
            size = min(self.page_size, offset + n - start)
            page = self._call("GET", path, params={**params, "offset": start, "max_items": size})
            return _item_rows((page or {}).get("items") or [], task_obj)

        rows: list[dict[str, Any]] = []
        chunks: list[pd.DataFrame] = []
        with cf.ThreadPoolExecutor(max_workers=max(1, min(self.max_workers, len(starts)))) as pool:
            for page_number, page_rows in enumerate(pool.map(fetch, starts), 1):  # in order; a failed page raises
                rows += page_rows
                if page_number % PAGES_PER_CHUNK == 0:  # one DataFrame per chunk of pages: less CPU and memory
                    chunks.append(pd.DataFrame(rows))
                    rows = []
        if rows:
            chunks.append(pd.DataFrame(rows))
        if not chunks:
            return pd.DataFrame(columns=_empty_columns(ds.columns, task_obj))
        return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]

    def count_items(self, dataset: str, *, filters: Sequence[Mapping[str, Any]] = (), task: str | None = None) -> int:
        """How many items match the filters (one request after the lookups)."""
        ds = self.get_dataset(dataset)
        task_obj = self.get_task(task) if task else None
        params: dict[str, Any] = {"dataset_id": ds.id, "offset": 0, "max_items": 0,
                                  "filters": format_filters(filters, ds.columns, task_obj), "expand": "true"}
        path = f"datasets/{ds.id}"
        if task_obj is not None:
            params["task_id"] = task_obj.id
            path = f"tasks/{task_obj.id}/datasets/{ds.id}"
        return int((self._call("GET", path, params=params) or {}).get("total_count") or 0)


    # -- tasks ------------------------------------------------------------------------------------
    def get_tasks(self) -> list[Task]:
        pid = self.project_id
        return [Task.model_validate(t) for t in self._call("GET", f"projects/{pid}/tasks",
                                                           params={"project_id": pid}) or []]

    def delete_task(self, task: str) -> None:
        """Delete a task and its runs (``DELETE /tasks/{id}``, in Refuel's API reference; the SDK has no call)."""
        tid = self.task_id(task)
        self._call("DELETE", f"tasks/{tid}")
        self._ids = {k: v for k, v in self._ids.items() if v != tid}

    def get_task(self, task: str) -> Task:
        return Task.model_validate(self._call("GET", f"tasks/{self.task_id(task)}"))

    def create_task(self, task: str, dataset: str, context: str,
                    fields: Sequence[Mapping[str, Any] | TaskField], model: str | None = None) -> Task:
        """Define a task; fields are validated against the dataset's columns before anything is sent."""
        if not task:
            raise InvalidInput("task (the task name) is empty.", field="task")
        if not context:
            raise InvalidInput("context is empty; describe the domain, e.g. 'You are an expert at …'.",
                               field="context")
        model_id = None
        if model is not None:
            if model not in LLM_MODELS:
                raise InvalidInput(f"Unknown model {model!r}; use one of {sorted(LLM_MODELS)}.", field="model")
            model_id = LLM_MODELS[model]
        ds = self.get_dataset(dataset)
        subtasks, transforms = build_subtasks(fields, [c for c in ds.columns if c not in RESERVED_COLUMNS])
        body: dict[str, Any] = {"context": context, "subtasks": subtasks, "dataset_id": ds.id, "model": model_id,
                                "task_type": "task_chain"}
        if transforms:
            body["transforms"] = transforms
        raw = self._call("POST", f"projects/{self.project_id}/tasks", params={"task_name": task}, body=body)
        created = Task.model_validate(raw)
        self._ids[("task", self._project_id or "", task)] = created.id
        return created

    # -- task runs --------------------------------------------------------------------------------
    def start_task_run(self, task: str, dataset: str, *, num_items: int | None = None) -> RefuelTaskRun:
        """Start labeling the dataset (or ``num_items`` of it); returns a job handle (``.wait()``)."""
        if num_items is not None and num_items < 1:
            raise InvalidInput(f"num_items must be at least 1, got {num_items}.", field="num_items")
        tid, did = self.task_id(task), self.dataset_id(dataset)
        self._call("POST", f"tasks/{tid}/runs", params={"task_id": tid, "dataset_id": did, "num_items": num_items})
        return RefuelTaskRun(self, tid, did)

    def task_run(self, task: str, dataset: str) -> RefuelTaskRun:
        """A handle on an existing run (e.g. from a sensor), without starting anything."""
        return RefuelTaskRun(self, self.task_id(task), self.dataset_id(dataset))

    def cancel_task_run(self, task: str, dataset: str) -> None:
        """Ask Refuel to stop the run (retried like a read: cancelling a cancelled run changes nothing)."""
        tid, did = self.task_id(task), self.dataset_id(dataset)
        self._call("POST", f"tasks/{tid}/runs", params={"task_id": tid, "dataset_id": did, "cancel_run": True},
                   idempotent=True)

    def get_task_run(self, task: str, dataset: str) -> TaskRun:
        """Status plus metrics (``num_labeled``, ``num_remaining``, elapsed and remaining seconds)."""
        tid, did = self.task_id(task), self.dataset_id(dataset)
        params = {"task_id": tid, "dataset_id": did}
        run = self._call("GET", f"tasks/{tid}/runs/{did}", params=params) or {}
        metrics = (self._call("GET", f"tasks/{tid}/runs/{did}/metrics", params=params) or {}).get("task") or []
        flat = {m.get("name"): m.get("value") for m in metrics if isinstance(m, dict)}
        return TaskRun.model_validate({**run, "metrics": metrics, **{
            k: flat.get(k) for k in ("num_labeled", "num_remaining", "time_elapsed_seconds", "time_remaining_seconds")
        }})

    # -- applications -----------------------------------------------------------------------------
    def get_applications(self) -> list[Application]:
        return [Application.model_validate(a) for a in
                self._call("GET", f"projects/{self.project_id}/applications") or []]

    def get_application(self, application: str) -> Application:
        return Application.model_validate(self._call("GET", f"applications/{self.application_id(application)}"))

    def deploy_task(self, task: str, application_name: str | None = None) -> Application:
        tid = self.task_id(task)
        raw = self._call("POST", f"projects/{self.project_id}/applications",
                         params={"task_id": tid, "application_name": application_name or task})
        return Application.model_validate(raw)

    def get_catalog_apps(self) -> list[CatalogApp]:
        """Refuel's catalog of ready-made applications (needs no project); import one with :meth:`import_app`."""
        return [CatalogApp.model_validate(a) for a in self._call("GET", "app_catalog") or []]

    def import_app(self, catalog_app: str, application_name: str | None = None) -> Application:
        """Copy a catalog app (``app_name`` or id) into the project as an application.

        It is named ``application_name``, by default ``catalog_app`` as given (as the SDK names it).
        """
        if not catalog_app or not catalog_app.strip():
            raise InvalidInput("catalog_app is empty; pass a catalog app's app_name or id (see get_catalog_apps()).",
                               field="catalog_app")
        if application_name is not None and not application_name.strip():
            raise InvalidInput("application_name is empty; pass a name, or None to name the app after catalog_app.",
                               field="application_name")
        pid = self.project_id
        raw = self._call("POST", f"projects/{pid}/applications",
                         params={"catalog_id": self.catalog_app_id(catalog_app),
                                 "application_name": application_name or catalog_app})
        return Application.model_validate(raw)

    def _label_params(self, aid: str, explain: bool, explain_fields: Sequence[str] | None, telemetry: bool,
                      model_id: str | None, is_async: bool = False) -> dict[str, Any]:
        params: dict[str, Any] = {"application_id": aid, "explain": explain, "telemetry": telemetry,
                                  "explain_fields": ";".join(explain_fields) if explain_fields else None,
                                  "model_id": LLM_MODELS.get(model_id, model_id) if model_id else None}
        if is_async:
            params["is_async"] = True
        return params

    def label(self, application: str, inputs: Sequence[Mapping[str, Any]], *, explain: bool = False,
              explain_fields: Sequence[str] | None = None, telemetry: bool = False,
              model_id: str | None = None) -> list[LabelOutput]:
        """Label inputs synchronously (one request each, as the SDK); raises if any input fails.

        For many rows use :meth:`label_dataframe`, which bounds concurrency and rate and reports failures.
        """
        aid = self.application_id(application)
        params = self._label_params(aid, explain, explain_fields, telemetry, model_id)

        def one(item: Mapping[str, Any]) -> LabelOutput:
            return self._label_one(aid, params, item)

        if len(inputs) <= 1:
            return [one(i) for i in inputs]
        with cf.ThreadPoolExecutor(max_workers=min(self.label_concurrency, len(inputs))) as pool:
            return list(pool.map(one, inputs))

    def _label_one(self, aid: str, params: Mapping[str, Any], item: Mapping[str, Any]) -> LabelOutput:
        self.label_limiter.acquire()
        data = self._call("POST", f"applications/{aid}/label", params=params, body=[dict(item)])
        outputs = (data or {}).get("refuel_output") or []
        if not outputs:
            raise RefuelSoftError("Refuel returned no refuel_output for the input.", platform="Refuel",
                                  method="POST", path=f"applications/{aid}/label", status_code=200)
        return LabelOutput.model_validate(outputs[0])

    def label_dataframe(
        self,
        application: str,
        df: pd.DataFrame,
        *,
        input_columns: Sequence[str] | None = None,
        explain: bool = False,
        telemetry: bool = False,
        concurrency: int | None = None,
        rate_per_minute: int | None = -1,
        retry_failed_rows: int = 0,
    ) -> LabelingResult:
        """Label every row through a deployed application: bounded concurrency, client-side rate limit.

        The result has the input columns plus ``refuel_uuid`` and ``<field>_label``/``<field>_confidence``
        (and ``<field>_explanation`` with ``explain``); rows that failed are in ``failures`` by index.
        ``rate_per_minute=-1`` uses the client's limiter, ``None`` turns limiting off. Label requests are
        billable and carry no idempotency key, so a row whose request failed after being sent (5xx, dropped
        connection) is only re-sent in up to ``retry_failed_rows`` extra rounds when you opt in.
        """
        cols = list(input_columns) if input_columns is not None else list(df.columns)  # names checked below
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise InvalidInput(f"input_columns {missing} are not columns of the DataFrame {list(df.columns)}.",
                               field="input_columns")
        if not df.index.is_unique:
            raise InvalidInput("The DataFrame index must be unique: failures are reported by index.", field="df")
        records = frame_items(df[cols], where=f"Rows to label with {application!r}", max_cell_chars=False)
        limiter = self.label_limiter if rate_per_minute == -1 else RateLimiter(rate_per_minute, 60.0)
        aid = self.application_id(application)
        params = self._label_params(aid, explain, None, telemetry, None)
        index = list(df.index)
        by_key = {str(k): k for k in index}

        def submit(key: str, item: dict[str, Any]) -> LabelOutput:
            limiter.acquire()
            data = self._call("POST", f"applications/{aid}/label", params=params, body=[item])
            outputs = (data or {}).get("refuel_output") or []
            if not outputs or not outputs[0].get("refuel_uuid"):
                raise RefuelSoftError("no labeled output", platform="Refuel", method="POST",
                                      path="applications/label", status_code=200)
            return LabelOutput.model_validate(outputs[0])

        result = run_bulk(((str(k), r) for k, r in zip(index, records, strict=True)), submit,
                          concurrency=concurrency or self.label_concurrency)
        by_str = dict(zip((str(k) for k in index), records, strict=True))
        for _ in range(max(0, retry_failed_rows)):
            if not result.failures:
                break
            again = run_bulk(((k, by_str[k]) for k in result.failures), submit,
                             concurrency=concurrency or self.label_concurrency)
            result.created.update(again.created)
            result.failures = again.failures
        rows: list[dict[str, Any]] = []
        for key in (str(k) for k in index):
            out = result.created.get(key)
            row: dict[str, Any] = {"refuel_uuid": out.refuel_uuid if out else None}
            for name, fo in (out.refuel_fields.items() if out else []):
                label = fo.label
                row[f"{name}_label"] = label[0] if isinstance(label, list) and len(label) == 1 else label
                row[f"{name}_confidence"] = fo.confidence
                if explain:
                    row[f"{name}_explanation"] = fo.explanation
            rows.append(row)
        labels = pd.DataFrame(rows, index=df.index)
        out_df = pd.concat([df, labels], axis=1)
        failures = {by_key[k]: f for k, f in result.failures.items()}
        return LabelingResult(out_df, failures)

    def alabel(self, application: str, inputs: Sequence[Mapping[str, Any]], *, explain: bool = False,
               explain_fields: Sequence[str] | None = None, telemetry: bool = False,
               model_id: str | None = None) -> list[LabelOutput]:
        """Submit inputs for async labeling (one request); returns stubs with ``refuel_uuid`` and ``uri``."""
        if not inputs:
            raise InvalidInput("inputs is empty.", field="inputs")
        aid = self.application_id(application)
        self.label_limiter.acquire()
        data = self._call("POST", f"applications/{aid}/label", body=[dict(i) for i in inputs],
                          params=self._label_params(aid, explain, explain_fields, telemetry, model_id, True))
        return [LabelOutput.model_validate(o) for o in (data or {}).get("refuel_output") or []]

    def get_labeled_item(self, application: str, refuel_uuid: str) -> LabelOutput | None:
        """The labeled item, or None while it is still processing (202)."""
        aid = self.application_id(application)
        response = self._response("GET", f"applications/{aid}/items/{quote_path_segment(refuel_uuid)}")
        if response.status_code == 202:
            return None
        payload = self._envelope("GET", "applications/items", response)
        outputs = ((payload or {}).get("data") or {}).get("refuel_output") or []
        return LabelOutput.model_validate(outputs[0]) if outputs else None

    def wait_for_labeled_items(self, application: str, refuel_uuids: Iterable[str], *, timeout_seconds: float = 300,
                               poll_interval_seconds: float = 0.5) -> dict[str, LabelOutput]:
        """Poll until every async item is labeled; raises JobTimeout naming those still pending."""
        from dagster_labeling._core import JobTimeout

        pending = list(refuel_uuids)
        done: dict[str, LabelOutput] = {}
        started = time.monotonic()
        while pending:
            still = []
            for uid in pending:
                out = self.get_labeled_item(application, uid)
                if out is None:
                    still.append(uid)
                else:
                    done[uid] = out
            pending = still
            if pending:
                if time.monotonic() - started > timeout_seconds:
                    raise JobTimeout(f"{len(pending)} async item(s) still processing after {timeout_seconds} s: "
                                     f"{pending[:5]}", job_id=pending[0], timeout_name="timeout_seconds",
                                     timeout_seconds=timeout_seconds, url=None)
                self._sleep(poll_interval_seconds)
        return done

    def feedback(self, application: str, refuel_uuid: str, labels: Mapping[str, Any]) -> None:
        """Log corrected labels for a labeled item (``{field name: label}``), one request per field."""
        app = self.get_application(application)
        ids = {s.name: s.id for s in app.subtasks}
        unknown = sorted(set(labels) - set(ids))
        if unknown or not labels:
            raise InvalidInput(f"feedback fields {unknown or '(none)'} are not fields of application {app.name!r}: "
                               f"{sorted(ids)}.", field="labels")
        for name, value in labels.items():
            self._call("POST", f"applications/{app.id}/items/{quote_path_segment(refuel_uuid)}/label",
                       body={ids[name]: {"label": value}})

    # -- fine-tuning ------------------------------------------------------------------------------
    def finetune_model(self, task: str, base_model: str, *, hyperparameters: Mapping[str, Any] | None = None,
                       datasets: Sequence[str] | None = None) -> RefuelFinetune:
        """Start fine-tuning ``base_model`` on a task's data (validated first); returns a job handle."""
        model, hp = validate_finetune(base_model, hyperparameters)
        tid = self.task_id(task)
        body = {"project_id": self.project_id, "task_id": tid, "max_training_rows": None, "lora": True,
                "base_model": model, "augmented_finetuning_model": False, "hyperparameters": hp,
                "datasets": [self.dataset_id(d) for d in datasets] if datasets else None}
        data = self._call("POST", f"projects/{self.project_id}/finetuned_models", body=body)
        return RefuelFinetune(self, str(data["id"]), tid)

    def get_finetuned_models(self, task: str | None = None) -> list[FinetunedModel]:
        params = {"task_id": self.task_id(task) if task else None}
        return [FinetunedModel.model_validate(m) for m in
                self._call("GET", f"projects/{self.project_id}/finetuned_models", params=params) or []]

    def finetune(self, model_id: str, task: str | None = None) -> RefuelFinetune:
        """A handle on an existing fine-tuning run."""
        return RefuelFinetune(self, model_id, self.task_id(task) if task else None)

    def cancel_finetuning(self, model_id: str) -> FinetunedModel:
        data = self._call("PATCH", f"finetuned_models/{quote_path_segment(model_id)}",
                          body={"model_id": model_id, "finetuning_run_status": "INTERRUPTED"}, idempotent=True)
        return FinetunedModel.model_validate(data)

    # -- webhooks ---------------------------------------------------------------------------------
    def send_webhook_event(self, payload: Mapping[str, Any]) -> WebhookEventResult:
        """Post an integration event to Refuel, e.g. ``{"event_type": "s3_file_uploaded", "event_category": "aws",
        "payload": {"dataset", "project", "s3_path", "task"}}``; the answer is not enveloped, and one carrying an
        ``error`` (or a ``status`` of 400 or more) raises :class:`RefuelSoftError`.
        """
        if not isinstance(payload, Mapping):
            raise InvalidInput(f"payload must be a JSON object with keys {list(WEBHOOK_EVENT_KEYS)}, got "
                               f"{type(payload).__name__}.", field="payload")
        missing = [k for k in WEBHOOK_EVENT_KEYS if payload.get(k) in (None, "")]
        if missing:
            raise InvalidInput(f"payload is missing {missing}; a webhook event needs event_type (e.g. "
                               "'s3_file_uploaded'), event_category (e.g. 'aws') and payload (an object).",
                               field=f"payload.{missing[0]}")
        if not isinstance(payload["payload"], Mapping):
            raise InvalidInput(f"payload['payload'] must be an object (the event's details), got "
                               f"{type(payload['payload']).__name__}.", field="payload.payload")
        try:
            json.dumps(payload)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"payload is not JSON-serializable: {exc}. Convert dates and other objects to strings.",
                               field="payload") from exc
        data = self._call("POST", "webhook/events", body=dict(payload))
        result = WebhookEventResult.model_validate(data if isinstance(data, dict) else {})
        if result.error or (result.status is not None and result.status >= 400):
            message = self._http.redactor.redact(str(result.error or f"status {result.status}"))
            raise RefuelSoftError(f"Refuel POST webhook/events: {message}", platform="Refuel", method="POST",
                                  path="webhook/events", status_code=200, body=data)
        return result
