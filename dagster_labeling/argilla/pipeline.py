"""DataFrames to Argilla records and back (no Dagster here).

* :class:`RecordMapping` maps DataFrame columns to fields, suggestions and metadata; every mapped column
  is checked up front and every value against its question, so bad input sends nothing.
* :func:`text_generation_settings` / :func:`preference_settings` and their row converters do what
  distilabel's ``TextGenerationToArgilla`` and ``PreferenceToArgilla`` steps do.
* :func:`annotations_frame` turns records with responses into one row per record, one column per question,
  with annotators, statuses and agreement.

>>> import pandas as pd
>>> m = RecordMapping(fields={"text": "review"}, key_column="id")
>>> [r.external_id for r in m.records(pd.DataFrame({"id": [1, 2], "review": ["a", "b"]}), partition="p1")]
['p1/1', 'p1/2']
"""

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from dagster_labeling._core import InvalidInput
from dagster_labeling.argilla.client import stable_external_id
from dagster_labeling.argilla.models import (
    LabelQuestion,
    Question,
    RatingQuestion,
    Record,
    RecordInput,
    Settings,
    SuggestionInput,
    TextField,
    TextQuestion,
)

RowToRecords = Callable[[Mapping[str, Any]], list[RecordInput]]


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value)) if not isinstance(value, (list, tuple, dict)) else False
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    """numpy scalars to Python ones (JSON-able)."""
    return value.item() if hasattr(value, "item") and not isinstance(value, (list, dict, str)) else value


@dataclass
class RecordMapping:
    """Which DataFrame column feeds which field, suggestion (question → column, optional score column) and
    metadata property; ``key_column`` gives the record's ``external_id`` (else a hash of its fields)."""

    fields: Mapping[str, str]
    suggestions: Mapping[str, str] = field(default_factory=dict)
    suggestion_scores: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)
    key_column: str | None = None
    suggestion_agent: str | None = None

    def columns(self) -> list[str]:
        cols = [*self.fields.values(), *self.suggestions.values(), *self.suggestion_scores.values(),
                *self.metadata.values()]
        return [*cols, self.key_column] if self.key_column else cols

    def check_columns(self, df: pd.DataFrame, where: str) -> None:
        missing = sorted({c for c in self.columns() if c not in df.columns})
        if missing:
            raise InvalidInput(f"{where}: the DataFrame has no column(s) {missing}, which the mapping uses; its "
                               f"columns are {list(df.columns)}. Fix the mapping or add the columns.",
                               field="columns")

    def records(self, df: pd.DataFrame, *, settings: Settings | None = None, partition: str | None = None,
                where: str = "DataFrame") -> list[RecordInput]:
        """One record per row (validated against ``settings`` when given)."""
        self.check_columns(df, where)
        out = []
        for i, row in enumerate(df.to_dict("records")):
            at = f"{where} row {i}"
            fields = {f: _plain(row[c]) for f, c in self.fields.items() if not _is_missing(row[c])}
            suggestions = []
            for q, c in self.suggestions.items():
                if _is_missing(row[c]):
                    continue
                value = _plain(row[c])
                if settings is not None:
                    value = settings.question(q).check_value(value, where=at)
                score_col = self.suggestion_scores.get(q)
                score = None if score_col is None or _is_missing(row[score_col]) else float(row[score_col])
                suggestions.append(SuggestionInput(question=q, value=value, score=score, agent=self.suggestion_agent))
            metadata = {m: _plain(row[c]) for m, c in self.metadata.items() if not _is_missing(row[c])}
            key = str(_plain(row[self.key_column])) if self.key_column else stable_external_id(fields)
            out.append(RecordInput(fields=fields, suggestions=suggestions, metadata=metadata,
                                   external_id=f"{partition}/{key}" if partition else key))
        return out


