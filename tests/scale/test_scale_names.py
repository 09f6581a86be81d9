"""Scale batch names and task unique_ids are injective in (asset, partition, row key); hashed names map back."""

import json
from typing import Any

import dagster as dg
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dagster_labeling._dagster.config import RetryConfig
from dagster_labeling._dagster.naming import remote_name
from dagster_labeling.scale import (
    ScaleClient,
    ScaleResource,
    build_scale_batch_asset,
    build_scale_batch_completion_sensor,
    scale_collect_responses_op,
)
from dagster_labeling.scale.pipeline import row_key_of, unique_id_for
from dagster_labeling.testing.pytest_plugin import ScaleEmulatorHandle

PROJECT = "names"
STATIC = {"instruction": "Sentiment?", "attachment_type": "text", "categories": ["positive", "negative"]}
RETRY = RetryConfig(initial_backoff_seconds=0.001, max_backoff_seconds=0.01)

# Parts built from the characters that break naive joins (a tiny alphabet makes near-collisions common), plus
# arbitrary unicode and very long strings.
_TRICKY = st.sampled_from(["_", "__", "/", "//", "a", "b", "é", "名", " ", "%2F", "-"])
PART = st.one_of(
    st.text(alphabet="a_/", min_size=1, max_size=6),
    st.lists(_TRICKY, min_size=1, max_size=8).map("".join),
    st.text(min_size=1, max_size=40),
    st.text(alphabet="ab_/", min_size=200, max_size=600),
)
TRIPLE = st.tuples(PART, st.one_of(st.none(), PART), PART)


@settings(max_examples=500, deadline=None)
@given(TRIPLE, TRIPLE)
@example(("cx", "a__b", "k"), ("cx__a", "b", "k"))
@example(("x", "y", "a/b"), ("x", "y/a", "b"))
def test_distinct_asset_partition_row_triples_get_distinct_unique_ids(
    first: tuple[str, Any, str], second: tuple[str, Any, str]
) -> None:
    def full_id(base: str, partition: str | None, key: str) -> str:
        return unique_id_for(remote_name(base, partition), key)

    assert (full_id(*first) == full_id(*second)) == (first == second)
    assert full_id(*first) == full_id(*first)  # a re-run gets the same id


@settings(max_examples=400, deadline=None)
@given(PART, PART, PART)
@example("x", "y/z", "x/y")
def test_the_row_key_is_read_back_from_the_unique_id(batch: str, key: str, other_batch: str) -> None:
    uid = unique_id_for(batch, key)
    assert row_key_of(batch, uid) == key
    if other_batch != batch:  # a key read back under another batch would be a collision
        assert row_key_of(other_batch, uid) is None


def test_clean_names_read_as_before() -> None:
    """Objects created under the earlier scheme (``<batch>__<partition>``, ``<batch>/<row key>``) are found again."""
    assert remote_name("reviews_batch", "2026-11-01") == "reviews_batch__2026-11-01"
    assert unique_id_for("reviews_batch__2026-11-01", "r1") == "reviews_batch__2026-11-01/r1"


# -- through Dagster ---------------------------------------------------------------------------------------
@pytest.fixture
def emu(scale_emulator: ScaleEmulatorHandle) -> ScaleEmulatorHandle:
    scale_emulator.state.task_duration_seconds = 0.0
    scale_emulator.state.task_duration_jitter = 0.0
    with ScaleClient(scale_emulator.api_key, base_url=scale_emulator.base_url) as client:
        client.create_project(PROJECT, "categorization")
    return scale_emulator


def _resource(emu: ScaleEmulatorHandle) -> ScaleResource:
    return ScaleResource(api_key=emu.api_key, base_url=emu.base_url, retry=RETRY)


