"""The client's cost estimates agree with the sandbox's own cost table.

Two tables written separately from Keepa's documented costs: the client's
(``keepa_deals.tokens.costs``: what a call is expected to cost before it is
sent) and the sandbox's (:mod:`keepa_deals.sandbox.costs`: what the sandbox
charges after the work).  On every documented case where the call returns
everything it asked for, the estimate equals the charge; where it returns less
(unknown products, fewer offers, stale rating data, a failed offer fetch), the
estimate is an upper bound.  A wrong constant on either side makes
:func:`disagreements` non-empty, and the tests below prove that it does.

The same holds for the token bucket: the sandbox's accounts refill from their
own arithmetic, which must agree with the client's projection.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keepa_deals.keepa.client import KeepaClient
from keepa_deals.sandbox import accounts as sandbox_bucket
from keepa_deals.sandbox import costs as sandbox_costs

# The client's cost code: the one place this test names it.
from keepa_deals.tokens import costs as client_costs
from keepa_deals.tokens import economics as client_bucket

#: ``offers`` values of the documented range 20-100, each page boundary and its neighbours.
OFFERS = (None, 20, 21, 29, 30, 31, 40, 50, 55, 60, 70, 80, 90, 99, 100)
#: ``update``: omitted, an age in hours, 0 (force live data, +1), -1 (never update).
UPDATES = (None, 1, 24, 0, -1)
BATCHES = (1, 3, 20, 100)


@dataclass(frozen=True)
class ProductCase:
    """One documented /product case: the parameters and the batch size."""

    n: int
    offers: int | None
    rating: bool
    buybox: bool
    update: int | None

    def __str__(self) -> str:
        return (f"/product n={self.n} offers={self.offers} rating={self.rating} "
                f"buybox={self.buybox} update={self.update}")

    def estimate(self) -> int:
        return client_costs.estimate_product_cost(
            self.n, offers=self.offers, rating=self.rating, buybox=self.buybox, update=self.update)

    def charge(self, **result: Any) -> int:
        """What the sandbox charges when every product is returned with ``result``."""
        per = sandbox_costs.product_cost(
            offers=self.offers, rating=self.rating, buybox=self.buybox, update=self.update,
            **{"offers_found": self.offers or 0, **result})
        return self.n * per


def product_cases() -> Iterator[ProductCase]:
    for n in BATCHES:
        for offers in OFFERS:
            for rating in (False, True):
                for buybox in (False, True):
                    for update in UPDATES:
                        yield ProductCase(n, offers, rating, buybox, update)


#: Results that make a product cost less than asked for (each documented).
CHEAPER_RESULTS: tuple[dict[str, Any], ...] = (
    {"rating_fresh": False},                     # rating data older than 14 days
    {"updated_within_hour": False},              # update=0 on data older than an hour
    {"offer_fetch_failed": True},                # the offer fetch failed: 1 token
    {"offers_found": 0},                         # fewer offers than requested
    {"offers_found": 11},
    {"offers_found": 19},
)


def disagreements() -> list[str]:
    """Every documented case on which the two tables disagree (empty: they agree)."""
    out: list[str] = []
    if client_costs.DEAL_PAGE_COST != sandbox_costs.deal_page_cost():
        out.append(f"/deal page: client {client_costs.DEAL_PAGE_COST}, "
                   f"sandbox {sandbox_costs.deal_page_cost()}")
    if client_costs.OFFERS_PER_PAGE != sandbox_costs.OFFERS_PER_PAGE:
        out.append(f"offers per page: client {client_costs.OFFERS_PER_PAGE}, "
                   f"sandbox {sandbox_costs.OFFERS_PER_PAGE}")
    for case in product_cases():
        estimate, charge = case.estimate(), case.charge()
        if estimate != charge:
            out.append(f"{case}, everything returned: client {estimate}, sandbox {charge}")
        for result in CHEAPER_RESULTS:
            less = case.charge(**result)
            if less > estimate:
                out.append(f"{case}, {result}: sandbox charges {less} > client's estimate {estimate}")
    if client_costs.estimate_product_cost(0) != 0:
        out.append(f"/product with no ASIN: client {client_costs.estimate_product_cost(0)}, sandbox 0")
    return out


# --- the tables agree ---------------------------------------------------------------------


def test_the_client_and_the_sandbox_agree_on_every_documented_cost() -> None:
    found = disagreements()
    assert not found, f"{len(found)} disagreements, first ones:\n" + "\n".join(found[:20])


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, 1),                                        # base: 1 per product (history, stats free)
        ({"offers": 20}, 12),                           # 2 pages of offers replace the base 1
        ({"offers": 25}, 18),                           # a partial page is a page
        ({"offers": 100}, 60),
        ({"rating": True}, 2),                          # rating +1 (seen live: 2 instead of 1)
        ({"buybox": True}, 3),                          # buybox +2
        ({"offers": 20, "buybox": True}, 12),           # buybox ignored with offers
        ({"update": 0}, 2),                             # update=0 +1
        ({"update": 1}, 1),
        ({"offers": 30, "rating": True, "update": 0}, 20),
    ],
)
def test_both_tables_give_the_documented_figure(kwargs: dict[str, Any], expected: int) -> None:
    """The figures of the documentation, written out: neither table is the other's oracle."""
    case = ProductCase(1, kwargs.get("offers"), kwargs.get("rating", False),
                       kwargs.get("buybox", False), kwargs.get("update"))
    assert case.estimate() == expected
    assert case.charge() == expected


