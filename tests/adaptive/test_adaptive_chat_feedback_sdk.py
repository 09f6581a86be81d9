"""The official adaptive-sdk 0.14.2 drives chat, interactions, feedback and embeddings against the emulator
unchanged, and our client sends what it sends, request by request; where the SDK is broken (``tied``, the
``user_id``/``feedbacks``/``comparisons`` filters it drops, ``log_metric``'s ``user``) ours does what the API takes."""

import base64
import struct
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from adaptive_sdk import Adaptive
from adaptive_sdk.graphql_client.custom_mutations import Mutation

from dagster_labeling.adaptive import AdaptiveClient, InteractionFilter, user_uuid
from dagster_labeling.testing.adaptive_interactions import prompt_hash
from dagster_labeling.testing.pytest_plugin import AdaptiveEmulatorHandle

LLAMA, QWEN = "llama-3.1-8b-instruct", "qwen-2.5-7b"
HI = [{"role": "user", "content": "Hi"}]
ALICE, SESSION = user_uuid("alice@example.com"), "12804d3f-efb1-4fc1-84d8-7a59ddf31fd6"


@pytest.fixture
def emu(adaptive_emulator: AdaptiveEmulatorHandle) -> AdaptiveEmulatorHandle:
    adaptive_emulator.ensure_project("p1", models=[LLAMA, QWEN, "bge-embed"], default=LLAMA)
    return adaptive_emulator


@pytest.fixture
def ours(emu: AdaptiveEmulatorHandle) -> Iterator[AdaptiveClient]:
    with AdaptiveClient(emu.api_key, base_url=emu.base_url) as client:
        yield client


@pytest.fixture
def sdk(emu: AdaptiveEmulatorHandle) -> Iterator[Adaptive]:
    client = Adaptive(base_url=emu.base_url, api_key=emu.api_key)
    yield client
    client.close()


def sent(emu: AdaptiveEmulatorHandle, call: Callable[[], Any]) -> list[tuple[str, str, Any]]:
    """(method, path, operation and variables, or REST body) of each request ``call`` makes."""
    emu.request_log.clear()
    call()
    out = []
    for entry in emu.request_log.entries():
        body = entry.json()
        if isinstance(body, dict) and "operationName" in body:
            body = (body["operationName"], body.get("variables"))
        out.append((entry.method, entry.path, body))
    return out


def test_chat_and_interactions_send_what_the_sdk_sends(ours: AdaptiveClient, sdk: Adaptive,
                                                       emu: AdaptiveEmulatorHandle) -> None:
    pairs: list[tuple[Callable[[], Any], Callable[[], Any]]] = [
        (lambda: sdk.chat.create(messages=HI, model=QWEN, project="p1", user=ALICE, session_id=SESSION,
                                 labels={"env": "test"}, store=True),
         lambda: ours.chat("p1", HI, model=QWEN, user=ALICE, session_id=SESSION, labels={"env": "test"}, store=True)),
        (lambda: list(sdk.chat.create(messages=HI, project="p1", stream=True, user=uuid.UUID(ALICE))),
         lambda: list(ours.stream_chat("p1", HI, user=uuid.UUID(ALICE)))),
        (lambda: sdk.interactions.create(HI, "Hello", model=LLAMA, user=ALICE, session_id=SESSION, project="p1",
                                         created_at="2024-01-01T00:00:00Z", labels={"src": "import"}),
         lambda: ours.create_interaction("p1", HI, "Hello", model=LLAMA, user=ALICE, session_id=SESSION,
                                         created_at="2024-01-01T00:00:00Z", labels={"src": "import"})),
        (lambda: sdk.embeddings.create("hello", model="bge-embed", encoding_format="Base64", project="p1",
                                       user=ALICE),
         lambda: ours.embed("p1", "hello", model="bge-embed", encoding_format="Base64", user=ALICE)),
    ]
    for theirs, mine in pairs:
        expected, got = sent(emu, theirs), sent(emu, mine)
        assert got == expected and expected
    sdk.set_default_project("p1")  # the SDK's default project and ours send the same
    with AdaptiveClient(emu.api_key, base_url=emu.base_url, default_project="p1") as defaulted:
        assert sent(emu, lambda: defaulted.chat(None, HI)) == sent(emu, lambda: sdk.chat.create(messages=HI))
    # what the SDK reads from the emulator's answers equals what we decode
    theirs_vector = sdk.embeddings.create("hello", model="bge-embed", encoding_format="Base64", project="p1")
    raw = base64.b64decode(str(theirs_vector.data[0].embedding))
    assert list(struct.unpack(f"<{len(raw) // 4}f", raw)) == \
        ours.embed("p1", "hello", model="bge-embed", encoding_format="Base64")


