"""One validator for the DataFrames every platform's assets and ops send: the whole frame is checked before
the first request, and every problem is reported at once (a capped list of rows per problem) with the fix.

What it checks, per :class:`RowSpec`:

- the input is a DataFrame, its column names are text and unique;
- the columns the spec names exist;
- the key column has a value in every row, and the values are unique (as text, since the key becomes an
  id on the platform);
- required columns have a value in every row;
- every sent cell has a JSON form (:mod:`~dagster_labeling._core.encoding`): no infinities, no bytes, no
  objects without a conversion. (A missing cell in an optional column is not a problem: it is left out.)

>>> import pandas as pd
>>> frame = pd.DataFrame({"id": ["a", None, "a"], "text": ["x", "y", None]})
>>> try:
...     validate_rows(frame, RowSpec(key_column="id", required=("text",)), where="reviews_batch")
... except InvalidRows as bad:
...     for line in str(bad).splitlines():
...         print(line[:60].rstrip())
reviews_batch: 3 problem(s) in the input DataFrame; nothing
  - column 'id' (the row key) has no value — 1 row(s): [1].
  - column 'id' (the row key) repeats 'a' — 2 row(s): [0, 2]
  - column 'text' (required) has no value — 1 row(s): [2]. F
"""

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dagster_labeling._core.encoding import dumps, is_missing, plain
from dagster_labeling._core.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

MAX_ROWS_LISTED = 10
MAX_PROBLEMS_LISTED = 20


@dataclass(frozen=True)
class RowProblem:
    """One thing wrong with the input: the column, the rows (index labels) and what to do."""

    column: str | None
    rows: tuple[Hashable, ...]
    message: str

    def describe(self) -> str:
        listed = list(self.rows[:MAX_ROWS_LISTED])
        more = f" and {len(self.rows) - MAX_ROWS_LISTED} more" if len(self.rows) > MAX_ROWS_LISTED else ""
        where = f"column {self.column!r} " if self.column is not None else ""
        rows = f" — {len(self.rows)} row(s): {listed}{more}" if self.rows else ""
        head, _, fix = self.message.partition("|")
        return f"{where}{head.rstrip('.')}{rows}.{' ' + fix if fix else ''}"


class InvalidRows(InvalidInput):
    """The input DataFrame has rows that cannot be sent; ``problems`` lists each with its rows and the fix."""

    def __init__(self, where: str, problems: Sequence[RowProblem]) -> None:
        self.problems = list(problems)
        lines = [f"  - {p.describe()}" for p in self.problems[:MAX_PROBLEMS_LISTED]]
        if len(self.problems) > MAX_PROBLEMS_LISTED:
            lines.append(f"  - and {len(self.problems) - MAX_PROBLEMS_LISTED} more problem(s)")
        message = f"{where}: {len(self.problems)} problem(s) in the input DataFrame; nothing was sent.\n" + \
            "\n".join(lines)
        columns = [p.column for p in self.problems if p.column is not None]
        super().__init__(message, field=columns[0] if columns else None)

    @property
    def rows(self) -> list[Hashable]:
        """Every row (index label) named by a problem, in order."""
        return list(dict.fromkeys(r for p in self.problems for r in p.rows))

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across Dagster's process boundaries
        return (_rebuild_invalid_rows, (str(self), self.problems, self.field))


def _rebuild_invalid_rows(message: str, problems: list[RowProblem], field: str | None) -> "InvalidRows":
    error = InvalidRows.__new__(InvalidRows)
    error.problems = problems
    InvalidInput.__init__(error, message, field=field)
    return error


@dataclass(frozen=True)
class RowSpec:
    """What a platform sends from each row.

    ``key_column``: the row key (present, non-missing, unique as text), or None when rows have no key.
    ``required``: columns that must hold a value in every row. ``optional``: columns sent when they hold a
    value (a missing cell is left out). ``all_columns``: every column of the frame is sent (its names go on
    the wire): each is checked like an optional column.
    """

    key_column: str | None = None
    required: Sequence[str] = ()
    optional: Sequence[str] = ()
    all_columns: bool = False

    def sent_columns(self, frame: "pd.DataFrame") -> list[str]:
        named = [c for c in (self.key_column, *self.required, *self.optional) if c is not None]
        if self.all_columns:
            named += [str(c) for c in frame.columns]
        return list(dict.fromkeys(named))


