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

Record ids (``external_id``) are ``<partition>/<key>``, injective
(:func:`~dagster_labeling.argilla.ids.record_external_id`).
"""

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from dagster_labeling._core import InvalidInput
from dagster_labeling._core.encoding import is_missing
from dagster_labeling._core.rows import InvalidRows, RowProblem, RowSpec, key_text, row_records, validate_rows
from dagster_labeling.argilla.client import stable_external_id
from dagster_labeling.argilla.ids import record_external_id
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
class _Problems:
    """Per-cell problems found while converting rows, grouped by (column, message) with their row labels."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str | None, str], list[Hashable]] = defaultdict(list)

    def add(self, column: str | None, row: Hashable, message: str) -> None:
        self._rows[(column, message)].append(row)

    def raise_if_any(self, where: str) -> None:
        if self._rows:
            raise InvalidRows(where, [RowProblem(column, tuple(rows), message)
                                      for (column, message), rows in self._rows.items()])


def _value_problem(exc: InvalidInput) -> str:
    """A question's refusal (``"value: label 'x' is not among …; use one of them"``) as a row-problem message."""
    text = str(exc).removeprefix("value: ")
    return text.replace("; ", "|", 1)


def _empty_text_rows(frame: pd.DataFrame, columns: Sequence[str]) -> list[RowProblem]:
    """Required text cells that hold "" (Argilla refuses an empty required field)."""
    problems = []
    for column in columns:
        empty = tuple(frame.index[frame[column].map(lambda v: isinstance(v, str) and not v.strip())])
        if empty:
            problems.append(RowProblem(column, empty, "(required field) is empty text|Fill it upstream or drop "
                                                      "those rows."))
    return problems


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
        return list(dict.fromkeys([*cols, self.key_column] if self.key_column else cols))

    def row_spec(self, required_fields: Sequence[str] = ()) -> RowSpec:
        """The checks of every row: the key column, the columns of ``required_fields``, the rest optional."""
        required = [c for f, c in self.fields.items() if f in required_fields]
        optional = [c for c in self.columns() if c not in required and c != self.key_column]
        return RowSpec(key_column=self.key_column, required=required, optional=optional)

    def records(self, df: pd.DataFrame, *, settings: Settings | None = None, partition: str | None = None,
                where: str = "DataFrame", required_fields: Sequence[str] | None = None) -> list[RecordInput]:
        """One record per row. The whole frame is checked first (:func:`~dagster_labeling._core.rows.
        validate_rows`: keys present and unique, required fields filled, values JSON; suggestions against
        ``settings``' questions) and every bad row is reported at once; missing optional values are left out.

        ``required_fields`` defaults to the required fields of ``settings`` (none without settings).
        """
        if required_fields is None:
            required_fields = [f.name for f in settings.fields if f.required] if settings is not None else []
        spec = self.row_spec(required_fields)
        validate_rows(df, spec, where=where)
        problems = _Problems()
        for bad in _empty_text_rows(df, spec.required):
            for bad_row in bad.rows:
                problems.add(bad.column, bad_row, bad.message)
        out = []
        for label, row in zip(df.index, row_records(df, self.columns()), strict=True):
            fields = {f: row[c] for f, c in self.fields.items() if c in row}
            suggestions = []
            for q, c in self.suggestions.items():
                if c not in row:
                    continue
                value = row[c]
                if settings is not None:
                    try:
                        value = settings.question(q).check_value(value, where="value")
                    except InvalidInput as exc:
                        problems.add(c, label, _value_problem(exc))
                        continue
                score_col = self.suggestion_scores.get(q)
                score = row.get(score_col) if score_col is not None else None
                suggestions.append(SuggestionInput(question=q, value=value, score=score, agent=self.suggestion_agent))
            metadata = {m: row[c] for m, c in self.metadata.items() if c in row}
            key = key_text(row[self.key_column]) if self.key_column else stable_external_id(fields)
            out.append(RecordInput(fields=fields, suggestions=suggestions, metadata=metadata,
                                   external_id=record_external_id(partition, key)))
        problems.raise_if_any(where)
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


def _as_list(value: Any) -> list[Any]:
    """A cell holding one value or several (a list, tuple or array) as a list."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def text_generation_records(df: pd.DataFrame, *, instruction: str = "instruction", generation: str = "generation",
                            partition: str | None = None, where: str = "DataFrame") -> list[RecordInput]:
    """One record per (instruction, generation); a list of generations gives one record each. Every row is
    checked before any record is made; all bad rows are reported at once."""
    validate_rows(df, RowSpec(required=(instruction, generation)), where=where)
    problems = _Problems()
    out = []
    for label, row in zip(df.index, row_records(df, [instruction, generation]), strict=True):
        gens = _as_list(row[generation])
        if not gens or any(is_missing(g) or str(g) == "" for g in gens) or str(row[instruction]) == "":
            problems.add(generation, label, f"(with {instruction!r}) holds an empty or missing generation|Every "
                                            "instruction and generation needs text: fill or drop those rows.")
            continue
        for g in gens:
            fields = {instruction: str(row[instruction]), generation: str(g)}
            out.append(RecordInput(fields=fields, external_id=record_external_id(partition,
                                                                                 stable_external_id(fields))))
    problems.raise_if_any(where)
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
    """One record per row; optional ``ratings`` and ``rationales`` columns become suggestions. Every row is
    checked before any record is made; all bad rows are reported at once."""
    optional = [c for c in (ratings, rationales) if c in df.columns]  # lists: a missing item is skipped
    validate_rows(df, RowSpec(required=(instruction, generations)), where=where)
    settings = preference_settings(num_generations, instruction=instruction, generations=generations)
    problems = _Problems()
    out = []
    for label, row in zip(df.index, row_records(df, [instruction, generations, *optional]), strict=True):
        gens = _as_list(row[generations])
        if len(gens) != num_generations:
            problems.add(generations, label, f"holds {len(gens)} generation(s), not num_generations="
                                             f"{num_generations}|Give every row {num_generations} generations.")
            continue
        fields = {instruction: str(row[instruction])}
        fields.update({f"{generations}-{n + 1}": str(g) for n, g in enumerate(gens)})
        suggestions = []
        for col, suffix in ((ratings, "rating"), (rationales, "rationale")):
            for n, v in enumerate(_as_list(row[col])[:num_generations] if col in row else []):
                if is_missing(v):
                    continue
                q = f"{generations}-{n + 1}-{suffix}"
                try:
                    checked = settings.question(q).check_value(v if suffix == "rationale" else _as_rating(v),
                                                               where="value")
                except InvalidInput as exc:
                    problems.add(col, label, _value_problem(exc))
                    continue
                suggestions.append(SuggestionInput(question=q, value=checked))
        out.append(RecordInput(fields=fields, suggestions=suggestions,
                               external_id=record_external_id(partition, stable_external_id(fields))))
    problems.raise_if_any(where)
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
