"""Asset factories: DataFrames become Argilla datasets for human review; reviews come back as DataFrames.

>>> import dagster as dg, pandas as pd
>>> @dg.asset
... def generations() -> pd.DataFrame:
...     return pd.DataFrame({"instruction": ["2+2?"], "generation": ["4"]})
>>> review = build_text_generation_dataset_asset(name="review", upstream=generations, dataset_name="tg-review")
>>> reviewed = build_argilla_annotations_asset(name="reviewed", dataset_name="tg-review", dataset_asset=review)
>>> check = build_argilla_annotations_check(reviewed, min_completed_fraction=0.5, min_agreement=0.6)
>>> sorted(k.to_user_string() for k in reviewed.keys)
['reviewed']
"""

from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field

from dagster_labeling._core import InvalidInput
from dagster_labeling._dagster.assets import (
    AssetRef,
    asset_check_like,
    asset_key_of,
    latest_materialization,
    partition_key_of,
)
from dagster_labeling.argilla.client import ArgillaClient
from dagster_labeling.argilla.ids import in_partition
from dagster_labeling.argilla.models import RecordInput, Settings
from dagster_labeling.argilla.pipeline import (
    RecordMapping,
    annotations_frame,
    mean_agreement,
    preference_records,
    preference_settings,
    status_counts,
    text_generation_records,
    text_generation_settings,
)
from dagster_labeling.argilla.resource import ArgillaResource

DATASET_ID_META = "argilla/dataset_id"
COMPLETED_FRACTION_META = "argilla/completed_fraction"
AGREEMENT_META = "argilla/mean_agreement"

#: ``(df, partition_key or None, where) -> records``
FrameToRecords = Callable[[pd.DataFrame, str | None, str], list[RecordInput]]


class ArgillaDatasetConfig(dg.Config):
    """Run-time overrides of the dataset's name and workspace (as distilabel's runtime parameters)."""

    dataset_name: str | None = Field(default=None, description="Dataset name (default: the factory's).")
    dataset_workspace: str | None = Field(default=None, description="Workspace (default: factory's or resource's).")




def build_argilla_dataset_asset(
    *,
    name: str,
    upstream: AssetRef,
    dataset_name: str,
    settings: Settings,
    mapping: RecordMapping | None = None,
    frame_to_records: FrameToRecords | None = None,
    workspace: str | None = None,
    create_workspace: bool = False,
    allow_empty: bool = False,
    partitions_def: dg.PartitionsDefinition | None = None,
    resource_key: str = "argilla",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    pool: str | None = None,
) -> dg.AssetsDefinition:
    """An asset that pushes an upstream DataFrame to an Argilla dataset (generic column-mapping factory).

    The dataset is created with ``settings`` if missing (and reused after); each row becomes a record whose
    ``external_id`` is ``<partition>/<key>`` (key: ``mapping.key_column`` or a hash of the fields; injective, see
    :func:`~dagster_labeling.argilla.ids.record_external_id`), so re-runs and backfills update records
    instead of duplicating them. Parallel first runs (a backfill) converge on one dataset (see
    :meth:`ArgillaClient.ensure_dataset`). ``partitions_def`` defaults to the
    upstream asset's. Give either ``mapping`` or
    ``frame_to_records``. Every row is checked before anything is sent. ``pool`` puts the asset in a Dagster
    concurrency pool, to keep many runs (a backfill) under the server's limits.
    """
    if (mapping is None) == (frame_to_records is None):
        raise InvalidInput("give exactly one of mapping= or frame_to_records=.", field="mapping")
    upstream_key = asset_key_of(upstream)
    if partitions_def is None and isinstance(upstream, dg.AssetsDefinition):
        partitions_def = upstream.partitions_def  # partition-aware by default: one partition, one slice of records

    def to_records(df: pd.DataFrame, partition: str | None, where: str) -> list[RecordInput]:
        if mapping is not None:
            return mapping.records(df, settings=settings, partition=partition, where=where)
        assert frame_to_records is not None
        return frame_to_records(df, partition, where)

    @dg.asset(
        name=name,
        key_prefix=key_prefix,
        ins={"rows": dg.AssetIn(key=upstream_key)},
        partitions_def=partitions_def,
        required_resource_keys={resource_key},
        group_name=group_name,
        description=description or f"Rows of {upstream_key.to_user_string()} as records of Argilla dataset "
        f"{dataset_name!r}.",
        kinds={"argilla", "pandas"},
        pool=pool,
    )
    def _argilla_dataset_asset(
        context: dg.AssetExecutionContext, config: ArgillaDatasetConfig, rows: pd.DataFrame
    ) -> dg.MaterializeResult:
        partition = partition_key_of(context)
        where = f"asset {name!r}" + (f" partition {partition!r}" if partition else "")
        resource: ArgillaResource = getattr(context.resources, resource_key)
        ds_name = config.dataset_name or dataset_name
        ws_name = config.dataset_workspace or workspace or resource.workspace
        if isinstance(rows, pd.DataFrame) and rows.empty and not allow_empty:
            raise InvalidInput(f"{where}: the upstream DataFrame is empty; filter empty partitions out upstream "
                               "or pass allow_empty=True.", field="rows")
        records = to_records(rows, partition, where)  # validated before any call
        with resource.get_client() as client:
            dataset = client.ensure_dataset(ds_name, settings, workspace=ws_name, create_workspace=create_workspace)
            result = client.upsert_records(dataset, records, settings=settings)
            url = client.dataset_url(dataset)
            if result.failures:
                raise dg.Failure(
                    description=f"{len(result.failures)} of {result.requests} upsert requests to Argilla dataset "
                    f"{ds_name!r} failed; re-run to retry (records are keyed by external_id, so nothing "
                    f"duplicates). First: {next(iter(result.failures.values()))}",
                    metadata={DATASET_ID_META: dataset.id, "argilla/dataset_url": dg.MetadataValue.url(url)},
                )
            progress = client.progress(dataset.id)
        context.log.info(f"Argilla dataset {ds_name}: {result.count} records upserted in {result.requests} "
                         f"request(s). {url}")
        return dg.MaterializeResult(metadata={
            "dagster/row_count": len(records),
            DATASET_ID_META: dataset.id,
            "argilla/dataset_name": ds_name,
            "argilla/workspace": ws_name or "",
            "argilla/dataset_url": dg.MetadataValue.url(url),
            "argilla/records_upserted": result.count,
            "argilla/requests": result.requests,
            "argilla/dataset_records_total": progress.total,
        })

    return _argilla_dataset_asset


