"""ArgillaClient against the emulator: every operation, rollback, chunking, idempotency, errors and faults."""

import pytest

from dagster_labeling._core import InvalidInput, RetryPolicy
from dagster_labeling.argilla import (
    ArgillaClient,
    ArgillaConflictError,
    ArgillaCredentialsError,
    ArgillaNotFoundError,
    ArgillaUnprocessableEntityError,
    RecordInput,
    ResponseInput,
    ResponseStatus,
    SuggestionInput,
    range_filter,
    response_status_filter,
    terms_filter,
)
from dagster_labeling.testing.pytest_plugin import ArgillaEmulatorHandle

from .argilla_helpers import full_settings, simple_settings

FAST = RetryPolicy(max_attempts=6, initial_backoff_seconds=0.01, max_backoff_seconds=0.05)


@pytest.fixture
def client(argilla_emulator: ArgillaEmulatorHandle):
    argilla_emulator.state.auto_annotate = False
    with ArgillaClient(argilla_emulator.api_key, api_url=argilla_emulator.api_url, retry=FAST) as c:
        yield c


def test_me_and_bad_key(client, argilla_emulator):
    assert client.me().username == "argilla"
    with ArgillaClient("wrong-key-123", api_url=argilla_emulator.api_url) as bad, \
            pytest.raises(ArgillaCredentialsError) as err:
        bad.me()
    assert "wrong-key-123" not in str(err.value) and "Could not validate credentials" in str(err.value)


def test_workspaces(client):
    assert [w.name for w in client.list_workspaces()] == ["argilla"]
    ws = client.create_workspace("team-a")
    assert client.get_workspace("team-a").id == ws.id
    assert client.create_workspace("team-a").id == ws.id  # already there: fetched, not an error
    assert client.get_workspace("nope") is None
    with pytest.raises(InvalidInput, match="workspace name"):
        client.create_workspace("bad name!")  # refused before sending
    with pytest.raises(ArgillaUnprocessableEntityError, match="pattern"):
        client.create_workspace("Team-Upper")  # the server's rule is stricter


def test_create_dataset_with_every_setting(client, argilla_emulator):
    ds = client.create_dataset("full", full_settings(), workspace="team-b", create_workspace=True)
    assert ds.status == "ready"
    state = argilla_emulator.state.datasets[ds.id]
    assert [f["settings"]["type"] for f in state["fields"]] == ["text", "text", "image", "chat", "custom"]
    assert [q["settings"]["type"] for q in state["questions"]] == [
        "rating", "label_selection", "multi_label_selection", "text", "ranking", "span"]
    assert state["json"]["guidelines"] == "Review carefully."
    assert state["json"]["allow_extra_metadata"] is False
    assert [m["settings"]["type"] for m in state["metadata-properties"]] == ["terms", "integer"]
    assert state["vectors-settings"][0]["dimensions"] == 3
    assert client.get_dataset("full", "team-b").id == ds.id
    assert client.get_dataset("full", "argilla") is None
    assert [d.name for d in client.list_datasets()] == ["full"]
    client.delete_dataset(ds)
    assert client.get_dataset("full") is None


def test_failed_creation_leaves_nothing(client, argilla_emulator):
    # Every POST of a setting fails with 500 (retried until the policy gives up) -> the draft is deleted.
    argilla_emulator.set_faults(rate=1.0, weights={"500": 1.0}, methods=["POST"], path_prefixes=["/api/v1/datasets/"])
    with pytest.raises(Exception, match="500"):
        client.create_dataset("half", simple_settings())
    argilla_emulator.set_faults(rate=0.0)
    assert argilla_emulator.state.datasets == {}
    deletes = argilla_emulator.request_log.entries(method="DELETE")
    assert len(deletes) == 1 and deletes[0].path.startswith("/api/v1/datasets/")


def test_duplicate_dataset_is_a_conflict_and_ensure_reuses(client):
    ds = client.create_dataset("dup", simple_settings())
    with pytest.raises(ArgillaConflictError):
        client.create_dataset("dup", simple_settings())
    assert client.ensure_dataset("dup", simple_settings()).id == ds.id


def _records(n, **kw):
    return [RecordInput(fields={"prompt": f"p{i}", "answer": f"a{i}"}, external_id=f"row-{i}",
                        metadata={"source": "unit"},
                        suggestions=[SuggestionInput(question="topic", value="math", score=0.4, agent="clf")], **kw)
            for i in range(n)]


def test_upsert_chunks_of_500_and_is_idempotent(client, argilla_emulator):
    ds = client.create_dataset("up", simple_settings())
    argilla_emulator.request_log.clear()
    result = client.upsert_records(ds, _records(1201))
    assert result.count == 1201 and result.requests == 3 and not result.failures
    puts = argilla_emulator.request_log.entries(method="PUT")
    assert sorted(len(p.json()["items"]) for p in puts) == [201, 500, 500]
    again = client.upsert_records(ds, _records(1201))
    assert again.count == 1201
    assert argilla_emulator.state.record_count(ds.id) == 1201  # updated, not duplicated
    rec = next(client.list_records(ds.id))
    assert rec.metadata == {"source": "unit"}
    assert rec.suggestions[0].value == "math" and rec.suggestions[0].score == 0.4 and len(rec.suggestions) == 1


