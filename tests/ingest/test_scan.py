"""The feed walk (pure logic, over an in-memory feed): stop test, coverage, resumable backlogs.

Invariant (docs/failure-classes.md, FC-9): the watermark advances only over deals actually
walked; pages are sorted locally before the stop test; a failed page is never
an empty one; a backlog larger than the page cap is resumed, never skipped,
and no deal is handed out twice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keepa_deals.ingest.ledger import LATE_MINUTES, Candidate, Ledger, Segment
from keepa_deals.ingest.scan import Coverage, PageScan, walk_feed

SIZE = 150


@dataclass(frozen=True)
class FakeDeal:
    asin: str
    minute: int

    @property
    def raw(self) -> dict[str, Any]:
        return {"lastUpdate": self.minute}


@dataclass
class Feed:
    """Deals newest first; ``fetch`` serves pages of 150 and counts them."""

    deals: list[FakeDeal] = field(default_factory=list)
    fetched: list[int] = field(default_factory=list)
    shuffle_pages: bool = False
    fail_on: set[int] = field(default_factory=set)
    #: Keepa's clock, in minutes: never before the newest deal
    now: int = 0

    def add(self, n: int, start: int, *, per_minute: int = 3, tag: str = "d") -> None:
        """``n`` deals newer than every deal so far, from minute ``start`` up."""
        fresh = [FakeDeal(f"{tag}{start}x{i:05d}", start + i // per_minute) for i in range(n)]
        self.deals = sorted(fresh, key=lambda d: -d.minute) + self.deals
        if fresh:
            self.now = max(self.now, fresh[-1].minute)

    def fetch(self, page: int) -> list[FakeDeal]:
        if page in self.fail_on:
            raise ConnectionError(f"page {page} failed")
        self.fetched.append(page)
        out = self.deals[page * SIZE:(page + 1) * SIZE]
        if self.shuffle_pages:
            out = random.Random(page).sample(out, len(out))
        return out


@dataclass
class Scanner:
    """What the ingestor keeps between walks: watermark, segments, and the deals it knows.

    With ``ledger`` the known deals live in a real (pruned) Ledger, as in the ingestor.
    """

    watermark: int | None = None
    segments: list[Segment] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)
    handed: list[str] = field(default_factory=list)
    last: Coverage | None = None
    ledger: Ledger | None = None

    def knows(self, asin: str, minute: int) -> bool:
        if self.ledger is not None:
            return self.ledger.knows(asin, minute)
        return self.seen.get(asin, -1) >= minute

    def walk(self, feed: Feed, max_pages: int, *, minutes_later: int = 0) -> list[PageScan]:
        feed.now += minutes_later
        if self.ledger is not None:
            self.ledger.compact()  # between walks, as the ingestor does when it loads
        pages = []
        for p in walk_feed(feed.fetch, watermark=self.watermark, segments=self.segments,
                           knows=self.knows, max_pages=max_pages,
                           now_minute=lambda: feed.now):
            pages.append(p)
            for deal, minute in p.new:
                self.seen[deal.asin] = minute
                self.handed.append(deal.asin)
                if self.ledger is not None:
                    self.ledger.add(Candidate(deal.asin, minute, "done", 0))
            self.segments = list(p.coverage.segments)
            if p.coverage.complete:
                self.watermark = p.coverage.watermark
            if self.ledger is not None:
                self.ledger.segments = list(self.segments)
                self.ledger.prune(self.watermark)
                if p.oldest is not None:
                    self.ledger.compact(above=p.oldest + LATE_MINUTES)
                self.segments = list(self.ledger.segments)
            self.last = p.coverage
        return pages


def test_stops_at_the_watermark() -> None:
    feed = Feed()
    feed.add(300, 1000)
    s = Scanner()
    s.walk(feed, max_pages=5)
    assert s.watermark == feed.deals[0].minute and s.segments == []
    feed.add(40, 2000)
    feed.fetched.clear()
    pages = s.walk(feed, max_pages=5)
    assert feed.fetched == [0]  # the new deals and the watermark are on page 0
    assert [d.asin for d, _ in pages[0].new] == [d.asin for d in feed.deals[:40]]
    assert s.watermark == feed.deals[0].minute


def test_fc9_pages_are_sorted_locally_before_the_stop_test() -> None:
    """A page listing an old deal first must not stop the walk before its newer deals."""
    feed = Feed(shuffle_pages=True)
    feed.add(100, 1000)
    s = Scanner(watermark=1000 + 100 // 3 - 1)
    old = {d.asin for d in feed.deals if d.minute >= s.watermark - LATE_MINUTES}
    feed.add(30, 2000)
    assert feed.fetch(0)[0].minute < 2000  # unsorted: an old deal comes first
    s.walk(feed, max_pages=3)
    assert set(s.handed) == {d.asin for d in feed.deals[:30]} | old
    assert s.watermark == feed.deals[0].minute


def test_fc9_watermark_never_advances_over_a_failed_page() -> None:
    feed = Feed(fail_on={1})
    feed.add(400, 1000)
    s = Scanner()
    with pytest.raises(ConnectionError):
        s.walk(feed, max_pages=5)
    assert s.watermark is None, "a failed page is not the end of the feed"
    assert s.last is not None and not s.last.complete
    assert [(g.lo, g.hi) for g in s.segments] == [(feed.deals[149].minute,
                                                   feed.deals[0].minute)]
    feed.fail_on.clear()
    s.walk(feed, max_pages=5)
    assert s.watermark == feed.deals[0].minute
    assert sorted(s.handed) == sorted(d.asin for d in feed.deals)


@pytest.mark.parametrize("cap", [1, 2, 3])
def test_fc9_a_backlog_bigger_than_the_cap_is_resumed_never_skipped(cap: int) -> None:
    feed = Feed()
    feed.add(1000, 1000)
    s = Scanner()
    for _ in range(20):
        s.walk(feed, max_pages=cap, minutes_later=5)
        if s.segments == [] and s.watermark is not None:
            break
    assert s.watermark == feed.deals[0].minute
    assert sorted(s.handed) == sorted(d.asin for d in feed.deals), "every deal once"
    # The jump keeps the cost near one read per page: no page walked over and over.
    assert len(feed.fetched) <= 7 + 2 * 20


def test_backlog_with_deals_arriving_between_runs() -> None:
    feed = Feed()
    feed.add(700, 1000)
    s = Scanner(watermark=999)
    minute = 2000
    for _ in range(30):
        s.walk(feed, max_pages=2)
        feed.add(40, minute, tag=f"n{minute}")
        minute += 100
    s.walk(feed, max_pages=10)
    assert s.watermark == feed.deals[0].minute and s.segments == []
    assert sorted(s.handed) == sorted(d.asin for d in feed.deals)


def test_landing_past_a_segment_steps_back() -> None:
    """Deals of a segment that left the feed make the jump overshoot; it is caught."""
    feed = Feed()
    feed.add(900, 1000)
    s = Scanner()
    s.walk(feed, max_pages=2)  # walks pages 0-1: a segment of 300 deals
    walked = set(s.handed)
    # 200 walked deals leave the feed (expired or moved): the segment's end moves up
    gone = {d.asin for d in feed.deals[50:250]}
    feed.deals = [d for d in feed.deals if d.asin not in gone]
    feed.fetched.clear()
    s.walk(feed, max_pages=3)
    s.walk(feed, max_pages=10)
    assert s.watermark is not None and s.segments == []
    remaining = {d.asin for d in feed.deals}
    assert remaining <= set(s.handed)
    assert len(s.handed) == len(set(s.handed)), "no deal handed out twice"
    assert walked <= set(s.handed)


def test_deals_at_the_watermark_minute_arriving_late_are_not_lost() -> None:
    feed = Feed()
    feed.add(30, 1000, per_minute=10)
    s = Scanner()
    s.walk(feed, max_pages=1)
    top = s.watermark
    assert top is not None
    late = [FakeDeal(f"late{i}", top - 2) for i in range(3)]  # listed after the scan
    feed.deals = sorted(feed.deals + late, key=lambda d: -d.minute)
    s.walk(feed, max_pages=1)
    assert {d.asin for d in late} <= set(s.handed)
    assert len(s.handed) == len(set(s.handed))


def test_the_end_of_the_feed_completes_a_first_walk() -> None:
    feed = Feed()
    feed.add(200, 1000)
    s = Scanner()
    pages = s.walk(feed, max_pages=5)
    assert [p.page for p in pages] == [0, 1]
    assert s.watermark == feed.deals[0].minute


@settings(max_examples=40, deadline=None)
@given(
    backlog=st.integers(0, 900),
    arrivals=st.lists(st.integers(0, 200), min_size=1, max_size=8),
    cap=st.integers(2, 4),
    losses=st.lists(st.integers(0, 10_000), max_size=30),
    pruned=st.booleans(),
)
def test_every_deal_is_handed_out_exactly_once(backlog: int, arrivals: list[int], cap: int,
                                                losses: list[int], pruned: bool) -> None:
    """Random backlogs, arrivals, caps and deals leaving the feed: nothing skipped or repeated.

    ``pruned``: the known deals live in a Ledger that forgets what no walk can meet again.
    """
    feed = Feed()
    feed.add(backlog, 1000)
    s = Scanner(ledger=Ledger() if pruned else None)
    minute = 5000
    ever: set[str] = {d.asin for d in feed.deals}
    for n in arrivals:
        s.walk(feed, max_pages=cap, minutes_later=5)
        if feed.deals and losses:
            i = losses.pop() % len(feed.deals)
            if feed.deals[i].asin in s.seen:  # only walked deals leave (they were handed)
                del feed.deals[i]
        feed.add(n, minute, tag=f"a{minute}")
        ever |= {d.asin for d in feed.deals}
        minute += 300
    for _ in range(30):
        s.walk(feed, max_pages=cap, minutes_later=5)
        if s.segments == [] and s.watermark is not None:
            break
    if feed.deals:
        assert s.watermark is not None and s.watermark >= feed.deals[0].minute
    assert {d.asin for d in feed.deals} <= set(s.handed)
    assert len(s.handed) == len(set(s.handed))
    assert set(s.handed) <= ever
