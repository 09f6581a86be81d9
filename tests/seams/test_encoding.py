"""One strict JSON encoding for every request body: NaN/Infinity never on the wire, one conversion per type."""

import datetime
import decimal
import enum
import json
import uuid

import httpx
import numpy as np
import pandas as pd
import pytest

from dagster_labeling._core import HttpTransport, InvalidInput
from dagster_labeling._core.encoding import dumps, is_missing, plain


class Color(enum.Enum):
    RED = "red"


@pytest.mark.parametrize(("value", "expected"), [
    (np.int64(3), 3),
    (np.float32(0.5), 0.5),
    (np.bool_(True), True),
    (np.array([1, 2]), [1, 2]),
    (pd.Timestamp("2026-11-03 10:00", tz="UTC"), "2026-11-03T10:00:00+00:00"),
    (datetime.datetime(2026, 11, 3, 10, 0), "2026-11-03T10:00:00"),
    (datetime.date(2026, 11, 3), "2026-11-03"),
    (np.datetime64("2026-11-03T10:00"), "2026-11-03T10:00:00"),
    (pd.Timedelta(seconds=90), 90.0),
    (decimal.Decimal("1.25"), 1.25),
    (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    (Color.RED, "red"),
    ((1, 2), [1, 2]),
    ({3, 1, 2}, [1, 2, 3]),
    (pd.NA, None),
    (pd.NaT, None),
])
def test_one_conversion_per_type(value, expected):
    assert json.loads(dumps({"v": value})) == {"v": expected}


@pytest.mark.parametrize(("body", "path"), [
    ({"score": float("nan")}, "$.score"),
    ({"score": np.float64("inf")}, "$.score"),
    ({"rows": [{"a": 1}, {"a": float("-inf")}]}, "$.rows[1].a"),
    ({"v": np.float32("nan")}, "$.v"),
    ({"v": decimal.Decimal("NaN")}, "$.v"),
    ({"v": np.array([1.0, np.nan])}, "$.v[1]"),
    ({"v": b"raw"}, "$.v"),
    ({"v": object()}, "$.v"),
])
def test_refused_values_name_their_path(body, path):
    with pytest.raises(InvalidInput) as refused:
        dumps(body)
    assert refused.value.field == path and path in str(refused.value)


def test_missing_values():
    assert [is_missing(v) for v in (None, float("nan"), np.nan, pd.NA, pd.NaT, decimal.Decimal("NaN"))] == [True] * 6
    assert not any(is_missing(v) for v in (0, "", False, [], "nan"))
    assert plain("x") == "x" and plain(None) is None


def test_transport_never_sends_nan():
    sent: list[httpx.Request] = []
    transport = HttpTransport(platform="Demo", base_url="http://127.0.0.1:9", auth=None,
                              transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(200)))
    with pytest.raises(InvalidInput, match=r"\$\.items\[0\]\.score is NaN"):
        transport.request("POST", "things", json_body={"items": [{"score": float("nan")}]})
    assert sent == []  # refused before anything went out
    transport.request("POST", "things", json_body={"n": np.int64(2), "when": datetime.date(2026, 1, 2)})
    assert json.loads(sent[0].content) == {"n": 2, "when": "2026-01-02"}
    assert sent[0].headers["content-type"] == "application/json"
    transport.close()
