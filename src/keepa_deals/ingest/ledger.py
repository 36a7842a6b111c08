"""The scan ledger: what the feed scan has covered and what is still to be checked.

One ledger per query, stored as JSON in ``system_state`` (key ``ingest_ledger``)
and written in the same transaction as the deals and the watermark it goes
with (the deal store's unit of work; see pipeline.py).  It holds:

* **segments**: stretches of the feed (Keepa minutes ``[lo, hi]``) an
  unfinished scan has already walked, above the watermark.  A scan stopped
  by the page cap or an error leaves one; the next scan jumps over it and
  carries on below it, so a backlog larger than the cap is worked through
  over several runs instead of being skipped (or rescanned for ever).
* **candidates**: deals that passed the free feed filter, keyed by ASIN, each
  with the ``lastUpdate`` it was seen with and its stage:

  ``stats``   waiting for the 1-token product check;
  ``offers``  passed the product check (paid for), waiting for its offers;
  ``done``    checked (stored or rejected): kept only so that a rescan of the
              same stretch recognises it instead of paying for it again.

  A refresh candidate (``refresh=True``) is a stored deal whose re-check
  passed the product check and waits for its offers.

The ledger only ever describes deals newer than ``watermark - LATE_MINUTES``
(plus pending work); ``prune`` drops what a scan can no longer meet.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from keepa_deals.errors import KeepaDealsError
from keepa_deals.store.state import LEDGER_KEY

#: Deals can surface in the feed a little after their ``lastUpdate`` (Keepa caches
#: query results for 120 s): the scan re-reads this many minutes below the
#: watermark, and the ledger remembers the deals there so none is paid for twice.
LATE_MINUTES = 10

#: 2: checked deals as ``done: {asin: lastUpdate}`` (1, which listed them whole, is read)
VERSION = 2

Stage = Literal["stats", "offers", "done"]
STAGES: tuple[Stage, ...] = ("stats", "offers", "done")


__all__ = ["LATE_MINUTES", "LEDGER_KEY", "STAGES", "Candidate", "Ledger", "LedgerError",
           "Segment", "Stage"]


class LedgerError(KeepaDealsError):
    """The stored ledger cannot be read (it is then rebuilt from the watermark)."""


@dataclass(slots=True)
class Candidate:
    asin: str
    #: The deal's ``lastUpdate`` in Keepa minutes (None for a refresh candidate).
    last_update: int | None
    stage: Stage
    #: When the scan first saw it (our clock, epoch ms).
    seen_ms: int
    #: What the feed said about it (title, price...), kept while it is pending.
    feed: dict[str, Any] | None = None
    refresh: bool = False

    @property
    def pending(self) -> bool:
        return self.stage != "done"

    def to_json(self) -> list[Any]:
        return [self.last_update, self.stage, self.seen_ms, self.feed, int(self.refresh)]

    @classmethod
    def from_json(cls, asin: str, raw: Any) -> Candidate:
        if not isinstance(raw, list) or len(raw) != 5:
            raise LedgerError(f"candidate {asin}: expected 5 fields")
        lu, stage, seen, feed, refresh = raw
        if stage not in STAGES:
            raise LedgerError(f"candidate {asin}: unknown stage {stage!r}")
        if lu is not None and type(lu) is not int:
            raise LedgerError(f"candidate {asin}: lastUpdate is not a Keepa minute")
        if type(seen) is not int or (feed is not None and not isinstance(feed, dict)):
            raise LedgerError(f"candidate {asin}: malformed")
        return cls(asin, lu, stage, seen, feed, bool(refresh))


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of the feed already walked: deals with ``lo <= lastUpdate <= hi``.

    ``settled`` is the newest minute of it that was walked at least
    ``LATE_MINUTES`` after it (Keepa's time): no deal can still turn up below
    it, so ``(lo, settled]`` may be jumped over.  ``count`` is how many feed
    positions that part held when it was walked (where the jump lands).
    ``lo`` itself may have been walked only partly (a page can end inside a
    minute): a walk never jumps past it.
    """

    lo: int
    hi: int
    count: int
    settled: int


