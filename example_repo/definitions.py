"""The example pipeline's Dagster definitions.

Human labels on Scale AI:
``raw_reviews`` (daily partitions) → ``review_sentiment_batch`` (a Scale batch, one categorization task
per review) → ``review_sentiment_labels`` (the responses, with a completion check) → ``label_summary``.
Completion is handed to the ``scale_batch_completed`` sensor; task callbacks delivered to the callbacks
receiver drive ``scale_task_callbacks``.

LLM labels with confidence on Refuel, and human review of the doubtful ones on Argilla:
``raw_reviews`` → ``reviews_refuel_dataset`` (each day appended once) → ``review_llm_labels`` (a task run of
``review-sentiment``, defined once by ``refuel_review_task``; with a confidence check) →
``low_confidence_reviews`` → ``review_queue`` (an Argilla dataset, the LLM's label as a scored suggestion) →
``reviewed_labels`` (the annotators' answers, with a completion/agreement check); the ``review_done``
sensor pulls them when the queue is fully reviewed.

A model tuned on the human labels on Scale LLM Engine:
``sentiment_training_pairs`` (the labeled days of ``TRAINING_DAYS`` as prompt/response pairs) →
``sentiment_training_file`` (uploaded CSV) → ``sentiment_model`` (a fine-tune, with its loss as metadata and
an eval-loss check); the ``llm_engine_fine_tune_done`` sensor covers fine-tunes launched without waiting.

The review assistant on Adaptive ML, tuned by feedback and A/B tested:
``adaptive_review_project`` (the project, its two candidate models and the ``label_accepted`` feedback key) →
``label_feedback`` (each reviewed LLM label, and whether people kept it) → ``review_label_interactions``
(logged as interactions with that feedback, each row once); ``assistant_ab_test`` starts an A/B test of
the two models (handed off), the ``assistant_ab_test_done`` sensor records the winner and runs
``assistant_default_model``, which promotes it to the project's default model when the result is significant
(before the test finishes it materializes nothing).

Configuration comes from the environment: the keys ``SCALE_API_KEY`` (LLM Engine uses the Scale key too),
``REFUEL_API_KEY``, ``ARGILLA_API_KEY`` and ``ADAPTIVE_API_KEY`` (read at run time through ``dg.EnvVar``),
``SCALE_BASE_URL``, ``LLM_ENGINE_BASE_URL``, ``REFUEL_BASE_URL`` and ``ARGILLA_API_URL`` (default: the real
services; the demo points them at the emulator), ``ADAPTIVE_BASE_URL`` (your Adaptive deployment) and
``DAGSTER_LABELING_INBOX`` (the callbacks inbox file).
"""

import os

import dagster as dg
import pandas as pd

from dagster_labeling.adaptive import (
    AdaptiveResource,
    build_adaptive_ab_test_asset,
    build_adaptive_ab_test_sensor,
    build_adaptive_interactions_asset,
    build_adaptive_promote_winner_asset,
)
from dagster_labeling.argilla import (
    ArgillaResource,
    LabelQuestion,
    RecordMapping,
    Settings,
    TextField,
    build_argilla_annotations_asset,
    build_argilla_annotations_check,
    build_argilla_dataset_asset,
    build_argilla_progress_sensor,
)
from dagster_labeling.llm_engine import (
    LLMEngineResource,
    build_llm_engine_fine_tune_asset,
    build_llm_engine_fine_tune_sensor,
    build_llm_engine_training_file_asset,
)
from dagster_labeling.llm_engine.client import DEFAULT_BASE_URL as LLM_ENGINE_BASE_URL
from dagster_labeling.refuel import (
    RefuelResource,
    build_refuel_confidence_check,
    build_refuel_dataset_asset,
    build_refuel_labels_asset,
    ensure_task,
)
from dagster_labeling.refuel.client import DEFAULT_BASE_URL as REFUEL_BASE_URL
from dagster_labeling.scale import (
    ScaleResource,
    TaskType,
    build_scale_batch_asset,
    build_scale_batch_completion_sensor,
    build_scale_responses_asset,
    build_scale_task_callback_sensor,
)
from dagster_labeling.scale.client import DEFAULT_BASE_URL
from dagster_labeling.scale.pipeline import row_key_of
from example_repo.data import reviews_for_day

