"""Cancels of recipe jobs and A/B tests end with nothing running, through faults, and say what they did; the
emulator's lists page by cursor, so a list that shrinks while it is paged skips nothing."""

import base64
import time
from typing import Any

import dagster as dg
import pytest
from dagster._core.errors import DagsterExecutionInterruptedError  # what Dagster raises in a terminated step

from dagster_labeling._core import CancelIncomplete, JobHandle, JobState, RetryPolicy
from dagster_labeling.adaptive import AdaptiveClient, AdaptiveGraphQLError, AdaptiveResource, build_adaptive_job_asset
from dagster_labeling.testing.faults import FaultConfig
from dagster_labeling.testing.pytest_plugin import AdaptiveEmulatorHandle

LLAMA, QWEN = "llama-3.1-8b-instruct", "qwen-2.5-7b"
RETRY = RetryPolicy(max_attempts=8, initial_backoff_seconds=0.001, max_backoff_seconds=0.01)


def faults(seed: int) -> FaultConfig:
    """20% of requests 429, 5xx or dropped (after the server acted, twice as often)."""
    return FaultConfig(rate=0.2, seed=seed, retry_after_seconds=0,
                       weights={"429": 1, "500": 1, "503": 1, "drop_before": 1, "drop_after": 2})


def client(emu: AdaptiveEmulatorHandle) -> AdaptiveClient:
    return AdaptiveClient(emu.api_key, base_url=emu.base_url, retry=RETRY)


@pytest.fixture
def project(adaptive_emulator: AdaptiveEmulatorHandle) -> str:
    adaptive_emulator.ensure_project("support", models=[LLAMA, QWEN], default=LLAMA)
    with client(adaptive_emulator) as c:
        c.register_feedback_key("support", "acceptance", kind="bool")
    return "support"


def test_job_cancels_settle_through_faults(adaptive_emulator: AdaptiveEmulatorHandle, project: str) -> None:
    """20% faults (5xx and connections dropped after the server acted among them): each cancel is retried,
    waits until the job really stopped (the server takes 0.2 s), and reports one canceled job."""
    state = adaptive_emulator.state
    state.job_pending_seconds, state.job_run_seconds, state.job_cancel_seconds = 0.0, 3600.0, 0.2
    with client(adaptive_emulator) as c:
        handles = [c.run_job(project, "sft", args={"model": LLAMA}) for _ in range(10)]
        adaptive_emulator.set_faults(faults(3))
        outcomes = [h.cancel() for h in handles]
        adaptive_emulator.set_faults(None)
    assert adaptive_emulator.fault_counters().get("drop_after", 0) > 0
    assert [(o.canceled, o.already_finished, o.still_running, o.state) for o in outcomes] == \
        [(1, 0, 0, JobState.CANCELED)] * 10
    assert {j["status"] for j in state.jobs.values()} == {"CANCELED"}


def test_cancel_of_a_finished_job_says_so(adaptive_emulator: AdaptiveEmulatorHandle, project: str) -> None:
    with client(adaptive_emulator) as c:
        handle = c.run_job(project, "sft", args={"model": LLAMA})
        adaptive_emulator.complete_all()
        outcome = handle.cancel()
    assert (outcome.canceled, outcome.already_finished, outcome.state) == (0, 1, JobState.SUCCEEDED)
    assert outcome.describe() == "0 canceled, 1 had already finished"


def test_cancel_that_leaves_the_job_running_raises(adaptive_emulator: AdaptiveEmulatorHandle, project: str) -> None:
    state = adaptive_emulator.state
    state.job_pending_seconds, state.job_run_seconds, state.job_cancel_seconds = 0.0, 3600.0, 3600.0
    with client(adaptive_emulator) as c:
        handle = c.run_job(project, "sft", args={"model": LLAMA})
        handle.cancel_settle_seconds = 0.3
        with pytest.raises(CancelIncomplete) as info:
            handle.cancel()
    assert "left work running" in str(info.value) and handle.id in str(info.value)
    assert handle.last_cancel is not None and handle.last_cancel.still_running == 1
    assert handle.last_cancel.state is JobState.RUNNING


