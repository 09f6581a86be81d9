"""Small pieces every platform's asset factories use."""

from collections.abc import Callable, Sequence

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
