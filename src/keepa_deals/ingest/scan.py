"""Stage 0: walking the deal feed newest first, from its head down to the watermark.

Keepa's ``/deal`` with ``sortType`` 1 lists deals by ``lastUpdate``, newest
first, 150 per page; new deals push older ones down, so every walk starts at
page 0.  :func:`walk_feed` fetches pages (5 tokens each) and yields, per page,
the deals the ledger does not know yet and the coverage to commit if the run
stops right after that page.

* Each page is sorted locally by ``lastUpdate`` before the stop test (a page
  is never trusted to be in order).
* The walk **stops** at the first deal older than ``watermark - LATE_MINUTES``
  (complete: everything above the watermark has been walked), at a page
  shorter than 150 (the end of the feed: complete too), or at the page cap
  (incomplete).  A failed fetch (transport error, 429, waiting for tokens)
  raises out of the walk: it is never an empty page, and the coverage
  committed so far stays what it was after the last good page.
* An incomplete walk leaves a **segment** (see ledger.py).  The next walk
  jumps over its settled part to the page where the segment should end,
  **verifies** the landing (the page's newest deal must still be inside the
  segment, else it steps back a page), and carries on below it.  A backlog
  larger than the page cap is thus worked through over several runs, never
  skipped, and never walked page by page again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from keepa_deals.ingest.ledger import LATE_MINUTES, Segment
from keepa_deals.keepa.deals import DEALS_PER_PAGE

#: Pages a walk may buy beyond its cap to re-read known stretches (see walk_feed).
EXTRA_PAGES = 3

#: ``lastUpdate`` of a deal in Keepa minutes, or None when it has none.
MinuteOf = Callable[[Any], int | None]


def keepa_minute(deal: Any) -> int | None:
    """A parsed Deal's ``lastUpdate`` as Keepa sent it (minutes), None when absent."""
    raw = getattr(deal, "raw", None)
    value = raw.get("lastUpdate") if raw is not None else getattr(deal, "last_update", None)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


@dataclass(frozen=True, slots=True)
class Coverage:
    """What the feed walk has covered, as it would be committed now."""

    #: The walk met the watermark or the end of the feed.
    complete: bool
    #: The watermark to commit (only when complete): the newest deal walked.
    watermark: int | None
    #: The ledger's segments to commit.
    segments: tuple[Segment, ...]


@dataclass(frozen=True, slots=True)
class PageScan:
    page: int
    #: Deals of the page not seen before, newest first, with their minute.
    new: tuple[tuple[Any, int], ...]
    #: Deals of the page without a ``lastUpdate`` (cannot be placed; rejected).
    undated: tuple[Any, ...]
    #: How many deals the page returned.
    returned: int
    coverage: Coverage
    #: Whether this page was bought now (False: re-read from this walk's cache).
    fetched: bool = True
    #: The oldest minute this walk has examined so far (it only goes down from here).
    oldest: int | None = None


@dataclass(slots=True)
class _Walk:
    """Bookkeeping of one walk (absolute feed positions are page × 150 + index)."""

    watermark: int | None
    segments: list[Segment]
    #: deals at or below this minute cannot turn up late any more (Keepa's clock)
    settle_at: int | None
    newest: int | None = None
    oldest: int | None = None
    last_pos: int = -1
    #: position of the first deal walked at or below the settled line (segment count base)
    deep_from: int | None = None
    passed: set[Segment] = field(default_factory=set)
    #: the segment the walk is inside, and the position where it entered it
    inside: tuple[Segment, int] | None = None

    def settled(self) -> int | None:
        if self.newest is None:
            return None
        line = self.newest - LATE_MINUTES if self.settle_at is None else self.settle_at
        return min(self.newest, line)

    def examine(self, minute: int, pos: int) -> None:
        self.newest = minute if self.newest is None else max(self.newest, minute)
        self.oldest = minute if self.oldest is None else min(self.oldest, minute)
        self.last_pos = max(self.last_pos, pos)
        line = self.settled()
        if self.deep_from is None and line is not None and minute <= line:
            self.deep_from = pos

    def known_region(self, minute: int) -> bool:
        """Inside an earlier walk's settled segment, above its edge: seen already."""
        return any(s.lo < minute <= s.settled for s in self.segments)

    def coverage(self, complete: bool) -> Coverage:
        if complete:
            tops = [s.hi for s in self.segments]
            marks = [m for m in (self.watermark, self.newest, *tops) if m is not None]
            return Coverage(True, max(marks) if marks else None, ())
        if self.oldest is None:
            return Coverage(False, None, tuple(self.segments))
        touched = [s for s in self.segments if s.hi >= self.oldest]
        below = [s for s in self.segments if s.hi < self.oldest]
        lo = min([self.oldest, *(s.lo for s in touched)])
        hi = max([self.newest or lo, *(s.hi for s in touched)])
        count = 0 if self.deep_from is None else self.last_pos - self.deep_from + 1
        # A segment entered but not walked to its end: add its unwalked part.
        if self.inside is not None and self.inside[0].lo < self.oldest:
            seg, entered = self.inside
            count += max(0, seg.count - (self.last_pos - entered + 1))
        line = self.settled()
        settled = max([lo, *(s.settled for s in touched), line if line is not None else lo])
        merged = Segment(lo, hi, max(count, 0), min(hi, settled))
        return Coverage(False, None, (merged, *sorted(below, key=lambda s: -s.hi)))


