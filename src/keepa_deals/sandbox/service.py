"""One Keepa request through the sandbox, in the order Keepa meets it.

1. the key: missing or malformed → 400; no account → 402 (all-zero token
   fields: there is no account to report); an expired account → 402;
2. injected faults: an HTML error page, or an error status (nothing charged);
3. the parameters: 400 malformed, 405 out of range (nothing charged);
4. admission on arrival: balance ≤ 0 → 429 with the bare token envelope;
5. injected latency (``asyncio.sleep``, so concurrent requests all proceed);
6. the work, then the charge of its real cost (the balance may go negative);
7. the reply, gzip-encoded when accepted (or truncated, if so injected).

Every request that names an account is counted on it by (endpoint, status).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from keepa_deals.sandbox.accounts import Account, is_well_formed_key
from keepa_deals.sandbox.costs import deal_page_cost, token_cost
from keepa_deals.sandbox.bestsellers import parse_bestsellers_query, run_bestsellers
from keepa_deals.sandbox.categories import (
    parse_category_lookup,
    parse_category_search,
    run_category_lookup,
    run_category_search,
)
from keepa_deals.sandbox.deals import parse_selection, run_deals, selection_from_text
from keepa_deals.sandbox.finder import parse_finder_query, run_finder
from keepa_deals.sandbox.products import parse_product_query, run_products
from keepa_deals.sandbox.sellers import parse_seller_query, run_sellers
from keepa_deals.sandbox.sandbox import Sandbox
from keepa_deals.sandbox.wire import (
    INJECTED_ERRORS,
    ApiError,
    TokenFields,
    accepts_gzip,
    envelope,
    html_response,
    json_response,
)

log = logging.getLogger(__name__)

#: The work of a request: given the time, its payload and its real cost.
Work = Callable[[int], tuple[dict[str, Any], int]]


class KeepaCall:
    """The state of one request as it goes through the steps above."""

    def __init__(self, sandbox: Sandbox, endpoint: str, request: Request) -> None:
        self.sandbox = sandbox
        self.endpoint = endpoint
        self.request = request
        self.started = time.monotonic()
        self.gzip_ok = accepts_gzip(request.headers.get("accept-encoding"))
        self.account: Account | None = None

    def _fields(self, now_ms: int) -> TokenFields:
        if self.account is None:
            return TokenFields.zero()
        st = self.account.state(now_ms)
        rate = self.sandbox.faults.reported_refill_rate(self.endpoint)
        return TokenFields(st.tokens, st.refill_in_ms, st.refill_rate if rate is None else rate,
                           st.token_flow_reduction)

    def _record(self, status: int) -> None:
        if self.account is not None:
            self.account.record(self.endpoint, status)

    def error(self, err: ApiError) -> Response:
        now = self.sandbox.now_ms()
        zero = self.sandbox.faults.zero_token_fields(self.endpoint)
        fields = TokenFields.zero() if zero else self._fields(now)
        self._record(err.status)
        body = envelope(now, fields, error=err.as_error())
        return json_response(err.status, body, gzip_ok=self.gzip_ok)

    def refuse(self) -> Response:
        """429: the bare token envelope, nothing consumed, no payload."""
        self._record(429)
        now = self.sandbox.now_ms()
        return json_response(429, envelope(now, self._fields(now)), gzip_ok=self.gzip_ok)

    def identify(self) -> ApiError | None:
        key = self.request.query_params.get("key")
        if not key:
            return ApiError(400, "missingKey", "The access key is missing: add key=<your access key>.")
        if not is_well_formed_key(key):
            return ApiError(400, "invalidKey", "The access key is malformed: 64 characters of [a-z0-9].")
        self.account = self.sandbox.accounts.get(key)
        if self.account is None:
            return ApiError(402, "paymentRequired", "This access key does not grant access: no plan.")
        if self.account.state(self.sandbox.now_ms()).expired:
            return ApiError(402, "paymentRequired", "The plan of this access key has expired.")
        return None

    async def run(self) -> Response:
        sb = self.sandbox
        problem = self.identify()
        if problem is not None:
            return self.error(problem)
        html = sb.faults.html_page(self.endpoint)
        if html is not None:
            self._record(html)
            return html_response(html, gzip_ok=self.gzip_ok)
        injected = sb.faults.error_status(self.endpoint)
        if injected == 429:
            return self.refuse()
        if injected is not None:
            etype, message = INJECTED_ERRORS.get(injected, ("ERROR", "An injected error."))
            return self.error(ApiError(injected, etype, message, "injected by the sandbox"))
        try:
            work = await self._prepare()
        except ApiError as err:
            return self.error(err)
        assert self.account is not None
        if not self.account.try_admit(sb.now_ms()):
            return self.refuse()
        delay = sb.faults.latency_s(self.endpoint, offers=self._wants_offers())
        if delay > 0:
            await asyncio.sleep(delay)
        now = sb.now_ms()
        payload, cost = work(now)
        consumed = self.account.charge(cost, now)
        if self.endpoint == "product" and consumed > 0:
            asins = tuple(a.strip().upper() for a in
                          self.request.query_params.get("asin", "").split(",") if a.strip())
            self.account.record_purchase(asins, self._wants_offers(), consumed)
        processing = int((time.monotonic() - self.started) * 1000)
        body = envelope(now, self._fields(now), consumed=consumed, processing_ms=processing)
        body.update(payload)
        self._record(200)
        truncate = sb.faults.truncate(self.endpoint)
        return json_response(200, body, gzip_ok=self.gzip_ok, truncate=truncate)

    def _wants_offers(self) -> bool:
        return self.endpoint == "product" and bool(self.request.query_params.get("offers"))

    async def _selection(self) -> dict[str, Any]:
        """``selection``: the POST body, or the GET parameter."""
        if self.request.method == "POST":
            return selection_from_text(await self.request.body())
        return selection_from_text(self.request.query_params.get("selection"))

    async def _prepare(self) -> Work:
        """Validate the parameters; returns the work to run once admitted."""
        sb = self.sandbox
        params = self.request.query_params
        name = self.endpoint
        if name == "token":
            return lambda now: ({}, token_cost())
        if name == "product":
            pq = parse_product_query(params)
            products_catalog = sb.catalog_for(pq.domain)
            return lambda now: run_products(pq, products_catalog, now, sb.faults.offer_fetch_fails)
        if name == "deal":
            dq = parse_selection(await self._selection(), params.get("domain"))
            deal_catalog = sb.catalog_for(dq.domain)
            return lambda now: (run_deals(dq, deal_catalog, now), deal_page_cost())
        if name == "query":
            fq = parse_finder_query(await self._selection(), params)
            finder_catalog = sb.catalog_for(fq.domain)
            return lambda now: run_finder(fq, finder_catalog, now)
        if name == "bestsellers":
            bq = parse_bestsellers_query(params)
            best_catalog = sb.catalog_for(bq.domain)
            return lambda now: run_bestsellers(bq, best_catalog, now)
        if name == "seller":
            sq = parse_seller_query(params)
            seller_catalog = sb.catalog_for(sq.domain)
            return lambda now: run_sellers(sq, seller_catalog, now)
        if name == "category":
            cq = parse_category_lookup(params)
            lookup_catalog = sb.catalog_for(cq.domain)
            return lambda now: run_category_lookup(cq, lookup_catalog)
        if name == "search":
            tq = parse_category_search(params)
            search_catalog = sb.catalog_for(tq.domain)
            return lambda now: run_category_search(tq, search_catalog)
        raise ApiError(404, "NOT_FOUND", "No such endpoint.")


async def keepa_request(sandbox: Sandbox, endpoint: str, request: Request) -> Response:
    call = KeepaCall(sandbox, endpoint, request)
    try:
        return await call.run()
    except Exception as exc:  # a sandbox bug: answer like Keepa's 500, and say so in the log
        log.error("sandbox %s request failed: %s", endpoint, type(exc).__name__, exc_info=exc)
        return call.error(ApiError(500, "INTERNAL_SERVER_ERROR", "An unexpected error occurred."))


async def keepa_error(sandbox: Sandbox, request: Request, err: ApiError, endpoint: str = "other") -> Response:
    """An error reply outside the endpoints (unknown path, wrong method)."""
    call = KeepaCall(sandbox, endpoint, request)
    key = request.query_params.get("key")
    if key and is_well_formed_key(key):
        call.account = sandbox.accounts.get(key)
    return call.error(err)
