"""What a reseller decides on, read from a stored deal: the profit's breakdown, the risk
signals and the links to act on it.

The breakdown is the stored amounts of the estimate the deal was priced with (see
``profit.ProfitEstimate``), never a re-computation with today's settings, so it adds up
to the stored profit exactly::

    all-in cost = buy price + shipping + prep + inbound shipping
    fees        = referral + closing + FBA pick-and-pack
    profit      = sale price − fees − all-in cost

A row saved before the breakdown was stored has none until its next re-check.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from keepa_deals.keepa.csvtypes import CsvType
from keepa_deals.keepa.products import OfferCondition

#: Keepa's offer condition codes, as Amazon words them.
CONDITION_NAMES: dict[int, str] = {
    OfferCondition.NEW: "New",
    OfferCondition.USED_NEW: "Used - Like New",
    OfferCondition.USED_VERY_GOOD: "Used - Very Good",
    OfferCondition.USED_GOOD: "Used - Good",
    OfferCondition.USED_ACCEPTABLE: "Used - Acceptable",
    OfferCondition.REFURBISHED: "Refurbished",
    OfferCondition.COLLECTIBLE_NEW: "Collectible - Like New",
    OfferCondition.COLLECTIBLE_VERY_GOOD: "Collectible - Very Good",
    OfferCondition.COLLECTIBLE_GOOD: "Collectible - Good",
    OfferCondition.COLLECTIBLE_ACCEPTABLE: "Collectible - Acceptable",
}

#: The parts a breakdown needs; a row missing one of them has none.
BREAKDOWN_COLUMNS = (
    "current_price_cents", "est_sale_price_cents", "profit_cents", "roi_percent",
    "margin_percent", "referral_fee_cents", "closing_fee_cents", "fba_fee_cents",
    "prep_cents", "inbound_shipping_cents", "sale_price_window",
)

NO_BREAKDOWN = "not stored for this deal (saved by an older version); its next re-check adds it"


def condition_name(code: int | None) -> str | None:
    if code is None:
        return None
    return CONDITION_NAMES.get(code, f"condition {code}")


def price_type_name(csv_type: int | None) -> str:
    """``2`` → ``used``, ``32`` → ``buy box used`` (how the basis names an average)."""
    if csv_type is None:
        return "used"
    try:
        name = CsvType(csv_type).name
    except ValueError:
        return f"price type {csv_type}"
    return name.lower().removesuffix("_shipping").replace("_", " ")


def sale_price_basis(m: Mapping[Any, Any]) -> str | None:
    """``90-day used average``, with the fallback said when it is one."""
    window = m.get("sale_price_window")
    if window is None:
        return None
    basis = f"{window}-day {price_type_name(m.get('sale_price_type'))} average"
    if m.get("sale_price_fallback"):
        basis += " (fallback: the query's own window had no average)"
    return basis


def breakdown(m: Mapping[Any, Any]) -> dict[str, Any] | None:
    """The profit's breakdown of a stored row (its mapping), or None when not stored."""
    if any(m.get(name) is None for name in BREAKDOWN_COLUMNS):
        return None
    total = int(m["current_price_cents"])
    shipping = m.get("buy_shipping_cents")
    item = total - shipping if shipping is not None else total
    prep, inbound = int(m["prep_cents"]), int(m["inbound_shipping_cents"])
    referral, closing, fba = (int(m["referral_fee_cents"]), int(m["closing_fee_cents"]),
                              int(m["fba_fee_cents"]))
    return {
        "buy_price_cents": item,
        "buy_shipping_cents": shipping,
        "shipping_included": bool(m.get("price_includes_shipping")),
        "prep_cents": prep,
        "inbound_shipping_cents": inbound,
        "cost_cents": total + prep + inbound,
        "sale_price_cents": int(m["est_sale_price_cents"]),
        "sale_price_basis": sale_price_basis(m),
        "referral_fee_percent": m.get("referral_fee_percent"),
        "referral_fee_cents": referral,
        "closing_fee_cents": closing,
        "fba_fee_cents": fba,
        "fees_cents": referral + closing + fba,
        "profit_cents": int(m["profit_cents"]),
        "roi_percent": m["roi_percent"],
        "margin_percent": m["margin_percent"],
    }


def sales_estimated(m: Mapping[Any, Any]) -> bool | None:
    """True when ``sales_per_month`` is our estimate from rank drops, not Keepa's figure."""
    if m.get("sales_per_month") is None:
        return None
    return m.get("monthly_sold") is None


def price_age_s(m: Mapping[Any, Any], now: datetime) -> float | None:
    changed = m.get("price_changed_at")
    return None if changed is None else max(0.0, (now - changed).total_seconds())
