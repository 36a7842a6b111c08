"""Health is progress (docs/failure-classes.md, FC-18), for supervisors and load balancers.

:func:`health_report` says whether ingestion has progressed (a successful
run, a watermark move, a deal row written) within ``health_stall_intervals``
× ``ingest_interval_s``, and whether runs keep failing: ``failing`` when the
last runs failed in a row (3, or a single one that Keepa refused the key
for), with their cause, whatever else moved; a fresh system is ``starting``
only until its first run fails.  ``keepa-deals health`` exits 0 when
healthy, 1 when stalled or failing, 2 when the database cannot be read;
``/healthz`` (see :mod:`keepa_deals.ops.health_app`) answers 200 or 503 with
the same report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from keepa_deals.clock import Clock
from keepa_deals.errors import KeepaDealsError
from keepa_deals.ops import facts
from keepa_deals.ops.sources import DATABASE, Sources

if TYPE_CHECKING:
    from keepa_deals.settings import Settings

HEALTHY, STALLED, FAILING, UNKNOWN = "healthy", "stalled", "failing", "unknown"


@dataclass(frozen=True, slots=True)
class HealthReport:
    #: "healthy", "stalled", "failing" (runs fail in a row), or "unknown" (no database)
    state: str
    reason: str
    window_s: float
    checked_at: datetime
    progress: dict[str, Any] | None = None
    version: str = field(default="")

    @property
    def ok(self) -> bool:
        return self.state == HEALTHY

    @property
    def exit_code(self) -> int:
        return {HEALTHY: 0, STALLED: 1, FAILING: 1}.get(self.state, 2)

    @property
    def http_status(self) -> int:
        return 200 if self.ok else 503

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "state": self.state,
            "reason": self.reason,
            "window_s": self.window_s,
            "checked_at": self.checked_at.isoformat(),
            "progress": self.progress,
            "version": self.version,
        }


def window_s(settings: Settings) -> float:
    return float(settings.health_stall_intervals) * float(settings.ingest_interval_s)


def health_report(
    settings: Settings, *, clock: Clock | None = None, sources: Sources | None = None
) -> HealthReport:
    """Has ingestion made progress within the window?  Never raises for a broken deployment."""
    from keepa_deals import __version__

    own = sources is None
    src = sources if sources is not None else Sources(settings, clock=clock)
    now = datetime.fromtimestamp(src.now_ms() / 1000, tz=UTC)
    window = window_s(settings)
    try:
        store = src.deal_store()
        if store is None:
            return HealthReport(UNKNOWN, f"database: {src.errors.get(DATABASE, 'unreachable')}",
                                window, now, version=__version__)
        try:
            prog = facts.progress(store, now, window)
        except KeepaDealsError as exc:
            return HealthReport(UNKNOWN, f"the database cannot be read: {exc}", window, now,
                                version=__version__)
        state = HEALTHY if prog.ok else FAILING if prog.failing else STALLED
        reason = prog.reason.removeprefix("failing: ")
        return HealthReport(state, reason, window, now, prog.as_dict(), version=__version__)
    finally:
        if own:
            src.close()
