"""Argilla 2.x models: dataset settings (what you send) and server objects (what you get back).

Settings objects validate themselves before anything is sent (:class:`InvalidInput` names the field and
the fix) and render the exact JSON the server expects (``to_wire``).

>>> s = Settings(fields=[TextField(name="prompt")], questions=[RatingQuestion(name="quality", values=[1, 2, 3])])
>>> s.question("quality").check_value(2, where="row 0")
2
>>> s.question("quality").check_value(7, where="row 0")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
dagster_labeling._core.errors.InvalidInput: row 0: rating 7 is not among the options of question 'quality' ...
"""

import enum
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dagster_labeling._core import InvalidInput

NAME_PATTERN = re.compile(r"^(?=.*[a-z0-9])[a-z0-9_-]+$")
WORKSPACE_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")


class ResponseStatus(str, enum.Enum):
    """Status of one annotator's response."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    DISCARDED = "discarded"


class RecordStatus(str, enum.Enum):
    PENDING = "pending"
    COMPLETED = "completed"


WEBHOOK_EVENTS = (
    "dataset.created", "dataset.updated", "dataset.deleted", "dataset.published",
    "record.created", "record.updated", "record.deleted", "record.completed",
    "response.created", "response.updated", "response.deleted",
)


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InvalidInput(
            f"{kind} name {name!r} is invalid: use lower-case letters, digits, '_' and '-' only "
            "(Argilla's rule for field, question and metadata names).",
            field=f"{kind}.name",
        )


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    title: str | None = None
    description: str | None = None

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self._check()  # here, not in a validator: pydantic would wrap InvalidInput in a ValidationError

    def _check(self) -> None:
        _check_name(type(self).__name__, self.name)


# -- fields -------------------------------------------------------------------------------------------
class TextField(_Spec):
    """A text field shown to annotators."""

    required: bool = True
    use_markdown: bool = False

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title or self.name, "required": self.required,
                "description": self.description, "settings": {"type": "text", "use_markdown": self.use_markdown}}


class ImageField(_Spec):
    """An image field (URL or data URI)."""

    required: bool = True

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title or self.name, "required": self.required,
                "description": self.description, "settings": {"type": "image"}}


class ChatField(_Spec):
    """A chat field: a list of ``{"role", "content"}`` messages."""

    required: bool = True
    use_markdown: bool = True

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title or self.name, "required": self.required,
                "description": self.description, "settings": {"type": "chat", "use_markdown": self.use_markdown}}


class CustomField(_Spec):
    """A custom field rendered with an HTML/handlebars template."""

    template: str
    advanced_mode: bool = False
    required: bool = True

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title or self.name, "required": self.required,
                "description": self.description,
                "settings": {"type": "custom", "template": self.template, "advanced_mode": self.advanced_mode}}


AnyField = TextField | ImageField | ChatField | CustomField


# -- questions ----------------------------------------------------------------------------------------
class _Question(_Spec):
    required: bool = True
    kind: str = ""

    def settings(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title or self.name, "description": self.description,
                "required": self.required, "settings": self.settings()}

    def check_value(self, value: Any, *, where: str) -> Any:
        """The value in wire form, or :class:`InvalidInput` if it is not valid for this question."""
        return value


def _labels_wire(labels: Sequence[str] | dict[str, str]) -> list[dict[str, Any]]:
    if isinstance(labels, dict):
        return [{"value": v, "text": t, "description": None} for v, t in labels.items()]
    return [{"value": v, "text": v, "description": None} for v in labels]


def _label_values(labels: Sequence[str] | dict[str, str]) -> list[str]:
    return list(labels.keys()) if isinstance(labels, dict) else list(labels)


class RatingQuestion(_Question):
    """Integer rating among ``values`` (2 to 11 distinct values between 0 and 10)."""

    values: list[int]
    kind: Literal["rating"] = "rating"

    def _check(self) -> None:
        super()._check()
        if not 2 <= len(set(self.values)) == len(self.values) <= 11 or any(not 0 <= v <= 10 for v in self.values):
            raise InvalidInput(
                f"rating question {self.name!r}: values must be 2 to 11 distinct integers between 0 and 10, "
                f"got {self.values}.", field="values")

    def settings(self) -> dict[str, Any]:
        return {"type": "rating", "options": [{"value": v} for v in self.values]}

    def check_value(self, value: Any, *, where: str) -> Any:
        try:
            number = int(value)
            ok = float(value) == number
        except (TypeError, ValueError):
            ok, number = False, -1
        if not ok or number not in self.values:
            raise InvalidInput(
                f"{where}: rating {value!r} is not among the options of question {self.name!r} ({self.values}); "
                "use one of them.", field=self.name)
        return number


class LabelQuestion(_Question):
    """Single label among ``labels`` (a list, or a dict value → display text)."""

    labels: list[str] | dict[str, str]
    visible_labels: int | None = None
    kind: Literal["label_selection"] = "label_selection"

    def _check(self) -> None:
        super()._check()
        if len(set(_label_values(self.labels))) < 2:
            raise InvalidInput(f"question {self.name!r}: give at least 2 distinct labels.", field="labels")
        if self.visible_labels is not None and self.visible_labels < 3:
            raise InvalidInput(f"question {self.name!r}: visible_labels must be at least 3 (or None).",
                               field="visible_labels")

    def _visible(self) -> int | None:
        n = len(_label_values(self.labels))
        return self.visible_labels if self.visible_labels is not None else (min(n, 20) if n >= 3 else None)

    def settings(self) -> dict[str, Any]:
        return {"type": "label_selection", "options": _labels_wire(self.labels), "visible_options": self._visible()}

    def check_value(self, value: Any, *, where: str) -> Any:
        allowed = _label_values(self.labels)
        if value not in allowed:
            raise InvalidInput(
                f"{where}: label {value!r} is not among the options of question {self.name!r} ({allowed}); "
                "use one of them or add it to the question's labels.", field=self.name)
        return value


class MultiLabelQuestion(LabelQuestion):
    """Several labels among ``labels``."""

    labels_order: Literal["natural", "suggestion"] = "natural"
    kind: Literal["multi_label_selection"] = "multi_label_selection"  # type: ignore[assignment]

    def settings(self) -> dict[str, Any]:
        return {"type": "multi_label_selection", "options": _labels_wire(self.labels),
                "visible_options": self._visible(), "options_order": self.labels_order}

    def check_value(self, value: Any, *, where: str) -> Any:
        values = [value] if isinstance(value, str) else list(value)
        for v in values:
            super().check_value(v, where=where)
        return values


class TextQuestion(_Question):
    """Free text."""

    use_markdown: bool = False
    kind: Literal["text"] = "text"

    def settings(self) -> dict[str, Any]:
        return {"type": "text", "use_markdown": self.use_markdown}

    def check_value(self, value: Any, *, where: str) -> Any:
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"{where}: question {self.name!r} takes a non-empty string, got {value!r}.",
                               field=self.name)
        return value


class RankingQuestion(_Question):
    """Rank ``values``; a value is ``[{"value", "rank"}]`` (or a list of values in rank order)."""

    values: list[str] | dict[str, str]
    kind: Literal["ranking"] = "ranking"

    def settings(self) -> dict[str, Any]:
        return {"type": "ranking", "options": _labels_wire(self.values)}

    def check_value(self, value: Any, *, where: str) -> Any:
        allowed = _label_values(self.values)
        items = [{"value": v, "rank": i + 1} if isinstance(v, str) else dict(v) for i, v in enumerate(value)]
        for item in items:
            if item.get("value") not in allowed:
                raise InvalidInput(f"{where}: {item.get('value')!r} is not among the values of ranking question "
                                   f"{self.name!r} ({allowed}).", field=self.name)
        return items


class SpanQuestion(_Question):
    """Spans over a text ``field``; a value is ``[{"label", "start", "end"}]``."""

    field: str
    labels: list[str] | dict[str, str]
    allow_overlapping: bool = False
    visible_labels: int | None = None
    kind: Literal["span"] = "span"

    def settings(self) -> dict[str, Any]:
        n = len(_label_values(self.labels))
        visible = self.visible_labels if self.visible_labels is not None else (min(n, 20) if n >= 3 else None)
        return {"type": "span", "field": self.field, "options": _labels_wire(self.labels),
                "visible_options": visible, "allow_overlapping": self.allow_overlapping}

    def check_value(self, value: Any, *, where: str) -> Any:
        allowed = _label_values(self.labels)
        for span in value:
            if span.get("label") not in allowed or int(span.get("start", -1)) < 0 or span["end"] <= span["start"]:
                raise InvalidInput(f"{where}: span {span!r} of question {self.name!r} needs a label among {allowed} "
                                   "and 0 <= start < end.", field=self.name)
        return [dict(s) for s in value]


AnyQuestion = RatingQuestion | LabelQuestion | MultiLabelQuestion | TextQuestion | RankingQuestion | SpanQuestion


# -- metadata and vectors -----------------------------------------------------------------------------
class TermsMetadataProperty(_Spec):
    """A string metadata property, optionally limited to ``options``."""

    options: list[str] | None = None
    visible_for_annotators: bool = True

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title or self.name,
                "visible_for_annotators": self.visible_for_annotators,
                "settings": {"type": "terms", "values": self.options}}


class IntegerMetadataProperty(_Spec):
    """An integer metadata property."""

    min: int | None = None
    max: int | None = None
    visible_for_annotators: bool = True

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title or self.name,
                "visible_for_annotators": self.visible_for_annotators,
                "settings": {"type": "integer", "min": self.min, "max": self.max}}


class FloatMetadataProperty(IntegerMetadataProperty):
    """A float metadata property."""

    min: float | None = None  # type: ignore[assignment]
    max: float | None = None  # type: ignore[assignment]

    def to_wire(self) -> dict[str, Any]:
        wire = super().to_wire()
        wire["settings"]["type"] = "float"
        return wire


AnyMetadata = TermsMetadataProperty | IntegerMetadataProperty | FloatMetadataProperty


class VectorField(_Spec):
    """A vector (embedding) of ``dimensions`` floats per record."""

    dimensions: int = Field(gt=0)

    def to_wire(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title or self.name, "dimensions": self.dimensions}


class Settings(BaseModel):
    """Everything a dataset is created with; validated as a whole before any call.

    >>> Settings(fields=[TextField(name="a")], questions=[TextQuestion(name="a")])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    dagster_labeling._core.errors.InvalidInput: Settings: the name 'a' is used twice ...
    """

    model_config = ConfigDict(frozen=True)

    fields: list[AnyField]
    questions: list[AnyQuestion]
    metadata: list[AnyMetadata] = Field(default_factory=list)
    vectors: list[VectorField] = Field(default_factory=list)
    guidelines: str | None = None
    min_submitted: int = Field(default=1, ge=1)
    allow_extra_metadata: bool = False

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self._check()

    def _check(self) -> None:
        if not self.fields:
            raise InvalidInput("Settings: a dataset needs at least one field.", field="fields")
        if not any(q.required for q in self.questions):
            raise InvalidInput("Settings: a dataset needs at least one required question.", field="questions")
        seen: set[str] = set()
        for item in [*self.fields, *self.questions, *self.metadata, *self.vectors]:
            if item.name in seen:
                raise InvalidInput(
                    f"Settings: the name {item.name!r} is used twice among fields, questions, metadata and "
                    "vectors; names must be unique.", field="name")
            seen.add(item.name)
        field_names = {f.name for f in self.fields}
        for q in self.questions:
            if isinstance(q, SpanQuestion) and q.field not in field_names:
                raise InvalidInput(f"Settings: span question {q.name!r} refers to field {q.field!r}, which is not "
                                   f"among the fields {sorted(field_names)}.", field="field")
        if self.guidelines is not None and len(self.guidelines) > 10_000:
            raise InvalidInput("Settings: guidelines are limited to 10,000 characters.", field="guidelines")

    def question(self, name: str) -> AnyQuestion:
        for q in self.questions:
            if q.name == name:
                return q
        raise InvalidInput(f"no question {name!r}; questions: {[q.name for q in self.questions]}", field="question")

    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]


# -- server objects -----------------------------------------------------------------------------------
class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class User(_Wire):
    id: str
    username: str
    role: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    api_key: str | None = Field(default=None, repr=False, exclude=True)


class Workspace(_Wire):
    id: str
    name: str
    inserted_at: str | None = None
    updated_at: str | None = None


class Dataset(_Wire):
    id: str
    name: str
    status: str = "draft"
    guidelines: str | None = None
    allow_extra_metadata: bool = True
    distribution: dict[str, Any] = Field(default_factory=dict)
    workspace_id: str | None = None
    inserted_at: str | None = None
    updated_at: str | None = None

    @property
    def min_submitted(self) -> int:
        return int(self.distribution.get("min_submitted", 1))


class Question(_Wire):
    """A question as the server returns it (``settings.type`` is the question type)."""

    id: str
    name: str
    title: str | None = None
    required: bool = True
    settings: dict[str, Any] = Field(default_factory=dict)

    @property
    def type(self) -> str:
        return str(self.settings.get("type"))

    @property
    def option_values(self) -> list[Any]:
        return [o.get("value") for o in self.settings.get("options") or []]


class FieldInfo(_Wire):
    id: str
    name: str
    required: bool = True
    settings: dict[str, Any] = Field(default_factory=dict)


class Response(_Wire):
    """One annotator's answers: ``values`` maps a question name to its value (typed per question)."""

    id: str | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    status: ResponseStatus
    user_id: str
    record_id: str | None = None
    inserted_at: str | None = None
    updated_at: str | None = None

    def value(self, question: str) -> Any:
        """The answer to ``question`` (None if unanswered): int for rating, str for label/text, list otherwise."""
        item = self.values.get(question)
        return item.get("value") if isinstance(item, dict) else None


