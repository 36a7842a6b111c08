"""PostgreSQL plans the deal list's statements with their values.

psycopg prepares a statement after five runs, and PostgreSQL may then keep a generic plan
made without the values: for the list's range filters that plan was 50 times slower at a
million deals (docs/dashboard.md, "Speed").  list_deals sets ``plan_cache_mode`` for its
own transaction only; the pooled connection goes back as it was.
"""

from __future__ import annotations

import pytest

from keepa_deals.deals_view import DealDefinition
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore
from keepa_deals.web.listing import ListRequest, list_deals
from tests.web.conftest import NOW

pytestmark = [pytest.mark.postgres,
              pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)]

EVERYTHING = {"min_profit_cents": 600, "max_profit_cents": 5000, "min_roi": 60,
              "max_rank": 1_000_000, "min_drops_30": 3, "min_drops_90": 8,
              "min_price_cents": 400, "max_price_cents": 3000, "category": 283155,
              "sort": "roi"}


def test_the_list_plans_with_its_values_in_its_own_transaction(
    store: DealStore, settings: Settings,
) -> None:
    definition = DealDefinition.from_settings(settings)
    request = ListRequest.model_validate(EVERYTHING)
    with store.engine.connect() as conn:
        for _ in range(12):  # past psycopg's prepare threshold and PostgreSQL's five tries
            with conn.begin():
                list_deals(conn, definition, NOW, request)
                assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one() == \
                    "force_custom_plan"
        with conn.begin():
            assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar_one() == "auto"