def test_bad_values_fail_before_sending(client, argilla_emulator):
    ds = client.create_dataset("bad", simple_settings())
    argilla_emulator.request_log.clear()
    with pytest.raises(InvalidInput, match="rating 9 is not among the options"):
        client.upsert_records(ds, [RecordInput(fields={"prompt": "p", "answer": "a"},
                                               responses=[ResponseInput(values={"quality": 9, "topic": "math"})])])
    with pytest.raises(InvalidInput, match="label 'poetry' is not among the options"):
        client.upsert_records(ds, [*_records(3), RecordInput(fields={"prompt": "p", "answer": "a"},
                              suggestions=[SuggestionInput(question="topic", value="poetry")])])
    with pytest.raises(InvalidInput, match="unknown field"):
        client.upsert_records(ds, [RecordInput(fields={"prompt": "p", "answer": "a", "oops": 1})])
    with pytest.raises(InvalidInput, match="external_id"):
        client.upsert_records(ds, [*_records(2), *_records(1)])
    assert argilla_emulator.request_log.entries(method="PUT") == []


def test_list_search_delete_and_typed_responses(client, argilla_emulator):
    ds = client.create_dataset("q", simple_settings())
    me = client.me().id
    recs = _records(5)
    recs[0].responses.append(ResponseInput(values={"quality": 5, "topic": "math"}, user_id=me))
    recs[1].responses.append(ResponseInput(values={"quality": 2}, status=ResponseStatus.DRAFT, user_id=me))
    client.upsert_records(ds, recs)
    listed = list(client.list_records(ds.id, page_size=2))
    assert [r.external_id for r in listed] == [f"row-{i}" for i in range(5)]
    assert listed[0].status.value == "completed" and listed[0].responses[0].value("quality") == 5
    assert listed[1].responses[0].status is ResponseStatus.DRAFT
    no_include = next(client.list_records(ds.id, include=()))
    assert no_include.responses is None and no_include.suggestions is None
    submitted = list(client.search_records(ds.id, filters=[response_status_filter("submitted")]))
    assert [r.external_id for r in submitted] == ["row-0"]
    pending = list(client.search_records(ds.id, filters=[response_status_filter("pending")], page_size=1))
    assert len(pending) == 3
    assert len(list(client.search_records(ds.id, text="p3"))) == 1
    assert len(list(client.search_records(ds.id, filters=[terms_filter("record", ["row-4"], property="external_id"),
                                                           range_filter("suggestion", question="topic",
                                                                        property="score", le=0.5)]))) == 1
    client.delete_records(ds.id, [listed[3].id, listed[4].id])
    assert argilla_emulator.state.record_count(ds.id) == 3


def test_progress_job_with_simulated_annotators(client, argilla_emulator):
    state = argilla_emulator.state
    state.auto_annotate, state.annotation_seconds, state.responses_per_record = True, 0.05, 2
    ds = client.create_dataset("prog", simple_settings())
    client.upsert_records(ds, _records(20))
    job = client.progress_job(ds.id, target_fraction=1.0)
    from dagster_labeling._core import WaitOptions
    status = job.wait(WaitOptions(timeout_seconds=10, poll_interval_seconds=0.05))
    assert status.done == status.total == 20 and status.state.value == "SUCCEEDED"
    users = client.users_progress(ds.id)
    assert sum(u.completed["submitted"] for u in users) == 40
    assert job.url.endswith(f"/dataset/{ds.id}/annotation-mode")


def test_webhooks_crud(client):
    hook = client.create_webhook("http://127.0.0.1:9/hook", ["record.completed"], description="d")
    assert hook.secret and "secret" not in repr(hook)
    assert [w.id for w in client.list_webhooks()] == [hook.id]
    updated = client.update_webhook(hook.id, enabled=False, events=["record.created", "response.created"])
    assert updated.enabled is False and updated.events == ["record.created", "response.created"]
    client.ping_webhook(hook.id)
    client.delete_webhook(hook.id)
    assert client.list_webhooks() == []
    with pytest.raises(ArgillaNotFoundError):
        client.delete_webhook(hook.id)
    with pytest.raises(InvalidInput, match="events"):
        client.create_webhook("http://x/hook", ["record.exploded"])


def test_faults_are_retried_and_give_exact_counts(client, argilla_emulator):
    ds = client.create_dataset("faulty", simple_settings())
    argilla_emulator.set_faults(rate=0.3, seed=7, weights={"429": 1, "500": 1, "503": 1, "drop_after": 1},
                                retry_after_seconds=0)
    # The retry budget is sized to the fault rate: with 6 attempts a chunk fails all of them with
    # probability 0.3**6, about 1.5% of runs over 20 chunks (seen once); with 15 it is ~3e-7 per run. Concurrent
    # chunks make the seeded fault order vary, so this is a bound on chance, not a fixed sequence.
    patient = FAST.model_copy(update={"max_attempts": 15})
    with ArgillaClient(argilla_emulator.api_key, api_url=argilla_emulator.api_url, retry=patient) as retrying:
        result = retrying.upsert_records(ds, _records(2000), batch_size=100)
        listed = list(retrying.list_records(ds.id))
    argilla_emulator.set_faults(rate=0.0)
    assert not result.failures and len(listed) == 2000
    assert len({r.external_id for r in listed}) == 2000
    assert sum(v for k, v in argilla_emulator.fault_counters().items() if k != "requests") > 0


def test_credentials_in_api_url_are_never_shown():
    client = ArgillaClient("k", api_url="https://user:s3cret@argilla.example.com/?api_key=sk-9")
    shown = repr(client) + client.dataset_url("d1") + client.base_url
    assert "s3cret" not in shown and "sk-9" not in shown and "argilla.example.com" in shown
    client.close()
    with pytest.raises(InvalidInput, match="'localhost:6900'.*e.g. 'http://localhost:6900'") as bad:
        ArgillaClient("k", api_url="localhost:6900")
    assert bad.value.field == "base_url" and "/api/v1" not in str(bad.value)
