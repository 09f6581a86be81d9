"""DataFrames to Refuel items: the whole frame is checked before anything is sent, and cells keep their types.

Refuel takes rows two ways. A CSV upload turns every cell into text, so ``1`` and ``1.0`` read back as text and
a missing cell and ``""`` become the same empty field. ``POST /datasets/{id}/items`` takes a JSON array of row
objects, which keeps ints, floats, booleans, ``""`` and missing (a key left out) apart. So a DataFrame's rows are
sent as JSON items (:func:`frame_items`): the frame is validated whole first (:mod:`dagster_labeling._core.rows`:
text column names, no infinities or values without a JSON form, every bad row listed), then each row becomes
plain JSON values with its missing cells left out.

A cell may hold at most :data:`MAX_CELL_CHARS` characters (131,072: the longest field Python's CSV reader takes,
which a dataset's upload meets). Longer cells are refused before sending, naming the column and the rows.

>>> import pandas as pd
>>> frame_items(pd.DataFrame({"n": [1, 2], "text": ["", None]}), where="reviews")
[{'n': 1, 'text': ''}, {'n': 2}]
"""

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import pandas as pd

from dagster_labeling._core.encoding import dumps
from dagster_labeling._core.rows import InvalidRows, RowProblem, RowSpec, row_problems, row_records

MAX_CELL_CHARS = 131_072
"""The longest cell Refuel takes, in characters (text; a list or mapping counts as its JSON text)."""


def cell_length(value: Any) -> int:
    """How many characters a cell takes on Refuel: text as it is, anything else as its JSON text."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, (list, dict)):
        return len(dumps(value).decode())
    return 0


def long_cells(items: Sequence[Mapping[str, Any]], labels: Sequence[Hashable]) -> list[RowProblem]:
    """One problem per column holding cells over :data:`MAX_CELL_CHARS`, naming the rows (``labels[i]`` of item i)."""
    rows: dict[str, list[Hashable]] = {}
    for label, item in zip(labels, items, strict=True):
        for column, value in item.items():
            if cell_length(value) > MAX_CELL_CHARS:
                rows.setdefault(column, []).append(label)
    return [RowProblem(column, tuple(found), f"holds more than {MAX_CELL_CHARS:,} characters, the longest a Refuel "
                                             "cell may be|Shorten or split those cells upstream.")
            for column, found in rows.items()]


def frame_items(frame: pd.DataFrame, *, where: str, max_cell_chars: bool = True) -> list[dict[str, Any]]:
    """Every row of ``frame`` as a JSON item (missing cells left out), or :class:`InvalidRows` listing every bad row.

    ``max_cell_chars=False`` skips the cell-length limit (for inputs that are not stored as dataset cells).
    """
    problems = row_problems(frame, RowSpec(all_columns=True))
    if problems:
        raise InvalidRows(where, problems)
    items = list(row_records(frame))
    if max_cell_chars:
        problems = long_cells(items, list(frame.index))
        if problems:
            raise InvalidRows(where, problems)
    return items
