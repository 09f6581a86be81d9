"""Dirty DataFrames are refused whole before the first request; missing optional values are left out; names
and row labels derived from (asset, partition, row key) are injective, and the sensors map them back."""

import datetime
from typing import Any

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_labeling._core.rows import InvalidRows
from dagster_labeling.adaptive import (
    AdaptiveClient,
    AdaptiveResource,
    build_adaptive_ab_test_asset,
    build_adaptive_ab_test_sensor,
    build_adaptive_interactions_asset,
    build_adaptive_job_asset,
    build_adaptive_job_sensor,
)
from dagster_labeling.adaptive.assets import adaptive_key, row_label
from dagster_labeling.testing.pytest_plugin import AdaptiveEmulatorHandle

LLAMA, QWEN = "llama-3.1-8b-instruct", "qwen-2.5-7b"


@pytest.fixture
def project(adaptive_emulator: AdaptiveEmulatorHandle) -> str:
    adaptive_emulator.ensure_project("support", models=[LLAMA, QWEN], default=LLAMA)
    with AdaptiveClient(adaptive_emulator.api_key, base_url=adaptive_emulator.base_url) as client:
        client.register_feedback_key("support", "acceptance", kind="bool")
    return "support"


def resources(emu: AdaptiveEmulatorHandle) -> dict[str, Any]:
    return {"adaptive": AdaptiveResource(api_key=emu.api_key, base_url=emu.base_url, max_concurrency=4)}


def interactions_of(frame: pd.DataFrame, **kwargs: Any) -> list[dg.AssetsDefinition]:
    @dg.asset(name="rows", partitions_def=kwargs.pop("partitions_def", None))
    def rows() -> pd.DataFrame:
        return frame

    logged = build_adaptive_interactions_asset(name="logged", upstream=rows, project="support", key_column="id",
                                               prompt_column="q", completion_column="a", **kwargs)
    return [rows, logged]


def test_dirty_rows_are_refused_before_any_request(adaptive_emulator: AdaptiveEmulatorHandle, project: str) -> None:
    frame = pd.DataFrame({"id": ["r0", None, "r2", "r2", "r4", "r5"],
                          "q": ["fine", "q1", None, "q3", "q4", "q5"],
                          "a": ["fine", "a1", "a2", np.nan, "  ", "a5"],
                          "ok": [True, False, True, True, False, "yes"]})
    adaptive_emulator.request_log.clear()
    with pytest.raises(InvalidRows) as info:
        dg.materialize(interactions_of(frame, feedback_key="acceptance", feedback_column="ok"),
                       resources=resources(adaptive_emulator))
    problems = {(p.column, tuple(p.rows)) for p in info.value.problems}
    assert problems == {("id", (1,)), ("id", (2, 3)), ("q", (2,)), ("a", (3,)), ("a", (4,)), ("ok", (5,))}
    assert "nothing was sent" in str(info.value)
    assert len(adaptive_emulator.request_log) == 0  # not even the look-up of logged rows


def test_missing_optional_values_are_left_out_and_values_made_plain(adaptive_emulator: AdaptiveEmulatorHandle,
                                                                   project: str) -> None:
    day = pd.Timestamp("2026-11-03T10:00:00")
    frame = pd.DataFrame({"id": [1.0, 2.0, 3.0], "q": ["q1", "q2", np.int64(7)], "a": ["a1", "a2", "a3"],
                          "ok": [True, None, False], "day": [day, pd.NaT, day],
                          "n": [np.int64(4), np.int64(5), np.int64(6)]})
    result = dg.materialize(interactions_of(frame, feedback_key="acceptance", feedback_column="ok",
                                            label_columns=["day", "n"]), resources=resources(adaptive_emulator))
    assert list(result.output_for_node("logged")["key"]) == ["1", "2", "3"]  # 1.0 -> "1": the key's text
    stored = {c["labels"]["dagster_row"]: c for c in adaptive_emulator.state.completions.values()}
    assert sorted(stored) == ["logged/1", "logged/2", "logged/3"]
    assert stored["logged/2"]["labels"] == {"dagster_row": "logged/2", "n": "5"}  # no "NaT" label
    assert stored["logged/1"]["labels"]["day"] == datetime.datetime(2026, 11, 3, 10).isoformat()
    assert [len(stored[k]["scores"]) for k in sorted(stored)] == [1, 0, 1]  # no feedback where it is missing
    assert stored["logged/3"]["messages"][0]["content"] == "7"


