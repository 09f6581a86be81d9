"""Remote names from (asset, partition) are injective and within the platform's rules; dirty DataFrames are
refused, every bad row named, before anything is sent."""

import re
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagster_labeling import InvalidRows
from dagster_labeling.llm_engine import (
    LLMEngineResource,
    build_llm_engine_completions_asset,
    build_llm_engine_training_file_asset,
)
from dagster_labeling.llm_engine.pipeline import prompts_from_frame, validate_training_frame
from dagster_labeling.llm_engine.reconcile import output_file_name, training_file_name
from dagster_labeling.testing.pytest_plugin import LLMEngineEmulatorHandle

# Keys that look real, and keys built to collide: separators, slashes, dots, unicode, very long strings.
part = st.one_of(
    st.text(alphabet=st.sampled_from("ab_-/.:x1é日 "), min_size=1, max_size=12),
    st.text(min_size=1, max_size=300),
    st.sampled_from(["_", "__", "a__b", "a_", "/", "x/y", "..", "../etc", "2026-11-03", "a" * 400]),
)
SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")


@settings(max_examples=300, deadline=None)
@given(st.tuples(part, st.one_of(st.none(), part)), st.tuples(part, st.one_of(st.none(), part)))
def test_training_file_names_are_injective_and_path_safe(a: tuple, b: tuple) -> None:
    digest = "0123456789abcdef"
    first, second = training_file_name(*a, digest), training_file_name(*b, digest)
    assert SAFE_NAME.fullmatch(first) and first.endswith(f".{digest}.csv") and first not in (".", "..")
    assert (first == second) == (a == b)


@settings(max_examples=300, deadline=None)
@given(st.tuples(part, st.one_of(st.none(), part)), st.tuples(part, st.one_of(st.none(), part)))
def test_batch_output_names_are_injective_and_one_path_segment(a: tuple, b: tuple) -> None:
    run_id = "3f1c2b6e-0000-4000-8000-000000000000"
    first, second = output_file_name(*a, run_id), output_file_name(*b, run_id)
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,250}", first) and first.startswith(run_id + "-")
    assert (first == second) == (a == b)


def test_clean_names_read_as_before() -> None:
    assert training_file_name("train_file", "2026-11-01", "0" * 16) == "train_file__2026-11-01.0000000000000000.csv"
    assert training_file_name("cx", "a__b", "0" * 16) != training_file_name("cx__a", "b", "0" * 16)


def resource(emu: LLMEngineEmulatorHandle) -> LLMEngineResource:
    return LLMEngineResource(api_key=emu.api_key, base_url=emu.base_url)


def test_batch_output_of_a_partition_with_slashes_stays_in_the_output_dir(
    llm_engine_emulator: LLMEngineEmulatorHandle, tmp_path: Path
) -> None:
    keys = dg.StaticPartitionsDefinition(["eu/../../escape", "eu"])

    @dg.asset(name="questions", partitions_def=keys)
    def questions() -> pd.DataFrame:
        return pd.DataFrame({"id": ["q0", "q1"], "prompt": ["Hello?", "Why?"]})

    out_dir = tmp_path / "out"
    answers = build_llm_engine_completions_asset(name="answers", upstream=questions, model="llama-2-7b",
                                                 key_column="id", mode="batch", batch_output_dir=str(out_dir),
                                                 poll_interval_seconds=0.05)
    result = dg.materialize([questions, answers], partition_key="eu/../../escape",
                            resources={"llm_engine": resource(llm_engine_emulator)})
    path = Path(result.asset_materializations_for_node("answers")[0].metadata["llm_engine/output_data_path"].value)
    assert path.parent == out_dir and path.is_file() and "/" not in path.name
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == [path]


def run(assets: list, emu: LLMEngineEmulatorHandle) -> dg.ExecuteInProcessResult:
    return dg.materialize(assets, resources={"llm_engine": resource(emu)}, raise_on_error=False)


def step_error(result: dg.ExecuteInProcessResult) -> str:
    failure = result.get_step_failure_events()[0].event_specific_data
    assert failure is not None and failure.error is not None  # type: ignore[attr-defined]
    cause = failure.error.cause  # type: ignore[attr-defined]
    assert cause is not None and cause.cls_name == "InvalidRows"
    return str(cause.message)


def test_dirty_training_frame_names_every_bad_row_and_sends_nothing(
    llm_engine_emulator: LLMEngineEmulatorHandle
) -> None:
    @dg.asset(name="pairs")
    def pairs() -> pd.DataFrame:
        return pd.DataFrame({"prompt": ["q0", None, "q2", "  ", "q4", np.nan],
                             "response": [1.5, 2.0, float("inf"), 3.0, np.nan, 4.0]})

    train = build_llm_engine_training_file_asset(name="train_file", upstream=pairs)
    message = step_error(run([pairs, train], llm_engine_emulator))
    assert "column 'prompt' (required) has no value — 2 row(s): [1, 5]" in message
    assert "column 'response' (required) has no value — 1 row(s): [4]" in message
    assert "column 'response' holds an infinity, which is not JSON — 1 row(s): [2]" in message
    assert "column 'prompt' is blank text — 1 row(s): [3]" in message
    assert len(llm_engine_emulator.request_log) == 0


def test_dirty_prompts_name_every_bad_row_and_send_nothing(llm_engine_emulator: LLMEngineEmulatorHandle) -> None:
    @dg.asset(name="questions")
    def questions() -> pd.DataFrame:
        return pd.DataFrame({"id": ["a", None, "a", "d"], "prompt": ["Hi", "Yo", float("nan"), ""]})

    answers = build_llm_engine_completions_asset(name="answers", upstream=questions, model="llama-2-7b",
                                                 key_column="id", mode="concurrent")
    message = step_error(run([questions, answers], llm_engine_emulator))
    assert "column 'id' (the row key) has no value — 1 row(s): [1]" in message
    assert "column 'id' (the row key) repeats 'a' — 2 row(s): [0, 2]" in message
    assert "column 'prompt' (required) has no value — 1 row(s): [2]" in message
    assert len(llm_engine_emulator.request_log) == 0


def test_prompt_keys_from_a_widened_integer_column_or_the_index() -> None:
    frame = pd.DataFrame({"id": [3.0, 4.0, np.nan], "prompt": ["a", "b", "c"]})
    assert prompts_from_frame(frame.dropna(), key_column="id") == {"3": "a", "4": "b"}
    assert prompts_from_frame(frame.set_index(pd.Index([7, 8, 9]))) == {"7": "a", "8": "b", "9": "c"}
    with pytest.raises(InvalidRows, match=r"column '\(index\)' \(the row key\) repeats '7'"):
        prompts_from_frame(frame.set_index(pd.Index([7, 7, 9])))


def test_non_text_column_names_are_refused_not_a_key_error() -> None:
    with pytest.raises(InvalidRows, match="column names must be text"):
        validate_training_frame(pd.DataFrame({0: ["q"], "prompt": ["q"], "response": ["a"]}))