class Suggestion(_Wire):
    id: str | None = None
    question_id: str
    value: Any = None
    type: str | None = None
    agent: str | None = None
    score: float | list[float] | None = None


class Record(_Wire):
    id: str
    status: RecordStatus = RecordStatus.PENDING
    fields: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] | None = None
    external_id: str | None = None
    dataset_id: str | None = None
    responses: list[Response] | None = None
    suggestions: list[Suggestion] | None = None
    vectors: dict[str, list[float]] | None = None
    inserted_at: str | None = None
    updated_at: str | None = None


class UserProgress(_Wire):
    username: str
    completed: dict[str, int] = Field(default_factory=dict)
    pending: dict[str, int] = Field(default_factory=dict)


class DatasetProgress(_Wire):
    total: int
    completed: int
    pending: int
    users: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def fraction_completed(self) -> float:
        return self.completed / self.total if self.total else 0.0


class Webhook(_Wire):
    id: str
    url: str
    events: list[str]
    enabled: bool = True
    description: str | None = None
    secret: str | None = Field(default=None, repr=False)
    inserted_at: str | None = None
    updated_at: str | None = None


class SuggestionInput(BaseModel):
    """A model's answer to a question, pushed with a record (e.g. a label with its confidence)."""

    question: str
    value: Any
    score: float | list[float] | None = None
    agent: str | None = None
    type: Literal["model", "human"] | None = None


class ResponseInput(BaseModel):
    """An answer pushed with a record (``user_id`` defaults to the API key's user)."""

    values: dict[str, Any]
    status: ResponseStatus = ResponseStatus.SUBMITTED
    user_id: str | None = None


class RecordInput(BaseModel):
    """A record to upsert. ``external_id`` makes re-runs update instead of duplicating."""

    fields: dict[str, Any]
    external_id: str | None = None
    id: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    suggestions: list[SuggestionInput] = Field(default_factory=list)
    responses: list[ResponseInput] = Field(default_factory=list)
    vectors: dict[str, list[float]] = Field(default_factory=dict)
