"""JobHandle.wait(): success, failure, timeout with a last look, progress logs, poll growth, interrupts."""

import logging
import pickle

import pytest
from dagster._core.errors import DagsterExecutionInterruptedError

from dagster_labeling._core import (
    APIError,
    CancelCounts,
    CancelIncomplete,
    JobFailed,
    JobHandle,
    JobState,
    JobStatus,
    JobTimeout,
    WaitOptions,
)

MAPPING = {"queued": JobState.PENDING, "running": JobState.RUNNING, "done": JobState.SUCCEEDED,
           "error": JobState.FAILED, "cancelled": JobState.CANCELED}

RUNNING = JobStatus(JobState.RUNNING, "running")
DONE = JobStatus(JobState.SUCCEEDED, "done", 10, 10)
CANCELED = JobStatus(JobState.CANCELED, "cancelled")


class FakeJob(JobHandle):
    """Answers statuses from a script (the last one repeats); time only moves when wait() sleeps."""

    kind = "fake job"

    def __init__(self, statuses, *, url="https://ui.example/jobs/j1", interrupt_on_sleep=None,
                 cancel_result=CANCELED):
        super().__init__("j1", url=url)
        self.script = list(statuses)
        self.fetches = 0
        self.cancels = 0
        self.sleeps: list[float] = []
        self.now = 100.0
        self.interrupt_on_sleep = interrupt_on_sleep
        self.cancel_result = cancel_result
        self.canceled = False

    def clock(self):  # type: ignore[override]
        return self.now

    def sleep(self, seconds):  # type: ignore[override]
        self.sleeps.append(seconds)
        if self.interrupt_on_sleep is not None and len(self.sleeps) >= 2:
            raise self.interrupt_on_sleep
        self.now += seconds

    def fetch_status(self):
        self.fetches += 1
        if self.canceled:
            return self.cancel_result
        item = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(item, BaseException):
            raise item
        return item

    def cancel_remote(self):
        self.cancels += 1
        self.canceled = True


def test_from_vendor():
    assert JobState.from_vendor("running", MAPPING) is JobState.RUNNING
    assert JobState.from_vendor("RUNNING", MAPPING) is JobState.RUNNING
    assert JobState.from_vendor("brand_new_status", MAPPING) is JobState.UNKNOWN
    assert JobState.from_vendor(None, MAPPING) is JobState.UNKNOWN
    assert JobState.from_vendor("Done", {"DONE": JobState.SUCCEEDED}) is JobState.SUCCEEDED
    assert not JobState.UNKNOWN.is_terminal and JobState.CANCELED.is_terminal


def test_unknown_state_keeps_polling():
    job = FakeJob([JobStatus(JobState.UNKNOWN, "weird"), DONE])
    assert job.wait(WaitOptions(poll_interval_seconds=1)).state is JobState.SUCCEEDED
    assert job.fetches == 2


def test_wait_returns_on_success():
    job = FakeJob([JobStatus(JobState.PENDING, "queued"), RUNNING, DONE])
    status = job.wait(WaitOptions(poll_interval_seconds=1))
    assert status == DONE
    assert job.fetches == 3
    assert job.cancels == 0
    assert job.state is JobState.SUCCEEDED
    assert "SUCCEEDED" in repr(job)


def test_wait_raises_job_failed_with_reason_raw_status_and_url():
    job = FakeJob([RUNNING, JobStatus(JobState.FAILED, "error", reason="bad rows in input")])
    with pytest.raises(JobFailed) as info:
        job.wait(WaitOptions(poll_interval_seconds=1))
    err = info.value
    assert (err.job_id, err.state, err.raw_status, err.url, err.reason) == (
        "j1", "FAILED", "error", "https://ui.example/jobs/j1", "bad rows in input")
    assert "bad rows in input" in str(err) and "https://ui.example/jobs/j1" in str(err)
    assert job.cancels == 0
    back = pickle.loads(pickle.dumps(err))
    assert back.reason == "bad rows in input"


def test_canceled_job_raises_job_failed_unless_raise_on_failure_off():
    with pytest.raises(JobFailed) as info:
        FakeJob([JobStatus(JobState.CANCELED, "cancelled")]).wait()
    assert info.value.state == "CANCELED"
    status = FakeJob([JobStatus(JobState.FAILED, "error")]).wait(WaitOptions(raise_on_failure=False))
    assert status.state is JobState.FAILED