def test_interaction_filters_send_what_the_sdk_sends(ours: AdaptiveClient, sdk: Adaptive,
                                                     emu: AdaptiveEmulatorHandle) -> None:
    completion = ours.create_interaction("p1", HI, "Hello", user=ALICE, session_id=SESSION,
                                         labels={"a": "x", "b": "y"}).completion_id
    ours.create_interaction("p1", HI, "Other", user=user_uuid("bob"))
    digest = prompt_hash(HI)
    theirs = sent(emu, lambda: sdk.interactions.list(
        project="p1", order=[{"field": "created_at", "order": "ASC"}], page={"first": 5},
        filters={"models": [LLAMA], "timerange": {"from_": 1, "to": "2030-01-01T00:00:00Z"}, "session_id": SESSION,
                 "completion_id": completion, "labels": [{"key": "a", "value": ["x"]}, {"key": "b"}],
                 "prompt_hash": digest, "source": ["OFFLINE"]}))
    flt = InteractionFilter(models=[LLAMA], since=1, until="2030-01-01T00:00:00Z", session_id=SESSION,
                            completion_id=completion, labels={"a": ["x"], "b": None}, prompt_hash=digest,
                            source=["OFFLINE"])
    mine = sent(emu, lambda: ours.list_interactions("p1", filter=flt, order="asc", first=5))
    assert mine == theirs
    found = sdk.interactions.list(project="p1", filters={"prompt_hash": digest, "labels": [{"key": "b"}]})
    assert [n.id for n in found.nodes] == [completion]  # type: ignore[union-attr]
    # the SDK's own user filter reaches the server as {} and filters nothing; ours filters by the creator
    dropped = sent(emu, lambda: sdk.interactions.list(project="p1", filters={"user_id": ALICE}))
    assert dropped[0][2][1]["filter"]["advancedFilter"] == {"and": [{}]}
    assert len(sdk.interactions.list(project="p1", filters={"user_id": ALICE}).nodes) == 2  # type: ignore[union-attr]
    assert [i.id for i in ours.list_interactions("p1", filter=InteractionFilter(user=ALICE))] == [completion]


def test_grouped_interactions_the_sdk_reads(ours: AdaptiveClient, sdk: Adaptive, emu: AdaptiveEmulatorHandle) -> None:
    sdk.feedback.register_key("p1", "acc", kind="scalar")
    for model, value in ((LLAMA, 0.2), (QWEN, 0.8), (QWEN, 0.4)):
        ours.create_interaction("p1", HI, "x", model=model, feedbacks=[{"feedback_key": "acc", "value": value}])
    for group_by in ("model", "prompt"):
        theirs = sent(emu, lambda g=group_by: sdk.interactions.list(project="p1", group_by=g, page={"first": 10}))
        mine = sent(emu, lambda g=group_by: ours.list_grouped_interactions("p1", g, first=10))
        assert [(m, p, b[0], b[1]) for m, p, b in mine] == [(m, p, b[0], b[1]) for m, p, b in theirs]
    grouped = sdk.interactions.list(project="p1", group_by="model", page={"first": 10})
    mine_grouped = ours.list_grouped_interactions("p1", "model", first=10)
    theirs_groups = [(n.key, n.count, n.direct_scores_stats[0].average) for n in grouped.nodes]  # type: ignore
    assert theirs_groups == [(g.key, g.count, g.direct_scores_stats[0].average) for g in mine_grouped.groups]
    assert theirs_groups == [(LLAMA, 1, pytest.approx(0.2)), (QWEN, 2, pytest.approx(0.6))]


