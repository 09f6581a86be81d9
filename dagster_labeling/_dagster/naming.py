"""Stable names derived from an asset and a partition, so re-runs and backfills reuse remote objects."""

PARTITION_SEPARATOR = "__"


def remote_name(base: str, partition_key: str | None) -> str:
    """``base`` for an unpartitioned asset, ``base__<partition>`` for a partition.

    >>> remote_name("reviews_batch", "2026-11-01")
    'reviews_batch__2026-11-01'
    """
    return base if partition_key is None else f"{base}{PARTITION_SEPARATOR}{partition_key}"


def partition_of(base: str, name: str) -> tuple[bool, str | None]:
    """Inverse of :func:`remote_name`: (does ``name`` belong to ``base``, its partition key or None).

    >>> partition_of("reviews_batch", "reviews_batch__2026-11-01")
    (True, '2026-11-01')
    """
    if name == base:
        return True, None
    prefix = base + PARTITION_SEPARATOR
    if name.startswith(prefix):
        return True, name[len(prefix):]
    return False, None
