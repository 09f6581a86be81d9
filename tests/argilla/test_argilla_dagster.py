"""Dagster surface: dataset asset factories, annotations asset, asset check, progress sensor, bad input."""

import math

import dagster as dg
import pandas as pd
import pytest

from dagster_labeling._core import InvalidInput
from dagster_labeling.argilla import (
    ArgillaClient,
    ArgillaResource,
    RecordMapping,
    build_argilla_annotations_asset,
    build_argilla_annotations_check,
    build_argilla_dataset_asset,
    build_argilla_progress_sensor,
    build_preference_dataset_asset,
    build_text_generation_dataset_asset,
)
from dagster_labeling.testing.pytest_plugin import ArgillaEmulatorHandle

from .argilla_helpers import simple_settings


@pytest.fixture
def resource(argilla_emulator: ArgillaEmulatorHandle) -> ArgillaResource:
    argilla_emulator.state.auto_annotate = False
    return ArgillaResource(api_key=argilla_emulator.api_key, api_url=argilla_emulator.api_url)


@dg.asset
def generations() -> pd.DataFrame:
    return pd.DataFrame({"instruction": ["2+2?", "Capital of France?"], "generation": [["4", "5"], "Paris"]})


@dg.asset
def preferences() -> pd.DataFrame:
    return pd.DataFrame({"instruction": ["i1", "i2"], "generations": [["a", "b"], ["c", "d"]],
                         "ratings": [["4", "5"], [3, None]], "rationales": [["r4", "r5"], None]})


@dg.asset(partitions_def=dg.StaticPartitionsDefinition(["2026-01", "2026-02"]))
def labeled(context: dg.AssetExecutionContext) -> pd.DataFrame:
    month = context.partition_key
    return pd.DataFrame({"id": [1, 2, 3], "prompt": [f"{month} q{i}" for i in range(3)], "answer": ["x", "y", "z"],
                         "model_label": ["math", "code", "other"], "confidence": [0.3, 0.9, 0.5],
                         "source": ["web", "web", "unit"]})


def test_text_generation_dataset_as_distilabel(resource, argilla_emulator) -> None:
    asset = build_text_generation_dataset_asset(name="review", upstream=generations, dataset_name="tg",
                                                workspace="my_workspace", create_workspace=True)
    for _ in range(2):  # a re-run updates, never duplicates
        r = dg.materialize([generations, asset], resources={"argilla": resource})
        assert r.success
    meta = r.asset_materializations_for_node("review")[0].metadata
    assert meta["dagster/row_count"].value == 3 and meta["argilla/records_upserted"].value == 3
    ds = argilla_emulator.state.dataset_by_name("tg")
    assert [f["name"] for f in ds["fields"]] == ["instruction", "generation"]
    assert ds["questions"][0]["settings"]["options"] == [
        {"value": "bad", "text": "👎", "description": None}, {"value": "good", "text": "👍", "description": None}]
    assert argilla_emulator.state.record_count(ds["json"]["id"]) == 3


def test_preference_dataset_with_suggestions_and_run_config(resource, argilla_emulator) -> None:
    asset = build_preference_dataset_asset(name="pref", upstream=preferences, dataset_name="default-name",
                                           num_generations=2)
    r = dg.materialize([preferences, asset], resources={"argilla": resource},
                       run_config={"ops": {"pref": {"config": {"dataset_name": "from-config"}}}})
    assert r.success
    ds = argilla_emulator.state.dataset_by_name("from-config")
    assert [q["name"] for q in ds["questions"]] == ["generations-1-rating", "generations-1-rationale",
                                                    "generations-2-rating", "generations-2-rationale"]
    with ArgillaClient(resource.api_key, api_url=resource.api_url) as c:
        recs = list(c.list_records(ds["json"]["id"]))
    qnames = {q["id"]: q["name"] for q in ds["questions"]}
    first = {qnames[s.question_id]: s.value for s in recs[0].suggestions}
    assert first == {"generations-1-rating": 4, "generations-2-rating": 5, "generations-1-rationale": "r4",
                     "generations-2-rationale": "r5"}
    assert {qnames[s.question_id]: s.value for s in recs[1].suggestions} == {"generations-1-rating": 3}


def _review_defs():  # type: ignore[no-untyped-def]
    dataset = build_argilla_dataset_asset(
        name="review_queue", upstream=labeled, dataset_name="low-confidence", settings=simple_settings(),
        mapping=RecordMapping(fields={"prompt": "prompt", "answer": "answer"}, suggestions={"topic": "model_label"},
                              suggestion_scores={"topic": "confidence"}, metadata={"source": "source"},
                              key_column="id", suggestion_agent="clf-v1"))
    reviewed = build_argilla_annotations_asset(name="reviewed", dataset_name="low-confidence", dataset_asset=dataset)
    everything = build_argilla_annotations_asset(name="reviewed_all", dataset_name="low-confidence")
    check = build_argilla_annotations_check(everything, min_completed_fraction=1.0, min_agreement=0.5)
    return dataset, reviewed, everything, check


