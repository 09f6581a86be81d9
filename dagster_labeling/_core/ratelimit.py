"""A thread-safe client-side rate limiter: at most ``rate`` acquisitions per ``per_seconds``, sliding window.

>>> limiter = RateLimiter(rate=2, per_seconds=60)
>>> limiter.acquire(), limiter.acquire(), limiter.try_acquire()
(0.0, 0.0, False)
"""

import threading
import time
from collections import deque
from collections.abc import Callable

from dagster_labeling._core.errors import InvalidInput


class RateLimiter:
    """Blocks callers so that no window of ``per_seconds`` sees more than ``rate`` acquisitions.

    A sliding window (not a token bucket), so a server with a sliding or fixed window of the same size
    never sees more than its limit from this client. ``rate=None`` disables limiting.
    """

    def __init__(
        self,
        rate: int | None,
        per_seconds: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate is not None and rate < 1:
            raise InvalidInput(f"rate must be at least 1 (or None for no limit), got {rate}.", field="rate")
        if per_seconds <= 0:
            raise InvalidInput(f"per_seconds must be positive, got {per_seconds}.", field="per_seconds")
        self.rate = rate
        self.per_seconds = float(per_seconds)
        self._clock = clock
        self._sleep = sleep
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate}, per_seconds={self.per_seconds})"

    def _slot_free(self, now: float) -> bool:
        """Forget acquisitions that left the window; is there room for one more now? (Lock held.)"""
        assert self.rate is not None
        while self._times and self._times[0] <= now - self.per_seconds:
            self._times.popleft()
        return len(self._times) < self.rate

    def _reserve(self) -> float:
        """Reserve a slot; return how long the caller must wait before using it (0 if now)."""
        assert self.rate is not None
        with self._lock:
            now = self._clock()
            if self._slot_free(now):
                self._times.append(now)
                return 0.0
            # The slot frees when the rate-th most recent acquisition leaves the window.
            start = self._times[-self.rate] + self.per_seconds
            self._times.append(start)
            return max(0.0, start - now)

    def acquire(self) -> float:
        """Wait for a slot; returns the seconds waited."""
        if self.rate is None:
            return 0.0
        delay = self._reserve()
        if delay > 0:
            self._sleep(delay)
        return delay

    def try_acquire(self) -> bool:
        """Take a slot if one is free now, without waiting."""
        if self.rate is None:
            return True
        with self._lock:
            now = self._clock()
            if self._slot_free(now):
                self._times.append(now)
                return True
            return False
