"""/deal results: :class:`Deal` and :class:`DealPage`, and their parsers.

See ``models.py`` for the conventions (times, sentinels, indexing by name).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from keepa_deals.keepa import _shape
from keepa_deals.keepa.series import ByDateRange, CsvValues
from keepa_deals.tokens.status import TokenStatus

IMAGE_BASE_URL = "https://m.media-amazon.com/images/I/"
#: Keepa sends at most this many deals per page; a shorter page is the last one.
DEALS_PER_PAGE = 150

_EMPTY: list[int] = []


@dataclass(frozen=True, slots=True)
class Deal:
    asin: str
    title: str | None
    parent_asin: str | None
    root_category: int | None
    categories: tuple[int, ...]
    current: CsvValues
    delta_last: CsvValues
    avg: ByDateRange
    delta: ByDateRange
    delta_percent: ByDateRange
    last_update: datetime | None
    creation_date: datetime | None
    lightning_end: datetime | None
    warehouse_condition: int | None
    image_url: str | None
    raw: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class DealPage:
    deals: tuple[Deal, ...]
    category_ids: tuple[int, ...]
    category_names: tuple[str, ...]
    category_counts: tuple[int, ...]
    status: TokenStatus | None
    page: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_last(self) -> bool:
        """A page shorter than 150 deals is the last of the query."""
        return len(self.deals) < DEALS_PER_PAGE

    def __len__(self) -> int:
        return len(self.deals)

    def __iter__(self) -> Iterator[Deal]:
        return iter(self.deals)


def _image_url(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        name = value
    else:
        try:
            name = bytes(_shape.int_list(value, f"{what} image")).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            _shape.fail(f"{what} image", "not a list of ASCII codes")
    return IMAGE_BASE_URL + name if name else None


def parse_deal(value: Any) -> Deal:
    d = _shape.obj(value, "deal")
    asin = d.get("asin")
    if type(asin) is not str or not asin:
        _shape.fail("deal", f"asin missing or not a string: {asin!r}")
    what = f"deal {asin}"
    current = _shape.opt_int_list(d, "current", what)
    delta_last = _shape.opt_int_list(d, "deltaLast", what)
    categories = _shape.opt_int_list(d, "categories", what)
    return Deal(
        asin=asin,
        title=_shape.opt_str(d, "title", what),
        parent_asin=_shape.opt_str(d, "parentAsin", what),
        root_category=_shape.category(_shape.opt_int(d, "rootCat", what)),
        categories=tuple(categories) if categories else (),
        current=CsvValues(current if current is not None else _EMPTY),
        delta_last=CsvValues(delta_last if delta_last is not None else _EMPTY, sentinels=False),
        avg=ByDateRange.parse(d.get("avg"), f"{what} avg"),
        delta=ByDateRange.parse(d.get("delta"), f"{what} delta", sentinels=False),
        delta_percent=ByDateRange.parse(d.get("deltaPercent"), f"{what} deltaPercent",
                                        sentinels=False),
        last_update=_shape.opt_time(d, "lastUpdate", what),
        creation_date=_shape.opt_time(d, "creationDate", what),
        lightning_end=_shape.opt_time(d, "lightningEnd", what),
        warehouse_condition=_shape.opt_value(d, "warehouseCondition", what) or None,
        image_url=_image_url(d.get("image"), what),
        raw=d,
    )


def parse_deal_page(body: Mapping[str, Any], status: TokenStatus | None, *,
                    page: int = 0) -> DealPage:
    """The ``deals`` object of a /deal reply.  A reply without one is malformed,
    never an empty page."""
    if "deals" not in body:
        _shape.fail("/deal", "no 'deals' object in the reply")
    deals = _shape.obj(body["deals"], "/deal deals")
    dr = deals.get("dr")
    if dr is None:
        dr = []
    elif type(dr) is not list:
        _shape.fail("/deal deals.dr", f"expected a list, got {type(dr).__name__}")
    ids = _shape.opt_int_list(deals, "categoryIds", "/deal deals") or []
    counts = _shape.opt_int_list(deals, "categoryCount", "/deal deals") or []
    names = deals.get("categoryNames")
    if names is None:
        names = []
    if type(names) is not list or not all(type(n) is str for n in names):
        _shape.fail("/deal deals.categoryNames", "expected a list of strings")
    return DealPage(
        deals=tuple(map(parse_deal, dr)),
        category_ids=tuple(ids),
        category_names=tuple(names),
        category_counts=tuple(counts),
        status=status,
        page=page,
        raw=body,
    )