def test_timeout_after_last_look_names_the_timeout():
    job = FakeJob([RUNNING])
    opts = WaitOptions(timeout_seconds=10, poll_interval_seconds=3, poll_backoff=1.0, timeout_name="batch_timeout")
    with pytest.raises(JobTimeout) as info:
        job.wait(opts)
    err = info.value
    assert err.timeout_name == "batch_timeout" and err.timeout_seconds == 10
    assert "batch_timeout" in str(err) and "keeps running" in str(err)
    assert err.url == "https://ui.example/jobs/j1"
    # Sleeps are clipped to the remaining time: 3 + 3 + 3 + 1 = 10.
    assert job.sleeps == [3, 3, 3, 1]
    # One poll per sleep, plus the poll at t=10 and the last look before raising.
    assert job.fetches == len(job.sleeps) + 2
    assert job.cancels == 0


def test_job_finishing_at_the_last_look_returns():
    # Polls at t=0 and t=5 see RUNNING; the timeout check at t=5 fires; the last look sees it done.
    job = FakeJob([RUNNING, RUNNING, DONE])
    status = job.wait(WaitOptions(timeout_seconds=5, poll_interval_seconds=5, poll_backoff=1.0))
    assert status == DONE
    assert job.fetches == 3


def test_job_failing_at_the_last_look_raises_job_failed_not_timeout():
    job = FakeJob([RUNNING, RUNNING, JobStatus(JobState.FAILED, "error", reason="r")])
    with pytest.raises(JobFailed):
        job.wait(WaitOptions(timeout_seconds=5, poll_interval_seconds=5, poll_backoff=1.0))


def test_cancel_on_timeout():
    job = FakeJob([RUNNING])
    with pytest.raises(JobTimeout) as info:
        job.wait(WaitOptions(timeout_seconds=4, poll_interval_seconds=2, cancel_on_timeout=True))
    assert job.cancels == 1
    assert "canceled" in str(info.value)


def test_poll_intervals_grow_and_are_capped():
    job = FakeJob([RUNNING] * 8 + [DONE])
    job.wait(WaitOptions(timeout_seconds=None, poll_interval_seconds=1, poll_backoff=2, max_poll_interval_seconds=10))
    assert job.sleeps == [1, 2, 4, 8, 10, 10, 10, 10]


def test_progress_logs_done_total_rate_and_eta(caplog):
    caplog.set_level(logging.INFO, logger="dagster_labeling")
    job = FakeJob([JobStatus(JobState.RUNNING, "running", 0, 100), JobStatus(JobState.RUNNING, "running", 20, 100),
                   JobStatus(JobState.RUNNING, "running", 40, 100), JobStatus(JobState.SUCCEEDED, "done", 100, 100)])
    job.wait(WaitOptions(poll_interval_seconds=10, poll_backoff=1.0))
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("dagster_labeling")]
    assert any("0/100" in m for m in messages)
    # After 10 s, 20 of 100 done: 2.00/s, 80 left → ETA 40 s.
    assert any("20/100" in m and "2.00/s" in m and "ETA 40 s" in m for m in messages), messages
    # After 20 s, 40 done: 2.00/s, 60 left → ETA 30 s.
    assert any("40/100" in m and "ETA 30 s" in m for m in messages), messages
    assert "100/100" in messages[-1] and "https://ui.example/jobs/j1" in messages[-1]


def test_progress_goes_to_a_given_log():
    class Log:
        def __init__(self):
            self.infos, self.warnings = [], []

        def info(self, msg, *args, **kwargs):
            self.infos.append(msg)

        def warning(self, msg, *args, **kwargs):
            self.warnings.append(msg)

    log = Log()
    FakeJob([JobStatus(JobState.RUNNING, "running", 1, 4), DONE]).wait(WaitOptions(poll_interval_seconds=1), log=log)
    assert any("1/4" in m for m in log.infos)


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt(), DagsterExecutionInterruptedError()])
def test_interrupt_cancels_running_job_once_and_propagates(interrupt, caplog):
    job = FakeJob([RUNNING], interrupt_on_sleep=interrupt)
    with pytest.raises(type(interrupt)):
        job.wait(WaitOptions(poll_interval_seconds=1))
    assert job.cancels == 1
    assert any("interrupted" in r.getMessage().lower() for r in caplog.records)