SCALE_PROJECT = "review-sentiment"
REFUEL_PROJECT = "product-reviews"
CATEGORIES = ["positive", "negative", "neutral"]
daily = dg.DailyPartitionsDefinition(start_date="2026-11-01", end_offset=1)


@dg.asset(group_name="scale", kinds={"scale"})
def review_sentiment_project(context: dg.AssetExecutionContext, scale: ScaleResource) -> dg.MaterializeResult:
    """The Scale project the review batches belong to (created once, then reused)."""
    with scale.get_client() as client:
        project, created = client.get_or_create_project(
            SCALE_PROJECT, TaskType.Categorization, params={"instruction": "What is the sentiment of this review?"})
        if created:
            context.log.info(f"Created Scale project {project.name}")
    return dg.MaterializeResult(metadata={"scale/project": project.name, "scale/type": project.type})


@dg.asset(group_name="refuel", kinds={"refuel"})
def refuel_review_project(context: dg.AssetExecutionContext, refuel: RefuelResource) -> dg.MaterializeResult:
    """The Refuel project the review dataset lives in (created once, then reused)."""
    with refuel.get_client() as client:
        if not any(p.project_name == REFUEL_PROJECT for p in client.get_projects()):
            client.create_project(REFUEL_PROJECT, "Product reviews labeled by LLMs")
            context.log.info(f"Created Refuel project {REFUEL_PROJECT}")
    return dg.MaterializeResult(metadata={"refuel/project": REFUEL_PROJECT})


@dg.asset(partitions_def=daily, group_name="scale", kinds={"pandas"},
          deps=[review_sentiment_project, refuel_review_project])
def raw_reviews(context: dg.AssetExecutionContext) -> pd.DataFrame:
    """The day's product reviews (synthetic and deterministic in this example)."""
    frame = reviews_for_day(context.partition_key)
    context.add_output_metadata({"dagster/row_count": len(frame)})
    return frame


review_sentiment_batch = build_scale_batch_asset(
    name="review_sentiment_batch",
    upstream=raw_reviews,
    project=SCALE_PROJECT,
    task_type=TaskType.Categorization,
    row_key_column="review_id",
    payload_columns={"attachment": "text"},
    static_payload={
        "instruction": "What is the sentiment of this product review?",
        "attachment_type": "text",
        "categories": CATEGORIES,
    },
    row_to_payload=lambda row: {"metadata": {"product": row["product"], "stars": row["stars"]}},
    callback_url=os.environ.get("SCALE_CALLBACK_URL"),
    partitions_def=daily,
    wait_for_completion=False,  # the sensor picks completion up; run config can ask to wait
    group_name="scale",
    pool="scale_api",
)

review_sentiment_labels = build_scale_responses_asset(
    name="review_sentiment_labels",
    batch_asset=review_sentiment_batch,
    project=SCALE_PROJECT,
    min_completed_share=0.95,
    group_name="scale",
)


