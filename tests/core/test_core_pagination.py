"""paginate(): lazy, bounded by limit, safe against a server that repeats a cursor."""

import itertools

from dagster_labeling._core import paginate


class Pages:
    def __init__(self, pages):
        self.pages = pages
        self.calls: list[object] = []

    def __call__(self, cursor):
        self.calls.append(cursor)
        return self.pages[cursor]


def test_lazy_second_page_fetched_only_when_needed():
    fetch = Pages({None: ([1, 2], "t1"), "t1": ([3, 4], "t2"), "t2": ([5], None)})
    it = paginate(fetch)
    assert fetch.calls == []  # nothing fetched before iteration starts
    assert next(it) == 1
    assert fetch.calls == [None]
    assert next(it) == 2
    assert fetch.calls == [None]
    assert next(it) == 3
    assert fetch.calls == [None, "t1"]
    assert list(it) == [4, 5]
    assert fetch.calls == [None, "t1", "t2"]


def test_limit():
    fetch = Pages({None: ([1, 2], "t1"), "t1": ([3, 4], "t2"), "t2": ([5], None)})
    assert list(paginate(fetch, limit=3)) == [1, 2, 3]
    assert fetch.calls == [None, "t1"]


def test_limit_at_page_boundary_does_not_fetch_next_page():
    fetch = Pages({None: ([1, 2], "t1"), "t1": ([3, 4], None)})
    assert list(paginate(fetch, limit=2)) == [1, 2]
    assert fetch.calls == [None]


def test_limit_zero_fetches_nothing():
    fetch = Pages({None: ([1, 2], None)})
    assert list(paginate(fetch, limit=0)) == []
    assert fetch.calls == []


def test_stops_on_repeated_cursor():
    fetch = Pages({None: ([1], "a"), "a": ([2], "b"), "b": ([3], "a")})
    assert list(itertools.islice(paginate(fetch), 100)) == [1, 2, 3]
    assert fetch.calls == [None, "a", "b"]


def test_server_repeating_the_same_cursor_forever():
    calls = []

    def fetch(cursor):
        calls.append(cursor)
        return ([len(calls)], "same")

    assert list(itertools.islice(paginate(fetch), 100)) == [1, 2]
    assert calls == [None, "same"]


def test_empty_pages_and_offset_cursors():
    fetch = Pages({None: ([], 10), 10: ([], 20), 20: (["x"], None)})
    assert list(paginate(fetch)) == ["x"]
    assert list(paginate(Pages({None: ([], None)}))) == []
