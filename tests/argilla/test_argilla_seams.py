"""Argilla at the seams: injective record ids, dirty DataFrames refused whole before any request, missing
optional values left out, and a create path that is idempotent and retried (5xx on create requests, a draft
left by a run that died)."""

import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_labeling._core import RetryPolicy
from dagster_labeling._core.rows import InvalidRows
from dagster_labeling._dagster.config import RetryConfig
from dagster_labeling.argilla import (
    ArgillaClient,
    ArgillaResource,
    RecordMapping,
    build_argilla_dataset_asset,
    build_preference_dataset_asset,
    build_text_generation_dataset_asset,
    fetch_annotations,
)
from dagster_labeling.argilla.ids import in_partition, record_external_id
from dagster_labeling.testing.pytest_plugin import ArgillaEmulatorHandle

from .argilla_helpers import simple_settings

FAST = RetryPolicy(max_attempts=8, initial_backoff_seconds=0.01, max_backoff_seconds=0.05)
MAPPING = RecordMapping(fields={"prompt": "prompt", "answer": "answer"}, suggestions={"topic": "label"},
                        suggestion_scores={"topic": "score"}, metadata={"source": "source"}, key_column="id")

keys = st.one_of(st.sampled_from(["x", "y/z", "x/y", "z", "/", "//", "a//b", "", "a/", "/a", "é/ü", "x" * 300]),
                 st.text(alphabet=st.sampled_from("ab/_-é"), max_size=12), st.text(max_size=40))


@settings(max_examples=400, deadline=None)
@given(p1=keys, k1=keys, p2=keys, k2=keys)
def test_record_ids_are_injective_and_partitions_exact(p1: str, k1: str, p2: str, k2: str) -> None:
    one, two = record_external_id(p1, k1), record_external_id(p2, k2)
    assert (one == two) == ((p1, k1) == (p2, k2))
    assert in_partition(one, p1) and in_partition(two, p2)
    assert in_partition(one, p2) == (p1 == p2)


def test_readable_ids_are_the_old_ones() -> None:
    """Clean partitions and keys keep the ids of the earlier scheme, so their records are found again."""
    assert record_external_id("2026-01", "17") == "2026-01/17"
    assert record_external_id(None, "y/z") == "y/z"
    assert record_external_id("x", "y/z").startswith("x/y/z//")


@pytest.fixture
def client(argilla_emulator: ArgillaEmulatorHandle):  # type: ignore[no-untyped-def]
    argilla_emulator.state.auto_annotate = False
    with ArgillaClient(argilla_emulator.api_key, api_url=argilla_emulator.api_url, retry=FAST) as c:
        yield c


def test_partition_x_key_y_slash_z_and_partition_x_slash_y_key_z_are_two_records(client, argilla_emulator) -> None:
    ds = client.ensure_dataset("collide", simple_settings())
    for partition, key in (("x", "y/z"), ("x/y", "z")):
        frame = pd.DataFrame({"id": [key], "prompt": [f"from {partition}"], "answer": ["a"]})
        records = RecordMapping(fields={"prompt": "prompt", "answer": "answer"}, key_column="id").records(
            frame, settings=simple_settings(), partition=partition)
        assert not client.upsert_records(ds, records).failures
    assert argilla_emulator.state.record_count(ds.id) == 2  # was 1: the second run overwrote the first
    for partition in ("x", "x/y"):
        frame = fetch_annotations(client, ds.id, partition=partition)
        assert len(frame) == 1
        assert in_partition(frame.loc[0, "external_id"], partition)


def _resource(argilla_emulator: ArgillaEmulatorHandle) -> ArgillaResource:
    argilla_emulator.state.auto_annotate = False
    return ArgillaResource(api_key=argilla_emulator.api_key, api_url=argilla_emulator.api_url,
                           retry=RetryConfig(max_attempts=8, initial_backoff_seconds=0.01, max_backoff_seconds=0.05))


def _upstream(frame: pd.DataFrame, name: str = "rows") -> dg.AssetsDefinition:
    @dg.asset(name=name)
    def rows() -> pd.DataFrame:
        return frame

    return rows


def test_dirty_frame_is_refused_whole_before_any_request(argilla_emulator) -> None:
    dirty = pd.DataFrame({
        "id": [1, None, 1, 4, 5],
        "prompt": ["p1", "p2", None, "", "p5"],
        "answer": ["a", "b", "c", "d", "e"],
        "label": ["math", "code", "poetry", "other", "math"],
        "score": [0.5, 0.2, float("inf"), np.nan, 0.1],
        "source": ["web", None, "web", "web", "unit"],
    })
    upstream = _upstream(dirty)
    asset = build_argilla_dataset_asset(name="queue", upstream=upstream, dataset_name="dirty",
                                        settings=simple_settings(), mapping=MAPPING)
    with pytest.raises(InvalidRows) as refused:
        dg.materialize([upstream, asset], resources={"argilla": _resource(argilla_emulator)})
    message = str(refused.value)
    assert "column 'id' (the row key) has no value — 1 row(s): [1]" in message
    assert "column 'id' (the row key) repeats '1' — 2 row(s): [0, 2]" in message  # not "duplicate keys" for [1]
    assert "column 'prompt' (required) has no value — 1 row(s): [2]" in message
    assert "column 'score' holds an infinity" in message and "[2]" in message
    assert argilla_emulator.request_log.entries() == []  # not one request, not even a look-up
    assert argilla_emulator.state.datasets == {}