def walk_feed(
    fetch: Callable[[int], Sequence[Any]],
    *,
    watermark: int | None,
    segments: Sequence[Segment],
    knows: Callable[[str, int], bool],
    max_pages: int,
    now_minute: Callable[[], int | None] = lambda: None,
    minute_of: MinuteOf = keepa_minute,
    page_size: int = DEALS_PER_PAGE,
) -> Iterator[PageScan]:
    """Walk the feed; yields one :class:`PageScan` per page looked at.

    ``fetch(page)`` returns the deals of a page (raising on any failure);
    ``knows(asin, minute)`` says whether the ledger has that observation;
    ``now_minute()`` is Keepa's time (minutes) of the newest reply, if known.
    The page cap counts the pages that bring a deal the ledger does not know,
    plus one when a backlog (a segment) is left from earlier walks, so that new
    deals at the head never take every page of every run; re-reading known
    pages (the head above an unfinished segment, a verification step back)
    costs a page each too, at most ``EXTRA_PAGES`` more in all.
    """
    if max_pages < 1:
        raise ValueError("max_pages must be at least 1")
    stop_below = None if watermark is None else watermark - LATE_MINUTES
    # With a backlog, one page more than the cap: new deals at the head cannot take every
    # page of every run, so the backlog always shrinks.
    cap = max_pages + (1 if segments else 0)
    walk = _Walk(watermark, sorted(segments, key=lambda s: -s.hi), None)
    cache: dict[int, Sequence[Any]] = {}
    fetched = 0  # every page bought
    charged = 0  # pages that brought something new: what the cap counts
    page = 0
    #: after a jump: (the segment jumped over, the last page walked before the jump)
    verifying: tuple[Segment, int] | None = None

    while True:
        was_cached = page in cache
        if not was_cached:
            if charged >= cap or fetched >= cap + EXTRA_PAGES:
                return
            cache[page] = fetch(page)
            fetched += 1
            now = now_minute()
            if now is not None:
                walk.settle_at = now - LATE_MINUTES
        raw = cache[page]
        dated = [(minute_of(d), d) for d in raw]
        items = sorted(((m, d) for m, d in dated if m is not None), key=lambda x: -x[0])
        undated = tuple(d for m, d in dated if m is None)

        if verifying is not None:
            seg, came_from = verifying
            if items and items[0][0] > seg.lo or page - 1 <= came_from:
                verifying = None  # nothing older than the segment was skipped
            else:
                page -= 1  # landed past the segment's end: step back
                continue

        base = page * page_size
        new: list[tuple[Any, int]] = []
        reached = False
        for i, (minute, deal) in enumerate(items):
            if stop_below is not None and minute < stop_below:
                reached = True
                break
            walk.examine(minute, base + i)
            if walk.inside is None:
                for s in walk.segments:
                    if s not in walk.passed and s.lo < minute <= s.settled:
                        walk.inside = (s, base + i)
                        break
            elif minute <= walk.inside[0].lo:
                walk.passed.add(walk.inside[0])
                walk.inside = None
            if not knows(deal.asin, minute) and not walk.known_region(minute):
                new.append((deal, minute))
        if new:
            charged += 1
        complete = reached or len(raw) < page_size
        yield PageScan(page, tuple(new), undated, len(raw), walk.coverage(complete),
                       fetched=not was_cached, oldest=walk.oldest)
        if complete:
            return
        # The pages walked only go up (a verification steps back no further than the page
        # after the last one walked): this one is never read again, so its deals need not
        # stay alive for the rest of the walk.
        del cache[page]

        page += 1
        if walk.inside is not None:
            seg, entered = walk.inside
            target = (entered + seg.count - 1) // page_size
            if target > page:
                walk.passed.add(seg)
                walk.inside = None
                verifying = (seg, page - 1)
                page = target
