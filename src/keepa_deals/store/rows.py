"""DealRow: one observation of a deal, as the ingestor hands it to the store.

A row is checked before anything is written: prices are whole cents (``int``,
never a float, a string or Keepa's ``-1``/``-2`` sentinels), percentages are
finite numbers, times are aware datetimes.  A row that breaks a rule raises
InvalidDealRow naming the ASIN and the field, and nothing of its batch is
written.  Two things are normalised rather than refused, because they come
from Keepa's data and a refusal would fail the same paid-for batch at every
run: text loses NUL characters and unpaired surrogates (``clean_text``), and
times become plain UTC datetimes (any aware datetime is accepted).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
from typing import Any

from keepa_deals.store.errors import InvalidDealRow


@dataclass(slots=True, kw_only=True)
class DealRow:
    """One deal as observed now; ``None`` means not known in this observation."""

    asin: str
    domain_id: int = 1

    title: str | None = None
    image_url: str | None = None
    root_category: int | None = None
    category_name: str | None = None

    price_type: int | None = None
    current_price_cents: int | None = None
    price_includes_shipping: bool = False
    avg30_cents: int | None = None
    avg90_cents: int | None = None
    avg180_cents: int | None = None
    avg365_cents: int | None = None
    percent_below_avg: float | None = None

    sales_rank: int | None = None
    rank_drops_30: int | None = None
    rank_drops_90: int | None = None
    rank_drops_180: int | None = None
    rank_drops_365: int | None = None

    offers_used: int | None = None
    offers_new: int | None = None
    offers_fba: int | None = None
    offers_fbm: int | None = None
    amazon_in_stock: bool | None = None

    referral_fee_percent: float | None = None
    fba_fee_cents: int | None = None
    est_sale_price_cents: int | None = None
    profit_cents: int | None = None
    roi_percent: float | None = None
    margin_percent: float | None = None

    #: ISO 4217 code of the row's prices (the marketplace's currency).
    currency: str | None = None
    #: The buy box's (or lowest offer's) seller and its trust score (0-100).
    seller_id: str | None = None
    seller_trust: float | None = None
    # The profit's breakdown (see profit.ProfitEstimate) and the risk signals.
    buy_shipping_cents: int | None = None
    sale_price_type: int | None = None
    sale_price_window: int | None = None
    sale_price_fallback: bool | None = None
    referral_fee_cents: int | None = None
    closing_fee_cents: int | None = None
    prep_cents: int | None = None
    inbound_shipping_cents: int | None = None
    offer_condition: int | None = None
    monthly_sold: int | None = None
    sales_per_month: int | None = None
    price_changed_at: datetime | None = None

    #: When the deal feed listed it (None: this observation did not come from the feed).
    last_seen_in_feed: datetime | None = None
    #: When it was re-checked with product data (None: it was not).
    last_refreshed: datetime | None = None
    keepa_last_update: datetime | None = None


ROW_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(DealRow))

_ASIN = re.compile(r"[0-9A-Z]{10}")

_NON_NEGATIVE_INTS = (
    "current_price_cents", "avg30_cents", "avg90_cents", "avg180_cents", "avg365_cents",
    "fba_fee_cents", "est_sale_price_cents",
    "rank_drops_30", "rank_drops_90", "rank_drops_180", "rank_drops_365",
    "offers_used", "offers_new", "offers_fba", "offers_fbm",
    "root_category", "price_type",
    "buy_shipping_cents", "sale_price_type", "sale_price_window", "referral_fee_cents",
    "closing_fee_cents", "prep_cents", "inbound_shipping_cents", "offer_condition",
    "monthly_sold", "sales_per_month",
)
_POSITIVE_INTS = ("sales_rank",)
_SIGNED_INTS = ("profit_cents",)
_FLOATS = ("percent_below_avg", "roi_percent", "margin_percent", "referral_fee_percent",
           "seller_trust")
_OPTIONAL_BOOLS = ("amazon_in_stock", "sale_price_fallback")
_TEXTS = ("title", "image_url", "category_name", "currency", "seller_id")
_TIMES = ("last_seen_in_feed", "last_refreshed", "keepa_last_update", "price_changed_at")

_INT32_MAX = 2**31 - 1
_INT64_MAX = 2**63 - 1


def row_params(row: DealRow) -> dict[str, Any]:
    """The row's column values, checked; raises InvalidDealRow."""
    if not isinstance(row, DealRow):
        raise InvalidDealRow(None, "row", f"expected a DealRow, got {type(row).__name__}")
    asin = row.asin
    if not isinstance(asin, str) or not _ASIN.fullmatch(asin):
        raise InvalidDealRow(asin, "asin", "must be 10 upper-case letters or digits")
    domain = row.domain_id
    if type(domain) is not int or not 1 <= domain <= 12:
        raise InvalidDealRow(asin, "domain_id", f"must be a Keepa domain id 1-12, got {domain!r}")

    values = _ALL(row)
    params: dict[str, Any] = dict(zip(ROW_FIELDS, values, strict=True))
    if _plainly_valid(values):
        return params
    # something is off (or merely needs normalising, like an int in a float column):
    # the field-by-field checks say which field, and how
    return _checked(params, asin)