def _assets(name: str, keys: dict[str, list[str]]) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    """An upstream asset whose partition ``p`` holds rows ``keys[p]``, and a batch asset named ``name``."""
    partitions = dg.StaticPartitionsDefinition(list(keys))

    @dg.asset(name=f"{name}_rows", partitions_def=partitions)
    def rows(context: dg.AssetExecutionContext) -> pd.DataFrame:
        ids = keys[context.partition_key]
        return pd.DataFrame({"id": ids, "text": [f"text of {i}" for i in ids]})

    batch = build_scale_batch_asset(name=name, upstream=rows, project=PROJECT, task_type="categorization",
                                    row_key_column="id", payload_columns={"attachment": "text"},
                                    static_payload=STATIC, partitions_def=partitions)
    return rows, batch


def _materialize(emu: ScaleEmulatorHandle, assets: Any, partition: str) -> pd.DataFrame:
    result = dg.materialize(list(assets), partition_key=partition, raise_on_error=True,
                            resources={"scale": _resource(emu), "io_manager": dg.mem_io_manager})
    return result.output_for_node(assets[1].node_def.name)


def test_asset_cx_partition_a__b_and_asset_cx__a_partition_b_get_their_own_batch_and_tasks(
    emu: ScaleEmulatorHandle,
) -> None:
    first = _materialize(emu, _assets("cx", {"a__b": ["k"]}), "a__b")
    second = _materialize(emu, _assets("cx__a", {"b": ["k"]}), "b")
    assert first["batch_name"][0] != second["batch_name"][0]
    assert first["task_id"][0] != second["task_id"][0]
    assert emu.state.task_count() == 2
    assert {emu.state.get_task(t)["batch"] for t in (first["task_id"][0], second["task_id"][0])} == {
        first["batch_name"][0], second["batch_name"][0]}


def test_row_keys_with_slashes_never_share_a_task_across_partitions(emu: ScaleEmulatorHandle) -> None:
    """Partition ``y`` row ``a/b`` and partition ``y/a`` row ``b`` both joined to ``reviews__y/a/b`` before."""
    assets = _assets("reviews", {"y": ["a/b"], "y/a": ["b"]})
    first = _materialize(emu, assets, "y")
    second = _materialize(emu, assets, "y/a")
    assert first["unique_id"][0] != second["unique_id"][0] and first["task_id"][0] != second["task_id"][0]
    assert emu.state.get_task(second["task_id"][0])["batch"] == second["batch_name"][0] == "reviews__y/a"
    again = _materialize(emu, assets, "y/a")  # a re-run finds its task again
    assert again["task_id"].tolist() == second["task_id"].tolist() and emu.state.task_count() == 2


def test_the_completion_sensor_maps_a_hashed_batch_name_to_its_partition(emu: ScaleEmulatorHandle) -> None:
    assets = _assets("cx", {"a__b": ["k1", "k2"], "plain": ["k3"]})
    submitted = _materialize(emu, assets, "a__b")
    batch_name = submitted["batch_name"][0]
    assert batch_name != "cx__a__b"  # ambiguous: hashed
    with ScaleClient(emu.api_key, base_url=emu.base_url) as client:
        client.finalize_batch(batch_name)
        assert client.batch_job(batch_name).refresh().state.value == "SUCCEEDED"
    sensor = build_scale_batch_completion_sensor(name="done", project=PROJECT, target="x", batch_asset=assets[1])
    with dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral(),
                                 resources={"scale": _resource(emu)}) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    assert [(r.partition_key, r.tags["dagster-labeling/scale-batch"]) for r in result.run_requests or []] == [
        ("a__b", batch_name)]
    assert json.loads(result.cursor or "{}")["done"] == [batch_name]


def test_the_collect_op_reads_row_keys_with_slashes_back(emu: ScaleEmulatorHandle) -> None:
    assets = _assets("ops_names", {"p/q": ["x/y", "plain", "z//w"]})
    submitted = _materialize(emu, assets, "p/q")
    batch_name = submitted["batch_name"][0]
    frame = scale_collect_responses_op(scale=_resource(emu), batch_name=batch_name)
    assert sorted(frame["row_key"]) == ["plain", "x/y", "z//w"]
