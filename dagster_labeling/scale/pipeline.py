"""DataFrame ↔ Scale batch logic shared by the asset factories and the ops (no Dagster imports).

A DataFrame row becomes one task whose ``unique_id`` is ``<batch name>/<row key>`` (injective, see
:func:`unique_id_for`), so a retry, a re-run or a backfill of the same partition never creates a task twice, and
two different (batch, row) pairs never share a task.
"""

import re
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from dagster_labeling._core import BulkProgress, BulkResult, InvalidInput
from dagster_labeling._core.encoding import dumps, is_missing, plain
from dagster_labeling._core.rows import InvalidRows, RowProblem, RowSpec, key_text, validate_rows
from dagster_labeling._dagster.naming import DIGEST_LENGTH, ID_SEPARATOR, join_id
from dagster_labeling.scale.client import ScaleClient
from dagster_labeling.scale.models import Task

RowToPayload = Callable[[Mapping[str, Any]], Mapping[str, Any]]
SUBMISSION_COLUMNS = ["row_key", "task_id", "unique_id", "batch_name", "status", "error"]
AUDITED_REVIEW_STATUSES = frozenset({"accepted", "fixed"})
#: Payload fields optional on every Scale task type: a mapped column for one of them may have missing cells.
OPTIONAL_TASK_FIELDS = frozenset({"metadata", "tags", "priority", "callback_url"})


def unique_id_for(batch_name: str, row_key: str) -> str:
    """The task's ``unique_id``: ``<batch>/<row key>``, injective (:func:`~dagster_labeling._dagster.naming.join_id`:
    a batch or key holding ``/`` gets a digest suffix, so batch ``x`` key ``y/z`` and batch ``x/y`` key ``z`` differ).

    >>> unique_id_for("reviews__2026-11-01", "r1")
    'reviews__2026-11-01/r1'
    >>> unique_id_for("x", "y/z") != unique_id_for("x/y", "z")
    True
    """
    return join_id(batch_name, row_key)


def row_key_of(batch_name: str, unique_id: str) -> str | None:
    """The row key a :func:`unique_id_for` id was made from (None if the id is not of this batch).

    >>> row_key_of("x", unique_id_for("x", "y/z")), row_key_of("x/y", unique_id_for("x", "y/z"))
    ('y/z', None)
    """
    prefix = batch_name + ID_SEPARATOR
    if not unique_id.startswith(prefix):
        return None
    rest = unique_id[len(prefix):]
    hashed_tail = re.fullmatch(rf"(.*){re.escape(ID_SEPARATOR * 2)}[0-9a-f]{{{DIGEST_LENGTH}}}", rest, re.DOTALL)
    for candidate in (rest, hashed_tail.group(1) if hashed_tail else None):
        if candidate is not None and unique_id_for(batch_name, candidate) == unique_id:
            return candidate
    return None


@dataclass(frozen=True)
class TaskMapping:
    """How a DataFrame row becomes a task payload.

    ``columns`` maps payload fields to DataFrame columns; ``static`` adds constant fields (instruction,
    categories, …); ``row_to_payload`` computes fields from the whole row. Later ones win.

    A mapped column must hold a value in every row, unless its payload field is optional: one of
    :data:`OPTIONAL_TASK_FIELDS` (optional on every Scale task type) or of ``optional_fields``. A missing cell in
    an optional field is left out of that row's task.
    """

    row_key_column: str
    columns: Mapping[str, str] = field(default_factory=dict)
    static: Mapping[str, Any] = field(default_factory=dict)
    row_to_payload: RowToPayload | None = None
    optional_fields: Sequence[str] = ()

    def __post_init__(self) -> None:
        if not self.columns and self.row_to_payload is None and not self.static:
            raise InvalidInput(
                "Give payload_columns (payload field -> column), row_to_payload (row -> payload), or both.",
                field="payload_columns",
            )
        dumps(dict(self.static), where="static_payload")  # refused now, not at the first task

    @property
    def row_spec(self) -> RowSpec:
        """What :func:`~dagster_labeling._core.rows.validate_rows` checks before anything is sent."""
        optional = OPTIONAL_TASK_FIELDS | set(self.optional_fields)
        return RowSpec(key_column=self.row_key_column,
                       required=[c for f, c in self.columns.items() if f not in optional],
                       optional=[c for f, c in self.columns.items() if f in optional])

    def payloads(self, rows: pd.DataFrame, *, where: str) -> list[tuple[str, dict[str, Any]]]:
        """(row key, payload) per row, values as plain JSON (:func:`~dagster_labeling._core.encoding.plain`).

        Every row is checked first; :class:`~dagster_labeling._core.rows.InvalidRows` lists every bad row (and
        every payload ``row_to_payload`` made that cannot be sent), so nothing is sent for a frame that has one.
        """
        validate_rows(rows, self.row_spec, where=where)
        names = [str(c) for c in rows.columns]
        unsendable: dict[str, list[Hashable]] = {}
        out: list[tuple[str, dict[str, Any]]] = []
        for label, values in zip(rows.index, zip(*(rows[c].tolist() for c in names), strict=True), strict=True):
            row = dict(zip(names, values, strict=True))
            payload: dict[str, Any] = dict(self.static)
            payload.update({f: plain(row[c]) for f, c in self.columns.items() if not is_missing(row[c])})
            if self.row_to_payload is not None:
                payload.update(self.row_to_payload({name: _cell(value) for name, value in row.items()}))
                try:
                    dumps(payload, where="the payload")
                except InvalidInput as refused:
                    unsendable.setdefault(str(refused), []).append(label)
            out.append((key_text(row[self.row_key_column]), payload))
        if unsendable:
            raise InvalidRows(where, [
                RowProblem(None, tuple(labels), f"row_to_payload returned {reason.rstrip('.')}|Return JSON values "
                                                "(leave a field out rather than sending NaN).")
                for reason, labels in unsendable.items()])
        return out


