"""The stages: what one paid-for ``/product`` reply decides, as a typed value.

::

    reply = buy_products(client, query, asins, offers=None)      # pay (paid.py)
    result = check_stats(batch, reply.batch, query, now_ms)       # decide (here)
    result.apply_to(ledger); result.count_into(report)            # book
    store.commit(query.name, result.changes(state=...))           # save (the sink)

Each stage is a side-effect-free function of the candidates, the paid reply,
the query and ``now``; it returns a frozen :class:`StageResult` and touches
neither the ledger, nor the report, nor the store.  The embedded run
(pipeline.py) and Celery mode's batch task (fanout/worker.py) call the same
functions and book the same results.

1. :func:`check_stats`: the product check, stats only (1 token per ASIN).
   Without ``fetch_offers`` its verdict is final; with it the survivors go on
   to the offers stage.
2. :func:`check_offers`: the survivors' offers (new candidates and stored deals
   whose re-check passed the product check).
3. :func:`recheck`: stored deals, product check only; with ``fetch_offers``
   the survivors go on to the offers stage as refresh candidates.

A product that cannot be read is set aside (the batch goes on): a new deal
is rejected (``malformed product data``) and waits for its next appearance
in the feed, a stored one stays as it is (the janitor's clock runs on).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from keepa_deals.ingest import evaluate as ev
from keepa_deals.ingest.history import histories_of
from keepa_deals.ingest.ledger import Candidate, Ledger
from keepa_deals.ingest.report import IngestReport
from keepa_deals.keepa.errors import MalformedResponse
from keepa_deals.keepa.products import Offer, ProductBatch
from keepa_deals.profit import ProfitEstimate
from keepa_deals.query import DealQuery
from keepa_deals.store import Changes, DealHistory, DealRow

StageKind = Literal["stats", "offers", "refresh"]

#: The reason a product that could not be read is set aside for.
MALFORMED = "malformed product data"


@dataclass(frozen=True, slots=True)
class Rejection:
    """One ASIN a stage turned down, and why."""

    asin: str
    reason: str


@dataclass(frozen=True, slots=True)
class StageResult:
    """What one paid call decided, for the ledger, the report and the sink."""

    kind: StageKind
    #: The ASINs the call carried.
    asins: tuple[str, ...]
    #: New deals to save.
    rows: tuple[DealRow, ...] = ()
    #: Stored deals re-checked and still deals.
    refreshed: tuple[DealRow, ...] = ()
    #: Stored deals a re-check found no longer a deal: (asin, domain_id).
    retire: tuple[tuple[str, int], ...] = ()
    #: Checked: the ledger is done with them.
    finished: tuple[str, ...] = ()
    #: Passed the product check: they go on to the offers stage (stage ``offers``).
    survivors: tuple[Candidate, ...] = ()
    #: Keepa could not fetch their offers: checked again later.
    retry: tuple[str, ...] = ()
    #: New candidates turned down (counted as rejected).
    rejections: tuple[Rejection, ...] = ()
    #: Stored deals whose re-check failed (counted as ``re-check: <reason>``).
    recheck_failures: tuple[Rejection, ...] = ()
    #: Products of the reply that could not be read: (asin or "", the problem).
    malformed: tuple[Rejection, ...] = ()
    #: Price/rank histories of the deals saved or refreshed, from the reply's csv.
    histories: tuple[DealHistory, ...] = ()

    def apply_to(self, ledger: Ledger) -> None:
        """Book the result in the scan ledger."""
        ledger.finish(self.finished)
        for c in self.survivors:
            ledger.add(c)

    def count_into(self, report: IngestReport) -> None:
        """Book the result in the run's report (the deals saved are counted by the commit)."""
        if self.kind == "offers":
            report.checked_offers += len(self.asins)
        else:
            report.checked_stats += len(self.asins)
        for r in self.rejections:
            report.counts.rejected += 1
            report.reasons[r.reason] += 1
        for r in self.recheck_failures:
            report.reasons[f"re-check: {r.reason}"] += 1
        report.refreshed += len(self.refreshed)

    def changes(self, *, watermark: int | None = None,
                state: Mapping[str, int | str | None] | None = None) -> Changes:
        """The deals part of the sink's commit, with whatever else goes with it."""
        return Changes(rows=self.rows, refreshed=self.refreshed, retire=self.retire,
                       watermark=watermark, state=dict(state or {}),
                       histories=self.histories)


def _unreadable(reply: ProductBatch) -> tuple[dict[str, str], list[Rejection]]:
    """The reply's unreadable products by ASIN, and all of them as reported."""
    by_asin = {asin: problem for asin, problem in reply.malformed if asin}
    return by_asin, [Rejection(asin or "", problem) for asin, problem in reply.malformed]


def _new_row(c: Candidate, query: DealQuery, facts: ev.ProductFacts, est: ProfitEstimate,
             *, shipping: bool, now: datetime, offer: Offer | None = None) -> DealRow:
    return ev.build_row(
        c.asin, query, facts, est, includes_shipping=shipping, now=now,
        feed=ev.FeedView.from_json(c.feed) if c.feed is not None else None,
        seen_in_feed=ev.ms_to_datetime(c.seen_ms),
        feed_minute=c.last_update if c.feed is not None else None, offer=offer,
    )