# -- distilabel's steps -------------------------------------------------------------------------------
def text_generation_settings(instruction: str = "instruction", generation: str = "generation",
                             guidelines: str | None = None) -> Settings:
    """An ``instruction`` and a ``generation`` field and a good/bad ``quality`` label, as distilabel's step."""
    return Settings(
        guidelines=guidelines or "Rate the quality of the generation for the given instruction.",
        fields=[TextField(name=instruction, title="Instruction"), TextField(name=generation, title="Generation")],
        questions=[LabelQuestion(name="quality", title="What's the quality of the generation for the given "
                                 "instruction?", labels={"bad": "👎", "good": "👍"})],
    )


def text_generation_records(df: pd.DataFrame, *, instruction: str = "instruction", generation: str = "generation",
                            partition: str | None = None, where: str = "DataFrame") -> list[RecordInput]:
    """One record per (instruction, generation); a list of generations gives one record each."""
    RecordMapping(fields={instruction: instruction, generation: generation}).check_columns(df, where)
    out = []
    for i, row in enumerate(df.to_dict("records")):
        gens = row[generation]
        gens = list(gens) if isinstance(gens, (list, tuple)) or hasattr(gens, "tolist") else [gens]
        for g in gens:
            if _is_missing(row[instruction]) or _is_missing(g):
                raise InvalidInput(f"{where} row {i}: {instruction!r} and {generation!r} must not be empty.",
                                   field=generation)
            fields = {instruction: str(row[instruction]), generation: str(g)}
            key = stable_external_id(fields)
            out.append(RecordInput(fields=fields, external_id=f"{partition}/{key}" if partition else key))
    return out


def preference_settings(num_generations: int, *, instruction: str = "instruction",
                        generations: str = "generations", guidelines: str | None = None) -> Settings:
    """``instruction``, ``generations-1..N`` fields, a 1–5 rating and an optional rationale per generation."""
    if num_generations < 1:
        raise InvalidInput("num_generations must be at least 1.", field="num_generations")
    fields = [TextField(name=instruction, title="Instruction")]
    questions: list[Any] = []
    for n in range(1, num_generations + 1):
        fields.append(TextField(name=f"{generations}-{n}", title=f"Generation {n}"))
        questions.append(RatingQuestion(name=f"{generations}-{n}-rating", values=[1, 2, 3, 4, 5],
                                        title=f"Rate generation {n} (1 worst, 5 best)."))
        questions.append(TextQuestion(name=f"{generations}-{n}-rationale", required=False,
                                      title=f"Rationale for the rating of generation {n}."))
    return Settings(guidelines=guidelines or "Rate each generation for the given instruction from 1 to 5.",
                    fields=fields, questions=questions)


def preference_records(df: pd.DataFrame, num_generations: int, *, instruction: str = "instruction",
                       generations: str = "generations", ratings: str = "ratings", rationales: str = "rationales",
                       partition: str | None = None, where: str = "DataFrame") -> list[RecordInput]:
    """One record per row; optional ``ratings`` and ``rationales`` columns become suggestions."""
    RecordMapping(fields={instruction: instruction, generations: generations}).check_columns(df, where)
    settings = preference_settings(num_generations, instruction=instruction, generations=generations)
    out = []
    for i, row in enumerate(df.to_dict("records")):
        at = f"{where} row {i}"
        gens = list(row[generations]) if not _is_missing(row[generations]) else []
        if len(gens) != num_generations:
            raise InvalidInput(f"{at}: {len(gens)} generations, but num_generations is {num_generations}.",
                               field=generations)
        fields = {instruction: str(row[instruction])}
        fields.update({f"{generations}-{n + 1}": str(g) for n, g in enumerate(gens)})
        suggestions = []
        for col, suffix in ((ratings, "rating"), (rationales, "rationale")):
            values = row.get(col)
            if values is None or (not isinstance(values, (list, tuple)) and not hasattr(values, "tolist")):
                continue
            for n, v in enumerate(list(values)[:num_generations]):
                if _is_missing(v):
                    continue
                q = f"{generations}-{n + 1}-{suffix}"
                checked = settings.question(q).check_value(v if suffix == "rationale" else _as_rating(v), where=at)
                suggestions.append(SuggestionInput(question=q, value=checked))
        key = stable_external_id(fields)
        out.append(RecordInput(fields=fields, suggestions=suggestions,
                               external_id=f"{partition}/{key}" if partition else key))
    return out