@pytest.mark.parametrize(
    ("kwargs", "result", "expected"),
    [
        ({"offers": 20}, {"offer_fetch_failed": True}, 1),   # a failed offer fetch: 1 token
        ({"offers": 100}, {"offers_found": 11}, 12),         # 6 per page of offers found
        ({"offers": 100}, {"offers_found": 0}, 6),           # the fetch ran: one page
        ({"rating": True}, {"rating_fresh": False}, 1),      # rating data >= 14 days old: free
        ({"update": 0}, {"updated_within_hour": False}, 1),  # old data is refreshed for free
    ],
)
def test_the_sandbox_charges_less_when_the_result_is_less(
    kwargs: dict[str, Any], result: dict[str, Any], expected: int
) -> None:
    case = ProductCase(1, kwargs.get("offers"), kwargs.get("rating", False),
                       kwargs.get("buybox", False), kwargs.get("update"))
    assert case.charge(**result) == expected <= case.estimate()


def test_a_deal_page_costs_five_on_both_sides() -> None:
    assert client_costs.DEAL_PAGE_COST == sandbox_costs.deal_page_cost() == 5


def test_token_is_free_on_both_sides() -> None:
    """The sandbox charges /token nothing, and the client leases nothing for it."""

    class NoSpending:
        def __init__(self) -> None:
            self.observed: list[object] = []

        def acquire(self, cost: int, *, max_wait_s: float | None = None) -> Any:
            raise AssertionError(f"/token leased {cost} tokens")

        def observe(self, status: object) -> None:
            self.observed.append(status)

    status = object()

    class OneStatus:
        def token_status(self) -> object:
            return status

    budget = NoSpending()
    client = KeepaClient(OneStatus(), budget)  # type: ignore[arg-type]
    assert client.token_status() is status and budget.observed == [status]
    assert sandbox_costs.token_cost() == 0


def test_unknown_products_cost_nothing() -> None:
    assert sandbox_costs.MISSING_PRODUCT_COST == 0


# --- a wrong constant is caught -----------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name", "wrong"),
    [
        (client_costs, "DEAL_PAGE_COST", 1),
        (client_costs, "OFFER_PAGE_COST", 5),
        (client_costs, "OFFER_PAGE_COST", 7),
        (client_costs, "OFFERS_PER_PAGE", 20),
        (sandbox_costs, "DEAL_PAGE_COST", 1),
        (sandbox_costs, "OFFER_PAGE_COST", 7),
        (sandbox_costs, "OFFERS_PER_PAGE", 20),
        (sandbox_costs, "PRODUCT_COST", 2),
        (sandbox_costs, "RATING_COST", 2),
        (sandbox_costs, "BUYBOX_COST", 1),
        (sandbox_costs, "LIVE_UPDATE_COST", 0),
        (sandbox_costs, "OFFER_FETCH_FAILED_COST", 13),  # above the estimate of offers=20
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_a_wrong_constant_on_either_side_is_caught(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, wrong: int
) -> None:
    monkeypatch.setattr(module, name, wrong)
    assert disagreements(), f"{module.__name__}.{name} = {wrong} went unnoticed"


def test_the_sandbox_table_does_not_read_the_clients() -> None:
    """Independence: no sandbox module imports the client's cost code."""
    import keepa_deals.sandbox as package

    offenders = []
    for source in sorted(Path(inspect.getfile(package)).parent.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if any(n.split(".")[-1] in ("economics", "costs") and not n.startswith("keepa_deals.sandbox")
                   for n in names):
                offenders.append(f"{source.name}:{node.lineno}")
    assert not offenders, f"the sandbox imports the client's cost code: {offenders}"


# --- the bucket agrees ----------------------------------------------------------------------


def test_the_bucket_rules_agree() -> None:
    for rate in (0, 1, 5, 20, 60, 1000):
        assert sandbox_bucket.cap_for(rate) == client_bucket.cap_for(rate)
    for tokens in (-300, -1, 0, 1, 2, 300):
        assert sandbox_bucket.admits(tokens) == client_bucket.admits(tokens)
    assert sandbox_bucket.MINUTE_MS == client_bucket.MINUTE_MS


@settings(max_examples=300, deadline=None)
@given(
    tokens=st.integers(-500, 3000),
    rate=st.integers(0, 60),
    phase=st.integers(0, 59_999),
    start=st.integers(0, 10**7),
    elapsed=st.integers(0, 3 * 3_600_000),
)
def test_an_account_refills_as_the_client_projects(
    tokens: int, rate: int, phase: int, start: int, elapsed: int
) -> None:
    account = sandbox_bucket.Account(fingerprint="f", tokens=tokens, refill_rate=rate,
                                     synced_ms=start, phase_ms=phase)
    now = start + elapsed
    next_refill = sandbox_bucket.next_tick_after(start, phase)
    assert account.state(now).tokens == client_bucket.project(tokens, rate, next_refill, now)