def _cell(value: Any) -> Any:
    """A cell as ``row_to_payload`` sees it: None when missing, else its plain JSON value when it has one."""
    if is_missing(value):
        return None
    try:
        return plain(value)
    except InvalidInput:  # not sendable as it is: the function may convert it (its payload is checked)
        return value


@dataclass
class BatchSubmission:
    """What submitting a DataFrame to a batch did."""

    batch_name: str
    batch_url: str
    batch_created: bool
    result: BulkResult[Task]
    row_keys: list[str]

    def frame(self, statuses: Mapping[str, str] | None = None) -> pd.DataFrame:
        """One row per input row: key, task id, unique_id, batch, status (refreshed if given), error."""
        records = []
        succeeded = self.result.succeeded
        for key in self.row_keys:
            uid = unique_id_for(self.batch_name, key)
            task = succeeded.get(uid)
            failure = self.result.failures.get(uid)
            status = "failed" if task is None else (statuses or {}).get(task.task_id, task.status or "pending")
            records.append({
                "row_key": key,
                "task_id": task.task_id if task else None,
                "unique_id": uid,
                "batch_name": self.batch_name,
                "status": status,
                "error": failure.message if failure else None,
            })
        return pd.DataFrame.from_records(records, columns=SUBMISSION_COLUMNS)


def submit_rows_to_batch(
    client: ScaleClient,
    *,
    project: str,
    batch_name: str,
    task_type: str,
    payloads: list[tuple[str, dict[str, Any]]],
    callback_url: str | None = None,
    batch_callback: str = "",
    batch_metadata: Mapping[str, Any] | None = None,
    on_progress: Callable[[BulkProgress], None] | None = None,
) -> BatchSubmission:
    """Create or reuse the batch, then create the missing tasks (resuming past ones)."""
    batch, created = client.get_or_create_batch(project, batch_name, callback=batch_callback,
                                                metadata=dict(batch_metadata or {}))
    keyed = []
    for key, payload in payloads:
        body = dict(payload)
        if callback_url and "callback_url" not in body:
            body["callback_url"] = callback_url
        keyed.append((unique_id_for(batch_name, key), body))
    result = client.create_tasks(task_type, keyed, batch=batch_name, project=project,
                                 resume=not created, on_progress=on_progress)
    return BatchSubmission(batch.name, client.batch_url(batch.name), created, result, [k for k, _ in payloads])


def batch_tasks(client: ScaleClient, batch_name: str, project: str | None = None) -> list[Task]:
    return list(client.get_tasks(batch=batch_name, project=project))


def status_counts(statuses: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted(Counter(statuses.fillna("unknown")).items())}


def is_audited(task: Task) -> bool:
    return (task.customer_review_status or "").lower() in AUDITED_REVIEW_STATUSES or bool(task.audits)


def responses_frame(tasks_by_key: Mapping[str, Task | None]) -> pd.DataFrame:
    """One row per row key: task id, status, review, audited, and the response flattened to columns."""
    base = []
    responses = []
    for key, task in tasks_by_key.items():
        base.append({
            "row_key": key,
            "task_id": task.task_id if task else None,
            "status": task.status if task else "missing",
            "completed_at": task.completed_at if task else None,
            "review_status": task.customer_review_status if task else None,
            "audited": is_audited(task) if task else False,
        })
        resp = task.response if task is not None else None
        responses.append(resp if isinstance(resp, dict) else ({"value": resp} if resp is not None else {}))
    frame = pd.DataFrame.from_records(base, columns=["row_key", "task_id", "status", "completed_at",
                                                     "review_status", "audited"])
    if any(responses):
        flat = pd.json_normalize(responses, sep=".")
        flat.columns = [f"response.{c}" for c in flat.columns]
        frame = pd.concat([frame, flat], axis=1)
    return frame


def collect_responses(client: ScaleClient, submissions: pd.DataFrame, project: str | None = None) -> pd.DataFrame:
    """Fetch the tasks of the batches named in a submission frame and flatten their responses."""
    tasks_by_uid: dict[str, Task] = {}
    for batch_name in submissions["batch_name"].dropna().unique():
        for task in client.get_tasks(batch=str(batch_name), project=project):
            if task.unique_id:
                tasks_by_uid[task.unique_id] = task
    by_key = {str(row.row_key): tasks_by_uid.get(str(row.unique_id)) for row in submissions.itertuples()}
    return responses_frame(by_key)
