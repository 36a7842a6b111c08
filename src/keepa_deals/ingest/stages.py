"""The stages of one ingest run, each paid-for call saved before the next one is made.

0. **scan**: the deal feed, newest first, down to the watermark (scan.py);
   the free feed filter turns deals into candidates in the ledger.
1. **product check**: stats only (1 token per ASIN), up to 100 per call.
2. **offers**: for the survivors only, when the query buys offers (20 per call).
3. **refresh**: stored deals, least recently re-checked first.

Every reply is committed (deals, retirements, watermark, ledger) in one
transaction before the next call is planned (persist.py), and batch sizes
come from the budget's projection (plan.py).  Stages 1 and 2 read their work
from the ledger, so a run that stops (no tokens, a signal, a crash) leaves
the rest for the next run, paid-for verdicts included.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from keepa_deals.budget import TokenManager
from keepa_deals.tokens.errors import BudgetError
from keepa_deals.errors import ConfigError, KeepaDealsError
from keepa_deals.ingest import evaluate as ev
from keepa_deals.ingest import persist
from keepa_deals.ingest.ledger import LATE_MINUTES, Candidate, Ledger
from keepa_deals.ingest.plan import Affordable, batch_size, call_limit, unit_cost
from keepa_deals.ingest.report import IngestReport, RefreshCapacity
from keepa_deals.ingest.scan import walk_feed
from keepa_deals.keepa.client import KeepaClient
from keepa_deals.keepa.deals import Deal, DealPage
from keepa_deals.tokens.costs import DEAL_PAGE_COST, estimate_product_cost
from keepa_deals.keepa.errors import MalformedResponse
from keepa_deals.keepa.products import ProductBatch
from keepa_deals.keepa.time import unix_ms_to_keepa_minutes
from keepa_deals.query import DealQuery
from keepa_deals.settings import Settings
from keepa_deals.store import DealRow, DealStore

log = logging.getLogger("keepa_deals.ingest")

#: The refresh may plan on this share of the refill; the rest is for new deals.
REFRESH_SHARE = 0.5
#: system_state keys the janitor reads.
REFRESH_COVERED_KEY = "ingest_refresh_covered"
REFRESH_CAPACITY_KEY = "ingest_refresh_capacity"


class LockLost(KeepaDealsError):
    """The run's lock expired and could not be renewed; another runner may hold it."""