@dg.asset(partitions_def=daily, group_name="scale", kinds={"pandas"})
def label_summary(review_sentiment_labels: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    """Label distribution of the day, with the share of tasks completed."""
    column = "response.category"
    labels = review_sentiment_labels.get(column, pd.Series(dtype=object)).fillna("unlabeled")
    summary = labels.value_counts().rename_axis("label").reset_index(name="count")
    return dg.Output(summary, metadata={
        "dagster/row_count": len(summary),
        "label_distribution": dg.MetadataValue.json(
            dict(zip(summary["label"], map(int, summary["count"]), strict=True))
        ),
    })


REFUEL_DATASET = "product-reviews"
REFUEL_TASK = "review-sentiment"
REVIEW_QUEUE = "low-confidence-reviews"
CONFIDENT = 0.6

reviews_refuel_dataset = build_refuel_dataset_asset(
    name="reviews_refuel_dataset", upstream=raw_reviews, dataset_name=REFUEL_DATASET, partitions_def=daily,
    group_name="refuel",
)


@dg.asset(group_name="refuel", kinds={"refuel"}, deps=[reviews_refuel_dataset])
def refuel_review_task(context: dg.AssetExecutionContext, refuel: RefuelResource) -> dg.MaterializeResult:
    """The Refuel labeling task (defined once on the dataset; later runs find it)."""
    with refuel.get_client() as client:
        task = ensure_task(client, REFUEL_TASK, REFUEL_DATASET, "You label the sentiment of product reviews.", [
            {"name": "sentiment", "type": "classification", "labels": CATEGORIES, "input_columns": ["text"],
             "guidelines": "The sentiment the writer expresses about the product."}])
    context.log.info(f"{'Defined' if task.created else 'Found'} Refuel task {REFUEL_TASK} ({task.id})")
    return dg.MaterializeResult(metadata={"refuel/task": REFUEL_TASK, "refuel/task_id": task.id})


review_llm_labels = build_refuel_labels_asset(
    name="review_llm_labels", dataset_asset=reviews_refuel_dataset, dataset_name=REFUEL_DATASET,
    task=REFUEL_TASK, fields=["sentiment"], group_name="refuel",
)
review_llm_confidence = build_refuel_confidence_check(asset=review_llm_labels, field="sentiment",
                                                      threshold=CONFIDENT, min_share=0.5)


@dg.asset(partitions_def=daily, group_name="argilla", kinds={"pandas"})
def low_confidence_reviews(review_llm_labels: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    """LLM labels below the confidence bar: these go to people."""
    doubtful = review_llm_labels[review_llm_labels["sentiment_confidence"] < CONFIDENT]
    frame = doubtful[["review_id", "text", "sentiment_llm_label", "sentiment_confidence"]].reset_index(drop=True)
    return dg.Output(frame, metadata={"dagster/row_count": len(frame),
                                      "share_of_day": len(frame) / max(len(review_llm_labels), 1)})


review_queue = build_argilla_dataset_asset(
    name="review_queue", upstream=low_confidence_reviews, dataset_name=REVIEW_QUEUE,
    settings=Settings(guidelines="Read the review; pick the sentiment its writer expresses.",
                      fields=[TextField(name="text")],
                      questions=[LabelQuestion(name="sentiment", labels=CATEGORIES)]),
    mapping=RecordMapping(fields={"text": "text"}, suggestions={"sentiment": "sentiment_llm_label"},
                          suggestion_scores={"sentiment": "sentiment_confidence"}, key_column="review_id"),
    create_workspace=True, allow_empty=True, group_name="argilla",
)
reviewed_labels = build_argilla_annotations_asset(
    name="reviewed_labels", dataset_name=REVIEW_QUEUE, dataset_asset=review_queue, submitted_only=True,
    group_name="argilla",
)
reviewed_labels_check = build_argilla_annotations_check(reviewed_labels, min_completed_fraction=1.0,
                                                        min_agreement=0.5)

TRAINING_DAYS = ["2026-11-01", "2026-11-02"]


def _latest_batch_name(context: dg.AssetExecutionContext, day: str) -> str | None:
    """The Scale batch of ``day`` if its labels were materialized, else None."""
    labeled = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=review_sentiment_labels.key, asset_partitions=[day]), limit=1).records
    batches = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=review_sentiment_batch.key, asset_partitions=[day]), limit=1).records
    if not labeled or not batches or batches[0].asset_materialization is None:
        return None
    name = batches[0].asset_materialization.metadata.get("scale/batch_name")
    return str(getattr(name, "value", name)) if name is not None else None


@dg.asset(
    group_name="llm_engine", kinds={"pandas"}, output_required=False,
    deps=[dg.AssetDep(review_sentiment_labels, partition_mapping=dg.SpecificPartitionsPartitionMapping(TRAINING_DAYS))],
)
def sentiment_training_pairs(context: dg.AssetExecutionContext, scale: ScaleResource):
    """Completed human labels of the training days (read from their Scale batches) as prompt/response pairs for
    fine-tuning. Until every training day is labeled it materializes nothing (e.g. "Materialize all" for the
    first day)."""
    batches = {day: _latest_batch_name(context, day) for day in TRAINING_DAYS}
    missing = [day for day, batch in batches.items() if batch is None]
    if missing:
        context.log.info(f"Training days {missing} have no labels yet; nothing to train on until they do")
        return
    prompts, responses = [], []
    with scale.get_client() as client:
        for day, batch in batches.items():
            texts = reviews_for_day(day).set_index("review_id")["text"]
            for task in client.get_tasks(batch=str(batch)):
                key = row_key_of(str(batch), task.unique_id or "")
                if task.status == "completed" and key in texts.index and isinstance(task.response, dict):
                    prompts.append(f"Review: {texts[key]}\nSentiment:")
                    responses.append(task.response.get("category"))
    yield dg.Output(pd.DataFrame({"prompt": prompts, "response": responses}),
                    metadata={"dagster/row_count": len(prompts)})