def test_preferences_tied_and_with_text(ours: AdaptiveClient, sdk: Adaptive, emu: AdaptiveEmulatorHandle) -> None:
    sdk.feedback.register_key("p1", "pref", kind="scalar")
    a, b = (ours.chat("p1", HI, model=m).completion_id for m in (LLAMA, QWEN))
    assert a and b
    theirs = sent(emu, lambda: sdk.feedback.log_preference("pref", a, b, user=ALICE, project="p1"))
    assert sent(emu, lambda: ours.log_preference("p1", "pref", a, b, user=ALICE)) == theirs
    texts = ({"text": "A", "model": LLAMA}, {"text": "B", "model": QWEN})
    theirs_text = sent(emu, lambda: sdk.feedback.log_preference("pref", *texts, messages=HI, project="p1"))
    assert sent(emu, lambda: ours.log_preference("p1", "pref", *texts, messages=HI)) == theirs_text
    assert sent(emu, lambda: ours.log_preference("p1", "pref", *texts, prompt="Hi")) == theirs_text
    # the SDK cannot send a tie (its enum is not JSON-serialisable): nothing goes out
    emu.request_log.clear()
    with pytest.raises(TypeError, match="ComparisonTie"):
        sdk.feedback.log_preference("pref", a, b, tied="good", project="p1")
    assert emu.request_log.entries() == []
    # ours sends the SDK's body with the API's ComparisonTie value, and the server records the tie
    (_, _, body), = sent(emu, lambda: ours.log_preference("p1", "pref", a, b, user=ALICE, tied="bad"))
    expected = dict(theirs[0][2])
    assert body == {**expected, "tied": "bad"} and list(body) == [*list(expected)[:3], "tied", *list(expected)[3:]]
    assert [c["tied"] for c in emu.state.comparisons.values()][-1] == "bad"


def test_metric_feedback_user_and_unlink(ours: AdaptiveClient, sdk: Adaptive, emu: AdaptiveEmulatorHandle) -> None:
    sdk.feedback.register_key("p1", "acc", kind="bool")
    completion = ours.chat("p1", HI).completion_id
    assert completion
    (method, path, (operation, variables)), = sent(emu, lambda: sdk.feedback.log_metric(1, completion, "acc",
                                                                                        user=ALICE))
    assert operation == "AddDirectScore" and ALICE not in str(variables)  # the SDK drops the user
    (_, mine_path, body), = sent(emu, lambda: ours.log_metric(completion, "acc", True, user=ALICE))
    assert mine_path.endswith("/api/v1/feedback") and body["user_id"] == ALICE
    assert sorted(str(s.get("user")) for s in emu.state.scores.values()) == sorted([ALICE, "None"])
    # unlink in today's terms: deleteMetric, as the SDK's own query builder sends it
    sdk.feedback.register_key("p1", "acc2", kind="bool")
    theirs = sent(emu, lambda: sdk._gql_client.mutation(Mutation.delete_metric(project="p1", metric="acc"),
                                                        operation_name="DeleteMetric"))
    mine = sent(emu, lambda: ours.unlink_feedback_key("p1", "acc2"))
    assert [(m, p, b[0], list(b[1].values())) for m, p, b in mine] == \
        [(m, p, b[0], [v.replace("acc", "acc2") if v == "acc" else v for v in b[1].values()]) for m, p, b in theirs]
    assert sdk.feedback.get_key("p1", "acc") is None and sdk.feedback.get_key("p1", "acc2") is None
    # and link: the key of p1 is created in p2 as it is, which the SDK then finds there
    sdk.feedback.register_key("p1", "acc3", kind="bool")
    sdk.projects.create("p2", name="P2")
    ours.link_feedback_key("p2", "acc3")
    found = sdk.feedback.get_key("p2", "acc3")
    assert found is not None and found.kind.value == "BOOL"
