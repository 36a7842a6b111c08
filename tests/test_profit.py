"""The profit model: worked examples (the same as docs/profit.md), and None for missing inputs
(docs/failure-classes.md, FC-12: never invent prices)."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keepa_deals.profit import (
    DEFAULT_SETTINGS,
    ProfitSettings,
    estimate_profit,
    expected_sale_price,
    percent_fee,
    profit_at,
    ratio_percent,
)

BOOKS = ProfitSettings(
    sale_price_window=90, sale_price_fallbacks=(180, 365), default_referral_percent=15.0,
    default_fba_fee_cents=350, closing_fee_cents=180, prep_cents=25, inbound_shipping_cents=60,
)


def test_worked_example_used_book() -> None:
    """Bought at $6.49 shipped, sells at its 90-day used average of $24.99."""
    e = estimate_profit(649, {30: 2299, 90: 2499, 180: 2650}, referral_fee_percent=15.0,
                        fba_fee_cents=306, settings=BOOKS)
    assert e is not None
    assert e.sale_price_cents == 2499 and e.sale_price_window == 90
    assert e.referral_fee_cents == 375  # 15 % of 2499 = 374.85, rounded up
    assert e.fees_cents == 375 + 180 + 306 == 861
    assert e.cost_cents == 649 + 25 + 60 == 734
    assert e.profit_cents == 2499 - 861 - 734 == 904
    assert e.roi_percent == 123.16  # 904 / 734 = 1.231607…
    assert e.margin_percent == 36.17  # 904 / 2499 = 0.361745…


def test_worked_example_fallback_window_and_default_fees() -> None:
    """No 90-day average (Keepa's -1), so the 180-day one; the product carries no fees."""
    e = estimate_profit(1200, {90: -1, 180: 3000, 365: 3500}, settings=BOOKS)
    assert e is not None
    assert (e.sale_price_cents, e.sale_price_window) == (3000, 180)
    assert e.referral_fee_cents == 450 and e.fba_fee_cents == 350
    assert e.profit_cents == 3000 - (450 + 180 + 350) - (1200 + 25 + 60) == 735
    assert e.roi_percent == 57.2  # 735 / 1285 = 0.571984…
    assert e.margin_percent == 24.5


def test_worked_example_a_loss() -> None:
    e = profit_at(1500, 1800, referral_fee_percent=15.0, fba_fee_cents=306, settings=BOOKS)
    assert e is not None
    assert e.profit_cents == 1800 - (270 + 180 + 306) - (1500 + 25 + 60) == -541
    assert e.roi_percent == -34.13  # -541 / 1585 = -0.341324…
    assert e.margin_percent == -30.06  # -541 / 1800 = -0.300555…


@pytest.mark.parametrize(
    ("buy", "averages"),
    [
        (None, {90: 2000}),  # no buy price
        (-1, {90: 2000}),  # Keepa's "no offer"
        (0, {90: 2000}),
        (500, {}),  # no averages at all
        (500, {90: None, 180: None, 365: None}),
        (500, {90: -1, 180: -2, 365: 0}),  # sentinels and zero are not prices
        (500, {30: 2000}),  # 30 is neither the window nor a fallback
        (12.5, {90: 2000}),  # not whole cents
        (True, {90: 2000}),
    ],
)
def test_missing_inputs_give_none(buy: object, averages: dict[int, int | None]) -> None:
    assert estimate_profit(buy, averages, settings=BOOKS) is None  # type: ignore[arg-type]


def test_missing_sale_price_gives_none() -> None:
    assert profit_at(500, None) is None
    assert profit_at(500, -1) is None


@pytest.mark.parametrize("bad", [None, -1, -2, 150.0, True])
def test_unusable_product_fees_fall_back_to_the_defaults(bad: object) -> None:
    e = profit_at(500, 2000, referral_fee_percent=bad, fba_fee_cents=bad,  # type: ignore[arg-type]
                  settings=BOOKS)
    assert e is not None
    assert e.referral_fee_cents == 300 and e.fba_fee_cents == 350


def test_the_products_own_fees_win() -> None:
    e = profit_at(500, 2000, referral_fee_percent=8.0, fba_fee_cents=0, settings=BOOKS)
    assert e is not None and (e.referral_fee_cents, e.fba_fee_cents) == (160, 0)


def test_rounding_rules() -> None:
    assert percent_fee(2000, 15.0) == 300  # exact, not 300.00000000000006 → 301
    assert percent_fee(1999, 15.0) == 300  # 299.85 → up
    assert percent_fee(1, 15.0) == 1
    assert percent_fee(0, 15.0) == 0
    assert percent_fee(1000, 8.25) == 83  # 82.5 → up
    assert ratio_percent(1, 3) == 33.33
    assert ratio_percent(2, 3) == 66.67
    assert ratio_percent(1, 8) == 12.5
    assert ratio_percent(1, 800) == 0.13  # 0.125 → half away from zero
    assert ratio_percent(-1, 800) == -0.13


@given(st.integers(-10**9, 10**9), st.integers(-10**9, 10**9).filter(bool))
def test_ratio_percent_is_the_exact_ratio_rounded_half_away_from_zero(n: int, d: int) -> None:
    exact = Fraction(n * 100, d)
    value = Decimal(exact.numerator) / Decimal(exact.denominator)
    # the reference: exact decimal arithmetic (fast integer arithmetic must agree with it)
    assert ratio_percent(n, d) == float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@given(st.integers(0, 10**8), st.one_of(st.integers(0, 100).map(float),
                                        st.decimals(0, 100, places=2).map(float)))
def test_percent_fee_is_the_exact_fee_rounded_up(amount: int, percent: float) -> None:
    exact = Decimal(amount) * Decimal(str(percent)) / 100
    assert percent_fee(amount, percent) == int(exact.to_integral_value(rounding=ROUND_CEILING))


def test_expected_sale_price_picks_the_first_present_window() -> None:
    assert expected_sale_price({90: 100, 180: 200}, 90, (180,)) == (100, 90)
    assert expected_sale_price({90: -1, 180: 200}, 90, (180,)) == (200, 180)
    assert expected_sale_price({90: -1, 365: 300}, 90, (180, 365)) == (300, 365)
    assert expected_sale_price({90: -1}, 90, ()) is None


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="windows"):
        ProfitSettings(sale_price_window=60)
    with pytest.raises(ValueError, match="prep_cents"):
        ProfitSettings(prep_cents=-1)
    with pytest.raises(ValueError, match="referral"):
        ProfitSettings(default_referral_percent=101)
    assert DEFAULT_SETTINGS.sale_price_window == 90
