"""The title search: the same results whichever way the database finds them.

On PostgreSQL migration 0007_title_search adds a trigram index on ``lower(title)``
(keepa_deals.store.pg_indexes); the list's search must use it and still mean what it
meant without it: case-insensitive, every character literal (``%``, ``_``, ``/``,
``\\`` are not wildcards).  Each search is checked against the plain-Python oracle
through the API on both databases and, on PostgreSQL, once more through the index (its
name in the plan of the search's condition).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from keepa_deals.deals_view import DealDefinition
from keepa_deals.settings import Settings
from keepa_deals.store import DealStore, pg_indexes
from keepa_deals.store.schema import DEALS
from keepa_deals.web.listing import DealFilters
from tests.web._deals import Seeded, expected, records, seed
from tests.web.conftest import NOW, Api

#: Titles with the characters LIKE treats specially, and mixed case.
TITLES = [
    "100% Cotton Garden Gloves",
    "snake_case for Beginners",
    "A/B Testing: The Garden Path",
    "Back\\slash and Other Marks",
    "MiXeD CaSe GARDEN Atlas",
    "50%_off / sale: the Garden book",
    "Percent%%Double",
]

SEARCHES = ["100%", "%", "%%", "_", "e_c", "snake_case", "snakeXcase", "a/b", "/", "//",
            "\\", "back\\slash", "garden", "GARDEN", "mixed case", "50%_off", "%_", "0%_o",
            "ard", "ga", "x", "the garden", "zebra"]


@pytest.fixture
def seeded(store: DealStore, clock: Any) -> Seeded:
    done = seed(store, clock)
    with store.engine.begin() as conn:
        for asin, title in zip(done.current[::5], TITLES, strict=False):
            conn.execute(update(DEALS).where(DEALS.c.asin == asin).values(title=title))
    return done


@pytest.fixture
def definition(settings: Settings) -> DealDefinition:
    return DealDefinition.from_settings(settings)


@pytest.mark.parametrize("q", SEARCHES)
def test_search_matches_the_oracle(api: Api, store: DealStore, seeded: Seeded,
                                   definition: DealDefinition, q: str) -> None:
    want = expected(records(store), definition, NOW, q=q)
    body = api.get("/api/deals", params={"q": q, "limit": 200}).json()
    assert [d["asin"] for d in body["items"]] == want
    assert body["total"] == len(want)


def test_the_special_titles_are_found(store: DealStore, seeded: Seeded,
                                      definition: DealDefinition) -> None:
    """The oracle is not vacuous: the literal characters find exactly their titles."""
    titles = {r.asin: r.title for r in records(store)}

    def found(q: str) -> set[str | None]:
        return {titles[a] for a in expected(records(store), definition, NOW, q=q)}

    assert found("100%") == {"100% Cotton Garden Gloves"}
    assert found("e_c") == {"snake_case for Beginners"}
    assert found("%%") == {"Percent%%Double"}
    assert found("\\") == {"Back\\slash and Other Marks"}
    assert "MiXeD CaSe GARDEN Atlas" in found("garden")


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_search_takes_the_index_with_the_same_results(
    store: DealStore, seeded: Seeded,
) -> None:
    """The search's own condition (what list_deals adds for ``q``) is answered through the
    index, and finds exactly the titles the oracle finds."""
    titles = {r.asin: r.title for r in records(store)}
    with store.engine.connect() as conn:
        assert pg_indexes.index_present(conn)
    for q in SEARCHES:
        text = q.strip().lower()
        want = {a for a, t in titles.items() if t is not None and text in t.lower()}
        compiled = select(DEALS.c.asin).where(DealFilters(q=q).clause()).compile(store.engine)
        with store.engine.connect() as conn, conn.begin():
            # A table this small is read whole; make the planner take the index it can.
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            got = {a for (a,) in conn.exec_driver_sql(str(compiled), compiled.params)}
            plan = "\n".join(row[0] for row in conn.exec_driver_sql(
                "EXPLAIN " + str(compiled), compiled.params))
        assert got == want, q
        assert pg_indexes.TITLE_INDEX in plan, (q, plan)
