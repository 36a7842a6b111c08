"""KeepaClient: the typed Keepa calls, every one of them paid through the budget.

For each call: validate the query (nothing invalid is sent), estimate its cost,
``lease = budget.acquire(cost)``, send it, and ``budget.settle(lease, status)``
whatever happens, with the reply's token status (the 429's status on
NotEnoughTokens; None when the reply carried none).  The rest of the code
reaches Keepa only through this class.

**A lost reply is paid for once more at most.**  A paid call whose request
was sent but whose reply was lost (a read timeout, a reset after sending) or
was a 5xx may have been run and charged by Keepa.  Its lease is settled first
(without a status, the budget takes its cost as spent until Keepa's next
status says the truth; with a 5xx's status, that status), and only then is
the call sent once more, through a new lease, so within the floor.  A second
failure is raised.  See docs/keepa-client.md, "Retries".  The budget may keep the settle back
for the next call's acquire to carry (one store round trip per call, see
:class:`keepa_deals.budget.TokenManager`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from keepa_deals.keepa.deals import DealPage, parse_deal_page
from keepa_deals.keepa.errors import (
    InvalidQuery,
    KeepaError,
    KeepaResponseError,
    KeepaServerError,
    KeepaTransportError,
    MalformedResponse,
)
from keepa_deals.keepa.http import KeepaHTTP
from keepa_deals.keepa.products import ProductBatch, parse_product_batch
from keepa_deals.keepa.replies import KeepaResponse
from keepa_deals.codes import normalize_code
from keepa_deals.keepa.lookups import (
    BestSellerList,
    Categories,
    FinderPage,
    Seller,
    parse_best_sellers,
    parse_categories,
    parse_finder_page,
    parse_sellers,
)
from keepa_deals.keepa.validation import (
    DealSelection,
    category_term,
    check_domain,
    code_params,
    finder_selection,
    normalize_asins,
    product_params,
    seller_ids,
    stock_params,
    validate_selection,
)
from keepa_deals.tokens import costs
from keepa_deals.tokens.costs import DEAL_PAGE_COST, estimate_product_cost
from keepa_deals.tokens.errors import BudgetError
from keepa_deals.tokens.protocol import TokenBudget
from keepa_deals.tokens.status import TokenStatus

log = logging.getLogger(__name__)
T = TypeVar("T")


class KeepaClient:
    """Typed Keepa calls over ``http``, spending through ``budget``.

    ``max_wait_s`` is how long ``budget.acquire`` may wait for tokens (None:
    the budget's own default).  The /deal selection is sent as a POST JSON
    body, the way Keepa's Java client sends it.
    """

    def __init__(self, http: KeepaHTTP, budget: TokenBudget, *,
                 max_wait_s: float | None = None) -> None:
        self.http = http
        self.budget = budget
        self.max_wait_s = max_wait_s

    def __repr__(self) -> str:
        return f"KeepaClient({self.http!r}, budget={type(self.budget).__name__})"

    # --- calls -------------------------------------------------------------------

    def token_status(self) -> TokenStatus:
        """``/token`` (free): the status, also handed to ``budget.observe``."""
        status = self.http.token_status()
        self.budget.observe(status)
        return status

    def deals(self, selection: Mapping[str, Any] | DealSelection, *,
              page: int | None = None) -> DealPage:
        """One /deal page (up to 150 deals, 5 tokens).

        ``page`` replaces the selection's own page.  Raises InvalidQuery before
        anything is sent when the selection is wrong.
        """
        if isinstance(selection, DealSelection):
            wire = selection.to_wire()
            if page is not None:
                wire = validate_selection(wire, page=page)
        else:
            wire = validate_selection(selection, page=page)
        reply = self._spend(DEAL_PAGE_COST, "deal", json_body=wire)
        return self._parsed(
            reply, lambda: parse_deal_page(reply.body, reply.token_status, page=wire["page"]))

    def products(
        self,
        asins: str | Iterable[str],
        *,
        domain: int = 1,
        stats: int | str | None = None,
        history: bool = False,
        offers: int | None = None,
        rating: bool = False,
        buybox: bool = False,
        update: int | None = None,
        days: int | None = None,
        stock: bool = False,
        only_live_offers: bool = False,
    ) -> ProductBatch:
        """Up to 100 products by ASIN.

        ``stats``: days (or ``"start,end"``) of statistics; ``history``: include
        the csv histories; ``offers``: 20-100 marketplace offers (6 tokens per
        10 offers per product instead of 1); ``rating`` +1, ``buybox`` +2 per
        product; ``update``: refresh data older than this many hours (0 forces
        a live refresh, +1); ``days``: trim histories to the last days; ``stock`` (with
        ``offers``, +2 per product when fresh) and ``only_live_offers`` (free).
        """
        codes = normalize_asins(asins)
        params = product_params(
            codes, domain=domain, stats=stats, history=history, offers=offers,
            rating=rating, buybox=buybox, update=update, days=days,
        )
        params.update(stock_params(offers=offers, stock=stock, only_live_offers=only_live_offers))
        cost = estimate_product_cost(len(codes), offers=offers, rating=rating, buybox=buybox,
                                     update=update, stock=stock)
        reply = self._spend(cost, "product", params=params)
        return self._parsed(reply, lambda: parse_product_batch(reply.body, reply.token_status))

    def products_by_code(
        self,
        codes: str | Iterable[str],
        *,
        domain: int = 1,
        code_limit: int = 1,
        stats: int | None = None,
        offers: int | None = None,
        stock: bool = False,
        only_live_offers: bool = False,
    ) -> ProductBatch:
        """Products by barcode (ISBN-10/13, UPC, EAN; up to 100 codes, each checked by its
        check digit, an ISBN-10 sent as its ISBN-13).  Every product a code matches is
        charged: ``code-limit`` is always sent, so the cost is at most
        ``codes × code_limit`` products, and that is what the budget reserves."""
        if isinstance(codes, str):
            codes = [codes]
        wire = list(dict.fromkeys(normalize_code(c) for c in codes))
        params = code_params(wire, domain=domain, code_limit=code_limit, stats=stats,
                             offers=offers, stock=stock, only_live_offers=only_live_offers)
        cost = costs.estimate_code_cost(len(wire), code_limit, offers=offers, stock=stock)
        reply = self._spend(cost, "product", params=params)
        return self._parsed(reply, lambda: parse_product_batch(reply.body, reply.token_status))

    def finder(self, selection: Mapping[str, Any], *, domain: int = 1, page: int = 0,
               per_page: int = costs.QUERY_MIN_PER_PAGE) -> FinderPage:
        """One Product Finder (``/query``) page: ASINs matching ``selection`` (Keepa's
        Product Finder JSON, without ``page``/``perPage``), and how many match in all.
        Cost 10 + 1 per 100 ASINs of the page."""
        wire = finder_selection(selection, page=page, per_page=per_page,
                                max_per_page=costs.QUERY_MAX_PER_PAGE)
        params = {"domain": check_domain(domain),
                  "selection": json.dumps(wire, separators=(",", ":"))}
        reply = self._spend(costs.estimate_query_cost(per_page), "query", params=params)
        return self._parsed(reply, lambda: parse_finder_page(
            reply.body, reply.token_status, page=page, per_page=per_page))

    def best_sellers(self, category: int | str, *, domain: int = 1,
                     range_days: int = 0) -> BestSellerList:
        """The best-seller list of ``category`` (a node id or a product group); ``range_days``
        0 (current rank) or the 30/90/180-day average.  50 tokens, none when there is no
        list (an empty result)."""
        if isinstance(category, bool) or not isinstance(category, int | str) or category == "":
            raise InvalidQuery("category", f"must be a category id or a product group, "
                                           f"got {category!r}")
        if range_days not in (0, 30, 90, 180):
            raise InvalidQuery("range", f"must be 0, 30, 90 or 180, got {range_days!r}")
        params = {"domain": check_domain(domain), "category": category, "range": range_days}
        reply = self._spend(costs.BESTSELLERS_COST, "bestsellers", params=params)
        return self._parsed(reply, lambda: parse_best_sellers(reply.body, reply.token_status))

    def sellers(self, ids: str | Iterable[str], *, domain: int = 1) -> dict[str, Seller]:
        """Up to 100 sellers by id (1 token each; a seller Keepa does not know is left out
        and costs nothing)."""
        wire = seller_ids(ids, limit=costs.MAX_SELLERS)
        params = {"domain": check_domain(domain), "seller": ",".join(wire)}
        reply = self._spend(costs.estimate_seller_cost(len(wire)), "seller", params=params)
        return self._parsed(reply, lambda: parse_sellers(reply.body))

    def categories(self, ids: int | Iterable[int], *, domain: int = 1,
                   parents: bool = False) -> Categories:
        """Categories by id (``0``: the roots), up to 10 per token; ``parents`` adds every
        parent up to the root."""
        wanted = [ids] if isinstance(ids, int) else list(dict.fromkeys(ids))
        if not wanted or not all(type(i) is int and i >= 0 for i in wanted):
            raise InvalidQuery("category", f"must be category ids (integers ≥ 0), got {ids!r}")
        if len(wanted) > costs.MAX_CATEGORY_IDS:
            raise InvalidQuery("category", f"at most {costs.MAX_CATEGORY_IDS} ids per request, "
                                           f"got {len(wanted)}")
        params = {"domain": check_domain(domain), "category": wanted, "parents": parents}
        reply = self._spend(costs.estimate_category_cost(len(wanted)), "category", params=params)
        return self._parsed(reply, lambda: parse_categories(reply.body, reply.token_status))

    def search_categories(self, term: str, *, domain: int = 1) -> Categories:
        """Categories whose name holds every word of ``term`` (at least 3 characters; up to
        50 results, 1 token)."""
        params = {"domain": check_domain(domain), "type": "category",
                  "term": category_term(term)}
        reply = self._spend(costs.CATEGORY_SEARCH_COST, "search", params=params)
        return self._parsed(reply, lambda: parse_categories(reply.body, reply.token_status))

    @staticmethod
    def _parsed(reply: KeepaResponse, parse: Callable[[], T]) -> T:
        try:
            return parse()
        except MalformedResponse as exc:
            _with_reply(exc, reply)
            raise

    # --- the one path to Keepa ---------------------------------------------------------

    def _spend(self, cost: int, endpoint: str, *, params: Mapping[str, Any] | None = None,
               json_body: Any = None) -> KeepaResponse:
        try:
            return self._send(cost, endpoint, params, json_body)
        except KeepaError as exc:
            if not may_have_run(exc):
                raise
            log.warning("Keepa /%s may have run without its reply reaching us (%s): its cost "
                        "is counted as spent, and the call is sent once more", endpoint, exc)
        return self._send(cost, endpoint, params, json_body)

    def _send(self, cost: int, endpoint: str, params: Mapping[str, Any] | None,
              json_body: Any) -> KeepaResponse:
        """One paid call: a lease, the request, and the settle whatever happens."""
        lease = self.budget.acquire(cost, max_wait_s=self.max_wait_s)
        status: TokenStatus | None = None
        try:
            reply = self.http.request(endpoint, params, json_body=json_body, paid=True)
            status = reply.token_status
            return reply
        except KeepaResponseError as exc:
            status = exc.token_status
            raise
        finally:
            self._settle(lease, status)

    def _settle(self, lease: Any, status: TokenStatus | None) -> None:
        # A reply Keepa has charged for is worth more than the settle: when the
        # budget's store fails here, the lease expires on its own (its TTL) and
        # the next acquire reports the store's state.
        try:
            self.budget.settle(lease, status)
        except BudgetError as exc:
            log.warning("could not settle token lease %s: %s", getattr(lease, "id", lease), exc)


def may_have_run(exc: KeepaError) -> bool:
    """Whether Keepa may have run (and charged) a call that raised ``exc`` without its data.

    A reply lost after the request was sent, or a 5xx.  Not a request that
    never left, not a 4xx (429 included: refused, nothing charged), not a
    malformed 200 (charged for sure: Keepa answered, the data was paid for).
    """
    if isinstance(exc, KeepaTransportError):
        return exc.sent
    return (isinstance(exc, KeepaServerError) and not isinstance(exc, MalformedResponse)
            and exc.status_code is not None and exc.status_code >= 500)


def _with_reply(exc: MalformedResponse, reply: KeepaResponse) -> None:
    """Complete a parse error with what the reply said: endpoint and token status."""
    exc.endpoint = exc.endpoint or reply.endpoint
    if exc.token_status is None:
        exc.token_status = reply.token_status
