"""What one ingest run did: the report the CLI prints and the run row records."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from keepa_deals.store import RunCounts, RunOutcome


@dataclass(frozen=True, slots=True)
class RefreshCapacity:
    """Can the refresh re-check every retained deal within the janitor's grace period?

    Re-checking one deal costs ``tokens_per_deal`` (the product check, plus the
    offers when the query buys them); the refill brings ``tokens_per_grace`` in
    one grace period, of which the refresh may plan on ``share``.
    """

    rows: int
    tokens_per_deal: int
    tokens_per_grace: int
    share: float

    @property
    def capacity_rows(self) -> int:
        return int(self.tokens_per_grace * self.share) // max(1, self.tokens_per_deal)

    @property
    def covered(self) -> bool:
        return self.rows <= self.capacity_rows

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "capacity_rows": self.capacity_rows,
                "tokens_per_deal": self.tokens_per_deal,
                "tokens_per_grace": self.tokens_per_grace, "covered": self.covered}


@dataclass(slots=True)
class IngestReport:
    query: str
    outcome: RunOutcome = RunOutcome.RUNNING
    run_id: int | None = None
    counts: RunCounts = field(default_factory=RunCounts)
    retry_after_s: float | None = None
    error: str | None = None
    #: The query's watermark after the run (Keepa minutes).
    watermark: int | None = None
    #: Whether the feed scan met the watermark (False: a backlog is left for the next runs).
    scan_complete: bool | None = None
    pending_stats: int = 0
    pending_offers: int = 0
    refreshed: int = 0
    checked_stats: int = 0
    checked_offers: int = 0
    #: Candidates of the feed found stored and re-checked lately: not bought again.
    skipped_stored: int = 0
    #: Warnings a run gives before paying (a new deal store on an account in use...).
    warnings: list[str] = field(default_factory=list)
    stopped: bool = False
    balance: int | None = None
    refill_rate: int | None = None
    deal_count: int | None = None
    refresh: RefreshCapacity | None = None
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return self.outcome in (RunOutcome.OK, RunOutcome.WAITING_FOR_TOKENS, RunOutcome.LOCKED)

    def as_dict(self) -> dict[str, Any]:
        c = self.counts
        return {
            "outcome": self.outcome.value,
            "run_id": self.run_id,
            "query": self.query,
            "deals_added": c.added,
            "deals_updated": c.updated,
            "deals_rejected": c.rejected,
            "deals_removed": c.removed,
            "tokens_spent": c.tokens_spent,
            "pages": c.pages,
            "retry_after_s": None if self.retry_after_s is None else round(self.retry_after_s, 1),
            "error": self.error,
            "stopped": self.stopped,
            "watermark": self.watermark,
            "scan_complete": self.scan_complete,
            "pending": {"stats": self.pending_stats, "offers": self.pending_offers},
            "checked": {"stats": self.checked_stats, "offers": self.checked_offers,
                        "refreshed": self.refreshed, "skipped_stored": self.skipped_stored},
            "warnings": list(self.warnings),
            "balance": self.balance,
            "refill_rate": self.refill_rate,
            "deal_count": self.deal_count,
            "refresh_capacity": self.refresh.as_dict() if self.refresh else None,
            "rejected_because": dict(self.reasons.most_common()),
        }
