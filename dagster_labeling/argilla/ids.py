"""Record ids (``external_id``) from (partition, row key): readable, injective, and exact to filter by partition.

A record's id is ``<partition>/<key>``; a partition or key holding ``/`` (or empty) gets a digest suffix
(:func:`~dagster_labeling._dagster.naming.join_id`), so partition ``x`` key ``y/z`` and partition ``x/y`` key
``z`` never share a record, while clean ids read as they always did.

>>> record_external_id("2026-01", "7"), record_external_id(None, "7")
('2026-01/7', '7')
>>> record_external_id("x", "y/z") != record_external_id("x/y", "z")
True
"""

from dagster_labeling._dagster.naming import DIGEST_LENGTH, ID_SEPARATOR, join_id

_HASHED_TAIL = len(ID_SEPARATOR) * 2 + DIGEST_LENGTH


def record_external_id(partition: str | None, key: str) -> str:
    """A record's ``external_id``: the key alone when unpartitioned, else ``<partition>/<key>``, injective
    (:func:`~dagster_labeling._dagster.naming.join_id`: parts holding ``/`` get a digest suffix)."""
    return key if partition is None else join_id(partition, key)


def in_partition(external_id: str | None, partition: str) -> bool:
    """Whether ``external_id`` was made by :func:`record_external_id` for ``partition`` (exactly: a
    partition's id is never taken for another partition's, whatever ``/`` the keys hold).

    >>> in_partition(record_external_id("x/y", "z"), "x"), in_partition(record_external_id("x", "y/z"), "x")
    (False, True)
    """
    prefix = partition + ID_SEPARATOR
    if not external_id or not external_id.startswith(prefix):
        return False
    rest = external_id[len(prefix):]
    keys = [rest]  # a clean key, or the readable part of a hashed id (join_id keeps it whole when unlimited)
    if len(rest) >= _HASHED_TAIL and rest[-_HASHED_TAIL:].startswith(ID_SEPARATOR * 2):
        keys.append(rest[:-_HASHED_TAIL])
    return any(join_id(partition, key) == external_id for key in keys)
