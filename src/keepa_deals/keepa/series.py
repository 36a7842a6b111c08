"""Keepa's csv-type-indexed arrays, read by name.

* :class:`CsvValues`: one value per csv type (``deal.current``,
  ``stats.avg90``...), ``values["USED"]`` → int cents or None for -1/-2.
* :class:`ByDateRange`: the 4 × N deal arrays, ``deal.avg[DateRange.WEEK]["USED"]``.
* :class:`CsvHistory`: ``product.csv``, each series parsed on first access
  into ``(datetime, value)`` points.

Keys are a :class:`CsvType`, its name (any case) or its index.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from keepa_deals.keepa import _shape
from keepa_deals.keepa.csvtypes import SHIPPING_TYPES, CsvType, csv_index
from keepa_deals.keepa.validation import DateRange

CsvKey = CsvType | int | str
#: One point of a history: when, and the value then (None: no offer / no data).
CsvPoint = tuple[datetime, int | None]

_NAMES = tuple(t.name for t in CsvType)
_N = len(_NAMES)
_SHIPPING = frozenset(int(t) for t in SHIPPING_TYPES)
_DATE_RANGES = {r.name: int(r) for r in DateRange}


class CsvValues(Mapping[str, int | None]):
    """An array indexed by csv type.

    With ``sentinels`` (the default) -1 and -2 read as None; deltas, whose -1
    is a real difference, are built with ``sentinels=False``.  A type past the
    end of the array reads as None.  A value that is not an integer raises
    MalformedResponse naming the array (``what``) and the type when it is
    read: a reply carries dozens of these arrays and the ingestor reads a few
    values of a few of them.
    """

    __slots__ = ("raw", "_sentinels", "_what")

    def __init__(self, raw: list[int], *, sentinels: bool = True,
                 what: str = "csv array") -> None:
        self.raw = raw
        self._sentinels = sentinels
        self._what = what

    def __getitem__(self, key: CsvKey) -> int | None:
        # a CsvType or a plain int in range is its own index (the scorer's hot path)
        i = key if (type(key) is CsvType or type(key) is int) and 0 <= key < _N else csv_index(key)
        raw = self.raw
        if i >= len(raw):
            return None
        value = raw[i]
        if type(value) is not int:
            _shape.fail(f"{self._what}[{_NAMES[i]}]",
                        f"expected an integer, got {type(value).__name__}")
        if self._sentinels and (value == -1 or value == -2):
            return None
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(_NAMES[: len(self.raw)])

    def __len__(self) -> int:
        return min(len(self.raw), len(_NAMES))

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.items() if v is not None and v != 0}
        return f"CsvValues({shown})"


_EMPTY: list[int] = []


class ByDateRange:
    """The deal arrays indexed ``[dateRange][csv type]``.

    The shape (a list of rows, each a list or null) is checked when parsed;
    a row's values are checked when the row is read, which raises
    MalformedResponse naming it (a deal carries twelve such rows and the
    ingestor reads two).
    """

    __slots__ = ("raw", "_sentinels", "_what")

    def __init__(self, raw: list[list[int] | None], *, sentinels: bool = True,
                 what: str = "date-range array") -> None:
        self.raw = raw
        self._sentinels = sentinels
        self._what = what

    @classmethod
    def parse(cls, value: Any, what: str, *, sentinels: bool = True) -> ByDateRange:
        if value is None:
            return cls([], sentinels=sentinels, what=what)
        if type(value) is not list:
            _shape.fail(what, f"expected a list of lists, got {type(value).__name__}")
        for row in value:
            if row is not None and type(row) is not list:
                _shape.fail(what, f"expected a list of lists, found {type(row).__name__}")
        return cls(value, sentinels=sentinels, what=what)

    def __getitem__(self, key: DateRange | int | str) -> CsvValues:
        if isinstance(key, str):
            i = _DATE_RANGES[key.upper()]
        elif isinstance(key, int) and not isinstance(key, bool) and 0 <= key <= 3:
            i = int(key)
        else:
            raise KeyError(key)
        raw = self.raw
        if i >= len(raw) or not raw[i]:
            return CsvValues(_EMPTY)
        row = _shape.int_list(raw[i], f"{self._what}[{i}]")
        return CsvValues(row, sentinels=self._sentinels)

    def __len__(self) -> int:
        return len(self.raw)

    def __repr__(self) -> str:
        return f"ByDateRange({[self[i] for i in range(min(len(self.raw), 4))]!r})"


def parse_points(raw: Any, what: str, *, shipping: bool = False) -> tuple[CsvPoint, ...]:
    """``[t, v, t, v...]`` (or ``[t, price, shipping...]``) as (datetime, value) points.

    Shipping series add the shipping cost to the price (the landed price), as
    Keepa's own clients do; a price of -1/-2 reads as None.
    """
    values = _shape.int_list(raw, what)
    step = 3 if shipping else 2
    if len(values) % step:
        _shape.fail(what, f"length {len(values)} is not a multiple of {step}")
    to_dt = _shape.minutes_to_datetime
    points: list[CsvPoint] = []
    append = points.append
    for i in range(0, len(values), step):
        price = values[i + 1]
        if price == -1 or price == -2:
            append((to_dt(values[i]), None))
        elif shipping:
            ship = values[i + 2]
            append((to_dt(values[i]), price + ship if ship > 0 else price))
        else:
            append((to_dt(values[i]), price))
    return tuple(points)


class CsvHistory(Mapping[str, tuple[CsvPoint, ...]]):
    """``product.csv``: histories by csv type, each parsed when first read.

    A missing (null) series reads as an empty tuple.  A series of the wrong
    shape raises MalformedResponse when it is read.
    """

    __slots__ = ("raw", "_what", "_cache")

    def __init__(self, raw: list[Any], what: str = "csv") -> None:
        self.raw = raw
        self._what = what
        self._cache: dict[int, tuple[CsvPoint, ...]] = {}

    def __getitem__(self, key: CsvKey) -> tuple[CsvPoint, ...]:
        i = csv_index(key)
        cached = self._cache.get(i)
        if cached is not None:
            return cached
        series = self.raw[i] if i < len(self.raw) else None
        points = () if series is None else parse_points(
            series, f"{self._what}[{_NAMES[i]}]", shipping=i in _SHIPPING
        )
        self._cache[i] = points
        return points

    def __iter__(self) -> Iterator[str]:
        return iter(_NAMES[: len(self.raw)])

    def __len__(self) -> int:
        return min(len(self.raw), len(_NAMES))

    def __repr__(self) -> str:
        present = [_NAMES[i] for i, s in enumerate(self.raw[: len(_NAMES)]) if s]
        return f"CsvHistory({present})"
