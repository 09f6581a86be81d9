"""Lazy pagination over any scheme (next_token, offset/limit, cursors).

A platform client supplies ``fetch(cursor) -> (items, next_cursor)``; :func:`paginate` yields items one
page at a time, fetching the next page only when the caller gets there.

>>> pages = {None: ([1, 2], "t1"), "t1": ([3], None)}
>>> list(paginate(lambda cursor: pages[cursor]))
[1, 2, 3]
"""

from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
C = TypeVar("C")


def paginate(fetch: Callable[[C | None], tuple[Sequence[T], C | None]], *, limit: int | None = None) -> Iterator[T]:
    """Yield items across pages until ``fetch`` returns no next cursor (or ``limit`` items were yielded)."""
    cursor: C | None = None
    yielded = 0
    seen: set[object] = set()
    while True:
        if limit is not None and yielded >= limit:
            return  # don't fetch a page nobody will read
        items, next_cursor = fetch(cursor)
        for item in items:
            if limit is not None and yielded >= limit:
                return
            yield item
            yielded += 1
        if next_cursor is None or next_cursor in seen:
            return  # a server that hands back a cursor it already gave would loop forever
        seen.add(next_cursor)
        cursor = next_cursor