def test_interrupt_after_job_finished_does_not_cancel():
    # fetch at t=0 RUNNING; sleep 1; fetch RUNNING; sleep 2 → interrupt; by then the job is done.
    job = FakeJob([RUNNING, RUNNING, DONE], interrupt_on_sleep=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        job.wait(WaitOptions(poll_interval_seconds=1))
    assert job.cancels == 0
    assert job.fetches == 3  # the pre-cancel check saw it done


def test_interrupt_without_cancel_on_interrupt_leaves_job_alone():
    job = FakeJob([RUNNING], interrupt_on_sleep=DagsterExecutionInterruptedError())
    with pytest.raises(DagsterExecutionInterruptedError):
        job.wait(WaitOptions(poll_interval_seconds=1, cancel_on_interrupt=False))
    assert job.cancels == 0


def test_failing_cancel_does_not_mask_the_interrupt():
    class Broken(FakeJob):
        def cancel_remote(self):
            self.cancels += 1
            raise RuntimeError("cancel endpoint down")

    job = Broken([RUNNING], interrupt_on_sleep=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        job.wait(WaitOptions(poll_interval_seconds=1))
    assert job.cancels == 1


def test_ordinary_exception_from_fetch_status_does_not_cancel():
    job = FakeJob([RUNNING, ConnectionError("platform down")])
    with pytest.raises(ConnectionError):
        job.wait(WaitOptions(poll_interval_seconds=1))
    assert job.cancels == 0


def test_cancel_skips_finished_job():
    job = FakeJob([DONE])
    outcome = job.cancel()
    assert outcome.status == DONE and (outcome.canceled, outcome.already_finished) == (0, 1)
    assert job.cancels == 0 and job.last_cancel is outcome
    job = FakeJob([RUNNING])
    outcome = job.cancel()
    assert outcome.state is JobState.CANCELED and outcome.canceled == 1 and outcome.complete
    assert job.cancels == 1


class BatchLike(FakeJob):
    """A job of many units: each cancel pass cancels at most ``per_pass`` of them; ``stuck`` never cancel."""

    def __init__(self, pending: int, per_pass: int, stuck: int = 0, refuse_with: APIError | None = None):
        super().__init__([RUNNING])
        self.pending, self.per_pass, self.stuck, self.refuse_with = pending, per_pass, stuck, refuse_with

    def fetch_status(self):
        self.fetches += 1
        state = JobState.RUNNING if self.pending else JobState.CANCELED
        return JobStatus(state, "in_progress", 0, self.pending)

    def still_running(self, status):
        return status.total or 0

    def cancel_remote(self):
        self.cancels += 1
        if self.refuse_with is not None:
            raise self.refuse_with
        n = min(self.per_pass, self.pending - self.stuck)
        self.pending -= n
        return CancelCounts(canceled=n, not_canceled={f"t{i}": "locked by a worker" for i in range(self.stuck)})


def test_a_finished_job_of_many_units_reports_them_all_as_finished():
    class Finished(BatchLike):
        def finished_units(self, status):
            return 7

    outcome = Finished(pending=0, per_pass=1).cancel()
    assert (outcome.canceled, outcome.already_finished, outcome.still_running) == (0, 7, 0)


def test_cancel_that_leaves_work_running_raises_with_the_real_outcome():
    job = BatchLike(pending=10, per_pass=10, stuck=2)
    with pytest.raises(CancelIncomplete) as raised:
        job.cancel()
    outcome = raised.value.outcome
    assert (outcome.canceled, outcome.still_running) == (8, 2) and not outcome.complete
    assert "8 canceled" in str(raised.value) and "2 could not be canceled (e.g. t0: locked by a worker)" in str(
        raised.value) and "2 still pending or running" in str(raised.value)
    assert job.last_cancel is outcome
    assert pickle.loads(pickle.dumps(raised.value)).outcome == outcome


def test_cancel_re_reads_until_settled():
    class Async(FakeJob):  # the platform takes a while to stop the job after accepting the cancel
        def fetch_status(self):
            self.fetches += 1
            if self.canceled and self.fetches >= 5:
                return CANCELED
            return RUNNING

    job = Async([RUNNING])
    assert job.cancel().state is JobState.CANCELED and job.fetches == 5
    assert len(job.sleeps) == 3  # slept between re-reads, never past cancel_settle_seconds


def test_cancel_refused_because_it_finished_meanwhile_counts_as_finished():
    refused = APIError("already completed", platform="P", method="POST", path="j1/cancel", status_code=400)

    class Raced(FakeJob):
        def cancel_remote(self):
            self.cancels += 1
            self.script = [DONE]
            raise refused

    outcome = Raced([RUNNING, RUNNING]).cancel()
    assert (outcome.canceled, outcome.already_finished, outcome.state) == (0, 1, JobState.SUCCEEDED)
    with pytest.raises(CancelIncomplete, match="could not be canceled"):
        BatchLike(pending=3, per_pass=3, refuse_with=refused).cancel()


def test_status_fraction_and_describe():
    assert JobStatus(JobState.RUNNING, done=1, total=4).fraction_done == 0.25
    assert JobStatus(JobState.RUNNING, done=1, total=0).fraction_done is None
    job = FakeJob([RUNNING])
    assert job.describe(JobStatus(JobState.RUNNING, "in_progress", 1, 4)) == \
        "fake job j1: RUNNING [in_progress] 1/4 done (25%)"