def test_every_bad_value_is_listed_not_only_the_first(argilla_emulator) -> None:
    rows = pd.DataFrame({"id": [1, 2, 3], "prompt": ["p", "", "q"], "answer": ["a", "b", "c"],
                         "label": ["poetry", "math", "poetry"], "score": [0.1, 0.2, 0.3], "source": ["w"] * 3})
    upstream = _upstream(rows)
    asset = build_argilla_dataset_asset(name="queue", upstream=upstream, dataset_name="values",
                                        settings=simple_settings(), mapping=MAPPING)
    with pytest.raises(InvalidRows) as refused:
        dg.materialize([upstream, asset], resources={"argilla": _resource(argilla_emulator)})
    message = str(refused.value)
    assert "label 'poetry' is not among the options of question 'topic'" in message
    assert "2 row(s): [0, 2]" in message and "column 'prompt' (required field) is empty text — 1 row(s): [1]" in message
    assert argilla_emulator.request_log.entries() == []


def test_distilabel_frames_are_checked_whole(argilla_emulator) -> None:
    generations = _upstream(pd.DataFrame({"instruction": ["i1", None, "i3"],
                                          "generation": [["g", None], "g2", "g3"]}), "generations")
    tg = build_text_generation_dataset_asset(name="tg", upstream=generations, dataset_name="tg")
    with pytest.raises(InvalidRows) as refused:
        dg.materialize([generations, tg], resources={"argilla": _resource(argilla_emulator)})
    assert "column 'instruction' (required) has no value — 1 row(s): [1]" in str(refused.value)
    prefs = _upstream(pd.DataFrame({"instruction": ["i1", "i2", "i3"], "generations": [["a", "b"], ["c"], ["d", "e"]],
                                    "ratings": [[4, 9], [1, 2], [11, np.nan]]}), "preferences")
    pref = build_preference_dataset_asset(name="pref", upstream=prefs, dataset_name="pref", num_generations=2)
    with pytest.raises(InvalidRows) as refused:
        dg.materialize([prefs, pref], resources={"argilla": _resource(argilla_emulator)})
    message = str(refused.value)
    assert "holds 1 generation(s), not num_generations=2 — 1 row(s): [1]" in message
    assert "rating 9 is not among the options" in message and "rating 11 is not among the options" in message
    assert argilla_emulator.request_log.entries() == []


def test_missing_optional_values_are_left_out(argilla_emulator) -> None:
    rows = pd.DataFrame({"id": [1.0, 2.0], "prompt": ["p1", "p2"], "answer": ["a", "b"],
                         "label": ["math", None], "score": [np.nan, 0.5], "source": [None, "web"]})
    upstream = _upstream(rows)
    asset = build_argilla_dataset_asset(name="queue", upstream=upstream, dataset_name="sparse",
                                        settings=simple_settings(), mapping=MAPPING)
    assert dg.materialize([upstream, asset], resources={"argilla": _resource(argilla_emulator)}).success
    (put,) = [e for e in argilla_emulator.request_log.entries(method="PUT") if e.path.endswith("/records/bulk")]
    assert b"NaN" not in put.body
    first, second = json.loads(put.body)["items"]
    assert first["external_id"] == "1" and first["metadata"] == {}
    assert first["suggestions"][0]["value"] == "math" and "score" not in first["suggestions"][0]
    assert second["suggestions"] == [] and second["metadata"] == {"source": "web"}


def test_push_records_op_refuses_a_dirty_frame_before_any_request(argilla_emulator) -> None:
    from dagster_labeling.argilla import argilla_push_records_op

    @dg.op
    def rows() -> pd.DataFrame:
        return pd.DataFrame({"k": ["a", None, "a"], "p": ["x", "y", "z"], "a": ["1", "2", float("inf")]})

    @dg.job
    def push() -> None:
        argilla_push_records_op(rows())

    config = {"ops": {"argilla_push_records_op": {"config": {
        "dataset_name": "ops-ds", "fields": {"prompt": "p", "answer": "a"}, "key_column": "k"}}}}
    with pytest.raises(InvalidRows) as refused:
        push.execute_in_process(resources={"argilla": _resource(argilla_emulator)}, run_config=config)
    message = str(refused.value)
    assert "column 'k' (the row key) has no value — 1 row(s): [1]" in message  # was sent as the id "nan"
    assert "column 'k' (the row key) repeats 'a' — 2 row(s): [0, 2]" in message
    assert argilla_emulator.request_log.entries() == []
