"""Alerts on the health page: what ``keepa-deals doctor`` finds wrong, without calling Keepa.

An alert source is any callable returning alerts; :func:`doctor_source` adapts the
operations checks (``keepa_deals.ops.doctor.run_checks``, cheap mode: stored state only),
sharing the dashboard's own engine and budget store.  Results are kept for ``ttl_s`` so
a page refresh does not re-run every check.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from keepa_deals.clock import SYSTEM_CLOCK, Clock
from keepa_deals.web.models import Alert

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from keepa_deals.budget.manager import TokenManager
    from keepa_deals.settings import Settings

log = logging.getLogger(__name__)

#: Returns the alerts now, worst first; may raise (the caller reports it).
AlertSource = Callable[[], list[Alert]]

_LEVELS = {"fail": 0, "warn": 1}


def doctor_source(
    settings: Settings, engine: Engine, budget: TokenManager | None, clock: Clock
) -> AlertSource | None:
    """Alerts from the doctor's checks, or None when this installation has no doctor."""
    try:
        from keepa_deals.ops.doctor import run_checks
        from keepa_deals.ops.sources import Sources
    except ImportError:  # pragma: no cover - the operations package ships with the web
        return None
    from keepa_deals.store.store import DealStore

    def collect() -> list[Alert]:
        sources = Sources(
            settings,
            # Only a test's fake clock is passed on: with the system's, the checks read the
            # Redis clock as production does.
            clock=None if clock is SYSTEM_CLOCK else clock,
            deal_store=DealStore(engine, clock=clock),
            budget_store=budget.store if budget is not None else None,
        )
        try:
            results = run_checks(settings, sources=sources)
        finally:
            sources.close()
        alerts = [
            Alert(level=r.verdict.value, name=r.name, summary=r.summary, fix=r.fix)
            for r in results
            if r.verdict.value in _LEVELS
        ]
        return sorted(alerts, key=lambda a: _LEVELS[a.level])

    return collect


class CachedAlerts:
    """An alert source whose answer is kept for ``ttl_s`` (one run at a time)."""

    def __init__(self, source: AlertSource, clock: Clock, ttl_s: float = 30.0) -> None:
        self._source = source
        self._clock = clock
        self._ttl_ms = int(ttl_s * 1000)
        self._lock = threading.Lock()
        self._value: list[Alert] | None = None
        self._at_ms = 0

    def __call__(self) -> list[Alert]:
        with self._lock:
            now = self._clock.now_ms()
            if self._value is None or not 0 <= now - self._at_ms < self._ttl_ms:
                self._value = self._source()
                self._at_ms = now
            return list(self._value)