def _checked(params: dict[str, Any], asin: str) -> dict[str, Any]:
    """``params`` checked field by field (and normalised); raises InvalidDealRow."""
    for name in _NON_NEGATIVE_INTS:
        _check_int(params, name, asin, 0)
    for name in _POSITIVE_INTS:
        _check_int(params, name, asin, 1)
    for name in _SIGNED_INTS:
        _check_int(params, name, asin, None)
    for name in _FLOATS:
        v = params[name]
        if v is None:
            continue
        if type(v) is int:
            v = params[name] = float(v)
        if type(v) is not float or not math.isfinite(v):
            raise InvalidDealRow(asin, name, f"must be a finite number, got {v!r}")
    if type(params["price_includes_shipping"]) is not bool:
        raise InvalidDealRow(asin, "price_includes_shipping", "must be True or False")
    for name in _OPTIONAL_BOOLS:
        v = params[name]
        if v is not None and type(v) is not bool:
            raise InvalidDealRow(asin, name, f"must be True, False or None, got {v!r}")
    for name in _TEXTS:
        v = params[name]
        if v is not None and not isinstance(v, str):
            raise InvalidDealRow(asin, name, f"must be text, got {type(v).__name__}")
        if v is not None:
            params[name] = clean_text(v)
    for name in _TIMES:
        v = params[name]
        if v is not None and (not isinstance(v, datetime) or v.utcoffset() is None):
            raise InvalidDealRow(asin, name, f"must be an aware datetime, got {v!r}")
        if v is not None:
            u = v.astimezone(UTC)  # a plain UTC datetime: every driver writes it exactly
            params[name] = datetime(u.year, u.month, u.day, u.hour, u.minute, u.second,
                                    u.microsecond, tzinfo=UTC)
    return params


def clean_text(text: str) -> str:
    """``text`` as a database can store it: NUL characters (which PostgreSQL refuses) are
    dropped and unpaired surrogates (which no UTF-8 encoder accepts) become U+FFFD.

    Titles come from Keepa; a stray byte in one must not make its whole batch, paid
    for, unwritable at every run."""
    text = text.replace("\x00", "")  # also makes a str subclass a plain str
    if not _encodable(text):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _encodable(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_ALL = attrgetter(*ROW_FIELDS)
_AT = {name: i for i, name in enumerate(ROW_FIELDS)}
_NONE = type(None)


def _allowed(name: str) -> frozenset[type]:
    if name in _NON_NEGATIVE_INTS or name in _POSITIVE_INTS or name in _SIGNED_INTS:
        return frozenset({_NONE, int})
    if name in _FLOATS:
        return frozenset({_NONE, float})
    if name in _OPTIONAL_BOOLS:
        return frozenset({_NONE, bool})
    if name in _TEXTS:
        return frozenset({_NONE, str})
    if name in _TIMES:
        return frozenset({_NONE, datetime})
    return frozenset({bool} if name == "price_includes_shipping" else {str, int})


_ALLOWED = tuple(_allowed(name) for name in ROW_FIELDS)
#: Field-type combinations seen to be in final form (a handful in practice; bounded).
_GOOD_TYPES: set[tuple[type, ...]] = set()
_INT32_NON_NEGATIVE = itemgetter(*(_AT[n] for n in _NON_NEGATIVE_INTS if n != "root_category"))
_FLOAT_VALUES = itemgetter(*(_AT[n] for n in _FLOATS))
_TEXT_VALUES = itemgetter(*(_AT[n] for n in _TEXTS))
_TIME_VALUES = itemgetter(*(_AT[n] for n in _TIMES))
_ROOT, _RANK, _PROFIT = _AT["root_category"], _AT["sales_rank"], _AT["profit_cents"]


def _plainly_valid(values: tuple[Any, ...]) -> bool:
    """Whether every field is already in its final form (the usual case), checked with a
    few C-level passes; False sends the row through the field-by-field checks."""
    types = tuple(map(type, values))
    if types not in _GOOD_TYPES:
        if not all(t in allowed for t, allowed in zip(types, _ALLOWED, strict=True)):
            return False
        if len(_GOOD_TYPES) < 1024:
            _GOOD_TYPES.add(types)
    ints = [v for v in _INT32_NON_NEGATIVE(values) if v is not None]
    if ints and (min(ints) < 0 or max(ints) > _INT32_MAX):
        return False
    root, rank, profit = values[_ROOT], values[_RANK], values[_PROFIT]
    if root is not None and not 0 <= root <= _INT64_MAX:
        return False
    if rank is not None and not 1 <= rank <= _INT32_MAX:
        return False
    if profit is not None and not -_INT32_MAX <= profit <= _INT32_MAX:
        return False
    floats = [v for v in _FLOAT_VALUES(values) if v is not None]
    if floats and not all(map(math.isfinite, floats)):
        return False
    if not all(v is None or ("\x00" not in v and _encodable(v)) for v in _TEXT_VALUES(values)):
        return False
    return all(v is None or v.tzinfo is UTC for v in _TIME_VALUES(values))


def _check_int(params: dict[str, Any], name: str, asin: str, minimum: int | None) -> None:
    v = params[name]
    if v is None:
        return
    if type(v) is not int:
        raise InvalidDealRow(asin, name, f"must be an integer, got {type(v).__name__} {v!r}")
    top = _INT64_MAX if name == "root_category" else _INT32_MAX
    if (minimum is not None and v < minimum) or v > top or v < -top:
        bound = f"≥ {minimum}" if minimum is not None else "in range"
        raise InvalidDealRow(asin, name, f"must be {bound}, got {v}")
