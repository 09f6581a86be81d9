"""Clocks for the emulators: real time with a speed-up factor, or a manual clock for deterministic tests."""

import threading
import time


class Clock:
    """Real wall-clock time; simulated durations are multiplied by ``time_scale``.

    ``time_scale=0.01`` makes a task that "takes" 2 s of simulated time finish after 20 ms of real time.
    Timestamps (``now()``) stay real UTC epoch seconds, so ``created_at`` filters behave as usual.
    """

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale < 0:
            raise ValueError("time_scale must be >= 0")
        self.time_scale = float(time_scale)

    def now(self) -> float:
        """Current time as UTC epoch seconds."""
        return time.time()

    def scale(self, seconds: float) -> float:
        """Convert a simulated duration into a clock duration (what to add to ``now()``)."""
        return seconds * self.time_scale

    def real_seconds(self, seconds: float) -> float:
        """Real seconds to sleep for a simulated duration (0 for a manual clock)."""
        return seconds * self.time_scale


class ManualClock(Clock):
    """A clock that only moves when :meth:`advance` is called; durations are not scaled."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        super().__init__(time_scale=1.0)
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, timestamp: float) -> None:
        """Jump to an absolute epoch time (must not go backwards)."""
        with self._lock:
            if timestamp < self._now:
                raise ValueError("a clock cannot go backwards")
            self._now = float(timestamp)

    def real_seconds(self, seconds: float) -> float:
        return 0.0
