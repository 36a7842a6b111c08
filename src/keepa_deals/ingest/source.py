"""Sources: where candidates come from, with the progress mark that goes with them.

::

    source = DealFeedSource(client, query, max_pages=...)      # feed.py
    for found in source.walk(start, meter):
        ledger.add(...found.candidates)                         # then committed at once:
        store.commit(query, Changes(watermark=found.mark.watermark, state={ledger...}))

A source is paid for (it calls Keepa), but it decides nothing beyond the free
filter of what it read and writes nothing: it yields :class:`Found` chunks,
and the pipeline commits each chunk's candidates with its :class:`Mark` in one
transaction before the source is asked for the next one.  A source that stops
(no tokens, a signal, the lock lost) raises out of the walk; what was
committed so far is its progress.

To add a source: one module implementing :class:`Source` (its walk, its free
filter, its mark or state), and the line that chooses it in
:func:`keepa_deals.ingest.pipeline.source_for`.  The sources: the deal feed
(feed.py), Product Finder, best sellers and list files (listed.py), and a
query's several sources walked in turn (:class:`Combined`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from keepa_deals.ingest.ledger import Candidate, Segment
from keepa_deals.ingest.scan import Coverage
from keepa_deals.ingest.stages import Rejection

#: How far a source has got, as the sink commits it with the chunk's candidates: whether
#: the walk is complete, the watermark to commit (only forward; None when incomplete) and
#: the stretches an unfinished walk has covered.  The feed walk's own record serves as is.
Mark = Coverage


@dataclass(frozen=True, slots=True)
class Found:
    """One chunk of a source's walk (one feed page, one finder page, a slice of a list):
    what it found and where it is."""

    candidates: tuple[Candidate, ...]
    #: Turned down by the free filter (counted as rejected).
    rejections: tuple[Rejection, ...]
    #: The feed's progress (watermark, segments); None for the other sources, whose
    #: progress is their own ``state``.
    mark: Mark | None
    #: The walk will not meet deals above this minute again (the ledger may forget the
    #: checked ones there); None: unknown.
    walked_below: int | None = None
    #: The source's own progress (a cursor, a cache), committed with the candidates.
    state: Mapping[str, str | None] = field(default_factory=dict)
    #: The candidates are listed products, not dated feed observations: one bought within
    #: the re-check window (stored or rejected) is not bought again.
    listed: bool = False


@dataclass(frozen=True, slots=True)
class Start:
    """What a walk starts from: the committed progress, and what the ledger has seen."""

    watermark: int | None
    segments: Sequence[Segment]
    #: Whether the ledger holds this observation (ASIN at this minute) already.
    knows: Callable[[str, int], bool]
    #: The query's committed state by key (a source's cursor, its cache).
    state: Callable[[str], str | None] = lambda key: None


class Meter(Protocol):
    """Where a source reports what it pays, as it pays it."""

    def paid(self, tokens: int, *, pages: int = 0) -> None: ...

    def checkpoint(self) -> None:
        """Before each paid call: raises to stop the walk (a stop request, a lost lock)."""


class Source(Protocol):
    """A stream of candidates for one query."""

    #: Shown in logs.
    name: str

    def walk(self, start: Start, meter: Meter) -> Iterator[Found]:
        """Walk from ``start``; each chunk is committed before the next is asked for."""
        ...

    def incomplete(self) -> str | None:
        """After a walk that did not complete: why (logged), None when nothing to say."""
        ...


class Combined:
    """A query's sources walked one after the other (the deal feed first)."""

    def __init__(self, sources: Sequence[Source]) -> None:
        self.sources = list(sources)
        self.name = " + ".join(s.name for s in self.sources)

    def walk(self, start: Start, meter: Meter) -> Iterator[Found]:
        for source in self.sources:
            yield from source.walk(start, meter)

    def incomplete(self) -> str | None:
        reasons = [r for r in (s.incomplete() for s in self.sources) if r]
        return "; ".join(reasons) or None


__all__ = ["Combined", "Found", "Mark", "Meter", "Source", "Start"]
