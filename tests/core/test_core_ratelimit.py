"""RateLimiter: a sliding window that never lets more than ``rate`` acquisitions into any window."""

import threading
import time

import pytest

from dagster_labeling._core import InvalidInput, RateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def test_waits_exactly_until_a_slot_frees() -> None:
    t = FakeTime()
    limiter = RateLimiter(3, 10.0, clock=t.clock, sleep=t.sleep)
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    t.now = 4.0
    assert limiter.acquire() == pytest.approx(6.0)  # the first slot leaves the window at t=10
    assert limiter.acquire() == pytest.approx(6.0)
    assert limiter.acquire() == pytest.approx(6.0)
    assert limiter.acquire() == pytest.approx(16.0)  # reservations at t=10 count too
    assert not limiter.try_acquire()
    t.now = 30.0
    assert limiter.try_acquire()


def test_none_disables_and_bad_values_are_rejected() -> None:
    limiter = RateLimiter(None)
    assert all(limiter.acquire() == 0.0 for _ in range(1000)) and limiter.try_acquire()
    with pytest.raises(InvalidInput, match="rate must be at least 1"):
        RateLimiter(0)
    with pytest.raises(InvalidInput, match="per_seconds must be positive"):
        RateLimiter(5, 0)


def test_threads_never_exceed_the_rate_in_any_window() -> None:
    limiter = RateLimiter(10, 0.2)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    started = time.monotonic()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    stamps.sort()
    assert len(stamps) == 40
    for i in range(len(stamps) - 10):
        assert stamps[i + 10] - stamps[i] >= 0.2 - 0.01  # 11 acquisitions never fit in one window
    assert time.monotonic() - started >= 0.6  # 40 at 10 per 0.2 s needs at least 3 full windows