def row_problems(frame: Any, spec: RowSpec) -> list[RowProblem]:
    """Every problem :func:`validate_rows` would report (empty when the frame can be sent)."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        return [RowProblem(None, (), f"expected a pandas DataFrame, got {type(frame).__name__}|Return a "
                                     "DataFrame from the upstream asset.")]
    problems: list[RowProblem] = []
    bad_names = [c for c in frame.columns if not isinstance(c, str)]
    if bad_names:
        problems.append(RowProblem(None, (), f"column names must be text, got {bad_names[:MAX_ROWS_LISTED]!r}|"
                                             "Rename them, e.g. frame.columns = frame.columns.astype(str)."))
    dupes = frame.columns[frame.columns.duplicated()].unique().tolist()
    if dupes:
        problems.append(RowProblem(None, (), f"column names repeat: {dupes[:MAX_ROWS_LISTED]!r}|Rename them so "
                                             "every column has its own name."))
    if problems:
        return problems
    named = spec.sent_columns(frame)
    absent = [c for c in named if c not in frame.columns]
    if absent:
        return [RowProblem(c, (), f"is not in the DataFrame (its columns: {list(frame.columns)})|Add it upstream, "
                                  "or name an existing column in the asset's arguments.") for c in absent]
    if spec.key_column is not None:
        problems += _key_problems(frame, spec.key_column)
    for column in spec.required:
        if column == spec.key_column:
            continue
        missing = _missing_rows(frame[column])
        if missing:
            problems.append(RowProblem(column, missing, "(required) has no value|Fill it upstream or drop those "
                                                        "rows."))
    for column in named:
        problems += _unsendable(frame[column], column)
    return problems


def validate_rows(frame: Any, spec: RowSpec, *, where: str) -> None:
    """Raise :class:`InvalidRows` listing every problem of ``frame`` (see the module docstring), or return."""
    problems = row_problems(frame, spec)
    if problems:
        raise InvalidRows(where, problems)


def row_records(frame: "pd.DataFrame", columns: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
    """The rows as plain JSON values (:func:`~dagster_labeling._core.encoding.plain`), missing cells left out.

    Run :func:`validate_rows` first: a cell with no JSON form raises here.

    >>> import pandas as pd
    >>> list(row_records(pd.DataFrame({"id": [1, 2], "score": [0.5, None]})))
    [{'id': 1, 'score': 0.5}, {'id': 2}]
    """
    names = list(frame.columns if columns is None else columns)
    for values in zip(*(frame[c].tolist() for c in names), strict=True) if names else ():
        yield {name: plain(value) for name, value in zip(names, values, strict=True) if not is_missing(value)}


def key_text(value: Any) -> str:
    """A row key as the text it becomes on the platform: integral floats lose their ``.0`` (``3.0`` → ``"3"``),
    so an integer key column that pandas widened to float (because of a missing value elsewhere) keeps its ids."""
    value = plain(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _missing_rows(column: "pd.Series") -> tuple[Hashable, ...]:
    mask = column.isna()
    return tuple(column.index[mask]) if bool(mask.any()) else ()


def _key_problems(frame: "pd.DataFrame", key_column: str) -> list[RowProblem]:
    problems: list[RowProblem] = []
    keys = frame[key_column]
    missing = _missing_rows(keys)
    if missing:
        problems.append(RowProblem(key_column, missing, "(the row key) has no value|Every row needs a key (it "
                                                       "becomes the row's id on the platform): fill it upstream "
                                                       "or drop those rows."))
    present = keys[~keys.isna()]
    try:
        texts = present.map(key_text)
    except InvalidInput as exc:
        return [*problems, RowProblem(key_column, (), f"(the row key) holds a value that cannot be an id: {exc}|"
                                                      "Use text or integer keys.")]
    repeated = texts[texts.duplicated(keep=False)]
    for value, rows in list(repeated.groupby(repeated, sort=False).groups.items())[:MAX_PROBLEMS_LISTED]:
        problems.append(RowProblem(key_column, tuple(rows), f"(the row key) repeats {value!r}|The key must be "
                                                            "unique: de-duplicate upstream or choose another key "
                                                            "column."))
    return problems


def _unsendable(column: "pd.Series", name: str) -> list[RowProblem]:
    """Cells with no JSON form: infinities in numeric columns; bytes and unconvertible objects elsewhere."""
    import numpy as np
    import pandas as pd

    if pd.api.types.is_float_dtype(column.dtype):
        values = column.to_numpy(dtype="float64", na_value=np.nan)
        infinite = np.isinf(values)
        if infinite.any():
            return [RowProblem(name, tuple(column.index[infinite]), "holds an infinity, which is not JSON|Cap it "
                                                                    "to a finite number, or make it missing.")]
        return []
    if column.dtype != object:
        return []  # ints, bools, datetimes, strings, categories: all have a JSON form
    bad: dict[str, list[Hashable]] = {}
    for label, value in column.items():
        if is_missing(value) or isinstance(value, (str, int, bool)):
            continue
        reason = _refusal(value)
        if reason:
            bad.setdefault(reason, []).append(label)
    return [RowProblem(name, tuple(rows), f"{reason}|Convert those cells upstream.") for reason, rows in bad.items()]


def _refusal(value: Any) -> str | None:
    """Why a cell cannot be sent (None if it can): checked deeply for lists and mappings."""
    try:
        dumps(value)
    except InvalidInput as exc:
        return str(exc).removeprefix("Request body: $").removeprefix(" is refused:").strip().replace("|", "/")
    return None