def test_row_labels_never_collide_across_partitions(adaptive_emulator: AdaptiveEmulatorHandle, project: str) -> None:
    """Partition ``x`` key ``y/z`` and partition ``x/y`` key ``z`` joined as ``logged__x/y/z`` both: the second
    run found the first's label and logged nothing."""
    parts = dg.StaticPartitionsDefinition(["x", "x/y"])
    frames = {"x": pd.DataFrame({"id": ["y/z"], "q": ["first"], "a": ["A"]}),
              "x/y": pd.DataFrame({"id": ["z"], "q": ["second"], "a": ["B"]})}

    @dg.asset(name="rows", partitions_def=parts)
    def rows(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return frames[context.partition_key]

    logged = build_adaptive_interactions_asset(name="logged", upstream=rows, project=project, key_column="id",
                                               prompt_column="q", completion_column="a")
    for key in ("x", "x/y"):
        dg.materialize([rows, logged], partition_key=key, resources=resources(adaptive_emulator))
    stored = {c["labels"]["dagster_row"]: c["completion"] for c in adaptive_emulator.state.completions.values()}
    assert len(stored) == 2 and sorted(stored.values()) == ["A", "B"]
    assert row_label("logged", "x", "y/z") in stored and row_label("logged", "x/y", "z") in stored
    assert row_label("logged", None, "r1") == "logged/r1"  # clean parts read as before: earlier rows found again


def test_sensors_map_hashed_names_back_to_their_partitions(adaptive_emulator: AdaptiveEmulatorHandle,
                                                           project: str) -> None:
    parts = dg.StaticPartitionsDefinition(["a__b", "eu/west", "2026-11-02"])
    ab = build_adaptive_ab_test_asset(name="weekly_ab", ab_test_key_prefix="ab", project=project,
                                      feedback_key="acceptance", models=[LLAMA, QWEN], partitions_def=parts,
                                      wait_for_completion=False)
    evaluation = build_adaptive_job_asset(name="weekly_eval", project=project, recipe="eval-judge",
                                          args={"models": [LLAMA, QWEN]}, partitions_def=parts,
                                          wait_for_completion=False)
    ab_sensor = build_adaptive_ab_test_sensor(name="ab_done", project=project, ab_test_asset=ab)
    job_sensor = build_adaptive_job_sensor(name="eval_done", project=project, job_asset=evaluation)
    instance = dg.DagsterInstance.ephemeral()
    cursors: dict[str, str | None] = {"ab_done": None, "eval_done": None}

    def tick(sensor: dg.SensorDefinition) -> Any:
        with dg.build_sensor_context(cursor=cursors[sensor.name], instance=instance,
                                     resources=resources(adaptive_emulator)) as ctx:
            result = sensor(ctx)
            cursors[sensor.name] = result.cursor if isinstance(result, dg.SensorResult) else ctx.cursor
            return result

    tick(ab_sensor), tick(job_sensor)
    for key in parts.get_partition_keys():
        dg.materialize([ab, evaluation], partition_key=key, instance=instance, resources=resources(adaptive_emulator))
    keys = set(adaptive_emulator.state.ab_campaigns)
    assert keys == {adaptive_key("ab", k) for k in parts.get_partition_keys()} and "ab__2026-11-02" in keys
    assert len({j["name"] for j in adaptive_emulator.state.jobs.values()}) == 3
    adaptive_emulator.complete_all()
    for sensor in (ab_sensor, job_sensor):
        result = tick(sensor)
        assert isinstance(result, dg.SensorResult)
        materialized = [e for e in result.asset_events if isinstance(e, dg.AssetMaterialization)]
        assert sorted(str(e.partition) for e in materialized) == sorted(parts.get_partition_keys())


def test_keys_are_injective_within_adaptive_rules() -> None:
    assert adaptive_key("cx", "a__b") != adaptive_key("cx__a", "b")
    long = adaptive_key("reviews", "p" * 300)
    assert len(long) <= 128 and long != adaptive_key("reviews", "p" * 299)
    for name in (adaptive_key("ab", "eu/west"), adaptive_key("ab", "día 1"), long):
        assert all(ch.isascii() and (ch.isalnum() or ch in "_.-") for ch in name)


parts = st.text(min_size=1, max_size=40) | st.sampled_from(["a__b", "a/b", "__", "/", "x" * 200, "día", "2026-11-02"])


@settings(max_examples=300, deadline=None)
@given(st.tuples(parts, parts | st.none()), st.tuples(parts, parts | st.none()))
def test_adaptive_keys_are_injective_valid_and_map_back(a: tuple[str, str | None],
                                                         b: tuple[str, str | None]) -> None:
    from dagster_labeling._dagster.naming import partition_of
    from dagster_labeling.adaptive.assets import KEY_CHARACTERS, KEY_MAX_LENGTH

    key = adaptive_key(*a)
    assert len(key) <= KEY_MAX_LENGTH and all(ch.isascii() and (ch.isalnum() or ch in "_.-") for ch in key)
    assert (key == adaptive_key(*b)) == (a == b)
    base, partition = a
    assert partition_of(base, key, [p for p in (partition, "other") if p], allowed=KEY_CHARACTERS,
                        max_length=KEY_MAX_LENGTH) == (True, partition)


@settings(max_examples=300, deadline=None)
@given(st.tuples(parts, parts | st.none(), parts), st.tuples(parts, parts | st.none(), parts))
def test_row_labels_are_injective(a: tuple[str, str | None, str], b: tuple[str, str | None, str]) -> None:
    assert (row_label(*a) == row_label(*b)) == (a == b)