sentiment_training_file = build_llm_engine_training_file_asset(
    name="sentiment_training_file", upstream=sentiment_training_pairs, group_name="llm_engine",
)
sentiment_model = build_llm_engine_fine_tune_asset(
    name="sentiment_model", training_file_asset=sentiment_training_file, base_model="llama-2-7b",
    hyperparameters={"epochs": 3}, suffix="review-sentiment", eval_loss_threshold=1.2,
    group_name="llm_engine", pool="llm_engine_api",
)

ADAPTIVE_PROJECT = "review-assistant"
ASSISTANT_MODELS = ["llama-3.1-8b-instruct", "qwen-2.5-7b"]
FEEDBACK_KEY = "label_accepted"


@dg.asset(group_name="adaptive", kinds={"adaptive"})
def adaptive_review_project(context: dg.AssetExecutionContext, adaptive: AdaptiveResource) -> dg.MaterializeResult:
    """The review assistant's Adaptive project: its candidate models and its feedback key (created once)."""
    with adaptive.get_client() as client:
        project, created = client.ensure_project(ADAPTIVE_PROJECT, "Review assistant")
        if created:
            context.log.info(f"Created Adaptive project {ADAPTIVE_PROJECT}")
        attached = {service.key for service in project.model_services}
        for index, model in enumerate(ASSISTANT_MODELS):
            if model not in attached:
                client.attach_model(ADAPTIVE_PROJECT, model, make_default=index == 0)
        client.ensure_feedback_key(ADAPTIVE_PROJECT, FEEDBACK_KEY, kind="bool",
                                   description="People kept the label the assistant proposed.")
    return dg.MaterializeResult(metadata={"adaptive/project": ADAPTIVE_PROJECT,
                                          "adaptive/models": dg.MetadataValue.json(ASSISTANT_MODELS)})


@dg.asset(partitions_def=daily, group_name="adaptive", kinds={"pandas"}, deps=[adaptive_review_project])
def label_feedback(reviewed_labels: pd.DataFrame) -> pd.DataFrame:
    """Each reviewed LLM label as feedback: the review, the label the LLM proposed, and whether people kept it."""
    return pd.DataFrame({
        "review_id": reviewed_labels["external_id"],
        "prompt": "Sentiment of this review: " + reviewed_labels["text"],
        "llm_label": reviewed_labels["sentiment__suggestion"],
        "accepted": reviewed_labels["sentiment"] == reviewed_labels["sentiment__suggestion"],
    })


review_label_interactions = build_adaptive_interactions_asset(
    name="review_label_interactions", upstream=label_feedback, project=ADAPTIVE_PROJECT, key_column="review_id",
    prompt_column="prompt", completion_column="llm_label", feedback_key=FEEDBACK_KEY, feedback_column="accepted",
    group_name="adaptive",
)
assistant_ab_test = build_adaptive_ab_test_asset(
    name="assistant_ab_test", project=ADAPTIVE_PROJECT, feedback_key=FEEDBACK_KEY, models=ASSISTANT_MODELS,
    wait_for_completion=False, deps=[adaptive_review_project], group_name="adaptive",
)
assistant_default_model = build_adaptive_promote_winner_asset(
    name="assistant_default_model", ab_test_asset=assistant_ab_test, project=ADAPTIVE_PROJECT, max_p_value=0.05,
    group_name="adaptive",
)

labels_job = dg.define_asset_job("scale_labels_job", selection=[review_sentiment_labels, label_summary])

# Each night at 01:00 UTC, the day's reviews go out for labeling: to Scale (handed
# off: ``scale_batch_completed`` collects the responses) and to Refuel, whose doubtful labels are queued on Argilla
# (``review_done`` collects the reviews). The schedule starts the work; the sensors finish it.
daily_labeling_job = dg.define_asset_job(
    "daily_labeling_job",
    selection=dg.AssetSelection.assets(raw_reviews, review_sentiment_batch, reviews_refuel_dataset, review_llm_labels,
                                       low_confidence_reviews, review_queue),
    description="Send one day's reviews to Scale and Refuel and queue the doubtful LLM labels on Argilla.",
)
daily_labeling_schedule = dg.build_schedule_from_partitioned_job(
    daily_labeling_job, name="daily_labeling", hour_of_day=1,
    description="Each day at 01:00 UTC, label the current day's reviews (the sensors collect the results).",
)