def check_stats(batch: Sequence[Candidate], reply: ProductBatch, query: DealQuery,
                now_ms: int) -> StageResult:
    """Stage 1, the product check of new candidates."""
    fetch_offers = query.filters.offers.fetch_offers
    found = reply.by_asin()
    bad, malformed = _unreadable(reply)
    now = ev.ms_to_datetime(now_ms)
    rows: list[DealRow] = []
    finished: list[str] = []
    survivors: list[Candidate] = []
    rejected: list[Rejection] = []
    for c in batch:
        product = found.get(c.asin)
        try:
            if c.asin in bad:
                raise MalformedResponse(bad[c.asin])
            facts = ev.product_facts(product, query) if product else None
            why, est = ("not found", None) if product is None else ev.stats_check(facts, query)
            row = None
            if why is None and not fetch_offers:
                assert facts is not None and est is not None
                row = _new_row(c, query, facts, est, shipping=False, now=now)
        except MalformedResponse as exc:
            if c.asin not in bad:
                malformed.append(Rejection(c.asin, str(exc)))
            rejected.append(Rejection(c.asin, MALFORMED))
            finished.append(c.asin)
            continue
        if why is not None:
            rejected.append(Rejection(c.asin, why))
            finished.append(c.asin)
        elif fetch_offers:
            survivors.append(dataclasses.replace(c, stage="offers"))
        else:
            assert row is not None
            rows.append(row)
            finished.append(c.asin)
    return StageResult("stats", tuple(c.asin for c in batch), rows=tuple(rows),
                       finished=tuple(finished), survivors=tuple(survivors),
                       rejections=tuple(rejected), malformed=tuple(malformed),
                       histories=histories_of(rows, found, now_ms))


def check_offers(batch: Sequence[Candidate], reply: ProductBatch, query: DealQuery,
                 now_ms: int) -> StageResult:
    """Stage 2, the offers of the product check's survivors (new deals and re-checks)."""
    found = reply.by_asin()
    bad, malformed = _unreadable(reply)
    now = ev.ms_to_datetime(now_ms)
    rows: list[DealRow] = []
    refreshed: list[DealRow] = []
    retire: list[tuple[str, int]] = []
    finished: list[str] = []
    retry: list[str] = []
    rejected: list[Rejection] = []
    failures: list[Rejection] = []
    for c in batch:
        product = found.get(c.asin)
        if product is not None and not ev.offers_fetched(product):
            retry.append(c.asin)  # Keepa could not fetch the offers: try again later
            continue
        finished.append(c.asin)
        try:
            if c.asin in bad:
                raise MalformedResponse(bad[c.asin])
            facts = ev.product_facts(product, query) if product else None
            why = "not found" if product is None else ev.stats_verdict(facts, query)
            est = offer = None
            if why is None:
                assert product is not None and facts is not None
                offer = ev.cheapest_offer(product, query.price_type)
                buy = None if offer is None else offer.landed_price
                est = ev.estimate(facts, buy, query) if buy is not None else None
                why = "no live offer" if buy is None else ev.offers_verdict(est, query)
            row = None
            if why is None:
                assert facts is not None and est is not None
                row = (ev.build_row(c.asin, query, facts, est, includes_shipping=True, now=now,
                                    offer=offer)
                       if c.refresh else
                       _new_row(c, query, facts, est, shipping=True, now=now, offer=offer))
        except MalformedResponse as exc:
            if c.asin not in bad:
                malformed.append(Rejection(c.asin, str(exc)))
            (failures if c.refresh else rejected).append(Rejection(c.asin, MALFORMED))
            continue
        if c.refresh:
            if why is None:
                assert row is not None
                refreshed.append(row)
            elif product is not None:
                retire.append((c.asin, query.domain_id))
                failures.append(Rejection(c.asin, why))
        elif why is None:
            assert row is not None
            rows.append(row)
        else:
            rejected.append(Rejection(c.asin, why))
    return StageResult("offers", tuple(c.asin for c in batch), rows=tuple(rows),
                       refreshed=tuple(refreshed), retire=tuple(retire),
                       finished=tuple(finished), retry=tuple(retry),
                       rejections=tuple(rejected), recheck_failures=tuple(failures),
                       malformed=tuple(malformed),
                       histories=histories_of(rows + refreshed, found, now_ms))


def recheck(asins: Sequence[str], reply: ProductBatch, query: DealQuery,
            now_ms: int) -> StageResult:
    """Stage 3, the product check of stored deals (a deal Keepa does not return is left
    alone: the janitor retires it after the grace period)."""
    fetch_offers = query.filters.offers.fetch_offers
    found = reply.by_asin()
    bad, malformed = _unreadable(reply)
    now = ev.ms_to_datetime(now_ms)
    refreshed: list[DealRow] = []
    retire: list[tuple[str, int]] = []
    survivors: list[Candidate] = []
    failures: list[Rejection] = []
    for asin in asins:
        product = found.get(asin)
        if asin in bad:
            failures.append(Rejection(asin, MALFORMED))
            continue
        if product is None:
            continue
        try:
            facts = ev.product_facts(product, query)
            why, est = ev.stats_check(facts, query)
            row = None
            if why is None and not fetch_offers:
                assert facts is not None and est is not None
                row = ev.build_row(asin, query, facts, est, includes_shipping=False, now=now)
        except MalformedResponse as exc:
            malformed.append(Rejection(asin, str(exc)))
            failures.append(Rejection(asin, MALFORMED))
            continue
        if why is not None:
            retire.append((asin, query.domain_id))
            failures.append(Rejection(asin, why))
        elif fetch_offers:
            survivors.append(Candidate(asin, None, "offers", now_ms, None, refresh=True))
        else:
            assert row is not None
            refreshed.append(row)
    return StageResult("refresh", tuple(asins), refreshed=tuple(refreshed),
                       retire=tuple(retire), survivors=tuple(survivors),
                       recheck_failures=tuple(failures), malformed=tuple(malformed),
                       histories=histories_of(refreshed, found, now_ms))
