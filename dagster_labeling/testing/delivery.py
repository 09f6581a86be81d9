"""Outbound callbacks (webhooks) from an emulator to a client, with retries and time-scaled backoff."""

import heapq
import itertools
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from dagster_labeling.testing.clock import Clock

DoneCallback = Callable[[bool, int], None]


@dataclass
class DeliveryAttempt:
    """One POST attempt: its URL, 1-based attempt number, HTTP status (None on a connection error)."""

    url: str
    attempt: int
    status: int | None
    error: str | None = None


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    url: str = field(compare=False)
    payload: Any = field(compare=False)
    headers: dict[str, str] = field(compare=False)
    on_done: DoneCallback | None = field(compare=False)
    attempt: int = field(default=1, compare=False)


class CallbackDispatcher:
    """Delivers JSON POSTs in background threads; non-2xx or connection errors are retried.

    Retries wait ``backoff_seconds * 2**(attempt-1)`` (capped at ``max_backoff_seconds``) of
    *simulated* time, so a fast :class:`Clock` shrinks them and a :class:`ManualClock` needs
    ``advance``. ``on_done(succeeded, attempts)`` is called once per delivery.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        max_attempts: int = 20,
        backoff_seconds: float = 1.0,
        max_backoff_seconds: float = 60.0,
        timeout_seconds: float = 5.0,
        workers: int = 8,
    ) -> None:
        self.clock = clock
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.workers = workers
        self.attempts: deque[DeliveryAttempt] = deque(maxlen=10_000)
        self._heap: list[_Delivery] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._inflight = 0
        self._thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._client: httpx.Client | None = None
        self._closed = False

    def enqueue(
        self, url: str, payload: Any, headers: dict[str, str] | None = None, on_done: DoneCallback | None = None
    ) -> None:
        """Schedule a POST of ``payload`` (JSON) to ``url`` now."""
        with self._cond:
            self._ensure_started()
            heapq.heappush(
                self._heap, _Delivery(self.clock.now(), next(self._seq), url, payload, dict(headers or {}), on_done)
            )
            self._cond.notify_all()

    def pending(self) -> int:
        """Deliveries queued or in flight."""
        with self._cond:
            return len(self._heap) + self._inflight

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is queued or in flight (True) or ``timeout`` real seconds pass (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._heap and not self._inflight, timeout)

    def clear(self) -> None:
        """Drop queued deliveries and the attempt history."""
        with self._cond:
            self._heap.clear()
            self.attempts.clear()
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()
        self._thread = self._executor = self._client = None
        self._closed = False

    def _ensure_started(self) -> None:
        if self._thread is None:
            self._client = httpx.Client(timeout=self.timeout_seconds)
            self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="emulator-callback")
            self._thread = threading.Thread(target=self._run, name="emulator-callbacks", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                now = self.clock.now()
                due = []
                while self._heap and self._heap[0].due <= now:
                    due.append(heapq.heappop(self._heap))
                self._inflight += len(due)
                if not due:
                    self._cond.wait(0.01)
                    continue
            for item in due:
                assert self._executor is not None
                try:
                    self._executor.submit(self._send, item)
                except RuntimeError:  # executor shut down
                    return

    def _send(self, item: _Delivery) -> None:
        status: int | None = None
        error: str | None = None
        try:
            assert self._client is not None
            resp = self._client.post(
                item.url, json=item.payload, headers={"Content-Type": "application/json", **item.headers}
            )
            status = resp.status_code
        except Exception as exc:  # connection errors, timeouts: retried
            error = repr(exc)
        ok = status is not None and 200 <= status < 300
        done = ok or item.attempt >= self.max_attempts
        with self._cond:
            self.attempts.append(DeliveryAttempt(item.url, item.attempt, status, error))
            if not done and not self._closed:
                delay = min(self.backoff_seconds * 2 ** (item.attempt - 1), self.max_backoff_seconds)
                item.attempt += 1
                item.due = self.clock.now() + self.clock.scale(delay)
                heapq.heappush(self._heap, item)
        if done and item.on_done is not None:
            item.on_done(ok, item.attempt)
        with self._cond:
            self._inflight -= 1
            self._cond.notify_all()
