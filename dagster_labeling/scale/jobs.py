"""A Scale batch as a job handle: wait for it, and cancel it so that nothing of it is left pending.

Scale has no v1 call that cancels a batch: each pending task is canceled on its own. A cancel never pages through
the pending tasks while it cancels them (each cancel shrinks that list, and a paging loop would skip tasks):
every pass lists what is pending from the start, then cancels it concurrently; passes repeat until nothing
cancellable is left.
"""

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dagster_labeling._core import APIError, CancelCounts, JobHandle, JobState, JobStatus, run_bulk
from dagster_labeling.scale.models import TaskStatus

if TYPE_CHECKING:
    from dagster_labeling.scale.client import ScaleClient

#: Listing-then-canceling passes before a cancel gives up on tasks that keep failing for transient reasons.
MAX_CANCEL_PASSES = 8
BATCH_STATES = {
    "staging": JobState.PENDING,
    "paused": JobState.PENDING,
    "in_progress": JobState.RUNNING,
    "completed": JobState.SUCCEEDED,
    "cancelled": JobState.CANCELED,
    "canceled": JobState.CANCELED,
}
FINISHED_TASK_STATUSES = frozenset({"completed", "error"})


@dataclass
class _Tally:
    """Per-task outcomes of a batch cancel, accumulated over passes."""

    refused: dict[str, str] = field(default_factory=dict)  # still pending; Scale refused to cancel it
    transient: dict[str, str] = field(default_factory=dict)  # failed for a reason worth another pass


class ScaleBatchJob(JobHandle):
    """A Scale batch as a job: done = tasks no longer pending; SUCCEEDED when the batch is completed.

    ``cancel()`` cancels every pending task and reports ``N canceled, M had already finished`` (tasks of the
    batch that completed or errored), plus any task Scale refused to cancel with its reason; it raises
    :class:`~dagster_labeling.CancelIncomplete` if tasks are still pending afterwards.
    """

    kind = "Scale batch"

    def __init__(self, client: "ScaleClient", batch_name: str) -> None:
        super().__init__(batch_name, url=client.batch_url(batch_name))
        self.client = client
        self.name = batch_name

    def fetch_status(self) -> JobStatus:
        counts = self.client.batch_status(self.name)
        state = JobState.from_vendor(counts.status, BATCH_STATES)
        reason = None
        if counts.error or counts.canceled:
            reason = f"{counts.error} task(s) in error, {counts.canceled} canceled"
        return JobStatus(
            state=state,
            raw_status=counts.status,
            done=counts.total - counts.pending,
            total=counts.total,
            reason=reason,
            details=counts.model_dump(),
        )

    def still_running(self, status: JobStatus) -> int:
        """The batch's pending tasks (a batch whose tasks are all finished or canceled has nothing left)."""
        return int(status.details.get("pending", 0))

    def finished_units(self, status: JobStatus) -> int:
        """The batch's completed and errored tasks."""
        return int(status.details.get("completed", 0)) + int(status.details.get("error", 0))

    def cancel_remote(self) -> CancelCounts:
        """Cancel every pending task of the batch, re-listing the pending ones after each pass."""
        tally = _Tally()
        canceled_before = self.client.batch_status(self.name).canceled
        for _ in range(MAX_CANCEL_PASSES):
            listed = self.client.get_tasks(batch=self.name, status=TaskStatus.Pending, include_attachment_url=False,
                                           limited_response=True)
            # dict: a task listed twice (offset paging while the list changes) is canceled once
            pending = [task_id for task_id in dict.fromkeys(t.task_id for t in listed) if task_id not in tally.refused]
            tally.transient.clear()  # what failed last pass and is still pending is tried again now
            if not pending:
                break
            run_bulk(((task_id, task_id) for task_id in pending), lambda task_id, _: self._cancel_one(task_id, tally),
                     concurrency=self.client.max_concurrency)
        counts = self.client.batch_status(self.name)
        not_canceled = {**tally.transient, **tally.refused}
        # Counted on the batch, not from the answers: a cancel whose answer was lost is counted all the same.
        return CancelCounts(canceled=counts.canceled - canceled_before,
                            already_finished=counts.completed + counts.error, not_canceled=not_canceled)

    def _cancel_one(self, task_id: str, tally: _Tally) -> None:
        """Cancel one task; when that fails, read the task to tell what happened. (Each task id is handled by one
        worker; dict updates are atomic under the GIL.)"""
        try:
            self.client.cancel_task(task_id)
            return
        except APIError as refused:
            error: Exception = refused
        except Exception as failed:  # connection lost: the cancel may or may not have happened
            error = failed
        try:
            status = self.client.get_task(task_id).status
        except Exception as unreadable:
            tally.transient[task_id] = f"{type(unreadable).__name__}: {unreadable}"
            return
        if status == "canceled" or status in FINISHED_TASK_STATUSES:
            return  # canceled after all (a lost answer) or finished meanwhile: counted on the batch
        if isinstance(error, APIError) and 400 <= error.status_code < 500 and error.status_code != 429:
            tally.refused[task_id] = error.message
        else:
            tally.transient[task_id] = f"{type(error).__name__}: {error}"
