"""Rows on the wire: a DataFrame reads back as it was sent (types, "" vs missing); dirty frames and cells over
131,072 characters are refused before anything is sent, naming the columns and rows; the emulator answers a
too-long cell with a 422, never a 500; partition values compare as exact text."""

from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from refuel_fixtures import *  # noqa: F403  (the client and labeled fixtures; see refuel_fixtures)

from dagster_labeling._core.rows import InvalidRows
from dagster_labeling.refuel import RefuelClient
from dagster_labeling.refuel.frames import MAX_CELL_CHARS
from dagster_labeling.refuel.pipeline import upload_or_append
from dagster_labeling.testing.pytest_plugin import RefuelEmulatorHandle

TYPED = pd.DataFrame({
    "text": ["héllo ✓ 日本", "", None],
    "count": pd.array([1, None, 3], dtype="Int64"),
    "score": [0.5, None, 2.0],
    "flag": [True, False, True],
    "mixed": [1, "1", None],
})
SENT = [
    {"text": "héllo ✓ 日本", "count": 1, "score": 0.5, "flag": True, "mixed": 1},
    {"text": "", "flag": False, "mixed": "1"},
    {"count": 3, "score": 2.0, "flag": True},
]


def stored_items(emu: RefuelEmulatorHandle, name: str) -> list[dict[str, Any]]:
    (dataset,) = [d for d in emu.state.datasets.values() if d["name"] == name]
    return [{k: v for k, v in row.items() if k != "refuel_uuid"} for row in dataset["rows"]]


def no_writes(emu: RefuelEmulatorHandle) -> None:
    assert [e for e in emu.request_log if e.method != "GET"] == []


def test_dataframe_upload_reads_back_as_sent(client: RefuelClient, refuel_emulator: RefuelEmulatorHandle) -> None:
    client.upload_dataset(TYPED, "typed", wait_for_completion=True)
    assert stored_items(refuel_emulator, "typed") == SENT
    items = client.get_items("typed", max_items=None)
    assert list(items["text"][:2]) == ["héllo ✓ 日本", ""] and pd.isna(items["text"][2])
    assert items["count"].tolist()[0] == 1 and isinstance(items["mixed"].tolist()[1], str)
    assert client.add_items("typed", TYPED) == 3
    assert stored_items(refuel_emulator, "typed") == SENT * 2


def test_partitions_keep_types_and_compare_as_exact_text(client: RefuelClient,
                                                         refuel_emulator: RefuelEmulatorHandle) -> None:
    client.settle_seconds = 0.0
    first = upload_or_append(client, "parts", TYPED, partition_column="part", partition_key="1")
    second = upload_or_append(client, "parts", TYPED, partition_column="part", partition_key="01")
    third = upload_or_append(client, "parts", TYPED, partition_column="part", partition_key="01")
    assert (first.action, second.action, third.action) == ("uploaded", "appended", "skipped")
    assert stored_items(refuel_emulator, "parts") == [{**r, "part": "1"} for r in SENT] + [
        {**r, "part": "01"} for r in SENT]


def test_dirty_frame_refused_whole_before_anything_is_sent(client: RefuelClient,
                                                           refuel_emulator: RefuelEmulatorHandle) -> None:
    dirty = pd.DataFrame({"text": ["ok", "fine", "x"], "score": [1.0, np.inf, -np.inf],
                          "blob": ["a", b"\x00", "c"]})
    for attempt in (lambda: client.upload_dataset(dirty, "dirty"),
                    lambda: upload_or_append(client, "dirty", dirty, partition_column="p", partition_key="k")):
        with pytest.raises(InvalidRows) as info:
            attempt()
        message = str(info.value)
        assert "column 'score' holds an infinity" in message and "[1, 2]" in message
        assert "column 'blob'" in message and "[1]" in message
    with pytest.raises(InvalidRows, match="column names must be text"):
        client.upload_dataset(pd.DataFrame({1: ["a"]}), "dirty")
    no_writes(refuel_emulator)


def test_rows_to_label_checked_whole_before_any_label_request(labeled: RefuelClient,
                                                              refuel_emulator: RefuelEmulatorHandle) -> None:
    refuel_emulator.request_log.clear()
    with pytest.raises(InvalidRows, match="column names must be text"):
        labeled.label_dataframe("sent", pd.DataFrame({1: ["so negative"]}))
    with pytest.raises(InvalidRows, match=r"column 'stars' holds an infinity.*: \[1\]"):
        labeled.label_dataframe("sent", pd.DataFrame({"text": ["a", "b"], "stars": [1.0, np.inf]}))
    no_writes(refuel_emulator)
    result = labeled.label_dataframe("sent", pd.DataFrame({"text": ["so negative", None], "stars": [1.0, None]}))
    assert result.ok and [e.json() for e in refuel_emulator.request_log.entries("POST")][-1] in (
        [{"text": "so negative", "stars": 1.0}], [{}])  # missing cells left out, never NaN


def test_cell_over_the_limit_refused_before_sending(client: RefuelClient,
                                                    refuel_emulator: RefuelEmulatorHandle) -> None:
    long = "x" * (MAX_CELL_CHARS + 1)
    frame = pd.DataFrame({"text": ["short", long, "short", long], "note": ["n", "n", long, "n"]})
    with pytest.raises(InvalidRows) as info:
        client.upload_dataset(frame, "long")
    assert "column 'text' holds more than 131,072 characters" in str(info.value) and "[1, 3]" in str(info.value)
    assert "column 'note'" in str(info.value) and "[2]" in str(info.value)
    with pytest.raises(InvalidRows, match=r"column 'text' .* 1 row\(s\): \[0\]"):
        upload_or_append(client, "long", frame[1:2].reset_index(drop=True), partition_column="p", partition_key="k")
    no_writes(refuel_emulator)
    client.upload_dataset(frame[:1].assign(text="x" * MAX_CELL_CHARS), "at_limit")  # the limit itself is fine
    with pytest.raises(InvalidRows, match=r"column 'text'"):
        client.add_items("at_limit", [{"text": long, "note": "n"}])


def test_emulator_answers_422_naming_the_limit_never_500(refuel_emulator: RefuelEmulatorHandle) -> None:
    emu = refuel_emulator
    pid = emu.state.ensure_project(emu.project)["id"]
    auth = {"Authorization": f"Bearer {emu.api_key}"}
    long = "y" * (MAX_CELL_CHARS + 1)
    with httpx.Client(base_url=emu.base_url, headers=auth) as http:
        upload = http.post(f"/projects/{pid}/datasets", data={"name": "raw", "source": "file"},
                           files={"file": ("raw.csv", f"text\nshort\n{long}\n".encode(), "text/csv")})
        assert upload.status_code == 422 and "131072" in upload.json()["detail"]
        bad_csv = http.post(f"/projects/{pid}/datasets", data={"name": "raw", "source": "file"},
                            files={"file": ("raw.csv", b'text\n"unterminated\n', "text/csv")})
        assert bad_csv.status_code == 422
        ok = http.post(f"/projects/{pid}/datasets", data={"name": "raw", "source": "file"},
                       files={"file": ("raw.csv", b"text\nshort\n", "text/csv")})
        did = ok.json()["data"]["id"]
        items = http.post(f"/datasets/{did}/items", json=[{"text": "fine"}, {"text": long}])
        assert items.status_code == 422 and "131072" in items.json()["detail"] and "item 1" in items.json()["detail"]
    assert [r["text"] for r in emu.state.datasets[did]["rows"]] == ["short"]  # nothing of a refused body stored
