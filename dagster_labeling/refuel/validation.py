"""Checks that need no network: column names, CSV files, task fields, filters, sort orders and fine-tune settings,
each refused with an :class:`~dagster_labeling._core.InvalidInput` naming the field and the fix."""

import csv
import io
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from dagster_labeling._core import InvalidInput
from dagster_labeling.refuel.models import CLASSIFICATION_TYPES, ENRICHMENT_TYPES, FieldType, Task, TaskField

FILTER_OPERATORS = frozenset(
    {">", ">=", "<", "<=", "=", "<>", "IS NULL", "IS NOT NULL", "LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE", "SIMILAR"}
)
LABEL_FIELDS = frozenset({"llm_label", "confidence", "expected_label"})
ORDER_LABEL_FIELDS = frozenset({"label", "confidence"})
LLM_MODELS = {
    "GPT-4 Turbo": "gpt-4-1106-preview", "GPT-4o": "gpt-4o", "GPT-4o Mini": "gpt-4o-mini", "GPT-4o mini": "gpt-4o-mini",
    "GPT-4": "gpt4", "GPT-3.5 Turbo": "gpt-3.5-turbo", "Claude 3.5 (Sonnet)": "claude-3-5-sonnet-20240620",
    "Claude 3 (Opus)": "claude-3-opus-20240229", "Claude 3 (Haiku)": "claude-3-haiku-20240307",
    "Gemini 1.5 (Pro)": "gemini-1.5-pro-preview-0409", "Mistral Small": "mistral-small-latest",
    "Mistral Large": "mistral-large-latest", "Refuel LLM-2": "refuel-llm-2-large",
    "Refuel LLM-2-small": "refuel-llm-2-small",
}
BASE_MODELS = ("refuel-llm-2-large", "refuel-llm-2-small", "refuel-llm-2-mini")
#: The seed spells them ``refuel-llm-v2-…``; the API's enum says ``refuel-llm-2-…``.
BASE_MODEL_ALIASES = {"refuel-llm-v2-large": "refuel-llm-2-large", "refuel-llm-v2-small": "refuel-llm-2-small",
                      "refuel-llm-v2-mini": "refuel-llm-2-mini"}
HYPERPARAMETERS: dict[str, type | tuple[type, ...]] = {
    "num_epochs": int, "learning_rate_multiplier": (int, float), "lora_r": int, "lora_alpha": (int, float),
    "lora_dropout": (int, float), "weight_decay": (int, float), "learning_rate": (int, float),
    "cosine_min_lr_ratio": (int, float),
}
RESERVED_COLUMNS = frozenset({"refuel_uuid"})


def validate_columns(columns: Sequence[Any], *, what: str = "DataFrame") -> list[str]:
    """Reject empty, duplicate or reserved column names, naming them."""
    names = [str(c) for c in columns]
    if not names:
        raise InvalidInput(f"The {what} has no columns; a Refuel dataset needs at least one.", field="columns")
    blank = [i for i, n in enumerate(names) if not n.strip() or n.startswith("Unnamed:")]
    if blank:
        raise InvalidInput(f"The {what} has unnamed column(s) at position(s) {blank}; name every column.",
                           field="columns")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"The {what} has duplicate column(s) {dupes}; rename them so each is unique.",
                           field="columns")
    reserved = sorted(RESERVED_COLUMNS & set(names))
    if reserved:
        raise InvalidInput(f"The {what} uses reserved column name(s) {reserved}; Refuel adds them itself.",
                           field="columns")
    return names