@dg.op
def record_task_callback(context: dg.OpExecutionContext) -> None:
    """Log the task a Scale callback was about (a real pipeline would write it somewhere)."""
    context.log.info(f"Scale task completed: {context.run.tags.get('dagster-labeling/scale-task')}")


@dg.job
def scale_task_callback_job() -> None:
    record_task_callback()


OWNERS = {"scale": "team:human-labeling", "argilla": "team:human-labeling", "refuel": "team:llm-labeling",
          "llm_engine": "team:ml-platform", "adaptive": "team:ml-platform"}


def owned(spec: dg.AssetSpec) -> dg.AssetSpec:
    """Every asset gets its team (by platform group) and the pipeline's tags, for the catalog's filters."""
    group = spec.group_name or "default"
    return spec.replace_attributes(owners=[OWNERS.get(group, "team:labeling")],
                                   tags={**spec.tags, "pipeline": "review-sentiment", "platform": group})


defs = dg.Definitions(
    assets=[review_sentiment_project, refuel_review_project, raw_reviews, review_sentiment_batch,
            review_sentiment_labels, label_summary,
            reviews_refuel_dataset, refuel_review_task, review_llm_labels, low_confidence_reviews, review_queue,
            reviewed_labels, sentiment_training_pairs, sentiment_training_file, sentiment_model,
            adaptive_review_project, label_feedback, review_label_interactions, assistant_ab_test,
            assistant_default_model],
    asset_checks=[review_llm_confidence, reviewed_labels_check],
    jobs=[labels_job, daily_labeling_job, scale_task_callback_job],
    schedules=[daily_labeling_schedule],
    sensors=[
        build_scale_batch_completion_sensor(
            name="scale_batch_completed", project=SCALE_PROJECT, target=labels_job,
            batch_asset=review_sentiment_batch, minimum_interval_seconds=30,
        ),
        build_argilla_progress_sensor(name="review_done", dataset_name=REVIEW_QUEUE, threshold=1.0,
                                      target=reviewed_labels),
        build_llm_engine_fine_tune_sensor(
            name="llm_engine_fine_tune_done", fine_tune_asset=sentiment_model, model_asset_key=sentiment_model.key,
            base_model="llama-2-7b", minimum_interval_seconds=60,
        ),
        build_adaptive_ab_test_sensor(name="assistant_ab_test_done", project=ADAPTIVE_PROJECT,
                                      ab_test_asset=assistant_ab_test, target=assistant_default_model,
                                      minimum_interval_seconds=300),
        build_scale_task_callback_sensor(
            name="scale_task_callbacks",
            inbox_path=os.environ.get("DAGSTER_LABELING_INBOX", ".demo/inbox.db"),
            job=scale_task_callback_job,
        ),
    ],
    resources={
        "scale": ScaleResource(
            api_key=dg.EnvVar("SCALE_API_KEY"),
            base_url=os.environ.get("SCALE_BASE_URL", DEFAULT_BASE_URL),
            dashboard_url=os.environ.get("SCALE_DASHBOARD_URL"),  # unset: follows base_url (the emulator serves pages)
        ),
        "refuel": RefuelResource(
            api_key=dg.EnvVar("REFUEL_API_KEY"), project=REFUEL_PROJECT,
            base_url=os.environ.get("REFUEL_BASE_URL", REFUEL_BASE_URL),
        ),
        "argilla": ArgillaResource(
            api_key=dg.EnvVar("ARGILLA_API_KEY"), api_url=os.environ.get("ARGILLA_API_URL", "http://localhost:6900"),
            workspace="reviews",
        ),
        "llm_engine": LLMEngineResource(
            api_key=dg.EnvVar("SCALE_API_KEY"),
            base_url=os.environ.get("LLM_ENGINE_BASE_URL", LLM_ENGINE_BASE_URL),
        ),
        "adaptive": AdaptiveResource(api_key=dg.EnvVar("ADAPTIVE_API_KEY"), base_url=dg.EnvVar("ADAPTIVE_BASE_URL")),
    },
).map_asset_specs(func=owned)