def test_ab_test_cancels_through_faults(adaptive_emulator: AdaptiveEmulatorHandle, project: str) -> None:
    """A cancel retried after its answer was lost finds the test CANCELLED: counted as canceled, not failed."""
    with client(adaptive_emulator) as c:
        handles = [c.create_ab_test(project, f"ab-{i}", "acceptance", [LLAMA, QWEN]) for i in range(10)]
        c.create_ab_test(project, "done", "acceptance", [LLAMA, QWEN])
        adaptive_emulator.state.complete_ab_test("done")
        adaptive_emulator.set_faults(faults(1))
        outcomes = [h.cancel() for h in handles]
        finished = c.ab_test("done").cancel()
        adaptive_emulator.set_faults(None)
    assert adaptive_emulator.fault_counters().get("drop_after", 0) > 0
    assert [(o.canceled, o.still_running, o.state) for o in outcomes] == [(1, 0, JobState.CANCELED)] * 10
    assert (finished.canceled, finished.already_finished, finished.state) == (0, 1, JobState.SUCCEEDED)
    assert {c["status"] for k, c in adaptive_emulator.state.ab_campaigns.items() if k != "done"} == {"CANCELLED"}


def test_terminated_run_cancels_the_recipe_job_and_logs_it(adaptive_emulator: AdaptiveEmulatorHandle, project: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    state = adaptive_emulator.state
    state.job_pending_seconds, state.job_run_seconds, state.job_cancel_seconds = 0.0, 3600.0, 0.2
    training = build_adaptive_job_asset(name="tuned", project=project, recipe="sft", args={"model": LLAMA},
                                        poll_interval_seconds=0.01)
    polls: list[float] = []

    def terminate_on_second_poll(self: Any, seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:
            raise DagsterExecutionInterruptedError()  # the run was terminated from the UI
        time.sleep(seconds)  # the cancel's re-reads wait for real

    monkeypatch.setattr(JobHandle, "sleep", terminate_on_second_poll)
    instance = dg.DagsterInstance.ephemeral()
    resource = AdaptiveResource(api_key=adaptive_emulator.api_key, base_url=adaptive_emulator.base_url)
    with pytest.raises(DagsterExecutionInterruptedError):
        dg.materialize([training], instance=instance, resources={"adaptive": resource})
    [job] = state.jobs.values()
    assert job["status"] == "CANCELED"
    [run] = instance.get_runs()
    messages = [e.user_message for e in instance.all_logs(run.run_id)]
    assert any(f"canceled Adaptive job {job['id']}: 1 canceled, 0 had already finished; Adaptive job {job['id']}: "
               "CANCELED" in m for m in messages), messages


def _list_jobs(c: AdaptiveClient, project: str, first: int, after: str | None) -> dict[str, Any]:
    data = c.graphql("ListJobs", {"page": {"first": first, "after": after, "before": None, "last": None},
                                  "filter": {"project": project, "kind": None}, "order": []})
    return dict(data["jobs"])


def test_emulator_pages_by_cursor_so_a_shrinking_list_skips_nothing(adaptive_emulator: AdaptiveEmulatorHandle,
                                                                     project: str) -> None:
    with client(adaptive_emulator) as c:
        ids = [c.run_job(project, "sft", args={"model": LLAMA}).id for _ in range(7)]
        seen: list[str] = []
        after = None
        while True:
            data = _list_jobs(c, project, 2, after)
            page = [n["id"] for n in data["nodes"]]
            seen += page
            with adaptive_emulator.state.lock:  # the list shrinks while it is paged (a cancel loop's "pending")
                for job_id in page:
                    del adaptive_emulator.state.jobs[job_id]
            if not data["pageInfo"]["hasNextPage"]:
                break
            after = data["pageInfo"]["endCursor"]
        assert sorted(seen) == sorted(ids)
        assert seen == list(reversed(ids))  # newest first, stable
        c.run_job(project, "sft", args={"model": LLAMA})
        for cursor in (b"3", b'["x"]'):  # an index, or a list that is no position: refused, not a 500
            with pytest.raises(AdaptiveGraphQLError, match="Invalid cursor"):
                _list_jobs(c, project, 2, base64.urlsafe_b64encode(cursor).decode())


def test_label_lookup_follows_the_cursor_through_every_page(adaptive_emulator: AdaptiveEmulatorHandle,
                                                            project: str) -> None:
    with client(adaptive_emulator) as c:
        ids = {f"r{i}": c.create_interaction(project, [{"role": "user", "content": f"q{i}"}], f"a{i}",
                                             labels={"dagster_row": f"r{i}"}).completion_id for i in range(7)}
        c.create_interaction(project, [{"role": "user", "content": "other"}], "x", labels={"dagster_row": "zz"})
        assert c.interactions_with_label(project, "dagster_row", [*ids, "absent"], page_size=2) == ids


def test_an_upload_being_processed_cannot_be_canceled_and_says_why(adaptive_emulator: AdaptiveEmulatorHandle,
                                                                   project: str) -> None:
    from dagster_labeling.adaptive.handles import AdaptiveUploadHandle

    adaptive_emulator.state.upload_processing_polls = 1000
    with client(adaptive_emulator) as c:
        session = c._rest("upload/init", {"content_type": "application/jsonl", "metadata": None,
                                          "total_parts_count": 1})["session_id"]
        c._http.request("POST", "api/v1/upload/part", params={"session_id": session, "part_number": 1},
                        content=b'{"messages": [{"role": "user", "content": "q"}], "completion": "a"}\n')
        created = c.graphql("CreateDatasetFromMultipartUpload", {"input": {
            "project": project, "name": "faq", "key": "faq", "uploadSessionId": session}})
        handle = AdaptiveUploadHandle(c, project, created["createDatasetFromMultipartUpload"]["datasetId"])
        with pytest.raises(CancelIncomplete, match="no way to stop"):
            handle.cancel()
    assert handle.last_cancel is not None and handle.last_cancel.canceled == 0


def test_a_job_start_whose_answer_is_lost_is_found_not_started_twice(adaptive_emulator: AdaptiveEmulatorHandle,
                                                                      project: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """CreateJob is not idempotent: the job asset lists the partition's jobs after a lost answer and follows the
    one the server did start; a re-run reattaches to it. A start the server never stored still fails the step."""
    from dagster_labeling._core import ConnectionFailed

    start = AdaptiveClient.run_job

    def stored_then_dropped(self: AdaptiveClient, *args: Any, **kwargs: Any) -> Any:
        start(self, *args, **kwargs)  # the server started it; the connection broke before the answer
        raise ConnectionFailed("Adaptive ML POST api/graphql: RemoteProtocolError", platform="Adaptive ML",
                               method="POST", path="api/graphql", attempts=1)

    monkeypatch.setattr(AdaptiveClient, "run_job", stored_then_dropped)
    tuned = build_adaptive_job_asset(name="tuned", project=project, recipe="sft", args={"model": LLAMA},
                                     wait_for_completion=False)
    instance = dg.DagsterInstance.ephemeral()
    resources = {"adaptive": AdaptiveResource(api_key=adaptive_emulator.api_key, base_url=adaptive_emulator.base_url)}
    first = dg.materialize([tuned], instance=instance, resources=resources)
    [job] = adaptive_emulator.state.jobs.values()
    assert first.output_for_node("tuned") == job["id"]
    again = dg.materialize([tuned], instance=instance, resources=resources)
    assert again.output_for_node("tuned") == job["id"] and len(adaptive_emulator.state.jobs) == 1

    def never_stored(self: AdaptiveClient, *args: Any, **kwargs: Any) -> Any:
        raise ConnectionFailed("Adaptive ML POST api/graphql: ReadTimeout", platform="Adaptive ML", method="POST",
                               path="api/graphql", attempts=1)

    monkeypatch.setattr(AdaptiveClient, "run_job", never_stored)
    other = build_adaptive_job_asset(name="other", project=project, recipe="sft", args={"model": LLAMA})
    failed = dg.materialize([other], instance=instance, resources=resources, raise_on_error=False)
    assert not failed.success and len(adaptive_emulator.state.jobs) == 1


def test_a_run_that_dies_while_waiting_is_reattached_to(adaptive_emulator: AdaptiveEmulatorHandle, project: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The launch is recorded before the wait (yielded, not logged at the asset's end): a re-run after the run
    worker died mid-wait follows the running job instead of starting a second one."""
    state = adaptive_emulator.state
    state.job_pending_seconds, state.job_run_seconds = 0.0, 3600.0
    tuned = build_adaptive_job_asset(name="tuned", project=project, recipe="sft", args={"model": LLAMA})
    instance = dg.DagsterInstance.ephemeral()
    resources = {"adaptive": AdaptiveResource(api_key=adaptive_emulator.api_key, base_url=adaptive_emulator.base_url)}

    recorded_while_waiting: list[Any] = []

    def worker_dies(self: Any, seconds: float) -> None:  # as kill -9 would: what is not written yet is lost
        records = instance.fetch_observations(dg.AssetKey("tuned"), limit=10).records
        recorded_while_waiting.extend(r.asset_observation.metadata.get("adaptive/job_id") for r in records)
        raise RuntimeError("the run worker died")  # an error, not an interrupt: nothing is canceled

    with monkeypatch.context() as patch:
        patch.setattr(JobHandle, "sleep", worker_dies)
        assert not dg.materialize([tuned], instance=instance, resources=resources, raise_on_error=False).success
    [job] = state.jobs.values()
    assert [getattr(v, "value", v) for v in recorded_while_waiting] == [job["id"]]
    assert job["status"] not in ("CANCELED", "COMPLETED")
    adaptive_emulator.complete_all()
    again = dg.materialize([tuned], instance=instance, resources=resources)
    assert again.output_for_node("tuned") == job["id"] and len(state.jobs) == 1