def _as_rating(value: Any) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return int(number) if number.is_integer() else value


# -- responses back to a DataFrame --------------------------------------------------------------------
def typed_value(question: Question | None, value: Any) -> Any:
    """A response value as Python: rating → int, multi-label → sorted list, ranking → values by rank."""
    if question is None or value is None:
        return value
    if question.type == "rating":
        return int(value)
    if question.type == "multi_label_selection":
        return sorted(value)
    if question.type == "ranking":
        return [v["value"] for v in sorted(value, key=lambda v: v.get("rank") or 0)]
    return value


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def annotations_frame(records: Sequence[Record], questions: Sequence[Question],
                      usernames: Mapping[str, str] | None = None,
                      fields: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per record: ids, status, fields, per question the majority of submitted answers and its
    agreement (share of submitted answers equal to it; NaN with fewer than 2), annotators and statuses.

    Columns: ``record_id, external_id, record_status, <fields>, <question>…, <question>__agreement…,
    <question>__suggestion…, annotators, response_statuses, n_submitted, agreement``.
    """
    names = usernames or {}
    by_name = {q.name: q for q in questions}
    qid_to_name = {q.id: q.name for q in questions}
    rows = []
    for rec in records:
        responses = rec.responses or []
        submitted = [r for r in responses if r.status.value == "submitted"]
        row: dict[str, Any] = {"record_id": rec.id, "external_id": rec.external_id, "record_status": rec.status.value}
        for f in fields or []:
            row[f] = rec.fields.get(f)
        agreements = []
        for q in questions:
            answers = [typed_value(q, r.value(q.name)) for r in submitted if r.value(q.name) is not None]
            if answers:
                counts = Counter(_hashable(a) for a in answers)
                top, n = counts.most_common(1)[0]
                row[q.name] = list(top) if isinstance(top, tuple) else top
                share = n / len(answers) if len(answers) >= 2 else math.nan
            else:
                row[q.name], share = None, math.nan
            row[f"{q.name}__agreement"] = share
            if not math.isnan(share):
                agreements.append(share)
        for s in rec.suggestions or []:
            qname = qid_to_name.get(s.question_id)
            if qname:
                row[f"{qname}__suggestion"] = typed_value(by_name[qname], s.value)
        row["annotators"] = [names.get(r.user_id, r.user_id) for r in submitted]
        row["response_statuses"] = {names.get(r.user_id, r.user_id): r.status.value for r in responses}
        row["n_submitted"] = len(submitted)
        row["agreement"] = sum(agreements) / len(agreements) if agreements else math.nan
        rows.append(row)
    columns = ["record_id", "external_id", "record_status", *(fields or []), *[q.name for q in questions],
               *[f"{q.name}__agreement" for q in questions], *[f"{q.name}__suggestion" for q in questions],
               "annotators", "response_statuses", "n_submitted", "agreement"]
    return pd.DataFrame(rows, columns=columns)


def status_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Records per status and responses per status, for metadata."""
    counts = {f"records_{k}": int(v) for k, v in frame["record_status"].value_counts().items()} if len(frame) else {}
    responses: Counter[str] = Counter()
    for statuses in frame.get("response_statuses", []):
        responses.update(statuses.values())
    counts.update({f"responses_{k}": v for k, v in responses.items()})
    return counts


def mean_agreement(frame: pd.DataFrame) -> float | None:
    """Mean agreement over records answered by several annotators (None if there are none)."""
    if "agreement" not in frame or frame["agreement"].dropna().empty:
        return None
    return float(frame["agreement"].dropna().mean())
