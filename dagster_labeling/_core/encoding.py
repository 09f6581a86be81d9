"""The one JSON encoding of every request body, for all five platforms: strict, with one conversion per type.

JSON has no NaN or Infinity; a body that holds one is refused before it is sent (:class:`InvalidInput` naming
where it is), never written as ``NaN``/``Infinity``. Values that are not JSON types convert once, the same way
on every platform:

==============================================  ===================================================
value                                           sent as
==============================================  ===================================================
``None``, ``pd.NA``, ``pd.NaT``, ``np.datetime64("NaT")``  ``null`` (in a row: a missing value, see below)
numpy scalars (``np.int64``, ``np.float32``, ``np.bool_``)  the Python number / bool
numpy arrays                                    lists (element by element, same rules)
``datetime`` / ``pd.Timestamp``                 ISO 8601 text (``2026-11-03T10:00:00+00:00``; naive stays naive)
``date``, ``time``                              ISO 8601 text
``timedelta`` / ``pd.Timedelta``                seconds as a number
``Decimal``                                     a number (float; pass a string where exact digits matter)
``uuid.UUID``, enums                            their text / value
tuples, sets                                    lists (sets sorted when sortable)
``bytes``                                       refused: decode to text, or base64-encode, first
float NaN, ±inf (and ``Decimal`` NaN/inf)       refused: not JSON
==============================================  ===================================================

Missing values in DataFrame rows are decided before this layer (see :mod:`dagster_labeling._core.rows`): a
missing key or required field is an error naming the rows; a missing optional field is left out.

>>> import numpy as np
>>> dumps({"n": np.int64(3), "when": datetime.date(2026, 11, 3)})
b'{"n":3,"when":"2026-11-03"}'
>>> try:
...     dumps({"score": float("nan")})
... except InvalidInput as refused:
...     print(str(refused).split(', which')[0])
Request body: $.score is NaN
"""

import datetime
import decimal
import enum
import json
import math
import sys
import uuid
from collections.abc import Mapping
from typing import Any

from dagster_labeling._core.errors import InvalidInput

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                            default=lambda value: plain(value))


def _numpy() -> Any:
    """numpy if something imported it (only then can a value be a numpy value); never imports it."""
    return sys.modules.get("numpy")


def is_null(value: Any) -> bool:
    """Whether a value is an explicit null: None, ``pd.NA``, ``NaT`` (not NaN: see :func:`is_missing`)."""
    if value is None:
        return True
    np = _numpy()
    if np is not None and isinstance(value, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(value))
    return type(value).__name__ in ("NAType", "NaTType")  # pandas' NA and NaT, without importing pandas


def is_missing(value: Any) -> bool:
    """Whether a cell stands for "no value": None, NaN, ``pd.NA``, ``NaT`` (pandas' missing values).

    >>> import numpy as np
    >>> [is_missing(v) for v in (None, float("nan"), np.float32("nan"), 0, "", np.datetime64("NaT"))]
    [True, True, True, False, False, True]
    """
    if isinstance(value, float):  # np.float64 is a float
        return math.isnan(value)
    if isinstance(value, decimal.Decimal):
        return value.is_nan()
    np = _numpy()
    if np is not None and isinstance(value, np.floating):
        return bool(np.isnan(value))
    return is_null(value)


def plain(value: Any) -> Any:
    """``value`` as JSON types, per the table above (containers are converted by the encoder as it walks them).

    Raises :class:`InvalidInput` for NaN and infinities, bytes, and types with no conversion.
    """
    if value is None or isinstance(value, (str, int, list, dict)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{value} is not JSON.", field="body")
        return value
    if is_null(value):
        return None
    np = _numpy()
    if np is not None and isinstance(value, np.generic):
        if isinstance(value, np.datetime64):
            return plain(value.astype("datetime64[us]").item())
        value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInput(f"{value} is not JSON.", field="body")
        return value
    if np is not None and isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, datetime.timedelta):  # pd.Timedelta is one
        return value.total_seconds()
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):  # pd.Timestamp is a datetime
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise InvalidInput(f"{value} is not JSON.", field="body")
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise InvalidInput(
            "bytes cannot be sent as JSON: decode them to text, or base64-encode them, before sending.",
            field="body")
    raise InvalidInput(f"a value of type {type(value).__name__} cannot be sent as JSON; convert it to text, a "
                       "number, a list or a mapping first.", field="body")


def dumps(body: Any, *, where: str = "Request body") -> bytes:
    """The strict JSON encoding of ``body`` (UTF-8, compact); :class:`InvalidInput` naming the path of a NaN,
    an infinity or a value with no JSON form."""
    try:
        return _ENCODER.encode(body).encode()
    except (ValueError, InvalidInput) as exc:
        path, bad = _first_bad(body, "$")
        if path is None:
            raise InvalidInput(f"{where}: {exc}", field="body") from None
        raise InvalidInput(f"{where}: {path} {bad}", field=path) from None


def _first_bad(value: Any, path: str) -> tuple[str | None, str]:
    """The JSON path of the first value the encoder refuses, and why."""
    np = _numpy()
    if isinstance(value, (float, decimal.Decimal)) or (np is not None and isinstance(value, np.floating)):
        if is_missing(value):
            return path, ("is NaN, which is not JSON. Leave the field out or send null for a missing value, or "
                          "replace the value.")
        if math.isinf(float(value)):
            return path, (f"is {float(value)}, which is not JSON. Cap it to a finite number, or leave the field "
                          "out or send null.")
        return None, ""
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _first_bad(item, f"{path}.{key}")
            if found[0] is not None:
                return found
        return None, ""
    if isinstance(value, (list, tuple, set, frozenset)) or (np is not None and isinstance(value, np.ndarray)):
        for index, item in enumerate(value):
            found = _first_bad(item, f"{path}[{index}]")
            if found[0] is not None:
                return found
        return None, ""
    if value is None or isinstance(value, (str, int, bool)):
        return None, ""
    try:
        converted = plain(value)
    except InvalidInput as exc:
        return path, f"is refused: {exc}"
    return (None, "") if converted is value else _first_bad(converted, path)
