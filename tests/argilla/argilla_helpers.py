"""Shared helpers for the Argilla tests (a uniquely named module, so it never collides)."""

from dagster_labeling.argilla import (
    ChatField,
    CustomField,
    ImageField,
    IntegerMetadataProperty,
    LabelQuestion,
    MultiLabelQuestion,
    RankingQuestion,
    RatingQuestion,
    Settings,
    SpanQuestion,
    TermsMetadataProperty,
    TextField,
    TextQuestion,
    VectorField,
)


def full_settings() -> Settings:
    """Every field, question, metadata and vector kind."""
    return Settings(
        guidelines="Review carefully.",
        min_submitted=1,
        fields=[TextField(name="prompt"), TextField(name="answer", use_markdown=True), ImageField(name="image",
                required=False), ChatField(name="chat", required=False),
                CustomField(name="card", template="<b>{{record.fields.prompt}}</b>", required=False)],
        questions=[
            RatingQuestion(name="quality", values=[1, 2, 3, 4, 5]),
            LabelQuestion(name="topic", labels=["math", "code", "other"]),
            MultiLabelQuestion(name="tags", labels=["short", "long", "funny"], required=False),
            TextQuestion(name="comment", required=False),
            RankingQuestion(name="rank", values=["a", "b"], required=False),
            SpanQuestion(name="ents", field="prompt", labels=["NUM", "OP"], required=False),
        ],
        metadata=[TermsMetadataProperty(name="source", options=["web", "unit"]), IntegerMetadataProperty(name="n")],
        vectors=[VectorField(name="emb", dimensions=3)],
    )


def simple_settings() -> Settings:
    return Settings(fields=[TextField(name="prompt"), TextField(name="answer")],
                    questions=[RatingQuestion(name="quality", values=[1, 2, 3, 4, 5]),
                               LabelQuestion(name="topic", labels=["math", "code", "other"])],
                    metadata=[TermsMetadataProperty(name="source")])
