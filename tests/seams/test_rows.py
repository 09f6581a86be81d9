"""The one row validator: every problem of the whole DataFrame, with the column, the rows and the fix."""

import datetime
import pickle

import numpy as np
import pandas as pd
import pytest

from dagster_labeling._core import InvalidInput
from dagster_labeling._core.rows import InvalidRows, RowSpec, key_text, row_problems, row_records, validate_rows


def problems_of(frame, spec):
    return {(p.column, p.rows) for p in row_problems(frame, spec)}


def test_not_a_dataframe():
    with pytest.raises(InvalidRows, match="expected a pandas DataFrame, got list"):
        validate_rows([{"id": 1}], RowSpec("id"), where="batch")


def test_missing_keys_are_missing_not_duplicates():
    frame = pd.DataFrame({"id": ["a", None, np.nan, "b"], "text": ["x"] * 4})
    with pytest.raises(InvalidRows) as bad:
        validate_rows(frame, RowSpec("id"), where="batch")
    assert [(p.column, p.rows) for p in bad.value.problems] == [("id", (1, 2))]
    assert "has no value" in str(bad.value) and "repeats" not in str(bad.value)
    assert bad.value.field == "id" and bad.value.rows == [1, 2]


def test_duplicate_keys_compare_as_the_text_sent():
    frame = pd.DataFrame({"id": [1.0, 2.0, 1.0]})  # 1.0 and 1.0 both become the id "1"
    assert problems_of(frame, RowSpec("id")) == {("id", (0, 2))}
    assert problems_of(pd.DataFrame({"id": [1, "1"]}), RowSpec("id")) == {("id", (0, 1))}
    assert [key_text(v) for v in (3.0, np.int64(4), "x", 2.5)] == ["3", "4", "x", "2.5"]


def test_every_problem_at_once_before_anything_is_sent():
    frame = pd.DataFrame({
        "id": ["a", "b", "c", None],
        "text": ["x", None, "z", "w"],
        "score": [0.1, np.inf, 0.3, -np.inf],
        "blob": ["ok", b"raw", "ok", {"n": float("nan")}],
        "when": pd.to_datetime(["2026-01-01", None, "2026-01-03", "2026-01-04"]),
    })
    found = problems_of(frame, RowSpec("id", required=("text",), optional=("score", "blob", "when")))
    assert found == {("id", (3,)), ("text", (1,)), ("score", (1, 3)), ("blob", (1,)), ("blob", (3,))}


def test_column_names_must_be_text_and_unique():
    frame = pd.DataFrame([[1, 2, 3]], columns=["id", 1, "id"])
    messages = [p.message for p in row_problems(frame, RowSpec("id", all_columns=True))]
    assert any("must be text" in m for m in messages) and any("repeat" in m for m in messages)


def test_absent_columns_are_named_with_the_columns_there():
    with pytest.raises(InvalidRows, match=r"column 'label' is not in the DataFrame \(its columns: \['id'\]\)"):
        validate_rows(pd.DataFrame({"id": [1]}), RowSpec("id", required=("label",)), where="w")


def test_long_lists_are_capped():
    frame = pd.DataFrame({"id": range(100), "text": [None] * 100})
    with pytest.raises(InvalidRows) as bad:
        validate_rows(frame, RowSpec("id", required=("text",)), where="w")
    assert "100 row(s): [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] and 90 more" in str(bad.value)
    assert len(bad.value.rows) == 100


def test_invalid_rows_is_invalid_input_and_pickles():
    with pytest.raises(InvalidInput) as bad:
        validate_rows(pd.DataFrame({"id": [None]}), RowSpec("id"), where="w")
    copy = pickle.loads(pickle.dumps(bad.value))
    assert isinstance(copy, InvalidRows) and str(copy) == str(bad.value) and copy.problems == bad.value.problems


def test_records_leave_missing_cells_out_and_convert_the_rest():
    frame = pd.DataFrame({
        "id": [1, 2], "score": [0.5, None], "when": [datetime.date(2026, 1, 1), None],
        "n": pd.array([3, None], dtype="Int64"),
    })
    validate_rows(frame, RowSpec("id", optional=("score", "when", "n")), where="w")
    assert list(row_records(frame)) == [
        {"id": 1, "score": 0.5, "when": "2026-01-01", "n": 3},
        {"id": 2},
    ]
