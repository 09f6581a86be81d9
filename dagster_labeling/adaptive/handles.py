"""Adaptive's long-running work as job handles (``.wait()``, ``.cancel()``): A/B tests, recipe jobs, the
processing of a chunked dataset upload.

A cancel is sent so that it can be repeated (a retry after a lost answer finds the work canceled, and is
counted as canceled); :meth:`~dagster_labeling._core.JobHandle.cancel` then re-reads the job until it settles,
reports the outcome and raises ``CancelIncomplete`` if it is still running.
"""

from typing import TYPE_CHECKING

from dagster_labeling._core import CancelCounts, JobHandle, JobState, JobStatus
from dagster_labeling.adaptive.errors import AdaptiveGraphQLError
from dagster_labeling.adaptive.models import AbTest, Job

if TYPE_CHECKING:
    from dagster_labeling.adaptive.client import AdaptiveClient

UPLOAD_STATES = {"PENDING": JobState.RUNNING, "DONE": JobState.SUCCEEDED, "ERROR": JobState.FAILED}
AB_TEST_STATES = {"WARMUP": JobState.RUNNING, "IN_PROGRESS": JobState.RUNNING, "DONE": JobState.SUCCEEDED,
                  "CANCELLED": JobState.CANCELED}
JOB_STATES = {"PENDING": JobState.PENDING, "RUNNING": JobState.RUNNING, "COMPLETED": JobState.SUCCEEDED,
              "FAILED": JobState.FAILED, "CANCELED": JobState.CANCELED}


class AdaptiveAbTestHandle(JobHandle):
    """An A/B test as a job: RUNNING while WARMUP/IN_PROGRESS, SUCCEEDED when DONE, CANCELED when cancelled."""

    kind = "Adaptive A/B test"

    def __init__(self, client: "AdaptiveClient", key: str) -> None:
        super().__init__(key)
        self.client = client
        self.ab_test: AbTest | None = None

    def fetch_status(self) -> JobStatus:
        self.ab_test = self.client.get_ab_test(self.id)
        state = JobState.from_vendor(self.ab_test.status, AB_TEST_STATES)
        return JobStatus(state=state, raw_status=self.ab_test.status, done=self.ab_test.scores,
                         details={"winner": self.ab_test.winner(), "has_enough_scores": self.ab_test.has_enough_scores})

    def cancel_remote(self) -> CancelCounts | None:
        """Cancel the test. The server refuses to cancel a test that is not running: if it is CANCELLED by then
        (an earlier attempt whose answer was lost), that is this cancel; if DONE, it had already finished."""
        try:
            self.client.cancel_ab_test(self.id)
        except AdaptiveGraphQLError:
            status = self.refresh()
            if status.state is JobState.CANCELED:
                return CancelCounts(canceled=1)
            if status.state.is_terminal:
                return CancelCounts(already_finished=1)
            raise
        return None


class AdaptiveUploadHandle(JobHandle):
    """The server's processing of a chunked dataset upload: PENDING, then DONE or ERROR."""

    kind = "Adaptive dataset upload"
    cancel_settle_seconds = 0.0  # nothing can stop it: re-read once and report it running

    def __init__(self, client: "AdaptiveClient", project: str, dataset_id: str) -> None:
        super().__init__(dataset_id)
        self.client, self.project = client, project

    def fetch_status(self) -> JobStatus:
        data = self.client.graphql("DatasetUploadProcessingStatus",
                                   {"input": {"project": self.project, "datasetId": self.id}})
        status = data["datasetUploadProcessingStatus"]
        progress = status.get("progress")
        raw = status.get("status")
        return JobStatus(state=JobState.from_vendor(raw, UPLOAD_STATES), raw_status=raw, reason=status.get("error"),
                         done=None if progress is None else int(float(progress) * 100),
                         total=None if progress is None else 100)

    def cancel_remote(self) -> CancelCounts:
        """The API has no way to stop the processing of an upload: reported as not canceled, with why."""
        return CancelCounts(not_canceled={self.id: "Adaptive has no way to stop the processing of an upload"})


class AdaptiveJobHandle(JobHandle):
    """A recipe job (training, evaluation): progress from the job's ``progress`` (0 to 1)."""

    kind = "Adaptive job"

    def __init__(self, client: "AdaptiveClient", job_id: str) -> None:
        super().__init__(job_id)
        self.client = client
        self.job: Job | None = None

    def fetch_status(self) -> JobStatus:
        self.job = self.client.get_job(self.id)
        state = JobState.from_vendor(self.job.status, JOB_STATES)
        progress = self.job.progress
        return JobStatus(state=state, raw_status=self.job.status, reason=self.job.error,
                         done=None if progress is None else int(round(progress * 100)),
                         total=None if progress is None else 100)

    def cancel_remote(self) -> CancelCounts | None:
        """Ask the server to cancel the job (retried through faults: canceling twice is harmless). A job that
        had finished before the cancel arrived is counted as already finished."""
        job = self.client.cancel_job(self.id)
        if JobState.from_vendor(job.status, JOB_STATES) in (JobState.SUCCEEDED, JobState.FAILED):
            return CancelCounts(already_finished=1)
        return None