@dataclass(slots=True)
class Ledger:
    segments: list[Segment] = field(default_factory=list)
    candidates: dict[str, Candidate] = field(default_factory=dict)

    # --- candidates -----------------------------------------------------------

    def knows(self, asin: str, last_update: int) -> bool:
        """Has this observation (ASIN at this lastUpdate, or a newer one) been scanned?"""
        c = self.candidates.get(asin)
        return c is not None and c.last_update is not None and c.last_update >= last_update

    def add(self, candidate: Candidate) -> None:
        """A new observation replaces an older one of the same ASIN."""
        self.candidates[candidate.asin] = candidate

    def pending(self, stage: Stage) -> list[Candidate]:
        """Candidates waiting at ``stage``, newest deals first (refreshes last)."""
        out = [c for c in self.candidates.values() if c.stage == stage]
        out.sort(key=lambda c: (c.refresh, -(c.last_update or 0), c.asin))
        return out

    def finish(self, asins: Iterable[str]) -> None:
        for asin in asins:
            c = self.candidates.get(asin)
            if c is None:
                continue
            if c.refresh:
                del self.candidates[asin]
            else:
                c.stage, c.feed = "done", None

    def advance(self, asins: Iterable[str]) -> None:
        """These passed the product check and wait for their offers."""
        for asin in asins:
            c = self.candidates.get(asin)
            if c is not None:
                c.stage = "offers"

    def count(self, stage: Stage) -> int:
        return sum(1 for c in self.candidates.values() if c.stage == stage)

    def expire(self, older_than_ms: int) -> list[Candidate]:
        """Drop pending candidates first seen before ``older_than_ms``; returns them."""
        gone = [c for c in self.candidates.values() if c.pending and c.seen_ms < older_than_ms]
        for c in gone:
            del self.candidates[c.asin]
        return gone

    def forget_done(self) -> None:
        """Forget every checked candidate: for a query without the feed, whose listed
        products are remembered by what was bought lately instead (ingest/memory.py)."""
        for asin in [a for a, c in self.candidates.items() if c.stage == "done"]:
            del self.candidates[asin]

    def prune(self, watermark: int | None) -> None:
        """Forget checked deals older than the re-read margin below the watermark: the
        walks stop before them.  Safe at any time, during a walk too."""
        if watermark is None:
            return
        floor = watermark - LATE_MINUTES
        self.segments = [s for s in self.segments if s.hi >= floor]
        for asin in [a for a, c in self.candidates.items()
                     if c.stage == "done" and c.last_update is not None
                     and c.last_update < floor]:
            del self.candidates[asin]

    def compact(self, *, above: int | None = None) -> None:
        """Forget checked deals deep inside a settled segment: a walk jumps over those (and
        once it completes they are below the margin).

        Between walks any of them; during a walk only those ``above`` a minute the walk has
        already gone below (it knows the segments it started with, not the one it is
        building, and must not meet a forgotten deal again).
        """
        def droppable(lu: int) -> bool:
            if above is not None and lu <= above:
                return False
            return any(s.lo < lu <= s.settled and lu < s.hi - LATE_MINUTES for s in self.segments)

        for asin in [a for a, c in self.candidates.items()
                     if c.stage == "done" and c.last_update is not None
                     and droppable(c.last_update)]:
            del self.candidates[asin]

    # --- storage --------------------------------------------------------------

    def dumps(self) -> str:
        """The ledger as JSON (written with every commit: compact, and one orjson call).

        A checked deal is kept only to be recognised by a rescan, so ``done`` holds just
        its ``lastUpdate``; ``candidates`` holds the rest whole.
        """
        done: dict[str, int] = {}
        rest: dict[str, list[Any]] = {}
        for a, c in self.candidates.items():
            if c.stage == "done" and c.last_update is not None and not c.refresh:
                done[a] = c.last_update
            else:
                rest[a] = c.to_json()
        doc = {
            "v": VERSION,
            "segments": [[s.lo, s.hi, s.count, s.settled] for s in self.segments],
            "candidates": rest,
            "done": done,
        }
        try:
            return orjson.dumps(doc).decode()
        except orjson.JSONEncodeError:  # e.g. an integer beyond 64 bits in a feed view
            return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str | None) -> Ledger:
        """Read what ``dumps`` wrote (or the previous version's format)."""
        if not text:
            return cls()
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise LedgerError(f"the ingest ledger is not JSON: {exc}") from None
        if not isinstance(raw, dict) or raw.get("v") not in (1, VERSION):
            raise LedgerError("the ingest ledger has an unknown format")
        segments = []
        for s in raw.get("segments", []):
            if not (isinstance(s, list) and len(s) == 4 and all(type(x) is int for x in s)):
                raise LedgerError("the ingest ledger has a malformed segment")
            segments.append(Segment(*s))
        cands = raw.get("candidates", {})
        done = raw.get("done", {})
        if not isinstance(cands, dict) or not isinstance(done, dict):
            raise LedgerError("the ingest ledger's candidates are malformed")
        out = {a: Candidate.from_json(a, c) for a, c in cands.items()}
        for a, lu in done.items():
            if type(lu) is not int:
                raise LedgerError(f"candidate {a}: lastUpdate is not a Keepa minute")
            out[a] = Candidate(a, lu, "done", 0)
        return cls(segments, out)
