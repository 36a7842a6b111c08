"""The profit model: what a deal would earn if bought now and resold through FBA.

Pure functions of integers; see docs/profit.md for the model and worked examples.

* Every amount is whole cents (``int``).  A fee given as a percentage is
  rounded **up** to the next whole cent, so rounding never overstates profit.
* ROI and margin are percentages (``35.0`` = 35 %) rounded half away from
  zero to two decimals, from the exact integer amounts.
* A missing input gives ``None``, never a guess: no buy price, or no average
  in the chosen window nor its fallbacks, means no estimate.  Only the fees
  have defaults (the product's own fee when Keepa gives one, else the setting).

::

    cost        = buy price + prep + inbound shipping
    fees        = referral (percent of sale price) + closing fee + FBA pick-and-pack
    profit      = sale price − fees − cost
    ROI         = profit / cost × 100
    margin      = profit / sale price × 100
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

#: The average windows Keepa's product stats offer (days).
WINDOWS: tuple[int, ...] = (30, 90, 180, 365)



@dataclass(frozen=True, slots=True)
class ProfitSettings:
    """How to price a deal; the query file's ``[profit]`` table builds one."""

    #: Keepa csv type whose averages give the sale price (2 = USED, 32 = BUY_BOX_USED_SHIPPING).
    sale_price_type: int = 2
    #: The average (days) taken as the expected sale price...
    sale_price_window: int = 90
    #: ...or, when that average is missing, the first of these that is present.
    sale_price_fallbacks: tuple[int, ...] = (180, 365)
    #: Referral fee when the product carries none (percent of the sale price).
    default_referral_percent: float = 15.0
    #: FBA pick-and-pack fee when the product carries none.
    default_fba_fee_cents: int = 350
    #: Amazon's per-item closing fee (the variable closing fee of media categories).
    closing_fee_cents: int = 180
    #: Our cost to prepare one unit (labels, bags).
    prep_cents: int = 0
    #: Our cost to ship one unit to the Amazon warehouse.
    inbound_shipping_cents: int = 0

    def __post_init__(self) -> None:
        for window in (self.sale_price_window, *self.sale_price_fallbacks):
            if window not in WINDOWS:
                raise ValueError(f"average windows are {WINDOWS}, not {window}")
        if not 0 <= self.default_referral_percent <= 100:
            raise ValueError("default_referral_percent must be between 0 and 100")
        for name in ("default_fba_fee_cents", "closing_fee_cents", "prep_cents",
                     "inbound_shipping_cents"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise ValueError(f"{name} must be a whole number of cents ≥ 0, got {value!r}")


DEFAULT_SETTINGS = ProfitSettings()


@dataclass(frozen=True, slots=True)
class ProfitEstimate:
    """An estimate and every amount it was made of (all cents, except the percentages)."""

    buy_price_cents: int
    sale_price_cents: int
    #: Which average window the sale price came from.
    sale_price_window: int
    referral_fee_cents: int
    closing_fee_cents: int
    fba_fee_cents: int
    prep_cents: int
    inbound_shipping_cents: int
    profit_cents: int
    roi_percent: float
    margin_percent: float

    @property
    def cost_cents(self) -> int:
        """What we put in: buy price, prep and inbound shipping."""
        return self.buy_price_cents + self.prep_cents + self.inbound_shipping_cents

    @property
    def fees_cents(self) -> int:
        """What Amazon keeps."""
        return self.referral_fee_cents + self.closing_fee_cents + self.fba_fee_cents


def expected_sale_price(
    averages: Mapping[int, int | None], window: int, fallbacks: Sequence[int] = ()
) -> tuple[int, int] | None:
    """(price, window) from the first of ``window``, ``*fallbacks`` with a positive average.

    ``averages`` maps a window in days to an average in cents; ``None`` and
    Keepa's ``-1``/``-2`` ("no data") count as missing.
    """
    for days in (window, *fallbacks):
        value = _cents(averages.get(days), minimum=1)
        if value is not None:
            return value, days
    return None


def percent_fee(amount_cents: int, percent: float) -> int:
    """``percent`` of ``amount_cents``, rounded up to a whole cent."""
    if type(percent) is int or (type(percent) is float and percent.is_integer()):
        return -(-amount_cents * int(percent) // 100)  # exact in integers: the common case
    exact = Decimal(amount_cents) * Decimal(str(percent)) / 100
    return int(exact.to_integral_value(rounding=ROUND_CEILING))


def ratio_percent(numerator: int, denominator: int) -> float:
    """numerator / denominator × 100, rounded half away from zero to 0.01."""
    if denominator == 0:
        raise ZeroDivisionError("ratio_percent: denominator is 0")
    n = numerator * 10_000  # hundredths of a percent, exactly, in integers
    q, r = divmod(abs(n), abs(denominator))
    if 2 * r >= abs(denominator):
        q += 1
    # q / 100 is the double nearest to the exact decimal, as float(Decimal(...)) would give
    return (q if (n < 0) == (denominator < 0) else -q) / 100


def profit_at(
    buy_price_cents: int | None,
    sale_price_cents: int | None,
    *,
    referral_fee_percent: float | None = None,
    fba_fee_cents: int | None = None,
    settings: ProfitSettings = DEFAULT_SETTINGS,
    sale_price_window: int | None = None,
) -> ProfitEstimate | None:
    """The estimate for a known sale price; None when either price is missing."""
    buy = _cents(buy_price_cents, minimum=1)
    sale = _cents(sale_price_cents, minimum=1)
    if buy is None or sale is None:
        return None
    percent = referral_fee_percent
    if not isinstance(percent, int | float) or isinstance(percent, bool) or not 0 <= percent <= 100:
        percent = settings.default_referral_percent
    fba = _cents(fba_fee_cents, minimum=0)
    if fba is None:
        fba = settings.default_fba_fee_cents

    referral = percent_fee(sale, percent)
    cost = buy + settings.prep_cents + settings.inbound_shipping_cents
    profit = sale - referral - settings.closing_fee_cents - fba - cost
    return ProfitEstimate(
        buy_price_cents=buy,
        sale_price_cents=sale,
        sale_price_window=sale_price_window or settings.sale_price_window,
        referral_fee_cents=referral,
        closing_fee_cents=settings.closing_fee_cents,
        fba_fee_cents=fba,
        prep_cents=settings.prep_cents,
        inbound_shipping_cents=settings.inbound_shipping_cents,
        profit_cents=profit,
        roi_percent=ratio_percent(profit, cost),
        margin_percent=ratio_percent(profit, sale),
    )


def estimate_profit(
    buy_price_cents: int | None,
    averages: Mapping[int, int | None],
    *,
    referral_fee_percent: float | None = None,
    fba_fee_cents: int | None = None,
    settings: ProfitSettings = DEFAULT_SETTINGS,
) -> ProfitEstimate | None:
    """The estimate for a deal bought at ``buy_price_cents`` and sold at its average.

    ``averages`` maps window days (30/90/180/365) to the average price of
    ``settings.sale_price_type`` in cents.  ``referral_fee_percent`` and
    ``fba_fee_cents`` are the product's own (None or negative: use the defaults).
    """
    picked = expected_sale_price(
        averages, settings.sale_price_window, settings.sale_price_fallbacks
    )
    if picked is None:
        return None
    sale, window = picked
    return profit_at(
        buy_price_cents, sale, referral_fee_percent=referral_fee_percent,
        fba_fee_cents=fba_fee_cents, settings=settings, sale_price_window=window,
    )


def _cents(value: object, *, minimum: int) -> int | None:
    """``value`` if it is a whole number of cents ≥ ``minimum``, else None (missing)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    return None