def test_generic_mapping_partitioned_annotations_and_check(resource, argilla_emulator) -> None:
    dataset, reviewed, everything, check = _review_defs()
    state = argilla_emulator.state
    state.responses_per_record, state.agreement = 2, 1.0
    state.auto_annotate = True
    state.annotation_seconds = 100_000  # scheduled, then completed on demand
    instance = dg.DagsterInstance.ephemeral()
    for month in ("2026-01", "2026-02", "2026-01"):
        assert dg.materialize([labeled, dataset], partition_key=month, instance=instance,
                              resources={"argilla": resource, "io_manager": dg.mem_io_manager}).success
    ds = state.dataset_by_name("low-confidence")
    assert sorted(state.external_ids(ds["json"]["id"])) == [f"{m}/{i}" for m in ("2026-01", "2026-02")
                                                              for i in (1, 2, 3)]
    # Nothing reviewed yet: the check (on the unpartitioned annotations asset) fails on the completed share.
    r = dg.materialize([reviewed], partition_key="2026-01", resources={"argilla": resource}, instance=instance)
    frame = r.output_for_node("reviewed")
    assert len(frame) == 3 and set(frame["record_status"]) == {"pending"}
    assert frame["topic__suggestion"].tolist() == ["math", "code", "other"]
    r_all = dg.materialize([everything, check], resources={"argilla": resource}, instance=instance)
    assert len(r_all.output_for_node("reviewed_all")) == 6
    assert not r_all.get_asset_check_evaluations()[0].passed
    state.annotate_all()
    r = dg.materialize([reviewed], partition_key="2026-01", resources={"argilla": resource}, instance=instance)
    frame = r.output_for_node("reviewed")
    assert set(frame["record_status"]) == {"completed"} and (frame["n_submitted"] == 2).all()
    assert frame["topic"].tolist() == ["math", "code", "other"]  # annotators agree with the suggestion
    assert (frame["topic__agreement"] == 1.0).all() and frame["quality"].map(lambda v: 1 <= v <= 5).all()
    assert all(len(a) == 2 and all(n.startswith("annotator-") for n in a) for a in frame["annotators"])
    meta = r.asset_materializations_for_node("reviewed")[0].metadata
    # quality has no suggestion, so two annotators agree on it by chance only: mean over questions in [0.5, 1].
    assert meta["argilla/completed_fraction"].value == 1.0 and 0.5 <= meta["argilla/mean_agreement"].value <= 1.0
    assert meta["argilla/status_counts"].value["responses_submitted"] == 6
    r_all = dg.materialize([everything, check], resources={"argilla": resource}, instance=instance)
    evaluation = r_all.get_asset_check_evaluations()[0]
    assert evaluation.passed and evaluation.metadata["mean_agreement"].value >= 0.5
    agreement = evaluation.metadata["mean_agreement"].value
    assert f"mean inter-annotator agreement {agreement:.2f}" in (evaluation.description or "")


def test_bad_input_fails_before_sending(resource, argilla_emulator) -> None:
    dataset, *_ = _review_defs()

    @dg.asset(name="labeled")
    def bad_labels() -> pd.DataFrame:
        return pd.DataFrame({"id": [1], "prompt": ["q"], "answer": ["a"], "model_label": ["poetry"],
                             "confidence": [0.1], "source": ["web"]})

    unpartitioned = build_argilla_dataset_asset(
        name="queue2", upstream=bad_labels, dataset_name="bad-input", settings=simple_settings(),
        mapping=RecordMapping(fields={"prompt": "prompt", "answer": "answer"}, suggestions={"topic": "model_label"}))
    with pytest.raises(InvalidInput, match="label 'poetry' is not among the options of question 'topic'"):
        dg.materialize([bad_labels, unpartitioned], resources={"argilla": resource})
    missing = build_argilla_dataset_asset(
        name="queue3", upstream=bad_labels, dataset_name="bad-input", settings=simple_settings(),
        mapping=RecordMapping(fields={"prompt": "prompt", "answer": "response_text"}))
    with pytest.raises(InvalidInput, match="column 'response_text' is not in the DataFrame"):
        dg.materialize([bad_labels, missing], resources={"argilla": resource})

    @dg.asset(name="preferences")
    def bad_prefs() -> pd.DataFrame:
        return pd.DataFrame({"instruction": ["i"], "generations": [["a", "b"]], "ratings": [["4", "9"]]})

    pref = build_preference_dataset_asset(name="pref2", upstream=bad_prefs, dataset_name="bad-input",
                                          num_generations=2)
    with pytest.raises(InvalidInput, match="rating 9 is not among the options"):
        dg.materialize([bad_prefs, pref], resources={"argilla": resource})
    assert argilla_emulator.state.datasets == {}  # nothing was created
    assert argilla_emulator.request_log.entries(method="POST") == []


