"""Stable, injective names derived from (asset, partition, row key), so re-runs and backfills reuse remote objects
and two different inputs never share one.

A name joins its parts with a separator (``__`` between an asset's base name and a partition, ``/`` between a
container name and a row key). Joining alone is not injective: asset ``cx`` partition ``a__b`` and asset
``cx__a`` partition ``b`` would both give ``cx__a__b``. So:

- **Clean parts** (non-empty, no separator, not starting or ending with the separator's characters, only
  characters the platform allows, within its length limit) are joined as they are: ``reviews__2026-11-03``.
  The name reads as before, and objects created under the earlier scheme are found again.
- **Anything else** becomes a readable prefix (disallowed characters replaced, cut to fit), then the separator
  twice, then 16 hex digits of a SHA-256 of the exact parts: ``cx__a__b____3f9c…`` (``__`` twice) or
  ``2026/11/03//9a1e…`` (``/`` twice). A clean join never holds the separator twice in a row, so the two kinds
  never meet, and two hashed names are equal only if their parts are (up to a 64-bit digest collision).

>>> remote_name("reviews_batch", "2026-11-01")
'reviews_batch__2026-11-01'
>>> remote_name("cx", "a__b") != remote_name("cx__a", "b")
True
>>> join_id("reviews__2026-11-01", "r1")
'reviews__2026-11-01/r1'
"""

import hashlib
import json
import re
from collections.abc import Iterable, Sequence

PARTITION_SEPARATOR = "__"
ID_SEPARATOR = "/"
DIGEST_LENGTH = 16


def injective_join(parts: Sequence[str], separator: str, *, allowed: str | None = None,
                   max_length: int | None = None) -> str:
    """``parts`` joined by ``separator``, injectively (see the module docstring).

    ``allowed`` is a regular-expression character class body (``"a-zA-Z0-9_-"``) of the characters the platform
    accepts, None for any; ``max_length`` the platform's limit on the whole name.
    """
    pattern = re.compile(f"[{allowed}]*") if allowed is not None else None
    edge = set(separator)
    clean = all(
        part and separator not in part and part[0] not in edge and part[-1] not in edge
        and (pattern is None or pattern.fullmatch(part))
        for part in parts
    )
    joined = separator.join(parts)
    if clean and (max_length is None or len(joined) <= max_length):
        return joined
    digest = hashlib.sha256(json.dumps(list(parts), ensure_ascii=False).encode()).hexdigest()[:DIGEST_LENGTH]
    readable = re.sub(f"[^{allowed}]", "-", joined) if allowed is not None else joined
    tail = separator * 2 + digest
    if max_length is not None:
        if len(tail) > max_length:
            raise ValueError(f"a name limited to {max_length} characters cannot hold a {len(tail)}-character digest")
        readable = readable[: max_length - len(tail)]
    return readable + tail


def remote_name(base: str, partition_key: str | None, *, allowed: str | None = None,
                max_length: int | None = None) -> str:
    """``base`` for an unpartitioned asset, ``base__<partition>`` for a partition (injective; see the module).

    >>> remote_name("reviews", None), remote_name("reviews", "2026-11-01")
    ('reviews', 'reviews__2026-11-01')
    """
    parts = [base] if partition_key is None else [base, partition_key]
    return injective_join(parts, PARTITION_SEPARATOR, allowed=allowed, max_length=max_length)


def join_id(container: str, row_key: str, *, allowed: str | None = None, max_length: int | None = None) -> str:
    """The id of a row inside a container (``<container>/<row key>``), injective like :func:`remote_name`."""
    return injective_join([container, row_key], ID_SEPARATOR, allowed=allowed, max_length=max_length)


def partition_of(base: str, name: str, candidates: Iterable[str] = (), *, allowed: str | None = None,
                 max_length: int | None = None) -> tuple[bool, str | None]:
    """Inverse of :func:`remote_name`: (does ``name`` belong to ``base``, its partition key or None).

    A clean name is read directly; a hashed one is matched against ``candidates`` (the asset's partition keys),
    with the same ``allowed``/``max_length`` it was made with.

    >>> partition_of("reviews_batch", "reviews_batch__2026-11-01")
    (True, '2026-11-01')
    >>> partition_of("cx", remote_name("cx", "a__b"), ["a", "a__b"])
    (True, 'a__b')
    """
    if name == remote_name(base, None, allowed=allowed, max_length=max_length):
        return True, None
    prefix = base + PARTITION_SEPARATOR
    if name.startswith(prefix):
        rest = name[len(prefix):]
        if remote_name(base, rest, allowed=allowed, max_length=max_length) == name:
            return True, rest
    for key in candidates:
        if remote_name(base, key, allowed=allowed, max_length=max_length) == name:
            return True, key
    return False, None