def read_csv_checked(path: str | os.PathLike[str]) -> bytes:
    """Read a CSV file and check that it parses, with a header of unique names; return its bytes."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise InvalidInput(f"Cannot read CSV {os.fspath(path)!r}: {exc}.", field="file_path") from exc
    try:
        text = data.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text), strict=True))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidInput(f"CSV {os.fspath(path)!r} does not parse: {exc}. Save it as UTF-8 CSV.",
                           field="file_path") from exc
    if not rows:
        raise InvalidInput(f"CSV {os.fspath(path)!r} is empty; it needs a header row.", field="file_path")
    validate_columns(rows[0], what=f"CSV {os.path.basename(os.fspath(path))!r}")
    width = len(rows[0])
    bad = [i + 1 for i, r in enumerate(rows[1:], start=1) if r and len(r) != width]
    if bad:
        raise InvalidInput(f"CSV {os.fspath(path)!r} does not parse: line(s) {bad[:10]} have a different number "
                           f"of fields than the header ({width}).", field="file_path")
    return data


def build_subtasks(fields: Sequence[Mapping[str, Any] | TaskField], columns: Sequence[str]
                   ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Validate task fields against the dataset's columns; return (subtasks, transforms) as the SDK sends them."""
    if not fields:
        raise InvalidInput("A task needs at least one field in `fields`.", field="fields")
    subtasks: list[dict[str, Any]] = []
    transforms: list[dict[str, Any]] = []
    names: list[str] = []
    parsed: list[tuple[TaskField, dict[str, Any]]] = []
    for i, raw in enumerate(fields):
        raw_map = raw.model_dump(exclude_none=True) if isinstance(raw, TaskField) else dict(raw)
        for key in ("name", "type", "input_columns"):
            if not raw_map.get(key):
                raise InvalidInput(f"fields[{i}] is missing {key!r}; every field needs name, type and input_columns.",
                                   field=f"fields[{i}].{key}")
        try:
            tf = TaskField.model_validate(raw_map)
        except ValueError:
            raise InvalidInput(
                f"fields[{i}] ({raw_map.get('name')!r}) has unknown type {raw_map.get('type')!r}; use one of "
                f"{[t.value for t in FieldType]}.", field=f"fields[{i}].type") from None
        parsed.append((tf, raw_map))
        names.append(tf.name)
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidInput(f"Field names must be unique; repeated: {dupes}.", field="fields")
    clash = sorted(set(names) & set(columns))
    if clash:
        raise InvalidInput(f"Field name(s) {clash} clash with dataset columns; rename the fields.", field="fields")
    known = set(columns) | set(names)
    for tf, raw_map in parsed:
        missing = [c for c in tf.input_columns if c not in known]
        if missing:
            raise InvalidInput(
                f"Field {tf.name!r}: input column(s) {missing} are not dataset columns {sorted(columns)} "
                "nor other fields.", field=f"{tf.name}.input_columns")
        kind = tf.type.value
        if kind in ENRICHMENT_TYPES:
            transforms.append(dict(raw_map, type=kind))
            continue
        if kind in CLASSIFICATION_TYPES and not tf.labels:
            raise InvalidInput(f"Field {tf.name!r} is a {kind} field and needs a non-empty `labels` list.",
                               field=f"{tf.name}.labels")
        if tf.ground_truth_column is not None and tf.ground_truth_column not in columns:
            raise InvalidInput(f"Field {tf.name!r}: ground_truth_column {tf.ground_truth_column!r} is not a dataset "
                               f"column {sorted(columns)}.", field=f"{tf.name}.ground_truth_column")
        sub: dict[str, Any] = {"name": tf.name, "type": kind, "input_columns": list(tf.input_columns),
                               "guidelines": tf.guidelines, "default_value": tf.fallback_value or "-",
                               "label_column": tf.ground_truth_column}
        if kind in CLASSIFICATION_TYPES:
            sub["labels"] = list(tf.labels or [])
        subtasks.append(sub)
    return subtasks, transforms


def _subtask_id(task: Task | None, name: str | None, where: str) -> str | None:
    if name is None:
        return None
    if task is None:
        raise InvalidInput(f"{where} names subtask {name!r} but no task was given; pass task=.", field="task")
    sub = task.subtask(name)
    if sub is None:
        raise InvalidInput(f"{where}: task {task.task_name!r} has no field {name!r}; it has "
                           f"{[s.name for s in task.subtasks]}.", field="subtask")
    return sub.id


