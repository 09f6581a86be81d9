"""Small pieces every platform's asset factories use."""

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import dagster as dg

from dagster_labeling._core import BulkProgress

AssetRef = dg.AssetKey | str | Sequence[str] | dg.AssetsDefinition | dg.AssetSpec
"""How factories accept an upstream asset: a key (in any form Dagster coerces), a definition or a spec."""


def asset_key_of(ref: AssetRef) -> dg.AssetKey:
    """The key of an asset reference.

    >>> asset_key_of("reviews").to_user_string(), asset_key_of(["raw", "reviews"]).to_user_string()
    ('reviews', 'raw/reviews')
    """
    if isinstance(ref, (dg.AssetsDefinition, dg.AssetSpec)):
        return ref.key
    return dg.AssetKey.from_coercible(ref)


def bulk_progress_logger(
    context: dg.OpExecutionContext | dg.AssetExecutionContext, what: str
) -> Callable[[BulkProgress], None]:
    """An ``on_progress`` callback for bulk operations that logs to the Dagster run."""

    def log(progress: BulkProgress) -> None:
        context.log.info(
            f"{what}: {progress.done}/{progress.total} created, {progress.failed} failed, {progress.rate:.0f}/s"
        )

    return log


def partitions_like(
    explicit: dg.PartitionsDefinition | None, upstream: AssetRef
) -> dg.PartitionsDefinition | None:
    """``explicit`` if given, else the upstream's partitions (when it is a definition): a downstream asset is
    partitioned like what it consumes unless told otherwise."""
    if explicit is not None:
        return explicit
    return upstream.partitions_def if isinstance(upstream, dg.AssetsDefinition) else None


def partition_key_of(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> str | None:
    """The partition being materialized, or None for an unpartitioned asset — also in a run tagged with a
    partition ("Materialize all" for one day), where unpartitioned assets must not take the run's partition."""
    if not context.has_partition_key:
        return None
    op_context = context.op_execution_context if isinstance(context, dg.AssetCheckExecutionContext) else context
    return context.partition_key if op_context.assets_def.partitions_def is not None else None


def asset_check_like(asset: dg.AssetsDefinition, **kwargs: Any) -> Callable[[Callable[..., Any]],
                                                                         dg.AssetChecksDefinition]:
    """``@dg.asset_check(asset=asset, **kwargs)``, partitioned like ``asset`` (one check run per partition).

    Dagster marks partitioned checks as preview and warns at every definition; the warning says nothing a user
    can act on, so it is silenced here, where the choice is made (the example printed it 110 times)."""

    def decorate(fn: Callable[..., Any]) -> dg.AssetChecksDefinition:
        if asset.partitions_def is None:
            return dg.asset_check(asset=asset, **kwargs)(fn)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Specifying a partitions_def on an AssetCheckSpec",
                                    category=dg.PreviewWarning)
            return dg.asset_check(asset=asset, partitions_def=asset.partitions_def, **kwargs)(fn)

    return decorate


def meta_value(metadata: Mapping[str, Any], key: str) -> Any:
    """The plain value of a metadata entry (a ``MetadataValue``'s ``.value``), None when absent.

    >>> meta_value({"n": dg.MetadataValue.int(3)}, "n"), meta_value({}, "n")
    (3, None)
    """
    value = metadata.get(key)
    return getattr(value, "value", value)


def latest_materialization(
    instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None
) -> dg.AssetMaterialization | None:
    """The latest materialization of an asset, or of one of its partitions."""
    if partition is None:
        event = instance.get_latest_materialization_event(key)
        return event.asset_materialization if event else None
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    return records[0].event_log_entry.asset_materialization if records else None