def test_progress_sensor_fires_once_per_crossing(resource, argilla_emulator) -> None:
    state = argilla_emulator.state
    state.auto_annotate, state.annotation_seconds = True, 100_000
    sensor = build_argilla_progress_sensor(name="done", dataset_name="prog", threshold=0.5, target="reviewed")
    with dg.build_sensor_context(resources={"argilla": resource}) as ctx:
        assert isinstance(sensor(ctx), dg.SkipReason)  # no dataset yet
    with ArgillaClient(resource.api_key, api_url=resource.api_url) as c:
        ds = c.create_dataset("prog", simple_settings())
        from dagster_labeling.argilla import RecordInput

        c.upsert_records(ds, [RecordInput(fields={"prompt": f"p{i}", "answer": "a"}) for i in range(4)])
    with dg.build_sensor_context(resources={"argilla": resource}) as ctx:
        first = sensor(ctx)
    assert not first.run_requests
    state.annotate_all()
    with dg.build_sensor_context(resources={"argilla": resource}, cursor=first.cursor) as ctx:
        fired = sensor(ctx)
    assert len(fired.run_requests) == 1 and fired.run_requests[0].run_key.endswith(":4/4")
    with dg.build_sensor_context(resources={"argilla": resource}, cursor=fired.cursor) as ctx:
        assert not sensor(ctx).run_requests  # already reported


def test_annotations_frame_agreement_math() -> None:
    from dagster_labeling.argilla import Question, Record, annotations_frame

    q = Question(id="q1", name="label", settings={"type": "label_selection", "options": [{"value": "a"},
                                                                                       {"value": "b"}]})
    rec = Record.model_validate({"id": "r", "status": "completed", "fields": {}, "responses": [
        {"values": {"label": {"value": v}}, "status": s, "user_id": u}
        for v, s, u in (("a", "submitted", "u1"), ("a", "submitted", "u2"), ("b", "submitted", "u3"),
                        ("b", "discarded", "u4"))]})
    frame = annotations_frame([rec], [q], {"u1": "ann1"})
    assert frame.loc[0, "label"] == "a" and frame.loc[0, "label__agreement"] == pytest.approx(2 / 3)
    assert frame.loc[0, "annotators"] == ["ann1", "u2", "u3"] and frame.loc[0, "response_statuses"]["u4"] == "discarded"
    single = annotations_frame([Record.model_validate({"id": "s", "fields": {}, "responses": [
        {"values": {"label": {"value": "a"}}, "status": "submitted", "user_id": "u1"}]})], [q])
    assert math.isnan(single.loc[0, "agreement"])


def test_ops_job_push_wait_fetch(resource, argilla_emulator) -> None:
    from dagster_labeling.argilla import (
        argilla_fetch_annotations_op,
        argilla_push_records_op,
        argilla_wait_for_reviews_op,
    )

    state = argilla_emulator.state
    state.auto_annotate, state.annotation_seconds = True, 0.05
    with ArgillaClient(resource.api_key, api_url=resource.api_url) as c:
        c.create_dataset("ops-ds", simple_settings())

    @dg.op
    def rows() -> pd.DataFrame:
        return pd.DataFrame({"k": ["a", "b"], "p": ["x", "y"], "a": ["1", "2"], "lab": ["math", "code"]})

    @dg.job
    def review_job() -> None:
        argilla_fetch_annotations_op(argilla_wait_for_reviews_op(argilla_push_records_op(rows())))

    config = {"ops": {
        "argilla_push_records_op": {"config": {"dataset_name": "ops-ds", "fields": {"prompt": "p", "answer": "a"},
                                               "suggestions": {"topic": "lab"}, "key_column": "k"}},
        "argilla_wait_for_reviews_op": {"config": {"poll_interval_seconds": 0.05, "timeout_seconds": 20}}}}
    result = review_job.execute_in_process(resources={"argilla": resource}, run_config=config)
    frame = result.output_for_node("argilla_fetch_annotations_op")
    assert sorted(frame["external_id"]) == ["a", "b"] and set(frame["record_status"]) == {"completed"}


def test_check_on_partitioned_annotations_judges_its_own_partition(resource, argilla_emulator) -> None:
    """Partition 2026-01 reviewed, 2026-02 not: the (partitioned) check judges each partition on its own."""
    dataset, reviewed, _, _ = _review_defs()
    check = build_argilla_annotations_check(reviewed, min_completed_fraction=1.0, min_agreement=None)
    state = argilla_emulator.state
    state.responses_per_record, state.agreement = 2, 1.0
    state.auto_annotate = True
    state.annotation_seconds = 100_000  # scheduled, then completed on demand by annotate_all()
    instance = dg.DagsterInstance.ephemeral()
    run = {"resources": {"argilla": resource, "io_manager": dg.mem_io_manager}, "instance": instance}
    assert dg.materialize([labeled, dataset], partition_key="2026-01", **run).success
    state.annotate_all()
    assert dg.materialize([labeled, dataset], partition_key="2026-02", **run).success
    january = dg.materialize([reviewed, check], partition_key="2026-01", **run)
    february = dg.materialize([reviewed, check], partition_key="2026-02", **run)
    assert january.get_asset_check_evaluations()[0].passed
    assert not february.get_asset_check_evaluations()[0].passed