def build_text_generation_dataset_asset(
    *, name: str, upstream: Any, dataset_name: str, instruction: str = "instruction",
    generation: str = "generation", guidelines: str | None = None, **kwargs: Any,
) -> dg.AssetsDefinition:
    """distilabel's ``TextGenerationToArgilla`` as an asset: ``instruction`` and ``generation`` fields (a list of
    generations gives one record each) and a good/bad ``quality`` question. Other arguments as
    :func:`build_argilla_dataset_asset`."""
    settings = text_generation_settings(instruction, generation, guidelines)

    def convert(df: pd.DataFrame, partition: str | None, where: str) -> list[RecordInput]:
        return text_generation_records(df, instruction=instruction, generation=generation, partition=partition,
                                       where=where)

    return build_argilla_dataset_asset(name=name, upstream=upstream, dataset_name=dataset_name, settings=settings,
                                       frame_to_records=convert, **kwargs)


def build_preference_dataset_asset(
    *, name: str, upstream: Any, dataset_name: str, num_generations: int, instruction: str = "instruction",
    generations: str = "generations", ratings: str = "ratings", rationales: str = "rationales",
    guidelines: str | None = None, **kwargs: Any,
) -> dg.AssetsDefinition:
    """distilabel's ``PreferenceToArgilla`` as an asset: ``instruction``, ``generations-1..N`` fields, a 1–5
    rating (and optional rationale) question per generation; optional ``ratings``/``rationales`` list columns
    are pushed as suggestions. Other arguments as :func:`build_argilla_dataset_asset`."""
    settings = preference_settings(num_generations, instruction=instruction, generations=generations,
                                   guidelines=guidelines)

    def convert(df: pd.DataFrame, partition: str | None, where: str) -> list[RecordInput]:
        return preference_records(df, num_generations, instruction=instruction, generations=generations,
                                  ratings=ratings, rationales=rationales, partition=partition, where=where)

    return build_argilla_dataset_asset(name=name, upstream=upstream, dataset_name=dataset_name, settings=settings,
                                       frame_to_records=convert, **kwargs)


def fetch_annotations(client: ArgillaClient, dataset_id: str, *, partition: str | None = None,
                      submitted_only: bool = False) -> pd.DataFrame:
    """The annotations DataFrame of a dataset (only the partition's records when ``partition`` is given)."""
    questions = client.list_questions(dataset_id)
    fields = [f.name for f in client.list_fields(dataset_id)]
    records = list(client.list_records(dataset_id))
    if partition is not None:
        records = [r for r in records if in_partition(r.external_id, partition)]
    users = client.usernames()
    frame = annotations_frame(records, questions, users, fields)
    if submitted_only:
        frame = frame[frame["n_submitted"] > 0].reset_index(drop=True)
    return frame


