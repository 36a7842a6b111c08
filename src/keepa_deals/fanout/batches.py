"""Planned product batches: the durable record of work sent to the Celery workers.

Each batch a tick plans is one row of ``system_state`` (its query, key
``fanout_batch:<id>``, the batch as JSON), written **before** its task is
sent.  The life of a record::

    open  --(a worker pays for it and saves what it bought)-->  done  --(the next tick)-->  gone
      \\--(nobody claimed or finished it for a while: the message was lost)--> sent again

* A worker marks the record done **in the same transaction** as the deals it
  saved, with what it decided per ASIN (:class:`Outcome`; :meth:`BatchBook.settle`).  A second delivery
  of the same task finds it done (or gone) and does nothing.
* The query's next tick folds done records into the scan ledger and deletes
  them, in one transaction; only the tick (under the query's lock) writes the
  ledger, so workers never race over it.
* Every read and write goes through the deal store's unit of work
  (store/work.py): this module holds no SQL.
* ``epoch`` counts the sends.  Sending again bumps it; a message of an older
  epoch (a retry chain still waiting, a copy the broker restored) does nothing.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from keepa_deals.errors import KeepaDealsError
from keepa_deals.ingest.ledger import Candidate
from keepa_deals.store import Changes, DealStore, UnitOfWork

KEY_PREFIX = "fanout_batch:"
VERSION = 1

Kind = Literal["stats", "offers", "refresh"]
KINDS: tuple[Kind, ...] = ("stats", "offers", "refresh")

#: (asin, the lastUpdate it was observed with): names one ledger observation.
Observation = tuple[str, int | None]


class BatchRecordError(KeepaDealsError):
    """A stored batch record cannot be read."""


def new_batch_id() -> str:
    return secrets.token_hex(8)


@dataclass(slots=True)
class Outcome:
    """What a worker decided for a batch, saved with the deals it bought."""

    #: Checked: stored, refreshed, retired or rejected.  Done for the ledger.
    finished: list[Observation] = field(default_factory=list)
    #: Passed the product check; their offers are in the ``follow_ups`` batches.
    advanced: list[Observation] = field(default_factory=list)
    #: Keepa could not fetch their offers: the next tick plans them again.
    failed: list[Observation] = field(default_factory=list)
    follow_ups: list[str] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    removed: int = 0
    rejected: int = 0
    refreshed: int = 0
    checked_stats: int = 0
    checked_offers: int = 0
    tokens_spent: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    done_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "finished": self.finished, "advanced": self.advanced, "failed": self.failed,
            "follow_ups": self.follow_ups, "added": self.added, "updated": self.updated,
            "removed": self.removed, "rejected": self.rejected, "refreshed": self.refreshed,
            "checked_stats": self.checked_stats, "checked_offers": self.checked_offers,
            "tokens_spent": self.tokens_spent, "reasons": self.reasons, "done_ms": self.done_ms,
        }

    @classmethod
    def from_json(cls, raw: Any) -> Outcome:
        if not isinstance(raw, dict):
            raise BatchRecordError("a batch outcome is not an object")
        out = cls()
        for name in ("finished", "advanced", "failed"):
            setattr(out, name, [_observation(o) for o in raw.get(name, [])])
        out.follow_ups = [str(i) for i in raw.get("follow_ups", [])]
        for name in ("added", "updated", "removed", "rejected", "refreshed", "checked_stats",
                     "checked_offers", "tokens_spent", "done_ms"):
            setattr(out, name, int(raw.get(name, 0)))
        out.reasons = {str(k): int(v) for k, v in dict(raw.get("reasons", {})).items()}
        return out


def _observation(raw: Any) -> Observation:
    if not (isinstance(raw, list | tuple) and len(raw) == 2 and isinstance(raw[0], str)
            and (raw[1] is None or type(raw[1]) is int)):
        raise BatchRecordError("a batch outcome names a malformed observation")
    return raw[0], raw[1]


@dataclass(slots=True)
class Batch:
    """One product call's worth of work for one query."""

    id: str
    query: str
    kind: Kind
    #: The candidates (a refresh batch: stored deals, ``refresh=True``).
    candidates: list[Candidate]
    #: ``offers=`` of the call (None: no offers).
    offers: int | None
    #: The estimated cost in tokens (what the tick counted against the query's share).
    cost: int
    planned_ms: int
    #: When its current message was sent, or is due when it waits with a countdown.
    dispatched_ms: int
    epoch: int = 1
    #: Its current message is a retry with a countdown: a worker holds it until it is due
    #: (and a worker that dies loses it until the broker's visibility timeout).
    deferred: bool = False
    #: The batch this one follows up (its product check), if any.
    parent: str | None = None
    outcome: Outcome | None = None

    @property
    def key(self) -> str:
        return KEY_PREFIX + self.id

    @property
    def done(self) -> bool:
        return self.outcome is not None

    @property
    def asins(self) -> list[str]:
        return [c.asin for c in self.candidates]

    def dumps(self) -> str:
        return json.dumps({
            "v": VERSION, "id": self.id, "query": self.query, "kind": self.kind,
            "candidates": [[c.asin, c.to_json()] for c in self.candidates],
            "offers": self.offers, "cost": self.cost, "planned_ms": self.planned_ms,
            "dispatched_ms": self.dispatched_ms, "epoch": self.epoch, "parent": self.parent,
            "deferred": self.deferred,
            "outcome": None if self.outcome is None else self.outcome.to_json(),
        }, separators=(",", ":"))

    @classmethod
    def loads(cls, text: str) -> Batch:
        try:
            raw = json.loads(text)
            if not isinstance(raw, dict) or raw.get("v") != VERSION:
                raise BatchRecordError("a batch record has an unknown format")
            kind = raw["kind"]
            if kind not in KINDS:
                raise BatchRecordError(f"a batch record has an unknown kind {kind!r}")
            cands = [Candidate.from_json(a, c) for a, c in raw["candidates"]]
            outcome = raw.get("outcome")
            return cls(
                id=str(raw["id"]), query=str(raw["query"]), kind=kind, candidates=cands,
                offers=None if raw.get("offers") is None else int(raw["offers"]),
                cost=int(raw["cost"]), planned_ms=int(raw["planned_ms"]),
                dispatched_ms=int(raw["dispatched_ms"]), epoch=int(raw.get("epoch", 1)),
                parent=raw.get("parent"), deferred=raw.get("deferred") is True,
                outcome=None if outcome is None else Outcome.from_json(outcome),
            )
        except BatchRecordError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise BatchRecordError(f"a batch record is malformed: {type(exc).__name__}") from None


