"""The deal feed as a source: Keepa's ``/deal`` newest first, down to the watermark.

The walk itself (page cap, segments, the re-read margin, Keepa's clock) is
scan.py's :func:`~keepa_deals.ingest.scan.walk_feed`; this module pays for
the pages (5 tokens each) and applies the free feed filter
(:func:`~keepa_deals.ingest.evaluate.feed_verdict`): each page becomes one
:class:`~keepa_deals.ingest.source.Found` of candidates (stage ``stats``) and
rejections, with the mark to commit with them.  The watermark advances only
when the walk is complete (everything above it scanned and saved), to the
newest deal walked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

from keepa_deals.errors import ConfigError
from keepa_deals.ingest import evaluate as ev
from keepa_deals.ingest.ledger import Candidate
from keepa_deals.ingest.scan import walk_feed
from keepa_deals.ingest.source import Found, Meter, Start
from keepa_deals.ingest.stages import Rejection
from keepa_deals.keepa.client import KeepaClient
from keepa_deals.keepa.deals import Deal, DealPage
from keepa_deals.keepa.errors import MalformedResponse
from keepa_deals.keepa.time import unix_ms_to_keepa_minutes
from keepa_deals.query import DealQuery
from keepa_deals.tokens.costs import DEAL_PAGE_COST

log = logging.getLogger("keepa_deals.ingest")


class DealFeedSource:
    """The deal feed of one query (``selection.sortType`` must be 1: newest first)."""

    name = "deal feed"

    def __init__(self, client: KeepaClient, query: DealQuery, *, max_pages: int,
                 now_ms: Callable[[], int]) -> None:
        self.check(query)
        self.client = client
        self.query = query
        self.max_pages = max_pages
        self.now_ms = now_ms
        self._names: dict[int, str] = {}
        self._keepa_minute: int | None = None

    @staticmethod
    def check(query: DealQuery) -> None:
        """ConfigError when this source cannot walk ``query`` (checked before any call)."""
        if query.selection.sort_type != 1:
            raise ConfigError(
                f"query {query.name}: the ingestor scans the feed newest first and needs "
                f"selection.sortType = 1, not {query.selection.sort_type}"
            )

    def _fetch(self, meter: Meter) -> Callable[[int], Sequence[Deal]]:
        def fetch(page: int) -> Sequence[Deal]:
            meter.checkpoint()
            result: DealPage = self.client.deals(self.query.selection_for_page(page))
            meter.paid(result.status.tokens_consumed if result.status else DEAL_PAGE_COST,
                       pages=1)
            self._names.update(zip(result.category_ids, result.category_names, strict=False))
            if result.status is not None:  # Keepa's clock, not ours (docs/failure-classes.md, FC-10)
                self._keepa_minute = unix_ms_to_keepa_minutes(result.status.timestamp_ms)
            return result.deals
        return fetch

    def walk(self, start: Start, meter: Meter) -> Iterator[Found]:
        q = self.query
        old = start.watermark
        for page in walk_feed(self._fetch(meter), watermark=old, segments=start.segments,
                              knows=start.knows, max_pages=self.max_pages,
                              now_minute=lambda: self._keepa_minute):
            seen = self.now_ms()
            found: list[Candidate] = []
            rejected: list[Rejection] = []
            for deal, minute in page.new:
                try:
                    view = ev.feed_view(deal, q, self._names)
                except MalformedResponse as exc:  # one deal's data, not the page's
                    log.warning("query %s: %s: %s", q.name, deal.asin, exc)
                    if old is None or minute > old:
                        rejected.append(Rejection(deal.asin, "malformed deal data"))
                    continue
                why = ev.feed_verdict(view, q)
                if why is None:
                    found.append(Candidate(deal.asin, minute, "stats", seen, view.to_json()))
                elif old is None or minute > old:  # below the watermark: counted before
                    rejected.append(Rejection(deal.asin, why))
            rejected.extend(Rejection(getattr(d, "asin", ""), "no lastUpdate")
                            for d in page.undated)
            yield Found(tuple(found), tuple(rejected), page.coverage, walked_below=page.oldest)

    def incomplete(self) -> str | None:
        return (f"the page cap ({self.max_pages}) stopped the scan above the watermark; the "
                "next runs carry on below it")


__all__ = ["DealFeedSource"]
