"""Task runs, exports and fine-tunes as job handles (``refresh``, ``wait``, ``cancel``; see ``_core.jobs``)."""

from typing import TYPE_CHECKING

from dagster_labeling._core import CancelCounts, JobHandle, JobState, JobStatus
from dagster_labeling.refuel.errors import RefuelNotFound
from dagster_labeling.refuel.models import FinetunedModel

if TYPE_CHECKING:
    from dagster_labeling.refuel.client import RefuelClient

_RUN_STATES = {
    "not_started": JobState.PENDING, "restarted": JobState.PENDING, "preview": JobState.PENDING,
    "active": JobState.RUNNING, "completed": JobState.SUCCEEDED, "paused": JobState.CANCELED,
    "failed": JobState.FAILED, "cancelled": JobState.CANCELED, "canceled": JobState.CANCELED,
}
_FINETUNE_STEPS = ("INITIALIZATION", "DATASET PREPARATION", "RESOURCE ALLOCATION", "TRAINING", "EVALUATION",
                   "DEPLOYMENT")


class RefuelTaskRun(JobHandle):
    """A task run on a dataset: done = ``num_labeled``, total = labeled + remaining."""

    kind = "Refuel task run"

    def __init__(self, client: "RefuelClient", task_id: str, dataset_id: str) -> None:
        super().__init__(f"{task_id}/{dataset_id}", url=client.task_url(task_id))
        self.client, self.task_id, self.dataset_id = client, task_id, dataset_id

    def fetch_status(self) -> JobStatus:
        run = self.client.get_task_run(self.task_id, self.dataset_id)
        total = None
        if run.num_labeled is not None and run.num_remaining is not None:
            total = run.num_labeled + run.num_remaining
        state = JobState.from_vendor(run.status, _RUN_STATES)
        reason = None if state in (JobState.SUCCEEDED, JobState.RUNNING, JobState.PENDING) else f"status {run.status}"
        return JobStatus(state, run.status, run.num_labeled, total, reason, run.model_dump())

    def cancel_remote(self) -> CancelCounts:
        """Ask Refuel to cancel the run (re-sent if the answer is lost: cancelling twice is harmless); items labeled
        by then count as finished, the rest as canceled."""
        self.client.cancel_task_run(self.task_id, self.dataset_id)
        status = self.refresh()
        labeled = status.done or 0
        return CancelCounts(canceled=max(0, (status.total or labeled) - labeled), already_finished=labeled)

    def still_running(self, status: JobStatus) -> int:
        """Items the run still has to label while it is not finished (at least 1: the run itself)."""
        if status.state.is_terminal:
            return 0
        return max(1, (status.total or 0) - (status.done or 0))


class RefuelExport(JobHandle):
    """A dataset export: SUCCEEDED once the signed URL is ready (``details['url']``)."""

    kind = "Refuel export"

    def __init__(self, client: "RefuelClient", dataset_id: str, export_id: str) -> None:
        super().__init__(export_id)
        self.client, self.dataset_id = client, dataset_id
        self.download_url: str | None = None

    def fetch_status(self) -> JobStatus:
        url = self.client.get_export_url(self.dataset_id, self.id)
        if url is None:
            return JobStatus(JobState.RUNNING, "in progress")
        self.download_url = url
        return JobStatus(JobState.SUCCEEDED, "ready", details={"url": url})

    def cancel_remote(self) -> None:
        """Refuel has no export cancel; the export simply expires."""


class RefuelFinetune(JobHandle):
    """A fine-tuning run; done/total counts its stages (initialization … deployment)."""

    kind = "Refuel fine-tune"

    def __init__(self, client: "RefuelClient", model_id: str, task_id: str | None = None) -> None:
        super().__init__(model_id)
        self.client, self.task_id = client, task_id

    @staticmethod
    def status_of(model: FinetunedModel) -> JobStatus:
        raw = (model.finetuning_run_status or "").upper()
        step = next((i for i, s in enumerate(_FINETUNE_STEPS) if raw.startswith(s)), 0)
        if raw == "INTERRUPTED":
            state = JobState.CANCELED
        elif "FAILED" in raw:
            state = JobState.FAILED
        elif raw == "DEPLOYMENT COMPLETED" or model.availability_status == "AVAILABLE":
            state, step = JobState.SUCCEEDED, len(_FINETUNE_STEPS)
        elif raw:
            state = JobState.RUNNING
        else:
            state = JobState.UNKNOWN
        reason = model.finetuning_run_status if state in (JobState.FAILED, JobState.CANCELED) else None
        return JobStatus(state, model.finetuning_run_status, step, len(_FINETUNE_STEPS), reason, model.model_dump())

    def fetch_status(self) -> JobStatus:
        for model in self.client.get_finetuned_models(task=self.task_id):
            if model.id == self.id:
                return self.status_of(model)
        raise RefuelNotFound(f"No fine-tuned model {self.id} in the project.", platform="Refuel", method="GET",
                             path="finetuned_models", status_code=404)

    def cancel_remote(self) -> None:
        self.client.cancel_finetuning(self.id)
