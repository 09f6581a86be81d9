"""LLM Engine's fine-tunes and batch-completion jobs as job handles (waiting, progress, cancel: see ``JobHandle``)."""

from typing import TYPE_CHECKING

from dagster_labeling._core import CancelCounts, JobHandle, JobState, JobStatus
from dagster_labeling._core.errors import NotFound
from dagster_labeling.llm_engine.models import BatchCompletionJob, LossPoint, loss_curve

if TYPE_CHECKING:
    from dagster_labeling.llm_engine.client import LLMEngineClient

#: Vendor statuses of a fine-tune, normalized.
FINE_TUNE_STATES = {
    "PENDING": JobState.PENDING,
    "RUNNING": JobState.RUNNING,
    "SUCCESS": JobState.SUCCEEDED,
    "FAILURE": JobState.FAILED,
    "TIMEOUT": JobState.FAILED,
    "CANCELLED": JobState.CANCELED,
    "UNDEFINED": JobState.UNKNOWN,
}
#: Vendor statuses of a batch-completions job, normalized.
BATCH_STATES = {
    "queued": JobState.PENDING,
    "running": JobState.RUNNING,
    "completed": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "cancelled": JobState.CANCELED,
    "unknown": JobState.UNKNOWN,
}


GONE_STATUS = "NOT_FOUND"
"""``raw_status`` of a job the service no longer knows: model-engine deletes a canceled fine-tune or batch job
(its Kubernetes job), and a finished one after a few days, so reading it answers 404."""


def _gone(kind: str) -> JobStatus:
    return JobStatus(state=JobState.CANCELED, raw_status=GONE_STATUS,
                     reason=f"the {kind} no longer exists on LLM Engine (the service deletes a canceled job, "
                            "and a finished one after a few days)")


def _cancel_counts(handle: JobHandle, success: bool) -> CancelCounts | None:
    """What a cancel answered ``success`` did: None (the job was canceled) when it says so; else the job is read
    again, since ``success: false`` also answers a cancel that an earlier, lost answer already made."""
    if success:
        return None
    status = handle.refresh()
    if status.state is JobState.CANCELED:
        return CancelCounts(canceled=1)
    if status.state.is_terminal:
        return CancelCounts(already_finished=1)
    return CancelCounts(not_canceled={handle.id: f"LLM Engine answered success=false; the job is {status.raw_status}"})


class FineTuneJob(JobHandle):
    """A fine-tune as a job; progress (epochs done of ``epochs``) and loss come from its events.

    A fine-tune the service answers 404 for is ``CANCELED`` (raw status ``NOT_FOUND``): canceling deletes it.
    """

    kind = "LLM Engine fine-tune"

    def __init__(self, client: "LLMEngineClient", fine_tune_id: str, *, epochs: int | None = None) -> None:
        super().__init__(fine_tune_id)
        self.client = client
        self.epochs = epochs
        self.fine_tuned_model: str | None = None
        self.loss: list[LossPoint] = []

    def fetch_status(self) -> JobStatus:
        try:
            ft = self.client.get_fine_tune(self.id)
        except NotFound:
            return _gone("fine-tune")
        self.fine_tuned_model = ft.fine_tuned_model
        try:
            self.loss = loss_curve(self.client.get_fine_tune_events(self.id))
        except Exception:  # events are best-effort progress; the status is what counts
            self.loss = self.loss
        state = JobState.from_vendor(ft.status, FINE_TUNE_STATES)
        done = int(max(p.epoch for p in self.loss)) if self.loss else 0
        total = self.epochs
        if state is JobState.SUCCEEDED and total is not None:
            done = total
        reason = None
        if state in (JobState.FAILED, JobState.CANCELED):
            reason = f"fine-tune ended {ft.status}"
        return JobStatus(
            state=state, raw_status=ft.status, done=done if total else None, total=total, reason=reason,
            details={"fine_tuned_model": ft.fine_tuned_model, "loss": [p.model_dump() for p in self.loss]},
        )

    def cancel_remote(self) -> CancelCounts | None:
        try:
            success = self.client.cancel_fine_tune(self.id)
        except NotFound:  # gone already (a cancel whose answer was lost deletes it)
            success = False
        return _cancel_counts(self, success)


class BatchCompletionJobHandle(JobHandle):
    """A batch-completions job (v1 or v2); its state comes from ``GET /v2/batch-completions/{id}`` (404: canceled,
    as for :class:`FineTuneJob`)."""

    kind = "LLM Engine batch completion"

    def __init__(self, client: "LLMEngineClient", job_id: str) -> None:
        super().__init__(job_id)
        self.client = client
        self.job: BatchCompletionJob | None = None

    def fetch_status(self) -> JobStatus:
        try:
            self.job = self.client.get_batch_completion(self.id)
        except NotFound:
            return _gone("batch job")
        state = JobState.from_vendor(self.job.status, BATCH_STATES)
        reason = f"batch job ended {self.job.status}" if state in (JobState.FAILED, JobState.CANCELED) else None
        return JobStatus(state=state, raw_status=self.job.status, reason=reason,
                         details={"output_data_path": self.job.output_data_path})

    def cancel_remote(self) -> CancelCounts | None:
        try:
            success = self.client.cancel_batch_completion(self.id)
        except NotFound:  # gone already (a cancel whose answer was lost deletes it)
            success = False
        return _cancel_counts(self, success)
