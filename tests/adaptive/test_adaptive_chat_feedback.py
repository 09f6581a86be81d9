"""Chat, interactions, feedback and embeddings of AdaptiveClient against the emulator: A/B routing (``ab_campaign``),
``n`` completions, ``prompt``, UUID checks, tied preferences, metric feedback with a user, feedback keys linked to
projects, interaction filters/order/cursors/groups, embeddings of many texts and Base64, the default project."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dagster_labeling._core import InvalidInput
from dagster_labeling.adaptive import (
    AdaptiveClient,
    AdaptiveError,
    AdaptiveNotFound,
    AdaptiveResource,
    InteractionFilter,
    ScoreFilter,
    user_uuid,
)
from dagster_labeling.testing.adaptive_interactions import prompt_hash
from dagster_labeling.testing.pytest_plugin import AdaptiveEmulatorHandle

LLAMA, QWEN, GEMMA = "llama-3.1-8b-instruct", "qwen-2.5-7b", "gemma-3-4b-it"
HI = [{"role": "user", "content": "Hi"}]
ALICE = user_uuid("alice@example.com")


@pytest.fixture
def emu(adaptive_emulator: AdaptiveEmulatorHandle) -> AdaptiveEmulatorHandle:
    adaptive_emulator.ensure_project("p1", models=[LLAMA, QWEN, GEMMA], default=LLAMA)
    return adaptive_emulator


@pytest.fixture
def ours(emu: AdaptiveEmulatorHandle) -> Iterator[AdaptiveClient]:
    with AdaptiveClient(emu.api_key, base_url=emu.base_url) as client:
        yield client


def last_body(emu: AdaptiveEmulatorHandle) -> Any:
    return emu.request_log.entries("POST")[-1].json()


# -- chat ---------------------------------------------------------------------------------------------------
def test_chat_ab_campaign_routes_every_request_into_the_test(ours: AdaptiveClient, emu: AdaptiveEmulatorHandle) -> None:
    ours.register_feedback_key("p1", "acc", kind="bool")
    ours.create_ab_test("p1", "ab-1", "acc", [QWEN, GEMMA], traffic_split=0.01)
    plain = ours.chat("p1", HI)  # a 1% split: this one goes to the default model
    assert plain.choices[0].model == LLAMA
    routed = [ours.chat("p1", HI, ab_campaign="ab-1") for _ in range(4)]
    assert last_body(emu)["ab_campaign"] == "ab-1"
    assert sorted(r.choices[0].model for r in routed) == [GEMMA, GEMMA, QWEN, QWEN]  # whatever the split
    pinned = ours.chat("p1", HI, model=QWEN, ab_campaign="ab-1")
    assert pinned.choices[0].model == QWEN
    for answer in routed:
        assert answer.completion_id is not None
        ours.log_metric(answer.completion_id, "acc", True)
    assert ours.get_ab_test("ab-1").scores == 4  # the routed answers count in the test
    with pytest.raises(AdaptiveError, match="not a variant"):
        ours.chat("p1", HI, model=LLAMA, ab_campaign="ab-1")
    ours.cancel_ab_test("ab-1")
    with pytest.raises(AdaptiveError, match="CANCELLED"):
        ours.chat("p1", HI, ab_campaign="ab-1")
    with pytest.raises(AdaptiveNotFound):
        ours.chat("p1", HI, ab_campaign="no-such-test")


def test_chat_n_completions_whole_and_streamed(ours: AdaptiveClient, emu: AdaptiveEmulatorHandle) -> None:
    answer = ours.chat("p1", HI, n=3)
    assert last_body(emu)["n"] == 3
    assert [c.index for c in answer.choices] == [0, 1, 2] and len(set(answer.completion_ids)) == 3
    assert answer.text == ours.chat("p1", HI).text  # the first of n is what one request gets
    for completion_id, choice in zip(answer.completion_ids, answer.choices, strict=True):
        assert choice.message is not None
        assert ours.get_interaction("p1", completion_id).completion == choice.message.content
    chunks = list(ours.stream_chat("p1", HI, n=2))
    by_index: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            assert choice.delta is not None
            by_index[choice.index] = by_index.get(choice.index, "") + str(choice.delta.content)
    assert sorted(by_index) == [0, 1] and by_index[0] == answer.text
    for bad in (0, -1, True):
        with pytest.raises(InvalidInput, match="n is the number"):
            ours.chat("p1", HI, n=bad)


def test_user_and_session_must_be_uuids_and_nothing_is_sent(ours: AdaptiveClient, emu: AdaptiveEmulatorHandle) -> None:
    emu.request_log.clear()
    calls = [
        ("user", lambda: ours.chat("p1", HI, user="alice")),
        ("session_id", lambda: ours.chat("p1", HI, session_id="session-1")),
        ("user", lambda: list(ours.stream_chat("p1", HI, user="alice"))),
        ("user", lambda: ours.create_interaction("p1", HI, "Hello", user="alice")),
        ("session_id", lambda: ours.create_interaction("p1", HI, "Hello", session_id=42)),
        ("user", lambda: ours.log_preference("p1", "pref", str(uuid.uuid4()), str(uuid.uuid4()), user="alice")),
        ("preferred_completion", lambda: ours.log_preference("p1", "pref", "c-1", str(uuid.uuid4()))),
        ("user", lambda: ours.log_metric(str(uuid.uuid4()), "acc", 1, user="alice")),
        ("user", lambda: ours.embed("p1", "hello", user="alice")),
    ]
    for field, call in calls:
        with pytest.raises(InvalidInput) as err:
            call()
        assert err.value.field == field and "must be a UUID" in str(err.value) and "user_uuid(" in str(err.value)
    with pytest.raises(ValueError, match="user must be a UUID"):  # a pydantic ValidationError, our message
        InteractionFilter(user="alice")
    assert emu.request_log.entries() == []
    # a UUID in any spelling is sent as the SDK sends it; user_uuid maps your own ids, the same one every time
    upper = str(uuid.uuid4()).upper()
    ours.chat("p1", HI, user=user_uuid("alice@example.com"), session_id=uuid.UUID(upper))
    assert last_body(emu)["user"] == ALICE and last_body(emu)["session_id"] == upper.lower()


def test_create_interaction_with_prompt_and_ab_campaign(ours: AdaptiveClient, emu: AdaptiveEmulatorHandle) -> None:
    ours.register_feedback_key("p1", "acc", kind="bool")
    ours.create_ab_test("p1", "ab-1", "acc", [QWEN, GEMMA])
    made = ours.create_interaction("p1", None, "Within 30 days.", prompt="Refund?", ab_campaign="ab-1",
                                   feedbacks=[{"feedback_key": "acc", "value": True}], user=ALICE)
    body = last_body(emu)
    assert body["messages"] == [{"content": "Refund?", "role": "user"}] and body["ab_campaign"] == "ab-1"
    stored = ours.get_interaction("p1", made.completion_id)
    assert stored.chat_messages == [{"role": "user", "content": "Refund?"}]
    assert stored.model is not None and stored.model.key in (QWEN, GEMMA)
    assert ours.get_ab_test("ab-1").scores == 1  # its feedback counts in the test
    with pytest.raises(InvalidInput, match="messages or prompt"):
        ours.create_interaction("p1", HI, "x", prompt="Refund?")
    with pytest.raises(AdaptiveError, match="not a variant"):
        ours.create_interaction("p1", HI, "x", model=LLAMA, ab_campaign="ab-1")


# -- feedback -----------------------------------------------------------------------------------------------
def test_tied_preferences_both_values(ours: AdaptiveClient, emu: AdaptiveEmulatorHandle) -> None:
    ours.register_feedback_key("p1", "pref")
    ours.create_ab_test("p1", "ab-p", "pref", [LLAMA, QWEN], feedback_type="preference")
    a, b = (ours.chat("p1", HI, model=m).completion_id for m in (LLAMA, QWEN))
    assert a and b
    for tied in ("good", "bad"):
        ours.log_preference("p1", "pref", a, b, tied=tied)
        assert last_body(emu) == {"metric": "pref", "preferred_completion": a, "other_completion": b, "tied": tied,
                                  "project": "p1"}
    ours.log_preference("p1", "pref", a, b)
    report = ours.get_ab_test("ab-p").report
    assert report is not None
    head_to_head = {v.variant.key: v.comparisons[0] for v in report.variants if v.comparisons}  # type: ignore[union-attr]
    assert (head_to_head[LLAMA].ties_good, head_to_head[LLAMA].ties_bad, head_to_head[LLAMA].wins) == (1, 1, 1)
    with pytest.raises(InvalidInput, match="tied must be one of"):
        ours.log_preference("p1", "pref", a, b, tied="both")


def test_preference_from_a_prompt_and_texts(ours: AdaptiveClient, emu: AdaptiveEmulatorHandle) -> None:
    ours.register_feedback_key("p1", "pref")
    comparison = ours.log_preference("p1", "pref", {"text": "A", "model": LLAMA}, {"text": "B", "model": QWEN},
                                     prompt="Q?", user=ALICE)
    assert last_body(emu)["messages"] == [{"content": "Q?", "role": "user"}] and last_body(emu)["user_id"] == ALICE
    stored = emu.state.comparisons[comparison]
    assert emu.state.completions[stored["preferred"]]["messages"] == [{"role": "user", "content": "Q?"}]
    with pytest.raises(InvalidInput, match="messages \\(or prompt\\)"):
        ours.log_preference("p1", "pref", {"text": "A", "model": LLAMA}, {"text": "B", "model": QWEN})


def test_log_metric_with_a_user_goes_over_rest(ours: AdaptiveClient, emu: AdaptiveEmulatorHandle) -> None:
    ours.register_feedback_key("p1", "acc", kind="bool")
    completion = ours.chat("p1", HI).completion_id
    assert completion
    emu.request_log.clear()
    feedback_id = ours.log_metric(completion, "acc", True, details="ok", user=ALICE)
    entry = emu.request_log.entries("POST")[-1]
    assert entry.path.endswith("/api/v1/feedback")
    assert entry.json() == {"value": True, "completion_id": completion, "metric": "acc", "user_id": ALICE,
                            "details": "ok"}
    assert emu.state.scores[feedback_id]["user"] == ALICE
    scores = ours.get_interaction("p1", completion).direct_scores
    assert [(s.id, s.value, s.details) for s in scores] == [(feedback_id, 1.0, "ok")]
    ours.log_metric(completion, "acc", False)  # without a user: the SDK's GraphQL AddDirectScore
    assert last_body(emu)["operationName"] == "AddDirectScore"
    with pytest.raises(AdaptiveError, match="BOOL"):
        ours.log_metric(completion, "acc", 3, user=ALICE)


def test_link_and_unlink_a_feedback_key(ours: AdaptiveClient, emu: AdaptiveEmulatorHandle) -> None:
    emu.ensure_project("p2", models=[LLAMA], default=LLAMA)
    ours.register_feedback_key("p1", "acc", kind="bool", scoring_type="lower_is_better", description="d")
    with pytest.raises(AdaptiveNotFound):
        ours.get_feedback_key("p2", "acc")
    linked = ours.link_feedback_key("p2", "acc")
    assert (linked.key, linked.kind, linked.scoring_type) == ("acc", "BOOL", "LOWER_IS_BETTER")
    assert ours.get_feedback_key("p2", "acc").id == linked.id
    emu.request_log.clear()
    assert ours.link_feedback_key("p2", "acc").id == linked.id  # already there: a look-up, nothing created
    assert [e.json()["operationName"] for e in emu.request_log.entries("POST")] == ["DescribeMetric"]
    answer = ours.chat("p2", HI).completion_id
    assert answer and ours.log_metric(answer, "acc", 1)
    assert ours.unlink_feedback_key("p2", "acc") is True
    with pytest.raises(AdaptiveNotFound):
        ours.get_feedback_key("p2", "acc")
    assert ours.get_feedback_key("p1", "acc").key == "acc"  # still in its other project
    with pytest.raises(AdaptiveNotFound, match="register it"):
        ours.link_feedback_key("p2", "no-such-key")
    ours.create_ab_test("p1", "ab-1", "acc", [LLAMA, QWEN])
    with pytest.raises(AdaptiveError, match="running AB campaign"):
        ours.unlink_feedback_key("p1", "acc")


# -- interactions -------------------------------------------------------------------------------------------
def seed_interactions(ours: AdaptiveClient, emu: AdaptiveEmulatorHandle) -> dict[str, str]:
    """Six interactions a day apart: two sessions, two users, labels, scores, a comparison."""
    ours.register_feedback_key("p1", "acc")
    ours.register_feedback_key("p1", "pref")
    session = str(uuid.uuid4())
    ids = {}
    for i in range(6):
        made = ours.create_interaction(
            "p1", [{"role": "user", "content": f"Q{i % 2}"}], f"A{i}", model=(LLAMA, QWEN)[i % 2],
            user=ALICE if i < 3 else user_uuid("bob"), session_id=session if i % 3 == 0 else None,
            labels={"env": "prod" if i < 4 else "dev", **({"reviewed": "yes"} if i == 5 else {})},
            created_at=f"2024-01-0{i + 1}T00:00:00Z",
            feedbacks=[{"feedback_key": "acc", "value": i / 5}])
        ids[f"i{i}"] = made.completion_id
    ids["session"] = session
    ours.log_preference("p1", "pref", ids["i0"], ids["i1"])
    return ids


def test_interaction_filters(ours: AdaptiveClient, emu: AdaptiveEmulatorHandle) -> None:
    ids = seed_interactions(ours, emu)
    ours.chat("p1", HI)  # a LIVE one

    def found(flt: InteractionFilter) -> set[str]:
        return {i.id for i in ours.list_interactions("p1", filter=flt)}

    def names(*keys: str) -> set[str]:
        return {ids[k] for k in keys}

    assert found(InteractionFilter(session_id=ids["session"])) == names("i0", "i3")
    assert found(InteractionFilter(user=ALICE)) == names("i0", "i1", "i2")
    assert found(InteractionFilter(labels={"env": ["dev"]})) == names("i4", "i5")
    assert found(InteractionFilter(labels={"reviewed": None})) == names("i5")
    assert found(InteractionFilter(models=[QWEN], labels={"env": ["prod"]})) == names("i1", "i3")
    assert found(InteractionFilter(completion_id=ids["i2"])) == names("i2")
    assert found(InteractionFilter(since="2024-01-02T00:00:00Z", until="2024-01-04T00:00:00Z")) == \
        names("i1", "i2", "i3")
    assert found(InteractionFilter(feedback=[ScoreFilter(metric="acc", gte=0.6)])) == names("i3", "i4", "i5")
    assert found(InteractionFilter(feedback=["acc"], source=["OFFLINE"])) == names(*(f"i{i}" for i in range(6)))
    assert found(InteractionFilter(comparisons=["pref"])) == names("i0", "i1")
    assert found(InteractionFilter(comparisons=["pref"], models=[LLAMA])) == names("i0")
    assert found(InteractionFilter(prompt_hash=prompt_hash([{"role": "user", "content": "Q1"}]))) == \
        names("i1", "i3", "i5")
    assert len(found(InteractionFilter(source=["LIVE"]))) == 1
    sent = [e.json()["variables"]["filter"] for e in emu.request_log.entries("POST")
            if e.json().get("operationName") == "ListInteractions"]
    assert {"createdBy": {"eq": ALICE}} in sent[1]["advancedFilter"]["and"]  # today's schema, not the SDK's {}
    assert "advancedFilter" not in sent[9] and sent[9]["comparisons"] == [{"metric": "pref"}]
    with pytest.raises(InvalidInput):
        InteractionFilter(since="yesterday").conditions()


def test_interactions_order_and_cursor_pages(ours: AdaptiveClient, emu: AdaptiveEmulatorHandle) -> None:
    ids = seed_interactions(ours, emu)
    newest_first = [i.id for i in ours.iter_interactions("p1", page_size=2)]
    assert newest_first == [ids[f"i{i}"] for i in range(5, -1, -1)]
    page = ours.interactions_page("p1", first=4, order="asc")
    assert [i.id for i in page.interactions] == [ids[f"i{i}"] for i in range(4)] and page.total_count == 6
    assert page.end_cursor is not None
    rest = ours.interactions_page("p1", first=4, order="asc", after=page.end_cursor)
    assert [i.id for i in rest.interactions] == [ids["i4"], ids["i5"]] and rest.end_cursor is None
    assert [i.id for i in ours.list_interactions("p1", first=2, order="asc", labels={"env": ["dev"]})] == \
        [ids["i4"], ids["i5"]]
    with pytest.raises(InvalidInput, match="order"):
        ours.list_interactions("p1", order="newest")
    with pytest.raises(InvalidInput, match="given twice"):
        ours.list_interactions("p1", models=[LLAMA], filter=InteractionFilter(models=[QWEN]))


def test_grouped_interactions(ours: AdaptiveClient, emu: AdaptiveEmulatorHandle) -> None:
    ids = seed_interactions(ours, emu)
    by_model = ours.list_grouped_interactions("p1", "model", first=10)
    assert by_model.group_by == "MODEL" and by_model.total_count == 2 and by_model.end_cursor is None
    groups = {g.key: g for g in by_model.groups}
    assert [g.key for g in by_model.groups] == sorted(groups) and groups[LLAMA].count == 3
    stats = groups[QWEN].direct_scores_stats[0]
    assert stats.metric is not None and stats.metric.key == "acc"
    assert (stats.scores, stats.average, stats.max) == (3, pytest.approx(0.6), pytest.approx(1.0))
    assert [i.id for i in groups[QWEN].interactions] == [ids["i5"], ids["i3"], ids["i1"]]
    by_prompt = ours.list_grouped_interactions("p1", "prompt", first=1, filter=InteractionFilter(user=ALICE))
    assert by_prompt.total_count == 2 and len(by_prompt.groups) == 1 and by_prompt.end_cursor
    assert by_prompt.groups[0].key == "user: Q0" and by_prompt.groups[0].count == 2
    assert len(by_prompt.groups[0].interactions) == 1  # the API pages a group's interactions with the same page
    second = ours.list_grouped_interactions("p1", "prompt", first=1, after=by_prompt.end_cursor,
                                            filter=InteractionFilter(user=ALICE))
    assert [g.key for g in second.groups] == ["user: Q1"] and second.end_cursor is None
    with pytest.raises(InvalidInput, match="group_by"):
        ours.list_grouped_interactions("p1", "user")


def test_the_emulator_refuses_filters_outside_the_schema(ours: AdaptiveClient, emu: AdaptiveEmulatorHandle) -> None:
    from dagster_labeling.adaptive import AdaptiveGraphQLError

    for bad in ({"userId": ALICE}, {"source": "WEB"}, {"label": {"value": {"in": ["x"]}}}):
        with pytest.raises(AdaptiveGraphQLError, match="Invalid value"):
            ours.graphql("ListInteractions", {"filter": {"project": "p1", "advancedFilter": {"and": [bad]}},
                                              "page": {"first": 5}})


# -- embeddings ---------------------------------------------------------------------------------------------
def test_embeddings_many_and_base64(ours: AdaptiveClient, emu: AdaptiveEmulatorHandle) -> None:
    emu.ensure_project("p1", models=["bge-embed"])
    texts = ["hello", "world", "hello again"]
    vectors = ours.embed_many("p1", texts, model="bge-embed")
    assert vectors == [ours.embed("p1", t, model="bge-embed") for t in texts] and vectors[0] != vectors[1]
    packed = ours.embed_many("p1", texts, model="bge-embed", encoding_format="Base64")
    assert [e.json()["encoding_format"] for e in emu.request_log.entries("POST")[-3:]] == ["Base64"] * 3
    for floats, decoded in zip(vectors, packed, strict=True):
        assert decoded == pytest.approx(floats, abs=1e-6)  # float32 on the wire
    with pytest.raises(InvalidInput, match="encoding_format"):
        ours.embed("p1", "x", encoding_format="base64")
    with pytest.raises(InvalidInput, match="texts"):
        ours.embed_many("p1", "one text")
    # the API embeds one input per request: a list is refused, as its schema (input: string) says
    answer = httpx.post(f"{emu.base_url}/api/v1/embeddings", headers={"Authorization": f"Bearer {emu.api_key}"},
                        json={"input": texts, "model": "p1/bge-embed"})
    assert answer.status_code == 422


# -- the default project ------------------------------------------------------------------------------------
def test_default_project(emu: AdaptiveEmulatorHandle) -> None:
    emu.ensure_project("p2", models=[LLAMA], default=LLAMA)
    with AdaptiveClient(emu.api_key, base_url=emu.base_url, default_project="p1") as client:
        client.chat(None, HI)
        assert last_body(emu)["model"] == "p1"
        client.chat(messages=HI, model=QWEN)  # by keyword, the project left out  # type: ignore[call-arg]
        assert last_body(emu)["model"] == "p1/qwen-2.5-7b"
        client.chat("p2", HI)  # a project given wins
        assert last_body(emu)["model"] == "p2"
        client.register_feedback_key(None, "acc")
        assert client.get_feedback_key(None, "acc").key == "acc"
        assert client.list_datasets() == []  # a mixin's or an older method: the same fallback  # type: ignore
        assert client.get_project(None).key == "p1"
        assert len(client.list_interactions(None)) == 2  # the two chats of p1
    with AdaptiveClient(emu.api_key, base_url=emu.base_url) as bare:
        emu.request_log.clear()
        with pytest.raises(InvalidInput) as err:
            bare.chat(None, HI)
        assert err.value.field == "project" and "default_project" in str(err.value)
        with pytest.raises(InvalidInput, match="project must be a project key"):
            bare.chat(HI, HI)  # type: ignore[arg-type]
        assert emu.request_log.entries() == []
    resource = AdaptiveResource(api_key=emu.api_key, base_url=emu.base_url, project="p2")
    with resource.get_client() as from_resource:
        assert from_resource.default_project == "p2" and from_resource.chat(None, HI).choices[0].model == LLAMA
    assert json.loads(json.dumps(AdaptiveResource(api_key="k", base_url="u").project)) is None
