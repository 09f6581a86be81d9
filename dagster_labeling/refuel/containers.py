"""Get-or-create of Refuel datasets and tasks that converges when many first runs arrive at once.

Refuel does not make names unique: two uploads named ``reviews`` make two datasets, and the SDK (like a plain
"look up, else create") takes whichever the list shows first. A backfill starts many partitions together, so
every one of them can see "no dataset" and create its own. The scheme here:

1. **One order.** Of the objects called ``name``, the canonical one is the oldest by ``created_at``, then by
   ``id`` (:func:`~dagster_labeling.refuel.client.creation_order`). Every racer, and every later lookup by
   name (``RefuelClient.dataset_id``/``task_id``), picks the same one.
2. **Create empty, then agree.** A racer that finds nothing creates one: a dataset is created *empty* (its
   upload is the CSV header only), so a duplicate never holds rows.
3. **Write only into a settled canonical.** The canonical one may still lose to an object created a moment
   later with an earlier ``created_at`` (the same millisecond, or a write in flight while we listed). So it is
   used only once it is *settled*: older than Refuel's clock at the listing (the answer's ``Date`` less the
   round trip) by ``settle_seconds`` plus the timestamps' millisecond. Anything created after that listing
   has a later ``created_at``, so the canonical one can never change again. Until then, wait and list again.
   A create whose answer is lost (a 5xx, a dropped connection) is not sent blindly again: the next listing
   shows whether it happened.
4. **Remove what the race left.** Each racer deletes the duplicate it created. Empty duplicate datasets left by
   others (a racer killed before its clean-up) are deleted too: nobody writes into a non-canonical dataset, so
   an empty one stays empty. A duplicate that holds rows (made by hand, or by versions before this scheme) is
   never touched: it is reported in the outcome (``duplicates``) and the canonical one is used.

The assumption (written down in docs/refuel.md): Refuel stamps ``created_at`` when the object is created, from a
clock no more than ``settle_seconds`` behind the clock that writes ``Date``.
"""

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from dagster_labeling._core import ConnectionFailed, InvalidInput, NotFound, RateLimited, ServerError, WaitOptions
from dagster_labeling.refuel.client import RefuelClient, creation_order
from dagster_labeling.refuel.errors import RefuelConflict
from dagster_labeling.refuel.models import Dataset, Task, TaskField

TIMESTAMP_RESOLUTION_SECONDS = 0.001
"""``created_at`` is written to the millisecond: two objects in the same millisecond tie on it."""
SETTLE_TIMEOUT_SECONDS = 120.0
"""How long, beyond ``settle_seconds``, a racer waits for the canonical object to settle before it gives up."""


@dataclass(frozen=True)
class Ensured:
    """The canonical object's id, whether this call created it, and same-named duplicates it had to leave (they
    hold rows or are tasks someone else created)."""

    id: str
    created: bool
    duplicates: list[str] = field(default_factory=list)


def settle(client: RefuelClient, kind: Literal["dataset", "task"], name: str,
           create: Callable[[], str]) -> tuple[dict[str, Any], list[dict[str, Any]], str | None]:
    """Look ``name`` up, creating one (``create() -> id``) when none exists, until the oldest is settled.

    Returns (the canonical record, the other same-named records, the id this call created or None).
    """
    created: str | None = None
    deadline = time.monotonic() + client.settle_seconds + SETTLE_TIMEOUT_SECONDS
    while True:
        found, server_now = client.named(kind, name)
        if not found:
            try:
                created = create()
            except (ServerError, RateLimited, ConnectionFailed):
                if time.monotonic() > deadline:
                    raise
                # the answer was lost or refused for now: the next listing shows whether it was created
            continue
        canonical = found[0]
        age = server_now - creation_order(canonical)[0]
        if age > client.settle_seconds + TIMESTAMP_RESOLUTION_SECONDS:
            return canonical, found[1:], created
        if time.monotonic() > deadline:
            raise RefuelConflict(
                f"Refuel {kind} {name!r} ({canonical.get('id')}) did not settle within "
                f"{SETTLE_TIMEOUT_SECONDS + client.settle_seconds:.0f} s (created_at {canonical.get('created_at')!r}, "
                f"Refuel's clock {server_now:.3f}): is the server's clock far behind its created_at?",
                platform="Refuel", method="GET", path=f"{kind}s", status_code=409)
        client.sleep(min(1.0, max(0.05, client.settle_seconds + 0.25 - age)))


def ensure_dataset(client: RefuelClient, name: str, columns: list[str], *,
                   wait: WaitOptions | None = None) -> Ensured:
    """The one dataset called ``name`` (created empty with ``columns`` if there is none), ingested and settled.

    Converges when many callers arrive together (see the module docstring); rows belong in the returned dataset
    only.
    """
    if not name:
        raise InvalidInput("The dataset name is empty.", field="dataset_name")
    canonical, others, created = settle(
        client, "dataset", name, lambda: client.create_empty_dataset(name, columns).id)
    left: list[str] = []
    for other in others:
        oid = str(other["id"])
        try:
            if oid == created or client.count_items(oid) == 0:
                client.delete_dataset(oid)
            else:
                left.append(oid)
        except NotFound:
            pass  # another racer deleted it first
    did = str(canonical["id"])
    client.remember("dataset", name, did)
    ds: Dataset = client.wait_for_ingestion(did, wait)
    return Ensured(ds.id, created == did, left)


def ensure_task(client: RefuelClient, task: str, dataset: str, context: str,
                fields: Sequence[Mapping[str, Any] | TaskField], model: str | None = None) -> Ensured:
    """The one task called ``task`` (created with these settings on ``dataset`` if there is none), settled.

    An existing task is used as it is (its fields are not compared or updated). Converges when many callers
    arrive together; each deletes the duplicate it created.
    """
    if not task:
        raise InvalidInput("task (the task name) is empty.", field="task")

    def create() -> str:
        made: Task = client.create_task(task, dataset, context, fields, model=model)
        return made.id

    canonical, others, created = settle(client, "task", task, create)
    left: list[str] = []
    for other in others:
        oid = str(other["id"])
        if oid != created:
            left.append(oid)
            continue
        try:
            client.delete_task(oid)
        except NotFound:
            pass  # deleted meanwhile
    tid = str(canonical["id"])
    client.remember("task", task, tid)
    return Ensured(tid, created == tid, left)

