"""The deal page's filter form: the API's filters, with money in dollars for people.

The page takes the same filters as ``GET /api/deals`` except that money is typed in
the currency's units (``min_profit=5`` is 500 cents); :func:`parse` turns the form into
the API's :class:`~keepa_deals.web.listing.ListRequest`, or into messages that name the
field in the words of its label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode

from pydantic import ValidationError

from keepa_deals.web.listing import ListRequest, Order, SortKey


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    label: str
    #: The ListRequest field it fills.
    api: str
    kind: str  # money, int, percent, text, category, flag (1 or 0)
    hint: str = ""


FIELDS: tuple[FormField, ...] = (
    FormField("q", "Search", "q", "text", "title words or an ASIN"),
    FormField("min_profit", "Min profit", "min_profit_cents", "money"),
    FormField("max_profit", "Max profit", "max_profit_cents", "money"),
    FormField("min_roi", "Min ROI %", "min_roi", "percent"),
    FormField("max_rank", "Max sales rank", "max_rank", "int"),
    FormField("min_drops_30", "Min drops 30 d", "min_drops_30", "int"),
    FormField("min_drops_90", "Min drops 90 d", "min_drops_90", "int"),
    FormField("min_price", "Min price", "min_price_cents", "money"),
    FormField("max_price", "Max price", "max_price_cents", "money"),
    FormField("min_below", "Min % below avg", "min_below_avg", "percent"),
    FormField("category", "Category", "category", "category"),
    FormField("min_trust", "Min seller trust", "min_trust", "percent",
              "0-100: the seller's ratings, discounted for few of them"),
    # Risk signals.
    FormField("no_amazon", "No Amazon offer", "no_amazon", "flag"),
    FormField("min_sales", "Min sales / month", "min_sales", "int"),
    FormField("max_used_offers", "Max used offers", "max_offers_used", "int"),
)
BY_NAME = {f.name: f for f in FIELDS}
BY_API = {f.api: f for f in FIELDS}
#: Parameters of the page that are not filters.
PAGE_PARAMS = ("sort", "order", "limit", "offset")


@dataclass(frozen=True, slots=True)
class ParsedForm:
    request: ListRequest | None
    errors: list[str]
    #: What the user typed, by form field name (to fill the form again).
    values: dict[str, str]


def parse(params: Mapping[str, str]) -> ParsedForm:
    values = {f.name: params.get(f.name, "").strip() for f in FIELDS}
    values.update({p: params.get(p, "").strip() for p in PAGE_PARAMS})
    errors: list[str] = []
    api: dict[str, Any] = {}
    for f in FIELDS:
        raw = values[f.name]
        if not raw:
            continue
        if f.kind == "money":
            cents = _cents(raw)
            if cents is None:
                errors.append(f"{f.label}: enter an amount such as 5 or 4.99")
                continue
            api[f.api] = cents
        elif f.kind == "flag":
            if raw not in ("1", "0", "true", "false", "on"):
                errors.append(f"{f.label}: 1 (on) or 0 (off)")
                continue
            if raw in ("1", "true", "on"):
                api[f.api] = True  # off is the same as left out
        else:
            api[f.api] = raw
    for low, high in (("min_profit", "max_profit"), ("min_price", "max_price")):
        lo, hi = BY_NAME[low], BY_NAME[high]
        if lo.api in api and hi.api in api and api[hi.api] < api[lo.api]:
            errors.append(f"{hi.label} ({values[high]}) is below {lo.label} ({values[low]})")
    for p in PAGE_PARAMS:
        if values[p]:
            api[p] = values[p]
    if errors:
        return ParsedForm(None, errors, values)
    try:
        return ParsedForm(ListRequest.model_validate(api), [], values)
    except ValidationError as exc:
        return ParsedForm(None, [_message(e) for e in exc.errors()], values)


class FilterError(ValueError):
    """A filter query that does not parse; the message names each bad field."""

    def __init__(self, text: str, errors: list[str]) -> None:
        self.errors = errors
        super().__init__(f"bad filter {text!r}: " + "; ".join(errors))


def parse_query(text: str, *, page_params: bool = True) -> ListRequest:
    """A filter written as the deal page's query string (``min_profit=10&min_roi=50``).

    The one grammar of the dashboard's form, ``deals list --filter``, saved searches and
    alerts: money in the currency's units, percent as percent.  Unlike the page, a name
    it does not know is an error (a typo must not widen a filter silently).  With
    ``page_params`` false, ``sort``/``order``/``limit``/``offset`` are refused too (a saved
    search is filters only).  Raises :class:`FilterError`.
    """
    allowed = set(BY_NAME) | (set(PAGE_PARAMS) if page_params else set())
    params: dict[str, str] = {}
    errors: list[str] = []
    try:
        pairs = parse_qsl(text.strip().lstrip("?"), keep_blank_values=True,
                          strict_parsing=bool(text.strip()))
    except ValueError:
        raise FilterError(text, ["write it as name=value pairs joined by &"]) from None
    for name, value in pairs:
        if name not in allowed:
            known = ", ".join(sorted(allowed))
            errors.append(f"unknown filter {name!r} (known: {known})")
        elif name in params:
            errors.append(f"{name} is given twice")
        else:
            params[name] = value
    if errors:
        raise FilterError(text, errors)
    form = parse(params)
    if form.request is None:
        raise FilterError(text, form.errors)
    return form.request


def to_query(request: ListRequest, *, page_params: bool = False) -> str:
    """The query string :func:`parse_query` reads back as ``request`` (money in units)."""
    values: dict[str, str] = {}
    for f in FIELDS:
        value = getattr(request, f.api)
        if value is None:
            continue
        if f.kind == "money":
            values[f.name] = str(Decimal(int(value)) / 100)
        elif f.kind == "flag":
            if value:
                values[f.name] = "1"
        elif isinstance(value, float) and value.is_integer():
            values[f.name] = str(int(value))
        else:
            values[f.name] = str(value)
    if page_params:
        values.update(sort=request.sort.value, limit=str(request.limit),
                      offset=str(request.offset))
        if request.order is not None:
            values["order"] = request.order.value
    return urlencode(values)


def _cents(raw: str) -> int | None:
    text = raw.replace("$", "").replace(",", "").strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    if not amount.is_finite() or abs(amount) > 10_000_000:
        return None
    return int((amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _message(error: Mapping[str, Any]) -> str:
    loc = [str(p) for p in error.get("loc", ())]
    name = loc[0] if loc else ""
    field = BY_API.get(name)
    label = field.label if field is not None else name.replace("_", " ").capitalize()
    msg = str(error.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ")
    if field is not None and field.kind == "money":
        # The API speaks cents; the form, dollars.
        msg = msg.replace("_cents", "").replace("cents", "")
    return f"{label}: {msg}" if label else msg


def url(values: Mapping[str, str], **changes: str | int | None) -> str:
    """The deal page's URL for ``values`` with ``changes`` (None removes a parameter)."""
    merged: dict[str, str] = {k: v for k, v in values.items() if v}
    for key, value in changes.items():
        if value is None or value == "":
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return "/" + (f"?{urlencode(merged)}" if merged else "")


def sort_link(values: Mapping[str, str], request: ListRequest, key: SortKey) -> tuple[str, str]:
    """(the URL a click on ``key``'s header goes to, its aria-sort value now)."""
    if request.sort is key:
        now = request.effective_order
        flip = Order.ASC if now is Order.DESC else Order.DESC
        aria = "descending" if now is Order.DESC else "ascending"
        return url(values, sort=key.value, order=flip.value, offset=None), aria
    return url(values, sort=key.value, order=None, offset=None), "none"