def format_filters(filters: Sequence[Mapping[str, Any]], columns: Sequence[str], task: Task | None) -> list[str]:
    """Validate filters and serialize them as the SDK does (``json.dumps``)."""
    out = []
    for i, f in enumerate(filters):
        where = f"filters[{i}]"
        op = f.get("operator")
        if op not in FILTER_OPERATORS:
            raise InvalidInput(f"{where}: unknown operator {op!r}; use one of {sorted(FILTER_OPERATORS)}.",
                               field=f"{where}.operator")
        fld = f.get("field")
        value = f.get("value", "")
        subtask_id = _subtask_id(task, f.get("subtask"), where)
        if op == "SIMILAR":
            out.append(json.dumps({"filter_type": "similar", "operator": op, "field": value}))
            continue
        if fld in LABEL_FIELDS:
            if task is None:
                raise InvalidInput(f"{where}: filtering on {fld!r} needs a task; pass task=.", field="task")
            value_type = "metadata" if value in columns else "string"
            out.append(json.dumps({"filter_type": "label", "field": fld, "operator": op, "value": value,
                                   "subtask_id": subtask_id, "value_type": value_type}))
            continue
        if fld not in columns:
            raise InvalidInput(f"{where}: column {fld!r} does not exist in the dataset; columns are "
                               f"{sorted(columns)} (or llm_label/confidence/expected_label with a task).",
                               field=f"{where}.field")
        out.append(json.dumps({"filter_type": "metadata", "field": fld, "operator": op, "value": value}))
    return out


def format_order_by(order_by: Sequence[Mapping[str, Any]], columns: Sequence[str], task: Task | None) -> list[str]:
    out = []
    for i, o in enumerate(order_by):
        where = f"order_by[{i}]"
        fld = o.get("field")
        direction = str(o.get("direction", "ASC")).upper()
        if direction not in ("ASC", "DESC"):
            raise InvalidInput(f"{where}: direction must be ASC or DESC, got {o.get('direction')!r}.",
                               field=f"{where}.direction")
        subtask_id = _subtask_id(task, o.get("subtask"), where)
        if fld in ORDER_LABEL_FIELDS and subtask_id is None:
            raise InvalidInput(f"{where}: sorting by {fld!r} needs task= and a subtask.", field=f"{where}.subtask")
        if fld not in ORDER_LABEL_FIELDS and fld not in columns:
            raise InvalidInput(f"{where}: column {fld!r} does not exist in the dataset; columns are {sorted(columns)}.",
                               field=f"{where}.field")
        out.append(json.dumps({"field": fld, "direction": direction, "subtask_id": subtask_id}))
    return out


def validate_finetune(base_model: str, hyperparameters: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    model = BASE_MODEL_ALIASES.get(base_model, base_model)
    if model not in BASE_MODELS:
        raise InvalidInput(f"Base model {base_model!r} is not offered for fine-tuning; use one of {list(BASE_MODELS)}.",
                           field="base_model")
    hp = dict(hyperparameters if hyperparameters is not None else {"num_epochs": 1})
    for key, value in hp.items():
        if key not in HYPERPARAMETERS:
            raise InvalidInput(f"Unknown hyperparameter {key!r}; supported: {sorted(HYPERPARAMETERS)}.",
                               field=f"hyperparameters.{key}")
        if isinstance(value, bool) or not isinstance(value, HYPERPARAMETERS[key]) or float(value) < 0:  # type: ignore[arg-type]
            raise InvalidInput(f"Hyperparameter {key!r} must be a non-negative number, got {value!r}.",
                               field=f"hyperparameters.{key}")
    if "num_epochs" in hp and hp["num_epochs"] < 1:
        raise InvalidInput("num_epochs must be at least 1.", field="hyperparameters.num_epochs")
    return model, hp