# --- storage ----------------------------------------------------------------------


def _read(work: UnitOfWork, batch_id: str) -> Batch | None:
    """One record, its row locked until the commit (PostgreSQL)."""
    text = work.read_text(KEY_PREFIX + batch_id, for_update=True)
    return None if text is None else Batch.loads(text)


class BatchBook:
    """The batch records of one query on the deal store."""

    def __init__(self, store: DealStore, query: str) -> None:
        self.store = store
        self.query = query

    def all(self) -> tuple[list[Batch], list[str]]:
        """Every record (planned order), and the keys of unreadable ones."""
        batches, broken = [], []
        for key, text in self.store.state_texts(self.query, KEY_PREFIX):
            try:
                batches.append(Batch.loads(text or ""))
            except BatchRecordError:
                broken.append(key)
        batches.sort(key=lambda b: (b.planned_ms, b.id))
        return batches, broken

    def get(self, batch_id: str) -> Batch | None:
        text = self.store.state_text(self.query, KEY_PREFIX + batch_id)
        return None if text is None else Batch.loads(text)

    def defer(self, batch_id: str, epoch: int, due_ms: int) -> bool:
        """The task of ``epoch`` runs again at ``due_ms`` (a retry with a countdown): the
        record says so, so that no tick takes the wait for a lost message.  False when the
        batch is done, gone or sent again meanwhile."""
        with self.store.unit_of_work(self.query) as work:
            b = _read(work, batch_id)
            if b is None or b.done or b.epoch != epoch:
                return False
            b.dispatched_ms = max(b.dispatched_ms, due_ms)
            b.deferred = True
            work.set_state(b.key, b.dumps())
            return True

    def record(self, batches: Iterable[Batch]) -> None:
        """Write (insert or replace) these records in one transaction."""
        batches = list(batches)
        if batches:
            with self.store.unit_of_work(self.query) as work:
                for b in batches:
                    work.set_state(b.key, b.dumps())

    def send_again(self, stale: Iterable[Batch], now_ms: int) -> list[Batch]:
        """A new epoch for each of these that is still open (a worker may have just finished
        it), sent now; returns those, as recorded, in one transaction."""
        again = []
        with self.store.unit_of_work(self.query) as work:
            for b in stale:
                current = _read(work, b.id)
                if current is not None and not current.done:
                    current.epoch += 1
                    current.dispatched_ms = now_ms
                    current.deferred = False
                    work.set_state(current.key, current.dumps())
                    again.append(current)
        return again

    def settle(self, batch_id: str, changes: Changes, outcome: Outcome,
               follow_ups: Iterable[Batch]) -> Outcome | None:
        """The batch's one transaction: ``changes`` (the deals it bought, the deals it
        retired), its record done with ``outcome`` (the counts of what was written filled
        in), its follow-up records.  None, and nothing written, when the record is done or
        gone already (another worker saved it).  A try again after a commit whose answer
        was lost with the connection finds its own outcome (the same follow-up ids, drawn
        afresh by each attempt, and the same decision time) and returns that."""
        with self.store.unit_of_work(self.query) as work:
            current = _read(work, batch_id)
            if current is None:
                return None
            if (saved := current.outcome) is not None:
                ours = (saved.follow_ups, saved.done_ms) == (outcome.follow_ups, outcome.done_ms)
                return saved if ours else None
            done = work.apply(changes)
            outcome.added, outcome.updated, outcome.removed = done.added, done.updated, \
                done.removed
            current.outcome = outcome
            for b in (current, *follow_ups):
                work.set_state(b.key, b.dumps())
        return outcome
