"""The one filter grammar (the deal page's query string) read from text: the CLI,
saved searches and alerts share it with the dashboard."""

from __future__ import annotations

import pytest

from keepa_deals.web.forms import FilterError, parse_query, to_query


def test_money_in_units_percent_as_percent() -> None:
    r = parse_query("min_profit=10&min_roi=50&max_price=4.99&q=lego")
    assert (r.min_profit_cents, r.min_roi, r.max_price_cents, r.q) == (1000, 50.0, 499, "lego")


def test_round_trip() -> None:
    r = parse_query("min_profit=10.5&max_rank=20000&min_below=15&category=283155")
    assert parse_query(to_query(r)) == r


@pytest.mark.parametrize(("text", "says"), [
    ("min_proft=1", "unknown filter 'min_proft'"),
    ("min_profit=abc", "Min profit"),
    ("min_profit=1&min_profit=2", "given twice"),
    ("garbage", "name=value"),
    ("min_profit=9&max_profit=2", "below"),
])
def test_bad_filters_name_the_field(text: str, says: str) -> None:
    with pytest.raises(FilterError, match=says):
        parse_query(text)


def test_saved_searches_take_filters_only() -> None:
    assert parse_query("sort=roi").sort.value == "roi"
    with pytest.raises(FilterError, match="unknown filter 'sort'"):
        parse_query("sort=roi", page_params=False)


def test_empty_is_everything() -> None:
    assert parse_query("").filters().active() == {}
