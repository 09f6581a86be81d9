"""Runs the official ``argilla`` SDK against an emulator URL in a separate process and prints JSON results.

A subprocess, because the test package ``tests/argilla`` is imported as ``argilla`` under pytest and so
shadows the SDK. Usage: ``python sdk_scenarios.py <api_url> <api_key>``.
"""

import json
import sys
import time
from typing import Any

import argilla as rg


def settings_wire() -> rg.Settings:
    return rg.Settings(
        guidelines="Rate it.",
        fields=[rg.TextField(name="prompt"), rg.TextField(name="answer", use_markdown=True)],
        questions=[rg.RatingQuestion(name="quality", values=[1, 2, 3, 4, 5], title="Quality?"),
                   rg.LabelQuestion(name="topic", labels=["math", "code", "other"], title="Topic?"),
                   rg.TextQuestion(name="comment", required=False)],
        metadata=[rg.TermsMetadataProperty(name="source")],
        vectors=[rg.VectorField(name="emb", dimensions=3)],
        distribution=rg.TaskDistribution(min_submitted=1),
    )


def main(api_url: str, api_key: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    client = rg.Argilla(api_url=api_url, api_key=api_key)
    out["me"] = client.me.username

    # distilabel's TextGenerationToArgilla: settings, log, read back with responses.
    rg.Workspace(name="my_workspace", client=client).create()
    settings = rg.Settings(
        fields=[rg.TextField(name="instruction"), rg.TextField(name="generation")],
        questions=[rg.LabelQuestion(name="quality", labels=["bad", "good"])],
    )
    ds = rg.Dataset(name="argilla_dataset", workspace="my_workspace", settings=settings, client=client).create()
    ds.records.log([{"instruction": f"i{i}", "generation": f"g{i}"} for i in range(520)])
    deadline = time.monotonic() + 15
    while ds.progress()["completed"] < 520 and time.monotonic() < deadline:
        time.sleep(0.05)
    records = list(ds.records(with_responses=True, with_suggestions=True))
    out["tg_count"] = len(records)
    out["tg_answers"] = sorted({r.responses["quality"][0].value for r in records if r.responses["quality"]})
    out["tg_answered"] = sum(1 for r in records if r.responses["quality"])
    out["tg_lookup_same"] = client.datasets(name="argilla_dataset", workspace="my_workspace").id == ds.id
    q = rg.Query(filter=rg.Filter(("response.status", "==", "submitted")))
    out["tg_submitted"] = len(ds.records(query=q).to_list(flatten=True))

    # distilabel's PreferenceToArgilla: a rating per generation, ratings and rationales as suggestions.
    pref = rg.Dataset(name="pref", settings=rg.Settings(
        fields=[rg.TextField(name="instruction"), rg.TextField(name="generations-1"),
                rg.TextField(name="generations-2")],
        questions=[rg.RatingQuestion(name="generations-1-rating", values=[1, 2, 3, 4, 5]),
                   rg.RatingQuestion(name="generations-2-rating", values=[1, 2, 3, 4, 5]),
                   rg.TextQuestion(name="generations-1-rationale", required=False)],
    ), client=client).create()
    fields = {"instruction": "i", "generations-1": "a", "generations-2": "b"}
    pref.records.log([rg.Record(fields=fields, id="pref-1", suggestions=[
        rg.Suggestion("generations-1-rating", 4), rg.Suggestion("generations-2-rating", 5),
        rg.Suggestion("generations-1-rationale", "fine")])])
    rec = list(pref.records(with_suggestions=True))[0]
    out["pref_suggestion"] = rec.suggestions["generations-2-rating"].value
    try:
        pref.records.log([rg.Record(fields=fields, suggestions=[rg.Suggestion("generations-1-rating", 7)])])
        out["pref_bad_rating"] = "accepted"
    except Exception as exc:  # the SDK's own error class
        out["pref_bad_rating"] = f"{type(exc).__name__}: {exc}"

    # Wire parity: creation with every setting kind, then records with responses, listing and search.
    wire = rg.Dataset(name="wire-sdk", settings=settings_wire(), client=client).create()
    out["wire_id"] = str(wire.id)
    me = client.me.id
    wire.records.log([
        rg.Record(fields={"prompt": p, "answer": a}, metadata={"source": "unit"}, id=e,
                  suggestions=[rg.Suggestion("topic", "math", score=0.9, agent="clf")],
                  responses=[rg.Response("quality", 5, user_id=me, status="submitted"),
                             rg.Response("topic", "math", user_id=me, status="submitted")])
        for p, a, e in [("2+2?", "4", "e-1"), ("hi", "hello", "e-2")]])
    out["wire_listed"] = len(list(wire.records(batch_size=50, with_responses=True, with_suggestions=True)))
    submitted = rg.Query(filter=rg.Filter(("response.status", "==", "submitted")))
    out["wire_searched"] = len(wire.records(query=submitted, batch_size=50).to_list(flatten=True))
    wire.records.delete(list(wire.records(batch_size=50))[:1])
    out["wire_after_delete"] = len(list(wire.records(batch_size=50)))
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2])))
