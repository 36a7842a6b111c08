"""Marketplaces: a query's profit table takes fee defaults per marketplace; prices carry a currency."""

from __future__ import annotations

import pytest

from keepa_deals.marketplaces import MARKETPLACES, currency_of
from keepa_deals.query import QueryFileError, parse_query

QUERY = '''name = "used-books-gb"
[selection]
domainId = {domain}
priceTypes = [2]

[profit]
default_fba_fee_cents = 350
closing_fee_cents = 180

[profit.marketplace.GB]
default_fba_fee_cents = 280
closing_fee_cents = 50
default_referral_percent = 15.3
'''


def test_the_marketplace_of_the_query_sets_its_fee_defaults() -> None:
    gb = parse_query(QUERY.format(domain=2)).profit_settings()
    assert (gb.default_fba_fee_cents, gb.closing_fee_cents, gb.default_referral_percent) == (
        280, 50, 15.3)
    us = parse_query(QUERY.format(domain=1)).profit_settings()
    assert (us.default_fba_fee_cents, us.closing_fee_cents) == (350, 180)


def test_one_profit_table_shared_by_two_marketplaces_is_priced_for_each() -> None:
    gb = parse_query(QUERY.format(domain=2))
    us = gb.model_copy(update={"selection": gb.selection.model_copy(update={"domain_id": 1})})
    assert us.profit is gb.profit
    assert gb.profit_settings().closing_fee_cents == 50
    assert us.profit_settings().closing_fee_cents == 180


def test_an_unknown_marketplace_code_is_an_error() -> None:
    with pytest.raises(QueryFileError, match=r"profit\.marketplace: unknown marketplace UK"):
        parse_query(QUERY.format(domain=2).replace("marketplace.GB", "marketplace.UK"),
                    source="q.toml")


def test_every_domain_has_its_currency() -> None:
    assert [currency_of(d) for d in (1, 2, 3, 5)] == ["USD", "GBP", "EUR", "JPY"]
    assert set(MARKETPLACES) == {1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12}
    assert currency_of(7) is None


def test_brazil_takes_the_listed_sources_but_has_no_deal_feed() -> None:
    finder = QUERY.format(domain=12) + '[[sources]]\nkind = "finder"\n[sources.selection]\n' \
        'current_NEW_gte = 100\n'
    assert parse_query(finder).domain_id == 12
    with pytest.raises(QueryFileError, match="serves no deal feed"):
        parse_query(QUERY.format(domain=12))
