"""The official ``argilla`` 2.8 SDK against the emulator (what distilabel's steps do), and wire parity: our
client sends what the SDK sends, as the emulator logs it.

The SDK runs in a subprocess (``sdk_scenarios.py``): under pytest this test package is importable as
``argilla`` and would shadow the SDK. Legitimate differences, normalized away before comparing:

* keys whose value is null (the SDK sends ``id/inserted_at/updated_at: null`` and more), the SDK's record
  ``status`` and suggestion ``id``/``question_name`` (the server ignores them, argilla.md), suggestion
  ``question_id`` (each dataset has its own);
* ``User-Agent``; GETs (the SDK re-reads the dataset before every page and reloads it after creation);
* the dataset's name and id.
"""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dagster_labeling.argilla import (
    ArgillaClient,
    LabelQuestion,
    RatingQuestion,
    RecordInput,
    ResponseInput,
    Settings,
    SuggestionInput,
    TermsMetadataProperty,
    TextField,
    TextQuestion,
    VectorField,
    response_status_filter,
)
from dagster_labeling.testing import EmulatorServer
from dagster_labeling.testing.base import LoggedRequest

SCRIPT = Path(__file__).with_name("sdk_scenarios.py")


@pytest.fixture(scope="module")
def run(emulator_server: EmulatorServer) -> dict[str, Any]:
    """Runs the SDK scenarios once; returns their output, the request log, and our client's log."""
    emulator_server.reset("argilla")
    state: Any = emulator_server.platform("argilla")
    saved = state.annotation_seconds
    state.annotation_seconds = 0.05
    api_url = emulator_server.platform_url("argilla")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, str(SCRIPT), api_url, state.api_key], capture_output=True, text=True,
                          timeout=120, cwd=str(SCRIPT.parent), env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    sdk_log = state.request_log.entries()
    start = len(sdk_log)
    with ArgillaClient(state.api_key, api_url=api_url) as ours:
        ds = ours.create_dataset("wire-ours", Settings(
            guidelines="Rate it.",
            fields=[TextField(name="prompt"), TextField(name="answer", use_markdown=True)],
            questions=[RatingQuestion(name="quality", values=[1, 2, 3, 4, 5], title="Quality?"),
                       LabelQuestion(name="topic", labels=["math", "code", "other"], title="Topic?"),
                       TextQuestion(name="comment", required=False)],
            metadata=[TermsMetadataProperty(name="source")],
            vectors=[VectorField(name="emb", dimensions=3)],
        ))
        me = ours.me().id
        ours.upsert_records(ds, [
            RecordInput(fields={"prompt": p, "answer": a}, metadata={"source": "unit"}, external_id=e,
                        suggestions=[SuggestionInput(question="topic", value="math", score=0.9, agent="clf")],
                        responses=[ResponseInput(values={"quality": 5, "topic": "math"}, user_id=me)])
            for p, a, e in [("2+2?", "4", "e-1"), ("hi", "hello", "e-2")]])
        list(ours.list_records(ds.id, page_size=50, include=("suggestions", "responses")))
        list(ours.search_records(ds.id, filters=[response_status_filter("submitted")], page_size=50))
        ours.delete_records(ds.id, [next(ours.list_records(ds.id)).id])
    our_log = state.request_log.entries()[start:]
    state.annotation_seconds = saved
    yield {"out": out, "sdk": sdk_log, "ours": our_log, "sdk_id": out["wire_id"], "our_id": ds.id}
    emulator_server.reset("argilla")


def test_sdk_text_generation_flow(run: dict[str, Any]) -> None:
    out = run["out"]
    assert out["me"] == "argilla"
    assert out["tg_count"] == 520 and out["tg_answered"] == 520 and out["tg_submitted"] == 520
    assert set(out["tg_answers"]) <= {"bad", "good"}
    assert out["tg_lookup_same"]


def test_sdk_preference_flow(run: dict[str, Any]) -> None:
    out = run["out"]
    assert out["pref_suggestion"] == 5
    assert "UnprocessableEntityError" in out["pref_bad_rating"] and "not valid" in out["pref_bad_rating"]


def test_sdk_wire_flow_works(run: dict[str, Any]) -> None:
    out = run["out"]
    assert out["wire_listed"] == 2 and out["wire_searched"] == 2 and out["wire_after_delete"] == 1


SERVER_IGNORED = {"id", "inserted_at", "updated_at", "question_name", "question_id", "dataset_id"}


def _norm(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in sorted(value.items())
                if v is not None and k not in SERVER_IGNORED and not (k == "status" and v == "pending")}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def _writes(entries: list[LoggedRequest], dataset_id: str, name: str) -> list[tuple[str, str, str, Any]]:
    out = []
    for e in entries:
        mentions = dataset_id in e.path or (e.path == "/api/v1/datasets" and name.encode() in e.body)
        if e.method == "GET" or not mentions or e.path.endswith("/records/search"):
            continue
        body = json.loads(json.dumps(_norm(e.json())).replace(name, "NAME")) if e.body else None
        out.append((e.method, e.path.replace(dataset_id, "{id}"), e.query if e.method == "DELETE" else "", body))
    return out


def test_wire_parity_writes(run: dict[str, Any]) -> None:
    sdk = _writes(run["sdk"], run["sdk_id"], "wire-sdk")
    ours = _writes(run["ours"], run["our_id"], "wire-ours")
    sdk = [c if c[0] != "DELETE" else (*c[:2], "ids=<id>", None) for c in sdk]
    ours = [c if c[0] != "DELETE" else (*c[:2], "ids=<id>", None) for c in ours]
    assert [c[:2] for c in ours] == [c[:2] for c in sdk]
    for mine, theirs in zip(ours, sdk, strict=True):
        assert mine == theirs, (mine, theirs)


def test_wire_parity_reads(run: dict[str, Any]) -> None:
    def first(entries: list[LoggedRequest], dataset_id: str, method: str, suffix: str) -> LoggedRequest:
        return next(e for e in entries if e.method == method and e.path == f"/api/v1/datasets/{dataset_id}{suffix}")

    for method, suffix in (("GET", "/records"), ("POST", "/records/search")):
        theirs = first(run["sdk"], run["sdk_id"], method, suffix)
        mine = first(run["ours"], run["our_id"], method, suffix)
        assert sorted(mine.query.split("&")) == sorted(theirs.query.split("&")), (mine.query, theirs.query)
        if method == "POST":
            assert mine.json() == theirs.json()
    # the key goes in X-Argilla-Api-Key as the SDK sends it (the emulator checked its value; its log redacts it)
    assert all("x-argilla-api-key" in e.headers for e in run["ours"])
