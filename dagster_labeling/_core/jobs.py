"""Long-running remote work as a handle: one state enum, ``refresh()``, ``wait()``, ``cancel()``.

A platform subclasses :class:`JobHandle` with two methods, ``fetch_status()`` and ``cancel_remote()``;
waiting, progress logging, the last look before a timeout, cancel-on-interrupt and the check that a cancel
left nothing running are shared.
"""

import enum
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dagster_labeling._core.errors import APIError, CancelIncomplete, JobFailed, JobTimeout

logger = logging.getLogger("dagster_labeling.jobs")


class JobState(str, enum.Enum):
    """The normalized state of any remote job; the vendor's raw status is kept beside it."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED)

    @classmethod
    def from_vendor(cls, raw: str | None, mapping: Mapping[str, "JobState"]) -> "JobState":
        """Map a vendor status (case-insensitive); an unknown one is UNKNOWN, never an error."""
        if raw is None:
            return cls.UNKNOWN
        key = str(raw).lower()
        if key in mapping:
            return mapping[key]
        # Case-insensitive on the mapping's side too (a platform may spell its table in upper case).
        return next((state for name, state in mapping.items() if str(name).lower() == key), cls.UNKNOWN)


@dataclass(frozen=True)
class JobStatus:
    """One observation of a job."""

    state: JobState
    raw_status: str | None = None
    done: int | None = None
    total: int | None = None
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def fraction_done(self) -> float | None:
        if self.done is None or not self.total:
            return None
        return self.done / self.total


class ProgressLog(Protocol):
    """Anything with ``info``/``warning``: a ``logging.Logger`` or Dagster's ``context.log``."""

    def info(self, msg: str, *args: Any, **kwargs: Any) -> Any: ...

    def warning(self, msg: str, *args: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class CancelCounts:
    """What one pass of ``cancel_remote`` did, counted in the job's units (tasks of a batch; 1 for a job that
    is one remote object): units it canceled, units that had already finished, and units it could not cancel
    with the platform's reason (``{unit id: reason}``)."""

    canceled: int = 0
    already_finished: int = 0
    not_canceled: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CancelOutcome:
    """The real outcome of :meth:`JobHandle.cancel`: the counts, the job's status once the cancel settled, and the
    units still pending or running then (0 unless the cancel raised :class:`CancelIncomplete`)."""

    status: JobStatus
    canceled: int = 0
    already_finished: int = 0
    not_canceled: Mapping[str, str] = field(default_factory=dict)
    still_running: int = 0

    @property
    def state(self) -> JobState:
        return self.status.state

    @property
    def complete(self) -> bool:
        """Nothing of the job is still pending or running."""
        return self.still_running == 0

    def describe(self) -> str:
        parts = [f"{self.canceled} canceled", f"{self.already_finished} had already finished"]
        if self.not_canceled:
            first = next(iter(self.not_canceled.items()))
            parts.append(f"{len(self.not_canceled)} could not be canceled (e.g. {first[0]}: {first[1]})")
        if self.still_running:
            parts.append(f"{self.still_running} still pending or running")
        return ", ".join(parts)


@dataclass
class WaitOptions:
    """How :meth:`JobHandle.wait` polls. All durations in seconds.

    ``timeout_name`` is how the timeout is called where the user sets it, so the error can say which one fired.
    """

    timeout_seconds: float | None = 3600.0
    poll_interval_seconds: float = 2.0
    max_poll_interval_seconds: float = 60.0
    poll_backoff: float = 1.5
    log_interval_seconds: float = 30.0
    cancel_on_interrupt: bool = True
    cancel_on_timeout: bool = False
    raise_on_failure: bool = True
    timeout_name: str = "timeout_seconds"


class JobHandle(ABC):
    """A remote job. Subclasses implement :meth:`fetch_status` and :meth:`cancel_remote`.

    >>> class Done(JobHandle):
    ...     kind = "demo job"
    ...     def fetch_status(self): return JobStatus(JobState.SUCCEEDED, "done", 3, 3)
    ...     def cancel_remote(self): raise AssertionError("never cancels a finished job")
    >>> Done("j1").wait().state
    <JobState.SUCCEEDED: 'SUCCEEDED'>
    """

    kind: str = "job"
    clock: Callable[[], float] = staticmethod(time.monotonic)
    sleep: Callable[[float], None] = staticmethod(time.sleep)
    #: How long :meth:`cancel` re-reads the job for the cancel to take effect before it raises.
    cancel_settle_seconds: float = 60.0

    def __init__(self, job_id: str, *, url: str | None = None) -> None:
        self.id = job_id
        self.url = url
        self._status: JobStatus | None = None
        self.last_cancel: CancelOutcome | None = None

    def __repr__(self) -> str:
        state = self._status.state.value if self._status else "not fetched"
        return f"{type(self).__name__}(id={self.id!r}, state={state})"

    @abstractmethod
    def fetch_status(self) -> JobStatus:
        """Ask the platform for the job's current status."""

    @abstractmethod
    def cancel_remote(self) -> CancelCounts | None:
        """Ask the platform to cancel the job; return what it did (None: the job itself was asked, one unit).

        A job made of many remote units (a batch's tasks) must re-read what is still pending after each pass,
        never page through a set that its own cancels shrink.
        """

    def still_running(self, status: JobStatus) -> int:
        """Units of the job still pending or running in ``status`` (a cancel is complete at 0)."""
        return 0 if status.state.is_terminal else 1

    def finished_units(self, status: JobStatus) -> int:
        """Units of a finished job, reported as "had already finished" when it is asked to cancel (1 unless the
        job is made of many, like a batch's tasks)."""
        return 1

    @property
    def status(self) -> JobStatus:
        """The last observed status (fetched once if never fetched)."""
        return self._status or self.refresh()

    @property
    def state(self) -> JobState:
        return self.status.state

    def refresh(self) -> JobStatus:
        self._status = self.fetch_status()
        return self._status

    def cancel(self) -> CancelOutcome:
        """Cancel the job unless it already finished (a finished job is never canceled), then re-read it until
        nothing of it is pending or running; raise :class:`CancelIncomplete` if work is left running after
        ``cancel_settle_seconds``. The outcome is also kept as ``last_cancel``."""
        current = self.refresh()
        if current.state.is_terminal:
            self.last_cancel = CancelOutcome(current, already_finished=self.finished_units(current))
            return self.last_cancel
        try:
            counts = self.cancel_remote() or CancelCounts(canceled=1)
        except APIError as refused:  # e.g. it finished between our look and the cancel
            if self.refresh().state.is_terminal:
                counts = CancelCounts(already_finished=1)
            else:
                counts = CancelCounts(not_canceled={self.id: str(refused)})
        status = self._settle_after_cancel()
        outcome = CancelOutcome(status, counts.canceled, counts.already_finished, dict(counts.not_canceled),
                                self.still_running(status))
        self.last_cancel = outcome
        if not outcome.complete:
            raise CancelIncomplete(
                f"Canceling {self.kind} {self.id} left work running: {outcome.describe()}{self._where()}. "
                "Cancel the rest on the platform.", job_id=self.id, outcome=outcome)
        return outcome

    def _settle_after_cancel(self) -> JobStatus:
        """Re-read the job until nothing is running, or ``cancel_settle_seconds`` passed."""
        deadline = self.clock() + self.cancel_settle_seconds
        interval = 0.2
        while True:
            status = self.refresh()
            if not self.still_running(status) or self.clock() >= deadline:
                return status
            self.sleep(interval)
            interval = min(5.0, interval * 1.5)

    def describe(self, status: JobStatus) -> str:
        progress = ""
        if status.done is not None and status.total:
            progress = f" {status.done}/{status.total} done ({100 * status.done / status.total:.0f}%)"
        raw = f" [{status.raw_status}]" if status.raw_status and status.raw_status != status.state.value else ""
        return f"{self.kind} {self.id}: {status.state.value}{raw}{progress}"

    def wait(self, options: WaitOptions | None = None, *, log: ProgressLog | None = None) -> JobStatus:
        """Poll until the job finishes; log progress (done/total, rate, ETA); raise on failure or timeout.

        If the calling thread is interrupted (Dagster run terminated, Ctrl-C) the remote job is canceled
        when ``cancel_on_interrupt`` is set and the job has not finished, then the interrupt propagates.
        """
        opts = options or WaitOptions()
        out: ProgressLog = log or logger
        started = self.clock()
        interval = opts.poll_interval_seconds
        first_done: tuple[float, int] | None = None
        last_logged = -float("inf")
        last_described = ""
        try:
            while True:
                status = self.refresh()
                now = self.clock()
                if status.done is not None and first_done is None:
                    first_done = (now, status.done)
                if status.state.is_terminal:
                    out.info(self.describe(status) + self._where())
                    return self._finish(status, opts)
                described = self.describe(status)
                if described != last_described or now - last_logged >= opts.log_interval_seconds:
                    out.info(described + self._rate_and_eta(status, first_done, now))
                    last_logged, last_described = now, described
                if opts.timeout_seconds is not None and now - started >= opts.timeout_seconds:
                    return self._on_timeout(opts, out)
                remaining = None if opts.timeout_seconds is None else opts.timeout_seconds - (now - started)
                self.sleep(interval if remaining is None else max(0.0, min(interval, remaining)))
                interval = min(opts.max_poll_interval_seconds, interval * opts.poll_backoff)
        except BaseException as exc:
            # Exceptions are errors (ours or the platform's); only interrupts (KeyboardInterrupt, Dagster's
            # DagsterExecutionInterruptedError, SystemExit) are BaseException-only and mean "stop now".
            if not isinstance(exc, Exception) and opts.cancel_on_interrupt:
                self._cancel_after_interrupt(out)
            raise

    def _where(self) -> str:
        return f" ({self.url})" if self.url else ""

    @staticmethod
    def _rate_and_eta(status: JobStatus, first: tuple[float, int] | None, now: float) -> str:
        if first is None or status.done is None or not status.total:
            return ""
        elapsed = now - first[0]
        gained = status.done - first[1]
        if elapsed <= 0 or gained <= 0:
            return ""
        rate = gained / elapsed
        eta = (status.total - status.done) / rate
        return f", {rate:.2f}/s, ETA {eta:.0f} s"

    def _finish(self, status: JobStatus, opts: WaitOptions) -> JobStatus:
        if status.state is JobState.SUCCEEDED or not opts.raise_on_failure:
            return status
        reason = f": {status.reason}" if status.reason else ""
        raise JobFailed(
            f"{self.describe(status)}{reason}{self._where()}",
            job_id=self.id,
            state=status.state.value,
            raw_status=status.raw_status,
            url=self.url,
            reason=status.reason,
        )

    def _on_timeout(self, opts: WaitOptions, out: ProgressLog) -> JobStatus:
        status = self.refresh()  # the last look: it may have finished while we slept
        if status.state.is_terminal:
            out.info(self.describe(status) + self._where())
            return self._finish(status, opts)
        action = "it keeps running on the platform"
        if opts.cancel_on_timeout:
            action = f"cancel_on_timeout is set: {self.cancel().describe()}"
        raise JobTimeout(
            f"{self.describe(status)} after the {opts.timeout_name} of {opts.timeout_seconds:.0f} s; {action}"
            f"{self._where()}. Raise {opts.timeout_name}, or hand completion to a sensor.",
            job_id=self.id,
            timeout_name=opts.timeout_name,
            timeout_seconds=float(opts.timeout_seconds or 0),
            url=self.url,
        )

    def _cancel_after_interrupt(self, out: ProgressLog) -> None:
        try:
            outcome = self.cancel()
            out.warning(f"Run interrupted; canceled {self.kind} {self.id}: {outcome.describe()}; "
                        f"{self.describe(outcome.status)}")
        except Exception as cancel_error:  # never mask the interrupt
            out.warning(f"Run interrupted; canceling {self.kind} {self.id} failed: {cancel_error}")