def build_argilla_annotations_asset(
    *,
    name: str,
    dataset_name: str,
    workspace: str | None = None,
    dataset_asset: dg.AssetsDefinition | dg.AssetKey | str | None = None,
    submitted_only: bool = False,
    partitions_def: dg.PartitionsDefinition | None = None,
    resource_key: str = "argilla",
    key_prefix: Sequence[str] | None = None,
    group_name: str | None = None,
    description: str | None = None,
    pool: str | None = None,
) -> dg.AssetsDefinition:
    """An asset with the reviews of an Argilla dataset as a DataFrame (see
    :func:`~dagster_labeling.argilla.pipeline.annotations_frame` for the columns). Metadata: progress,
    completed share, counts per status, mean agreement, dataset URL. Partitioned: only the partition's records.
    ``pool``: a Dagster concurrency pool for the asset.
    """
    deps = [asset_key_of(dataset_asset)] if dataset_asset is not None else []
    if partitions_def is None and isinstance(dataset_asset, dg.AssetsDefinition):
        partitions_def = dataset_asset.partitions_def

    @dg.asset(
        name=name,
        key_prefix=key_prefix,
        deps=deps,
        partitions_def=partitions_def,
        required_resource_keys={resource_key},
        group_name=group_name,
        description=description or f"Human reviews from Argilla dataset {dataset_name!r}, one row per record.",
        kinds={"argilla", "pandas"},
        pool=pool,
    )
    def _argilla_annotations_asset(context: dg.AssetExecutionContext) -> dg.Output[pd.DataFrame]:
        partition = partition_key_of(context)
        resource: ArgillaResource = getattr(context.resources, resource_key)
        with resource.get_client() as client:
            dataset = client.get_dataset(dataset_name, workspace or resource.workspace)
            if dataset is None:
                raise dg.Failure(f"Argilla dataset {dataset_name!r} does not exist (materialize its dataset asset "
                                 "first, or check the name and workspace).")
            frame = fetch_annotations(client, dataset.id, partition=partition, submitted_only=submitted_only)
            url = client.dataset_url(dataset)
            progress = client.progress(dataset.id)
        total = len(frame)
        completed = int((frame["record_status"] == "completed").sum()) if total else 0
        agreement = mean_agreement(frame)
        metadata: dict[str, Any] = {
            "dagster/row_count": total,
            DATASET_ID_META: dataset.id,
            "argilla/dataset_url": dg.MetadataValue.url(url),
            "argilla/completed": completed,
            COMPLETED_FRACTION_META: completed / total if total else 0.0,
            "argilla/dataset_progress": dg.MetadataValue.json(progress.model_dump(include={"total", "completed",
                                                                                           "pending"})),
            "argilla/status_counts": dg.MetadataValue.json(status_counts(frame)),
        }
        if agreement is not None:
            metadata[AGREEMENT_META] = agreement
        return dg.Output(frame, metadata=metadata)

    return _argilla_annotations_asset


def build_argilla_annotations_check(
    annotations_asset: dg.AssetsDefinition,
    *,
    min_completed_fraction: float = 1.0,
    min_agreement: float | None = 0.6,
    name: str = "argilla_review_quality",
    blocking: bool = False,
) -> dg.AssetChecksDefinition:
    """A check on an annotations asset: completed share ≥ ``min_completed_fraction`` and mean inter-annotator
    agreement ≥ ``min_agreement`` (skipped when no record has two answers). Reads the latest materialization's
    metadata; on a partitioned asset the check is partitioned too and judges its own partition."""

    @asset_check_like(annotations_asset, name=name, blocking=blocking,
                    description="Share of records completed and inter-annotator agreement in Argilla.")
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        partition = partition_key_of(context)
        mat = latest_materialization(context.instance, annotations_asset.key, partition)
        if mat is None:
            return dg.AssetCheckResult(passed=False, metadata={"reason": "no materialization yet"})
        meta = mat.metadata

        def value(key: str) -> float | None:
            item = meta.get(key)
            return None if item is None else float(item.value)  # type: ignore[arg-type]

        fraction = value(COMPLETED_FRACTION_META) or 0.0
        agreement = value(AGREEMENT_META)
        passed = fraction >= min_completed_fraction
        if min_agreement is not None and agreement is not None:
            passed = passed and agreement >= min_agreement
        out: dict[str, Any] = {"completed_fraction": fraction, "min_completed_fraction": min_completed_fraction}
        said = [f"{fraction:.0%} of records completed (need {min_completed_fraction:.0%})"]
        if agreement is not None:
            out["mean_agreement"] = agreement
            said.append(f"mean inter-annotator agreement {agreement:.2f}"
                        + (f" (need {min_agreement:.2f})" if min_agreement is not None else ""))
        else:
            said.append("agreement not measured: no record has two answers yet")
        if min_agreement is not None:
            out["min_agreement"] = min_agreement
        return dg.AssetCheckResult(passed=passed, metadata=out, description="; ".join(said) + ".")

    return _check