class Pipeline:
    """One run's work on one query (the lock is already held)."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: DealStore,
        client: KeepaClient,
        budget: TokenManager,
        query: DealQuery,
        report: IngestReport,
        checkpoint: Callable[[], None],
        now_ms: Callable[[], int],
    ) -> None:
        if query.selection.sort_type != 1:
            raise ConfigError(
                f"query {query.name}: the ingestor scans the feed newest first and needs "
                f"selection.sortType = 1, not {query.selection.sort_type}"
            )
        self.settings = settings
        self.store = store
        self.client = client
        self.budget = budget
        self.query = query
        self.report = report
        self.checkpoint = checkpoint
        self.now_ms = now_ms
        self.max_pages = (query.run.max_pages if "max_pages" in query.run.model_fields_set
                          else settings.ingest_max_pages)
        self.fetch_offers = query.filters.offers.fetch_offers
        self.offers = query.filters.offers.offers if self.fetch_offers else None
        self.days = ev.stats_days(query)
        self.ledger = Ledger()
        self.watermark: int | None = None
        self._synced = False
        self._names: dict[int, str] = {}
        self._keepa_minute: int | None = None
        #: ASINs whose offers Keepa failed to fetch in this run (retried in the next one)
        self._offers_failed: set[str] = set()

    # --- plumbing ------------------------------------------------------------------

    def now(self) -> datetime:
        return ev.ms_to_datetime(self.now_ms())

    def load(self) -> None:
        self.ledger, self.watermark, problem = persist.load(self.store, self.query.name)
        self.ledger.prune(self.watermark)
        self.ledger.compact()
        if problem:
            log.warning("query %s: %s; scanning from the watermark alone", self.query.name, problem)
        if not self.fetch_offers:
            for c in self.ledger.pending("offers"):  # the query stopped buying offers
                if c.refresh:
                    del self.ledger.candidates[c.asin]
                else:
                    c.stage = "stats"
        max_age_ms = int(self.settings.ingest_pending_max_age_h * 3_600_000)
        expired = self.ledger.expire(self.now_ms() - max_age_ms)
        if expired:
            log.warning("query %s: %d candidates waited more than %g h and were dropped: the "
                        "budget is not keeping up with the feed", self.query.name, len(expired),
                        self.settings.ingest_pending_max_age_h)
            self.report.counts.rejected += sum(1 for c in expired if not c.refresh)
            self.report.reasons["waited too long"] += len(expired)
            self._commit()

    def _commit(self, **kwargs: Any) -> None:
        marks = [m for m in (self.watermark, kwargs.get("watermark")) if m is not None]
        self.ledger.prune(max(marks) if marks else None)  # forget what no walk meets again
        done = persist.commit(self.store, self.query.name, self.ledger, **kwargs)
        counts = self.report.counts
        counts.added += done.added
        counts.updated += done.updated
        counts.removed += done.removed
        if done.watermark is not None:
            self.watermark = done.watermark
        self.report.watermark = self.watermark

    def _paid(self, status: Any, estimate: int) -> None:
        self.report.counts.tokens_spent += status.tokens_consumed if status else estimate

    def affordable(self) -> Affordable:
        snap = self.budget.snapshot()
        if (not snap.known or snap.available is None) and not self._synced:
            self._synced = True  # unknown state is resolved by asking Keepa (free), once
            try:
                self.budget.sync_tokens(force=True)
            except (BudgetError, KeepaDealsError) as exc:
                log.warning("could not ask Keepa for the token status: %s", exc)
            snap = self.budget.snapshot()
        return Affordable.from_snapshot(snap, self.budget.policy)

    def _unreadable(self, reply: ProductBatch) -> dict[str, str]:
        """The reply's products that could not be read, by ASIN (each is logged when its
        candidate is set aside; those without a readable ASIN are logged here)."""
        for asin, problem in reply.malformed:
            if not asin:
                log.warning("query %s: a product of a /product reply could not be read: %s",
                            self.query.name, problem)
        return {asin: problem for asin, problem in reply.malformed if asin}

    def _malformed(self, asin: str, exc: MalformedResponse, *, refresh: bool = False) -> None:
        """One product's data could not be read: that deal is set aside, the batch goes on
        (a reply that is malformed for one ASIN must not stop every later run)."""
        log.warning("query %s: %s: %s", self.query.name, asin, exc)
        if refresh:
            self.report.reasons["re-check: malformed product data"] += 1
        else:
            self._reject("malformed product data")

    def _reject(self, why: str, n: int = 1) -> None:
        self.report.counts.rejected += n
        self.report.reasons[why] += n

    # --- stage 0: the feed -------------------------------------------------------------

    def _fetch_page(self, page: int) -> Sequence[Deal]:
        self.checkpoint()
        result: DealPage = self.client.deals(self.query.selection_for_page(page))
        self._paid(result.status, DEAL_PAGE_COST)
        self.report.counts.pages += 1
        self._names.update(zip(result.category_ids, result.category_names, strict=False))
        if result.status is not None:  # Keepa's clock, not ours (lessons, class 10)
            self._keepa_minute = unix_ms_to_keepa_minutes(result.status.timestamp_ms)
        return result.deals

    def scan(self, *, check_each_page: bool = False) -> None:
        """Walk the feed, committing each page; with ``check_each_page`` the candidates of a
        page are checked (stages 1 and 2) before the next page is bought, which keeps the
        pending work, and the ledger written with every commit, small."""
        q = self.query
        old = self.watermark
        for page in walk_feed(self._fetch_page, watermark=old, segments=self.ledger.segments,
                              knows=self.ledger.knows, max_pages=self.max_pages,
                              now_minute=lambda: self._keepa_minute):
            seen = self.now_ms()
            for deal, minute in page.new:
                try:
                    view = ev.feed_view(deal, q, self._names)
                except MalformedResponse as exc:  # one deal's data, not the page's
                    log.warning("query %s: %s: %s", q.name, deal.asin, exc)
                    if old is None or minute > old:
                        self._reject("malformed deal data")
                    continue
                why = ev.feed_verdict(view, q)
                if why is None:
                    self.ledger.add(Candidate(deal.asin, minute, "stats", seen, view.to_json()))
                elif old is None or minute > old:  # below the watermark: counted before
                    self._reject(why)
            if page.undated:
                self._reject("no lastUpdate", len(page.undated))
            cov = page.coverage
            self.ledger.segments = list(cov.segments)
            self._commit(watermark=cov.watermark if cov.complete else None)
            self.report.scan_complete = cov.complete
            if check_each_page:
                self.candidates(full_batches=True)
            if page.oldest is not None:  # keep the ledger small during a long walk
                self.ledger.compact(above=page.oldest + LATE_MINUTES)
        if self.report.scan_complete is False:
            log.warning("query %s: the page cap (%d) stopped the scan above the watermark; the "
                        "next runs carry on below it", q.name, self.max_pages)

    # --- stages 1 and 2: new candidates ------------------------------------------------------

    def candidates(self, *, refresh_only: bool = False, full_batches: bool = False) -> None:
        """Work the ledger: offers first (their product check is paid for), then checks.

        With ``full_batches`` (between feed pages) a call is made only when it can be full
        (Keepa's per-call maximum, or all the budget allows); the rest waits in the ledger
        for the next page's candidates, so 150-deal pages make 100-ASIN calls, not 100 + 50.
        """
        while True:
            self.checkpoint()
            waiting = [c for c in self.ledger.pending("offers")
                       if c.asin not in self._offers_failed and (c.refresh or not refresh_only)]
            if waiting and self.fetch_offers and not (
                    full_batches and self._partial(len(waiting), self.offers)):
                self._offers_failed.update(self._offers_batch(waiting))
                continue
            fresh = [] if refresh_only else self.ledger.pending("stats")
            if fresh and not (full_batches and self._partial(len(fresh), None)):
                self._stats_batch(fresh)
                continue
            return

    def _partial(self, pending: int, offers: int | None) -> bool:
        """Would the next call take every pending ASIN and still not be full?"""
        return pending < call_limit(offers) and batch_size(
            pending, offers=offers, affordable=self.affordable()) >= pending

    def _products(self, asins: list[str], offers: int | None) -> ProductBatch:
        reply = self.client.products(asins, domain=self.query.domain_id, stats=self.days,
                                     history=False, offers=offers)
        self._paid(reply.status, estimate_product_cost(len(asins), offers=offers))
        return reply

    def _stats_batch(self, pending: list[Candidate]) -> None:
        n = batch_size(len(pending), offers=None, affordable=self.affordable())
        batch = pending[:n]
        reply = self._products([c.asin for c in batch], None)
        self.report.checked_stats += len(batch)
        found = reply.by_asin()
        bad = self._unreadable(reply)
        now = self.now()
        rows: list[DealRow] = []
        done: list[str] = []
        passed: list[str] = []
        for c in batch:
            product = found.get(c.asin)
            try:
                if c.asin in bad:
                    raise MalformedResponse(bad[c.asin])
                facts = ev.product_facts(product, self.query) if product else None
                why, est = (("not found", None) if product is None
                            else ev.stats_check(facts, self.query))
                row = None
                if why is None and not self.fetch_offers:
                    assert facts is not None
                    row = self._row(c, facts, facts.stats_price, False, now, est)
            except MalformedResponse as exc:
                self._malformed(c.asin, exc)
                done.append(c.asin)
                continue
            if why is not None:
                self._reject(why)
                done.append(c.asin)
            elif self.fetch_offers:
                passed.append(c.asin)
            else:
                assert row is not None
                rows.append(row)
                done.append(c.asin)
        self.ledger.finish(done)
        self.ledger.advance(passed)
        self._commit(rows=rows)

    def _offers_batch(self, pending: list[Candidate]) -> list[str]:
        n = batch_size(len(pending), offers=self.offers, affordable=self.affordable())
        batch = pending[:n]
        reply = self._products([c.asin for c in batch], self.offers)
        self.report.checked_offers += len(batch)
        found = reply.by_asin()
        bad = self._unreadable(reply)
        now = self.now()
        rows: list[DealRow] = []
        refreshed: list[DealRow] = []
        retire: list[tuple[str, int]] = []
        done: list[str] = []
        failed: list[str] = []
        for c in batch:
            product = found.get(c.asin)
            if product is not None and not ev.offers_fetched(product):
                failed.append(c.asin)  # Keepa could not fetch the offers: try again later
                continue
            done.append(c.asin)
            try:
                if c.asin in bad:
                    raise MalformedResponse(bad[c.asin])
                facts = ev.product_facts(product, self.query) if product else None
                why = "not found" if product is None else ev.stats_verdict(facts, self.query)
                est = None
                if why is None:
                    assert product is not None and facts is not None
                    buy = ev.price_from_offers(product, self.query.price_type)
                    est = ev.estimate(facts, buy, self.query) if buy is not None else None
                    why = "no live offer" if buy is None else ev.offers_verdict(est, self.query)
                row = None
                if why is None:
                    assert facts is not None and est is not None
                    row = (ev.build_row(c.asin, self.query, facts, est, includes_shipping=True,
                                        now=now) if c.refresh
                           else self._row(c, facts, est.buy_price_cents, True, now, est))
            except MalformedResponse as exc:
                # a stored deal stays as it is (the janitor's clock runs on); a new one waits
                # for its next appearance in the feed
                self._malformed(c.asin, exc, refresh=c.refresh)
                continue
            if c.refresh:
                if why is None:
                    assert row is not None
                    refreshed.append(row)
                elif product is not None:
                    retire.append((c.asin, self.query.domain_id))
                    self.report.reasons[f"re-check: {why}"] += 1
            elif why is None:
                assert row is not None
                rows.append(row)
            else:
                self._reject(why)
        if failed:
            log.info("query %s: Keepa could not fetch the offers of %d products; they wait for "
                     "the next run", self.query.name, len(failed))
        self.ledger.finish(done)
        self.report.refreshed += len(refreshed)
        self._commit(rows=rows, refreshed=refreshed, retire=retire)
        return failed

    def _row(self, c: Candidate, facts: ev.ProductFacts, buy: int | None, shipping: bool,
             now: datetime, est: Any = None) -> DealRow:
        est = est or ev.estimate(facts, buy, self.query)
        assert est is not None  # the verdict passed, so there is an estimate
        return ev.build_row(
            c.asin, self.query, facts, est, includes_shipping=shipping, now=now,
            feed=ev.FeedView.from_json(c.feed), seen_in_feed=ev.ms_to_datetime(c.seen_ms),
            feed_minute=c.last_update,
        )

    # --- stage 3: refresh ------------------------------------------------------------------

    def refresh(self, older_than: timedelta) -> None:
        """Re-check stored deals not re-checked for ``older_than``, oldest first."""
        cutoff = self.now() - older_than
        attempted: set[str] = set()
        while True:
            self.checkpoint()
            busy = {c.asin for c in self.ledger.pending("offers") if c.refresh} | attempted
            keys = self.store.deals_to_refresh(
                len(busy) + 100, query=self.query.name, not_refreshed_since=cutoff)
            keys = [k for k in keys if k.asin not in busy and k.domain_id == self.query.domain_id]
            if not keys:
                return
            n = batch_size(len(keys), offers=None, affordable=self.affordable())
            batch = [k.asin for k in keys[:n]]
            attempted.update(batch)
            self._refresh_batch(batch)
            if self.fetch_offers:
                self.candidates(refresh_only=True)

    def _refresh_batch(self, asins: list[str]) -> None:
        reply = self._products(asins, None)
        self.report.checked_stats += len(asins)
        found = reply.by_asin()
        bad = self._unreadable(reply)
        now = self.now()
        refreshed: list[DealRow] = []
        retire: list[tuple[str, int]] = []
        for asin in asins:
            product = found.get(asin)
            if asin in bad:
                self._malformed(asin, MalformedResponse(bad[asin]), refresh=True)
                continue
            if product is None:
                continue  # not re-checked: the janitor retires it after the grace period
            try:
                facts = ev.product_facts(product, self.query)
                why, est = ev.stats_check(facts, self.query)
                row = None
                if why is None and not self.fetch_offers:
                    assert facts is not None and est is not None
                    row = ev.build_row(asin, self.query, facts, est, includes_shipping=False,
                                       now=now)
            except MalformedResponse as exc:
                self._malformed(asin, exc, refresh=True)
                continue
            if why is not None:
                retire.append((asin, self.query.domain_id))
                self.report.reasons[f"re-check: {why}"] += 1
            elif self.fetch_offers:
                self.ledger.add(Candidate(asin, None, "offers", self.now_ms(), None, refresh=True))
            else:
                assert row is not None
                refreshed.append(row)
        self.report.refreshed += len(refreshed)
        self._commit(refreshed=refreshed, retire=retire)

    # --- capacity ------------------------------------------------------------------------

    def refresh_capacity(self) -> RefreshCapacity | None:
        """Whether the refill can re-check every retained deal within the janitor's grace."""
        snap = self.budget.snapshot()
        if not snap.rate:
            return None
        rows = self.store.count_deals(self.query.name)
        per = unit_cost(None) + (unit_cost(self.offers) if self.fetch_offers else 0)
        grace_h = self.settings.janitor_grace_h
        cap = RefreshCapacity(rows, per, int(snap.rate * 60 * grace_h), REFRESH_SHARE)
        level = logging.DEBUG if cap.covered else logging.WARNING
        log.log(level, "query %s: refresh capacity %d deals per %g h grace period "
                "(%d tokens each, %.0f%% of the refill); %d retained: %s",
                self.query.name, cap.capacity_rows, grace_h, per, REFRESH_SHARE * 100, rows,
                "covered" if cap.covered else "NOT covered: the janitor holds back until it is")
        persist.write_state(self.store, self.query.name, {
            REFRESH_COVERED_KEY: int(cap.covered),
            REFRESH_CAPACITY_KEY: cap.capacity_rows,
        })
        return cap
