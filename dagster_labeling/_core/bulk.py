"""Fan-out of many independent requests with bounded concurrency, idempotency keys and resume.

Each item has a key (its idempotency key on the platform). Items whose key is in ``existing`` are
skipped (resume after a crash or a re-run); the rest are submitted by a thread pool with at most
``concurrency`` in flight. Failures are collected with their reasons, never dropped.

>>> result = run_bulk([("a", 1), ("b", 2)], lambda key, item: item * 10, existing={"a": 10})
>>> result.created, result.skipped, result.failures
({'b': 20}, {'a': 10}, {})
"""

import concurrent.futures as cf
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from dagster_labeling._core.errors import InvalidInput

logger = logging.getLogger("dagster_labeling.bulk")

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class BulkFailure:
    key: str
    error_type: str
    message: str


@dataclass(frozen=True)
class BulkProgress:
    done: int
    failed: int
    total: int
    elapsed_seconds: float

    @property
    def rate(self) -> float:
        return self.done / self.elapsed_seconds if self.elapsed_seconds > 0 else 0.0


@dataclass
class BulkResult(Generic[R]):
    created: dict[str, R] = field(default_factory=dict)
    skipped: dict[str, R] = field(default_factory=dict)
    failures: dict[str, BulkFailure] = field(default_factory=dict)

    @property
    def succeeded(self) -> dict[str, R]:
        """Created now or found already there."""
        return {**self.skipped, **self.created}


def run_bulk(
    items: Iterable[tuple[str, T]],
    submit: Callable[[str, T], R],
    *,
    concurrency: int = 32,
    existing: Mapping[str, R] | None = None,
    on_progress: Callable[[BulkProgress], None] | None = None,
    progress_every: int = 500,
) -> BulkResult[R]:
    """Run ``submit(key, item)`` for every item not already in ``existing``; see the module docstring."""
    if concurrency < 1:
        raise InvalidInput(f"concurrency must be at least 1, got {concurrency}.", field="concurrency")
    pending: list[tuple[str, T]] = []
    seen: set[str] = set()
    result: BulkResult[R] = BulkResult()
    for key, item in items:
        if key in seen:
            raise InvalidInput(
                f"Duplicate key {key!r}: every row needs a distinct key, because the key is its idempotency key "
                "on the platform. De-duplicate the rows or choose a key column that is unique.",
                field="key",
            )
        seen.add(key)
        if existing is not None and key in existing:
            result.skipped[key] = existing[key]
        else:
            pending.append((key, item))

    total = len(pending)
    started = time.monotonic()
    finished = 0

    def report(force: bool = False) -> None:
        if on_progress and (force or finished % progress_every == 0):
            on_progress(BulkProgress(len(result.created), len(result.failures), total, time.monotonic() - started))

    executor = cf.ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="dagster-labeling-bulk")
    try:
        in_flight: dict[cf.Future[R], str] = {}
        queue = iter(pending)
        window = concurrency * 2  # bounded: never more than this many submitted and not yet collected
        exhausted = False
        while in_flight or not exhausted:
            while not exhausted and len(in_flight) < window:
                nxt = next(queue, None)
                if nxt is None:
                    exhausted = True
                    break
                in_flight[executor.submit(submit, nxt[0], nxt[1])] = nxt[0]
            if not in_flight:
                break
            done, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
            for future in done:
                key = in_flight.pop(future)
                error = future.exception()
                if error is None:
                    result.created[key] = future.result()
                else:
                    result.failures[key] = BulkFailure(key, type(error).__name__, str(error))
                finished += 1
                report()
    finally:
        # On an interrupt, don't start what was not started; what was sent is keyed, so a re-run resumes.
        executor.shutdown(wait=True, cancel_futures=True)
    report(force=True)
    if result.failures:
        logger.warning("%d of %d items failed; first: %s", len(result.failures), total,
                       next(iter(result.failures.values())).message)
    return result
